"""make_encoder.py — a random-weight encoder of a published shape, written three
ways from the same tensors: a Hugging Face folder (config.json + model.safetensors,
the real key names) for slm, an ONNX file (torch.onnx.export) for ONNX Runtime,
and a torch module for the PyTorch anchor (bench_torch_encoder.py rebuilds it
from the same seed). Plain torch (Debian's python3-torch); no transformers: the
ALBERT and MobileBERT forward passes below are written from the layer structure
of transformers' AlbertModel / MobileBertModel (same tensor names, same order of
operations), and parity.py checks them against ONNX Runtime and slm.
usage: python3 make_encoder.py OUTDIR --shape minilm|distilbert|bert-base|albert|mobilebert"""
import argparse, json, math, os, struct
import torch

SHAPES = {
    # all-MiniLM-L6-v2: BertModel, 6 layers, hidden 384, 12 heads, ff 1536
    "minilm": dict(family="bert", layers=6, d=384, heads=12, ff=1536, vocab=30522, max_pos=512),
    # distilbert-base-uncased: 6 layers, hidden 768, 12 heads, ff 3072
    "distilbert": dict(family="distilbert", layers=6, d=768, heads=12, ff=3072, vocab=30522, max_pos=512),
    # bert-base-uncased: 12 layers, hidden 768 -- ALBERT-base's layer without the sharing
    "bert-base": dict(family="bert", layers=12, d=768, heads=12, ff=3072, vocab=30522, max_pos=512),
    # albert-base-v2: embedding 128 mapped to hidden 768; one layer group of one layer, run 12 times
    "albert": dict(family="albert", layers=12, d=768, heads=12, ff=3072, vocab=30000, max_pos=512, emb=128,
                   groups=1, inner=1),
    # google/mobilebert-uncased: hidden 512, bottleneck 128, 4 heads over the bottleneck, 4 FFNs of 512,
    # trigram embeddings of width 128, NoNorm, relu, 24 layers
    "mobilebert": dict(family="mobilebert", layers=24, d=512, heads=4, ff=512, vocab=30522, max_pos=512, emb=128,
                       bottleneck=128, n_ffn=4),
}

