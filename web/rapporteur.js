// Rapporteur page: the session as it unfolds, with the times held; the record as it grows
// (record.json read as minutes, live); the draft texts with what was decided about each (the
// vote's figures, or adopted by consensus), their editor (one box per language, `draft.edit`),
// their versions compared word by word (diff.js), and new drafts (`draft.create`); the
// rapporteur's notes (`record.note`, edited and deleted in place), the finalisation
// (`record.finalise`, once the session has ended) with the digest, and the exports, fetched
// with the key as a bearer header.

import {
  connect, h, fill, setText, pathSegment, fragmentKey, itemStatus, itemSeconds, fmtDuration, fmtTime, every, styleWhenLoaded,
  locText, langText, langNodes, setLangText,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, startPage, showContent, showFatal, renderPhase, renderNow, rowAttrs, statusTag } from './render.js';
import {
  draftsOf, pollsOf, draftPolls, decidingPoll, decision, isRoster, countsText, turnoutText, settingsText, ruleText,
} from './votes.js';
import { diffWords, collapse, wordCount } from './diff.js';
import { draftForm, labelDraftForm, readDraftForm, sayDraftForm } from './draftform.js';

let liveCell = null;

/** Commands on their way, each with what to do as its fate is learnt. */
const pending = new Map(); // command record → fn(c)

/** What the page holds open besides the record (see the drafts and notes sections). */
const ui = {
  creating: null, // the open "new draft" form
  focusNew: null, // JSON of the title of a draft just created, to focus once it shows
  known: new Set(), // draft ids there when the create was sent
  refocusNotes: false, // the focus was in a note that went away
};

const sessionId = pathSegment(1);
const key = fragmentKey();
const client = sessionId && key ? connect({ session: sessionId, key }) : null;
const ready = startPage(client, render);
every(1000, tick);
if (client) wireRecord();

/** Sends a command; `onFate(c)` is called now (once the caller holds `c`) and at each change of its status. */
function send(op, fields, onFate) {
  const c = client.send(op, fields);
  pending.set(c, onFate);
  queueMicrotask(() => onFate(c));
  return c;
}

const settled = (c) => c.status === 'acked' || c.status === 'refused' || c.status === 'cancelled';

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'denied', 'key');
  const s = client.state;
  if (!s) return;
  showContent();
  const lang = currentLang();
  document.title = `${t('role.rapporteur')} · ${s.reference || locText(s.title).text} · Palabre`;
  setText($('bar-title'), [s.reference, locText(s.title).text].filter(Boolean).join(' · '));
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setLangText($('session-title'), s.title);
  const planned = [fmtTime(s.starts_at, lang, true), fmtTime(s.ends_at, lang)].filter(Boolean).join(' – ');
  setText($('planned'), planned || '—');
  renderPhase(s);
  setText($('started-at'), s.started_at ? fmtTime(s.started_at, lang, true) : '—');
  setText($('ended-at'), s.ended_at ? fmtTime(s.ended_at, lang, true) : '—');
  renderNow(s, { runningOnly: true });
  renderAgenda(s);
  renderDrafts(s);
  renderNewDraft(s);
  renderRecord();
  tick();
}

function renderAgenda(s) {
  liveCell = null;
  let planned = 0;
  const rows = s.agenda.items.map((item, i) => {
    const st = itemStatus(s, i, true);
    const secs = itemSeconds(s, i, client.now());
    planned += (Number(item.minutes) || 0) * 60;
    const held = h('td', { class: 'num', 'data-testid': 'item-time', 'data-index': i }, secs > 0 || st === 'current' ? fmtDuration(secs) : '—');
    if (st === 'current' && s.phase === 'running') liveCell = { el: held, i };
    return h(
      'tr',
      rowAttrs(i, st, `is-${st}`),
      h('td', { class: 'num' }, String(i + 1)),
      h(
        'td',
        null,
        langText('span', { class: 'ag-title' }, item.title),
        h('span', { class: 'ag-meta' }, tv('kind', item.kind), speakerList(item.speakers, ' · ')),
      ),
      h('td', { class: 'num' }, item.minutes ? fmtDuration(item.minutes * 60) : '—'),
      held,
      h('td', null, statusTag(st)),
    );
  });
  fill($('agenda'), rows);
  setText($('total-planned'), fmtDuration(planned));
}

/** Speaker lines in the page's language, each after `lead`, joined by " · " (nodes for h()). */
function speakerList(speakers, lead = '') {
  const list = (Array.isArray(speakers) ? speakers : []).filter((x) => locText(x).text !== '');
  return list.map((x, i) => [i ? ' · ' : lead, langNodes(x)]);
}

function tick() {
  if (!ready() || !client || !client.state) return;
  const s = client.state;
  const now = client.now();
  let held = 0;
  for (let i = 0; i < s.agenda.items.length; i++) held += itemSeconds(s, i, now);
  setText($('total-held'), fmtDuration(held));
  if (liveCell) setText(liveCell.el, fmtDuration(itemSeconds(s, liveCell.i, now)));
  let dur = '—';
  if (s.started_at) dur = fmtDuration(((s.phase === 'ended' && s.ended_at ? s.ended_at : now) - s.started_at) / 1000);
  setText($('duration'), dur);
}

// ---------------------------------------------------------------- texts by language

/** The session's languages (["en", "fr"]), else those of `value` when it is given by language. */
function languagesOf(s, value) {
  const list = Array.isArray(s && s.languages) ? s.languages.filter((l) => typeof l === 'string' && l) : [];
  if (list.length) return list;
  return value && typeof value === 'object' ? Object.keys(value) : [];
}

/**
 * A text's words in language `l` of `langs`: its entry when given by language; a plain string
 * counts as the first language's (as the server files it when another language is added).
 */
function textIn(value, l, langs) {
  if (value == null) return '';
  if (typeof value === 'object') return typeof value[l] === 'string' ? value[l] : '';
  return l == null || l === langs[0] ? String(value) : '';
}

const langName = (l) => (l ? tv('lang.name', l) : '');
const capital = (x) => (x ? x[0].toLocaleUpperCase() + x.slice(1) : x);

/** "14:32 UTC" (with the date: "23 Nov 2018, 14:32 UTC"), as the exports print times. */
function utc(ms, withDate = false) {
  const d = new Date(Number(ms));
  if (ms == null || Number.isNaN(d.getTime())) return '';
  const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: 'UTC' };
  if (withDate) Object.assign(opts, { day: 'numeric', month: 'short', year: 'numeric' });
  try {
    return `${new Intl.DateTimeFormat(currentLang(), opts).format(d)} UTC`;
  } catch {
    return `${d.toISOString().slice(withDate ? 0 : 11, 16).replace('T', ' ')} UTC`;
  }
}

/** "14:32–14:45 UTC". */
function utcRange(from, to) {
  const a = utc(from).replace(/ UTC$/, '');
  return to == null ? t('rap.rec_since', { time: utc(from) }) : `${a}–${utc(to)}`;
}

/** "3 h 12 min", "45 min". */
function hoursMinutes(secs) {
  const m = Math.round(secs / 60);
  return m >= 60 ? t('rap.rec_hours', { h: Math.floor(m / 60), m: String(m % 60).padStart(2, '0') }) : minutes(secs);
}

/** Whole minutes, "13 min". */
const minutes = (secs) => t('agenda.minutes', { n: Math.round(secs / 60) });

// ---------------------------------------------------------------- drafts: rows, editor, versions

