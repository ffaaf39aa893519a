// Participant page (phone first): where the session stands, live; during the
// debate, asking and upvoting questions and asking for the floor; during a vote,
// the text and the ballot, then the outcome and the check of one's receipt
// (phone-vote.js, loaded on demand: see "votes" below).
//
// Everything a participant wrote reaches the DOM through h() / setText(): text,
// never HTML. Commands go through the client, which queues them while offline;
// the page shows each one's fate (waiting, sending, done, refused and why).

import {
  connect, h, fill, setText, $t, participantTokenKey, itemStatus, byUpvotes, fmtDuration, speakingSeconds, every, loc,
  setLangText,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import {
  $, pathCode, startPage, showContent, showFatal, renderPhase, renderNow, agendaRow, itemMeta, nextUp, renderPlannedEnd,
} from './render.js';

const MAX_TEXT = 500;
/** Similar questions are looked for from this many characters on. */
const SIMILAR_FROM = 12;
/** After a tap in a list, its order holds still this long (nothing jumps under a finger). */
const HOLD_MS = 2000;
const NAME_KEY = 'palabre.name';
const ORG_KEY = 'palabre.org';

const code = pathCode();

const client = code
  ? connect({ code, role: 'participant' }, { tokenKey: participantTokenKey(code) })
  : null;

const ready = startPage(client, render);

// ---------------------------------------------------------------- render

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'gone', 'participant', code);
  const s = client.state;
  if (!s) return;
  showContent();
  document.title = `${loc(s.title)} · Palabre`;
  setLangText($('session-title'), s.title);
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setText($('join-code'), s.code || code);
  renderPhase(s);
  $t('now').dataset.phase = s.phase;
  renderNow(s, { idle: idleText });
  renderNext(s);
  renderAgenda(s);
  renderVotes(s);
  renderQuestions(s);
  renderFloor(s);
}

/** "Next: …" under the current item while the session runs (not after the last one). */
function renderNext(s) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const el = $('next-up');
  const next = s.phase === 'running' && cur != null ? items[cur + 1] : null;
  el.hidden = !next;
  nextUp(el, 'now.next', next);
}

/**
 * The agenda, live: rows named by the items' stable ids, redrawn only when the agenda (or the
 * language) changed, so a question or a vote does not rebuild the list; the planned end under it.
 */
let agendaSig = null;
function renderAgenda(s) {
  const sig = JSON.stringify([currentLang(), s.phase, s.agenda.current, s.agenda.items]);
  if (sig !== agendaSig) {
    agendaSig = sig;
    fill($('agenda'), s.agenda.items.map((item, i) => agendaRow(s, i, itemStatus(s, i, true), itemMeta(item), { speakers: true })));
  }
  renderPlannedEnd($('agenda-end'), s);
}

/** Under the "now" title with no current item: the closing words, or what comes first (written into `el`). */
function idleText(s, el) {
  if (s.phase === 'ended') return t('now.ended_text');
  nextUp(el, 'now.first', s.agenda.items[0]);
  return undefined;
}

/** Renders again on the next frame (command fates, the end of a hold). */
let scheduled = false;
function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => {
    scheduled = false;
    if (ready()) render();
  });
}

if (client) client.on('command', onCommand);

// ---------------------------------------------------------------- questions

const questions = () => (client.state && client.state.questions) || [];
const findQ = (id) => questions().find((q) => q.id === id) || null;
const anonymousAllowed = (s) => !s.settings || s.settings.anonymous_questions !== false;

