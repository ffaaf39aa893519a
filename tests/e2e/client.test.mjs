// The shared page client, unit by unit: applying events, and the connection logic driven
// through a fake WebSocket and fake timers (no browser, no server).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyEvent, applyAck, applyUpvotes, applyTally, carryOver, byUpvotes, timerLevel, speakingSeconds, itemSeconds, itemStatus, fmtDuration,
  Client, uuid, CLOSE, TOO_MANY_PAUSE_MS,
} from '../../web/client.js';

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

// ---------------------------------------------------------------- the debate: questions, upvotes, speakers

const q = (id, status = 'approved', more = {}) => ({ id, text: `text ${id}`, name: null, status, upvotes: 0, at: 1000, answered_at: null, merged_into: null, ...more });
const debate = (role, more = {}) => ({
  ...JSON.parse(JSON.stringify(base)), role, qa_open: true, highlighted: null,
  settings: { anonymous_questions: true, moderate_questions: true, turn_seconds: 180 },
  questions: [], floor: { speaking: null, queue: [], turn_seconds: 180 }, ...more,
});
const fold = (s, ...events) => events.reduce(applyEvent, s);
const ids = (s) => s.questions.map((x) => x.id);

test('question events fold as each role sees them', () => {
  // moderator: everything but merged ones
  let m = fold(debate('moderator'), { kind: 'question.asked', question: q('a', 'pending', { by: 'p1' }) },
    { kind: 'question.asked', question: q('b', 'pending') });
  assert.deepEqual(ids(m), ['a', 'b']);
  m = fold(m, { kind: 'question.approved', question: q('a') }, { kind: 'question.highlighted', question: 'a' });
  assert.equal(m.questions[0].status, 'approved'); assert.equal(m.questions[0].by, 'p1'); assert.equal(m.highlighted, 'a');
  m = fold(m, { kind: 'question.rejected', question: 'a' });
  assert.equal(m.questions[0].status, 'rejected'); assert.equal(m.highlighted, null);
  m = fold(m, { kind: 'question.approved', question: q('b') }, { kind: 'question.answered', question: 'b', at: 5000 });
  assert.equal(m.questions[1].status, 'answered'); assert.equal(m.questions[1].answered_at, 5000);
  m = fold(m, { kind: 'question.asked', question: q('c', 'pending') }, { kind: 'question.merged', question: 'c', into: 'b' });
  assert.deepEqual(ids(m), ['a', 'b']);
  assert.equal(applyEvent(m, { kind: 'question.asked' }), m, 'hidden details change nothing');

  // screen: approved only; answered and rejected ones leave
  let sc = fold(debate('screen'), { kind: 'question.asked', question: q('p', 'pending') }, { kind: 'question.asked', question: q('a') },
    { kind: 'question.approved', question: q('b') }, { kind: 'question.approved', question: q('c') });
  assert.deepEqual(ids(sc), ['a', 'b', 'c']);
  sc = fold(sc, { kind: 'question.highlighted', question: 'b' }, { kind: 'question.answered', question: 'b', at: 9 },
    { kind: 'question.rejected', question: 'c' });
  assert.deepEqual(ids(sc), ['a']); assert.equal(sc.highlighted, null);

  // participant: approved and answered ones, plus their own in any status
  let p = debate('participant', { questions: [q('mine1', 'pending', { mine: true }), q('mine2', 'approved', { mine: true }), q('x'), q('y')] });
  p = fold(p, { kind: 'question.rejected', question: 'mine1' }, { kind: 'question.rejected', question: 'x' });
  assert.deepEqual(p.questions.map((x) => [x.id, x.status]), [['mine1', 'rejected'], ['mine2', 'approved'], ['y', 'approved']]);
  p = fold(p, { kind: 'question.merged', question: 'mine2', into: 'y' }, { kind: 'question.answered', question: 'y', at: 7 });
  assert.deepEqual(p.questions.map((x) => [x.id, x.status, x.merged_into]), [['mine1', 'rejected', null], ['mine2', 'merged', 'y'], ['y', 'answered', null]]);
  assert.equal(p.questions[1].mine, true);
});

