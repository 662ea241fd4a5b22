#!/usr/bin/env bash
# tests/interop/run.sh — slm against llama.cpp itself (the build node-llama-cpp
# 3.21.1 ships), on the same GGUF files. Run by `make interop`; not part of
# `make test` because it downloads node-llama-cpp (~700 MB with its prebuilt
# backends). Checks, each printed as ok/FAIL and tallied:
#   1. GGUF files slm writes (f32, f16, q8_0, q4_0, q4_k, q6_k) load in llama.cpp
#      and greedy decoding gives the same text as slm on the same file;
#   2. GGUF files llama.cpp's own quantizer writes (from slm's f32 file) load in
#      slm and give the same greedy text as llama.cpp; their quantized tensors
#      are byte-identical to slm's quantization of the same weights;
#   3. llama.cpp's vocab-only GGUF files tokenize the same in slm as in llama.cpp.
set -uo pipefail
cd "$(dirname "$0")/../.."
here=tests/interop
out=build/interop
mkdir -p "$out"
make -s all || exit 1
if [ ! -d "$here/node_modules/node-llama-cpp" ]; then
    (cd "$here" && npm install --no-audit --no-fund --loglevel=error) || { echo "npm install failed"; exit 1; }
fi
lib=$(ls "$here"/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libllama*.so 2>/dev/null | head -n 1)
cc -O1 -Wall -o "$out/llama_quantize" "$here/llama_quantize.c" -ldl || exit 1

passed=0
failed=0
check() { # check NAME CONDITION-EXIT-STATUS DETAIL
    if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok     $1"; else failed=$((failed + 1)); echo "FAIL   $1: $3"; fi
}

