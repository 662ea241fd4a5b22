"""report.py — prints bench/run.sh's results as a table with ratios: slm against
PyTorch on the same shape, and decode bandwidth against the measured read bandwidth."""
import json, sys

rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bw = {r["threads"]: r["read_gb_s"] for r in rows if "read_gb_s" in r}
torch = {(r["threads"], r["prompt"]): r for r in rows if r.get("impl") == "pytorch"}
print(f"measured read bandwidth: " + ", ".join(f"{t} thread(s) {g} GB/s" for t, g in sorted(bw.items())))
print("prompt tok/s is the warm pass; 'first' includes mapping the weights' pages on first touch")
print(f"{'dtype':5} {'thr':>3} {'prompt':>6} {'prompt tok/s':>12} {'first':>6} {'decode tok/s':>12} {'GB/s':>6} {'% bw':>5} "
      f"{'load ms':>8} {'RSS MB':>7} {'wts+kv MB':>9} {'vs torch prompt':>15} {'vs torch decode':>15}")
for r in rows:
    if "decode_tok_s" not in r or r.get("impl") == "pytorch":
        continue
    t = torch.get((r["threads"], r["prompt"]))
    pct = 100 * r["decode_gb_s"] / bw[r["threads"]] if r["threads"] in bw else float("nan")
    vp = f"{r['prompt_tok_s'] / t['prompt_tok_s']:.1f}x" if t else "-"
    vd = f"{r['decode_tok_s'] / t['decode_tok_s']:.1f}x" if t else "-"
    print(f"{r['dtype']:5} {r['threads']:>3} {r['prompt']:>6} {r['prompt_tok_s']:>12.1f} {r['first_prompt_tok_s']:>6.0f} {r['decode_tok_s']:>12.1f} "
          f"{r['decode_gb_s']:>6.1f} {pct:>5.0f} {r['load_ms']:>8.1f} {r['peak_rss_mb']:>7.1f} "
          f"{r['weights_mb'] + r['kv_mb']:>9.1f} {vp:>15} {vd:>15}")
for (threads, prompt), t in sorted(torch.items()):
    print(f"pytorch {t['torch']} f32, {threads} thread(s), prompt {prompt}: prompt {t['prompt_tok_s']} tok/s, "
          f"decode {t['decode_tok_s']} tok/s, RSS {t['peak_rss_mb']} MB")
