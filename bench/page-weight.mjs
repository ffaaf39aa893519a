// What each page costs a phone: every request it makes and the bytes on the wire (gzip),
// measured in Debian's Chromium against a fresh server. Run: node bench/page-weight.mjs
// (after `cargo build --release` and tests/run's one-time `npm ci` in tests/e2e).
import { startServer, createSession, launchBrowser, PHONE } from '../tests/e2e/harness.mjs';

const server = await startServer();
const browser = await launchBrowser();
try {
  const created = await createSession(server.base);
  const pages = {
    participant: created.links.participant,
    screen: created.links.screen,
    moderator: created.links.moderator,
    rapporteur: created.links.rapporteur,
    landing: `${server.base}/`,
  };
  for (const [name, url] of Object.entries(pages)) {
    const context = await browser.newContext({ ...PHONE, locale: 'en-GB' });
    const page = await context.newPage();
    const seen = [];
    page.on('requestfinished', (req) => seen.push(req));
    await page.goto(url, { waitUntil: 'networkidle' });
    let total = 0;
    const rows = [];
    for (const req of seen) {
      const sizes = await req.sizes();
      const bytes = sizes.responseBodySize + sizes.responseHeadersSize;
      total += bytes;
      rows.push(`    ${String(bytes).padStart(7)}  ${new URL(req.url()).pathname}`);
    }
    console.log(`${name}: ${seen.length} requests, ${(total / 1024).toFixed(1)} KiB on the wire (headers included)`);
    console.log(rows.join('\n'));
    await context.close();
  }
} finally {
  await browser.close();
  await server.stop();
}
