#!/usr/bin/env bash
# bench/encoders/run.sh — sentences/s of encoders of published shapes (random
# weights) at sequence length 128, batch 1 and 32, 2 threads: slm against ONNX
# Runtime (onnxruntime-node, on an ONNX file exported from the same weights) and
# PyTorch eager (Debian's python3-torch). Shapes: all-MiniLM-L6-v2,
# distilbert-base, bert-base, albert-base-v2 (one layer shared by 12) and
# mobilebert-uncased. Each shape first gets a parity check (parity.py: torch
# module vs ONNX Runtime vs slm on one padded batch), then its timings back to
# back. The summary gives sentences/s, ratios, ms and achieved GFLOP/s per
# row, and the weight bytes read per forward (ALBERT's shared layer counted once
# vs once per use). usage: [REPEATS=N] run.sh [SHAPE...]   (default: all five
# shapes, REPEATS=1, about 8 minutes on 2 quiet cores). REPEATS=N runs every
# shape's slm/ORT/torch sequence N times, interleaved, and the summary takes the
# median row (the faster of two): worth it on a noisy machine, N times the run time.
set -uo pipefail
cd "$(dirname "$0")"
root=../..
out=$root/bench/out
PY=/usr/bin/python3
shapes=${*:-minilm distilbert bert-base albert mobilebert}
repeats=${REPEATS:-1}
mkdir -p $out
slm_ok=1
LIBS="$root/build/libslm.a -lpcre2-8 -ljansson -lutf8proc -lm -pthread"
if ! make -s -C $root all; then
    if [ -x $root/build/bench_encode ] && [ -x $root/build/encode_dump ]; then
        echo "run.sh: slm did not build; using the existing build/bench_encode and build/encode_dump" >&2
    else
        echo "run.sh: slm did not build; slm rows are skipped" >&2
        slm_ok=0
    fi
elif [ $slm_ok = 1 ]; then
    cc -std=c11 -O2 -D_GNU_SOURCE -pthread -I$root/include bench_encode.c $LIBS -o $root/build/bench_encode &&
    cc -std=c11 -O2 -D_GNU_SOURCE -pthread -I$root/include encode_dump.c $LIBS -o $root/build/encode_dump || slm_ok=0
fi
[ -d node_modules/onnxruntime-node ] || ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm install --no-audit --no-fund
jsonl=${JSONL:-$out/encoders.jsonl}  # JSONL=path keeps a partial run from overwriting the full one
: > $jsonl
# An implementation that fails leaves a row with its error instead of numbers.
row() { # row SHAPE IMPL BATCH CMD...
    local shape=$1 impl=$2 batch=$3 res err
    shift 3
    err=$(mktemp)
    if res=$("$@" 2>"$err") && [ -n "$res" ]; then
        case $res in *'"shape"'*) ;; *) res=$(echo "$res" | sed "s/^{/{\"shape\": \"$shape\", /") ;; esac
        echo "$res" | tee -a $jsonl
    else
        $PY -c 'import json,sys; print(json.dumps({"shape": sys.argv[1], "impl": sys.argv[2], "batch": int(sys.argv[3]), "error": open(sys.argv[4]).read().strip()[-300:] or "failed"}))' \
            "$shape" "$impl" "$batch" "$err" | tee -a $jsonl
    fi
    rm -f "$err"
}
for shape in $shapes; do
    [ -f $out/$shape/model.onnx ] || $PY make_encoder.py $out/$shape --shape $shape 2>/dev/null
    vocab=$($PY -c "from make_encoder import SHAPES; print(SHAPES['$shape']['vocab'])")
    $PY parity.py $out/$shape --shape $shape --slm $root/build/encode_dump | tee -a $jsonl
    for batch in 1 32; do for rep in $(seq $repeats); do
        [ $slm_ok = 1 ] && row $shape slm $batch $root/build/bench_encode $out/$shape --batch $batch --seq 128 --threads 2
        row $shape onnxruntime-node $batch node bench_ort.js $out/$shape/model.onnx --batch $batch --seq 128 --threads 2 --vocab $vocab
        row $shape pytorch $batch $PY bench_torch_encoder.py --shape $shape --batch $batch --seq 128 --threads 2
    done; done
done
$PY summarize.py $jsonl