test('merging unites upvoters; an approval never loses mine or upvoted; upvotes frames set counts', () => {
  let p = debate('participant', { questions: [q('d', 'approved', { upvoted: true, upvotes: 3 }), q('t', 'approved', { upvotes: 5 })], highlighted: 'd' });
  p = applyEvent(p, { kind: 'question.merged', question: 'd', into: 't' });
  assert.deepEqual(ids(p), ['t']); assert.equal(p.questions[0].upvoted, true); assert.equal(p.highlighted, null);
  p = applyEvent(p, { kind: 'question.approved', question: q('t', 'approved', { upvotes: 5 }) });
  assert.equal(p.questions[0].upvoted, true, 'a broadcast object does not erase upvoted');
  const before = p;
  p = applyUpvotes(p, { t: 8, unknown: 4 });
  assert.equal(p.questions[0].upvotes, 8); assert.equal(before.questions[0].upvotes, 5);
  assert.equal(applyUpvotes(p, { t: 8 }), p, 'no change, same state');
  assert.equal(applyUpvotes(p, null), p);
});

test('the asker\'s own question converges whether the ack or the event comes first', () => {
  const asked = q('n1', 'approved', { text: 'Why?', at: 2000 });
  const ack = { seq: 9, question: { ...asked, mine: true } };
  const event = { kind: 'question.asked', question: asked };
  const s0 = debate('participant');
  const ackFirst = applyEvent(applyAck(s0, 'question.ask', ack), event);
  const eventFirst = applyAck(applyEvent(s0, event), 'question.ask', ack);
  assert.deepEqual(ackFirst.questions, eventFirst.questions);
  assert.equal(ackFirst.questions.length, 1); assert.equal(ackFirst.questions[0].mine, true);
  assert.deepEqual(ackFirst.own.questions, ['n1']);
  // moderated: the ack brings a pending question, the approval comes later and keeps mine
  let m = applyAck(s0, 'question.ask', { seq: 3, question: { ...q('n2', 'pending'), mine: true } });
  m = applyEvent(m, { kind: 'question.asked' }); // the bare event others get
  m = applyEvent(m, { kind: 'question.approved', question: q('n2', 'approved', { upvotes: 0 }) });
  assert.deepEqual([m.questions[0].status, m.questions[0].mine], ['approved', true]);
  // an ack replayed after the approval does not take the status back
  m = applyAck(m, 'question.ask', { seq: 3, question: { ...q('n2', 'pending'), mine: true } });
  assert.equal(m.questions[0].status, 'approved'); assert.equal(m.questions.length, 1);
  // upvote acks set upvoted and the count
  m = applyAck(m, 'question.upvote', { seq: 4, question: 'n2', upvotes: 1, upvoted: true });
  assert.deepEqual([m.questions[0].upvoted, m.questions[0].upvotes], [true, 1]);
  m = applyAck(m, 'question.unvote', { seq: 5, question: 'n2', upvotes: 0, upvoted: false });
  assert.deepEqual([m.questions[0].upvoted, m.questions[0].upvotes], [false, 0]);
  assert.equal(applyAck(m, 'agenda.next', { seq: 6 }), m);
  assert.equal(applyAck(m, 'question.ask', null), m);
});