function renderQuestions(s) {
  const list = questions();
  const ended = s.phase === 'ended';
  const open = !!s.qa_open && !ended;
  const shown = !ended || list.length > 0;
  $('qa').hidden = !shown;
  if (!shown) return;

  const note = $('qa-closed-note');
  note.hidden = open;
  setText(note, open ? '' : ended ? t('part.qa_ended') : t('part.qa_closed'));

  const form = $('ask-form');
  form.hidden = !open;
  if (open) {
    $('ask-moderated').hidden = !(s.settings && s.settings.moderate_questions);
    const anon = anonymousAllowed(s);
    const name = $('ask-name');
    name.required = !anon;
    name.setAttribute('aria-required', String(!anon));
    setText($('ask-name-label'), anon ? t('part.ask_name_optional') : t('part.ask_name'));
    setText($('ask-name-hint'), anon ? t('part.ask_name_anon') : t('part.ask_name_required'));
    renderCount();
    renderSimilar();
  }

  renderMine(s);

  const approved = list.filter((q) => q.status === 'approved');
  const answered = list.filter((q) => q.status === 'answered').sort((a, b) => (b.answered_at || 0) - (a.answered_at || 0));
  // With questions closed and none taken, "be the first to ask" would be a tease.
  const none = approved.length === 0 && answered.length === 0;
  $('list-title').hidden = none && !open;
  $('list-empty').hidden = approved.length > 0 || !open;
  syncList($('questions-list'), ordered('room', approved), questionItem, undefined, questionSig);
  $('answered').hidden = answered.length === 0;
  setText($('answered-title'), t('part.answered_title', { n: answered.length }));
  syncList($('answered-list'), answered, questionItem, undefined, questionSig);
}

/** Questions by upvotes, except while a finger is on the list: then the order holds. */
const holds = { room: { until: 0, order: [] } };
function ordered(which, list) {
  const hold = holds[which];
  const sorted = list.slice().sort(byUpvotes);
  if (Date.now() < hold.until) {
    const rank = new Map(hold.order.map((id, i) => [id, i]));
    const known = sorted.filter((q) => rank.has(q.id)).sort((a, b) => rank.get(a.id) - rank.get(b.id));
    const fresh = sorted.filter((q) => !rank.has(q.id));
    const out = [...known, ...fresh];
    hold.order = out.map((q) => q.id);
    return out;
  }
  hold.order = sorted.map((q) => q.id);
  return sorted;
}

for (const id of ['questions-list', 'similar-items']) {
  document.getElementById(id).addEventListener('pointerdown', () => {
    holds.room.until = Date.now() + HOLD_MS;
    setTimeout(schedule, HOLD_MS + 50);
  });
}

/** What a question's item shows: when it is unchanged, its element is kept as it is. */
function questionSig(q) {
  const v = voteView(q);
  const ended = client.state && client.state.phase === 'ended';
  return [currentLang(), ended, q.status, !!q.mine, q.name || '', v.pressed, v.count, v.pending || '', q.text].join('\u0001');
}

/** One question of the room: text, who asked, its upvote button. */
function questionItem(q) {
  const mine = !!q.mine;
  return h(
    'li',
    {
      class: `q-item is-${q.status}${mine ? ' is-mine' : ''}`,
      id: `q-${q.id}`,
      tabindex: '-1',
      'data-testid': 'question',
      'data-id': q.id,
      'data-status': q.status,
      'data-mine': String(mine),
    },
    h(
      'div',
      { class: 'q-body' },
      h('p', { class: 'q-text' }, q.text),
      h(
        'p',
        { class: 'q-meta' },
        h('span', { class: q.name ? 'q-name' : 'q-name is-anon' }, q.name || t('part.anonymous')),
        mine ? h('span', { class: 'q-yours' }, t('part.yours')) : null,
      ),
    ),
    upvoteControl(q),
  );
}

/** The upvote toggle (approved questions), or the bare count (others). */
function upvoteControl(q) {
  const v = voteView(q);
  if (q.status !== 'approved') {
    return h(
      'span',
      { class: 'upvote is-static' },
      h('span', { class: 'up-arrow', 'aria-hidden': 'true' }, '▲'),
      h('span', { class: 'up-count', 'data-testid': 'upvote-count', 'aria-hidden': 'true' }, String(v.count)),
      h('span', { class: 'visually-hidden' }, t('part.upvotes', { n: v.count })),
    );
  }
  const ended = client.state && client.state.phase === 'ended';
  return h(
    'button',
    {
      type: 'button',
      class: 'upvote',
      'data-testid': 'upvote',
      'data-id': q.id,
      'data-pending': v.pending ? v.pending : null,
      'aria-pressed': String(v.pressed),
      'aria-busy': v.pending === 'sent' ? 'true' : null,
      disabled: ended,
      onclick: () => toggleVote(q.id),
    },
    // The name comes from the content ("Upvote this question, 12 upvotes"): the visible count is part of it.
    h('span', { class: 'up-arrow', 'aria-hidden': 'true' }, '▲'),
    h('span', { class: 'visually-hidden' }, `${t('part.upvote_sr')} `),
    h('span', { class: 'up-count', 'data-testid': 'upvote-count' }, String(v.count)),
    h('span', { class: 'visually-hidden' }, ` ${t('part.upvotes_word', { n: v.count })}`),
  );
}

