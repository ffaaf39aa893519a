// The pages under load: a real phone, in Chromium, inside a session that `palabre load` runs
// with 2,000 participants (`--phase session`: agenda moves, a vote with changed votes, a tenth
// of the clients dropping and coming back). The load creates the session,
// prints its join code and waits (`--hold`) until the phone is in; then the test lets it go. The
// phone must show every agenda move the load made, in order, and end on the closed poll with
// the tally the load's acknowledged ballots make. How long each move took to show on the phone
// (from the load sending it to the page changing, one machine, one clock) is printed as a
// benchmark figure, not asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, launchBrowser, openOnline, tid, storeName, root, PHONE } from './harness.mjs';

const CLIENTS = 2000;

/** Runs `palabre load` against `base`; resolves with the session's code once it is held. */
function startLoad(base, json) {
  const bin = process.env.PALABRE_BIN || join(root, 'target', 'debug', 'palabre');
  const args = [
    'load', '--phase', 'session', '--url', base, '--clients', String(CLIENTS), '--hold', '--json', json,
    // The page is what is under test here, not the server's rate: no question storm, and at
    // most 500 ballots on their way at once (a debug build answers far slower than a release one).
    '--questions', '20', '--asks', '0', '--in-flight', '500',
  ];
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  const held = new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk.toString();
      const m = output.match(/^SESSION id=(\S+) code=(\S+)/m);
      if (m) resolve({ id: m[1], code: m[2] });
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    exited.then((code) => reject(new Error(`palabre load exited (${code}) before holding:\n${output}`)));
  });
  return { child, held, exited, output: () => output };
}

/** Records, in the page, each agenda item it shows as current (its place) and when it showed it. */
function recordAgenda(page) {
  return page.evaluate(() => {
    const current = () => document.querySelector('[data-testid="agenda-item"][aria-current="step"]')?.dataset.index;
    window.__shown = [];
    let last = current();
    new MutationObserver(() => {
      const now = current();
      if (now !== undefined && now !== last) {
        window.__shown.push({ item: Number(now), at: performance.timeOrigin + performance.now() });
        last = now;
      }
    }).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-current'] });
    return last === undefined ? null : Number(last);
  });
}

const quantile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];

test(`a phone follows every agenda move and ends on the final tally inside a ${CLIENTS}-client session (${storeName})`, async () => {
  const server = await startServer({ PALABRE_SOCKETS_PER_IP: '100000', PALABRE_OPENS_PER_IP: '100000' });
  const browser = await launchBrowser();
  const dir = mkdtempSync(join(tmpdir(), 'palabre-load-'));
  const json = join(dir, 'session.json');
  const load = startLoad(server.base, json);
  try {
    const { code } = await load.held;
    const phone = await openOnline(browser, { ...PHONE, locale: 'en-GB' }, `${server.base}/j/${code}`);
    const first = await recordAgenda(phone.page);
    load.child.stdin.write('go\n');
    const exit = await load.exited;
    assert.equal(exit, 0, `palabre load failed:\n${load.output()}`);
    const report = JSON.parse(readFileSync(json, 'utf8'));
    assert.equal(report.ok, true);

    // Every move the load made, in order, as the phone showed them.
    const moves = report.moves.filter((m) => m.acked);
    assert.ok(moves.length >= 20, `${moves.length} moves`);
    assert.notEqual(first, moves[0].item, 'the first move changes the item shown');
    await phone.page.waitForFunction((n) => window.__shown.length >= n, moves.length);
    const shown = await phone.page.evaluate(() => window.__shown);
    assert.deepEqual(shown.map((s) => s.item), moves.map((m) => m.item));

    // The closed poll, with the tally of the load's acknowledged ballots.
    const { poll, tally } = report.vote;
    const card = `${tid('vote-card')}[data-poll="${poll}"]`;
    await phone.page.waitForSelector(`${card}[data-status="closed"]`);
    for (const choice of ['for', 'against', 'abstain']) {
      const bar = `${card} ${tid('vote-tally')} li[data-choice="${choice}"]`;
      assert.equal(await phone.page.getAttribute(bar, 'data-count'), String(tally[choice]), choice);
    }
    assert.deepEqual(phone.errors, []);

    // What the phone saw: from the load sending each move to the page showing it.
    const delays = shown.map((s, k) => s.at - moves[k].sent_ms).sort((a, b) => a - b);
    const agenda = report.stages.find((s) => s.stage === 'agenda');
    console.log(
      `BENCH page inside ${report.connect.connected} clients (${storeName}): ${delays.length} moves shown, ` +
      `delay p50 ${quantile(delays, 0.5).toFixed(1)} ms, max ${delays[delays.length - 1].toFixed(1)} ms ` +
      `(the load's own clients: agenda p50 ${agenda.fanout_ms.p50.toFixed(1)} ms, p99 ${agenda.fanout_ms.p99.toFixed(1)} ms); ` +
      `tally at every client ${report.vote.tally_latency_ms.every_client?.toFixed(0)} ms after the last ballot`,
    );
  } finally {
    if (load.child.exitCode === null) load.child.kill('SIGTERM');
    await browser.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
