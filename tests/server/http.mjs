// http.mjs — what the OpenAI client never sends: invalid JSON, deep nesting, an oversized body,
// malformed HTTP on a raw socket, unknown paths and methods; each answered with the right status
// and (for the API) OpenAI's error object, and the server still healthy afterwards.
import net from 'node:net';
import { env, check, section } from './lib.mjs';

async function raw(path, body, { method = 'POST', key = env.key, type = 'application/json' } = {}) {
  const headers = { 'Content-Type': type };
  if (key) headers.Authorization = 'Bearer ' + key;
  const res = await fetch(env.base + path, { method, headers, body });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text, headers: res.headers };
}

function errorShape(json) {
  const e = json && json.error;
  return !!e && typeof e.message === 'string' && typeof e.type === 'string' && 'param' in e && 'code' in e;
}

// Sends bytes on a fresh connection and returns what comes back before the server closes it or the timeout.
function socketExchange(bytes, timeoutMs = 3000) {
  const url = new URL(env.base);
  return new Promise((resolve) => {
    const sock = net.connect(Number(url.port), url.hostname);
    let data = '';
    const done = () => { sock.destroy(); resolve(data); };
    sock.setTimeout(timeoutMs, done);
    sock.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\r\n\r\n')) done(); // the status line and headers are all these checks read
    });
    sock.on('end', done);
    sock.on('error', done);
    sock.on('connect', () => sock.write(bytes));
  });
}

async function bodies() {
  const bad = await raw('/v1/completions', '{"model": "stories260K", "prompt": ');
  check('invalid JSON: 400 with an error object', bad.status === 400 && errorShape(bad.json) &&
    /invalid JSON/.test(bad.json.error.message), bad.text);
  const notObject = await raw('/v1/completions', '[1, 2]');
  check('a JSON array body: 400', notObject.status === 400 && errorShape(notObject.json), notObject.text);
  const deep = '{"model": "stories260K", "prompt": "x", "user": ' + '['.repeat(200) + ']'.repeat(200) + '}';
  const nested = await raw('/v1/completions', deep);
  check('nesting deeper than --max-depth: 400', nested.status === 400 && /nested deeper/.test(nested.json.error.message),
    nested.text);
  const dup = await raw('/v1/completions', '{"model": "stories260K", "model": "x", "prompt": "a"}');
  check('a duplicate key: 400', dup.status === 400 && errorShape(dup.json), dup.text);
  const big = JSON.stringify({ model: 'stories260K', prompt: 'x'.repeat(70 * 1024) });
  const large = await raw('/v1/completions', big);
  check('a body over --max-body: 413', large.status === 413 && errorShape(large.json), large.text.slice(0, 200));
  const wrongType = await raw('/v1/chat/completions', JSON.stringify({ model: 'stories260K', messages: 'hi' }));
  check('messages of the wrong type: 400 naming messages', wrongType.status === 400 &&
    wrongType.json.error.param === 'messages', wrongType.text);
}

async function protocol() {
  const noVersion = await socketExchange('GET /health\r\n\r\n');
  check('a request line without a version: HTTP 400', /^HTTP\/1\.[01] 400/.test(noVersion), JSON.stringify(noVersion.slice(0, 60)));
  const noTarget = await socketExchange('GET  HTTP/1.1\r\nHost: x\r\n\r\n');
  check('a request line without a target: HTTP 400', /^HTTP\/1\.[01] 400/.test(noTarget), JSON.stringify(noTarget.slice(0, 60)));
  const header = await socketExchange('GET /health HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n');
  check('a header line without a colon: HTTP 400', /^HTTP\/1\.[01] 400/.test(header), JSON.stringify(header.slice(0, 60)));
  const length = await socketExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n');
  check('a non-numeric Content-Length: HTTP 400', /^HTTP\/1\.[01] 400/.test(length), JSON.stringify(length.slice(0, 60)));
  const chunked = await socketExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
  check('broken chunked encoding: HTTP 400', /^HTTP\/1\.[01] 400/.test(chunked), JSON.stringify(chunked.slice(0, 60)));
  const binary = await socketExchange('\x00\x01\x02\xff\r\n\r\n', 1000);
  check('binary junk: the connection is closed without a 2xx', !/^HTTP\/1\.[01] 2/.test(binary), JSON.stringify(binary.slice(0, 60)));
  const method = await socketExchange('BREW / HTTP/1.1\r\nHost: x\r\n\r\n');
  check('an unknown method on /: HTTP 405', /^HTTP\/1\.[01] 405/.test(method), JSON.stringify(method.slice(0, 60)));
  const truncated = await socketExchange('POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"model"', 500);
  check('a body shorter than its Content-Length: no reply, no crash', !/ 200 /.test(truncated), truncated.slice(0, 60));
  const missing = await raw('/v1/nothing', '{}');
  check('an unknown path: 404 with an error object', missing.status === 404 && errorShape(missing.json), missing.text);
  const del = await raw('/v1/completions', undefined, { method: 'DELETE' });
  check('a wrong method: 405', del.status === 405 && errorShape(del.json), del.text);
  const page = await raw('/', undefined, { method: 'GET', key: null });
  check('GET / serves the page without a key', page.status === 200 && /<html/.test(page.text) &&
    page.headers.get('content-type').startsWith('text/html'));
  const health = await raw('/health', undefined, { method: 'GET', key: null });
  check('GET /health after all that: ok', health.status === 200 && health.json.status === 'ok', health.text);
}

export async function httpTests() {
  await section('bodies', bodies);
  await section('protocol', protocol);
}
