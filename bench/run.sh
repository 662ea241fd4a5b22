#!/usr/bin/env bash
# bench/run.sh — decode and prompt speed, load time and peak RSS of a
# GPT-2-small-shaped model (124M parameters, random weights written by
# bench/make_random_model) in F32 and F16 at 1 and 2 threads, side by side
# with PyTorch eager (Debian's python3-torch) on the same shapes, plus the
# machine's measured read bandwidth. Results: bench/out/*.jsonl and a table.
# Not a test: nothing here asserts a speed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
CFLAGS="-std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -pthread -Iinclude -Isrc"
LIBS="build/libslm.a -lpcre2-8 -ljansson -lutf8proc -lm -pthread"
make -s all
cc $CFLAGS bench/bench_generate.c $LIBS -o build/bench_generate
cc $CFLAGS bench/make_random_model.c $LIBS -o build/make_random_model
cc -O2 -pthread bench/membw.c -o build/membw

for dtype in f32 f16; do
    [ -f "$out/gpt2-small-$dtype/model.safetensors" ] || build/make_random_model "$out/gpt2-small-$dtype" --shape gpt2-small --dtype $dtype
done

: > "$out/results.jsonl"
for threads in 1 2; do
    build/membw $threads | tee -a "$out/results.jsonl"
done
for dtype in f32 f16; do
    for threads in 1 2; do
        for prompt in 128 512; do
            build/bench_generate "$out/gpt2-small-$dtype" --threads $threads --prompt $prompt --decode 64 | tee -a "$out/results.jsonl"
        done
    done
done
PY=/usr/bin/python3
if $PY -c "import torch" 2>/dev/null; then
    for threads in 1 2; do
        for prompt in 128 512; do
            $PY bench/bench_torch.py --threads $threads --prompt $prompt --decode 32 --dtype float32 | tee -a "$out/results.jsonl"
        done
    done
else
    echo "PyTorch not installed (apt-get install python3-torch): skipping the PyTorch anchor"
fi
$PY bench/report.py "$out/results.jsonl"
