#!/usr/bin/env bash
# test_cli_tasks.sh — the encoder-task subcommands (embed, fill-mask, classify, ner, qa):
# the JSON shape of each, stdin and --input, and non-zero exits with a message on bad input.
# The bert_tiny heads ship without a tokenizer: each gets tests/data/tasks/vocab.txt in a
# scratch folder of symbolic links. SLM_BIN names the binary.
set -u
slm=${SLM_BIN:-build/slm}
data=${SLM_TEST_DATA:-tests/data}
passed=0
failed=0
check() { # check DESCRIPTION CONDITION-STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1" >&2; fi
}
abs() { (cd "$(dirname "$1")" && echo "$PWD/$(basename "$1")"); }

scratch=$(mktemp -d /tmp/slm-cli-tasks-XXXXXX)
trap 'rm -rf "$scratch"' EXIT
err=$scratch/stderr
for head in mlm seqcls tokcls qa; do
    mkdir "$scratch/$head"
    ln -s "$(abs $data/fixtures/bert_tiny/$head/config.json)" "$scratch/$head/config.json"
    ln -s "$(abs $data/fixtures/bert_tiny/$head/model.safetensors)" "$scratch/$head/model.safetensors"
    ln -s "$(abs $data/tasks/vocab.txt)" "$scratch/$head/vocab.txt"
done
st=$data/fixtures/sbert_minilm/st_model