test('the list of speakers: requests, moves, turns, and one\'s own request in either order', () => {
  const r = (id, at = 1) => ({ id, name: `N ${id}`, organisation: 'Org', at });
  let s = fold(debate('participant'), { kind: 'floor.requested', request: r('f1') }, { kind: 'floor.requested', request: r('f2') },
    { kind: 'floor.requested', request: r('f3') }, { kind: 'floor.requested', request: r('f3') });
  assert.deepEqual(s.floor.queue.map((x) => x.id), ['f1', 'f2', 'f3']);
  s = applyEvent(s, { kind: 'floor.moved', request: 'f3', position: 0 });
  assert.deepEqual(s.floor.queue.map((x) => x.id), ['f3', 'f1', 'f2']);
  s = applyEvent(s, { kind: 'floor.moved', request: 'f3', position: 99 });
  assert.deepEqual(s.floor.queue.map((x) => x.id), ['f1', 'f2', 'f3']);
  s = fold(s, { kind: 'floor.skipped', request: 'f2' }, { kind: 'floor.granted', request: 'f1', at: 10000, limit_seconds: 120 });
  assert.deepEqual(s.floor.queue.map((x) => x.id), ['f3']);
  assert.deepEqual(s.floor.speaking, { ...r('f1'), since: 10000, limit_seconds: 120 });
  assert.equal(speakingSeconds(s, 75500), 65);
  assert.equal(applyEvent(s, { kind: 'floor.ended', request: 'other', at: 1, seconds: 1 }), s);
  s = applyEvent(s, { kind: 'floor.ended', request: 'f1', at: 80000, seconds: 70 });
  assert.equal(s.floor.speaking, null);
  s = applyEvent(s, { kind: 'floor.withdrawn', request: 'f3' });
  assert.deepEqual(s.floor.queue, []);

  // own request: ack first, then the event; or the event, then the ack
  const s0 = debate('participant');
  const ackFirst = applyEvent(applyAck(s0, 'floor.request', { seq: 2, request: 'f9' }), { kind: 'floor.requested', request: r('f9') });
  const eventFirst = applyAck(applyEvent(s0, { kind: 'floor.requested', request: r('f9') }), 'floor.request', { seq: 2, request: 'f9' });
  assert.deepEqual(ackFirst.floor, eventFirst.floor);
  assert.equal(ackFirst.floor.queue[0].mine, true);
  const granted = applyEvent(ackFirst, { kind: 'floor.granted', request: 'f9', at: 5, limit_seconds: 60 });
  assert.equal(granted.floor.speaking.mine, true);

  // a new agenda item brings its speaking time, else the session's
  let a = debate('screen');
  a.agenda.items[1].turn_seconds = 90;
  a = applyEvent(a, { kind: 'agenda.moved', current: 1, previous: null, previous_spent_seconds: null, at: 1 });
  assert.equal(a.floor.turn_seconds, 90);
  a = applyEvent(a, { kind: 'agenda.moved', current: 0, previous: 1, previous_spent_seconds: 5, at: 2 });
  assert.equal(a.floor.turn_seconds, 180);
});

test('ordering, timer levels, and a fresh view keeps what the acks taught', () => {
  const list = [q('a', 'approved', { upvotes: 1, at: 5 }), q('b', 'approved', { upvotes: 4, at: 9 }), q('c', 'approved', { upvotes: 1, at: 2 })];
  assert.deepEqual(list.slice().sort(byUpvotes).map((x) => x.id), ['b', 'c', 'a']);
  assert.equal(timerLevel(10, 180, 30), 'ok'); assert.equal(timerLevel(151, 180, 30), 'near');
  assert.equal(timerLevel(181, 180, 30), 'over'); assert.equal(timerLevel(500, 0, 30), 'ok');
  const prev = applyAck(applyAck(debate('participant', { id: 's1' }), 'floor.request', { request: 'f1' }), 'question.ask', { question: q('x', 'pending') });
  const fresh = carryOver(prev, { ...debate(undefined, { id: 's1' }), questions: [q('x', 'approved')],
    floor: { speaking: null, queue: [{ id: 'f1', name: 'A', organisation: '' }], turn_seconds: 180 } }, 'participant');
  assert.equal(fresh.role, 'participant'); assert.equal(fresh.questions[0].mine, true); assert.equal(fresh.floor.queue[0].mine, true);
  const other = carryOver(prev, debate('participant', { id: 's2' }), 'participant');
  assert.equal(other.own, undefined);
});

// ---------------------------------------------------------------- votes: drafts, polls, ballots, voters

const draft = (id, more = {}) => ({ id, kind: 'resolution', title: `T ${id}`, text: `text ${id}`, status: 'draft', version: 1, adopted_by: null, poll: null, ...more });
const poll = (id, d, more = {}) => ({ id, draft: d, status: 'open', method: 'simple', quorum: 0, secret: false, hidden: false,
  opened_at: 1000, closed_at: null, counts: { for: 0, against: 0, abstain: 0 }, cast: 0, cast_weight: 0, eligible: 10, outcome: null, ...more });
const voting = (role, more = {}) => ({ ...debate(role), drafts: [draft('d1'), draft('d2')], polls: [], ...more });

