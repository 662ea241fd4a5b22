// load.mjs — a small load generator for `slm serve`: C clients on loopback, each sending streaming
// completions one after another until R requests are done in all; prints one JSON line with
// requests/s, generated tokens/s, time to first token and end-to-end latency (p50 / p99).
// usage: node load.mjs BASE_URL MODEL CLIENTS REQUESTS MAX_TOKENS [PROMPT]
const [base, model, clientsArg, requestsArg, maxTokensArg, promptArg] = process.argv.slice(2);
const clients = Number(clientsArg), total = Number(requestsArg), maxTokens = Number(maxTokensArg);
const prompt = promptArg || 'Once upon a time, in a small village by the sea, there lived a';

async function one(seed) {
  const t0 = performance.now();
  const res = await fetch(base + '/v1/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, prompt, max_tokens: maxTokens, temperature: 0.8, seed, ignore_eos: true,
      stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body.getReader(), decoder = new TextDecoder();
  let buffer = '', first = 0, tokens = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const data = buffer.slice(6, cut);
      buffer = buffer.slice(cut + 2);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      if (!first && chunk.choices.some((c) => c.text)) first = performance.now();
    }
  }
  const end = performance.now();
  return { ttft: first - t0, latency: end - t0, tokens };
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

let next = 0;
const results = [];
const t0 = performance.now();
await Promise.all(Array.from({ length: clients }, async () => {
  while (next < total) {
    const seed = next++;
    results.push(await one(seed));
  }
}));
const wall = (performance.now() - t0) / 1000;
const tokens = results.reduce((a, r) => a + r.tokens, 0);
console.log(JSON.stringify({
  model, clients, requests: results.length, max_tokens: maxTokens, seconds: +wall.toFixed(3),
  requests_per_s: +(results.length / wall).toFixed(2), tokens_per_s: +(tokens / wall).toFixed(1),
  ttft_ms_p50: +percentile(results.map((r) => r.ttft), 50).toFixed(1),
  ttft_ms_p99: +percentile(results.map((r) => r.ttft), 99).toFixed(1),
  latency_ms_p50: +percentile(results.map((r) => r.latency), 50).toFixed(1),
  latency_ms_p99: +percentile(results.map((r) => r.latency), 99).toFixed(1),
}));
