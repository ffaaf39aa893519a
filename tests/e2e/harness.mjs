// Shared plumbing of the browser tests: a real palabre process, Debian's Chromium, and
// screenshots under target/screenshots for a person to look at.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

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
