"""make_encoder.py — a random-weight encoder of a published shape, written three
ways from the same tensors: a Hugging Face folder (config.json + model.safetensors,
the real key names) for slm, an ONNX file (torch.onnx.export) for ONNX Runtime,
and a torch module for the PyTorch anchor (bench_torch_encoder.py rebuilds it
from the same seed). Plain torch (Debian's python3-torch); no transformers.
usage: python3 make_encoder.py OUTDIR --shape minilm|distilbert"""
import argparse, json, math, os, struct
import torch

SHAPES = {
    # all-MiniLM-L6-v2: BertModel, 6 layers, hidden 384, 12 heads, ff 1536
    "minilm": dict(family="bert", layers=6, d=384, heads=12, ff=1536, vocab=30522, max_pos=512),
    # distilbert-base-uncased: 6 layers, hidden 768, 12 heads, ff 3072
    "distilbert": dict(family="distilbert", layers=6, d=768, heads=12, ff=3072, vocab=30522, max_pos=512),
}

def tensors(shape, seed=0):
    """The weights under their Hugging Face names, (out, in) for linears."""
    g = torch.Generator().manual_seed(seed)
    s = SHAPES[shape]
    d, ff = s["d"], s["ff"]
    w = lambda *sh: torch.randn(*sh, generator=g) * 0.02
    ln = lambda: (1 + torch.randn(d, generator=g) * 0.02, torch.randn(d, generator=g) * 0.02)
    t = {}
    if s["family"] == "bert":
        t["embeddings.word_embeddings.weight"] = w(s["vocab"], d)
        t["embeddings.position_embeddings.weight"] = w(s["max_pos"], d)
        t["embeddings.token_type_embeddings.weight"] = w(2, d)
        t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"] = ln()
        for i in range(s["layers"]):
            p = f"encoder.layer.{i}."
            for name in ("query", "key", "value"):
                t[p + f"attention.self.{name}.weight"], t[p + f"attention.self.{name}.bias"] = w(d, d), w(d)
            t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = w(d, d), w(d)
            t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"] = ln()
            t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = w(ff, d), w(ff)
            t[p + "output.dense.weight"], t[p + "output.dense.bias"] = w(d, ff), w(d)
            t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = ln()
        t["pooler.dense.weight"], t["pooler.dense.bias"] = w(d, d), w(d)
    else:
        t["embeddings.word_embeddings.weight"] = w(s["vocab"], d)
        t["embeddings.position_embeddings.weight"] = w(s["max_pos"], d)
        t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"] = ln()
        for i in range(s["layers"]):
            p = f"transformer.layer.{i}."
            for name in ("q_lin", "k_lin", "v_lin", "out_lin"):
                t[p + f"attention.{name}.weight"], t[p + f"attention.{name}.bias"] = w(d, d), w(d)
            t[p + "sa_layer_norm.weight"], t[p + "sa_layer_norm.bias"] = ln()
            t[p + "ffn.lin1.weight"], t[p + "ffn.lin1.bias"] = w(ff, d), w(ff)
            t[p + "ffn.lin2.weight"], t[p + "ffn.lin2.bias"] = w(d, ff), w(d)
            t[p + "output_layer_norm.weight"], t[p + "output_layer_norm.bias"] = ln()
    return t

class Encoder(torch.nn.Module):
    """Post-LayerNorm BERT/DistilBERT encoder over the named tensors; returns the last hidden state."""
    def __init__(self, shape, t):
        super().__init__()
        self.s, self.t = SHAPES[shape], t

    def linear(self, x, name):
        return torch.nn.functional.linear(x, self.t[name + ".weight"], self.t[name + ".bias"])

    def norm(self, x, name):
        return torch.nn.functional.layer_norm(x, (self.s["d"],), self.t[name + ".weight"], self.t[name + ".bias"], 1e-12)

    def forward(self, input_ids, attention_mask, token_type_ids):
        s, t = self.s, self.t
        B, L = input_ids.shape
        pos = torch.arange(L).unsqueeze(0)
        x = t["embeddings.word_embeddings.weight"][input_ids] + t["embeddings.position_embeddings.weight"][pos]
        if s["family"] == "bert":
            x = x + t["embeddings.token_type_embeddings.weight"][token_type_ids]
        x = self.norm(x, "embeddings.LayerNorm")
        H, hd = s["heads"], s["d"] // s["heads"]
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * torch.finfo(x.dtype).min
        for i in range(s["layers"]):
            if s["family"] == "bert":
                p = f"encoder.layer.{i}."
                q, k, v = (self.linear(x, p + f"attention.self.{n}") for n in ("query", "key", "value"))
                names = (p + "attention.output.dense", p + "attention.output.LayerNorm", p + "intermediate.dense",
                         p + "output.dense", p + "output.LayerNorm")
            else:
                p = f"transformer.layer.{i}."
                q, k, v = (self.linear(x, p + f"attention.{n}") for n in ("q_lin", "k_lin", "v_lin"))
                names = (p + "attention.out_lin", p + "sa_layer_norm", p + "ffn.lin1", p + "ffn.lin2",
                         p + "output_layer_norm")
            q, k, v = (z.view(B, L, H, hd).transpose(1, 2) for z in (q, k, v))
            att = (q @ k.transpose(-1, -2) / math.sqrt(hd) + bias).softmax(-1)
            o = (att @ v).transpose(1, 2).reshape(B, L, s["d"])
            x = self.norm(x + self.linear(o, names[0]), names[1])
            h = torch.nn.functional.gelu(self.linear(x, names[2]))
            x = self.norm(x + self.linear(h, names[3]), names[4])
        return x

def write_safetensors(path, t):
    header, offset, blobs = {}, 0, []
    for name in sorted(t):
        data = t[name].contiguous().float().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)

def config(shape):
    s = SHAPES[shape]
    if s["family"] == "bert":
        return {"model_type": "bert", "architectures": ["BertModel"], "vocab_size": s["vocab"], "hidden_size": s["d"],
                "num_hidden_layers": s["layers"], "num_attention_heads": s["heads"], "intermediate_size": s["ff"],
                "hidden_act": "gelu", "max_position_embeddings": s["max_pos"], "type_vocab_size": 2,
                "layer_norm_eps": 1e-12, "pad_token_id": 0}
    return {"model_type": "distilbert", "architectures": ["DistilBertModel"], "vocab_size": s["vocab"], "dim": s["d"],
            "n_layers": s["layers"], "n_heads": s["heads"], "hidden_dim": s["ff"], "activation": "gelu",
            "max_position_embeddings": s["max_pos"], "sinusoidal_pos_embds": False, "pad_token_id": 0}

def main():
    a = argparse.ArgumentParser()
    a.add_argument("out")
    a.add_argument("--shape", choices=SHAPES, required=True)
    args = a.parse_args()
    os.makedirs(args.out, exist_ok=True)
    t = tensors(args.shape)
    write_safetensors(os.path.join(args.out, "model.safetensors"), t)
    json.dump(config(args.shape), open(os.path.join(args.out, "config.json"), "w"), indent=1)
    m = Encoder(args.shape, t).eval()
    ids = torch.randint(0, 30522, (2, 16))
    with torch.no_grad():
        torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(args.out, "model.onnx"),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=14,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                                        ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")})
    print(f"{args.out}: {args.shape}, {sum(v.numel() for v in t.values())} parameters, safetensors + onnx")

if __name__ == "__main__":
    main()