/** The latest unanswered upvote / unvote of question `id`, if any. */
function pendingVote(id) {
  return client
    .pending('question.')
    .filter((c) => (c.op === 'question.upvote' || c.op === 'question.unvote') && c.fields.question === id)
    .pop();
}

/** What the button shows: the server's word, or the tap not yet answered (optimistic). */
function voteView(q) {
  const count = Number(q.upvotes) || 0;
  const p = q.status === 'approved' ? pendingVote(q.id) : null;
  if (!p) return { pressed: !!q.upvoted, count, pending: null };
  const up = p.op === 'question.upvote';
  const delta = up && !q.upvoted ? 1 : !up && q.upvoted ? -1 : 0;
  return { pressed: up, count: Math.max(0, count + delta), pending: p.status };
}

/** One tap: upvote, or take the upvote back. A tap not yet sent (offline) is simply undone. */
function toggleVote(id) {
  const q = findQ(id);
  if (!q || q.status !== 'approved') return;
  const p = pendingVote(id);
  if (p) {
    if (client.cancel(p.id)) schedule();
    return; // on the wire: wait for the answer
  }
  client.send(q.upvoted ? 'question.unvote' : 'question.upvote', { question: id });
  schedule();
}

/** The participant's own questions with where each stands, and those still on their way. */
function renderMine(s) {
  const own = questions().filter((q) => q.mine).sort((a, b) => (b.at || 0) - (a.at || 0));
  const waiting = client.pending('question.ask');
  const box = $('my-questions');
  box.hidden = own.length === 0 && waiting.length === 0;
  if (box.hidden) return;
  const rows = [
    ...waiting.slice().reverse().map((c) => ({ key: `c-${c.id}`, c })),
    ...own.map((q) => ({ key: q.id, q })),
  ];
  syncList($('my-list'), rows, (r) => (r.c ? waitingItem(r.c) : myItem(r.q, s)), (r) => r.key);
}

function waitingItem(c) {
  const queued = c.status === 'queued';
  return h(
    'li',
    { class: 'my-item is-waiting', 'data-testid': 'my-question', 'data-status': queued ? 'queued' : 'sending', 'data-cmd': c.id },
    h('p', { class: 'q-text' }, c.fields.text),
    h(
      'p',
      { class: 'my-status' },
      h('span', { class: 'st st-waiting' }, queued ? t('part.status.queued') : t('part.status.sending')),
      queued && !c.wired
        ? h('button', {
          type: 'button', class: 'btn btn-small', 'data-testid': 'ask-cancel',
          onclick: () => { if (client.cancel(c.id)) schedule(); },
        }, t('common.cancel'))
        : null,
    ),
  );
}

function myItem(q, s) {
  const target = q.status === 'merged' && q.merged_into ? (s.questions || []).find((x) => x.id === q.merged_into) : null;
  const shownTarget = target && (target.status === 'approved' || target.status === 'answered');
  return h(
    'li',
    { class: `my-item is-${q.status}`, 'data-testid': 'my-question', 'data-id': q.id, 'data-status': q.status },
    h('p', { class: 'q-text' }, q.text),
    h(
      'p',
      { class: 'my-status' },
      h('span', { class: `st st-${q.status}` }, tv('part.status', q.status)),
      q.status === 'approved' || q.status === 'answered'
        ? h('span', { class: 'muted' }, t('part.upvotes', { n: Number(q.upvotes) || 0 }))
        : null,
      shownTarget
        ? h('a', {
          href: `#q-${q.merged_into}`, class: 'see-link', 'data-testid': 'merged-link', 'data-into': q.merged_into,
          onclick: (e) => { e.preventDefault(); reveal(q.merged_into); },
        }, t('part.see_merged'))
        : null,
    ),
  );
}

