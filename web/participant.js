// Participant page (phone first): where the session stands, live; during the
// debate, asking and upvoting questions and asking for the floor; during a vote,
// the text and the ballot, then the outcome and the check of one's receipt.
//
// Everything a participant wrote reaches the DOM through h() / setText(): text,
// never HTML. Commands go through the client, which queues them while offline;
// the page shows each one's fate (waiting, sending, done, refused and why).

import {
  connect, h, fill, setText, $t, participantTokenKey, itemStatus, byUpvotes, fmtDuration, speakingSeconds, every, loc,
  langNodes, setLangText,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import {
  $, pathCode, startPage, showContent, showFatal, renderPhase, renderNow, agendaRow, itemMeta, nextUp, renderPlannedEnd,
  CHOICES, pollDraft, voteNumbers, methodText, ruleText, turnoutText, pollsByTime, fmtNum, fmtPct,
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

/** A voting code as typed: spaces and dashes dropped, upper case (the server does the same). */
const normaliseCode = (v) => String(v || '').replace(/[\s-]+/g, '').toUpperCase();

/** `#claim=CODE` in the link: taken once, then removed from the address (and the history). */
let linkClaim = (() => {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (!params.has('claim')) return null;
  const c = normaliseCode(params.get('claim'));
  params.delete('claim');
  const rest = params.toString();
  try {
    history.replaceState(history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`);
  } catch {
    /* the code stays in the address; it is sent once all the same */
  }
  return c || null;
})();

const isRoster = (s) => !!(s.settings && s.settings.voting === 'roster');
/** Whether this phone may vote now: always in open mode; in roster mode, holding an entry. */
function entitled(s) {
  if (!isRoster(s)) return true;
  const v = s.voter;
  return !!(v && v.entry != null && !v.moved);
}

function renderVotes(s) {
  const roster = isRoster(s);
  if (roster && linkClaim && client.welcomed) {
    const c = linkClaim;
    linkClaim = null;
    sendClaim(c);
  } else if (!roster && linkClaim) {
    linkClaim = null; // open mode: everyone votes, there is nothing to claim
  }
  const { open, ended } = pollsByTime(s);
  const shown = open.length ? open : ended.slice(0, 1);
  const past = ended.filter((p) => !shown.includes(p));
  const consensus = (s.drafts || []).filter((d) => d.status === 'adopted' && d.adopted_by === 'consensus');
  $('votes').hidden = !(roster || shown.length || consensus.length);
  renderVoter(s, roster);
  syncCards(s, shown);
  renderPast(s, past, consensus);
  announce(s, shown);
}

// ---- the voting right (roster mode)

let claimSent = null; // the latest voter.claim record, whose fate the form shows

function renderVoter(s, roster) {
  const box = $('voter');
  const v = s.voter;
  const holds = !!(v && v.entry != null && !v.moved);
  const moved = !!(v && v.entry != null && v.moved);
  const ended = s.phase === 'ended';
  box.hidden = !roster || (ended && !holds);
  if (box.hidden) return;
  const name = $('voter-name');
  name.hidden = !holds;
  if (holds) {
    const who = v.organisation
      ? t('part.claim.as_org', { name: v.name || '', organisation: v.organisation })
      : t('part.claim.as', { name: v.name || '' });
    const w = Number(v.weight) || 1;
    setText(name, w > 1 ? `${who} · ${t('part.claim.weight', { n: w })}` : who);
  }
  $('voter-moved').hidden = !moved;
  setText($('voter-moved'), moved ? t('part.claim.moved') : '');
  $('claim-form').hidden = holds || ended;
  const busy = client.pending('voter.claim').length > 0;
  if (busy) $('claim-submit').setAttribute('aria-busy', 'true');
  else $('claim-submit').removeAttribute('aria-busy');
  if (claimSent) showClaimFate(claimSent);
}

$('claim-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const input = $('claim-code');
  const code = normaliseCode(input.value);
  if (!/^[A-Z0-9]{8}$/.test(code)) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return claimStatus('error', t('part.claim.length'));
  }
  sendClaim(code);
});
$('claim-code').addEventListener('input', () => $('claim-code').removeAttribute('aria-invalid'));

function sendClaim(code) {
  if (!client || client.pending('voter.claim').length) return;
  claimSent = client.send('voter.claim', { code });
  showClaimFate(claimSent);
  schedule();
}

function claimStatus(kind, message) {
  const el = $('claim-error');
  el.dataset.kind = kind;
  setText(el, message);
}

function showClaimFate(rec) {
  if (rec.status === 'queued') claimStatus('info', t('part.claim.queued'));
  else if (rec.status === 'sent') claimStatus('info', t('part.claim.sending'));
  else if (rec.status === 'acked') {
    claimStatus('ok', '');
    $('claim-code').value = '';
  } else if (rec.status === 'refused') {
    const conflict = rec.error && rec.error.code === 'conflict';
    claimStatus(conflict ? 'info' : 'error', refusal('claim', rec.error));
    if (!conflict) {
      const input = $('claim-code');
      input.setAttribute('aria-invalid', 'true');
      if (!input.value) input.value = rec.fields.code;
    }
  }
}

// ---- the voting cards: one per open poll, else the latest result

const cards = new Map(); // poll id -> {el, parts, status}
/** Polls whose last change was refused because the vote had closed meanwhile. */
const lostChange = new Set();
let cardSeq = 0;

function syncCards(s, polls) {
  const box = $('vote-cards');
  const keep = new Set(polls.map((p) => p.id));
  for (const [id, c] of cards) {
    if (!keep.has(id)) {
      c.el.remove();
      cards.delete(id);
    }
  }
  polls.forEach((p, i) => {
    let c = cards.get(p.id);
    if (!c) {
      c = makeCard(p.id);
      cards.set(p.id, c);
    }
    updateCard(c, p, s);
    if (box.children[i] !== c.el) box.insertBefore(c.el, box.children[i] || null);
  });
}

function makeCard(pollId) {
  const k = (cardSeq += 1);
  const P = {};
  P.label = h('h3', { class: 'label vote-label', id: `vc${k}-label` });
  P.kind = h('p', { class: 'vote-kind' });
  P.title = h('p', { class: 'vote-title', id: `vc${k}-title`, 'data-testid': 'vote-draft-title' });
  P.text = h('div', { class: 'vote-text', 'data-testid': 'vote-draft-text', tabindex: '0', role: 'region' });
  P.method = h('p', { class: 'vote-method' });
  P.secret = h('p', { class: 'vote-secret', 'data-testid': 'vote-secret-note' });
  P.buttons = {};
  P.ballotLabel = h('p', { class: 'ballot-label', id: `vc${k}-ballot` });
  P.ballot = h(
    'div',
    { class: 'ballot', role: 'group', 'aria-labelledby': `vc${k}-ballot` },
    P.ballotLabel,
    CHOICES.map((c) => {
      P.buttons[c] = h(
        'button',
        {
          type: 'button', class: `ballot-btn is-${c}`, 'data-testid': `vote-${c}`, 'data-id': pollId, 'data-choice': c,
          'aria-pressed': 'false', onclick: () => castVote(pollId, c),
        },
        h('span', { class: 'ballot-mark', 'aria-hidden': 'true' }),
        h('span', { class: 'ballot-word' }),
      );
      return P.buttons[c];
    }),
  );
  P.pending = h('p', { class: 'vote-pending', 'data-testid': 'vote-pending' });
  P.choice = h('span', { class: 'vote-choice', 'data-testid': 'vote-choice' });
  P.receipt = h('span', { class: 'vote-receipt', 'data-testid': 'vote-receipt' });
  P.check = h('span', { class: 'receipt-check', 'data-testid': 'receipt-check' });
  P.sep1 = h('span', { class: 'sep' }, ', ');
  P.sep2 = h('span', { class: 'sep' }, ', ');
  P.mine = h('p', { class: 'vote-mine', role: 'status' }, P.choice, P.sep1, P.receipt, P.sep2, P.check);
  P.hint = h('p', { class: 'hint vote-hint' });
  P.warning = h('p', { class: 'vote-warning', role: 'alert' });
  P.needCode = h('p', { class: 'note vote-need-code' });
  P.outcome = h('p', { class: 'vote-outcome' });
  P.rule = h('p', { class: 'vote-rule', 'data-testid': 'vote-rule' });
  P.result = h('div', { class: 'vote-result', 'data-testid': 'vote-result' }, P.outcome, P.rule);
  P.bars = {};
  P.tally = h(
    'ul',
    { class: 'vote-bars', 'data-testid': 'vote-tally' },
    CHOICES.map((c) => {
      const fill = h('span', { class: 'vbar-fill' });
      const num = h('span', { class: 'vbar-num' });
      const word = h('span', { class: 'vbar-word' });
      P.bars[c] = { li: h('li', { class: `vbar is-${c}`, 'data-choice': c }, word, h('span', { class: 'vbar-track', 'aria-hidden': 'true' }, fill), num), fill, num, word };
      return P.bars[c].li;
    }),
  );
  P.hiddenNote = h('p', { class: 'muted small vote-hidden-note' });
  P.turnout = h('p', { class: 'vote-turnout', 'data-testid': 'vote-turnout' });
  P.cancelled = h('p', { class: 'note' });
  const el = h('article', { class: 'card vote-card', 'data-testid': 'vote-card', 'data-poll': pollId, 'aria-labelledby': `vc${k}-label vc${k}-title` });
  return { el, parts: P, status: null, pollId };
}

/** The choice shown: the last one on its way, else the one the server acknowledged. */
function pendingBallot(pollId) {
  return client.pending('vote.cast').filter((c) => c.fields.poll === pollId).pop() || null;
}

function updateCard(c, p, s) {
  const P = c.parts;
  const el = c.el;
  const d = pollDraft(s, p);
  const ballot = (s.ballots && s.ballots[p.id]) || null;
  const open = p.status === 'open';
  el.dataset.status = p.status;
  el.dataset.outcome = p.outcome || '';
  if (c.status !== p.status) {
    // The order of the parts: the ballot first while open; the outcome first once closed.
    c.status = p.status;
    fill(el);
    if (open) {
      el.append(P.label, P.kind, P.title, P.text, P.needCode, P.ballot, P.pending, P.mine, P.hint, P.secret, P.method, P.tally, P.hiddenNote, P.turnout);
    } else if (p.status === 'closed') {
      el.append(P.label, P.kind, P.title, P.result, P.tally, P.turnout, P.mine, P.warning, P.hint, P.text);
    } else {
      el.append(P.label, P.kind, P.title, P.cancelled, P.text);
    }
  }
  setText(P.label, t(open ? 'part.vote.open_label' : p.status === 'closed' ? 'part.vote.closed_label' : 'part.vote.cancelled_label'));
  setText(P.kind, d.kind);
  setLangText(P.title, d.draft ? d.draft.title : '');
  setLangText(P.text, d.draft ? d.draft.text : '');
  P.text.setAttribute('aria-label', t('part.vote.text_label'));
  setText(P.cancelled, t('part.vote.cancelled'));

  // How it is decided; secret or not.
  setText(P.method, methodText(p));
  P.secret.hidden = !p.secret;
  setText(P.secret, p.secret ? t('part.vote.secret') : '');

  // The figures: live bars (unless hidden), the turnout.
  const n = voteNumbers(p);
  P.tally.hidden = !n;
  if (n) {
    for (const ch of CHOICES) {
      const b = P.bars[ch];
      setText(b.word, tv('vote.choice', ch));
      setText(b.num, `${fmtNum(n.counts[ch])} · ${fmtPct(n.share[ch])}`);
      b.fill.style.width = `${(n.share[ch] * 100).toFixed(1)}%`;
      b.li.dataset.count = String(n.counts[ch]);
    }
  }
  P.hiddenNote.hidden = !!n || !open;
  setText(P.hiddenNote, t('part.vote.hidden'));
  setText(P.turnout, turnoutText(p));

  // One's own ballot.
  const mayVote = entitled(s) && s.phase !== 'ended';
  const pend = open ? pendingBallot(p.id) : null;
  const shownChoice = pend ? pend.fields.choice : ballot ? ballot.choice : null;
  setText(P.ballotLabel, t('part.vote.your_vote'));
  P.ballot.hidden = !open || !mayVote;
  for (const ch of CHOICES) {
    const b = P.buttons[ch];
    const pressed = shownChoice === ch;
    b.setAttribute('aria-pressed', String(pressed));
    if (pressed && pend) b.dataset.pending = pend.status;
    else delete b.dataset.pending;
    setText(b.querySelector('.ballot-mark'), pressed ? '✓' : '');
    setText(b.querySelector('.ballot-word'), tv('vote.choice', ch));
  }
  P.needCode.hidden = !open || mayVote || !isRoster(s) || s.phase === 'ended';
  setText(P.needCode, t('part.vote.need_code'));
  P.pending.hidden = !pend;
  P.pending.dataset.status = pend ? pend.status : '';
  setText(P.pending, pend ? t(pend.status === 'queued' ? 'part.vote.pending_queued' : 'part.vote.pending_sent', { choice: tv('vote.choice', pend.fields.choice) }) : '');

  P.receipt.hidden = !(ballot && ballot.receipt);
  showReceipt(P.receipt, ballot && ballot.receipt);
  P.sep1.hidden = P.receipt.hidden;
  if (open) {
    P.mine.hidden = !ballot && !mayVote;
    setText(P.choice, ballot ? t('part.vote.choice', { choice: tv('vote.choice', ballot.choice) }) : t('part.vote.none'));
    P.check.hidden = true;
    P.sep2.hidden = true;
    P.hint.hidden = !mayVote;
    setText(P.hint, ballot && ballot.receipt ? `${t('part.vote.change_hint')} ${t('part.vote.receipt_hint')}` : t('part.vote.change_hint'));
    P.warning.hidden = true;
  } else if (p.status === 'closed') {
    setText(P.outcome, tv('vote.outcome', p.outcome));
    P.result.dataset.outcome = p.outcome || '';
    setText(P.rule, ruleText(p));
    P.mine.hidden = !ballot && !lostChange.has(p.id) && !(isRoster(s) ? s.voter && s.voter.entry != null : true);
    setText(P.choice, ballot ? t('part.vote.ballot', { choice: tv('vote.choice', ballot.choice) }) : t('part.vote.no_ballot'));
    const chk = ballot && ballot.receipt ? checkReceipt(p.id, ballot) : null;
    P.check.hidden = !chk;
    P.sep2.hidden = !chk;
    P.check.dataset.state = chk ? chk.state : '';
    setText(P.check, chk ? checkText(chk) : '');
    const bad = !!chk && chk.state === 'missing';
    P.warning.hidden = !bad;
    setText(P.warning, bad ? t('part.vote.check.warning') : '');
    P.hint.hidden = !lostChange.has(p.id);
    setText(P.hint, t('part.vote.lost_change'));
  }
}

/** "receipt K7-PQ2M", the code in its own span (monospace); rebuilt only when it changes. */
function showReceipt(el, receipt) {
  const sig = `${currentLang()}|${receipt || ''}`;
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  if (!receipt) return fill(el);
  const [before, after = ''] = t('part.vote.receipt', { receipt: '\u0000' }).split('\u0000');
  return fill(el, before, h('span', { class: 'receipt-code' }, receipt), after);
}

/** One tap casts (or changes) the vote; a change not yet sent is replaced, not queued behind. */
function castVote(pollId, choice) {
  const s = client && client.state;
  const p = s && (s.polls || []).find((x) => x.id === pollId);
  if (!p || p.status !== 'open' || !entitled(s)) return;
  const ballot = s.ballots && s.ballots[pollId];
  const pend = pendingBallot(pollId);
  if (pend && pend.fields.choice === choice) return;
  if (pend && client.cancel(pend.id) && ballot && ballot.choice === choice) {
    schedule();
    return; // back to what the server already has
  }
  if (!pend && ballot && ballot.choice === choice) return;
  lostChange.delete(pollId);
  client.send('vote.cast', { poll: pollId, choice });
  schedule();
}

// ---- the receipt check, after the close

const checks = new Map(); // poll id -> {state: checking|counted|missing, listed, offline, timer, tries}

/**
 * Looks the receipt up in the published ballots (`receipts.json`), once per poll; a failed
 * fetch (offline, the server busy) is tried again with a growing pause. The first try waits
 * a moment at random, so a room of phones does not ask at the same instant.
 */
function checkReceipt(pollId, ballot) {
  let c = checks.get(pollId);
  if (c && c.receipt === ballot.receipt && c.choice === ballot.choice) return c;
  if (c) clearTimeout(c.timer);
  c = { state: 'checking', listed: null, offline: false, tries: 0, timer: null, receipt: ballot.receipt, choice: ballot.choice };
  checks.set(pollId, c);
  c.timer = setTimeout(() => fetchReceipts(pollId, c), 200 + Math.random() * 1500);
  return c;
}

async function fetchReceipts(pollId, c) {
  if (checks.get(pollId) !== c) return;
  c.tries += 1;
  try {
    const res = await fetch(`/j/${encodeURIComponent(code)}/polls/${encodeURIComponent(pollId)}/receipts.json`, {
      cache: 'no-store', headers: { accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`receipts: ${res.status}`);
    const body = await res.json();
    const list = Array.isArray(body.receipts) ? body.receipts : [];
    const found = list.find((r) => r && r.receipt === c.receipt) || null;
    c.listed = found ? found.choice : null;
    c.state = found && found.choice === c.choice ? 'counted' : 'missing';
    c.offline = false;
  } catch {
    c.offline = !navigator.onLine || c.tries > 1;
    const pause = Math.min(30000, 1000 * 2 ** Math.min(c.tries, 5)) * (0.75 + Math.random() / 2);
    c.timer = setTimeout(() => fetchReceipts(pollId, c), pause);
  }
  schedule();
}

addEventListener('online', () => {
  for (const [id, c] of checks) {
    if (c.state === 'checking') {
      clearTimeout(c.timer);
      c.timer = setTimeout(() => fetchReceipts(id, c), Math.random() * 1500);
    }
  }
});

function checkText(c) {
  if (c.state === 'counted') return t('part.vote.check.counted');
  if (c.state === 'missing') {
    return c.listed ? t('part.vote.check.mismatch', { choice: tv('vote.choice', c.listed) }) : t('part.vote.check.missing');
  }
  return c.offline ? `${t('part.vote.check.checking')} ${t('part.vote.check.offline')}` : t('part.vote.check.checking');
}

// ---- earlier votes, and what screen readers hear

function renderPast(s, past, consensus) {
  const box = $('past-polls');
  box.hidden = past.length === 0 && consensus.length === 0;
  if (box.hidden) return;
  const lang = currentLang();
  const items = past.map((p) => {
    const d = pollDraft(s, p);
    const n = voteNumbers(p);
    const figures = n ? CHOICES.map((ch) => `${tv('vote.choice', ch)} ${fmtNum(n.counts[ch])}`).join(' · ') : '';
    const status = p.status === 'closed' ? tv('vote.outcome', p.outcome) : t('part.vote.cancelled_label');
    const ballot = s.ballots && s.ballots[p.id];
    return h(
      'li',
      { class: `past-item is-${p.outcome || p.status}`, 'data-testid': 'past-poll', 'data-poll': p.id, 'data-outcome': p.outcome || p.status },
      h('p', { class: 'past-title' }, h('span', { class: 'vote-kind' }, d.kind), ' ', langNodes(d.draft ? d.draft.title : '', lang)),
      h(
        'p',
        { class: 'past-meta' },
        h('span', { class: `past-outcome is-${p.outcome || p.status}` }, status),
        figures ? h('span', null, figures) : null,
        ballot ? h('span', null, t('part.vote.ballot', { choice: tv('vote.choice', ballot.choice) })) : null,
      ),
    );
  });
  for (const d of consensus) {
    items.push(h(
      'li',
      { class: 'past-item is-adopted', 'data-testid': 'past-poll', 'data-draft': d.id, 'data-outcome': 'consensus' },
      h('p', { class: 'past-title' }, h('span', { class: 'vote-kind' }, tv('draft.kind', d.kind)), ' ', langNodes(d.title, lang)),
      h('p', { class: 'past-meta' }, h('span', { class: 'past-outcome is-adopted' }, t('part.vote.consensus'))),
    ));
  }
  fill($('past-list'), items);
}

/** A vote just opened: its card comes into view, unless the person is typing something. */
function bringIntoView(pollId) {
  const a = document.activeElement;
  if (a && (a.tagName === 'TEXTAREA' || a.tagName === 'INPUT')) return;
  requestAnimationFrame(() => {
    const c = cards.get(pollId);
    if (!c) return;
    const top = c.el.getBoundingClientRect().top;
    if (top >= 0 && top < innerHeight / 2) return;
    c.el.scrollIntoView({ block: 'start', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  });
}

/** Says it once when a vote opens, closes or is cancelled (not on the first render). */
const heard = new Map();
let firstVotes = true;
function announce(s, shown) {
  let msg = '';
  for (const p of shown) {
    const was = heard.get(p.id);
    if (was === p.status) continue;
    heard.set(p.id, p.status);
    if (firstVotes) continue;
    if (p.status === 'open') {
      msg = t('part.vote.live_open', { title: pollDraft(s, p).title });
      bringIntoView(p.id);
    }
    else if (p.status === 'closed') msg = t('part.vote.live_closed', { outcome: tv('vote.outcome', p.outcome) });
    else msg = t('part.vote.live_cancelled');
  }
  firstVotes = false;
  if (msg) setText($('vote-live'), msg);
}

// ---------------------------------------------------------------- command fates

function onCommand(rec) {
  if (rec === askSent) showAskFate(rec);
  if (rec === claimSent) showClaimFate(rec);
  if (rec.status === 'refused' && rec.op === 'vote.cast') {
    const c = rec.error && rec.error.code;
    if (c === 'closed') lostChange.add(rec.fields.poll);
    notice(refusal('vote', rec.error));
  }
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

/** A refusal in the reader's language: the op's own words for the code, else the generic ones. */
function refusal(group, error) {
  const c = (error && error.code) || 'invalid';
  const k = `part.err.${group}.${c}`;
  const s = t(k);
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
