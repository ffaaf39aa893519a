// Moderator console: moves the room through the agenda, opens Q&A, moderates the
// questions (approve, reject, answer, show on screen, merge duplicates), runs the
// list of speakers, runs the votes on the draft texts (votes.js), edits the agenda live
// (agendaedit.js), ends the session.

import {
  connect, h, fill, setText, reconcile, pathSegment, fragmentKey, fmtDuration, fmtTime, every,
  byUpvotes, timerLevel, speakingSeconds, loc, langNodes,
} from './client.js';
import { suggestDuplicates } from './similar.js';
import { t, tv, currentLang } from './i18n.js';
import { $, startPage, showContent, showFatal, renderPhase, renderNow, nextUp } from './render.js';
import { renderJoinLink, renderTimer } from './room.js';
import { mountVotes } from './votes.js';
import { mountAgenda } from './agendaedit.js';

const LOG_SIZE = 8;
let toastTimer = null;

const sessionId = pathSegment(1);
const key = fragmentKey();
const client = sessionId && key ? connect({ session: sessionId, key }) : null;
const votes = client ? mountVotes(client, { sessionId, key }) : null;
const agenda = client ? mountAgenda(client, { busy: () => busy() }) : null;
const ready = startPage(client, render, () => {
  render();
  renderPresence();
  renderLog();
});
if (client) {
  client.on('presence', renderPresence);
  client.on('command', onCommand);
}

// ---------------------------------------------------------------- actions

// While a move is unanswered the buttons say so (aria-busy) and ignore clicks,
// so a double click cannot skip an item; they are not disabled, to keep focus.
$('btn-next').addEventListener('click', () => client && !busy() && client.send('agenda.next'));
$('btn-prev').addEventListener('click', () => client && !busy() && client.send('agenda.prev'));
$('btn-qa').addEventListener('click', () => {
  if (!client || !client.state) return;
  client.send(client.state.qa_open ? 'qa.close' : 'qa.open');
});
$('btn-end').addEventListener('click', () => {
  if (busy()) return;
  $('end-confirm').hidden = false;
  $('btn-end').hidden = true;
  $('btn-end-cancel').focus();
});
$('btn-end-cancel').addEventListener('click', closeConfirm);
$('btn-end-confirm').addEventListener('click', () => {
  closeConfirm();
  $('btn-end').focus();
  if (client && !busy()) client.send('session.end');
});
$('cmd-log').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-cancel]');
  if (b && client) client.cancel(b.dataset.cancel);
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('end-confirm').hidden) closeConfirm();
});

function closeConfirm() {
  $('end-confirm').hidden = true;
  $('btn-end').hidden = false;
}

every(500, tick);

// ---------------------------------------------------------------- rendering

/** True while an agenda or end command is unanswered: one move at a time. */
function busy() {
  return client.pending('agenda.').length > 0 || client.pending('session.').length > 0;
}

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'denied', 'key');
  const s = client.state;
  if (!s) return;
  showContent();
  document.title = `${t('role.moderator')} · ${s.reference || loc(s.title)} · Palabre`;
  renderBarTitle(s);
  renderPhase(s);
  renderNow(s);
  renderButtons(s);
  agenda.render(s);
  for (const it of s.agenda.items) itemTitles.set(it.id, it.title);
  renderJoin(s);
  renderQa(s);
  renderEnd(s);
  renderQuestions(s);
  renderFloor(s);
  votes.render(s);
  tick();
}

/** "SOU 94 · the title", the title in the page's language (with its badge when in another). */
let barSig = null;
function renderBarTitle(s) {
  const el = $('bar-title');
  const sig = JSON.stringify([currentLang(), s.reference, s.title]);
  if (sig === barSig) return;
  barSig = sig;
  fill(el, s.reference || null, s.reference && loc(s.title) ? ' · ' : null, langNodes(s.title));
}

function renderButtons(s) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const b = busy();
  const pending = s.phase === 'pending';
  const next = $('btn-next');
  next.dataset.mode = pending ? 'start' : 'next';
  setText($('btn-next-label'), pending ? t('cmd.start') : t('cmd.next'));
  next.disabled = s.phase === 'ended' || (cur != null && cur >= items.length - 1);
  $('btn-prev').disabled = s.phase !== 'running' || cur == null || cur <= 0;
  next.setAttribute('aria-busy', String(b));
  $('btn-prev').setAttribute('aria-busy', String(b));

  const upEl = $('next-up');
  if (s.phase === 'pending' && items.length) nextUp(upEl, 'now.first', items[0]);
  else if (s.phase === 'running' && cur != null && cur < items.length - 1) nextUp(upEl, 'now.next', items[cur + 1]);
  else setText(upEl, s.phase === 'running' && cur === items.length - 1 ? t('now.last_item') : '');
}