/** Scrolls to a question of the room (opening the answered group if it is there) and focuses it. */
function reveal(id) {
  const el = document.getElementById(`q-${id}`);
  if (!el) return;
  const group = el.closest('details');
  if (group) group.open = true;
  el.scrollIntoView({ block: 'center', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  el.focus({ preventScroll: true });
  el.classList.add('is-flash');
  setTimeout(() => el.classList.remove('is-flash'), 1600);
}

// ---- the ask form

const askText = $('ask-text');
const askName = $('ask-name');
let askSent = null; // the latest question.ask record, whose fate the form shows

askName.value = remembered(NAME_KEY);
askText.addEventListener('input', () => {
  loadSimilar();
  renderCount();
  clearTimeout(similarTimer);
  similarTimer = setTimeout(findSimilar, 150);
  askText.removeAttribute('aria-invalid');
});
askText.addEventListener('focus', loadSimilar);
askName.addEventListener('input', () => askName.removeAttribute('aria-invalid'));

function renderCount() {
  const n = askText.value.length;
  const el = $('ask-count');
  setText(el, t('part.ask_count', { count: n, max: MAX_TEXT }));
  el.dataset.level = n >= MAX_TEXT ? 'full' : n > MAX_TEXT - 50 ? 'near' : 'ok';
}

$('ask-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const s = client && client.state;
  if (!s) return;
  const text = askText.value.trim();
  const name = askName.value.trim();
  if (!text) return formError('ask', askText, t('part.ask_empty'));
  if (!name && !anonymousAllowed(s)) return formError('ask', askName, t('part.ask_name_missing'));
  const fields = { text };
  if (name) fields.name = name;
  remember(NAME_KEY, name);
  askSent = client.send('question.ask', fields);
  askText.value = '';
  similarIds = [];
  renderCount();
  showAskFate(askSent);
  schedule();
});

function formError(which, input, message) {
  input.setAttribute('aria-invalid', 'true');
  input.focus();
  const el = $(`${which}-status`);
  el.dataset.kind = 'error';
  setText(el, message);
}

function showAskFate(rec) {
  const el = $('ask-status');
  let msg = '';
  let kind = 'info';
  if (rec.status === 'queued') msg = t('part.ask_queued');
  else if (rec.status === 'sent') msg = t('part.ask_sending');
  else if (rec.status === 'acked') {
    const q = rec.result && rec.result.question;
    msg = q && q.status === 'pending' ? t('part.ask_sent_pending') : t('part.ask_sent_published');
    kind = 'ok';
  } else if (rec.status === 'refused') {
    msg = refusal('ask', rec.error);
    kind = 'error';
    // The text comes back, unless something new was typed meanwhile.
    if (!askText.value.trim()) {
      askText.value = rec.fields.text;
      renderCount();
    }
  } else if (rec.status === 'cancelled') {
    msg = '';
    if (!askText.value.trim()) {
      askText.value = rec.fields.text;
      renderCount();
    }
  }
  el.dataset.kind = kind;
  setText(el, msg);
}

// ---- similar questions ("already asked? upvote it instead")

let similarFn = null;
let similarTimer = null;
let similarIds = [];

let similarAsked = false;
function loadSimilar() {
  if (similarAsked) return;
  similarAsked = true;
  import('./similar.js')
    .then((m) => {
      similarFn = m.similar;
      findSimilar();
    })
    .catch(() => { /* no suggestions; asking still works */ });
}

function findSimilar() {
  const text = askText.value.trim();
  if (!similarFn || text.length < SIMILAR_FROM) {
    similarIds = [];
  } else {
    const candidates = questions().filter((q) => q.status === 'approved' && !q.mine);
    try {
      similarIds = similarFn(text, candidates, { limit: 3 }).map((r) => r.question.id);
    } catch {
      similarIds = [];
    }
  }
  renderSimilar();
}

function renderSimilar() {
  const found = similarIds.map(findQ).filter((q) => q && q.status === 'approved');
  $('similar').hidden = found.length === 0;
  syncList($('similar-items'), found, similarItem, undefined, (q) => `s${questionSig(q)}`);
}

function similarItem(q) {
  return h(
    'li',
    { class: 'q-item is-similar', 'data-testid': 'similar-item', 'data-id': q.id },
    h('div', { class: 'q-body' }, h('p', { class: 'q-text' }, q.text)),
    upvoteControl(q),
  );
}

// ---------------------------------------------------------------- the list of speakers

const floorName = $('floor-name');
const floorOrg = $('floor-org');
floorName.value = remembered(NAME_KEY);
floorOrg.value = remembered(ORG_KEY);
floorName.addEventListener('input', () => floorName.removeAttribute('aria-invalid'));

function myRequest(s) {
  const f = s.floor || {};
  const queue = f.queue || [];
  const i = queue.findIndex((x) => x.mine);
  return { speaking: !!(f.speaking && f.speaking.mine), index: i, entry: i >= 0 ? queue[i] : null };
}

function renderFloor(s) {
  const f = s.floor || { speaking: null, queue: [] };
  const queue = f.queue || [];
  const open = !!s.qa_open && s.phase !== 'ended';
  const shown = s.phase !== 'ended' && (open || !!f.speaking || queue.length > 0);
  const me = myRequest(s);
  noticeGone(me.speaking ? 'speaking' : me.entry ? 'queued' : 'none', me.speaking ? f.speaking.id : me.entry ? me.entry.id : null);
  $('floor').hidden = !shown;
  if (!shown) return;
  const sp = f.speaking;
  setText($('floor-now'), sp ? (me.speaking ? t('part.floor_me_now') : t('part.floor_now', { name: who(sp) })) : t('part.floor_nobody'));
  setText($('floor-count'), t('part.floor_waiting', { n: queue.length }));

  const asking = client.pending('floor.request').pop();
  const withdrawing = client.pending('floor.withdraw').length > 0;
  const place = $('floor-place');
  const wd = $('floor-withdraw');
  let text = '';
  let state = 'none';
  if (me.speaking) {
    text = t('part.floor_me');
    state = 'speaking';
  } else if (me.entry) {
    text = me.index === 0 ? t('part.floor_first') : t('part.floor_place', { n: me.index + 1 });
    state = 'queued';
  } else if (asking) {
    text = asking.status === 'queued' ? t('part.floor_queued') : t('part.floor_sending');
    state = 'pending';
  }
  $('floor-me').hidden = state === 'none';
  place.dataset.state = state;
  place.dataset.position = me.entry ? String(me.index + 1) : '';
  setText(place, text);
  wd.hidden = state !== 'queued';
  if (withdrawing) wd.setAttribute('aria-busy', 'true');
  else wd.removeAttribute('aria-busy');
  $('floor').dataset.state = state;
  $('floor-form').hidden = !(open && state === 'none');
  tick();
}

/** Says what became of one's own request when it leaves the list: one's turn ended, or the moderator took it off. */
let lastMine = { id: null, state: 'none' };
const withdrawn = new Set();
function noticeGone(state, id) {
  const was = lastMine;
  lastMine = { id, state };
  if (!was.id || was.id === id || withdrawn.has(was.id)) return;
  const el = $('floor-status');
  el.dataset.kind = 'info';
  setText(el, was.state === 'speaking' ? t('part.floor_done') : t('part.floor_removed'));
}

/** "Name (Organisation)". */
const who = (r) => (r.organisation ? `${r.name} (${r.organisation})` : r.name || '');

$('floor-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const name = floorName.value.trim();
  const organisation = floorOrg.value.trim();
  if (!name) return formError('floor', floorName, t('part.floor_name_missing'));
  remember(NAME_KEY, name);
  remember(ORG_KEY, organisation);
  setText($('floor-status'), '');
  client.send('floor.request', { name, organisation });
  schedule();
});

