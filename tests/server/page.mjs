// page.mjs — the chat page at / in headless Chromium (Debian's chromium, driven by playwright-core):
// it loads, lists the decoder models, streams a reply to a prompt, shows tokens/s; a screenshot is kept.
import { chromium } from 'playwright-core';
import { env, check, section } from './lib.mjs';

async function page() {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    // No background networking: this machine has no network, and Chromium's retries only add noise.
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'] });
  try {
    const p = await browser.newPage({ viewport: { width: 1000, height: 760 } });
    const problems = [];
    p.on('pageerror', (e) => problems.push(e.message));
    const res = await p.goto(env.base + '/');
    check('the page loads', res.status() === 200 && (await p.title()) === 'slm');
    await p.fill('#key', env.key);
    await p.dispatchEvent('#key', 'change');
    await p.waitForFunction(() => document.querySelectorAll('#model option').length > 0, null, { timeout: 10000 });
    const options = await p.$$eval('#model option', (os) => os.map((o) => o.value));
    check('it lists the decoder models only', options.includes('stories260K') && !options.includes('st_model'),
      JSON.stringify(options));
    await p.selectOption('#model', 'stories260K');
    await p.selectOption('#mode', 'completion');
    await p.fill('#max_tokens', '60');
    await p.fill('#seed', '42');
    await p.fill('#prompt', 'Once upon a time');
    await p.click('#send');
    await p.waitForFunction(() => /tok\/s, first token/.test(document.getElementById('stats').textContent), null,
      { timeout: 20000 });
    const reply = await p.$eval('.assistant', (e) => e.textContent);
    const stats = await p.$eval('#stats', (e) => e.textContent);
    check('a prompt streams a reply', reply.length > 20, JSON.stringify(reply));
    check('tokens and tokens/s are shown', /^\d+ tokens, [\d.]+ tok\/s/.test(stats), stats);
    await p.selectOption('#mode', 'chat');
    await p.fill('#prompt', 'Hello');
    await p.click('#send');
    await p.waitForFunction(() => document.querySelectorAll('.assistant').length === 2 &&
      !document.getElementById('send').disabled, null, { timeout: 20000 });
    const chatReply = await p.$$eval('.assistant', (es) => es[1].textContent);
    check('chat mode streams a reply too', chatReply.length > 0, JSON.stringify(chatReply));
    await p.screenshot({ path: env.screenshot, fullPage: true });
    check('no script errors on the page', problems.length === 0, problems.join('; '));
  } finally {
    await browser.close();
  }
}

export async function pageTests() {
  await section('page', page);
}