function renderJoin(s) {
  const code = s.code || client.code || '';
  setText($('join-code'), code);
  const { url, qr } = renderJoinLink(s, code);
  $('link-participant').href = url;
  $('link-screen').href = `/screen/${encodeURIComponent(code)}`;
  $('qr-link').href = qr;
}

function renderQa(s) {
  const open = !!s.qa_open;
  const pill = $('qa-state');
  pill.dataset.open = String(open);
  setText(pill, open ? t('qa.open') : t('qa.closed'));
  const btn = $('btn-qa');
  btn.setAttribute('aria-pressed', String(open));
  setText(btn, open ? t('qa.close_btn') : t('qa.open_btn'));
  btn.disabled = s.phase === 'ended' || client.pending('qa.').length > 0;
}

function renderEnd(s) {
  const ended = s.phase === 'ended';
  $('btn-end').disabled = ended;
  $('btn-end').setAttribute('aria-busy', String(busy()));
  if (ended) closeConfirm();
}

function renderPresence() {
  if (!ready() || !client || !client.presence) return;
  const p = client.presence;
  $('presence').hidden = false;
  const n = Number(p.participants) || 0;
  setText($('connected-count'), String(n));
  setText($('connected-label'), t('presence.participants', { n }));
  $('presence').title = t('presence.total', { n: Number(p.connected) || 0 });
  $('presence').dataset.connected = String(p.connected);
}

/** Live numbers: current item time against its plan; the ticking agenda cell. */
function tick() {
  if (!ready() || !client || !client.state) return;
  const s = client.state;
  renderFloorTimer(s);
  const shown = renderTimer(s, client.now());
  if (!shown) return;
  const { secs, planned } = shown;
  let left = '';
  if (planned) {
    const remaining = planned - secs;
    left = remaining >= 0
      ? t('timer.left', { time: fmtDuration(remaining) })
      : t('timer.over', { time: fmtDuration(-remaining) });
  }
  $('timer-fill').style.width = planned ? `${Math.min(100, (secs / planned) * 100).toFixed(1)}%` : '0';
  setText($('timer-left'), left);
  agenda.tick();
}

// ---------------------------------------------------------------- command fates

function onCommand(rec) {
  renderLog();
  if (client.state) {
    renderButtons(client.state);
    agenda.onCommand(rec);
    agenda.render(client.state);
    renderQa(client.state);
    renderEnd(client.state);
    renderQuestions(client.state);
    renderFloor(client.state);
    votes.onCommand(rec);
  }
  if (rec.status === 'refused') toast(`${opLabel(rec)}: ${reason(rec)}`);
}

function opLabel(rec) {
  const f = rec.fields || {};
  if (rec.op === 'question.highlight' && f.question == null) return t('op.question.unhighlight');
  // The live agenda changes name their item by id (insert: by the new item itself); a removed
  // item is gone from the state, its title is remembered.
  if (rec.op === 'agenda.insert' || typeof f.item === 'string') {
    const it = client.state && typeof f.item === 'string' ? client.state.agenda.items.find((x) => x.id === f.item) : null;
    if (it) itemTitles.set(it.id, it.title);
    const given = rec.op === 'agenda.insert' ? f.item && f.item.title : it ? it.title : itemTitles.get(f.item);
    return t(`op.${rec.op}`, { title: clip(given == null ? String(f.item) : loc(given), 60) });
  }
  const i = f.item != null ? Number(f.item) + 1 : '';
  return t(`op.${rec.op}`, { i });
}

function reason(rec) {
  const e = rec.error || {};
  const base = tv('error', e.code || 'invalid');
  return e.message ? `${base} (${e.message})` : base;
}

/** Agenda item id → title, for the log lines of items since removed. */
const itemTitles = new Map();

function renderLog() {
  if (!ready() || !client) return;
  const recs = client.commands.slice(-LOG_SIZE).reverse();
  $('cmd-empty').hidden = recs.length > 0;
  fill(
    $('cmd-log'),
    recs.map((rec) =>
      h(
        'li',
        { class: `cmd is-${rec.status}`, 'data-testid': 'cmd-entry', 'data-status': rec.status, 'data-op': rec.op, 'data-id': rec.id },
        h('span', { class: 'cmd-time' }, fmtTime(rec.at, currentLang())),
        h('span', { class: 'cmd-op' }, opLabel(rec)),
        h('span', { class: 'cmd-status' }, tv('cmd.status', rec.status)),
        rec.status === 'refused' ? h('span', { class: 'cmd-reason' }, reason(rec)) : null,
        rec.status === 'queued' && !rec.wired
          ? h('button', { type: 'button', class: 'btn btn-small', 'data-cancel': rec.id, 'data-testid': 'cmd-cancel' }, t('common.cancel'))
          : null,
      ),
    ),
  );
}

