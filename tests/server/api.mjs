// api.mjs — the server through the official OpenAI client (npm `openai`): models, completions and
// chat completions with and without streaming (the text must be what `slm generate` prints for the
// same prompt, seed and settings), stop strings, n, logprobs in both shapes, logit_bias, penalties,
// embeddings (float, base64, dimensions; the vectors `slm embed` prints), the task endpoints (what
// `slm fill-mask` / `classify` / `ner` / `qa` print), and the error cases with their statuses.
import { execFileSync } from 'node:child_process';
import OpenAI from 'openai';
import { env, check, section, cliGenerate, cliEmbed } from './lib.mjs';

const MODEL = 'stories260K';
const SAMPLING = { max_tokens: 40, temperature: 0.8, top_p: 0.9, seed: 42 };
const CLI_SAMPLING = { maxTokens: 40, temperature: 0.8, topP: 0.9, seed: 42 };

function client(apiKey = env.key) {
  return new OpenAI({ baseURL: env.base + '/v1', apiKey, maxRetries: 0, timeout: 60000 });
}

async function collect(stream, chat) {
  let text = '', finish = null, usage = null, first = null, chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      if (first === null) first = c;
      text += chat ? c.delta.content || '' : c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  return { text, finish, usage, first, chunks };
}

async function models() {
  const ids = [];
  for await (const m of client().models.list()) ids.push(m.id);
  check('models.list lists every served model', ['stories260K', 'st_model', 'mlm', 'qa'].every((id) => ids.includes(id)),
    JSON.stringify(ids));
  const one = await client().models.retrieve(MODEL);
  check('models.retrieve', one.id === MODEL && one.object === 'model', JSON.stringify(one));
}

