"""summarize.py — bench/gguf/run.sh's results as Markdown tables: slm against
llama.cpp on the same GGUF file, the decode bandwidth each achieves against the
measured read bandwidth, and peak RSS. Where a configuration was measured more
than once (REPEAT, or a rerun when the host was quieter), the row with the
fastest decode counts: on a shared host contention only slows a run down.
usage: summarize.py RESULTS.jsonl GGUF_DIR"""
import json
import os
import struct
import sys

# ggml type id -> (values per block, bytes per block), as gguf.md lists them.
GGML_TYPES = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
              10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
              30: (1, 2)}
# Fixed-size GGUF metadata value types -> bytes (8 string, 9 array handled apart).
VALUE_SIZES = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def _read(buf, pos, fmt):
    return struct.unpack_from("<" + fmt, buf, pos)[0], pos + struct.calcsize(fmt)


def _skip_value(buf, pos, vtype):
    if vtype == 8:
        n, pos = _read(buf, pos, "Q")
        return pos + n
    if vtype == 9:
        etype, pos = _read(buf, pos, "I")
        count, pos = _read(buf, pos, "Q")
        if etype != 8:
            return pos + count * VALUE_SIZES[etype]
        for _ in range(count):
            n, pos = _read(buf, pos, "Q")
            pos += n
        return pos
    return pos + VALUE_SIZES[vtype]


def gguf_tensor_bytes(path):
    """{tensor name: bytes} from a GGUF file's header (the data is not read)."""
    with open(path, "rb") as f:
        buf = f.read(64 << 20)  # the header with a 50k-token vocabulary is a few MB
    if buf[:4] != b"GGUF":
        raise ValueError(f"{path}: not a GGUF file")
    pos = 8
    n_tensors, pos = _read(buf, pos, "Q")
    n_kv, pos = _read(buf, pos, "Q")
    for _ in range(n_kv):
        n, pos = _read(buf, pos, "Q")
        vtype, pos = _read(buf, pos + n, "I")
        pos = _skip_value(buf, pos, vtype)
    sizes = {}
    for _ in range(n_tensors):
        n, pos = _read(buf, pos, "Q")
        name = buf[pos:pos + n].decode()
        ndim, pos = _read(buf, pos + n, "I")
        numel = 1
        for _ in range(ndim):
            d, pos = _read(buf, pos, "Q")
            numel *= d
        ttype, pos = _read(buf, pos, "I")
        pos += 8  # offset
        block, block_bytes = GGML_TYPES[ttype]
        sizes[name] = numel // block * block_bytes
    return sizes


def bytes_per_decode_token(sizes):
    """Weight bytes one decode step reads: every matrix once, but of the
    embeddings only one row — unless the token embedding is also the output
    head (tied, as GPT-2), when it is read whole. The KV cache is not counted."""
    gathered = {"position_embd.weight"}
    if "output.weight" in sizes:
        gathered.add("token_embd.weight")
    return sum(b for name, b in sizes.items() if name not in gathered)


def best_rows(rows):
    """The fastest-decoding row of each (file, impl, threads) and how many
    rows it was chosen from; the highest bandwidth per thread count. A failed
    run counts only where nothing succeeded."""
    keep, runs, bandwidth = {}, {}, {}
    for r in rows:
        if "read_gb_s" in r:
            if r["read_gb_s"] > bandwidth.get(r["threads"], {}).get("read_gb_s", 0):
                bandwidth[r["threads"]] = r
        elif "file" in r:
            key = (r["file"], r.get("impl", "slm"), r["threads"])
            runs[key] = runs.get(key, 0) + 1
            if r.get("decode_tok_s", -1) >= keep.get(key, {}).get("decode_tok_s", -1):
                keep[key] = r
    return keep, runs, bandwidth


def fmt(x, spec=".1f", missing="-"):
    return missing if x is None else format(x, spec)


