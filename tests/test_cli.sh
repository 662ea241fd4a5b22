#!/usr/bin/env bash
# test_cli.sh — the slm command-line program: each subcommand's output shape,
# exit statuses, and errors on bad input. SLM_BIN names the binary.
set -u
slm=${SLM_BIN:-build/slm}
data=${SLM_TEST_DATA:-tests/data}
passed=0
failed=0
check() { # check DESCRIPTION CONDITION-STATUS
    if [ "$2" = 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL $1" >&2; fi
}
model=models/stories260K/stories260K.bin

out=$($slm generate $model "Once upon a time" --max-tokens 20 --temperature 0 2>/tmp/slm-cli-err)
check "generate exits 0" $?
[ -n "$out" ]; check "generate prints text" $?
grep -q "tok/s" /tmp/slm-cli-err; check "generate prints a speed summary on stderr" $?
out2=$(printf "Once upon a time" | $slm generate $model - --max-tokens 20 --temperature 0 --no-stream 2>/dev/null)
[ "$out" = "$out2" ]; check "prompt - reads stdin; --no-stream gives the same text" $?
out3=$($slm generate $model "Once upon a time" --max-tokens 40 --temperature 0.9 --top-p 0.9 --top-k 40 --min-p 0.05 --repetition-penalty 1.1 --seed 42 --stop "." --threads 1 2>/dev/null)
check "every sampling option parses" $?
case "$out3" in *.*) r=1 ;; *) r=0 ;; esac; check "stop string not shown" $r

$slm generate $model "hi" --top-p 2 >/dev/null 2>/tmp/slm-cli-err; r=$?
[ $r != 0 ] && grep -q top_p /tmp/slm-cli-err; check "bad top_p: non-zero exit naming the field" $?
$slm generate /nonexistent "hi" >/dev/null 2>&1; [ $? != 0 ]; check "missing model: non-zero exit" $?
$slm generate $model "hi" --max-tokens abc >/dev/null 2>&1; [ $? != 0 ]; check "bad number: non-zero exit" $?
$slm frobnicate >/dev/null 2>&1; [ $? != 0 ]; check "unknown command: non-zero exit" $?

out=$($slm tokenize $model "Hello world")
check "tokenize exits 0" $?
echo "$out" | grep -Eq '^\{"ids": \[1, [0-9, ]+\], "tokens": \[.*\]\}$'; check "tokenize prints ids and tokens (with BOS)" $?
out=$($slm tokenize $model "Hello world" --no-special-tokens)
echo "$out" | grep -Eq '^\{"ids": \[[02-9][0-9]*'; check "--no-special-tokens drops BOS" $?
out=$(printf 'Hello world' | $slm tokenize $model - --no-special-tokens)
echo "$out" | grep -q '"ids"'; check "tokenize - reads stdin" $?
printf 'bad \xff utf8' | $slm tokenize $model - >/dev/null 2>&1; [ $? != 0 ]; check "invalid UTF-8: non-zero exit" $?

# A folder holding only tokenizer files; ids as transformers gives them for "Hello, world!".
out=$($slm tokenize $data/tokenizers/gpt2 "Hello, world!")
[ "$out" = '{"ids": [15496, 11, 995, 0], "tokens": ["Hello", ",", "Ġworld", "!"]}' ]; check "tokenize a tokenizer-only folder: $out" $?

out=$($slm forward $data/fixtures/gpt2_tiny/lm --ids 953,924,69)
echo "$out" | grep -q '^{"shape": \[1, 3, 1000\], "data": \['; check "forward prints logits with their shape" $?
out=$($slm forward $data/fixtures/gpt2_tiny/lm --ids 953,924,69 --output hidden)
echo "$out" | grep -q '^{"shape": \[1, 3, 64\]'; check "forward --output hidden" $?
$slm forward $data/fixtures/gpt2_tiny/lm --ids 1,99999 >/dev/null 2>&1; [ $? != 0 ]; check "forward: id outside vocabulary fails" $?
$slm forward $data/fixtures/gpt2_tiny/lm --ids 1,x >/dev/null 2>&1; [ $? != 0 ]; check "forward: malformed ids fail" $?

out=$($slm forward $data/fixtures/sbert_minilm/st_model --ids 2,5,7,3 --output embedding)
echo "$out" | grep -q '^{"shape": \[1, 48\], "data": \['; check "forward --output embedding uses the model's pooling: ${out:0:40}" $?
out=$($slm forward $data/fixtures/bert_tiny/qa --ids 2,5,7,3 --head qa)
echo "$out" | grep -q '^{"shape": \[1, 2, 4\]'; check "forward --head qa gives start and end logits" $?
$slm forward $data/fixtures/bert_tiny/model --ids 2,5 --head mlm >/dev/null 2>&1; [ $? != 0 ]; check "forward: a head the model lacks fails" $?

out=$($slm info $model)
echo "$out" | grep -q "architecture:   llama"; check "info shows the architecture" $?
echo "$out" | grep -q "context length: 512"; check "info shows the context length" $?

out=$($slm perplexity $model $data/stories260K_greedy.txt 2>/tmp/slm-cli-err)
check "perplexity exits 0" $?
echo "$out" | grep -Eq '^\{"tokens": [0-9]+, "nll": [0-9.]+, "perplexity": [0-9.]+, "window": 512, "stride": 256\}$'; check "perplexity prints the JSON line: $out" $?
grep -q "tok/s" /tmp/slm-cli-err; check "perplexity prints a speed line on stderr" $?
out=$($slm perplexity $model $data/stories260K_greedy.txt --ctx 64 --stride 16 --threads 1 2>/dev/null)
echo "$out" | grep -q '"window": 64, "stride": 16}'; check "perplexity --ctx --stride: $out" $?
$slm perplexity $model /nonexistent.txt >/dev/null 2>&1; [ $? != 0 ]; check "perplexity: missing file fails" $?
$slm perplexity $model $data/stories260K_greedy.txt --ctx 64 --stride 65 >/dev/null 2>&1; [ $? != 0 ]; check "perplexity: stride > window fails" $?
printf '' | $slm perplexity $model - >/dev/null 2>&1; [ $? != 0 ]; check "perplexity: empty text fails" $?

echo "RESULT $passed passed, $failed failed"
[ $failed = 0 ]