/** Draft rows, kept across renders: a tally redraws the figures only; an unfolded text, an open editor or history stay. */
const draftRows = new Map(); // id → row (see draftRow)

/** Why no text may change or be added now (said once, above the drafts), or ''. */
function globalLock(s) {
  if (rec.finalised) return t('rap.edit_locked_final');
  if (s.phase === 'ended') return t('rap.edit_locked_ended');
  return '';
}

/** Why draft `d` may not be edited now, or ''. */
function draftLock(s, d) {
  const all = globalLock(s);
  if (all) return all;
  if (d.status === 'voting') return t('rap.edit_locked_voting');
  if (d.status !== 'draft') return t('rap.edit_locked_status', { status: tv('draft.status', d.status).toLocaleLowerCase() });
  return '';
}

function renderDrafts(s) {
  const drafts = draftsOf(s);
  const roster = isRoster(s);
  const lang = currentLang();
  $('drafts-empty').hidden = drafts.length > 0;
  const seen = new Set();
  const els = drafts.map((d) => {
    seen.add(d.id);
    let row = draftRows.get(d.id);
    if (!row) {
      row = draftRow(d);
      draftRows.set(d.id, row);
    }
    const sig = JSON.stringify([lang, d.kind, d.title, d.text, d.status, d.adopted_by, d.version]);
    if (row.sig !== sig) {
      row.sig = sig;
      const statusLabel = d.status === 'adopted' && d.adopted_by === 'consensus' ? t('votes.status_consensus') : tv('draft.status', d.status);
      const open = row.details ? row.details.open : false;
      const details = h(
        'details',
        { open },
        h(
          'summary',
          null,
          h('span', { class: 'kind' }, tv('draft.kind', d.kind)),
          ' ',
          h('span', { class: 'draft-title' }, langNodes(d.title)),
          ' ',
          h('span', { class: `pill draft-status st-${d.status}` }, statusLabel),
          d.version ? h('span', { class: 'muted small' }, ` v${d.version}`) : null,
        ),
        langText('p', { class: 'draft-text', 'data-testid': 'draft-text' }, d.text),
      );
      if (row.details) row.details.replaceWith(details);
      else row.li.prepend(details);
      row.details = details;
    }
    row.li.dataset.status = d.status;
    renderFigures(row, s, d, roster, lang);
    renderTools(row, s, d);
    return row.li;
  });
  for (const id of [...draftRows.keys()]) if (!seen.has(id)) draftRows.delete(id);
  const list = $('drafts-list');
  els.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
  });
  while (list.children.length > els.length) list.lastElementChild.remove();
  if (ui.focusNew) focusCreated(drafts);
}

function draftRow(d) {
  const row = {
    id: d.id, sig: null, figSig: null, details: null,
    figures: h('div', { class: 'draft-figures', 'data-testid': 'draft-figures' }),
    editBtn: h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'draft-edit', 'aria-expanded': 'false' }),
    histBtn: h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'draft-history', 'aria-expanded': 'false' }),
    lockNote: h('p', { class: 'draft-lock muted small', 'data-testid': 'draft-edit-note', id: `lock-${d.id}` }),
    saved: h('p', { class: 'draft-saved small', 'data-testid': 'draft-saved', role: 'status', 'aria-live': 'polite' }),
    editorSlot: h('div'),
    historySlot: h('div'),
    editor: null,
    hist: null,
  };
  row.editBtn.addEventListener('click', () => {
    if (row.editor) closeEditor(row);
    else openEditor(row);
  });
  row.histBtn.addEventListener('click', () => {
    if (row.hist) {
      row.hist = null;
      fill(row.historySlot);
      setText(row.saved, '');
      row.histBtn.setAttribute('aria-expanded', 'false');
      render();
    } else openHistory(row, null);
  });
  row.li = h(
    'li',
    { class: 'draft', 'data-testid': 'draft', 'data-id': d.id },
    row.figures,
    h('div', { class: 'draft-actions' }, row.editBtn, row.histBtn, row.lockNote),
    row.saved,
    row.editorSlot,
    row.historySlot,
  );
  return row;
}

/** The current draft `id` in the state, or null. */
const draftById = (id) => draftsOf(client.state).find((d) => d.id === id) || null;

/** What was decided, with the vote's figures (or "by consensus"); the live figures while voting. */
function renderFigures(row, s, d, roster, lang) {
  const dec = decision(s, d);
  const live = d.status === 'voting' ? decidingPoll(s, d) : null;
  const earlier = draftPolls(s, d.id).filter((p) => p.status === 'closed' && p.outcome === 'no_quorum' && (!dec.poll || p.id !== dec.poll.id));
  const fig = (p) => [p.id, p.status, p.outcome, JSON.stringify(p.counts), p.cast, p.cast_weight, p.eligible, p.closed_at, p.method, p.quorum].join('|');
  const sig = JSON.stringify([lang, dec.outcome, dec.poll && fig(dec.poll), live && fig(live), earlier.map(fig)]);
  if (sig === row.figSig) return;
  row.figSig = sig;
  const el = row.figures;
  el.dataset.outcome = dec.outcome || (live ? 'voting' : '');
  const lines = [];
  const pollLines = (p, head) => [
    h('p', { class: 'fig-head' }, head),
    h('p', { class: 'fig-counts' }, [countsText(p), turnoutText(p, roster)].filter(Boolean).join(' · ')),
    h('p', { class: 'fig-rule muted small' }, [settingsText(p), ruleText(p)].filter(Boolean).join(' — ')),
  ];
  for (const p of earlier) {
    lines.push(h('div', { class: 'fig is-no_quorum' }, pollLines(p, t('votes.outcome_earlier', { outcome: tv('votes.outcome', 'no_quorum'), time: fmtTime(p.closed_at, lang) }))));
  }
  if (dec.outcome === 'consensus') {
    lines.push(h('div', { class: 'fig is-consensus' }, h('p', { class: 'fig-head' }, t('votes.by_consensus'))));
  } else if (dec.poll && dec.outcome !== 'no_quorum') {
    lines.push(h('div', { class: `fig is-${dec.outcome}` }, pollLines(dec.poll, t('votes.outcome_head', { outcome: tv('votes.outcome', dec.outcome), time: fmtTime(dec.poll.closed_at, lang) }))));
  } else if (dec.poll && !earlier.includes(dec.poll)) {
    lines.push(h('div', { class: 'fig is-no_quorum' }, pollLines(dec.poll, t('votes.outcome_earlier', { outcome: tv('votes.outcome', 'no_quorum'), time: fmtTime(dec.poll.closed_at, lang) }))));
  }
  if (live) lines.push(h('div', { class: 'fig is-voting' }, pollLines(live, t('votes.voting_now'))));
  el.hidden = lines.length === 0;
  fill(el, lines);
}

/** The row's buttons, the reason editing is closed, the open editor and history kept up to date. */
function renderTools(row, s, d) {
  const lock = draftLock(s, d);
  // A lock for all texts is said once, above the list; this row says only its own.
  const why = lock && globalLock(s) ? 'draft-new-note' : row.lockNote.id;
  const versions = Array.isArray(d.versions) ? d.versions : [];
  const title = locText(d.title).text;
  setText(row.editBtn, row.editor ? t('rap.edit_close') : t('rap.edit'));
  // Each row's buttons name their text, for whoever hears them out of the list.
  row.editBtn.setAttribute('aria-label', `${row.editBtn.textContent} — ${title}`);
  row.editBtn.disabled = !!lock && !row.editor;
  if (lock && !row.editor) row.editBtn.setAttribute('aria-describedby', why);
  else row.editBtn.removeAttribute('aria-describedby');
  setText(row.lockNote, why === row.lockNote.id ? lock : '');
  row.lockNote.hidden = why !== row.lockNote.id || !lock;
  setText(row.histBtn, t('rap.versions', { n: versions.length }));
  row.histBtn.setAttribute('aria-label', `${row.histBtn.textContent} — ${title}`);
  row.histBtn.hidden = versions.length < 2 && !row.hist;
  if (row.editor) renderEditor(row, s, d, lock, why);
  if (row.hist) renderHistory(row, s, d);
}

