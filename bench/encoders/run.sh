#!/usr/bin/env bash
# bench/encoders/run.sh — sentences/s of an all-MiniLM-L6-v2-shaped and a
# DistilBERT-base-shaped encoder (random weights) at sequence length 128,
# batch 1 and 32, 2 threads: slm against ONNX Runtime (onnxruntime-node, on an
# ONNX file exported from the same weights) and PyTorch eager (Debian's python3-torch).
set -euo pipefail
cd "$(dirname "$0")"
root=../..
out=$root/bench/out
PY=/usr/bin/python3
make -s -C $root all
cc -std=c11 -O2 -D_GNU_SOURCE -pthread -I$root/include bench_encode.c $root/build/libslm.a \
   -lpcre2-8 -ljansson -lutf8proc -lm -pthread -o $root/build/bench_encode
[ -d node_modules/onnxruntime-node ] || ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund
: > $out/encoders.jsonl
for shape in minilm distilbert; do
    [ -f $out/$shape/model.onnx ] || $PY make_encoder.py $out/$shape --shape $shape
    for batch in 1 32; do
        $root/build/bench_encode $out/$shape --batch $batch --seq 128 --threads 2 | sed "s/^{/{\"shape\": \"$shape\", /" | tee -a $out/encoders.jsonl
        node bench_ort.js $out/$shape/model.onnx --batch $batch --seq 128 --threads 2 | sed "s/^{/{\"shape\":\"$shape\",/" | tee -a $out/encoders.jsonl
        $PY bench_torch_encoder.py --shape $shape --batch $batch --seq 128 --threads 2 | tee -a $out/encoders.jsonl
    done
done
$PY - "$out/encoders.jsonl" <<'PYEOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
key = lambda r: (r["shape"], r["batch"])
by = {}
for r in rows:
    by.setdefault(key(r), {})[r["impl"]] = r
print(f"{'shape':10} {'batch':>5} {'slm sent/s':>10} {'ORT sent/s':>10} {'torch sent/s':>12} {'slm/ORT':>8} {'slm/torch':>9} {'slm ms':>8} {'ORT ms':>8}")
for (shape, batch), d in sorted(by.items()):
    s, o, t = d.get("slm"), d.get("onnxruntime-node"), d.get("pytorch")
    print(f"{shape:10} {batch:>5} {s['sentences_s']:>10} {o['sentences_s']:>10} {t['sentences_s']:>12} "
          f"{s['sentences_s'] / o['sentences_s']:>7.2f}x {s['sentences_s'] / t['sentences_s']:>8.2f}x "
          f"{s['median_ms']:>8} {o['median_ms']:>8}")
PYEOF