$('floor-withdraw').addEventListener('click', () => {
  const s = client.state;
  if (!s || client.pending('floor.withdraw').length) return;
  const me = myRequest(s);
  if (me.entry) withdrawn.add(me.entry.id);
  client.send('floor.withdraw', me.entry ? { request: me.entry.id } : {});
  schedule();
});

/** The speaking clock (outside the live region: it would be read out every second). */
function tick() {
  if (!ready() || !client || !client.state) return;
  const f = client.state.floor;
  const sp = f && f.speaking;
  const el = $('floor-clock');
  if (!sp || client.state.phase !== 'running') return setText(el, '');
  const secs = speakingSeconds(client.state, client.now());
  const limit = Number(sp.limit_seconds) || 0;
  setText(el, limit ? `${fmtDuration(secs)} / ${fmtDuration(limit)}` : fmtDuration(secs));
  el.dataset.level = limit && secs > limit ? 'over' : 'ok';
}
every(1000, tick);

// ---------------------------------------------------------------- votes

// The votes (the voting right, the ballot, the result and the receipt check, earlier votes) are
// phone-vote.js's, with their styles and strings, off the first load. They come when the state
// shows anything of a vote (a poll, a roster, a voting code in the link, a text adopted by
// consensus, an adoption item current or next), else a few seconds after the first render when
// the phone is idle: so the phones of a room do not all ask in the second a vote opens, and a
// phone that loses its connection later has them. Meanwhile events fold into the state as
// ever; the votes are drawn from it once the module is in.