/**
 * The editor: one box per language of the session (a plain string shows in the first one),
 * each sent as its own `draft.edit` when it changed from what it held when opened.
 */
function openEditor(row) {
  const s = client.state;
  const d = draftById(row.id);
  if (!d || draftLock(s, d)) return;
  const langs = languagesOf(s, d.text);
  const slots = (langs.length ? langs : [null]).map((l) => {
    const id = `ed-${row.id}-${l || 'text'}`;
    const box = h('textarea', {
      id, class: 'edit-box', rows: 7, maxlength: 20000, lang: l, spellcheck: 'true',
      'data-testid': 'draft-edit-text', 'data-lang': l || '',
    });
    box.value = textIn(d.text, l, langs);
    const label = h('label', { class: 'field-label', for: id });
    return { lang: l, box, label, base: box.value };
  });
  const ed = {
    version: d.version, slots, cmds: [],
    status: h('p', { class: 'edit-status small', 'data-testid': 'draft-edit-status', role: 'status', 'aria-live': 'polite' }),
    stale: h('p', { class: 'edit-stale small', 'data-testid': 'draft-edit-stale', hidden: true }),
    hint: h('p', { class: 'muted small' }),
    save: h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'draft-edit-save' }),
    cancel: h('button', { type: 'button', class: 'btn', 'data-testid': 'draft-edit-cancel' }),
  };
  ed.cancel.addEventListener('click', () => closeEditor(row, true));
  ed.form = h(
    'form',
    { class: 'draft-editor', 'data-testid': 'draft-editor', novalidate: true },
    slots.map((x) => h('div', { class: 'edit-lang' }, x.label, x.box)),
    ed.hint,
    ed.stale,
    h('div', { class: 'edit-buttons' }, ed.save, ed.cancel),
    ed.status,
  );
  ed.form.addEventListener('submit', (e) => {
    e.preventDefault();
    saveEdit(row);
  });
  ed.form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      e.preventDefault();
      closeEditor(row, true);
    } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      saveEdit(row);
    }
  });
  row.editor = ed;
  fill(row.editorSlot, ed.form);
  setText(row.saved, '');
  row.editBtn.setAttribute('aria-expanded', 'true');
  render();
  slots[0].box.focus();
}

function closeEditor(row, focus = false) {
  row.editor = null;
  fill(row.editorSlot);
  row.editBtn.setAttribute('aria-expanded', 'false');
  render();
  if (focus && !row.editBtn.disabled) row.editBtn.focus();
  else if (focus) row.details.querySelector('summary').focus();
}

function renderEditor(row, s, d, lock, why) {
  const ed = row.editor;
  const title = locText(d.title).text;
  ed.form.setAttribute('aria-label', t('rap.edit_label', { title }));
  for (const x of ed.slots) setText(x.label, x.lang ? t('rap.edit_text_in', { lang: langName(x.lang) }) : t('rap.edit_text'));
  setText(ed.hint, ed.slots.length > 1 ? t('rap.edit_hint_langs') : t('rap.edit_hint'));
  setText(ed.save, t('rap.edit_save'));
  setText(ed.cancel, t('common.cancel'));
  const busy = ed.cmds.some((c) => !settled(c));
  ed.save.disabled = !!lock;
  ed.save.setAttribute('aria-busy', String(busy));
  if (lock) ed.save.setAttribute('aria-describedby', why);
  else ed.save.removeAttribute('aria-describedby');
  const changed = d.version !== ed.version && !busy;
  ed.stale.hidden = !changed;
  if (changed) setText(ed.stale, t('rap.edit_stale', { n: d.version }));
}

function saveEdit(row) {
  const ed = row.editor;
  const s = client.state;
  const d = draftById(row.id);
  if (!ed || !d || draftLock(s, d) || ed.cmds.some((c) => !settled(c))) return;
  const say = (text, kind) => {
    ed.status.dataset.kind = kind;
    setText(ed.status, text);
  };
  const changed = ed.slots.filter((x) => x.box.value.trim() !== x.base.trim());
  for (const x of changed) x.box.removeAttribute('aria-invalid');
  const empty = changed.find((x) => x.box.value.trim() === '');
  if (empty) {
    empty.box.setAttribute('aria-invalid', 'true');
    say(empty.lang ? t('rap.edit_empty_lang', { lang: langName(empty.lang) }) : t('rap.edit_empty'), 'error');
    empty.box.focus();
    return;
  }
  if (changed.length === 0) {
    say(t('rap.edit_nothing'), 'info');
    return;
  }
  const from = d.version;
  ed.cmds = [];
  const onFate = () => {
    if (row.editor !== ed) return;
    if (!ed.cmds.every(settled)) {
      const queued = ed.cmds.some((c) => c.status === 'queued');
      say(queued ? t('rap.note_queued') : t('rap.edit_saving'), 'info');
      render();
      return;
    }
    const refused = ed.cmds.filter((c) => c.status !== 'acked');
    // What went in is the new starting point: saving again sends only what is still different.
    for (const c of ed.cmds) {
      if (c.status === 'acked') {
        const x = ed.slots.find((y) => (y.lang || null) === (c.fields.lang || null));
        if (x) x.base = c.fields.text;
      }
    }
    if (refused.length === 0) {
      closeEditor(row);
      setText(row.saved, t('rap.edit_saved'));
      row.saved.dataset.kind = 'ok';
      openHistory(row, from);
      row.histBtn.focus();
    } else {
      const why = refused.map((c) => (c.fields.lang ? `${langName(c.fields.lang)}: ${reason(c)}` : reason(c))).join('; ');
      say(t('rap.edit_refused', { reason: why }), 'error');
      ed.version = (draftById(row.id) || d).version;
      render();
    }
  };
  for (const x of changed) {
    const fields = { draft: d.id, text: x.box.value.trim() };
    if (x.lang) fields.lang = x.lang;
    ed.cmds.push(send('draft.edit', fields, onFate));
  }
}