async function completions() {
  const want = cliGenerate('Once upon a time', CLI_SAMPLING);
  const c = await client().completions.create({ model: MODEL, prompt: 'Once upon a time', ...SAMPLING });
  check('completions.create: the text slm generate gives (seed 42)', c.choices[0].text === want,
    JSON.stringify([c.choices[0].text, want]));
  check('completion shape', c.object === 'text_completion' && c.id.startsWith('cmpl-') && c.model === MODEL &&
    ['length', 'stop'].includes(c.choices[0].finish_reason), JSON.stringify(c));
  check('usage counts', c.usage.prompt_tokens === 5 && c.usage.completion_tokens > 0 &&
    c.usage.total_tokens === c.usage.prompt_tokens + c.usage.completion_tokens, JSON.stringify(c.usage));
  const s = await collect(await client().completions.create({ model: MODEL, prompt: 'Once upon a time', ...SAMPLING,
    stream: true, stream_options: { include_usage: true } }), false);
  check('streamed completion: the same text', s.text === want, JSON.stringify([s.text, want]));
  check('stream: finish_reason and include_usage', s.finish === c.choices[0].finish_reason && s.usage &&
    s.usage.completion_tokens === c.usage.completion_tokens, JSON.stringify([s.finish, s.usage]));
  check('stream: one chunk per piece', s.chunks >= 10, String(s.chunks));

  const stopWant = cliGenerate('Once upon a time', { ...CLI_SAMPLING, maxTokens: 60, stop: ['.'] });
  const st = await client().completions.create({ model: MODEL, prompt: 'Once upon a time', ...SAMPLING, max_tokens: 60,
    stop: ['.'] });
  check('stop: cut before the stop string, as slm generate --stop', st.choices[0].text === stopWant &&
    !stopWant.includes('.') && st.choices[0].finish_reason === 'stop', JSON.stringify([st.choices[0], stopWant]));

  const n = await client().completions.create({ model: MODEL, prompt: 'Once upon a time', ...SAMPLING, n: 2 });
  const want43 = cliGenerate('Once upon a time', { ...CLI_SAMPLING, seed: 43 });
  const byIndex = Object.fromEntries(n.choices.map((c) => [c.index, c.text]));
  check('n: 2 choices, seeds 42 and 43', n.choices.length === 2 && byIndex[0] === want && byIndex[1] === want43,
    JSON.stringify([byIndex, want43]));

  const greedy = cliGenerate('Lily', { maxTokens: 30, temperature: 0, topP: 1, seed: 0 });
  const g = await client().completions.create({ model: MODEL, prompt: 'Lily', max_tokens: 30, temperature: 0 });
  check('temperature 0: greedy, as slm generate', g.choices[0].text === greedy, JSON.stringify([g.choices[0].text, greedy]));

  const pen = execFileSync(env.bin, ['generate', env.model, 'Once', '--max-tokens', '40', '--temperature', '0.7',
    '--presence-penalty', '0.8', '--frequency-penalty', '1.2', '--seed', '7', '--no-stream'], { encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'] }).replace(/\n$/, '');
  const p = await client().completions.create({ model: MODEL, prompt: 'Once', max_tokens: 40, temperature: 0.7,
    presence_penalty: 0.8, frequency_penalty: 1.2, seed: 7 });
  check('presence and frequency penalties: as slm generate', p.choices[0].text === pen,
    JSON.stringify([p.choices[0].text, pen]));

  const ids = await client().completions.create({ model: MODEL, prompt: [1, 403, 261], max_tokens: 5, temperature: 0 });
  check('a prompt of token ids', ids.usage.prompt_tokens === 3 && ids.choices[0].text.length > 0, JSON.stringify(ids));
}

async function chat() {
  const want = cliGenerate('User: Tell me a story.\nAssistant:', CLI_SAMPLING);
  const messages = [{ role: 'user', content: 'Tell me a story.' }];
  const c = await client().chat.completions.create({ model: MODEL, messages, ...SAMPLING });
  const m = c.choices[0].message;
  check('chat.completions.create: slm generate of the plain template', m.content === want, JSON.stringify([m.content, want]));
  check('chat shape', c.object === 'chat.completion' && c.id.startsWith('chatcmpl-') && m.role === 'assistant' &&
    c.usage.prompt_tokens > 5, JSON.stringify(c));
  const s = await collect(await client().chat.completions.create({ model: MODEL, messages, ...SAMPLING, stream: true }), true);
  check('streamed chat: the same text', s.text === want, JSON.stringify([s.text, want]));
  check('streamed chat: role first, then a finish_reason', s.first && s.first.delta.role === 'assistant' &&
    s.finish === c.choices[0].finish_reason, JSON.stringify(s.first));
  const sys = await client().chat.completions.create({ model: MODEL, ...SAMPLING, messages: [
    { role: 'system', content: 'Be kind.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }] });
  const sysWant = cliGenerate('Be kind.\n\nUser: Hi\nAssistant:', CLI_SAMPLING);
  check('system message and content parts in the plain template', sys.choices[0].message.content === sysWant,
    JSON.stringify([sys.choices[0].message.content, sysWant]));
}

async function logprobs() {
  const c = await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }],
    max_tokens: 10, temperature: 0, logprobs: true, top_logprobs: 3 });
  const content = c.choices[0].logprobs && c.choices[0].logprobs.content;
  const text = c.choices[0].message.content;
  check('chat logprobs: one entry per token', Array.isArray(content) && content.length === c.usage.completion_tokens,
    JSON.stringify(c.choices[0].logprobs).slice(0, 300));
  if (!Array.isArray(content)) return;
  const shapeOk = content.every((e) => typeof e.token === 'string' && e.logprob <= 0 && Array.isArray(e.bytes) &&
    e.top_logprobs.length === 3 && e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob &&
    e.top_logprobs[1].logprob >= e.top_logprobs[2].logprob);
  check('chat logprobs: token, logprob <= 0, bytes, 3 sorted alternatives', shapeOk);
  check('greedy: the chosen token is the most likely one', content.every((e) =>
    Math.abs(e.logprob - e.top_logprobs[0].logprob) < 1e-6 && e.token === e.top_logprobs[0].token));
  check('the tokens spell the text', content.map((e) => e.token).join('') === text, JSON.stringify(text));
  const sum = content[0].top_logprobs.reduce((a, e) => a + Math.exp(e.logprob), 0);
  check('probabilities of the alternatives sum to at most 1', sum > 0 && sum <= 1 + 1e-6, String(sum));

  const l = await client().completions.create({ model: MODEL, prompt: 'Once', max_tokens: 8, temperature: 0, logprobs: 2 });
  const lp = l.choices[0].logprobs;
  check('legacy logprobs: tokens, token_logprobs, top_logprobs, text_offset', lp && lp.tokens.length === 8 &&
    lp.token_logprobs.length === 8 && lp.top_logprobs.every((t) => Object.keys(t).length <= 2) &&
    lp.text_offset[0] === 0 && lp.text_offset.every((o, i) => i === 0 || o >= lp.text_offset[i - 1]),
    JSON.stringify(lp).slice(0, 300));

  const s = await collect(await client().chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'Hi' }],
    max_tokens: 10, temperature: 0, logprobs: true, stream: true }), true);
  check('streamed chat with logprobs: the same text', s.text === text, JSON.stringify([s.text, text]));

  const b = await client().completions.create({ model: MODEL, prompt: 'Once', max_tokens: 6, temperature: 0,
    logit_bias: { 400: 100 }, logprobs: 0 });
  const toks = b.choices[0].logprobs.tokens;
  check('logit_bias +100: every token is the biased one', toks.length === 6 && toks.every((t) => t === toks[0]) &&
    b.choices[0].text === toks.join(''), JSON.stringify(toks));
}

