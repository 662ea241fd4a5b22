"""bench_torch_encoder.py — the PyTorch eager anchor for encoders: the same
random weights as make_encoder.py (same seed), sentences/s at a batch size and
sequence length. usage: python3 bench_torch_encoder.py --shape minilm --batch B --seq L --threads N"""
import argparse, json, os, resource, sys, time

_threads = sys.argv[sys.argv.index("--threads") + 1] if "--threads" in sys.argv else "2"
os.environ["OPENBLAS_NUM_THREADS"] = _threads  # OpenBLAS ignores torch.set_num_threads
os.environ["OMP_NUM_THREADS"] = _threads
import torch  # noqa: E402
from make_encoder import SHAPES, Encoder, tensors  # noqa: E402

a = argparse.ArgumentParser()
a.add_argument("--shape", required=True)
a.add_argument("--batch", type=int, default=1)
a.add_argument("--seq", type=int, default=128)
a.add_argument("--threads", type=int, default=2)
args = a.parse_args()
torch.set_num_threads(args.threads)
m = Encoder(args.shape, tensors(args.shape)).eval()
ids = torch.randint(0, SHAPES[args.shape]["vocab"], (args.batch, args.seq))
mask, types = torch.ones_like(ids), torch.zeros_like(ids)
with torch.inference_mode():
    m(ids, mask, types)
    runs = 30 if args.batch == 1 else 4
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        m(ids, mask, types)
        times.append(time.perf_counter() - t0)
times.sort()
med = times[len(times) // 2]
print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "shape": args.shape, "batch": args.batch,
                  "seq": args.seq, "threads": args.threads, "median_ms": round(med * 1e3, 2),
                  "sentences_s": round(args.batch / med, 1),
                  "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))