def tensors(shape, seed=0):
    """The weights under their Hugging Face names, (out, in) for linears."""
    g = torch.Generator().manual_seed(seed)
    s = SHAPES[shape]
    d, ff = s["d"], s["ff"]
    w = lambda *sh: torch.randn(*sh, generator=g) * 0.02
    ln = lambda n=d: (1 + torch.randn(n, generator=g) * 0.02, torch.randn(n, generator=g) * 0.02)
    t = {}
    if s["family"] == "albert":
        e = s["emb"]
        t["embeddings.word_embeddings.weight"] = w(s["vocab"], e)
        t["embeddings.position_embeddings.weight"] = w(s["max_pos"], e)
        t["embeddings.token_type_embeddings.weight"] = w(2, e)
        t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"] = ln(e)
        t["encoder.embedding_hidden_mapping_in.weight"], t["encoder.embedding_hidden_mapping_in.bias"] = w(d, e), w(d)
        for gi in range(s["groups"]):
            for li in range(s["inner"]):
                p = f"encoder.albert_layer_groups.{gi}.albert_layers.{li}."
                for name in ("query", "key", "value", "dense"):
                    t[p + f"attention.{name}.weight"], t[p + f"attention.{name}.bias"] = w(d, d), w(d)
                t[p + "attention.LayerNorm.weight"], t[p + "attention.LayerNorm.bias"] = ln()
                t[p + "ffn.weight"], t[p + "ffn.bias"] = w(ff, d), w(ff)
                t[p + "ffn_output.weight"], t[p + "ffn_output.bias"] = w(d, ff), w(d)
                t[p + "full_layer_layer_norm.weight"], t[p + "full_layer_layer_norm.bias"] = ln()
        t["pooler.weight"], t["pooler.bias"] = w(d, d), w(d)
        return t
    if s["family"] == "mobilebert":
        # NoNorm does not rescale, so 0.02 weights would leave every activation near zero (and the parity
        # check meaningless) while unit-gain ones grow the residual streams geometrically over 24 layers:
        # linears get std 1/sqrt(fan_in), scaled by 0.2 where they feed a residual sum, embeddings
        # std 1, which keeps the hidden state O(1-10) through the layers.
        e, b = s["emb"], s["bottleneck"]
        lin = lambda o, i, k=1.0: (torch.randn(o, i, generator=g) * (k / math.sqrt(i)), torch.randn(o, generator=g) * 0.1)
        t["embeddings.word_embeddings.weight"] = torch.randn(s["vocab"], e, generator=g)
        t["embeddings.embedding_transformation.weight"], t["embeddings.embedding_transformation.bias"] = lin(d, 3 * e)
        t["embeddings.position_embeddings.weight"] = torch.randn(s["max_pos"], d, generator=g) * 0.5
        t["embeddings.token_type_embeddings.weight"] = torch.randn(2, d, generator=g) * 0.5
        t["embeddings.LayerNorm.weight"], t["embeddings.LayerNorm.bias"] = ln(d)
        for i in range(s["layers"]):
            p = f"encoder.layer.{i}."
            t[p + "bottleneck.input.dense.weight"], t[p + "bottleneck.input.dense.bias"] = lin(b, d)
            t[p + "bottleneck.input.LayerNorm.weight"], t[p + "bottleneck.input.LayerNorm.bias"] = ln(b)
            t[p + "bottleneck.attention.dense.weight"], t[p + "bottleneck.attention.dense.bias"] = lin(b, d)
            t[p + "bottleneck.attention.LayerNorm.weight"], t[p + "bottleneck.attention.LayerNorm.bias"] = ln(b)
            t[p + "attention.self.query.weight"], t[p + "attention.self.query.bias"] = lin(b, b)
            t[p + "attention.self.key.weight"], t[p + "attention.self.key.bias"] = lin(b, b)
            t[p + "attention.self.value.weight"], t[p + "attention.self.value.bias"] = lin(b, d)
            t[p + "attention.output.dense.weight"], t[p + "attention.output.dense.bias"] = lin(b, b, 0.2)
            t[p + "attention.output.LayerNorm.weight"], t[p + "attention.output.LayerNorm.bias"] = ln(b)
            for f in range(s["n_ffn"] - 1):
                q = p + f"ffn.{f}."
                t[q + "intermediate.dense.weight"], t[q + "intermediate.dense.bias"] = lin(ff, b)
                t[q + "output.dense.weight"], t[q + "output.dense.bias"] = lin(b, ff, 0.2)
                t[q + "output.LayerNorm.weight"], t[q + "output.LayerNorm.bias"] = ln(b)
            t[p + "intermediate.dense.weight"], t[p + "intermediate.dense.bias"] = lin(ff, b)
            t[p + "output.dense.weight"], t[p + "output.dense.bias"] = lin(b, ff, 0.2)
            t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"] = ln(b)
            t[p + "output.bottleneck.dense.weight"], t[p + "output.bottleneck.dense.bias"] = lin(d, b, 0.2)
            t[p + "output.bottleneck.LayerNorm.weight"], t[p + "output.bottleneck.LayerNorm.bias"] = ln(d)
        return t  # classifier_activation false, as google/mobilebert-uncased: no pooler.dense
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

def gelu_new(x):
    """The tanh approximation (HF's gelu_new / NewGELUActivation), ALBERT's hidden_act."""
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

