// run.mjs — the end-to-end tests of `slm serve`, started by tests/test_server.sh with two servers
// running; prints "NODE N passed, M failed" for the script to add to its own checks.
import { apiTests } from './api.mjs';
import { httpTests } from './http.mjs';
import { loadTests } from './load.mjs';
import { pageTests } from './page.mjs';
import { tally } from './lib.mjs';

const only = process.argv[2];
const suites = { api: apiTests, http: httpTests, page: pageTests, load: loadTests }; // load ends with SIGTERM to server B
for (const [name, run] of Object.entries(suites)) {
  if (only && only !== name) continue;
  const t0 = Date.now();
  await run();
  console.log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
}
const { passed, failed } = tally();
console.log(`NODE ${passed} passed, ${failed} failed`);
