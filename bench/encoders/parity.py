"""parity.py — checks that one bench model means the same thing to all three
implementations: the torch module of make_encoder.py (the reference), ONNX
Runtime on the exported model.onnx, and slm on the Hugging Face folder, for one
batch of 2 sequences of --seq tokens (the second right-padded to 3/4 length,
the first with token types 0 then 1). Compares the last hidden state over the
real (unpadded) positions and prints one JSON line: max abs differences, the
largest |value|, and pass (every difference under --tol).
usage: python3 parity.py MODEL_DIR --shape S [--slm build/encode_dump] [--seq 128] [--tol 1e-3]"""
import argparse, json, os, subprocess, sys, tempfile
import numpy as np
import torch
from make_encoder import SHAPES, Encoder, tensors

here = os.path.dirname(os.path.abspath(__file__))
a = argparse.ArgumentParser()
a.add_argument("model")
a.add_argument("--shape", required=True, choices=SHAPES)
a.add_argument("--slm", default=os.path.join(here, "../../build/encode_dump"))
a.add_argument("--seq", type=int, default=128)
a.add_argument("--tol", type=float, default=1e-3)
args = a.parse_args()
torch.set_num_threads(2)

B, L = 2, args.seq
g = torch.Generator().manual_seed(7)
ids = torch.randint(1, SHAPES[args.shape]["vocab"], (B, L), generator=g)
types = torch.zeros(B, L, dtype=torch.long)
types[0, L // 2:] = 1
mask = torch.ones(B, L, dtype=torch.long)
mask[1, L * 3 // 4:] = 0
ids[1, L * 3 // 4:] = 0  # the pad token
real = mask.bool().numpy()

with torch.no_grad():
    ref = Encoder(args.shape, tensors(args.shape)).eval()(ids, mask, types).numpy()

res = {"shape": args.shape, "check": "parity", "batch": B, "seq": L, "max_abs_ref": float(np.abs(ref[real]).max())}
with tempfile.TemporaryDirectory() as tmp:
    inp = os.path.join(tmp, "in.bin")
    with open(inp, "wb") as f:
        np.array([B, L], np.int32).tofile(f)
        for x in (ids, types, mask):
            x.numpy().astype(np.int32).tofile(f)
    runs = {"ort": ["node", os.path.join(here, "encode_dump_ort.js"), os.path.join(args.model, "model.onnx")],
            "slm": [args.slm, args.model]}
    for name, cmd in runs.items():
        out = os.path.join(tmp, name + ".bin")
        p = subprocess.run(cmd + [inp, out], capture_output=True, text=True)
        if p.returncode != 0:
            res[name + "_error"] = (p.stderr.strip() or p.stdout.strip() or f"exit {p.returncode}")[-400:]
            continue
        got = np.fromfile(out, np.float32).reshape(ref.shape)
        res[name + "_vs_torch"] = float(np.abs(got[real] - ref[real]).max())
        if name == "slm" and "ort_vs_torch" in res:
            ort = np.fromfile(os.path.join(tmp, "ort.bin"), np.float32).reshape(ref.shape)
            res["slm_vs_ort"] = float(np.abs(got[real] - ort[real]).max())
diffs = [v for k, v in res.items() if k.endswith(("_vs_torch", "_vs_ort"))]
res["pass"] = bool(diffs) and all(d < args.tol for d in diffs) and not any(k.endswith("_error") for k in res)
print(json.dumps(res))
sys.exit(0)