class Encoder(torch.nn.Module):
    """The encoder body over the named tensors; returns the last hidden state.
    bert/distilbert: post-LayerNorm BERT layers. albert: embeddings of width emb
    mapped to hidden, then one shared layer (ALBERT's AlbertLayer) applied
    `layers` times. mobilebert: trigram embeddings and bottlenecked layers with
    NoNorm (MobileBertModel with use_bottleneck, key_query_shared_bottleneck).
    The tensors are registered as buffers, so an ONNX export holds each once
    (ALBERT's shared layer stays one set of initializers). When `count` is a
    dict, forward adds the matmul FLOPs and weight bytes it reads to it."""
    def __init__(self, shape, t):
        super().__init__()
        self.s, self.t, self.count = SHAPES[shape], {}, None
        for i, name in enumerate(sorted(t)):
            self.register_buffer(f"t{i}", t[name])
            self.t[name] = getattr(self, f"t{i}")

    def prepare_export(self):
        """Adds (in, out) copies of the linears' weights for the ONNX graph: MatMul on
        an initializer instead of a Transpose that constant folding would copy per use."""
        for i, name in enumerate(sorted(self.t)):
            v = self.t[name]
            if v.dim() == 2 and name.endswith(".weight") and not name.startswith("embeddings.word") \
                    and "_embeddings" not in name:
                self.register_buffer(f"w{i}", v.t().contiguous())
                self.t[name + "^T"] = getattr(self, f"w{i}")

    def linear(self, x, name):
        w, b = self.t[name + ".weight"], self.t[name + ".bias"]
        if self.count is not None:
            rows = x.numel() // x.shape[-1]
            self.count["flops"] += 2 * w.numel() * rows
            self.count["weight_bytes"] += 4 * (w.numel() + b.numel())
            self.count["distinct"][name] = 4 * (w.numel() + b.numel())
        if name + ".weight^T" in self.t and torch.onnx.is_in_onnx_export():
            return torch.matmul(x, self.t[name + ".weight^T"]) + b
        return torch.nn.functional.linear(x, w, b)

    def norm(self, x, name, eps=1e-12):
        w, b = self.t[name + ".weight"], self.t[name + ".bias"]
        return torch.nn.functional.layer_norm(x, (w.shape[0],), w, b, eps)

    def no_norm(self, x, name):
        return x * self.t[name + ".weight"] + self.t[name + ".bias"]

    def attention(self, q, k, v, bias, heads):
        B, L, D = q.shape
        hd = D // heads
        if self.count is not None:
            self.count["flops"] += 2 * 2 * B * L * L * D  # scores and the weighted sum
        q, k, v = (z.view(B, L, heads, hd).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2) / math.sqrt(hd) + bias).softmax(-1)
        return (att @ v).transpose(1, 2).reshape(B, L, D)

    def forward(self, input_ids, attention_mask, token_type_ids):
        s, t = self.s, self.t
        B, L = input_ids.shape
        pos = torch.arange(L).unsqueeze(0)
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * torch.finfo(torch.float32).min
        if s["family"] == "albert":
            return self.albert(input_ids, token_type_ids, pos, bias)
        if s["family"] == "mobilebert":
            return self.mobilebert(input_ids, token_type_ids, pos, bias)
        x = t["embeddings.word_embeddings.weight"][input_ids] + t["embeddings.position_embeddings.weight"][pos]
        if s["family"] == "bert":
            x = x + t["embeddings.token_type_embeddings.weight"][token_type_ids]
        x = self.norm(x, "embeddings.LayerNorm")
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
            o = self.attention(q, k, v, bias, s["heads"])
            x = self.norm(x + self.linear(o, names[0]), names[1])
            h = torch.nn.functional.gelu(self.linear(x, names[2]))
            x = self.norm(x + self.linear(h, names[3]), names[4])
        return x

    def albert(self, ids, types, pos, bias):
        s, t = self.s, self.t
        x = (t["embeddings.word_embeddings.weight"][ids] + t["embeddings.token_type_embeddings.weight"][types]
             + t["embeddings.position_embeddings.weight"][pos])
        x = self.norm(x, "embeddings.LayerNorm")
        x = self.linear(x, "encoder.embedding_hidden_mapping_in")
        per_group = s["layers"] // s["groups"]
        for i in range(s["layers"]):
            for j in range(s["inner"]):
                p = f"encoder.albert_layer_groups.{i // per_group}.albert_layers.{j}."
                q, k, v = (self.linear(x, p + f"attention.{n}") for n in ("query", "key", "value"))
                o = self.attention(q, k, v, bias, s["heads"])
                a = self.norm(x + self.linear(o, p + "attention.dense"), p + "attention.LayerNorm")
                h = self.linear(gelu_new(self.linear(a, p + "ffn")), p + "ffn_output")
                x = self.norm(h + a, p + "full_layer_layer_norm")
        return x

    def mobilebert(self, ids, types, pos, bias):
        s, t = self.s, self.t
        e = t["embeddings.word_embeddings.weight"][ids]  # (B, L, emb)
        zero = torch.zeros_like(e[:, :1])
        # trigram input: [next token, this token, previous token], zeros past either end of the row
        e = torch.cat([torch.cat([e[:, 1:], zero], 1), e, torch.cat([zero, e[:, :-1]], 1)], 2)
        x = self.linear(e, "embeddings.embedding_transformation")
        x = x + t["embeddings.position_embeddings.weight"][pos] + t["embeddings.token_type_embeddings.weight"][types]
        x = self.no_norm(x, "embeddings.LayerNorm")
        for i in range(s["layers"]):
            p = f"encoder.layer.{i}."
            li = self.no_norm(self.linear(x, p + "bottleneck.input.dense"), p + "bottleneck.input.LayerNorm")
            qk = self.no_norm(self.linear(x, p + "bottleneck.attention.dense"), p + "bottleneck.attention.LayerNorm")
            q, k = self.linear(qk, p + "attention.self.query"), self.linear(qk, p + "attention.self.key")
            v = self.linear(x, p + "attention.self.value")
            o = self.attention(q, k, v, bias, s["heads"])
            a = self.no_norm(self.linear(o, p + "attention.output.dense") + li, p + "attention.output.LayerNorm")
            for f in range(s["n_ffn"] - 1):
                q_ = p + f"ffn.{f}."
                h = torch.relu(self.linear(a, q_ + "intermediate.dense"))
                a = self.no_norm(self.linear(h, q_ + "output.dense") + a, q_ + "output.LayerNorm")
            h = torch.relu(self.linear(a, p + "intermediate.dense"))
            a = self.no_norm(self.linear(h, p + "output.dense") + a, p + "output.LayerNorm")
            x = self.no_norm(self.linear(a, p + "output.bottleneck.dense") + x, p + "output.bottleneck.LayerNorm")
        return x

