"""bench_torch.py — the PyTorch eager anchor: a GPT-2-small-shaped model (random
weights, same shapes as bench/make_random_model's) timed as slm's bench_generate
is: prompt processing of P tokens, then D greedy decode steps with a KV cache.
Prints one JSON line per configuration. Debian's python3-torch; no transformers.
usage: python3 bench_torch.py --threads N --prompt P --decode D --dtype float32|float16|bfloat16"""
import argparse, json, math, os, resource, sys, time

# Debian's torch does its matmuls in OpenBLAS, whose thread pool ignores
# torch.set_num_threads: pin both before torch loads, or "1 thread" uses every core.
_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "1"
os.environ["OPENBLAS_NUM_THREADS"] = _threads
os.environ["OMP_NUM_THREADS"] = _threads
import torch  # noqa: E402

def build(d=768, layers=12, heads=12, vocab=50257, ctx=1024, dtype=torch.float32):
    g = torch.Generator().manual_seed(0)
    def w(*shape):
        return (torch.randn(*shape, generator=g) * 0.02).to(dtype)
    p = {"wte": w(vocab, d), "wpe": w(ctx, d), "lnf": (torch.ones(d, dtype=dtype), torch.zeros(d, dtype=dtype))}
    p["blocks"] = [dict(ln1=(torch.ones(d, dtype=dtype), torch.zeros(d, dtype=dtype)),
                        attn=(w(d, 3 * d), w(3 * d)), proj=(w(d, d), w(d)),
                        ln2=(torch.ones(d, dtype=dtype), torch.zeros(d, dtype=dtype)),
                        fc=(w(d, 4 * d), w(4 * d)), fc2=(w(4 * d, d), w(d))) for _ in range(layers)]
    return p

def forward(p, ids, pos0, cache, heads=12, last_only=False):
    F = torch.nn.functional
    x = p["wte"][ids] + p["wpe"][pos0:pos0 + len(ids)]
    T, d = x.shape
    hd = d // heads
    for i, b in enumerate(p["blocks"]):
        h = F.layer_norm(x, (d,), *b["ln1"])
        qkv = torch.addmm(b["attn"][1], h, b["attn"][0])
        q, k, v = qkv.split(d, dim=1)
        k_all = torch.cat([cache[i][0], k]) if cache[i] else k
        v_all = torch.cat([cache[i][1], v]) if cache[i] else v
        cache[i] = (k_all, v_all)
        qh = q.view(T, heads, hd).transpose(0, 1)
        kh = k_all.view(-1, heads, hd).transpose(0, 1)
        vh = v_all.view(-1, heads, hd).transpose(0, 1)
        att = qh @ kh.transpose(1, 2) / math.sqrt(hd)
        S = kh.shape[1]
        mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
        att = att.masked_fill(~mask, float("-inf")).softmax(-1)
        o = (att @ vh).transpose(0, 1).reshape(T, d)
        x = x + torch.addmm(b["proj"][1], o, b["proj"][0])
        h = F.layer_norm(x, (d,), *b["ln2"])
        h = F.gelu(torch.addmm(b["fc"][1], h, b["fc"][0]), approximate="tanh")
        x = x + torch.addmm(b["fc2"][1], h, b["fc2"][0])
    x = F.layer_norm(x[-1:] if last_only else x, (d,), *p["lnf"])
    return x @ p["wte"].t()

def main():
    a = argparse.ArgumentParser()
    a.add_argument("--threads", type=int, default=1)
    a.add_argument("--prompt", type=int, default=128)
    a.add_argument("--decode", type=int, default=64)
    a.add_argument("--dtype", default="float32")
    args = a.parse_args()
    torch.set_num_threads(args.threads)
    dtype = getattr(torch, args.dtype)
    p = build(dtype=dtype)
    ids = torch.randint(0, 50257, (args.prompt,))
    with torch.inference_mode():
        cache = [None] * 12
        forward(p, ids[:8], 0, cache)  # warm-up
        cache = [None] * 12
        t0 = time.perf_counter()
        logits = forward(p, ids, 0, cache, last_only=True)
        prefill = time.perf_counter() - t0
        t0 = time.perf_counter()
        for k in range(args.decode):
            nxt = logits[-1].argmax().view(1)
            logits = forward(p, nxt, args.prompt + k, cache)
        dec = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "dtype": args.dtype, "threads": args.threads,
                      "prompt": args.prompt, "prompt_tok_s": round(args.prompt / prefill, 1),
                      "decode": args.decode, "decode_tok_s": round(args.decode / dec, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))

if __name__ == "__main__":
    main()