/** What the module is handed (it takes `linkClaim` once, and announces only what changed since `heard`). */
const votePage = { client, code, schedule, notice, refusal, linkClaim: takeLinkClaim(), heard: null };
let votes = null; // phone-vote.js's view, once in
let voteModule = null;
let voteLoad = null; // on its way
let voteTries = 0;
let voteRetryAt = 0;

/** `#claim=CODE` in the link: kept for the votes, and removed from the address (and the history) at once. */
function takeLinkClaim() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (!params.has('claim')) return null;
  const claim = params.get('claim');
  params.delete('claim');
  const rest = params.toString();
  try {
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  } catch {
    /* the code stays in the address; it is sent once all the same */
  }
  return claim || null;
}

/** Whether the state shows, or is about to show, anything of a vote. */
function voteNear(s) {
  if (votePage.linkClaim || (s.settings && s.settings.voting === 'roster') || (s.polls && s.polls.length)) return true;
  if ((s.drafts || []).some((d) => d.status === 'adopted' && d.adopted_by === 'consensus')) return true;
  const cur = s.agenda.current;
  const items = s.agenda.items;
  return (cur == null ? [items[0]] : [items[cur], items[cur + 1]]).some((it) => it && it.kind === 'adoption');
}

function renderVotes(s) {
  if (!votePage.heard) {
    // What the first render shows is not announced; the module comes anyway, in a while.
    votePage.heard = (s.polls || []).map((p) => [p.id, p.status]);
    setTimeout(() => whenIdle(loadVotes), 2000 + Math.random() * 10000);
  }
  if (votes) votes.render(s);
  else if (voteNear(s)) loadVotes();
}

const whenIdle = (fn) => (globalThis.requestIdleCallback ? requestIdleCallback(fn, { timeout: 5000 }) : fn());

/** Fetches the module, its styles and strings; a failure is tried again on a later render, after a growing pause. */
function loadVotes() {
  if (votes || voteLoad || !client || Date.now() < voteRetryAt) return;
  voteTries += 1;
  // A failed import may stay failed under its address: a retry asks under another one.
  const imported = voteModule
    ? Promise.resolve(voteModule)
    : voteTries === 1 ? import('./phone-vote.js') : import(`./phone-vote.js?try=${voteTries}`);
  voteLoad = imported
    .then((m) => {
      voteModule = m;
      return m.mountVotes(votePage);
    })
    .then((v) => {
      votes = v;
      voteLoad = null;
      schedule();
    })
    .catch(() => {
      voteLoad = null;
      const pause = Math.min(30000, 1000 * 2 ** Math.min(voteTries, 5)) * (0.75 + Math.random() / 2);
      voteRetryAt = Date.now() + pause;
      setTimeout(schedule, pause);
    });
}