def ratio(a, b):
    return a / b if a is not None and b else None


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    gguf_dir = sys.argv[2]
    keep, runs, bandwidth = best_rows(rows)
    files = list(dict.fromkeys(k[0] for k in keep))
    threads_seen = sorted({k[2] for k in keep})
    print("measured read bandwidth (bench/membw): " +
          ", ".join(f"{t} thread(s) {r['read_gb_s']} GB/s (load {r['load1']})" for t, r in sorted(bandwidth.items())))
    print()
    print("| model | type | thr | MB/token | slm prompt | llama prompt | ratio | slm decode | llama decode | ratio "
          "| llama compute-only | ratio | slm GB/s (% bw) | llama GB/s (% bw) | load1 slm/llama | runs |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    memory, behind, failures = [], [], []
    for name in files:
        shape, _, wtype = name.rpartition("-")
        path = os.path.join(gguf_dir, name + ".gguf")
        sizes = gguf_tensor_bytes(path) if os.path.exists(path) else {}
        per_token = bytes_per_decode_token(sizes) if sizes else None
        for t in threads_seen:
            s, l = keep.get((name, "slm", t)), keep.get((name, "llama.cpp", t))
            if not s and not l:
                continue
            for impl, r in (("slm", s), ("llama.cpp", l)):
                if r and "decode_tok_s" not in r:
                    failures.append((name, impl, t, r.get("error_file")))
            s = s if s and "decode_tok_s" in s else {}
            l = l if l and "decode_tok_s" in l else {}
            bw = bandwidth.get(t, {}).get("read_gb_s")

            def gbs(tok_s):
                if tok_s is None or per_token is None:
                    return "-"
                g = per_token * tok_s / 1e9
                return f"{g:.1f} ({100 * g / bw:.0f}%)" if bw else f"{g:.1f}"

            dec_wall = ratio(s.get("decode_tok_s"), l.get("decode_tok_s"))
            dec_compute = ratio(s.get("decode_tok_s"), l.get("decode_internal_tok_s"))
            print(f"| {shape} | {wtype} | {t} | {fmt(per_token and per_token / 1e6, '.0f')} "
                  f"| {fmt(s.get('prompt_tok_s'))} | {fmt(l.get('prompt_tok_s'))} "
                  f"| {fmt(ratio(s.get('prompt_tok_s'), l.get('prompt_tok_s')), '.2f')} "
                  f"| {fmt(s.get('decode_tok_s'))} | {fmt(l.get('decode_tok_s'))} | {fmt(dec_wall, '.2f')} "
                  f"| {fmt(l.get('decode_internal_tok_s'))} | {fmt(dec_compute, '.2f')} "
                  f"| {gbs(s.get('decode_tok_s'))} | {gbs(l.get('decode_tok_s'))} "
                  f"| {s.get('load1', '-')}/{l.get('load1', '-')} "
                  f"| {runs.get((name, 'slm', t), 0)}/{runs.get((name, 'llama.cpp', t), 0)} |")
            llama_own = l["peak_rss_mb"] - l["base_rss_mb"] if l else None
            memory.append((shape, wtype, t, sum(sizes.values()) / 1048576 if sizes else None, s.get("peak_rss_mb"),
                           l.get("peak_rss_mb"), l.get("base_rss_mb"), llama_own))
            if dec_wall is not None and dec_wall < 1:
                behind.append(f"{name} t{t}: slm decode {s['decode_tok_s']} tok/s is {100 * (1 - dec_wall):.0f}% "
                              f"below llama.cpp's {l['decode_tok_s']} (end to end)")
            if dec_compute is not None and dec_compute < 1:
                behind.append(f"{name} t{t}: slm decode {s['decode_tok_s']} tok/s is {100 * (1 - dec_compute):.0f}% "
                              f"below llama.cpp's compute-only {l['decode_internal_tok_s']}")
            if s and llama_own is not None and s["peak_rss_mb"] > llama_own:
                behind.append(f"{name} t{t}: slm peak RSS {s['peak_rss_mb']:.0f} MB is above llama.cpp's "
                              f"{llama_own:.0f} MB (node's own {l['base_rss_mb']:.0f} MB subtracted)")
    print()
    print("| model | type | thr | weights MiB (file) | slm peak RSS MiB | llama.cpp peak RSS MiB | node base MiB "
          "| llama.cpp − node base | slm / (llama.cpp − base) |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|")
    for shape, wtype, t, weights, srss, lrss, base, own in memory:
        print(f"| {shape} | {wtype} | {t} | {fmt(weights, '.0f')} | {fmt(srss, '.0f')} | {fmt(lrss, '.0f')} "
              f"| {fmt(base, '.0f')} | {fmt(own, '.0f')} | {fmt(ratio(srss, own), '.2f')} |")
    print()
    if behind:
        print("where slm is behind the target:")
        for line in behind:
            print(f"- {line}")
    else:
        print("slm meets the target (decode >= llama.cpp, RSS no higher) in every measured row")
    for name, impl, t, err in failures:
        print(f"\n{impl} failed on {name} at {t} thread(s):")
        if err and os.path.exists(err):
            print("```\n" + open(err).read().rstrip() + "\n```")


if __name__ == "__main__":
    main()