test('polls open, tally, close and cancel; drafts follow', () => {
  const s0 = voting('screen');
  const frozen = JSON.parse(JSON.stringify(s0));
  let s = applyEvent(s0, { kind: 'poll.opened', poll: poll('p1', 'd1') });
  assert.deepEqual(frozen, s0, 'the input is not mutated');
  assert.equal(s.polls.length, 1); assert.equal(s.polls[0].status, 'open');
  assert.deepEqual([s.drafts[0].status, s.drafts[0].poll], ['voting', 'p1']);
  assert.equal(applyEvent(s, { kind: 'poll.opened' }), s, 'hidden details change nothing');
  // tally frames set the live figures of an open poll
  s = applyTally(s, { type: 'tally', poll: 'p1', counts: { for: 3, against: 1, abstain: 0 }, cast: 4, cast_weight: 4, eligible: 12 });
  assert.deepEqual(s.polls[0].counts, { for: 3, against: 1, abstain: 0 });
  assert.deepEqual([s.polls[0].cast, s.polls[0].cast_weight, s.polls[0].eligible], [4, 4, 12]);
  assert.equal(applyTally(s, { type: 'tally', poll: 'p1', counts: { for: 3, against: 1, abstain: 0 }, cast: 4, cast_weight: 4, eligible: 12 }), s, 'no change, same state');
  assert.equal(applyTally(s, { type: 'tally', poll: 'nope', cast: 9 }), s);
  assert.equal(applyTally(s, null), s);
  // closed: the final figures and the outcome; the draft is adopted by vote
  s = applyEvent(s, { kind: 'poll.closed', poll: 'p1', at: 9000, counts: { for: 5, against: 2, abstain: 1 }, cast: 8, cast_weight: 8, eligible: 12,
    outcome: 'adopted', rule: 'simple majority: for 5 > against 2' });
  assert.deepEqual([s.polls[0].status, s.polls[0].outcome, s.polls[0].closed_at, s.polls[0].cast], ['closed', 'adopted', 9000, 8]);
  assert.deepEqual(s.polls[0].counts, { for: 5, against: 2, abstain: 1 });
  assert.deepEqual([s.drafts[0].status, s.drafts[0].adopted_by, s.drafts[0].poll], ['adopted', 'vote', 'p1']);
  assert.equal(applyTally(s, { type: 'tally', poll: 'p1', counts: { for: 4, against: 2, abstain: 1 }, cast: 7 }), s, 'a late tally does not touch a closed poll');
  // rejected, and no quorum: the draft goes back to draft
  s = fold(s, { kind: 'poll.opened', poll: poll('p2', 'd2') },
    { kind: 'poll.closed', poll: 'p2', at: 9500, counts: { for: 0, against: 0, abstain: 1 }, cast: 1, cast_weight: 1, eligible: 12, outcome: 'no_quorum' });
  assert.deepEqual([s.polls[1].outcome, s.drafts[1].status, s.drafts[1].poll], ['no_quorum', 'draft', null]);
  s = fold(s, { kind: 'poll.opened', poll: poll('p3', 'd2') },
    { kind: 'poll.closed', poll: 'p3', at: 9600, counts: { for: 1, against: 4, abstain: 0 }, cast: 5, cast_weight: 5, eligible: 12, outcome: 'rejected' });
  assert.deepEqual([s.polls[2].outcome, s.drafts[1].status, s.drafts[1].poll], ['rejected', 'rejected', 'p3']);
  // cancelled: no outcome, the draft is back to draft
  let c = fold(voting('moderator'), { kind: 'poll.opened', poll: poll('p4', 'd1') }, { kind: 'poll.cancelled', poll: 'p4' });
  assert.deepEqual([c.polls[0].status, c.polls[0].outcome, c.drafts[0].status, c.drafts[0].poll], ['cancelled', null, 'draft', null]);
  // the poll as the server stores it (with `result`, without figures) folds into a view
  const stored = { id: 'p5', draft: 'd1', status: 'open', method: 'absolute', quorum: 3, secret: true, hidden: true, opened_at: 7, closed_at: null, result: null };
  const asScreen = applyEvent({ ...voting('screen'), polls: [poll('p0', 'd2', { status: 'closed', eligible: 40 })] }, { kind: 'poll.opened', poll: stored });
  const { result: _, ...view } = stored;
  assert.deepEqual(asScreen.polls[1], { ...view, counts: null, cast: 0, cast_weight: 0, eligible: 40, outcome: null, rule: null });
  const asModerator = applyEvent(voting('moderator'), { kind: 'poll.opened', poll: stored });
  assert.deepEqual(asModerator.polls[0].counts, { for: 0, against: 0, abstain: 0 });

  // adopted by consensus
  c = applyEvent(c, { kind: 'draft.adopted', draft: 'd2', by: 'consensus' });
  assert.deepEqual([c.drafts[1].status, c.drafts[1].adopted_by], ['adopted', 'consensus']);
  assert.equal(applyEvent(c, { kind: 'draft.adopted' }), c);
});

