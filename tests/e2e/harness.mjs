// Shared plumbing of the browser tests: a real palabre process, Debian's Chromium, and
// screenshots under target/screenshots for a person to look at.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { before, after } from 'node:test';

const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..', '..');
export const shots = process.env.PALABRE_SHOTS || join(root, 'target', 'screenshots');
export const sou94 = JSON.parse(readFileSync(join(root, 'fixtures', 'sou94.json'), 'utf8'));
/** Which store the server under test uses: Redis when tests/run hands one over. */
export const storeName = process.env.PALABRE_E2E_REDIS_URL ? 'redis' : 'memory';

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts `palabre serve` on a free port; resolves once it says it is listening. */
export async function startServer(extraEnv = {}) {
  const port = await freePort();
  const bin = process.env.PALABRE_BIN || join(root, 'target', 'debug', 'palabre');
  const env = { ...process.env, PALABRE_ADDR: `127.0.0.1:${port}`, RUST_LOG: 'palabre=info', NO_COLOR: '1', ...extraEnv };
  delete env.REDIS_URL;
  if (process.env.PALABRE_E2E_REDIS_URL) env.REDIS_URL = process.env.PALABRE_E2E_REDIS_URL;
  const child = spawn(bin, ['serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      log += chunk.toString();
      if (log.includes('palabre listening')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`palabre exited (${code}) before listening:\n${log}`)));
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    log: () => log,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** Creates a session through the HTTP API, as the landing page does. */
export async function createSession(base, definition = sou94) {
  const res = await fetch(`${base}/api/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(definition),
  });
  if (res.status !== 201) throw new Error(`create: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Debian's Chromium, headless, with nothing reaching out to the network on its own. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export const PHONE = { viewport: { width: 360, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
export const PROJECTOR = { viewport: { width: 1920, height: 1080 } };
export const LAPTOP = { viewport: { width: 1366, height: 800 } };

export async function screenshot(page, name) {
  mkdirSync(shots, { recursive: true });
  await page.screenshot({ path: join(shots, `${name}.png`), fullPage: false });
}

/** Collects console errors and page errors, so a test can assert there were none. */
export function watchErrors(page) {
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  return errors;
}

/** The WCAG 2.2 A and AA rules of axe-core (2.0, 2.1 and 2.2 levels). */
export const A11Y_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
/** The impacts that fail a test; `moderate` and `minor` ones are not checked. */
export const A11Y_FAILING_IMPACTS = ['serious', 'critical'];
const axePath = createRequire(import.meta.url).resolve('axe-core/axe.min.js');
let axeSource;

/**
 * Runs axe-core's WCAG 2.2 A/AA rules on the page as it is now and throws, listing each
 * serious or critical violation (rule, impact, failing selectors, help URL), when there is one.
 * `label` names the page and its state in the message; the viewport size is added to it.
 *
 * The pages' Content-Security-Policy allows no inline script, so page.addScriptTag({content})
 * would be refused. page.evaluate(source) goes through the DevTools protocol instead, which
 * the policy does not govern: axe's source runs in the page as it is, and the page under test
 * keeps its real policy (no bypassCSP context, which would check a different page).
 */
export async function checkA11y(page, label) {
  axeSource ??= readFileSync(axePath, 'utf8');
  if (!(await page.evaluate(() => typeof window.axe?.run === 'function'))) await page.evaluate(axeSource);
  const violations = await page.evaluate(async (tags) => {
    const { violations } = await window.axe.run(document, {
      runOnly: { type: 'tag', values: tags },
      resultTypes: ['violations'],
    });
    return violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String).join(' >> '), summary: n.failureSummary || '' })),
    }));
  }, A11Y_TAGS);
  const failing = violations.filter((v) => A11Y_FAILING_IMPACTS.includes(v.impact));
  if (failing.length === 0) return violations;
  const size = page.viewportSize();
  const where = `${label}${size ? ` at ${size.width}×${size.height}` : ''} (${page.url()})`;
  const lines = [`${failing.length} serious or critical accessibility violation(s) on ${where}:`];
  for (const v of failing) {
    lines.push(`- ${v.id} [${v.impact}]: ${v.help}`, `  ${v.helpUrl}`);
    for (const n of v.nodes) {
      lines.push(`    ${n.target}`);
      if (n.summary) lines.push(...n.summary.split('\n').map((l) => `      ${l.trim()}`).filter((l) => l.trim()));
    }
  }
  throw new Error(lines.join('\n'));
}

/** checkA11y on several pages at once; one error lists every page that fails. */
export async function checkA11yAll(checks) {
  const results = await Promise.allSettled(checks.map(([page, label]) => checkA11y(page, label)));
  const failed = results.filter((r) => r.status === 'rejected').map((r) => r.reason.message);
  if (failed.length) throw new Error(failed.join('\n\n'));
}

/** A `[data-testid]` selector. */
export const tid = (id) => `[data-testid="${id}"]`;

/**
 * One palabre server and one Chromium for the test file, started before its tests and
 * stopped after them. Returns the handle whose `server` and `browser` are set by then.
 */
export function useServerAndBrowser() {
  const it = { server: null, browser: null };
  before(async () => {
    it.server = await startServer();
    it.browser = await launchBrowser();
  });
  after(async () => {
    await it.browser?.close();
    await it.server?.stop();
  });
  return it;
}

/** Opens `url` in a fresh context of `browser`; resolves once the page's link is online. */
export async function openOnline(browser, options, url) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  await page.waitForSelector(`${tid('conn-state')}[data-state="online"]`);
  return { context, page, errors };
}

/** Sends a command from a page's client and resolves with its record once answered. */
export const send = (page, op, fields = {}) => page.evaluate(([o, f]) => new Promise((resolve) => {
  const rec = window.__palabre.send(o, f);
  const check = () => (rec.status === 'acked' || rec.status === 'refused'
    ? resolve({ status: rec.status, result: rec.result, error: rec.error })
    : setTimeout(check, 20));
  check();
}), [op, fields]);