function toast(text) {
  const el = $('toast');
  setText(el, text);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 7000);
}

// ---------------------------------------------------------------- questions

const FILTERS = ['pending', 'approved', 'answered', 'rejected'];
/** Rows drawn at first and added by "Show more": hundreds of rows would slow a phone down. */
const PAGE = 60;
/** What the moderator chose in the Questions panel; survives renders. */
const qui = {
  filter: null, // null until chosen: pending in a moderated session, else approved
  selected: null, // id of the selected question
  index: 0, // its place, to select the next one when it leaves the list
  mergeFor: null, // id of the question whose "merge into…" picker is open
  list: [], // the questions shown, in order
  rows: new Map(), // id → {sig, el}: rows rebuilt only when they change
  pending: null, // last pending count, to announce new questions
  shown: PAGE, // how many rows of the list are drawn
};

// Hundreds of rows: one time formatter per language, plural strings remembered
// (Intl objects are costly to make, and t() makes one per call with {n}).
const clocks = new Map();
function clock(ms, lang) {
  if (!clocks.has(lang)) {
    let f = null;
    try {
      f = new Intl.DateTimeFormat(lang, { hour: 'numeric', minute: '2-digit' });
    } catch {
      /* fmtTime below */
    }
    clocks.set(lang, f);
  }
  const f = clocks.get(lang);
  return f && ms != null && Number.isFinite(Number(ms)) ? f.format(new Date(Number(ms))) : fmtTime(ms, lang);
}
const plurals = new Map();
function tn(key, n) {
  const k = `${currentLang()}|${key}|${n}`;
  let v = plurals.get(k);
  if (v === undefined) {
    if (plurals.size > 2000) plurals.clear();
    v = t(key, { n });
    plurals.set(k, v);
  }
  return v;
}

const byAt = (a, b) => (Number(a.at) || 0) - (Number(b.at) || 0) || String(a.id).localeCompare(String(b.id));

/** The questions the console deals with (merged ones are gone from the view). */
function questionsOf(s) {
  return (Array.isArray(s.questions) ? s.questions : []).filter((q) => q && FILTERS.includes(q.status));
}

function shownFilter(s) {
  if (qui.filter) return qui.filter;
  return s.settings && s.settings.moderate_questions === false ? 'approved' : 'pending';
}

/** Ids of the questions and requests a command is on its way for: their buttons wait. */
function busyIds(prefix, field) {
  const ids = new Set();
  if (!client) return ids;
  for (const c of client.pending(prefix)) if (c.fields && c.fields[field] != null) ids.add(c.fields[field]);
  return ids;
}