test('a hidden poll keeps its counts null until the close', () => {
  let s = applyEvent(voting('participant'), { kind: 'poll.opened', poll: poll('p1', 'd1', { hidden: true, counts: null }) });
  s = applyTally(s, { type: 'tally', poll: 'p1', cast: 3, cast_weight: 3, eligible: 9 });
  assert.equal(s.polls[0].counts, null); assert.equal(s.polls[0].cast, 3);
  s = applyEvent(s, { kind: 'poll.closed', poll: 'p1', at: 5, counts: { for: 2, against: 1, abstain: 0 }, cast: 3, cast_weight: 3, eligible: 9, outcome: 'adopted' });
  assert.deepEqual(s.polls[0].counts, { for: 2, against: 1, abstain: 0 });
});

test('one\'s ballot and receipt come from the vote.cast ack; the voter from the voter.claim ack', () => {
  let s = applyEvent(voting('participant', { ballots: {}, voter: null, settings: { voting: 'roster' } }), { kind: 'poll.opened', poll: poll('p1', 'd1') });
  s = applyAck(s, 'vote.cast', { seq: 4, poll: 'p1', choice: 'for', receipt: 'K7-PQ2M' });
  assert.deepEqual(s.ballots, { p1: { choice: 'for', receipt: 'K7-PQ2M' } });
  s = applyAck(s, 'vote.cast', { seq: 5, receipt: 'K7-PQ2M' }, { poll: 'p1', choice: 'against' });
  assert.deepEqual(s.ballots.p1, { choice: 'against', receipt: 'K7-PQ2M' }, 'the command fields fill what the ack leaves out');
  assert.equal(applyAck(s, 'vote.cast', { seq: 6, poll: 'p1', choice: 'against', receipt: 'K7-PQ2M' }), s);
  // claims: the ack says which entry this device holds; a claim elsewhere moves the right away
  const claim = { seq: 7, entry: 'r3', name: 'Awa Diop', organisation: 'AMM', weight: 2, claim: 1 };
  const eventFirst = applyAck(applyEvent(s, { kind: 'voter.claimed', entry: 'r3', claim: 1 }), 'voter.claim', claim);
  const ackFirst = applyEvent(applyAck(s, 'voter.claim', claim), { kind: 'voter.claimed', entry: 'r3', claim: 1 });
  assert.deepEqual(eventFirst.voter, ackFirst.voter);
  assert.deepEqual(ackFirst.voter, { entry: 'r3', name: 'Awa Diop', organisation: 'AMM', weight: 2, claim: 1, moved: false });
  let moved = applyEvent(ackFirst, { kind: 'voter.claimed', entry: 'r9', claim: 4 });
  assert.equal(moved, ackFirst, 'another entry claimed: nothing');
  moved = applyEvent(ackFirst, { kind: 'voter.claimed', entry: 'r3', claim: 2 });
  assert.deepEqual([moved.voter.moved, moved.voter.claim], [true, 2]);
  // claimed again here: the right is back
  const back = applyAck(moved, 'voter.claim', { ...claim, claim: 3 });
  assert.equal(back.voter.moved, false); assert.equal(back.voter.claim, 3);
  assert.equal(applyAck(back, 'voter.claim', claim), back, 'an older ack replayed changes nothing');
  // the console counts first claims
  const m = fold(voting('moderator', { roster: { entries: 3, weight: 4, claimed: 0 } }),
    { kind: 'voter.claimed', entry: 'r1', claim: 1 }, { kind: 'voter.claimed', entry: 'r1', claim: 2 }, { kind: 'voter.claimed', entry: 'r2', claim: 1 });
  assert.equal(m.roster.claimed, 2);
  // a new roster voids every claim
  assert.deepEqual(applyEvent(m, { kind: 'roster.replaced', entries: 5, weight: 6 }).roster, { entries: 5, weight: 6, claimed: 0 });
  assert.equal(applyEvent(back, { kind: 'roster.replaced', entries: 5, weight: 6 }).voter, null);
});

