// lib.mjs — what the server tests share: the check tally, the servers' addresses and the
// reference outputs of the slm program itself (the same binary's `generate` and `embed`).
import { execFileSync } from 'node:child_process';

export const env = {
  base: process.env.SLM_BASE,             // server A: every model, an API key, --parallel 4
  small: process.env.SLM_BASE_SMALL,      // server B: stories260K, --parallel 1 --queue 1, no key
  key: process.env.SLM_API_KEY,
  bin: process.env.SLM_BIN || 'build/slm',
  model: process.env.SLM_MODEL,           // the stories260K checkpoint both servers serve
  embedModel: process.env.SLM_EMBED_MODEL,
  screenshot: process.env.SLM_SCREENSHOT || 'build/server_page.png',
};

let passed = 0, failed = 0;

export function check(name, ok, detail = '') {
  if (ok) passed++;
  else {
    failed++;
    console.log(`FAIL ${name}${detail ? ': ' + detail : ''}`);
  }
  return ok;
}

// Runs one section; an exception is one failed check, so a broken section never hides the tally.
export async function section(name, fn) {
  try {
    await fn();
  } catch (e) {
    check(`${name} threw`, false, e && e.stack ? e.stack.split('\n').slice(0, 4).join(' | ') : String(e));
  }
}

export function tally() {
  return { passed, failed };
}

// `slm generate` with the same sampling settings: the text a request must reproduce.
export function cliGenerate(prompt, { maxTokens, temperature, topP, seed, stop = [], extra = [] }) {
  const args = ['generate', env.model, prompt, '--max-tokens', String(maxTokens), '--temperature', String(temperature),
    '--top-p', String(topP), '--seed', String(seed), '--no-stream'];
  for (const s of stop) args.push('--stop', s);
  args.push(...extra);
  const out = execFileSync(env.bin, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  return out.endsWith('\n') ? out.slice(0, -1) : out; // the CLI ends the text with one newline
}

export function cliEmbed(texts) {
  const out = execFileSync(env.bin, ['embed', env.embedModel, ...texts], { encoding: 'utf8' });
  return JSON.parse(out).embeddings;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function health(base) {
  const res = await fetch(base + '/health');
  return res.json();
}
