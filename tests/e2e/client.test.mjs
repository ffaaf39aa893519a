// The shared page client, unit by unit: applying events, and the connection logic driven
// through a fake WebSocket and fake timers (no browser, no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyEvent, itemSeconds, itemStatus, fmtDuration, Client, uuid } from '../../web/client.js';

/** A two-item session as a welcome would carry it. */
const base = { phase: 'pending', started_at: null, ended_at: null, qa_open: false,
  agenda: { current: null, since: null, items: [{ title: 'a', minutes: 10, spent_seconds: 0 }, { title: 'b', minutes: 20, spent_seconds: 0 }] } };

test('events apply to a copy of the state, the way the server applies them', () => {
  const frozen = JSON.parse(JSON.stringify(base));
  let s = applyEvent(base, { kind: 'session.started', at: 1000 });
  assert.equal(s.phase, 'running'); assert.equal(s.started_at, 1000);
  s = applyEvent(s, { kind: 'agenda.moved', current: 0, previous: null, previous_spent_seconds: null, at: 1000 });
  assert.equal(s.agenda.current, 0); assert.equal(s.agenda.since, 1000);
  assert.equal(itemSeconds(s, 0, 61000), 60);
  assert.equal(itemStatus(s, 0), 'current'); assert.equal(itemStatus(s, 1), 'upcoming');
  const s2 = applyEvent(s, { kind: 'agenda.moved', current: 1, previous: 0, previous_spent_seconds: 95, at: 96000 });
  assert.equal(s2.agenda.items[0].spent_seconds, 95); assert.equal(s.agenda.items[0].spent_seconds, 0);
  assert.equal(itemStatus(s2, 0), 'done');
  assert.equal(applyEvent(s2, { kind: 'qa.opened' }).qa_open, true);
  assert.equal(applyEvent(s2, { kind: 'whatever', x: 1 }), s2);
  assert.equal(applyEvent(s2, { kind: 'agenda.moved' }), s2); // hidden details
  const e = applyEvent(s2, { kind: 'session.ended', at: 100000 });
  const e2 = applyEvent(s2, { kind: 'session.ended', at: 100000, item: 1, item_spent_seconds: 7 }); assert.equal(e2.agenda.since, null); assert.equal(itemSeconds(e2, 1, 1e9), 7);
  assert.equal(e.phase, 'ended'); assert.equal(itemSeconds(e, 1, 999999), 4);
  assert.equal(itemStatus(e, 1), 'done');
  assert.deepEqual(base, frozen);
  assert.equal(fmtDuration(65), '1:05'); assert.equal(fmtDuration(3725), '1:02:05'); assert.equal(fmtDuration(-5), '−0:05');
  assert.match(uuid(), /^[0-9a-f-]{36}$/);
});

test('the client says hello with since, resends unacknowledged commands with their ids, resyncs on a gap, and stops on 4404 or a refusal', () => {
  // ---- Client with a fake socket
  const sockets = [];
  class FakeWS { constructor(url) { this.url = url; this.sent = []; this.readyState = 0; sockets.push(this); }
    send(d) { this.sent.push(JSON.parse(d)); } close() { this.readyState = 3; }
    open() { this.readyState = 1; this.onopen && this.onopen(); }
    msg(o) { this.onmessage({ data: JSON.stringify(o) }); }
    drop(code = 1006) { this.readyState = 3; this.onclose && this.onclose({ code }); } }
  globalThis.WebSocket = FakeWS;
  globalThis.location = { protocol: 'http:', host: 'x:1' };
  const store = {}; globalThis.localStorage = { getItem: (k) => store[k] ?? null, setItem: (k, v) => { store[k] = v; } };
  const timers = []; globalThis.setTimeout = (fn, ms) => { timers.push({ fn, ms }); return timers.length; }; globalThis.clearTimeout = () => {};

  const c = new Client({ code: 'ABC234', role: 'participant' }, { tokenKey: 'palabre.participant.ABC234' });
  const statuses = []; c.on('status', (x) => statuses.push(x));
  c.open();
  let ws = sockets.at(-1); assert.equal(ws.url, 'ws://x:1/ws');
  const rec = c.send('agenda.next'); assert.equal(rec.status, 'queued');
  ws.open(); assert.deepEqual(ws.sent[0], { type: 'hello', code: 'ABC234', role: 'participant' });
  ws.msg({ type: 'welcome', role: 'participant', session: 's', code: 'ABC234', participant: 'tok', seq: 5, server_time: Date.now() + 5000, state: base });
  assert.equal(c.status, 'online'); assert.equal(store['palabre.participant.ABC234'], 'tok');
  assert.ok(c.clockOffset > 4000);
  assert.equal(ws.sent[1].type, 'cmd'); assert.equal(ws.sent[1].id, rec.id); assert.equal(rec.status, 'sent');
  ws.msg({ type: 'event', seq: 6, event: { kind: 'session.started', at: 5 } });
  assert.equal(c.state.phase, 'running'); assert.equal(c.seq, 6);
  ws.msg({ type: 'event', seq: 6, event: { kind: 'session.ended', at: 5 } }); // duplicate ignored
  assert.equal(c.state.phase, 'running');
  // drop before ack: resend with same id
  ws.drop(); assert.equal(c.status, 'reconnecting'); assert.equal(rec.status, 'queued');
  timers.at(-1).fn(); ws = sockets.at(-1); ws.open();
  assert.deepEqual(ws.sent[0], { type: 'hello', code: 'ABC234', role: 'participant', participant: 'tok', since: 6 });
  ws.msg({ type: 'welcome', role: 'participant', session: 's', seq: 8, server_time: Date.now() });
  assert.equal(ws.sent[1].id, rec.id);
  ws.msg({ type: 'event', seq: 7, event: { kind: 'qa.opened' } }); assert.equal(c.state.qa_open, true);
  ws.msg({ type: 'ack', id: rec.id, result: {} }); assert.equal(rec.status, 'acked');
  // gap -> resync
  ws.msg({ type: 'event', seq: 9, event: { kind: 'qa.closed' } });
  assert.equal(c.state.qa_open, true); const ws3 = sockets.at(-1); assert.notEqual(ws3, ws);
  ws3.open(); assert.equal(ws3.sent[0].since, 7);
  ws3.msg({ type: 'welcome', role: 'participant', session: 's', seq: 9, state: { ...base, phase: 'ended' } });
  assert.equal(c.state.phase, 'ended'); assert.equal(c.seq, 9);
  const r2 = c.send('qa.open'); ws3.msg({ type: 'error', id: r2.id, code: 'forbidden', message: 'no' });
  assert.equal(r2.status, 'refused'); assert.equal(r2.error.code, 'forbidden');
  ws3.drop(4404); assert.equal(c.status, 'gone');
  assert.equal(timers.filter((x) => x.ms !== 10000).length, 1);
  // denied via error before welcome
  const d = new Client({ session: 's', key: 'k' }); d.open(); const wd = sockets.at(-1); wd.open();
  wd.msg({ type: 'error', code: 'unauthorized', message: 'bad key' }); assert.equal(d.status, 'denied');
  // welcome timeout: a socket that never gets a welcome is dropped and retried
  const w = new Client({ code: 'QQQQQQ' }); w.open(); const ws0 = sockets.at(-1); ws0.open();
  const wt = timers.filter((x) => x.ms === 10000).at(-1); wt.fn();
  assert.equal(w.ws, null); assert.equal(w.status, 'connecting');
  timers.at(-1).fn(); assert.notEqual(sockets.at(-1), ws0);
});
