// What each page costs a phone on its first load: every request it makes and the bytes on the
// wire (gzip, headers included), measured in Debian's Chromium against a fresh server.
// Run: cargo build --release && node bench/page-weight.mjs
// (tests/run's one-time `npm ci` in tests/e2e installs the browser driver; PALABRE_BIN picks
// another binary). The participant page's budget is 50,000 bytes. What a page fetches on
// demand (the participant page's votes, a few seconds after its first render) is not counted.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { root, startServer, createSession, launchBrowser, PHONE } from '../tests/e2e/harness.mjs';

const BUDGET = 50_000;
/**
 * What a page fetches after its first load, when it needs it or when the phone is idle (the
 * participant page's votes, a few seconds after the first render): listed apart if seen.
 */
const ON_DEMAND = /\/phone-vote\./;
process.env.PALABRE_BIN ||= join(root, 'target', 'release', 'palabre');
if (!existsSync(process.env.PALABRE_BIN)) {
  console.error(`no ${process.env.PALABRE_BIN}: run cargo build --release first`);
  process.exit(1);
}

const server = await startServer();
const browser = await launchBrowser();
try {
  const created = await createSession(server.base);
  const pages = [
    ['participant', created.links.participant, 'en-GB'],
    ['participant (fr)', created.links.participant, 'fr-FR'],
    ['screen', created.links.screen, 'en-GB'],
    ['moderator', created.links.moderator, 'en-GB'],
    ['rapporteur', created.links.rapporteur, 'en-GB'],
    ['landing', `${server.base}/`, 'en-GB'],
    ['editor', `${server.base}/new`, 'en-GB'],
  ];
  // The session's id and code change from run to run; the rows name them the same way each time.
  const anonymise = (path) => path.replaceAll(created.id, '{id}').replaceAll(created.code, '{code}');
  for (const [name, url, locale] of pages) {
    const context = await browser.newContext({ ...PHONE, locale });
    const page = await context.newPage();
    const seen = [];
    page.on('requestfinished', (req) => seen.push(req));
    await page.goto(url, { waitUntil: 'networkidle' });
    let total = 0;
    const rows = [];
    const later = [];
    for (const req of seen) {
      const sizes = await req.sizes();
      const bytes = sizes.responseBodySize + sizes.responseHeadersSize;
      const path = anonymise(new URL(req.url()).pathname);
      if (ON_DEMAND.test(path)) {
        later.push([path, bytes]);
        continue;
      }
      total += bytes;
      rows.push([path, bytes]);
    }
    rows.sort((a, b) => a[0].localeCompare(b[0]));
    const budget = name.startsWith('participant') ? `  (budget ${BUDGET.toLocaleString('en')}: ${total <= BUDGET ? 'within' : 'OVER'})` : '';
    console.log(`${name}: ${rows.length} requests, ${total.toLocaleString('en')} bytes = ${(total / 1024).toFixed(1)} KiB on the wire (headers included)${budget}`);
    console.log(rows.map(([path, bytes]) => `    ${String(bytes).padStart(7)}  ${path}`).join('\n'));
    if (later.length) {
      console.log(`  on demand (not counted): ${later.map(([path, bytes]) => `${path} ${bytes}`).join(', ')}`);
    }
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
