#!/usr/bin/env bash
# bench/server/run.sh — `slm serve` under 1, 4 and 16 concurrent streaming clients on loopback,
# for stories260K and a GPT-2-small-shaped model (124M parameters, random F16 weights written by
# bench/make_random_model, with GPT-2's real tokenizer beside it): requests/s, generated tokens/s,
# time to first token and latency p50/p99 (bench/server/load.mjs). Results: bench/out/server.jsonl.
# Not a test. Keep it short: the machine has 2 cores. SLM_BIN names the binary (default build/slm).
set -euo pipefail
cd "$(dirname "$0")/../.."
slm=${SLM_BIN:-build/slm}
out=bench/out
mkdir -p "$out/server-gpt2-small"
make -s all
if [ ! -f "$out/gpt2-small-f16/model.safetensors" ]; then
    cc -std=c11 -O2 -D_GNU_SOURCE -Iinclude -Isrc bench/make_random_model.c src/formats/safetensors_write.c \
        src/core/tensor.c src/core/error.c -ljansson -lm -o build/make_random_model
    build/make_random_model "$out/gpt2-small-f16" --shape gpt2-small --dtype f16
fi
gpt2=$out/server-gpt2-small
for f in config.json model.safetensors; do ln -sf "$PWD/$out/gpt2-small-f16/$f" "$gpt2/$f"; done
for f in vocab.json merges.txt tokenizer_config.json; do ln -sf "$PWD/tests/data/tokenizers/gpt2/$f" "$gpt2/$f"; done

$slm serve stories260K=models/stories260K/stories260K.bin gpt2-small=$gpt2 --port 0 --parallel 16 --queue 64 --threads ${THREADS:-1} \
    --ctx 512 2>"$out/server.err" &
pid=$!
trap 'kill $pid 2>/dev/null' EXIT
for _ in $(seq 1 300); do
    port=$(sed -n 's/.*serving .* on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$out/server.err")
    [ -n "$port" ] && break
    sleep 0.1
done
base=http://127.0.0.1:$port
: >"$out/server.jsonl"
for clients in 1 4 16; do
    node bench/server/load.mjs "$base" stories260K $clients $((clients * 4)) 128 | tee -a "$out/server.jsonl"
done
for clients in 1 4 16; do
    node bench/server/load.mjs "$base" gpt2-small $clients $((clients * 2)) 32 | tee -a "$out/server.jsonl"
done
curl -s "$base/health" >>"$out/server.err" || true
kill -TERM $pid
wait $pid