test('the client folds tally frames and vote acks and tells the page', () => {
  const { sockets } = harness();
  const c = new Client({ code: 'ABC234', role: 'participant' }, { tokenKey: 'k' });
  const changes = []; c.on('state', (s) => changes.push(s));
  const tallies = []; c.on('tally', (f) => tallies.push(f));
  c.open(); const ws = sockets.at(-1); ws.open();
  ws.msg({ type: 'welcome', role: 'participant', session: 's', seq: 1, server_time: Date.now(),
    state: voting(undefined, { polls: [poll('p1', 'd1', { counts: null, hidden: true })], ballots: {}, voter: { entry: null, name: null, organisation: null, weight: 1, claim: 0 } }) });
  const n = changes.length;
  ws.msg({ type: 'tally', poll: 'p1', cast: 2, cast_weight: 2, eligible: 30 });
  assert.equal(c.state.polls[0].cast, 2); assert.equal(c.state.polls[0].counts, null);
  assert.equal(changes.length, n + 1); assert.equal(tallies.length, 1);
  const v = c.send('vote.cast', { poll: 'p1', choice: 'abstain' });
  ws.msg({ type: 'ack', id: v.id, result: { seq: 2, poll: 'p1', choice: 'abstain', receipt: 'AB-CDEF' } });
  assert.deepEqual(c.state.ballots.p1, { choice: 'abstain', receipt: 'AB-CDEF' });
  assert.equal(v.status, 'acked');
});

/** A fake socket and fake timers for the Client. */
function harness() {
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
  return { sockets, timers };
}

test('the client folds acks and upvotes frames into its state and tells the page', () => {
  const { sockets } = harness();
  const c = new Client({ code: 'ABC234', role: 'participant' }, { tokenKey: 'k' });
  const changes = []; c.on('state', (s) => changes.push(s));
  c.open(); const ws = sockets.at(-1); ws.open();
  ws.msg({ type: 'welcome', role: 'participant', session: 's', seq: 1, server_time: Date.now(), state: { ...debate(undefined), questions: [q('a')] } });
  assert.equal(c.state.role, 'participant', 'the role comes from the welcome when the view lacks it');
  const ask = c.send('question.ask', { text: 'Why?' });
  ws.msg({ type: 'ack', id: ask.id, result: { seq: 2, question: { ...q('n', 'pending'), mine: true } } });
  assert.equal(ask.status, 'acked'); assert.deepEqual(ids(c.state), ['a', 'n']); assert.equal(c.state.questions[1].mine, true);
  const up = c.send('question.upvote', { question: 'a' });
  ws.msg({ type: 'event', seq: 2, event: { kind: 'question.asked' } });
  ws.msg({ type: 'ack', id: up.id, result: { seq: 2, question: 'a', upvotes: 1, upvoted: true } });
  assert.deepEqual([c.state.questions[0].upvoted, c.state.questions[0].upvotes], [true, 1]);
  const n = changes.length;
  ws.msg({ type: 'upvotes', counts: { a: 6 } });
  assert.equal(c.state.questions[0].upvotes, 6); assert.equal(changes.length, n + 1);
  ws.msg({ type: 'upvotes', counts: { a: 6 } }); assert.equal(changes.length, n + 1, 'no change, no render');
  const fr = c.send('floor.request', { name: 'Awa', organisation: '' });
  ws.msg({ type: 'ack', id: fr.id, result: { seq: 3, request: 'f1' } });
  ws.msg({ type: 'event', seq: 3, event: { kind: 'floor.requested', request: { id: 'f1', name: 'Awa', organisation: '', at: 5 } } });
  assert.equal(c.state.floor.queue[0].mine, true);
});

test('4429 pauses at least 10 s then resends what was not acknowledged; 1008 is final', () => {
  const { sockets, timers } = harness();
  assert.equal(CLOSE.TOO_MANY, 4429); assert.equal(CLOSE.DENIED, 1008); assert.equal(CLOSE.GONE, 4404);
  const c = new Client({ code: 'ABC234', role: 'participant' }, { tokenKey: 'k' });
  c.open(); let ws = sockets.at(-1); ws.open();
  ws.msg({ type: 'welcome', role: 'participant', session: 's', seq: 1, server_time: Date.now(), state: debate('participant') });
  const acked = c.send('question.upvote', { question: 'a' });
  ws.msg({ type: 'ack', id: acked.id, result: { seq: 2 } });
  const lost = c.send('question.unvote', { question: 'a' });
  assert.equal(lost.status, 'sent');
  ws.drop(CLOSE.TOO_MANY);
  assert.equal(c.final, false); assert.equal(c.status, 'reconnecting'); assert.equal(lost.status, 'queued');
  const retry = timers.at(-1);
  assert.ok(retry.ms >= TOO_MANY_PAUSE_MS && retry.ms <= TOO_MANY_PAUSE_MS + 5000, `paused ${retry.ms} ms`);
  assert.equal(sockets.at(-1), ws, 'no new socket before the pause is over');
  retry.fn(); ws = sockets.at(-1); ws.open();
  assert.equal(ws.sent[0].since, 1);
  ws.msg({ type: 'welcome', role: 'participant', session: 's', seq: 1, server_time: Date.now() });
  assert.deepEqual(ws.sent.slice(1).map((f) => f.id), [lost.id], 'only the unacknowledged command is resent, with its id');
  // several pauses in a row draw different delays (jitter)
  const delays = new Set();
  for (let i = 0; i < 5; i += 1) { sockets.at(-1).drop(CLOSE.TOO_MANY); delays.add(timers.at(-1).ms); timers.at(-1).fn(); sockets.at(-1).open(); }
  assert.ok(delays.size > 1);
  const n = sockets.length;
  sockets.at(-1).drop(CLOSE.DENIED);
  assert.equal(c.status, 'denied'); assert.equal(lost.status, 'refused');
  assert.equal(c.send('question.upvote', { question: 'a' }).status, 'refused');
  assert.equal(sockets.length, n);
});