/** The version history: two versions picked (by default the one before the last and the last), compared word by word per language. */
function openHistory(row, from) {
  const sel = (id, testid) => h('select', { id, class: 'diff-select', 'data-testid': testid });
  const hist = {
    from, // a version number, or null: the one before `to`
    to: null, // a version number, or null: the last
    full: false,
    sig: null,
    fromSel: sel(`diff-from-${row.id}`, 'diff-from'),
    toSel: sel(`diff-to-${row.id}`, 'diff-to'),
    fullBox: h('input', { type: 'checkbox', id: `diff-full-${row.id}`, 'data-testid': 'diff-full' }),
    labels: {
      from: h('label', { for: `diff-from-${row.id}` }),
      to: h('label', { for: `diff-to-${row.id}` }),
      full: h('label', { for: `diff-full-${row.id}` }),
      title: h('h3', { class: 'history-title', id: `hist-${row.id}` }),
    },
    out: h('div', { class: 'diff-out', 'data-testid': 'diff-out', 'aria-live': 'polite' }),
  };
  hist.fromSel.addEventListener('change', () => {
    hist.from = Number(hist.fromSel.value);
    render();
  });
  hist.toSel.addEventListener('change', () => {
    hist.to = Number(hist.toSel.value);
    render();
  });
  hist.fullBox.addEventListener('change', () => {
    hist.full = hist.fullBox.checked;
    render();
  });
  row.hist = hist;
  fill(
    row.historySlot,
    h(
      'section',
      { class: 'draft-history', 'data-testid': 'draft-versions', 'aria-labelledby': `hist-${row.id}` },
      hist.labels.title,
      h(
        'div',
        { class: 'diff-pick' },
        h('span', { class: 'diff-field' }, hist.labels.from, hist.fromSel),
        h('span', { class: 'diff-field' }, hist.labels.to, hist.toSel),
        h('span', { class: 'diff-field diff-check' }, hist.fullBox, hist.labels.full),
      ),
      hist.out,
    ),
  );
  row.histBtn.setAttribute('aria-expanded', 'true');
  render();
}

function versionLabel(v, langs) {
  const who = v.role ? tv('role', v.role) : t('rap.version_defined');
  const what = v.lang && langs.length > 1 ? langName(v.lang) : null;
  return [t('rap.version_n', { n: v.version }), v.at ? fmtTime(v.at, currentLang()) : null, who, what].filter(Boolean).join(' · ');
}

function setOptions(select, versions, value, langs) {
  const sig = JSON.stringify([currentLang(), versions.map((v) => [v.version, v.at, v.role, v.lang])]);
  if (select.dataset.sig !== sig) {
    select.dataset.sig = sig;
    fill(select, versions.map((v) => h('option', { value: v.version }, versionLabel(v, langs))));
  }
  if (select.value !== String(value)) select.value = String(value);
}

function renderHistory(row, s, d) {
  const hist = row.hist;
  const versions = (Array.isArray(d.versions) ? d.versions : []).filter((v) => v && v.version != null);
  const langs = languagesOf(s, d.text);
  const nums = versions.map((v) => v.version);
  const to = nums.includes(hist.to) ? hist.to : nums[nums.length - 1];
  const before = nums.filter((n) => n < to);
  const from = nums.includes(hist.from) ? hist.from : before.length ? before[before.length - 1] : to;
  setText(hist.labels.title, t('rap.history_title'));
  setText(hist.labels.from, t('rap.diff_from'));
  setText(hist.labels.to, t('rap.diff_to'));
  setText(hist.labels.full, t('rap.diff_full'));
  setOptions(hist.fromSel, versions, from, langs);
  setOptions(hist.toSel, versions, to, langs);
  const a = versions.find((v) => v.version === from);
  const b = versions.find((v) => v.version === to);
  const sig = JSON.stringify([currentLang(), from, to, hist.full, a && a.text, b && b.text, langs]);
  if (sig === hist.sig) return;
  hist.sig = sig;
  if (!a || !b) {
    fill(hist.out, h('p', { class: 'muted' }, t('rap.history_one')));
    return;
  }
  if (from === to) {
    fill(hist.out, h('p', { class: 'muted' }, t('rap.diff_same')));
    return;
  }
  const blocks = (langs.length ? langs : [null]).map((l) => {
    const ta = textIn(a.text, l, langs);
    const tb = textIn(b.text, l, langs);
    if (!ta && !tb) return null;
    const name = l ? capital(langName(l)) : t('rap.edit_text');
    if (ta === tb) {
      return h('div', { class: 'diff-lang is-same', 'data-testid': 'diff', 'data-lang': l || '', 'data-changed': 'false' },
        h('p', { class: 'diff-head' }, h('strong', null, name), ' ', h('span', { class: 'muted' }, t('rap.diff_no_change'))));
    }
    const { parts, coarse } = diffWords(ta, tb);
    let added = 0;
    let removed = 0;
    for (const p of parts) {
      if (p.op === 'ins') added += wordCount(p.text);
      else if (p.op === 'del') removed += wordCount(p.text);
    }
    const shown = hist.full ? parts : collapse(parts);
    return h(
      'div',
      { class: 'diff-lang', 'data-testid': 'diff', 'data-lang': l || '', 'data-changed': 'true' },
      h(
        'p',
        { class: 'diff-head' },
        h('strong', null, name),
        ' ',
        h('span', { class: 'diff-count' }, t('rap.diff_counts', { added, removed })),
        coarse ? h('span', { class: 'muted small' }, ` · ${t('rap.diff_coarse')}`) : null,
      ),
      h('p', { class: 'diff-text', lang: l }, shown.map(diffNode)),
    );
  }).filter(Boolean);
  // The legend's samples are for the eye: a screen reader hears "added:" and "removed:" in the text itself.
  const legend = h('span', { 'aria-hidden': 'true' }, ' — ', h('del', null, t('rap.diff_legend_removed')), ' ', h('ins', null, t('rap.diff_legend_added')));
  fill(hist.out, h('p', { class: 'diff-legend small muted' }, t('rap.diff_between', { a: from, b: to }), legend), blocks);
}

function diffNode(p) {
  if (p.op === 'eq') return p.text;
  if (p.op === 'gap') return h('span', { class: 'diff-gap' }, t('rap.diff_gap', { n: p.chars.toLocaleString(currentLang()) }));
  const said = h('span', { class: 'visually-hidden' }, `${t(p.op === 'ins' ? 'rap.diff_added_sr' : 'rap.diff_removed_sr')} `);
  return h(p.op, null, said, p.text);
}

// ---------------------------------------------------------------- new draft (draftform.js)

function renderNewDraft(s) {
  const btn = $('btn-draft-new');
  const lock = globalLock(s);
  btn.disabled = !!lock && !ui.creating;
  setText($('draft-new-note'), lock);
  $('draft-new-note').hidden = !lock;
  if (lock) btn.setAttribute('aria-describedby', 'draft-new-note');
  else btn.removeAttribute('aria-describedby');
  const f = ui.creating;
  if (!f) return;
  f.submit.disabled = !!lock;
  labelDraftForm(f);
}

function openNewDraft() {
  const s = client.state;
  if (!s || ui.creating || globalLock(s)) return;
  const f = draftForm(languagesOf(s, null), { onSubmit: submitNewDraft, onCancel: () => closeNewDraft(true) });
  f.cmd = null;
  ui.creating = f;
  fill($('draft-new-slot'), f.form);
  $('btn-draft-new').setAttribute('aria-expanded', 'true');
  render();
  f.slots[0].title.focus();
}

function closeNewDraft(focus = false) {
  ui.creating = null;
  fill($('draft-new-slot'));
  $('btn-draft-new').setAttribute('aria-expanded', 'false');
  render();
  if (focus) $('btn-draft-new').focus();
}

function submitNewDraft() {
  const f = ui.creating;
  const s = client.state;
  if (!f || !s || globalLock(s) || (f.cmd && !settled(f.cmd))) return;
  const fields = readDraftForm(f);
  if (!fields) return;
  ui.known = new Set(draftsOf(s).map((d) => d.id));
  f.cmd = send('draft.create', fields, (c) => {
    if (ui.creating !== f) return;
    if (c.status === 'queued') sayDraftForm(f, t('rap.note_queued'), 'info');
    else if (c.status === 'sent') sayDraftForm(f, t('rap.new_sending'), 'info');
    else if (c.status === 'acked') {
      ui.focusNew = JSON.stringify(fields.title);
      closeNewDraft();
      render();
    } else sayDraftForm(f, t('rap.new_refused', { reason: reason(c) }), 'error');
    f.submit.setAttribute('aria-busy', String(!settled(c)));
  });
}