async function embeddings() {
  const texts = ['Hello world!', 'cats playing'];
  const want = cliEmbed(texts);
  const e = await client().embeddings.create({ model: 'st_model', input: texts }); // the client asks for base64
  const worst = (a, b) => Math.max(...a.map((x, i) => Math.abs(x - b[i])));
  check('embeddings.create (base64): the vectors slm embed gives', e.data.length === 2 && e.data[0].embedding.length === 48 &&
    worst(e.data[0].embedding, want[0]) < 1e-6 && worst(e.data[1].embedding, want[1]) < 1e-6,
    JSON.stringify(e.data.map((d) => d.embedding.slice(0, 3))));
  check('embeddings usage and shape', e.object === 'list' && e.model === 'st_model' && e.usage.prompt_tokens > 2 &&
    e.data[1].index === 1, JSON.stringify(e.usage));
  const f = await client().embeddings.create({ model: 'st_model', input: 'Hello world!', encoding_format: 'float' });
  check('encoding_format float', f.data.length === 1 && worst(f.data[0].embedding, want[0]) < 1e-6);
  const d = await client().embeddings.create({ model: 'st_model', input: 'Hello world!', dimensions: 16, encoding_format: 'float' });
  const v = d.data[0].embedding, norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  check('dimensions 16: shortened and unit length again', v.length === 16 && Math.abs(norm - 1) < 1e-5, String(norm));
}

async function post(path, body, key = env.key) {
  const res = await fetch(env.base + path, { method: 'POST', body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key } });
  return { status: res.status, body: await res.json() };
}

function cliJson(args) {
  return JSON.parse(execFileSync(env.bin, args, { encoding: 'utf8' }));
}

async function tasks() {
  const dir = process.env.SLM_TASK_DIR;
  const fm = await post('/v1/fill-mask', { model: 'mlm', input: 'hello [MASK] big', top_k: 2 });
  const fmWant = cliJson(['fill-mask', dir + '/mlm', 'hello [MASK] big', '--top-k', '2']);
  const got = fm.body.masks && fm.body.masks[0].candidates;
  check('/v1/fill-mask: what slm fill-mask gives', fm.status === 200 && got.length === 2 && got.every((c, i) =>
    c.token === fmWant[i].token && Math.abs(c.score - fmWant[i].score) < 1e-6 && c.sequence === fmWant[i].sequence),
    JSON.stringify([fm.body, fmWant]));
  const cl = await post('/v1/classify', { model: 'seqcls', input: ['hello big world', 'x'] });
  const clWant = cliJson(['classify', dir + '/seqcls', 'hello big world']);
  check('/v1/classify: what slm classify gives', cl.status === 200 && cl.body.data.length === 2 &&
    cl.body.data[0].labels[0].label === clWant[0].label &&
    Math.abs(cl.body.data[0].labels[0].score - clWant[0].score) < 1e-6, JSON.stringify([cl.body, clWant]));
  const ner = await post('/v1/ner', { model: 'tokcls', input: 'jumping parisville new york' });
  const nerWant = cliJson(['ner', dir + '/tokcls', 'jumping parisville new york']);
  check('/v1/ner: what slm ner gives', ner.status === 200 && ner.body.entities.length === nerWant.length &&
    ner.body.entities.every((e, i) => e.word === nerWant[i].word && e.entity === nerWant[i].entity &&
      e.start === nerWant[i].start), JSON.stringify([ner.body, nerWant]));
  const qa = await post('/v1/qa', { model: 'qa', question: 'where', context: 'under the old oak tree' });
  const qaWant = cliJson(['qa', dir + '/qa', '--question', 'where', '--context', 'under the old oak tree']);
  check('/v1/qa: what slm qa gives', qa.status === 200 && qa.body.answer === qaWant.answer &&
    qa.body.start === qaWant.start && qa.body.end === qaWant.end, JSON.stringify([qa.body, qaWant]));
  const noMask = await post('/v1/fill-mask', { model: 'mlm', input: 'no mask here' });
  check('/v1/fill-mask without a mask: 400 naming it', noMask.status === 400 && /MASK/.test(noMask.body.error.message),
    JSON.stringify(noMask.body));
  const noHead = await post('/v1/classify', { model: 'mlm', input: 'x' });
  check('/v1/classify on a model without the head: 400', noHead.status === 400, JSON.stringify(noHead.body));
  const bad = await post('/v1/ner', { model: 'tokcls', input: 'x', aggregation: 'bogus' });
  check('/v1/ner bad aggregation: 400 naming it', bad.status === 400 && bad.body.error.param === 'aggregation',
    JSON.stringify(bad.body));
}