# The models: llama2.c's real stories260K (width 64: too narrow for k-quant blocks of 256, which
# both programs replace by a fallback type there), and a GPT-2-small-shaped random model with
# GPT-2's real vocabulary (width 768: k-quants apply).
build/slm convert models/stories260K/stories260K.bin "$out/stories-f32.gguf" --type f32 2>/dev/null
cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/make_random_model.c build/libslm.a -lpcre2-8 -ljansson -lutf8proc -lm -pthread -o "$out/make_random_model"
[ -f "$out/gpt2-small/model.safetensors" ] || "$out/make_random_model" "$out/gpt2-small" --shape gpt2-small --dtype f32 >/dev/null
cp tests/data/tokenizers/gpt2/* "$out/gpt2-small/" 2>/dev/null
build/slm convert "$out/gpt2-small" "$out/gpt2-f32.gguf" --type f32 2>/dev/null
# And a Phi-shaped one (width 64) with Phi-1.5's real tokenizer (llama.cpp's "phi2").
[ -f "$out/phi-tiny/model.safetensors" ] || "$out/make_random_model" "$out/phi-tiny" --shape phi-tiny --dtype f32 >/dev/null
cp tests/data/tokenizers/phi-1_5/* "$out/phi-tiny/" 2>/dev/null
build/slm convert "$out/phi-tiny" "$out/phi-f32.gguf" --type f32 2>/dev/null

prompt_ids() { build/slm tokenize "$1" "$2" | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))'; }
slm_text() { build/slm generate "$1" "$2" --temperature 0 --max-tokens "$3" --ignore-eos --no-stream --threads 1 2>/dev/null; }
llama_text() { node "$here/llama_greedy.mjs" "$1" "$2" "$3" | python3 -c 'import json,sys; sys.stdout.write(json.load(sys.stdin)["text"])'; }

# When two implementations' logits nearly tie (random weights make them flat), greedy paths may
# part on rounding alone. Then each of llama.cpp's choices must be slm's top token or within 1% of
# the top logit's magnitude of it, on llama.cpp's own path (teacher-forced through slm forward).
near_ties() { # FILE PROMPT_IDS N
    local gen
    gen=$(node "$here/llama_greedy.mjs" "$1" "$2" "$3" 2>/dev/null | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["generated"])))')
    build/slm forward "$1" --ids "$2,$gen" --threads 1 | python3 -c 'import json,sys
d = json.load(sys.stdin); n_prompt = len(sys.argv[1].split(",")); gen = [int(t) for t in sys.argv[2].split(",")]
V = d["shape"][2]; x = d["data"]
worst = 0.0
for k, tok in enumerate(gen):
    row = x[(n_prompt - 1 + k) * V:(n_prompt + k) * V]
    top = max(row)
    worst = max(worst, (top - row[tok]) / max(abs(top), 1e-6))
print("worst gap %.4f" % worst); sys.exit(0 if worst <= 0.01 else 1)' "$2" "$gen"
}

compare_greedy() { # LABEL FILE PROMPT N
    local ids a b
    ids=$(prompt_ids "$2" "$3")
    a=$(slm_text "$2" "$3" "$4")
    b=$(llama_text "$2" "$ids" "$4" 2>&1)
    if [ "$a" = "$b" ]; then
        check "$1: greedy text equal" 0 ""
    else
        gap=$(near_ties "$2" "$ids" "$4")
        check "$1: greedy text equal, or parted only at near-ties ($gap)" $? "slm \"${a:0:80}\" llama.cpp \"${b:0:80}\""
    fi
}

for model in stories gpt2 phi; do
    prompt="Once upon a time"
    [ $model != stories ] && prompt="The quick brown fox"
    for type in f32 f16 q8_0 q4_0 q4_k q6_k; do
        f="$out/$model-slm-$type.gguf"
        build/slm quantize "$out/$model-f32.gguf" "$f" --type $type 2>/dev/null
        check "$model $type: slm writes it" $? "slm quantize failed"
        compare_greedy "$model $type (written by slm)" "$f" "$prompt" 24
    done
    # llama_ftype numbers: 1 F16, 2 Q4_0, 7 Q8_0, 14 Q4_K_S, 18 Q6_K.
    for pair in "1 f16" "2 q4_0" "7 q8_0" "14 q4_k" "18 q6_k"; do
        set -- $pair
        # Rows of 64 are too narrow for k-quants: llama.cpp falls back to Q5_0 there, a type slm does not run.
        [ $model != gpt2 ] && [ ${2%_k} != $2 ] && continue
        f="$out/$model-llama-$2.gguf"
        LD_LIBRARY_PATH=$(dirname "$lib") "$out/llama_quantize" "$lib" "$out/$model-f32.gguf" "$f" "$1" >"$out/quantize.log" 2>&1
        check "$model $2: llama.cpp quantizes slm's f32 file" $? "$(tail -n 2 "$out/quantize.log")"
        compare_greedy "$model $2 (written by llama.cpp)" "$f" "$prompt" 24
        python3 "$here/gguf_tensors.py" "$f" "$out/$model-slm-$2.gguf" >"$out/tensors.log"
        check "$model $2: llama.cpp's tensors == slm's quantization, byte for byte" $? "$(grep -v 'same bytes' "$out/tensors.log" | head -n 3)"
    done
done

# llama.cpp's vocab-only files: the same ids from both tokenizers on the hard texts.
for vocab in gpt-2 llama-spm bert-bge; do
    f=tests/data/gguf/ggml-vocab-$vocab.gguf
    [ -f "$f" ] || continue
    python3 -c 'import json,sys
for line in open(sys.argv[1], encoding="utf-8").read().split("\n__ggml_vocab_test__\n"):
    print(json.dumps(line))' "tests/data/tokenizers/llamacpp/ggml-vocab-$vocab.gguf.inp" > "$out/texts.jsonl"
    node "$here/llama_tokenize.mjs" "$f" "$out/texts.jsonl" > "$out/llama-ids.jsonl" 2>"$out/tok.log"
    python3 -c 'import json,subprocess,sys
for line in open(sys.argv[2], encoding="utf-8"):
    r = subprocess.run(["build/slm", "tokenize", sys.argv[1], "-", "--no-special-tokens"], input=json.loads(line).encode(), capture_output=True)
    print(json.dumps(json.loads(r.stdout)["ids"]) if r.returncode == 0 else "error: " + r.stderr.decode())' "$f" "$out/texts.jsonl" > "$out/slm-ids.jsonl"
    python3 -c 'import json,sys
[print(json.dumps(json.loads(l)) if l.startswith("[") else l.rstrip()) for l in open(sys.argv[1])]' "$out/llama-ids.jsonl" > "$out/llama-ids.norm"
    mv "$out/llama-ids.norm" "$out/llama-ids.jsonl"
    diff -q "$out/llama-ids.jsonl" "$out/slm-ids.jsonl" >/dev/null
    check "vocab $vocab: slm ids == llama.cpp ids" $? "$(diff "$out/llama-ids.jsonl" "$out/slm-ids.jsonl" | head -n 4)"
done

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