/** Once the draft just created shows, it opens and takes the focus. */
function focusCreated(drafts) {
  const d = drafts.find((x) => !ui.known.has(x.id) && JSON.stringify(x.title) === ui.focusNew);
  if (!d) return;
  ui.focusNew = null;
  const row = draftRows.get(d.id);
  if (!row) return;
  row.details.open = true;
  setText(row.saved, t('rap.new_done'));
  row.saved.dataset.kind = 'ok';
  row.details.querySelector('summary').focus();
}

// ---------------------------------------------------------------- notes, finalisation, exports
//
// The state view carries neither the notes nor the seal: they come from record.json (fetched
// with the key on load, after every full welcome and, throttled, after the events), and the
// `record.noted`, `record.note_edited`, `record.note_deleted` and `record.finalised` events
// are folded in as they come. The events newer than the last record.json fetched are kept and
// played again over it, so a slow fetch never brings back a deleted note or an old text.

const rec = {
  record: null, // the last record.json
  recordSeq: -1, // the last event it includes
  overlay: [], // [{seq, ev}] note events, played over record.json's notes
  notes: new Map(), // id → {id, text, at, edited_at}
  finalised: null, // {at, digest}
  loading: false,
  again: false,
  timer: null,
  due: 0,
  lastStart: 0,
  lastTook: 0,
  note: null, // the note command on its way
  finalise: null, // the finalise command on its way
  justFinalised: false,
  url: null, // blob: URL of the last minutes opened
  version: 0, // bumped whenever the record's content changes here
};

/** A record export of this session, fetched with the key (never in the URL). */
function api(name) {
  return fetch(`/api/sessions/${encodeURIComponent(sessionId)}/${name}`, {
    headers: { Authorization: `Bearer ${key}` },
    cache: 'no-store',
  });
}

async function loadRecord() {
  if (rec.loading) {
    rec.again = true;
    return;
  }
  rec.loading = true;
  rec.lastStart = Date.now();
  try {
    const res = await api('record.json');
    if (res.ok) {
      const r = await res.json();
      rec.record = r;
      const tl = Array.isArray(r.timeline) ? r.timeline : [];
      rec.recordSeq = tl.reduce((m, x) => Math.max(m, Number(x && x.seq) || 0), -1);
      rec.overlay = rec.overlay.filter((o) => o.seq > rec.recordSeq);
      rec.notes = new Map();
      for (const n of Array.isArray(r.notes) ? r.notes : []) if (n && n.id != null) rec.notes.set(String(n.id), { ...n, id: String(n.id) });
      for (const o of rec.overlay) foldNote(o.ev);
      if (typeof r.digest === 'string' && r.digest) {
        rec.finalised = { at: (r.finalised && r.finalised.at) ?? rec.finalised?.at ?? null, digest: r.digest };
      }
      rec.version += 1;
      if (ready()) render();
    }
  } catch {
    /* offline: the next welcome fetches it again */
  } finally {
    rec.lastTook = Date.now() - rec.lastStart;
    rec.loading = false;
    if (rec.again) {
      rec.again = false;
      refreshSoon(0);
    }
  }
}

/**
 * Fetches record.json again shortly. Events come in bursts: a fetch already due sooner is not
 * put off, and fetches start at least a second apart (more when the record is slow to come).
 */
function refreshSoon(ms = 500) {
  const gap = Math.max(1000, rec.lastTook * 4);
  const due = Math.max(Date.now() + ms, rec.lastStart + gap);
  if (rec.timer && rec.due <= due) return;
  clearTimeout(rec.timer);
  rec.due = due;
  rec.timer = setTimeout(() => {
    rec.timer = null;
    loadRecord();
  }, Math.max(0, due - Date.now()));
}

/** Applies a note event to the notes shown. */
function foldNote(ev) {
  const id = ev.note == null ? null : String(ev.note);
  if (id == null) return;
  if (ev.kind === 'record.noted' && typeof ev.text === 'string') {
    rec.notes.set(id, { id, text: ev.text, at: ev.at, edited_at: null });
  } else if (ev.kind === 'record.note_edited' && typeof ev.text === 'string') {
    const n = rec.notes.get(id);
    if (n) rec.notes.set(id, { ...n, text: ev.text, edited_at: ev.at ?? null });
  } else if (ev.kind === 'record.note_deleted') {
    rec.notes.delete(id);
  }
}

function wireRecord() {
  client.on('welcome', (msg) => {
    if (msg.state) {
      rec.overlay = [];
      clearTimeout(rec.timer);
      rec.timer = null;
      loadRecord();
    }
  });
  client.on('event', (ev, seq) => {
    if (!ev || typeof ev.kind !== 'string') return;
    if (ev.kind === 'record.noted' || ev.kind === 'record.note_edited' || ev.kind === 'record.note_deleted') {
      if (typeof seq === 'number') rec.overlay.push({ seq, ev });
      foldNote(ev);
      rec.version += 1;
    } else if (ev.kind === 'record.finalised' && typeof ev.digest === 'string') {
      rec.finalised = { at: ev.at ?? null, digest: ev.digest };
      rec.version += 1;
    }
    if (ev.kind.startsWith('record.') && ready()) renderRecord();
    refreshSoon(ev.kind.startsWith('record.') || ev.kind.startsWith('poll.') || ev.kind.startsWith('draft.') ? 200 : 600);
  });
  client.on('command', (c) => {
    const fn = pending.get(c);
    if (!fn) return;
    if (settled(c)) pending.delete(c);
    fn(c);
  });

  $('note-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sendNote();
  });
  $('note-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      sendNote();
    }
  });

  $('btn-draft-new').addEventListener('click', () => {
    if (ui.creating) closeNewDraft(true);
    else openNewDraft();
  });

  $('btn-finalise').addEventListener('click', () => {
    if ($('btn-finalise').disabled || rec.finalise) return;
    $('finalise-confirm').hidden = false;
    $('btn-finalise').hidden = true;
    $('btn-finalise').setAttribute('aria-expanded', 'true');
    $('btn-finalise-cancel').focus();
  });
  $('btn-finalise-cancel').addEventListener('click', closeFinaliseConfirm);
  $('finalise-confirm').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeFinaliseConfirm();
  });
  $('btn-finalise-confirm').addEventListener('click', () => {
    closeFinaliseConfirm();
    rec.justFinalised = true;
    rec.finalise = send('record.finalise', {}, onFinalise);
    setStatus('final-status', t('rap.finalising'), 'info');
    renderRecord();
  });

  for (const b of document.querySelectorAll('[data-export]')) b.addEventListener('click', () => exportOne(b));
}

function closeFinaliseConfirm() {
  $('finalise-confirm').hidden = true;
  $('btn-finalise').hidden = false;
  $('btn-finalise').setAttribute('aria-expanded', 'false');
  $('btn-finalise').focus();
}

function setStatus(id, text, kind = 'info') {
  const el = $(id);
  el.dataset.kind = kind;
  setText(el, text);
}

/** Why a command was refused, in the page's language (with the server's words). */
function reason(c) {
  const e = c.error || {};
  const label = tv('error', e.code || 'invalid');
  return e.message ? `${label} (${e.message})` : label;
}

