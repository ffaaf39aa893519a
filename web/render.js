// What the live pages render alike. The participant page loads it: only what it
// uses belongs here (the moderator and screen's join link and timer are in room.js).

import {
  h, setText, $t, pathSegment, bindConnBadge, fmtTime, loc, langText, langNodes, setLangText, setLangList, setLangSentence,
} from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

export const $ = (id) => document.getElementById(id);

/** The join code in /j/{code} or /screen/{code}. */
export const pathCode = () => pathSegment(1).toUpperCase().replace(/[^A-Z0-9]/g, '');

/**
 * Connection badge, `window.__palabre`, and `render` on state, status and (`onLang`)
 * language changes, from the first dictionary on. Returns `ready()`.
 */
export function startPage(client, render, onLang = render) {
  let ready = false;
  const whenReady = (fn) => () => {
    if (ready) fn();
  };
  if (client) {
    bindConnBadge($t('conn-state'), client);
    globalThis.__palabre = client; // for browser tests and debugging
    client.on('state', whenReady(render));
    client.on('status', whenReady(render));
  }
  onLangChange(whenReady(onLang));
  initI18n().finally(() => {
    ready = true;
    render();
  });
  return () => ready;
}

/** Hides "Loading…", shows the page. */
export function showContent() {
  $('loading').hidden = true;
  $('content').hidden = false;
}

/** The fatal panel instead of the page; `link`: 'participant' (a join code) or 'key'. */
export function showFatal(status, link, code) {
  for (const id of ['loading', 'content']) {
    const el = $(id);
    if (el) el.hidden = true;
  }
  $('fatal').hidden = false;
  const which = link === 'key' ? (status === 'gone' ? 'gone' : 'denied') : status === 'denied' ? 'denied' : 'gone';
  setText($('fatal-title'), t(`fatal.${which}.title`));
  setText($('fatal-text'), link === 'key' ? t(`fatal.key.${which}`) : t(`fatal.participant.${which}`, { code: code || '—' }));
}

/** The phase badge, and the note under it where the page has one. */
export function renderPhase(s, label = tv('phase', s.phase)) {
  const el = $('phase');
  el.dataset.phase = s.phase;
  setText(el, label);
  const noteEl = $('phase-note');
  if (!noteEl) return;
  const lang = currentLang();
  let note = '';
  if (s.phase === 'pending' && s.starts_at) note = t('phase.planned_start', { time: fmtTime(s.starts_at, lang, true) });
  if (s.phase === 'running' && s.started_at) note = t('phase.started_at', { time: fmtTime(s.started_at, lang) });
  if (s.phase === 'ended' && s.ended_at) note = t('phase.ended_at', { time: fmtTime(s.ended_at, lang) });
  setText(noteEl, note);
}

/**
 * The "now" card: the current item (`runningOnly`: while it runs), else a title and the line
 * `idle(s, el)` returns or writes into `el`.
 */
export function renderNow(s, { runningOnly = false, idle = () => '' } = {}) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const shown = runningOnly ? s.phase === 'running' : s.phase !== 'ended';
  const item = cur != null && shown ? items[cur] : null;
  if (!item) {
    setText($('current-kind'), '');
    setText($('current-pos'), '');
    setLangText($('current-title'), s.phase === 'ended' ? t('now.ended_title') : t('now.pending_title'));
    const el = $('current-speakers');
    el.removeAttribute('lang');
    // `idle` returns the line, or writes it into `el` itself (a sentence with a text in it).
    const said = idle(s, el);
    if (typeof said === 'string') setText(el, said);
    return;
  }
  setText($('current-kind'), tv('kind', item.kind));
  setText($('current-pos'), t('now.position', { i: cur + 1, n: items.length }));
  setLangText($('current-title'), item.title);
  setLangList($('current-speakers'), item.speakers);
}

/** "First: …" / "Next: …" with an item's title in the page's language (badge and all), into `el`. */
export function nextUp(el, key, item) {
  if (item) setLangSentence(el, key, 'title', item.title);
  else setLangText(el, '');
}

/** An agenda row's attributes (list item or table row); `id`: the item's stable id. */
export const rowAttrs = (i, st, cls, id = null) => ({
  class: cls,
  'data-testid': 'agenda-item',
  'data-index': i,
  'data-id': id,
  'data-status': st,
  'aria-current': st === 'current' ? 'step' : null,
});