async function expectError(name, promise, status, needle, code) {
  try {
    await promise;
    check(name, false, 'no error');
  } catch (e) {
    const msg = String(e.message || '');
    check(name, e.status === status && (!needle || msg.includes(needle)) && (!code || e.code === code),
      `${e.status} ${e.code} ${msg}`);
  }
}

async function errors() {
  const c = client();
  const base = { model: MODEL, prompt: 'Once' };
  await expectError('unknown model: 404 naming it', c.completions.create({ ...base, model: 'nope' }), 404, 'nope', 'model_not_found');
  await expectError('temperature 3: 400 naming the field', c.completions.create({ ...base, temperature: 3 }), 400, 'temperature');
  await expectError('temperature of the wrong type: 400', c.completions.create({ ...base, temperature: 'hot' }), 400, 'temperature');
  await expectError('max_tokens 0: 400', c.completions.create({ ...base, max_tokens: 0 }), 400, 'max_tokens');
  await expectError('max_tokens over the limit: 400', c.completions.create({ ...base, max_tokens: 100000 }), 400, 'max_tokens');
  await expectError('n over the limit: 400', c.completions.create({ ...base, n: 99 }), 400, 'n:');
  await expectError('an unknown parameter: 400 naming it', c.completions.create({ ...base, frobnicate: 1 }), 400, 'frobnicate');
  await expectError('five stop strings: 400', c.completions.create({ ...base, stop: ['a', 'b', 'c', 'd', 'e'] }), 400, 'stop');
  await expectError('logit_bias out of range: 400', c.completions.create({ ...base, logit_bias: { 5: 200 } }), 400, 'logit_bias');
  await expectError('a prompt over the context: 400', c.completions.create({ ...base, prompt: 'hello '.repeat(600) }), 400,
    'context', 'context_length_exceeded');
  await expectError('no messages: 400', c.chat.completions.create({ model: MODEL, messages: [] }), 400, 'messages');
  await expectError('an unknown role: 400', c.chat.completions.create({ model: MODEL, messages: [{ role: 'wizard', content: 'x' }] }),
    400, 'role');
  await expectError('chat with an encoder: 400', c.chat.completions.create({ model: 'st_model', messages: [{ role: 'user', content: 'x' }] }),
    400, 'encoder');
  await expectError('embeddings with a decoder: 400', c.embeddings.create({ model: MODEL, input: 'x' }), 400, 'decoder');
  await expectError('dimensions over the width: 400', c.embeddings.create({ model: 'st_model', input: 'x', dimensions: 4096 }), 400, 'dimensions');
  await expectError('a wrong API key: 401', client('wrong-key').models.list(), 401, 'API key', 'invalid_api_key');
  const raw = await fetch(env.base + '/v1/models');
  check('no API key: 401 in the error shape', raw.status === 401 && (await raw.json()).error.type === 'invalid_request_error');
}

export async function apiTests() {
  await section('models', models);
  await section('completions', completions);
  await section('chat', chat);
  await section('logprobs', logprobs);
  await section('embeddings', embeddings);
  await section('tasks', tasks);
  await section('errors', errors);
}
