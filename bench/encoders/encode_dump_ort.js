// encode_dump_ort.js — ONNX Runtime's side of parity.py: the same batch file as
// encode_dump.c (int32 n_seqs, seq_len, ids, type_ids, attention_mask), the
// last hidden state written as raw float32.
// usage: node encode_dump_ort.js MODEL.onnx IN.bin OUT.bin
const fs = require("fs");
const ort = require("onnxruntime-node");

async function main() {
  const [file, input, output] = process.argv.slice(2);
  const raw = fs.readFileSync(input);
  const i32 = new Int32Array(raw.buffer, raw.byteOffset, raw.length / 4);
  const [nSeqs, seqLen] = [i32[0], i32[1]];
  const n = nSeqs * seqLen;
  const part = (k) => BigInt64Array.from(i32.subarray(2 + k * n, 2 + (k + 1) * n), (v) => BigInt(v));
  const session = await ort.InferenceSession.create(file, { intraOpNumThreads: 2, graphOptimizationLevel: "all" });
  const dims = [nSeqs, seqLen];
  const res = await session.run({
    input_ids: new ort.Tensor("int64", part(0), dims),
    token_type_ids: new ort.Tensor("int64", part(1), dims),
    attention_mask: new ort.Tensor("int64", part(2), dims),
  });
  const out = res.last_hidden_state.data;
  fs.writeFileSync(output, Buffer.from(out.buffer, out.byteOffset, out.byteLength));
}
main().catch((e) => { console.error(e.message); process.exit(1); });