export const statusTag = (st) => h('span', { class: `ag-tag tag-${st}` }, tv('agenda.status', st));

/** "Debate · 20 min · …more"; `more` may hold nodes (a text with its badge): then an array for h(). */
export function itemMeta(item, ...more) {
  const parts = [kindUnlessTitle(item), item.minutes ? t('agenda.minutes', { n: item.minutes }) : null, ...more]
    .filter((x) => x != null && x !== '' && !(Array.isArray(x) && x.length === 0));
  if (parts.every((x) => typeof x === 'string')) return parts.join(' · ');
  return parts.map((x, i) => [i ? ' · ' : null, x]);
}

/** Speaker lines joined by " · ", each in the page's language (nodes for h(): a text shown in another language has its badge). */
export function speakerNodes(speakers) {
  const list = Array.isArray(speakers) ? speakers.filter((x) => loc(x) !== '') : [];
  return list.map((x, i) => [i ? ' · ' : null, langNodes(x)]);
}

/** An agenda list item: number or ✓, title, meta (and speakers), status tag, `after`. */
export function agendaRow(s, i, st, meta, { speakers = false, after = [] } = {}) {
  const item = s.agenda.items[i];
  return h(
    'li',
    rowAttrs(i, st, `ag-item is-${st}`, item.id),
    h('span', { class: 'ag-num', 'aria-hidden': 'true' }, st === 'done' ? '✓' : String(i + 1)),
    h(
      'div',
      { class: 'ag-body' },
      langText('p', { class: 'ag-title' }, item.title),
      h('p', { class: 'ag-meta' }, meta),
      speakers && item.speakers && item.speakers.length ? h('p', { class: 'ag-speakers' }, speakerNodes(item.speakers)) : null,
    ),
    statusTag(st),
    after,
  );
}

/** Beyond this gap between the planned and the actual start, the session is held on another occasion. */
const ANOTHER_DAY_MS = 12 * 3600 * 1000;

const msOf = (v) => (v == null || v === '' ? NaN : new Date(v).getTime());

/**
 * When the agenda as planned now ends: the session's start (the actual one once started, else
 * the planned one) plus the minutes of its items, against the planned close `ends_at`. A session
 * started on another day than planned (a rehearsal, a demo) keeps the length of its slot: its
 * close is then the actual start plus `ends_at - starts_at`. Returns {end, close, delta} in ms
 * (delta > 0: after the close; close and delta null without `ends_at`), or null when there is
 * no start to count from.
 */
export function plannedEnd(s) {
  const planned = msOf(s.starts_at);
  const started = msOf(s.started_at);
  const start = Number.isFinite(started) ? started : planned;
  if (!Number.isFinite(start)) return null;
  const minutes = (s.agenda.items || []).reduce((a, it) => a + (Number(it.minutes) || 0), 0);
  const end = start + minutes * 60000;
  let close = msOf(s.ends_at);
  if (Number.isFinite(close) && Number.isFinite(planned) && Math.abs(start - planned) > ANOTHER_DAY_MS) close = start + (close - planned);
  return Number.isFinite(close) ? { end, close, delta: end - close } : { end, close: null, delta: null };
}

/** "Planned end 17:25" and, against the planned close, how far before or after it; into `el` (`data-level` = ok · over). */
export function renderPlannedEnd(el, s) {
  if (!el) return;
  const p = s.phase === 'ended' ? null : plannedEnd(s);
  el.hidden = !p;
  if (!p) return;
  const lang = currentLang();
  const end = fmtTime(p.end, lang);
  let text = t('agenda.end', { time: end });
  if (p.delta != null) {
    const mins = Math.round(Math.abs(p.delta) / 60000);
    const close = fmtTime(p.close, lang);
    if (mins === 0) text = t('agenda.end_on_time', { time: end, close });
    else text = t(p.delta > 0 ? 'agenda.end_late' : 'agenda.end_early', { time: end, close, n: mins });
  }
  el.dataset.level = p.delta != null && p.delta > 0 ? 'over' : 'ok';
  el.dataset.end = String(p.end);
  setText(el, text);
}

/** The kind's label, unless it only repeats the title ("Introduction"). */
export function kindUnlessTitle(item) {
  const k = tv('kind', item.kind);
  return k.toLowerCase() === loc(item.title).trim().toLowerCase() ? null : k;
}