function renderQuestions(s) {
  if (!client) return;
  const all = questionsOf(s);
  const lang = currentLang();
  const counts = { pending: 0, approved: 0, answered: 0, rejected: 0 };
  for (const q of all) counts[q.status] += 1;
  const filter = shownFilter(s);
  for (const b of document.querySelectorAll('[data-testid="q-filter"]')) {
    b.setAttribute('aria-pressed', String(b.dataset.filter === filter));
    setText(b.querySelector('.q-filter-count'), String(counts[b.dataset.filter] || 0));
  }
  const head = $('q-head-count');
  head.hidden = counts.pending === 0;
  setText(head, t('q.waiting', { n: counts.pending }));

  const open = !!s.qa_open;
  const pill = $('q-qa-state');
  pill.dataset.open = String(open);
  setText(pill, open ? t('q.qa_open') : t('q.qa_closed'));

  const hl = s.highlighted != null ? all.find((q) => q.id === s.highlighted) : null;
  $('q-onscreen').hidden = !hl;
  setText($('q-onscreen-text'), hl ? hl.text : '');
  $('q-clear-highlight').disabled = s.phase === 'ended';
  $('q-clear-highlight').setAttribute('aria-busy', String(client.pending('question.highlight').length > 0));

  const sorted = all.filter((q) => q.status === filter).sort(filter === 'pending' ? byAt : byUpvotes);
  const busy = busyIds('question.', 'question');

  let idx = sorted.findIndex((q) => q.id === qui.selected);
  if (idx < 0 && sorted.length) idx = Math.min(qui.index, sorted.length - 1);
  qui.selected = idx >= 0 ? sorted[idx].id : null;
  qui.index = Math.max(0, idx);
  if (idx >= qui.shown) qui.shown = idx + 1;
  const list = sorted.slice(0, qui.shown);
  qui.list = list;
  const dups = suggestDuplicates(all, { limit: 2, only: new Set(list.map((q) => q.id)) });
  if (qui.mergeFor != null && !list.some((q) => q.id === qui.mergeFor)) qui.mergeFor = null;

  const box = $('mod-questions');
  const focus = focusIn(box, 'mod-question');
  const seen = new Set();
  const els = list.map((q) => {
    seen.add(q.id);
    const ctx = {
      selected: q.id === qui.selected,
      highlighted: q.id === s.highlighted,
      dups: dups.get(q.id) || [],
      busy: busy.has(q.id),
      merging: q.id === qui.mergeFor,
      ended: s.phase === 'ended',
    };
    const sig = JSON.stringify([
      lang, q.text, q.name, q.at, q.status, q.upvotes, ctx.selected, ctx.highlighted, ctx.busy, ctx.ended, ctx.merging,
      ctx.dups.map((d) => [d.question.id, d.question.text, d.question.status, d.question.upvotes]),
      // The merge picker lists the other questions: redrawn when they come or go, not on upvotes.
      ctx.merging ? all.map((x) => `${x.id}:${x.status}`).join() : '',
    ]);
    const cached = qui.rows.get(q.id);
    if (cached && cached.sig === sig) return cached.el;
    const el = questionRow(q, ctx, all, lang);
    // A redrawn picker keeps the choice being made.
    const was = cached && cached.el.querySelector('select');
    const now = el.querySelector('select');
    if (was && now && [...now.options].some((o) => o.value === was.value)) now.value = was.value;
    qui.rows.set(q.id, { sig, el });
    return el;
  });
  for (const id of qui.rows.keys()) if (!seen.has(id)) qui.rows.delete(id);
  reconcile(box, els);
  restoreFocus(box, 'mod-question', focus, qui.selected);

  const more = $('q-more');
  more.hidden = sorted.length <= list.length;
  setText(more, t('q.more', { n: Math.min(PAGE, sorted.length - list.length), total: sorted.length - list.length }));

  const empty = $('q-empty');
  empty.hidden = list.length > 0;
  setText(empty, list.length ? '' : t(`q.empty.${filter}`));

  // Say when a new question waits (not on the first render).
  if (qui.pending != null && counts.pending > qui.pending) {
    $('q-live').textContent = '';
    setText($('q-live'), t('q.live_new', { n: counts.pending }));
  }
  qui.pending = counts.pending;
}