# ---- embed ----
out=$($slm embed $st "Hello world!" "cats playing")
check "embed exits 0" $?
echo "$out" | grep -Eq '^\{"dim": 48, "embeddings": \[\[-?[0-9]'; check "embed prints dim and vectors" $?
[ "$(echo "$out" | grep -o '\], \[' | wc -l)" = 1 ]; check "embed: one vector per text" $?
one=$($slm embed $st "Hello world!")
stdin_one=$(printf 'Hello world!' | $slm embed $st -)
[ "$one" = "$stdin_one" ]; check "embed - reads stdin" $?
printf '"Hello world!"\n{"text": "cats playing"}\nplain line\n\n' >$scratch/in.jsonl
out=$($slm embed $st --input $scratch/in.jsonl)
check "embed --input exits 0" $?
[ "$(echo "$out" | grep -o '\], \[' | wc -l)" = 2 ]; check "--input: JSON string, {\"text\"}, plain line; blank skipped" $?
# Alone and inside a batch, a text's rows may go through different matmul kernels (streaming for
# a few rows, packed tiles for many), so the vectors agree to float rounding, not digit for digit.
same_vector() { python3 -c 'import json,sys
a = json.loads(sys.argv[1])["embeddings"][int(sys.argv[2])]; b = json.loads(sys.argv[3])["embeddings"][0]
sys.exit(0 if len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= 1e-6 else 1)' "$1" "$2" "$3"; }
same_vector "$out" 0 "$one"; check "--input JSON string = the same text as an argument" $?
out=$(printf 'Hello world!\n' | $slm embed $st --input -)
[ "$out" = "$one" ]; check "--input - reads lines from stdin" $?
$slm embed $st >/dev/null 2>$err; [ $? != 0 ] && grep -q usage $err; check "embed without text: usage, non-zero" $?
$slm embed $st --input /nonexistent >/dev/null 2>$err; [ $? != 0 ] && grep -q nonexistent $err; check "embed: missing --input file" $?
printf 'bad \xff utf8' | $slm embed $st - >/dev/null 2>$err; [ $? != 0 ] && grep -qi utf $err; check "embed: invalid UTF-8 fails" $?
$slm embed $data/fixtures/gpt2_tiny/lm "hi" >/dev/null 2>$err; [ $? != 0 ] && grep -q "not an encoder" $err; check "embed on a decoder fails" $?

# ---- fill-mask ----
out=$($slm fill-mask $scratch/mlm "where [MASK] did fox sleep" --pair "under the old oak tree" --top-k 3)
check "fill-mask exits 0" $?
echo "$out" | grep -Eq '^\[\{"score": [0-9.e-]+, "token": 69, "token_str": "t69", "sequence": "where t69 did fox sleep under the old oak tree"\}'
check "fill-mask: score, token, token_str, sequence (top token of the reference logits): $out" $?
[ "$(echo "$out" | grep -o '"token":' | wc -l)" = 3 ]; check "--top-k 3 gives 3 candidates" $?
out=$($slm fill-mask $scratch/mlm "hello [MASK] big [MASK]" --top-k 2)
echo "$out" | grep -q '^\[\[{"score".*\]\]$'; check "two masks: a list per mask" $?
$slm fill-mask $scratch/mlm "hello big world" >/dev/null 2>$err; [ $? != 0 ] && grep -q "no \[MASK\] token in the text" $err
check "fill-mask without a mask fails with a message" $?
$slm fill-mask $scratch/mlm "hello [MASK]" --top-k 0 >/dev/null 2>&1; [ $? != 0 ]; check "--top-k 0 rejected" $?
$slm fill-mask $scratch/seqcls "hello [MASK]" >/dev/null 2>$err; [ $? != 0 ] && grep -q "masked-LM" $err; check "fill-mask on a model without the MLM head" $?

# ---- classify ----
out=$($slm classify $scratch/seqcls "hello [MASK]" --pair "big world")
check "classify exits 0" $?
echo "$out" | grep -Eq '^\[\{"label": "LABEL_[01]", "score": [0-9.e-]+\}, \{"label": "LABEL_[01]", "score": [0-9.e-]+\}\]$'
check "classify: every label with its score: $out" $?
out=$($slm classify $scratch/seqcls "hello" "big world" --top-k 1)
echo "$out" | grep -Eq '^\[\[\{"label": "LABEL_[01]", "score": [0-9.e-]+\}\], \[\{"label"'; check "two texts, --top-k 1: $out" $?
out=$(printf '' | $slm classify $scratch/seqcls -); check "classify an empty text from stdin" $?
printf 'bad \xff' | $slm classify $scratch/seqcls - >/dev/null 2>&1; [ $? != 0 ]; check "classify: invalid UTF-8 fails" $?
$slm classify $scratch/seqcls "x" --function cube >/dev/null 2>&1; [ $? != 0 ]; check "classify: unknown --function" $?
$slm classify $scratch/mlm "hello" >/dev/null 2>$err; [ $? != 0 ] && grep -q "sequence-classification" $err; check "classify without the head" $?

# ---- ner ----
out=$($slm ner $scratch/tokcls "jumping parisville new york")
check "ner exits 0" $?
echo "$out" | grep -Eq '^\[\{"entity": "LABEL_[0-4]", "score": [0-9.e-]+, "index": 1, "word": "jump", "start": 0, "end": 4\}'
check "ner none: entity, score, index, word, start, end: $out" $?
out=$($slm ner $scratch/tokcls "jumping parisville new york" --aggregation first)
echo "$out" | grep -q '"entity_group"' && ! echo "$out" | grep -q '##'; check "ner first: entity groups of whole words: $out" $?
out=$($slm ner $scratch/tokcls "")
[ "$out" = "[]" ]; check "ner of an empty text: []" $?
$slm ner $scratch/tokcls "york" --aggregation bogus >/dev/null 2>&1; [ $? != 0 ]; check "ner: unknown aggregation" $?
$slm ner $scratch/qa "york" >/dev/null 2>$err; [ $? != 0 ] && grep -q "token-classification" $err; check "ner without the head" $?

# ---- qa ----
out=$($slm qa $scratch/qa --question "where [MASK] did fox sleep" --context "under the old oak tree")
check "qa exits 0" $?
echo "$out" | grep -Eq '^\{"score": [0-9.e-]+, "start": [0-9]+, "end": [0-9]+, "answer": ".*"\}$'; check "qa: score, start, end, answer: $out" $?
long=$(for i in $(seq 1 100); do printf 'under the old oak tree '; done)
out=$(printf '%s' "$long" | $slm qa $scratch/qa --question "where did fox sleep" --context - --stride 16 --max-answer-len 3)
echo "$out" | grep -q '"answer": "'; check "qa: a long context from stdin in windows" $?
$slm qa $scratch/qa --question "where" --context "" >/dev/null 2>$err; [ $? != 0 ] && grep -q "context is empty" $err; check "qa: empty context fails" $?
$slm qa $scratch/qa --question "where" >/dev/null 2>$err; [ $? != 0 ] && grep -q usage $err; check "qa without --context: usage" $?
$slm qa $scratch/qa --question "where" --context "x" --stride -1 >/dev/null 2>&1; [ $? != 0 ]; check "qa: bad --stride" $?
$slm qa $scratch/mlm --question "where" --context "x" >/dev/null 2>$err; [ $? != 0 ] && grep -q "question-answering" $err; check "qa without the head" $?

$slm --help | grep -q "fill-mask MODEL TEXT"; check "usage lists the task commands" $?

echo "RESULT $passed passed, $failed failed"
[ $failed = 0 ]