// ------------------------------------------------------------- the contract fixture
// tests/api/contract_fixture.rs runs a debate through the server and records, for each viewer,
// its welcome state, every frame it then received and the state a fresh welcome gives at the
// end. Folding the frames with the page client's own functions must reach that end state.
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const fixturePath = fileURLToPath(new URL('../../target/contract-fixture.json', import.meta.url));

/** A state as compared: the fields the fold keeps, questions by id, no client-side extras. */
function comparable(state) {
  const s = JSON.parse(JSON.stringify(state));
  for (const k of ['seq', 'participant_url', 'own']) delete s[k];
  s.questions = (s.questions || []).map((q) => ({ upvotes: 0, ...q })).sort((a, b) => a.id.localeCompare(b.id));
  return s;
}

test('the client folds the server-recorded debate to the state the server ends with, for every viewer', () => {
  assert.ok(existsSync(fixturePath), `${fixturePath} is missing: cargo test writes it (tests/run runs that first)`);
  const fixture = JSON.parse(readFileSync(fixturePath, 'utf8'));
  assert.ok(fixture.clients.length >= 5);
  for (const c of fixture.clients) {
    let state = c.before;
    let seq = state.seq;
    for (const f of c.frames) {
      if (f.type === 'event') {
        assert.equal(f.seq, seq + 1, `${c.name}: events in order`);
        seq = f.seq;
        state = applyEvent(state, f.event);
      } else if (f.type === 'upvotes') {
        state = applyUpvotes(state, f.counts);
      } else if (f.type === 'tally') {
        state = applyTally(state, f);
      } else if (f.type === 'ack') {
        state = applyAck(state, f.op, f.result, f.fields);
      }
    }
    assert.equal(seq, c.after.seq, `${c.name}: every event folded`);
    assert.deepEqual(comparable(state), comparable(c.after), `${c.name} (${c.role})`);
  }
});

test('a command too large for one frame is refused on the page, never sent to loop on 1009', () => {
  const c = new Client({ code: 'ABCDEF' });
  const rec = c.send('question.ask', { text: 'é'.repeat(40000) });
  assert.equal(rec.status, 'refused');
  assert.equal(rec.error.code, 'too_large');
  assert.equal(c.send('question.ask', { text: 'short' }).status, 'queued');
});

// ------------------------------------------------------------- texts by language
import { locText, loc } from '../../web/client.js';
import { loc as votesLoc } from '../../web/votes.js';