function questionRow(q, ctx, all, lang) {
  const textId = `qt-${q.id}`;
  const n = Number(q.upvotes) || 0;
  const btn = (act, testid, label, extra = {}) =>
    h(
      'button',
      {
        type: 'button',
        class: `btn btn-small${extra.primary ? ' btn-primary' : ''}${extra.danger ? ' btn-quiet-danger' : ''}`,
        'data-act': act,
        'data-testid': testid,
        'aria-describedby': textId,
        'aria-busy': ctx.busy ? 'true' : null,
        'aria-pressed': extra.pressed == null ? null : String(extra.pressed),
        'aria-expanded': extra.expanded == null ? null : String(extra.expanded),
        disabled: ctx.ended,
      },
      label,
    );
  const actions = [];
  if (q.status === 'pending') {
    actions.push(btn('approve', 'q-approve', t('q.approve'), { primary: true }));
    actions.push(btn('reject', 'q-reject', t('q.reject'), { danger: true }));
    actions.push(btn('merge', 'q-merge', t('q.merge'), { expanded: ctx.merging }));
  } else if (q.status === 'approved') {
    actions.push(btn('highlight', 'q-highlight', ctx.highlighted ? t('q.unhighlight') : t('q.highlight'), { pressed: ctx.highlighted, primary: !ctx.highlighted }));
    actions.push(btn('answer', 'q-answer', t('q.answer')));
    actions.push(btn('reject', 'q-reject', t('q.reject'), { danger: true }));
    actions.push(btn('merge', 'q-merge', t('q.merge'), { expanded: ctx.merging }));
  } else if (q.status === 'rejected') {
    // A rejection by mistake is not final: the question may be approved after all.
    actions.push(btn('approve', 'q-approve', t('q.restore')));
  }

  const suggestions = ctx.dups.length && !ctx.ended
    ? h(
      'div',
      { class: 'q-dups' },
      h('p', { class: 'q-dups-label' }, t('q.looks_like')),
      h(
        'ul',
        { class: 'q-dup-list' },
        ctx.dups.map((d) =>
          h(
            'li',
            { class: 'q-dup', 'data-testid': 'dup-suggestion', 'data-id': d.question.id, 'data-score': d.score.toFixed(2) },
            h(
              'div',
              { class: 'q-dup-body' },
              h('p', { class: 'q-dup-text' }, d.question.text),
              h(
                'p',
                { class: 'q-dup-meta' },
                tv('q.status', d.question.status),
                ' · ',
                tn('q.upvotes', Number(d.question.upvotes) || 0),
              ),
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'btn btn-small',
                'data-act': 'dup-merge',
                'data-into': d.question.id,
                'data-testid': 'dup-merge',
                'aria-label': t('q.merge_into_aria', { text: clip(d.question.text, 80) }),
                'aria-busy': ctx.busy ? 'true' : null,
              },
              t('q.merge_into_this'),
            ),
          ),
        ),
      ),
    )
    : null;

  return h(
    'div',
    {
      role: 'row',
      class: `q-item is-${q.status}${ctx.selected ? ' is-selected' : ''}${ctx.highlighted ? ' is-highlighted' : ''}`,
      'data-testid': 'mod-question',
      'data-id': q.id,
      'data-status': q.status,
      'aria-selected': String(ctx.selected),
      'aria-busy': ctx.busy ? 'true' : null,
      tabindex: ctx.selected ? '0' : '-1',
    },
    h(
      'div',
      { role: 'gridcell', class: 'q-cell' },
      h(
        'div',
        { class: 'q-top' },
        h(
          'p',
          { class: `q-votes${n ? '' : ' is-zero'}` },
          h('span', { class: 'q-arrow', 'aria-hidden': 'true' }, '▲'),
          h('span', { class: 'q-n', 'data-testid': 'q-upvotes' }, String(n)),
          h('span', { class: 'visually-hidden' }, ` ${tn('q.upvotes_word', n)}`),
        ),
        h(
          'div',
          { class: 'q-body' },
          h('p', { class: 'q-text', id: textId }, q.text),
          h(
            'p',
            { class: 'q-meta' },
            h('span', { class: `q-name${q.name ? '' : ' is-anon'}` }, q.name || t('q.anonymous')),
            q.at ? [' · ', h('span', { class: 'q-time' }, clock(q.at, lang))] : null,
            ' · ',
            h('span', { class: `q-status st-q-${q.status}` }, tv('q.status', q.status)),
            ctx.highlighted ? [' ', h('span', { class: 'q-onscreen-tag' }, t('q.on_screen'))] : null,
          ),
        ),
      ),
      actions.length ? h('div', { class: 'q-actions' }, actions) : null,
      suggestions,
      ctx.merging ? mergeBox(q, ctx, all) : null,
    ),
  );
}

/** "Merge into…": every other open or answered question, the suggestions first. */
function mergeBox(q, ctx, all) {
  const first = ctx.dups.map((d) => d.question);
  const rest = all
    .filter((x) => x.id !== q.id && x.status !== 'rejected' && !first.includes(x))
    .sort((a, b) => (a.status === 'pending') - (b.status === 'pending') || byUpvotes(a, b));
  const targets = [...first, ...rest];
  const id = `merge-${q.id}`;
  if (!targets.length) {
    return h(
      'div',
      { class: 'q-merge-box' },
      h('p', { class: 'muted' }, t('q.merge_none')),
      h('button', { type: 'button', class: 'btn btn-small', 'data-act': 'merge-cancel', 'data-testid': 'merge-cancel' }, t('common.cancel')),
    );
  }
  return h(
    'div',
    { class: 'q-merge-box' },
    h('label', { for: id }, t('q.merge_into_label')),
    h(
      'select',
      { id, 'data-testid': 'merge-target' },
      targets.map((x) => h('option', { value: x.id }, `${clip(x.text, 90)} — ${tv('q.status', x.status)}`)),
    ),
    h(
      'div',
      { class: 'q-merge-buttons' },
      h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-act': 'merge-confirm', 'data-testid': 'merge-confirm' }, t('q.merge_confirm')),
      h('button', { type: 'button', class: 'btn btn-small', 'data-act': 'merge-cancel', 'data-testid': 'merge-cancel' }, t('common.cancel')),
    ),
  );
}

const clip = (text, max) => {
  const s = String(text || '');
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
};

/** Where the focus is inside a list: the item's id and the button's action. */
function focusIn(box, testid) {
  const a = document.activeElement;
  if (!a || !box.contains(a)) return null;
  const item = a.closest(`[data-testid="${testid}"]`);
  return item ? { id: item.dataset.id, act: a.dataset.act || null, into: a.dataset.into || null, tag: a.tagName } : null;
}

