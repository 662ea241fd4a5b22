// bench_ort.js — the ONNX Runtime anchor (npm onnxruntime-node): sentences/s of
// an encoder ONNX file at a batch size and sequence length, on N intra-op threads.
// usage: node bench_ort.js MODEL.onnx --batch B --seq L --threads N [--vocab V]
const ort = require("onnxruntime-node");

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

async function main() {
  const file = process.argv[2];
  const batch = arg("--batch", 1), seq = arg("--seq", 128), threads = arg("--threads", 2);
  const vocab = arg("--vocab", 30522); // ids drawn below it: ALBERT's vocabulary is 30000
  const session = await ort.InferenceSession.create(file, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: "sequential", graphOptimizationLevel: "all",
  });
  const n = batch * seq;
  const ids = new BigInt64Array(n), mask = new BigInt64Array(n).fill(1n), types = new BigInt64Array(n);
  let x = 12345;
  for (let i = 0; i < n; i++) { x = (x * 1103515245 + 12345) % 2147483648; ids[i] = BigInt(x % vocab); }
  const feeds = {
    input_ids: new ort.Tensor("int64", ids, [batch, seq]),
    attention_mask: new ort.Tensor("int64", mask, [batch, seq]),
    token_type_ids: new ort.Tensor("int64", types, [batch, seq]),
  };
  await session.run(feeds); // warm-up
  const runs = batch === 1 ? 30 : 4;
  const times = [];
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  console.log(JSON.stringify({ impl: "onnxruntime-node", version: require("onnxruntime-node/package.json").version,
    model: file, batch, seq, threads, median_ms: +median.toFixed(2), sentences_s: +(batch * 1000 / median).toFixed(1),
    peak_rss_mb: +(process.resourceUsage().maxRSS / 1024).toFixed(1) }));
}
main();
