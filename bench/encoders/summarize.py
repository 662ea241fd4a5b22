"""summarize.py — the tables of run.sh from bench/out/encoders.jsonl: sentences/s,
ratios, median ms and achieved GFLOP/s per shape and batch; the parity checks;
and per shape the matmul work and weight traffic of one forward (make_encoder.cost),
where ALBERT's shared layer is read 12 times but is only ~28 MB of distinct weights.
usage: python3 summarize.py encoders.jsonl"""
import json, sys
from make_encoder import SHAPES, cost

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
shapes = [s for s in SHAPES if any(r.get("shape") == s for r in rows)]
costs = {s: cost(s) for s in shapes}
IMPLS = (("slm", "slm"), ("onnxruntime-node", "ORT"), ("pytorch", "torch"))

def merged(shape, batch):
    """impl -> its row; with several rows (run.sh REPEATS > 1) the one of median time, and runs = how many."""
    by = {}
    for r in rows:
        if r.get("shape") == shape and r.get("batch") == batch and "impl" in r:
            by.setdefault(r["impl"], []).append(r)
    out = {}
    for impl, rs in by.items():
        ok = sorted((r for r in rs if "median_ms" in r), key=lambda r: r["median_ms"])
        out[impl] = dict(ok[(len(ok) - 1) // 2], repeats=len(ok)) if ok else rs[-1]
    return out

def cell(r, key, fmt):
    return fmt.format(r[key]) if r and key in r else "-"

reps = max((r.get("repeats", 1) for sh in shapes for b in (1, 32) for r in merged(sh, b).values()), default=1)
print(f"\n== throughput: seq 128, 2 threads, median of 30 (batch 1) / 4 (batch 32) runs"
      + (f", median over {reps} interleaved repeats" if reps > 1 else "") + " ==")
head = (f"{'shape':10} {'batch':>5} {'slm s/s':>8} {'ORT s/s':>8} {'torch s/s':>9} {'slm/ORT':>8} {'slm/torch':>9} "
        f"{'slm ms':>8} {'ORT ms':>8} {'torch ms':>9} {'GFLOP/s slm':>11} {'ORT':>6} {'torch':>6}")
print(head)
errors = []
for shape in shapes:
    for batch in (1, 32):
        d = merged(shape, batch)
        if not d:
            continue
        for impl, _ in IMPLS:
            if "error" in d.get(impl, {}):
                errors.append(f"{shape} batch {batch} {impl}: {d[impl]['error']}")
        ok = {k: v for k, v in d.items() if "sentences_s" in v}
        s, o, t = ok.get("slm"), ok.get("onnxruntime-node"), ok.get("pytorch")
        ratio = lambda a, b: f"{a['sentences_s'] / b['sentences_s']:.2f}x" if a and b else "-"
        gf = lambda r: f"{costs[shape]['flops'] * batch / (r['median_ms'] * 1e-3) / 1e9:.0f}" if r else "-"
        print(f"{shape:10} {batch:>5} {cell(s, 'sentences_s', '{:.1f}'):>8} {cell(o, 'sentences_s', '{:.1f}'):>8} "
              f"{cell(t, 'sentences_s', '{:.1f}'):>9} {ratio(s, o):>8} {ratio(s, t):>9} "
              f"{cell(s, 'median_ms', '{:.1f}'):>8} {cell(o, 'median_ms', '{:.1f}'):>8} {cell(t, 'median_ms', '{:.1f}'):>9} "
              f"{gf(s):>11} {gf(o):>6} {gf(t):>6}")
for e in errors:
    print("  error:", e)

print("\n== peak RSS (MB) ==")
for shape in shapes:
    for batch in (1, 32):
        d = merged(shape, batch)
        print(f"{shape:10} {batch:>5} " + " ".join(f"{lbl} {cell(d.get(i), 'peak_rss_mb', '{:.0f}'):>5}" for i, lbl in IMPLS))

def verdict(r):
    if r["pass"]:
        return "PASS"
    diffs = [v for k, v in r.items() if k.endswith(("_vs_torch", "_vs_ort"))]
    failed = any(k.endswith("_error") for k in r)
    return "INCOMPLETE (the rest agree)" if failed and diffs and all(d < 1e-3 for d in diffs) else "FAIL"

print("\n== parity: last hidden state, 2 x 128 tokens (one row padded to 96), max abs difference ==")
for r in rows:
    if r.get("check") != "parity":
        continue
    f = lambda k: f"{r[k]:.2e}" if k in r else "-"
    print(f"{r['shape']:10} torch-ORT {f('ort_vs_torch'):>9}  torch-slm {f('slm_vs_torch'):>9}  ORT-slm {f('slm_vs_ort'):>9}"
          f"  (max |h| {r['max_abs_ref']:.2f})  {verdict(r)}")
    for k in ("ort_error", "slm_error"):
        if k in r:
            print(f"{'':10} {k}: {r[k]}")

print("\n== matmul work and weight traffic per forward (f32; embeddings tables and unused pooler excluded) ==")
print(f"{'shape':10} {'GFLOP/sent':>10} {'distinct MB':>11} {'read MB':>8} {'reuse':>6} "
      f"{'FLOP/B read b1':>14} {'FLOP/B distinct b1':>18} {'b32':>6}")
for shape in shapes:
    c = costs[shape]
    # FLOP per byte of weights: per byte read (each use) and per distinct byte, which is the intensity
    # against DRAM when a weight stays cached between its uses (ALBERT: a 28.7 MB layer, 32 MB of L3).
    print(f"{shape:10} {c['flops'] / 1e9:>10.2f} {c['distinct_bytes'] / 1e6:>11.1f} {c['weight_bytes'] / 1e6:>8.1f} "
          f"{c['weight_bytes'] / c['distinct_bytes']:>5.0f}x {c['flops'] / c['weight_bytes']:>14.0f} "
          f"{c['flops'] / c['distinct_bytes']:>18.0f} {32 * c['flops'] / c['distinct_bytes']:>6.0f}")