/** Puts the focus back where it was after a render; to `fallback`'s item if that one left. */
function restoreFocus(box, testid, was, fallback) {
  if (!was) return;
  const a = document.activeElement;
  if (a && a !== document.body && box.contains(a)) return; // still in place
  const find = (id) => [...box.querySelectorAll(`[data-testid="${testid}"]`)].find((el) => el.dataset.id === id);
  const item = find(was.id);
  let target = null;
  if (item) {
    if (was.tag === 'SELECT') target = item.querySelector('select');
    else if (was.act) {
      target = [...item.querySelectorAll('button[data-act]')].find(
        (b) => b.dataset.act === was.act && (b.dataset.into || null) === was.into && !b.disabled,
      );
    }
    target = target || item;
  } else if (fallback != null) {
    target = find(fallback);
  }
  if (target && target.tabIndex < 0 && target.getAttribute('role') !== 'row') target = target.closest('[role="row"]') || target;
  if (target) target.focus({ preventScroll: false });
}

function questionById(id) {
  const s = client && client.state;
  return s ? questionsOf(s).find((q) => q.id === id) || null : null;
}

function selectQuestion(id, focus) {
  const i = qui.list.findIndex((q) => q.id === id);
  if (i < 0) return;
  qui.selected = id;
  qui.index = i;
  if (client && client.state) renderQuestions(client.state);
  if (focus) {
    const row = [...$('mod-questions').querySelectorAll('[data-testid="mod-question"]')].find((el) => el.dataset.id === id);
    if (row) row.focus();
  }
}

/** One action on one question; ignored while a command for it is on its way. */
function questionAct(act, id, el) {
  const s = client && client.state;
  const q = questionById(id);
  if (!s || !q || s.phase === 'ended') return;
  if (act === 'merge-cancel') return closeMerge(id);
  if (busyIds('question.', 'question').has(id)) return;
  switch (act) {
    case 'approve':
      if (q.status === 'pending' || q.status === 'rejected') client.send('question.approve', { question: id });
      break;
    case 'reject':
      if (q.status === 'pending' || q.status === 'approved') client.send('question.reject', { question: id });
      break;
    case 'answer':
      if (q.status === 'approved') client.send('question.answer', { question: id });
      break;
    case 'highlight':
      if (s.highlighted === id) client.send('question.highlight', { question: null });
      else if (q.status === 'approved') client.send('question.highlight', { question: id });
      break;
    case 'merge':
      if (qui.mergeFor === id) return closeMerge(id);
      openMerge(id);
      break;
    case 'dup-merge':
      if (el && el.dataset.into) client.send('question.merge', { question: id, into: el.dataset.into });
      break;
    case 'merge-confirm': {
      const row = el && el.closest('[data-testid="mod-question"]');
      const sel = row && row.querySelector('select');
      if (sel && sel.value) {
        qui.mergeFor = null;
        client.send('question.merge', { question: id, into: sel.value });
        selectQuestion(id, true);
      }
      break;
    }
    case 'merge-top': {
      const top = (suggestDuplicates(questionsOf(s), { limit: 2 }).get(id) || [])[0];
      if (top) client.send('question.merge', { question: id, into: top.question.id });
      else openMerge(id);
      break;
    }
    default:
      break;
  }
}

function openMerge(id) {
  qui.mergeFor = id;
  selectQuestion(id, false);
  const row = [...$('mod-questions').querySelectorAll('[data-testid="mod-question"]')].find((el) => el.dataset.id === id);
  const target = row && (row.querySelector('select') || row.querySelector('[data-act="merge-cancel"]'));
  if (target) target.focus();
}

function closeMerge(id) {
  qui.mergeFor = null;
  if (client && client.state) renderQuestions(client.state);
  const row = [...$('mod-questions').querySelectorAll('[data-testid="mod-question"]')].find((el) => el.dataset.id === id);
  const b = row && row.querySelector('[data-act="merge"]');
  if (b) b.focus();
  else if (row) row.focus();
}

for (const b of document.querySelectorAll('[data-testid="q-filter"]')) {
  b.addEventListener('click', () => {
    qui.filter = b.dataset.filter;
    qui.selected = null;
    qui.index = 0;
    qui.shown = PAGE;
    qui.mergeFor = null;
    if (client && client.state) renderQuestions(client.state);
  });
}