addEventListener('online', () => {
  voteRetryAt = 0;
  if (!votes) schedule();
});

// ---------------------------------------------------------------- command fates

function onCommand(rec) {
  if (rec === askSent) showAskFate(rec);
  if (rec.status === 'refused') {
    if (rec.op === 'floor.request' || rec.op === 'floor.withdraw') {
      const el = $('floor-status');
      el.dataset.kind = 'error';
      setText(el, refusal('floor', rec.error));
    } else if (rec.op === 'question.upvote' || rec.op === 'question.unvote') {
      notice(refusal('upvote', rec.error));
    } else if (rec.op === 'question.ask' && rec !== askSent) {
      notice(refusal('ask', rec.error));
    }
  } else if (rec.status === 'acked' && rec.op === 'floor.withdraw') {
    const el = $('floor-status');
    el.dataset.kind = 'info';
    setText(el, t('part.floor_withdrawn'));
  } else if (rec.status === 'acked' && rec.op === 'floor.request') {
    setText($('floor-status'), '');
  }
  schedule();
}

/**
 * A refusal in the reader's language: the op's own words for the code, else the generic ones;
 * `tr` looks the op's words up (phone-vote.js passes its own, which has the votes' strings).
 */
function refusal(group, error, tr = t) {
  const c = (error && error.code) || 'invalid';
  const k = `part.err.${group}.${c}`;
  const s = tr(k);
  return s !== k ? s : t('part.err.other', { reason: tv('error', c) });
}

let noticeTimer = null;
function notice(message) {
  const el = $('notice');
  setText(el, message);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => setText(el, ''), 6000);
}
$('notice').addEventListener('click', () => setText($('notice'), ''));

// ---------------------------------------------------------------- helpers

/**
 * Makes `ul`'s children match `items`, keyed: an item whose content did not change
 * (same `sigOf`, by default the same markup) keeps its element, and the focus in it;
 * changed ones are rebuilt; the focus follows a rebuilt or moved button.
 */
const built = new WeakMap();
function syncList(ul, items, make, keyOf = (x) => x.id, sigOf = null) {
  const focused = document.activeElement;
  const hadFocus = focused && ul.contains(focused) ? focused : null;
  const focusSel = hadFocus && hadFocus.dataset.testid
    ? `[data-testid="${hadFocus.dataset.testid}"]${hadFocus.dataset.id ? `[data-id="${CSS.escape(hadFocus.dataset.id)}"]` : ''}`
    : null;
  const old = new Map();
  for (const el of ul.children) old.set(el.dataset.key, el);
  const els = items.map((it) => {
    const key = String(keyOf(it));
    const prev = old.get(key);
    let fresh = sigOf ? null : make(it);
    const sig = sigOf ? sigOf(it) : fresh.outerHTML;
    // Unchanged, same element: nothing rebuilt, nothing announced twice.
    if (prev && built.get(prev) === sig) return prev;
    fresh = fresh || make(it);
    built.set(fresh, sig);
    fresh.dataset.key = key;
    return fresh;
  });
  els.forEach((el, i) => {
    if (ul.children[i] !== el) ul.insertBefore(el, ul.children[i] || null);
  });
  while (ul.children.length > els.length) ul.lastElementChild.remove();
  if (hadFocus && document.activeElement !== hadFocus) {
    const target = document.contains(hadFocus) ? hadFocus : focusSel && ul.querySelector(focusSel);
    if (target) target.focus({ preventScroll: true });
  }
}

function remembered(key) {
  try {
    return localStorage.getItem(key) || '';
  } catch {
    return '';
  }
}

function remember(key, value) {
  try {
    if (value) localStorage.setItem(key, value);
  } catch {
    /* private mode */
  }
}