test('a text by language shows the page language, else English, else French, else the first given, and says when it fell back', () => {
  const both = { en: 'Agenda', fr: 'Ordre du jour' };
  assert.deepEqual(locText(both, 'fr'), { text: 'Ordre du jour', lang: 'fr', fallback: false });
  assert.deepEqual(locText(both, 'en'), { text: 'Agenda', lang: 'en', fallback: false });
  // only one language: shown with the marker's facts
  assert.deepEqual(locText({ en: 'Only English' }, 'fr'), { text: 'Only English', lang: 'en', fallback: true });
  assert.deepEqual(locText({ fr: 'Seulement en français' }, 'en'), { text: 'Seulement en français', lang: 'fr', fallback: true });
  // a missing or empty page language falls back to English before French, then to the first non-empty one
  assert.deepEqual(locText({ fr: 'Bonjour', en: 'Hello' }, 'de'), { text: 'Hello', lang: 'en', fallback: true });
  assert.deepEqual(locText({ en: '  ', fr: 'Bonjour' }, 'en'), { text: 'Bonjour', lang: 'fr', fallback: true });
  assert.deepEqual(locText({ ar: 'مرحبا', es: '' }, 'fr'), { text: 'مرحبا', lang: 'ar', fallback: true });
  // a plain string is shown as it is, in no particular language, never marked
  assert.deepEqual(locText('Introduction', 'fr'), { text: 'Introduction', lang: null, fallback: false });
  assert.deepEqual(locText('', 'fr'), { text: '', lang: null, fallback: false });
  for (const nothing of [null, undefined, {}, { en: '', fr: null }]) {
    assert.deepEqual(locText(nothing, 'fr'), { text: '', lang: null, fallback: false });
  }
  assert.deepEqual(locText(42, 'fr'), { text: '42', lang: null, fallback: false });
  // an inherited property is not a language
  assert.equal(locText(Object.create({ fr: 'hérité' }), 'fr').text, '');
  // loc() gives the text alone, with the same preference; the page's language (English here) by default
  assert.equal(loc({ fr: 'Bonjour', en: 'Hello' }, 'fr'), 'Bonjour');
  assert.equal(loc({ fr: 'Bonjour' }, 'en'), 'Bonjour');
  assert.equal(loc({ fr: 'Bonjour', en: 'Hello' }), 'Hello');
  assert.equal(loc('plain', 'fr'), 'plain');
  assert.equal(loc(null), '');
  // votes.js reads texts the same way (one function, not a copy)
  assert.equal(votesLoc, loc);
});

test('an edit carries the whole new text and its language; staff versions keep both; notes leave the view alone', () => {
  const draft = { id: 'd1', kind: 'resolution', title: { en: 'T', fr: 'T fr' }, text: { en: 'old', fr: 'ancien' }, status: 'draft', version: 1 };
  const staff = { role: 'rapporteur', drafts: [{ ...draft, versions: [{ version: 1, at: null, role: null, text: draft.text, lang: null }] }] };
  const room = { role: 'participant', drafts: [draft] };
  const edit = { kind: 'draft.edited', draft: 'd1', version: 2, text: { en: 'old', fr: 'nouveau' }, lang: 'fr', at: 5, role: 'rapporteur' };
  const s = applyEvent(staff, edit);
  assert.deepEqual(s.drafts[0].text, { en: 'old', fr: 'nouveau' });
  assert.equal(s.drafts[0].version, 2);
  assert.deepEqual(s.drafts[0].versions[1], { version: 2, at: 5, role: 'rapporteur', text: { en: 'old', fr: 'nouveau' }, lang: 'fr' });
  assert.equal(staff.drafts[0].versions.length, 1, 'the input is not mutated');
  // a whole-text edit (a plain string) has lang null, even when the event leaves it out
  const { lang: _l, ...plain } = { ...edit, version: 3, text: 'all new' };
  assert.equal(applyEvent(s, plain).drafts[0].versions[2].lang, null);
  // the room gets the text, no versions
  const r = applyEvent(room, edit);
  assert.deepEqual(r.drafts[0].text, { en: 'old', fr: 'nouveau' });
  assert.equal('versions' in r.drafts[0], false);
  // a draft made during the session: version 1, lang null, for staff only
  const made = { kind: 'draft.created', draft: 'd-1a2b3c4d', draft_kind: 'recommendation', title: { fr: 'Nouveau' }, text: 'x', at: 9, role: 'moderator' };
  assert.deepEqual(applyEvent(staff, made).drafts[1].versions, [{ version: 1, at: 9, role: 'moderator', text: 'x', lang: null }]);
  assert.equal('versions' in applyEvent(room, made).drafts[1], false);
  assert.deepEqual(applyEvent(room, made).drafts[1].title, { fr: 'Nouveau' });
  // notes are not in the state view: their events change nothing, for any role
  for (const e of [{ kind: 'record.noted', note: 'n1', text: 'a', at: 1 }, { kind: 'record.note_edited', note: 'n1', text: 'b', at: 2 },
    { kind: 'record.note_deleted', note: 'n1', at: 3 }, { kind: 'record.noted' }]) {
    assert.equal(applyEvent(s, e), s);
    assert.equal(applyEvent(room, e), room);
  }
});