function sendNote() {
  const box = $('note-text');
  const text = box.value.trim();
  if (rec.finalised || rec.note) return;
  if (!text) {
    setStatus('note-status', t('rap.note_empty'), 'error');
    box.focus();
    return;
  }
  rec.note = send('record.note', { text }, onNote);
}

function onNote(c) {
  if (c !== rec.note) return;
  if (c.status === 'queued') setStatus('note-status', t('rap.note_queued'), 'info');
  else if (c.status === 'sent') setStatus('note-status', t('rap.note_sending'), 'info');
  else {
    rec.note = null;
    if (c.status === 'acked') {
      const box = $('note-text');
      if (box.value.trim() === c.fields.text) box.value = '';
      setStatus('note-status', t('rap.note_added'), 'ok');
      refreshSoon(0);
    } else {
      setStatus('note-status', t('rap.note_refused', { reason: reason(c) }), 'error');
    }
  }
  $('note-submit').setAttribute('aria-busy', String(!!rec.note));
}

function onFinalise(c) {
  if (c !== rec.finalise) return;
  if (c.status === 'queued') setStatus('final-status', t('rap.note_queued'), 'info');
  if (settled(c)) {
    rec.finalise = null;
    if (c.status === 'refused') {
      rec.justFinalised = false;
      setStatus('final-status', t('rap.finalise_refused', { reason: reason(c) }), 'error');
    } else {
      setStatus('final-status', '', 'info');
    }
    refreshSoon(0);
    if (ready()) render();
  }
}

/** Each note's row, kept across renders so an open editor or confirmation stays as it is. */
const noteRows = new Map(); // id → {li, sig, mode: 'view'|'edit'|'delete', box, cmd, msg}

function renderNotes(final) {
  const lang = currentLang();
  const notes = [...rec.notes.values()].sort((a, b) => (Number(a.at) || 0) - (Number(b.at) || 0) || String(a.id).localeCompare(String(b.id)));
  const list = $('notes-list');
  const seen = new Set();
  const els = notes.map((n) => {
    seen.add(n.id);
    let row = noteRows.get(n.id);
    if (!row) {
      row = { id: n.id, li: null, sig: null, mode: 'view', box: null, cmd: null, msg: null };
      noteRows.set(n.id, row);
    }
    if (final && row.mode !== 'view') row.mode = 'view';
    const busy = !!row.cmd && !settled(row.cmd);
    const sig = JSON.stringify([lang, n.text, n.at, n.edited_at, row.mode, busy, final, row.msg]);
    if (row.sig !== sig) {
      row.sig = sig;
      const li = noteRow(n, row, final, busy, lang);
      if (row.li) row.li.replaceWith(li);
      row.li = li;
    }
    return row.li;
  });
  for (const [id, row] of [...noteRows]) {
    if (!seen.has(id)) {
      noteRows.delete(id);
      if (row.li && row.li.contains(document.activeElement)) ui.refocusNotes = true;
    }
  }
  els.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
  });
  while (list.children.length > els.length) list.lastElementChild.remove();
  $('notes-empty').hidden = notes.length > 0;
  if (ui.refocusNotes) {
    ui.refocusNotes = false;
    const next = list.querySelector('[data-testid="note-edit"]');
    (next || $('note-text')).focus();
  }
}

function noteRow(n, row, final, busy, lang) {
  const iso = Number.isFinite(Number(n.at)) ? new Date(Number(n.at)).toISOString() : null;
  const parts = [h('time', { class: 'note-time', datetime: iso }, n.at ? fmtTime(n.at, lang) : '')];
  const body = [];
  const label = t('rap.note_n', { time: n.at ? fmtTime(n.at, lang) : '' });
  if (row.mode === 'edit') {
    if (!row.box) {
      row.box = h('textarea', { class: 'edit-box', rows: 3, maxlength: 5000, 'data-testid': 'note-edit-text', id: `note-box-${n.id}` });
      row.box.value = n.text;
      row.box.addEventListener('keydown', (e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          endNoteEdit(row, true);
        } else if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
          e.preventDefault();
          saveNote(row);
        }
      });
    }
    row.box.setAttribute('aria-label', t('rap.note_edit_label', { time: n.at ? fmtTime(n.at, lang) : '' }));
    body.push(
      row.box,
      h(
        'div',
        { class: 'note-buttons' },
        h('button', { type: 'button', class: 'btn btn-small btn-primary', 'data-testid': 'note-edit-save', 'aria-busy': String(busy), onclick: () => saveNote(row) }, t('rap.note_save')),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'note-edit-cancel', onclick: () => endNoteEdit(row, true) }, t('common.cancel')),
      ),
    );
  } else {
    body.push(h('p', { class: 'note-text' }, n.text));
    if (n.edited_at) body.push(h('p', { class: 'note-edited muted small' }, t('rap.note_edited', { time: fmtTime(n.edited_at, lang) })));
    if (!final && row.mode === 'delete') {
      const qid = `note-del-q-${n.id}`;
      body.push(h(
        'div',
        { class: 'confirm note-confirm', 'data-testid': 'note-delete-confirm', role: 'alertdialog', 'aria-labelledby': qid, onkeydown: (e) => { if (e.key === 'Escape') endNoteDelete(row, true); } },
        h('p', { id: qid }, t('rap.note_delete_question')),
        h(
          'div',
          { class: 'confirm-buttons' },
          h('button', { type: 'button', class: 'btn', 'data-testid': 'note-delete-cancel', onclick: () => endNoteDelete(row, true) }, t('common.cancel')),
          h('button', { type: 'button', class: 'btn btn-danger', 'data-testid': 'note-delete-yes', 'aria-busy': String(busy), onclick: () => deleteNote(row) }, t('rap.note_delete_confirm')),
        ),
      ));
    } else if (!final) {
      body.push(h(
        'div',
        { class: 'note-buttons' },
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'note-edit', 'aria-label': `${t('rap.note_edit')} — ${label}`, onclick: () => startNoteEdit(row) }, t('rap.note_edit')),
        h('button', { type: 'button', class: 'btn btn-small btn-danger', 'data-testid': 'note-delete', 'aria-label': `${t('rap.note_delete')} — ${label}`, onclick: () => askNoteDelete(row) }, t('rap.note_delete')),
      ));
    }
  }
  if (row.msg) body.push(h('p', { class: 'small', 'data-testid': 'note-row-status', 'data-kind': row.msg.kind, role: 'status' }, row.msg.text));
  parts.push(h('div', { class: 'note-body' }, body));
  return h('li', { class: 'note', 'data-testid': 'note', 'data-id': n.id, 'data-mode': row.mode }, parts);
}

/** Renders the notes, then puts the focus in `row` on the element with this test id. */
function redrawNote(row, focusId) {
  renderNotes(!!rec.finalised);
  const el = row.li && row.li.querySelector(`[data-testid="${focusId}"]`);
  if (el) el.focus();
}

function startNoteEdit(row) {
  if (rec.finalised) return;
  row.mode = 'edit';
  row.box = null;
  row.msg = null;
  redrawNote(row, 'note-edit-text');
}

function endNoteEdit(row, focus) {
  row.mode = 'view';
  row.box = null;
  redrawNote(row, focus ? 'note-edit' : '');
}

function askNoteDelete(row) {
  if (rec.finalised) return;
  row.mode = 'delete';
  row.msg = null;
  redrawNote(row, 'note-delete-cancel');
}