def cost(shape, seq=128):
    """Per sentence of `seq` tokens: matmul FLOPs (2 * weight elements * tokens for
    every linear applied, plus 4 * seq^2 * width per attention), weight bytes read
    (f32, each application counted) and distinct weight bytes (each tensor once).
    Embedding lookups and the unused pooler are left out."""
    m = Encoder(shape, tensors(shape)).eval()
    m.count = {"flops": 0, "weight_bytes": 0, "distinct": {}}
    ids = torch.zeros(1, seq, dtype=torch.long)
    with torch.no_grad():
        m(ids, torch.ones_like(ids), ids)
    c = m.count
    return {"flops": c["flops"], "weight_bytes": c["weight_bytes"], "distinct_bytes": sum(c["distinct"].values())}

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
    if s["family"] == "albert":  # albert-base-v2's config.json, less its dropout and TF-conversion fields
        return {"model_type": "albert", "architectures": ["AlbertModel"], "vocab_size": s["vocab"],
                "embedding_size": s["emb"], "hidden_size": s["d"], "num_hidden_layers": s["layers"],
                "num_hidden_groups": s["groups"], "inner_group_num": s["inner"], "num_attention_heads": s["heads"],
                "intermediate_size": s["ff"], "hidden_act": "gelu_new", "max_position_embeddings": s["max_pos"],
                "type_vocab_size": 2, "layer_norm_eps": 1e-12, "initializer_range": 0.02,
                "attention_probs_dropout_prob": 0, "hidden_dropout_prob": 0, "classifier_dropout_prob": 0.1,
                "position_embedding_type": "absolute", "pad_token_id": 0, "bos_token_id": 2, "eos_token_id": 3}
    if s["family"] == "mobilebert":  # google/mobilebert-uncased's config.json
        return {"model_type": "mobilebert", "architectures": ["MobileBertModel"], "vocab_size": s["vocab"],
                "embedding_size": s["emb"], "hidden_size": s["d"], "num_hidden_layers": s["layers"],
                "num_attention_heads": s["heads"], "intermediate_size": s["ff"], "hidden_act": "relu",
                "max_position_embeddings": s["max_pos"], "type_vocab_size": 2, "layer_norm_eps": 1e-12,
                "initializer_range": 0.02, "attention_probs_dropout_prob": 0.1, "hidden_dropout_prob": 0.0,
                "trigram_input": True, "use_bottleneck": True, "intra_bottleneck_size": s["bottleneck"],
                "true_hidden_size": s["bottleneck"], "use_bottleneck_attention": False,
                "key_query_shared_bottleneck": True, "num_feedforward_networks": s["n_ffn"],
                "normalization_type": "no_norm", "classifier_activation": False, "pad_token_id": 0}
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
    m.prepare_export()
    ids = torch.randint(0, SHAPES[args.shape]["vocab"], (2, 16))
    with torch.no_grad():
        torch.onnx.export(m, (ids, torch.ones_like(ids), torch.zeros_like(ids)), os.path.join(args.out, "model.onnx"),
                          input_names=["input_ids", "attention_mask", "token_type_ids"],
                          output_names=["last_hidden_state"], opset_version=14,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in
                                        ("input_ids", "attention_mask", "token_type_ids", "last_hidden_state")})
    print(f"{args.out}: {args.shape}, {sum(v.numel() for v in t.values())} parameters, safetensors + onnx")

if __name__ == "__main__":
    main()