$('q-more').addEventListener('click', () => {
  const first = qui.list.length;
  qui.shown += PAGE;
  if (!client || !client.state) return;
  renderQuestions(client.state);
  // The focus goes to the first new row, so the keyboard goes on from there.
  const next = qui.list[first];
  if (next) selectQuestion(next.id, true);
});

$('q-clear-highlight').addEventListener('click', () => {
  if (client && client.state && client.state.highlighted != null && client.pending('question.highlight').length === 0) {
    client.send('question.highlight', { question: null });
  }
});

$('mod-questions').addEventListener('click', (e) => {
  const row = e.target.closest('[data-testid="mod-question"]');
  if (!row) return;
  const b = e.target.closest('button[data-act]');
  if (b) {
    if (qui.selected !== row.dataset.id) selectQuestion(row.dataset.id, false);
    questionAct(b.dataset.act, row.dataset.id, b);
  } else if (!e.target.closest('select, label, a')) {
    selectQuestion(row.dataset.id, true);
  }
});

// Single-key shortcuts work only while the focus is in the Questions panel
// (WCAG 2.1.4), never while typing, never with Ctrl, Alt or Meta.
$('panel-questions').addEventListener('keydown', (e) => {
  if (e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey || e.isComposing) return;
  if (e.target.closest('input, textarea, select, [contenteditable=""], [contenteditable="true"]')) {
    if (e.key === 'Escape' && qui.mergeFor != null) {
      e.preventDefault();
      closeMerge(qui.mergeFor);
    }
    return;
  }
  const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
  const row = e.target.closest('[data-testid="mod-question"]');
  const id = row ? row.dataset.id : qui.selected;
  const move = (by) => {
    if (!qui.list.length) return;
    const i = qui.list.findIndex((q) => q.id === id);
    const next = i < 0 ? 0 : Math.max(0, Math.min(qui.list.length - 1, i + by));
    selectQuestion(qui.list[next].id, true);
  };
  switch (key) {
    case 'j':
    case 'ArrowDown':
      move(1);
      break;
    case 'k':
    case 'ArrowUp':
      move(-1);
      break;
    case 'Home':
      if (!row) return;
      move(-Infinity);
      break;
    case 'End':
      if (!row) return;
      move(Infinity);
      break;
    case 'a':
      if (id != null) questionAct('approve', id);
      break;
    case 'r':
      if (id != null) questionAct('reject', id);
      break;
    case 'h':
      if (id != null) questionAct('highlight', id);
      break;
    case 'd':
      if (id != null) questionAct('answer', id);
      break;
    case 'm':
      if (id != null) questionAct('merge-top', id);
      break;
    case 'Escape':
      if (qui.mergeFor == null) return;
      closeMerge(qui.mergeFor);
      break;
    default:
      return;
  }
  e.preventDefault();
});

// ---------------------------------------------------------------- list of speakers

const fui = { speaker: undefined, sig: null };

function floorOf(s) {
  const f = s.floor || {};
  return { speaking: f.speaking || null, queue: Array.isArray(f.queue) ? f.queue : [], turn: f.turn_seconds };
}