function endNoteDelete(row, focus) {
  row.mode = 'view';
  redrawNote(row, focus ? 'note-delete' : '');
}

function saveNote(row) {
  if (!row.box || (row.cmd && !settled(row.cmd)) || rec.finalised) return;
  const text = row.box.value.trim();
  const n = rec.notes.get(row.id);
  if (!text) {
    row.msg = { kind: 'error', text: t('rap.note_empty') };
    redrawNote(row, 'note-edit-text');
    return;
  }
  if (n && n.text === text) {
    endNoteEdit(row, true);
    return;
  }
  row.cmd = send('record.note', { note: row.id, text }, (c) => {
    if (c !== row.cmd) return;
    if (c.status === 'acked') {
      row.msg = null;
      row.mode = 'view';
      row.box = null;
      const had = row.li && row.li.contains(document.activeElement);
      redrawNote(row, had ? 'note-edit' : '');
    } else if (c.status === 'refused' || c.status === 'cancelled') {
      row.msg = { kind: 'error', text: t('rap.note_edit_refused', { reason: reason(c) }) };
      redrawNote(row, 'note-edit-text');
    } else {
      row.msg = c.status === 'queued' ? { kind: 'info', text: t('rap.note_queued') } : null;
      renderNotes(!!rec.finalised);
    }
  });
}

function deleteNote(row) {
  if ((row.cmd && !settled(row.cmd)) || rec.finalised) return;
  row.cmd = send('record.note_delete', { note: row.id }, (c) => {
    if (c !== row.cmd) return;
    if (c.status === 'acked') {
      // The event removes the row; record.json says so too if the event was missed.
      refreshSoon(0);
    } else if (c.status === 'refused' || c.status === 'cancelled') {
      row.mode = 'view';
      row.msg = { kind: 'error', text: t('rap.note_delete_refused', { reason: reason(c) }) };
      redrawNote(row, 'note-delete');
    } else {
      row.msg = c.status === 'queued' ? { kind: 'info', text: t('rap.note_queued') } : null;
      renderNotes(!!rec.finalised);
    }
  });
}

function renderRecord() {
  if (!client || !client.state) return;
  const s = client.state;
  const lang = currentLang();
  const final = rec.finalised;
  const closed = !!final;

  renderNotes(closed);
  $('note-text').disabled = closed;
  $('note-submit').disabled = closed;
  // Once final, the form gives way to a line saying so.
  for (const id of ['note-text', 'note-submit']) $(id).hidden = closed;
  $('note-form').querySelector('.field-label').hidden = closed;
  $('note-hint').textContent = closed ? t('rap.note_closed') : t('rap.note_hint');

  renderMinutes(s);

  // Finalisation.
  $('final').dataset.final = String(closed);
  $('final-open').hidden = closed;
  $('final-done').hidden = !closed;
  if (closed) {
    const first = $('digest').textContent !== final.digest;
    setText($('digest'), final.digest);
    setText($('final-at'), final.at ? t('rap.final_at', { time: fmtTime(final.at, lang, true) }) : '');
    if (first && rec.justFinalised) {
      rec.justFinalised = false;
      $('digest').setAttribute('tabindex', '-1');
      $('digest').focus();
    }
  } else {
    const ended = s.phase === 'ended';
    setText($('final-note'), ended ? t('rap.final_ready') : t('rap.final_pending'));
    const btn = $('btn-finalise');
    btn.disabled = !ended;
    btn.setAttribute('aria-busy', String(!!rec.finalise));
    if (!ended && !$('finalise-confirm').hidden) {
      $('finalise-confirm').hidden = true;
      btn.hidden = false;
    }
  }
}

// ---------------------------------------------------------------- the record, read as minutes
//
// record.json as it stands, in the page's language, with times in UTC as the exports print
// them; the texts and votes from the live state (fresher: a vote's figures show as it closes).

let minutesSig = null;

function renderMinutes(s) {
  const r = rec.record;
  const card = $('record-entries');
  const drafts = draftsOf(s);
  const polls = pollsOf(s);
  const sig = JSON.stringify([
    currentLang(), rec.version, s.phase,
    drafts.map((d) => [d.id, d.kind, d.title, d.status, d.version, d.adopted_by]),
    polls.map((p) => [p.id, p.status, p.outcome, p.counts, p.cast, p.cast_weight, p.closed_at]),
  ]);
  if (sig === minutesSig) return;
  minutesSig = sig;
  $('record').setAttribute('aria-busy', String(!r));
  if (!r) {
    setText($('record-state'), t('rap.rec_loading'));
    return;
  }
  setText($('record-state'), rec.finalised ? t('rap.rec_final') : t('rap.rec_live', { time: utc(client.now()) }));
  $('record-state').dataset.final = String(!!rec.finalised);
  const sections = [
    minutesHead(r, s),
    minutesAgenda(r, s),
    minutesTexts(r, s, drafts),
    minutesQuestions(r),
    minutesFloor(r),
    minutesNotes(),
  ].filter(Boolean);
  fill(card, sections);
  $('record-empty').hidden = sections.length > 1;
}

const section = (id, title, ...body) => h('section', { class: 'rec-sec', 'data-testid': id, 'aria-label': title }, h('h3', { class: 'rec-h' }, title), body);

function minutesHead(r, s) {
  const ss = r.session || {};
  const started = ss.started_at ?? s.started_at;
  const ended = ss.ended_at ?? s.ended_at;
  const bits = [];
  if (started) bits.push(t('rap.rec_opened', { time: utc(started, true) }));
  if (ended) bits.push(t('rap.rec_closed', { time: utc(ended) }));
  if (started && ended) bits.push(hoursMinutes((ended - started) / 1000));
  if (!started) bits.push(t('rap.rec_not_started'));
  return h('p', { class: 'rec-lead', 'data-testid': 'rec-head' }, bits.join(' · '));
}

function minutesAgenda(r, s) {
  const items = Array.isArray(r.agenda) ? r.agenda : [];
  if (!items.some((a) => (a.held || []).length)) return null;
  const ended = s.phase === 'ended';
  const rows = items.map((a, i) => {
    const held = Array.isArray(a.held) ? a.held : [];
    const running = held.some((x) => x.to == null) && !ended;
    const secs = Number(a.seconds) || 0;
    const planned = Number(a.planned_minutes) || 0;
    let when;
    let delta = null;
    if (held.length === 0) when = h('span', { class: 'muted' }, ended || (s.agenda.current != null && i < s.agenda.current) ? t('rap.rec_not_held') : t('rap.rec_to_come'));
    else {
      const ranges = held.map((x) => utcRange(x.from, x.to)).join(', ');
      const parts = [ranges];
      if (!running && secs > 0) parts.push(minutes(secs));
      if (planned) parts.push(t('rap.rec_planned', { n: planned }));
      when = parts.join(' · ');
      if (!running && secs > 0 && planned) {
        const d = Math.round(secs / 60) - planned;
        delta = h('span', { class: `rec-delta ${d > 0 ? 'is-over' : d < 0 ? 'is-under' : 'is-on'}`, 'data-testid': 'rec-delta' },
          d === 0 ? t('rap.rec_on_time') : t(d > 0 ? 'rap.rec_over' : 'rap.rec_under', { n: Math.abs(d) }));
      }
    }
    return h(
      'li',
      { class: `rec-item${running ? ' is-running' : ''}${held.length ? '' : ' is-idle'}`, 'data-testid': 'rec-item', 'data-index': i },
      h('span', { class: 'rec-title' }, langNodes(a.title)),
      h('span', { class: 'rec-meta' }, when, delta ? ' · ' : null, delta),
    );
  });
  return section('rec-agenda', t('rap.agenda_held'), h('ol', { class: 'rec-list' }, rows));
}