// ---------------------------------------------------------------- votes (participant and screen)

export const CHOICES = ['for', 'against', 'abstain'];

/** The draft a poll is about, with its title and text in the page's language (strings; the pages show `draft` with its badges). */
export function pollDraft(s, poll) {
  const d = (s.drafts || []).find((x) => x.id === poll.draft) || null;
  const lang = currentLang();
  return {
    draft: d,
    kind: d ? tv('draft.kind', d.kind) : '',
    title: d ? loc(d.title, lang) : '',
    text: d ? loc(d.text, lang) : '',
  };
}

export const fmtNum = (n) => {
  try {
    return new Intl.NumberFormat(currentLang()).format(Number(n) || 0);
  } catch {
    return String(Number(n) || 0);
  }
};

export const fmtPct = (x) => {
  try {
    return new Intl.NumberFormat(currentLang(), { style: 'percent', maximumFractionDigits: 0 }).format(x);
  } catch {
    return `${Math.round(x * 100)} %`;
  }
};

/** Counts (null while hidden), their total and each choice's share of it. */
export function voteNumbers(poll) {
  const c = poll.counts;
  if (!c || typeof c !== 'object') return null;
  const counts = Object.fromEntries(CHOICES.map((k) => [k, Number(c[k]) || 0]));
  const total = CHOICES.reduce((a, k) => a + counts[k], 0);
  const share = Object.fromEntries(CHOICES.map((k) => [k, total ? counts[k] / total : 0]));
  return { counts, total, share };
}

/** How the poll decides, in plain words: the method, then the quorum. */
export function methodText(poll) {
  const m = t(`vote.method_desc.${poll.method || 'simple'}`, { eligible: fmtNum(poll.eligible) });
  const q = Number(poll.quorum) || 0;
  return q > 0 ? `${m} ${t('vote.quorum', { n: q, q: fmtNum(q) })}` : m;
}

/** The rule as applied at the close (built here, in the page's language, from the figures). */
export function ruleText(poll) {
  const n = voteNumbers(poll);
  const outcome = poll.outcome;
  if (!outcome) return '';
  if (outcome === 'no_quorum') {
    return t('vote.applied.no_quorum', { cast: fmtNum(poll.cast_weight ?? poll.cast), quorum: fmtNum(poll.quorum) });
  }
  if (!n) return poll.rule || '';
  const f = n.counts.for;
  const a = n.counts.against;
  const method = poll.method || 'simple';
  const vars = { for: fmtNum(f), against: fmtNum(a), eligible: fmtNum(poll.eligible), expressed: fmtNum(f + a) };
  if (method === 'absolute') vars.need = fmtNum(Math.floor((Number(poll.eligible) || 0) / 2) + 1);
  if (method === 'two_thirds') vars.need = fmtNum(Math.max(1, Math.ceil((2 * (f + a)) / 3))); // and at least one for
  const k = `vote.applied.${method}.${outcome === 'adopted' ? 'adopted' : 'rejected'}`;
  const s = t(k, vars);
  return s === k ? poll.rule || '' : s;
}

/** "12 of 40 have voted" (with weights: the ballots, then their weight against the total). */
export function turnoutText(poll) {
  const cast = Number(poll.cast) || 0;
  const weight = poll.cast_weight == null ? cast : Number(poll.cast_weight) || 0;
  const eligible = Number(poll.eligible) || 0;
  const v = { n: cast, cast: fmtNum(cast), weight: fmtNum(weight), eligible: fmtNum(eligible) };
  if (weight !== cast) return t('vote.turnout_weighted', v);
  return eligible ? t('vote.turnout', v) : t('vote.turnout_bare', v);
}

/** Polls by time: open ones by opening, the others by their end. */
export function pollsByTime(s) {
  const at = (p) => Number(p.closed_at ?? p.opened_at) || 0;
  const polls = Array.isArray(s.polls) ? s.polls : [];
  return {
    open: polls.filter((p) => p.status === 'open').sort((a, b) => (Number(a.opened_at) || 0) - (Number(b.opened_at) || 0)),
    ended: polls.filter((p) => p.status !== 'open').sort((a, b) => at(b) - at(a)),
  };
}