function renderFloor(s) {
  if (!client) return;
  const f = floorOf(s);
  const ended = s.phase === 'ended';
  const busy = busyIds('floor.', 'request');
  const endBusy = client.pending('floor.end').length > 0;

  const head = $('floor-head-count');
  head.hidden = f.queue.length === 0;
  setText(head, t('floor.waiting', { n: f.queue.length }));

  const sp = f.speaking;
  $('floor-speaking').hidden = !sp;
  $('floor-nobody').hidden = !!sp;
  if (sp) {
    setText($('floor-speaking-name'), sp.name || t('q.anonymous'));
    setText($('floor-speaking-org'), sp.organisation || '');
    $('floor-speaking-org').hidden = !sp.organisation;
    $('floor-speaking').dataset.id = sp.id;
  }
  $('floor-end').disabled = ended || !sp;
  $('floor-end').setAttribute('aria-busy', String(endBusy));
  const id = sp ? sp.id : null;
  if (fui.speaker !== undefined && id !== fui.speaker) {
    setText($('floor-live'), sp ? t('floor.live_now', { name: sp.name || t('q.anonymous') }) : t('floor.live_ended'));
  }
  fui.speaker = id;

  $('floor-empty').hidden = f.queue.length > 0;
  renderFloorTimer(s);

  // Rebuilt only when it changed: an upvote elsewhere leaves the focus alone.
  const lang = currentLang();
  const sig = JSON.stringify([lang, ended, [...busy], f.queue.map((r) => [r.id, r.name, r.organisation, r.at])]);
  if (sig === fui.sig) return;
  fui.sig = sig;
  const box = $('floor-queue');
  const focus = focusIn(box, 'floor-entry');
  const last = f.queue.length - 1;
  fill(
    box,
    f.queue.map((r, i) => {
      const name = r.name || t('q.anonymous');
      const b = busy.has(r.id) || null;
      const btn = (act, testid, label, aria, extra = {}) =>
        h(
          'button',
          {
            type: 'button',
            class: `btn btn-small${extra.cls ? ` ${extra.cls}` : ''}`,
            'data-act': act,
            'data-testid': testid,
            'aria-label': aria,
            'aria-busy': b ? 'true' : null,
            disabled: ended || !!extra.disabled,
          },
          label,
        );
      return h(
        'li',
        { class: 'floor-entry', 'data-testid': 'floor-entry', 'data-id': r.id, 'aria-busy': b ? 'true' : null },
        h('span', { class: 'floor-pos', 'aria-hidden': 'true' }, String(i + 1)),
        h(
          'div',
          { class: 'floor-who' },
          h('p', { class: 'floor-name' }, name),
          r.organisation ? h('p', { class: 'floor-org' }, r.organisation) : null,
          r.at ? h('p', { class: 'floor-at' }, t('floor.asked_at', { time: fmtTime(r.at, lang) })) : null,
        ),
        h(
          'div',
          { class: 'floor-actions' },
          btn('grant', 'floor-grant', t('floor.grant'), t('floor.grant_to', { name }), { cls: 'btn-primary' }),
          btn('up', 'floor-up', '↑', t('floor.up_label', { name }), { disabled: i === 0, cls: 'btn-icon' }),
          btn('down', 'floor-down', '↓', t('floor.down_label', { name }), { disabled: i === last, cls: 'btn-icon' }),
          btn('skip', 'floor-skip', t('floor.skip'), t('floor.skip_label', { name })),
        ),
      );
    }),
  );
  if (focus) {
    const entry = [...box.querySelectorAll('[data-testid="floor-entry"]')].find((el) => el.dataset.id === focus.id);
    let target = entry && [...entry.querySelectorAll('button[data-act]')].find((x) => x.dataset.act === focus.act);
    // A moved entry keeps the focus; at an end of the list, on the button still usable.
    if (target && target.disabled) target = entry.querySelector(`button[data-act="${focus.act === 'up' ? 'down' : 'up'}"]:not(:disabled)`) || entry.querySelector('button[data-act="grant"]');
    if (!target) target = box.querySelector('button[data-act="grant"]') || $('floor-end');
    if (target && !target.disabled) target.focus();
  }
}

/** The speaking time against its limit: ok, near (last 20 %), over. */
function renderFloorTimer(s) {
  const f = floorOf(s);
  const sp = f.speaking;
  if (!sp || !client) return;
  const secs = speakingSeconds(s, client.now());
  const limit = Number(sp.limit_seconds ?? f.turn) || 0;
  const timer = $('floor-timer');
  timer.dataset.level = timerLevel(secs, limit, limit * 0.2);
  setText($('floor-elapsed'), fmtDuration(secs));
  setText($('floor-limit'), limit ? `/ ${fmtDuration(limit)}` : '');
  let left = '';
  if (limit) {
    left = secs <= limit ? t('timer.left', { time: fmtDuration(limit - secs) }) : t('timer.over', { time: fmtDuration(secs - limit) });
  }
  setText($('floor-left'), left);
  $('floor-fill').style.width = limit ? `${Math.min(100, (secs / limit) * 100).toFixed(1)}%` : '0';
}

$('floor-queue').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-act]');
  const entry = e.target.closest('[data-testid="floor-entry"]');
  const s = client && client.state;
  if (!b || !entry || !s || b.disabled || s.phase === 'ended') return;
  const id = entry.dataset.id;
  if (busyIds('floor.', 'request').has(id)) return;
  const queue = floorOf(s).queue;
  const i = queue.findIndex((r) => r.id === id);
  if (i < 0) return;
  switch (b.dataset.act) {
    case 'grant':
      client.send('floor.grant', { request: id });
      break;
    case 'skip':
      client.send('floor.skip', { request: id });
      break;
    case 'up':
      if (i > 0) client.send('floor.move', { request: id, position: i - 1 });
      break;
    case 'down':
      if (i < queue.length - 1) client.send('floor.move', { request: id, position: i + 1 });
      break;
    default:
      break;
  }
});

$('floor-end').addEventListener('click', () => {
  const s = client && client.state;
  const sp = s && floorOf(s).speaking;
  if (!sp || client.pending('floor.end').length) return;
  client.send('floor.end', { request: sp.id });
});