function minutesTexts(r, s, drafts) {
  if (drafts.length === 0) return null;
  const roster = isRoster(s);
  const rows = drafts.map((d) => {
    const dec = decision(s, d);
    const live = d.status === 'voting' ? decidingPoll(s, d) : null;
    let outcome;
    const lines = [];
    if (dec.outcome === 'consensus') {
      outcome = t('rap.rec_consensus', { v: d.version });
    } else if (dec.poll && dec.outcome) {
      const p = dec.poll;
      outcome = `${tv('votes.outcome', dec.outcome)} · ${t('rap.rec_version_voted', { v: p.version ?? d.version })}`;
      lines.push([countsText(p), turnoutText(p, roster)].filter(Boolean).join(' · '));
      lines.push([settingsText(p), ruleText(p), t('rap.rec_closed_at', { time: utc(p.closed_at) })].filter(Boolean).join(' — '));
    } else if (live) {
      outcome = t('rap.rec_voting', { v: live.version ?? d.version });
      lines.push(turnoutText(live, roster));
    } else if (dec.outcome === 'withdrawn') {
      outcome = tv('votes.outcome', 'withdrawn');
    } else if (dec.outcome) {
      outcome = tv('votes.outcome', dec.outcome);
    } else {
      outcome = t(s.phase === 'ended' ? 'rap.rec_not_decided' : 'rap.rec_undecided', { v: d.version });
    }
    const earlier = draftPolls(s, d.id).filter((p) => p.status === 'closed' && p.outcome === 'no_quorum' && (!dec.poll || p.id !== dec.poll.id));
    for (const p of earlier) lines.unshift(t('rap.rec_earlier', { time: utc(p.closed_at), rule: ruleText(p) }));
    const shown = dec.outcome || (live ? 'voting' : 'draft');
    return h(
      'li',
      { class: 'rec-text', 'data-testid': 'rec-text', 'data-id': d.id, 'data-outcome': shown },
      h('span', { class: 'rec-title' }, h('span', { class: 'kind' }, tv('draft.kind', d.kind)), ' ', langNodes(d.title)),
      h('span', { class: `rec-outcome is-${shown}`, 'data-testid': 'rec-outcome' }, outcome),
      lines.filter(Boolean).map((x) => h('span', { class: 'rec-meta' }, x)),
    );
  });
  return section('rec-texts', t('rap.rec_texts'), h('ul', { class: 'rec-list' }, rows));
}

function minutesQuestions(r) {
  const qs = (Array.isArray(r.questions) ? r.questions : []).slice().sort((a, b) => (Number(a.asked_at) || 0) - (Number(b.asked_at) || 0));
  if (qs.length === 0) return null;
  const rows = qs.map((q) => {
    const meta = [
      q.name ? q.name : t('rap.rec_anonymous'),
      t('rap.rec_upvotes', { n: Number(q.upvotes) || 0 }),
      Array.isArray(q.merged) && q.merged.length ? t('rap.rec_merged', { n: q.merged.length }) : null,
      q.answered_at ? t('rap.rec_answered', { time: utc(q.answered_at) }) : t('rap.rec_not_answered'),
    ].filter(Boolean).join(' · ');
    return h('li', { class: 'rec-q', 'data-testid': 'rec-question', 'data-id': q.id }, h('span', { class: 'rec-qtext' }, q.text), h('span', { class: 'rec-meta' }, meta));
  });
  return section('rec-questions', t('rap.rec_questions', { n: qs.length }), h('ol', { class: 'rec-list' }, rows));
}

function minutesFloor(r) {
  const fl = Array.isArray(r.floor) ? r.floor : [];
  if (fl.length === 0) return null;
  const rows = fl.map((f) => {
    const who = [f.name, f.organisation ? `(${f.organisation})` : null].filter(Boolean).join(' ');
    const dur = f.seconds != null ? fmtDuration(Number(f.seconds)) : null;
    const meta = [
      f.started ? utcRange(f.started, f.ended ?? null) : null,
      dur ? (f.limit_seconds ? t('rap.rec_spoke_limit', { time: dur, limit: fmtDuration(Number(f.limit_seconds)) }) : dur) : null,
    ].filter(Boolean).join(' · ');
    return h('li', { class: 'rec-speaker', 'data-testid': 'rec-speaker' }, h('span', { class: 'rec-title' }, who), h('span', { class: 'rec-meta' }, meta));
  });
  return section('rec-floor', t('rap.rec_floor', { n: fl.length }), h('ol', { class: 'rec-list' }, rows));
}

function minutesNotes() {
  const notes = [...rec.notes.values()].sort((a, b) => (Number(a.at) || 0) - (Number(b.at) || 0));
  if (notes.length === 0) return null;
  const rows = notes.map((n) => h(
    'li',
    { class: 'rec-note', 'data-testid': 'rec-note', 'data-id': n.id },
    h('span', { class: 'rec-time' }, utc(n.at)),
    ' ',
    h('span', { class: 'rec-note-text' }, n.text),
    n.edited_at ? h('span', { class: 'muted small' }, ` (${t('rap.note_edited', { time: utc(n.edited_at) })})`) : null,
  ));
  return section('rec-notes', t('rap.rec_notes', { n: notes.length }), h('ol', { class: 'rec-list' }, rows));
}

// ---------------------------------------------------------------- exports

/** A file name for an export: "SOU-94-record.json". */
function fileName(name) {
  const s = (client && client.state) || {};
  const base = String(s.reference || s.code || 'palabre').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'palabre';
  return `${base}-${name}`;
}

async function exportOne(btn) {
  if (btn.getAttribute('aria-busy') === 'true') return;
  const name = btn.dataset.export;
  btn.setAttribute('aria-busy', 'true');
  $('export-fallback').hidden = true;
  setStatus('export-status', '', 'info');
  try {
    const res = await api(name);
    if (!res.ok) {
      setStatus('export-status', t('rap.export_failed', { status: res.status }), 'error');
      return;
    }
    if (name === 'record.html') {
      openMinutes(await res.text());
    } else {
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = fileName(name);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setStatus('export-status', t('rap.export_done', { file: a.download }), 'ok');
    }
  } catch {
    setStatus('export-status', t('rap.export_network'), 'error');
  } finally {
    btn.setAttribute('aria-busy', 'false');
  }
}

/**
 * The minutes in a new tab, from a blob: URL. That page inherits this one's
 * Content-Security-Policy, which refuses an inline <style>: its rules are taken out and given
 * to it as a constructed stylesheet once it is open (as the console does with the voting cards).
 */
function openMinutes(html) {
  let css = '';
  const body = html.replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (m, rules) => {
    css += `${rules}\n`;
    return '';
  });
  if (rec.url) URL.revokeObjectURL(rec.url);
  rec.url = URL.createObjectURL(new Blob([body], { type: 'text/html;charset=utf-8' }));
  const w = window.open(rec.url, '_blank');
  $('export-link').href = rec.url;
  if (!w) {
    $('export-fallback').hidden = false;
    $('export-link').focus();
    return;
  }
  if (css) styleWhenLoaded(w, rec.url, css);
  setStatus('export-status', t('rap.export_opened'), 'ok');
}
