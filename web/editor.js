// Session editor (`GET /new`): a secretariat officer prepares a session in the browser, in
// French and English, without seeing JSON.
//
// The form edits a model; the definition sent to the server is built from it (`toDef`) and
// checked as the officer types (`POST /api/definitions/check`, debounced): each problem is shown
// next to its field through `data-path` (the server's path, `agenda[2].title.fr`). A text (title,
// speaker line, draft text) is either one string or texts by language, as given: an imported
// definition keeps each value's form, and a field the officer leaves alone is written back as
// it came (`put`), so import → export gives the file back. The model is kept in localStorage
// until the session is created. After creation: the links, then the voter roster (checked with
// `POST /api/roster/check`, uploaded with the moderator key) and its voting cards.

import { h, fill, setText, styleWhenLoaded } from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const KINDS = ['intro', 'presentation', 'debate', 'adoption', 'other'];
const DRAFT_KINDS = ['resolution', 'recommendation'];
const PAGE_LANGS = ['en', 'fr'];
const SAVE_KEY = 'palabre.editor';
const MAX_BODY = 1024 * 1024;
const DEFAULT_TURN = 180;
const KNOWN = {
  def: ['title', 'reference', 'venue', 'starts_at', 'ends_at', 'languages', 'agenda', 'drafts', 'settings'],
  item: ['title', 'kind', 'minutes', 'speakers', 'turn_seconds'],
  draft: ['kind', 'title', 'text'],
  settings: ['moderate_questions', 'anonymous_questions', 'voting', 'turn_seconds'],
};

let seq = 0;
const uid = () => `u${Date.now().toString(36)}${(seq += 1)}`;
const own = (o, k) => o != null && typeof o === 'object' && Object.prototype.hasOwnProperty.call(o, k);
const isObj = (v) => v != null && typeof v === 'object' && !Array.isArray(v);

// ---------------------------------------------------------------- model

/** What a raw text means: '' when empty, else the string or object itself. */
const textSem = (v) => (v == null || isEmptyText(v) ? '' : v);
function isEmptyText(v) {
  if (typeof v === 'string') return v === '';
  if (isObj(v)) return Object.values(v).every((x) => x === '' || x == null);
  return false;
}
const textIn = (v) => (v == null ? '' : isObj(v) ? { ...v } : typeof v === 'string' ? v : String(v));

/** A number field's value: `dflt` when empty, the number, or `{bad}` when not a whole number. */
function numSem(s, dflt) {
  const v = String(s ?? '').trim();
  if (v === '') return dflt;
  return /^\d{1,7}$/.test(v) ? Number(v) : { bad: v };
}
const numOut = (v) => (typeof v === 'number' ? v : undefined);

/** Key order, then sorted keys: compares two values whatever their objects' key order. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).join(',')}]`;
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canon(v[k])}`).join(',')}}`;
  return JSON.stringify(v === undefined ? null : v);
}
const same = (a, b) => canon(a) === canon(b);

/**
 * Writes field `key` of `out`: when the model's value (`value`, as `sem` reads a raw one) is
 * what the source gave, the source's own value (or nothing, when it had none), so untouched
 * fields come back as they were given; otherwise `make(value)` (left out when undefined).
 */
function put(out, src, key, value, sem, make = (v) => v) {
  const has = own(src, key);
  if (same(value, sem(has ? src[key] : undefined))) {
    if (has) out[key] = src[key];
    return;
  }
  const v = make(value);
  if (v !== undefined) out[key] = v;
}

/** `out` with the keys in `src`'s order first. */
function orderLike(out, src) {
  if (!isObj(src)) return out;
  const o = {};
  for (const k of Object.keys(src)) if (own(out, k)) o[k] = out[k];
  for (const k of Object.keys(out)) if (!own(o, k)) o[k] = out[k];
  return o;
}

/** An ISO date-time as its UTC date and HH:MM, or null. */
function splitTime(raw) {
  if (typeof raw !== 'string' || !raw.trim()) return null;
  const d = new Date(raw.trim());
  if (Number.isNaN(d.getTime())) return null;
  const iso = d.toISOString();
  return { date: iso.slice(0, 10), time: iso.slice(11, 16) };
}
const dayMs = 86400000;
const utcMs = (date, time) => Date.parse(`${date}T${time}:00Z`);
const dayDiff = (a, b) => Math.round((Date.parse(`${b}T00:00:00Z`) - Date.parse(`${a}T00:00:00Z`)) / dayMs);
const addDays = (date, n) => new Date(Date.parse(`${date}T00:00:00Z`) + n * dayMs).toISOString().slice(0, 10);
const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);

const startSem = (m) => (m.date && m.start ? `${m.date}T${m.start}` : '');
const endSem = (m) => (m.date && m.end ? `${addDays(m.date, m.endDays || 0)}T${m.end}` : '');
const rawTimeSem = (raw) => {
  const s = splitTime(raw);
  return s ? `${s.date}T${s.time}` : '';
};
const timeOut = (v) => (v ? `${v}:00Z` : undefined);

function settingsIn(s) {
  const o = isObj(s) ? s : {};
  return {
    moderate: o.moderate_questions == null ? true : o.moderate_questions,
    anonymous: o.anonymous_questions == null ? true : o.anonymous_questions,
    voting: o.voting == null ? 'open' : o.voting,
    turn: o.turn_seconds == null ? String(DEFAULT_TURN) : String(o.turn_seconds),
  };
}

function itemIn(raw) {
  const s = isObj(raw) ? raw : {};
  return {
    uid: uid(),
    src: s,
    title: textIn(s.title),
    kind: s.kind == null ? 'other' : String(s.kind),
    minutes: s.minutes == null ? '' : String(s.minutes),
    speakers: (Array.isArray(s.speakers) ? s.speakers : []).map((v) => ({ uid: uid(), v: textIn(v) })),
    turn: s.turn_seconds == null ? '' : String(s.turn_seconds),
  };
}

function draftIn(raw) {
  const s = isObj(raw) ? raw : {};
  return { uid: uid(), src: s, kind: s.kind == null ? 'resolution' : String(s.kind), title: textIn(s.title), text: textIn(s.text) };
}

/** Drops the keys the server does not know (it would refuse the whole body), naming them. */
function known(raw, keys, where, dropped) {
  if (!isObj(raw)) return raw;
  const o = {};
  for (const [k, v] of Object.entries(raw)) {
    if (keys.includes(k)) o[k] = v;
    else dropped.push(where ? `${where}.${k}` : k);
  }
  return o;
}

/** The model of a definition, and the names of the fields left out. */
function fromDef(raw) {
  const dropped = [];
  const d = known(raw, KNOWN.def, '', dropped);
  if (Array.isArray(d.agenda)) d.agenda = d.agenda.map((x, i) => known(x, KNOWN.item, `agenda[${i}]`, dropped));
  if (Array.isArray(d.drafts)) d.drafts = d.drafts.map((x, i) => known(x, KNOWN.draft, `drafts[${i}]`, dropped));
  if (isObj(d.settings)) d.settings = known(d.settings, KNOWN.settings, 'settings', dropped);
  const st = splitTime(d.starts_at);
  const en = splitTime(d.ends_at);
  const model = {
    src: d,
    title: textIn(d.title),
    reference: d.reference == null ? '' : String(d.reference),
    venue: d.venue == null ? '' : String(d.venue),
    date: st ? st.date : en ? en.date : '',
    start: st ? st.time : '',
    end: en ? en.time : '',
    endDays: st && en ? dayDiff(st.date, en.date) : 0,
    languages: Array.isArray(d.languages) ? d.languages.map(String) : [],
    agenda: (Array.isArray(d.agenda) ? d.agenda : []).map(itemIn),
    drafts: (Array.isArray(d.drafts) ? d.drafts : []).map(draftIn),
    settings: settingsIn(d.settings),
  };
  return { model, dropped };
}

function blankModel() {
  const first = PAGE_LANGS.includes(currentLang()) ? currentLang() : 'en';
  const m = fromDef({}).model;
  m.languages = [first, ...PAGE_LANGS.filter((l) => l !== first)];
  m.title = {};
  m.agenda = [newItem(m)];
  return m;
}

/** A new title or draft text: by language when the session has two languages or more. */
const newText = (m) => (m.languages.length >= 2 ? {} : '');
function newItem(m) {
  return { ...itemIn({}), title: newText(m), kind: 'presentation' };
}
function newDraft(m) {
  return { ...draftIn({}), title: newText(m), text: newText(m) };
}

/** The definition the model stands for (numbers that are not whole numbers are left out). */
function toDef(m) {
  const src = m.src || {};
  const out = {};
  put(out, src, 'title', textSem(m.title), textSem, () => m.title);
  const str = (r) => (r == null ? '' : String(r));
  put(out, src, 'reference', m.reference, str);
  put(out, src, 'venue', m.venue, str);
  put(out, src, 'starts_at', startSem(m), rawTimeSem, timeOut);
  put(out, src, 'ends_at', endSem(m), rawTimeSem, timeOut);
  put(out, src, 'languages', m.languages, (r) => (Array.isArray(r) ? r.map(String) : []), (v) => [...v]);
  const agenda = m.agenda.map(itemDef);
  if (agenda.length || own(src, 'agenda')) out.agenda = agenda;
  const drafts = m.drafts.map(draftDef);
  if (drafts.length || own(src, 'drafts')) out.drafts = drafts;
  const ss = isObj(src.settings) ? src.settings : {};
  const so = {};
  const s = m.settings;
  put(so, ss, 'moderate_questions', s.moderate, (r) => (r == null ? true : r));
  put(so, ss, 'anonymous_questions', s.anonymous, (r) => (r == null ? true : r));
  put(so, ss, 'voting', s.voting, (r) => (r == null ? 'open' : r));
  put(so, ss, 'turn_seconds', numSem(s.turn, DEFAULT_TURN), (r) => (r == null ? DEFAULT_TURN : r), numOut);
  if (Object.keys(so).length) out.settings = orderLike(so, ss);
  else if (own(src, 'settings')) out.settings = src.settings;
  return orderLike(out, src);
}

function itemDef(it) {
  const s = it.src || {};
  const o = {};
  put(o, s, 'title', textSem(it.title), textSem, () => it.title);
  put(o, s, 'kind', it.kind, (r) => (r == null ? 'other' : r));
  put(o, s, 'minutes', numSem(it.minutes, 0), (r) => (r == null ? 0 : r), numOut);
  const sp = it.speakers.map((x) => x.v);
  put(o, s, 'speakers', sp.map(textSem), (r) => (Array.isArray(r) ? r.map(textSem) : []), () => sp);
  put(o, s, 'turn_seconds', numSem(it.turn, null), (r) => (r == null ? null : r), numOut);
  return orderLike(o, s);
}

function draftDef(d) {
  const s = d.src || {};
  const o = {};
  put(o, s, 'kind', d.kind, (r) => (r == null ? 'resolution' : r));
  put(o, s, 'title', textSem(d.title), textSem, () => d.title);
  put(o, s, 'text', textSem(d.text), textSem, () => d.text);
  return orderLike(o, s);
}

/** Problems the page finds itself (the server cannot see a number that is not one). */
function localErrors(m) {
  const errs = [];
  const whole = (v, path, key) => {
    if (isObj(v) && 'bad' in v) errs.push({ path, message: t(key), local: true });
  };
  m.agenda.forEach((it, i) => {
    whole(numSem(it.minutes, 0), `agenda[${i}].minutes`, 'ed.err.minutes');
    whole(numSem(it.turn, null), `agenda[${i}].turn_seconds`, 'ed.err.seconds');
  });
  whole(numSem(m.settings.turn, DEFAULT_TURN), 'settings.turn_seconds', 'ed.err.seconds');
  if ((m.start || m.end) && !m.date) errs.push({ path: 'date', message: t('ed.err.date'), local: true });
  if (m.date && m.end && !m.start) errs.push({ path: 'starts_at', message: t('ed.err.start'), local: true });
  if (m.date && m.start && m.end && utcMs(addDays(m.date, m.endDays || 0), m.end) <= utcMs(m.date, m.start)) {
    errs.push({ path: 'ends_at', message: t('ed.err.end_before'), local: true });
  }
  return errs;
}

// ---------------------------------------------------------------- page state

let model = blankModel();
const dirty = new Set(); // focus keys of the fields the officer has typed in
let showAll = false; // every problem shown: after an import, a template, a create attempt
let serverErrors = [];
let checkState = 'idle'; // idle · checking · ok · problems · failed
let checkFailure = '';
let created = null; // the creation answer, kept in memory only (it holds the keys)
let undoAction = null;
let idN = 0;
const nextId = (p) => `${p}-${(idN += 1)}`;

// ---------------------------------------------------------------- rendering

function render(focusFk) {
  const active = document.activeElement;
  const fk = focusFk ?? (active && active.dataset ? active.dataset.fk : null);
  const sel = active && typeof active.selectionStart === 'number' && fk === active.dataset.fk
    ? [active.selectionStart, active.selectionEnd] : null;
  renderStatic();
  renderLangs();
  fill($('ed-title-slot'), textField({
    holder: model, key: 'title', path: 'title', fk: 'session:title', label: t('ed.f_title'), line: true,
  }));
  fill($('ed-agenda'), model.agenda.map(itemEl));
  fill($('ed-drafts'), model.drafts.map(draftEl));
  if (!model.drafts.length) $('ed-drafts').append(h('li', { class: 'ed-empty muted' }, t('ed.no_drafts')));
  updatePlanned();
  applyErrors();
  if (!SIZES_ITSELF) for (const el of document.querySelectorAll('.ed-line')) autosize(el);
  if (fk) {
    const el = document.querySelector(`[data-fk="${CSS.escape(fk)}"]`);
    if (el && el !== document.activeElement) {
      el.focus();
      if (sel && typeof el.setSelectionRange === 'function') {
        try {
          el.setSelectionRange(sel[0], sel[1]);
        } catch {
          /* not a text control */
        }
      }
    }
  }
}

/** The fixed fields take the model's values. */
function renderStatic() {
  const set = (id, v) => {
    if ($(id).value !== v) $(id).value = v;
  };
  set('ed-reference', model.reference);
  set('ed-venue', model.venue);
  set('ed-date', model.date);
  set('ed-start', model.start);
  set('ed-end', model.end);
  set('ed-turn', model.settings.turn);
  $('ed-moderate').checked = model.settings.moderate === true;
  $('ed-anonymous').checked = model.settings.anonymous === true;
  for (const r of document.querySelectorAll('input[name="ed-voting"]')) r.checked = r.value === model.settings.voting;
  // A start or an end the page cannot read is kept as it was given, and said so.
  const src = model.src || {};
  const odd = ['starts_at', 'ends_at'].filter((k) => typeof src[k] === 'string' && src[k].trim() && !splitTime(src[k]));
  const note = $('ed-raw-times');
  note.hidden = !odd.length || !!(model.date && model.start);
  setText(note, odd.map((k) => t('ed.raw_time', { value: src[k] })).join(' '));
}

function renderLangs() {
  const langs = [...PAGE_LANGS, ...model.languages.filter((l) => !PAGE_LANGS.includes(l))];
  fill($('ed-langs'), langs.map((l) => {
    const id = `ed-lang-${l}`;
    return h('label', { class: 'ed-check', for: id },
      h('input', {
        type: 'checkbox', id, 'data-testid': 'ed-lang', 'data-lang': l, 'data-fk': `lang:${l}`, value: l,
        checked: model.languages.includes(l),
        onchange: (e) => {
          const on = e.currentTarget.checked;
          model.languages = on ? [...model.languages, l] : model.languages.filter((x) => x !== l);
          dirty.add(`lang:${l}`);
          changed(true);
        },
      }),
      ` ${langName(l)}`);
  }));
  const sel = $('ed-primary');
  fill(sel, model.languages.map((l) => h('option', { value: l }, langName(l))));
  sel.value = model.languages[0] || '';
  $('ed-primary-row').hidden = model.languages.length < 2;
}

/**
 * A text field: one input (a string), or one per language (texts by language) inside a group
 * that carries the field's path; the toggle switches between the two.
 */
function textField(o) {
  const v = o.holder[o.key];
  const byLang = isObj(v);
  const langs = byLang ? [...model.languages, ...Object.keys(v).filter((l) => !model.languages.includes(l))] : [];
  const labelId = nextId('lbl');
  const inputId = nextId('in');
  const canToggle = byLang || model.languages.length >= 2;
  const control = (path, fk, value, lang) => {
    const attrs = {
      id: lang ? `${inputId}-${lang}` : inputId, 'data-path': path, 'data-fk': fk, lang: lang || null,
      class: 'ed-input', autocomplete: 'off',
      oninput: (e) => {
        const val = e.currentTarget.value;
        if (lang) {
          const obj = o.holder[o.key];
          if (val === '') delete obj[lang];
          else obj[lang] = val;
        } else {
          o.holder[o.key] = val;
        }
        dirty.add(fk);
        changed(false);
      },
    };
    let el;
    if (o.multiline) el = h('textarea', { ...attrs, rows: 5 });
    else if (o.line) {
      // A title: one line that grows to show a long title whole; Enter adds no line break.
      el = h('textarea', { ...attrs, rows: 1, class: 'ed-input ed-line', onkeydown: (e) => {
        if (e.key === 'Enter' && !e.isComposing) e.preventDefault();
      } });
    } else el = h('input', { ...attrs, type: 'text' });
    el.value = value == null ? '' : String(value);
    if (o.line) {
      el.addEventListener('input', () => {
        if (/[\r\n]/.test(el.value)) {
          el.value = el.value.replace(/\s*[\r\n]+\s*/g, ' ');
          el.dispatchEvent(new Event('input'));
        }
        autosize(el);
      });
    }
    return el;
  };
  const toggle = canToggle ? h('button', {
    type: 'button', class: 'ed-mode', 'data-testid': 'ed-mode', 'data-for': o.path, 'data-fk': `${o.fk}:mode`,
    'aria-pressed': String(byLang), 'aria-label': `${t('ed.by_lang')} — ${o.label}`,
    onclick: () => toggleText(o.holder, o.key, o.fk),
  }, t('ed.by_lang')) : null;
  const head = h('div', { class: 'ed-text-head' },
    h(byLang ? 'span' : 'label', { class: 'ed-label', id: labelId, for: byLang ? null : inputId }, o.label),
    !byLang && canToggle ? h('span', { class: 'ed-same muted small' }, t('ed.same_all')) : null,
    toggle,
    o.extra || null);
  if (!byLang) {
    return h('div', { class: `ed-text${o.multiline ? ' is-multi' : ''}` }, head, control(o.path, o.fk, v, null));
  }
  return h('div', { class: `ed-text is-bylang${o.multiline ? ' is-multi' : ''}`, role: 'group', 'aria-labelledby': labelId, 'data-path': o.path },
    head,
    langs.map((l) => {
      const c = control(`${o.path}.${l}`, `${o.fk}:${l}`, v[l], l);
      const extra = !model.languages.includes(l);
      return h('div', { class: `ed-lang-row${extra ? ' is-extra' : ''}` },
        h('label', { class: 'ed-lang-label', for: c.id },
          h('span', { class: 'visually-hidden' }, `${o.label} — `), langName(l)),
        c);
    }));
}

/** A language's name as a label ("Anglais", not "anglais"). */
function langName(l) {
  const s = tv('lang.name', l);
  return s.charAt(0).toLocaleUpperCase(currentLang()) + s.slice(1);
}

/** Grows a one-line title box to its text where CSS cannot (no `field-sizing`). */
const SIZES_ITSELF = typeof CSS !== 'undefined' && CSS.supports && CSS.supports('field-sizing', 'content');
function autosize(el) {
  if (SIZES_ITSELF || !el.isConnected) return;
  el.style.height = 'auto';
  el.style.height = `${el.scrollHeight + 2}px`;
}

// Texts set aside when a text by language becomes one string: toggling back brings them back.
const stash = new WeakMap();

function toggleText(holder, key, fk) {
  const v = holder[key];
  const kept = stash.get(holder) || {};
  const primary = model.languages[0];
  if (isObj(v)) {
    const given = Object.entries(v).filter(([, x]) => typeof x === 'string' && x.trim());
    const pick = (primary && given.find(([l]) => l === primary)) || given[0];
    holder[key] = pick ? pick[1] : '';
    const differ = new Set(given.map(([, x]) => x.trim())).size > 1;
    if (differ) {
      kept[key] = { texts: { ...v }, at: holder[key] };
      stash.set(holder, kept);
      notice(t('ed.set_aside'));
    }
  } else {
    const back = kept[key];
    if (back && back.at === v) {
      holder[key] = back.texts;
    } else {
      holder[key] = v && primary ? { [primary]: v } : {};
    }
    delete kept[key];
  }
  dirty.add(`${fk}:mode`);
  changed(true, `${fk}:mode`);
}

/** The list controls of an agenda item or a draft: drag handle, up, down, remove. */
function listBar(list, x, i, label, extra) {
  const n = model[list].length;
  const hintId = 'ed-move-help';
  return h('div', { class: 'ed-item-bar' },
    h('button', {
      type: 'button', class: 'ed-handle', 'data-testid': 'ed-handle', 'data-fk': `${x.uid}:handle`,
      'aria-label': t('ed.drag', { what: label }), 'aria-describedby': hintId,
      onpointerdown: (e) => startDrag(e, list, x.uid),
      onkeydown: (e) => {
        if ((e.key === 'ArrowUp' || e.key === 'ArrowDown') && !e.ctrlKey && !e.metaKey) {
          e.preventDefault();
          move(list, x.uid, e.key === 'ArrowUp' ? -1 : 1, `${x.uid}:handle`);
        }
      },
    }, h('span', { 'aria-hidden': 'true' }, '⠿')),
    h('span', { class: 'ed-item-name', id: `${x.uid}-name` }, label),
    extra,
    h('span', { class: 'ed-item-peek', 'aria-hidden': 'true' }),
    h('span', { class: 'ed-item-buttons' },
      h('button', {
        type: 'button', class: 'btn btn-small ed-icon', 'data-testid': 'ed-up', 'data-fk': `${x.uid}:up`,
        'aria-label': t('ed.up', { what: label }), disabled: i === 0,
        onclick: () => move(list, x.uid, -1, i - 1 === 0 ? `${x.uid}:down` : `${x.uid}:up`),
      }, h('span', { 'aria-hidden': 'true' }, '↑')),
      h('button', {
        type: 'button', class: 'btn btn-small ed-icon', 'data-testid': 'ed-down', 'data-fk': `${x.uid}:down`,
        'aria-label': t('ed.down', { what: label }), disabled: i === n - 1,
        onclick: () => move(list, x.uid, 1, i + 1 === n - 1 ? `${x.uid}:up` : `${x.uid}:down`),
      }, h('span', { 'aria-hidden': 'true' }, '↓')),
      h('button', {
        type: 'button', class: 'btn btn-small ed-icon ed-remove', 'data-testid': 'ed-remove', 'data-fk': `${x.uid}:remove`,
        'aria-label': t('ed.remove', { what: label }),
        onclick: () => remove(list, x.uid),
      }, h('span', { 'aria-hidden': 'true' }, '✕'))));
}

/** The session's speaking time per turn, which an item's empty field stands for. */
function sessionTurn() {
  const v = numSem(model.settings.turn, DEFAULT_TURN);
  return typeof v === 'number' ? v : DEFAULT_TURN;
}

function itemEl(it, i) {
  const path = `agenda[${i}]`;
  const label = t('ed.item_n', { n: i + 1 });
  const kindId = nextId('kind');
  const minId = nextId('min');
  const turnId = nextId('turn');
  const kinds = KINDS.includes(it.kind) ? KINDS : [...KINDS, it.kind];
  const kindSel = h('select', {
    id: kindId, class: 'ed-select', 'data-path': `${path}.kind`, 'data-fk': `${it.uid}:kind`, 'data-testid': 'ed-kind',
    onchange: (e) => {
      it.kind = e.currentTarget.value;
      dirty.add(`${it.uid}:kind`);
      changed(false);
    },
  }, kinds.map((k) => h('option', { value: k }, KINDS.includes(k) ? t(`ed.kind.${k}`) : k)));
  kindSel.value = it.kind;
  const num = (id, field, fk, p, attrs) => {
    const el = h('input', {
      id, type: 'number', inputmode: 'numeric', step: 1, class: 'ed-num', 'data-path': p, 'data-fk': fk, ...attrs,
      oninput: (e) => {
        const t2 = e.currentTarget;
        it[field] = t2.validity && t2.validity.badInput ? '?' : t2.value;
        dirty.add(fk);
        changed(false);
      },
    });
    el.value = it[field];
    return el;
  };
  return h('li', { class: 'ed-item', 'data-testid': 'ed-item', 'data-index': i, 'data-uid': it.uid, 'data-path': path },
    listBar('agenda', it, i, label, h('span', { class: 'ed-item-time', 'data-testid': 'ed-item-time', 'data-uid': it.uid })),
    h('div', { class: 'ed-item-body', role: 'group', 'aria-labelledby': `${it.uid}-name` },
      textField({ holder: it, key: 'title', path: `${path}.title`, fk: `${it.uid}:title`, label: t('ed.f_item_title'), line: true }),
      h('div', { class: 'ed-row' },
        h('div', { class: 'ed-field' }, h('label', { class: 'ed-label', for: kindId }, t('ed.f_kind')), kindSel),
        h('div', { class: 'ed-field ed-short' }, h('label', { class: 'ed-label', for: minId }, t('ed.f_minutes')),
          num(minId, 'minutes', `${it.uid}:minutes`, `${path}.minutes`, { min: 0, max: 1440, placeholder: '0', 'data-testid': 'ed-minutes' })),
        h('div', { class: 'ed-field ed-short' }, h('label', { class: 'ed-label', for: turnId }, t('ed.f_turn')),
          num(turnId, 'turn', `${it.uid}:turn`, `${path}.turn_seconds`, {
            min: 10, max: 3600, placeholder: String(sessionTurn()),
            'data-testid': 'ed-item-turn',
          }))),
      h('div', { class: 'ed-speakers', 'data-path': `${path}.speakers` },
        it.speakers.map((sp, j) => textField({
          holder: sp, key: 'v', path: `${path}.speakers[${j}]`, fk: `${sp.uid}:v`, label: t('ed.f_speaker', { n: j + 1 }),
          extra: h('button', {
            type: 'button', class: 'btn btn-small ed-icon ed-remove', 'data-testid': 'ed-speaker-remove', 'data-fk': `${sp.uid}:remove`,
            'aria-label': t('ed.remove_speaker', { n: j + 1, what: label }),
            onclick: () => {
              const at = it.speakers.indexOf(sp);
              it.speakers.splice(at, 1);
              const next = it.speakers[at] || it.speakers[at - 1];
              changed(true, next ? `${next.uid}:remove` : `${it.uid}:add-speaker`);
            },
          }, h('span', { 'aria-hidden': 'true' }, '✕')),
        })),
        h('button', {
          type: 'button', class: 'btn btn-small', 'data-testid': 'ed-add-speaker', 'data-fk': `${it.uid}:add-speaker`,
          'aria-label': t('ed.add_speaker_to', { what: label }),
          onclick: () => {
            const sp = { uid: uid(), v: '' };
            it.speakers.push(sp);
            changed(true, `${sp.uid}:v`);
          },
        }, t('ed.add_speaker')))));
}

function draftEl(d, i) {
  const path = `drafts[${i}]`;
  const label = t('ed.draft_n', { n: i + 1 });
  const kindId = nextId('dk');
  const kinds = DRAFT_KINDS.includes(d.kind) ? DRAFT_KINDS : [...DRAFT_KINDS, d.kind];
  const sel = h('select', {
    id: kindId, class: 'ed-select', 'data-path': `${path}.kind`, 'data-fk': `${d.uid}:kind`, 'data-testid': 'ed-draft-kind',
    onchange: (e) => {
      d.kind = e.currentTarget.value;
      dirty.add(`${d.uid}:kind`);
      changed(false);
    },
  }, kinds.map((k) => h('option', { value: k }, DRAFT_KINDS.includes(k) ? t(`ed.dkind.${k}`) : k)));
  sel.value = d.kind;
  return h('li', { class: 'ed-item ed-draft', 'data-testid': 'ed-draft', 'data-index': i, 'data-uid': d.uid, 'data-path': path },
    listBar('drafts', d, i, label, null),
    h('div', { class: 'ed-item-body', role: 'group', 'aria-labelledby': `${d.uid}-name` },
      h('div', { class: 'ed-field ed-kind-field' }, h('label', { class: 'ed-label', for: kindId }, t('ed.f_dkind')), sel),
      textField({ holder: d, key: 'title', path: `${path}.title`, fk: `${d.uid}:title`, label: t('ed.f_draft_title'), line: true }),
      textField({ holder: d, key: 'text', path: `${path}.text`, fk: `${d.uid}:text`, label: t('ed.f_draft_text'), multiline: true })));
}

// ---------------------------------------------------------------- list actions

function move(list, id, by, focusFk) {
  const arr = model[list];
  const from = arr.findIndex((x) => x.uid === id);
  const to = from + by;
  if (from < 0 || to < 0 || to >= arr.length) return;
  const [x] = arr.splice(from, 1);
  arr.splice(to, 0, x);
  announce(t(list === 'agenda' ? 'ed.moved_item' : 'ed.moved_draft', { n: to + 1, total: arr.length }));
  changed(true, focusFk);
}

function remove(list, id) {
  const arr = model[list];
  const at = arr.findIndex((x) => x.uid === id);
  if (at < 0) return;
  const [x] = arr.splice(at, 1);
  const name = loc1(x.title) || t(list === 'agenda' ? 'ed.item_n' : 'ed.draft_n', { n: at + 1 });
  const next = arr[at] || arr[at - 1];
  showUndo(t(list === 'agenda' ? 'ed.removed_item' : 'ed.removed_draft', { name }), () => {
    arr.splice(Math.min(at, arr.length), 0, x);
    changed(true, `${x.uid}:remove`);
  });
  changed(true, next ? `${next.uid}:remove` : list === 'agenda' ? 'add-item' : 'add-draft');
}

/** A text in one line for a message: the page's language, else any. */
function loc1(v) {
  if (typeof v === 'string') return v.trim();
  if (!isObj(v)) return '';
  return String(v[currentLang()] || v[model.languages[0]] || Object.values(v).find((x) => x) || '').trim();
}

/**
 * Dragging an item by its handle (mouse, pen or finger: pointer events, captured by the
 * handle): the item moves among the others as the pointer passes their middle; the new order
 * is kept on release.
 */
function startDrag(e, list, id) {
  if (e.button !== 0 && e.pointerType === 'mouse') return;
  const handle = e.currentTarget;
  const li = handle.closest('li');
  const ol = li.parentElement;
  e.preventDefault();
  handle.focus();
  try {
    handle.setPointerCapture(e.pointerId);
  } catch {
    /* released already */
  }
  li.classList.add('is-dragging');
  // While dragging, the items fold to one line with their title, so that a long agenda fits
  // on the screen; the page scrolls so that the handle stays under the finger.
  for (const el of ol.children) {
    const x = model[list].find((y) => y.uid === el.dataset.uid);
    const peek = el.querySelector('.ed-item-peek');
    if (x && peek) setText(peek, loc1(x.title));
  }
  const top0 = handle.getBoundingClientRect().top;
  ol.classList.add('is-sorting');
  window.scrollBy(0, handle.getBoundingClientRect().top - top0);
  let moved = false;
  const onMove = (ev) => {
    const y = ev.clientY;
    let before = null;
    for (const s of ol.children) {
      if (s === li) continue;
      const r = s.getBoundingClientRect();
      if (y < r.top + r.height / 2) {
        before = s;
        break;
      }
    }
    // The others move around the item: moving the item itself out of the document would end
    // the pointer capture.
    if (before !== li.nextElementSibling && before !== li) {
      const others = [];
      if (before && before.compareDocumentPosition(li) & Node.DOCUMENT_POSITION_FOLLOWING) {
        for (let n = before; n && n !== li; n = n.nextElementSibling) others.push(n);
        li.after(...others);
      } else {
        for (let n = li.nextElementSibling; n && n !== before; n = n.nextElementSibling) others.push(n);
        li.before(...others);
      }
      moved = true;
    }
    if (y < 60) window.scrollBy(0, -12);
    else if (y > window.innerHeight - 90) window.scrollBy(0, 12);
  };
  let done = false;
  const onEnd = () => {
    if (done) return;
    done = true;
    handle.removeEventListener('lostpointercapture', onEnd);
    handle.removeEventListener('pointermove', onMove);
    handle.removeEventListener('pointerup', onEnd);
    handle.removeEventListener('pointercancel', onEnd);
    li.classList.remove('is-dragging');
    ol.classList.remove('is-sorting');
    if (!moved) {
      handle.scrollIntoView({ block: 'nearest' });
      return;
    }
    const order = [...ol.children].map((c) => c.dataset.uid);
    const arr = model[list];
    const before = arr.map((x) => x.uid).join();
    arr.sort((a, b) => order.indexOf(a.uid) - order.indexOf(b.uid));
    if (arr.map((x) => x.uid).join() === before) {
      render(`${id}:handle`);
      return;
    }
    const at = arr.findIndex((x) => x.uid === id);
    announce(t(list === 'agenda' ? 'ed.moved_item' : 'ed.moved_draft', { n: at + 1, total: arr.length }));
    changed(true, `${id}:handle`);
    document.querySelector(`[data-fk="${CSS.escape(`${id}:handle`)}"]`)?.scrollIntoView({ block: 'center' });
  };
  handle.addEventListener('pointermove', onMove);
  handle.addEventListener('pointerup', onEnd);
  handle.addEventListener('pointercancel', onEnd);
  handle.addEventListener('lostpointercapture', onEnd);
}

// Alt+↑ / Alt+↓ anywhere inside an item moves it.
for (const list of ['agenda', 'drafts']) {
  $(list === 'agenda' ? 'ed-agenda' : 'ed-drafts').addEventListener('keydown', (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey || (e.key !== 'ArrowUp' && e.key !== 'ArrowDown')) return;
    if (e.target.tagName === 'SELECT') return; // Alt+↓ opens a list there
    const li = e.target.closest('li[data-uid]');
    if (!li) return;
    e.preventDefault();
    move(list, li.dataset.uid, e.key === 'ArrowUp' ? -1 : 1, e.target.dataset.fk);
  });
}

$('ed-add-item').addEventListener('click', () => {
  const it = newItem(model);
  model.agenda.push(it);
  changed(true, `${it.uid}:title${isObj(it.title) && model.languages[0] ? `:${model.languages[0]}` : ''}`);
});
$('ed-add-draft').addEventListener('click', () => {
  const d = newDraft(model);
  model.drafts.push(d);
  changed(true, `${d.uid}:title${isObj(d.title) && model.languages[0] ? `:${model.languages[0]}` : ''}`);
});

// ---------------------------------------------------------------- fixed fields

const bindText = (id, fn) => $(id).addEventListener('input', (e) => {
  fn(e.currentTarget.value);
  dirty.add(e.currentTarget.dataset.fk);
  changed(false);
});
bindText('ed-reference', (v) => { model.reference = v; });
bindText('ed-venue', (v) => { model.venue = v; });
bindText('ed-date', (v) => { model.date = v; });
bindText('ed-start', (v) => { model.start = v; });
bindText('ed-end', (v) => { model.end = v; });
$('ed-turn').addEventListener('input', (e) => {
  const el = e.currentTarget;
  model.settings.turn = el.validity && el.validity.badInput ? '?' : el.value;
  dirty.add('turn');
  changed(false);
  for (const x of document.querySelectorAll('[data-testid="ed-item-turn"]')) x.placeholder = String(sessionTurn());
});
$('ed-moderate').addEventListener('change', (e) => {
  model.settings.moderate = e.currentTarget.checked;
  changed(false);
});
$('ed-anonymous').addEventListener('change', (e) => {
  model.settings.anonymous = e.currentTarget.checked;
  changed(false);
});
for (const r of document.querySelectorAll('input[name="ed-voting"]')) {
  r.addEventListener('change', (e) => {
    if (e.currentTarget.checked) model.settings.voting = e.currentTarget.value;
    changed(false);
    renderRosterIntro();
  });
}
$('ed-primary').addEventListener('change', (e) => {
  const l = e.currentTarget.value;
  model.languages = [l, ...model.languages.filter((x) => x !== l)];
  changed(true);
});

// ---------------------------------------------------------------- planned end

function updatePlanned() {
  const mins = model.agenda.map((it) => numSem(it.minutes, 0));
  const total = mins.reduce((a, v) => a + (typeof v === 'number' ? v : 0), 0);
  const start = model.date && model.start ? utcMs(model.date, model.start) : null;
  let at = 0;
  model.agenda.forEach((it, i) => {
    const el = document.querySelector(`[data-testid="ed-item-time"][data-uid="${it.uid}"]`);
    const m = typeof mins[i] === 'number' ? mins[i] : 0;
    if (el) {
      setText(el, start != null && !Number.isNaN(start)
        ? `${hhmm(start + at * 60000)}–${hhmm(start + (at + m) * 60000)}`
        : t('ed.min', { n: m }));
    }
    at += m;
  });
  const el = $('ed-planned');
  const length = t('ed.length', { n: model.agenda.length, dur: fmtMinutes(total) });
  if (start == null || Number.isNaN(start)) {
    el.dataset.level = 'none';
    setText(el, length);
    return;
  }
  const endPlanned = start + total * 60000;
  const days = dayDiff(model.date, new Date(endPlanned).toISOString().slice(0, 10));
  let text = t('ed.planned_end', { time: hhmm(endPlanned) });
  if (days > 0) text += ` ${t('ed.later', { n: days })}`;
  let level = 'none';
  if (model.end) {
    const endAt = utcMs(addDays(model.date, model.endDays || 0), model.end);
    const diff = Math.round((endPlanned - endAt) / 60000);
    if (diff > 0) {
      text += ` — ${t('ed.over', { n: diff })}`;
      level = 'over';
    } else if (diff < 0) {
      text += ` — ${t('ed.spare', { n: -diff })}`;
      level = 'spare';
    } else {
      text += ` — ${t('ed.on_time')}`;
      level = 'ok';
    }
  }
  el.dataset.level = level;
  if (el.textContent !== `${text} · ${length}`) fill(el, h('span', null, text), h('span', { class: 'ed-length' }, ` · ${length}`));
}

function fmtMinutes(n) {
  if (n < 60) return t('ed.min', { n });
  return t('ed.hours', { h: Math.floor(n / 60), m: String(n % 60).padStart(2, '0') });
}

// ---------------------------------------------------------------- changes, checks

let checkTimer = null;
let saveTimer = null;
let savePending = false;
let checkSeq = 0;

/** After every change: planned end now; check and autosave soon; `structural` redraws the form. */
function changed(structural, focusFk) {
  $('ed-dock').hidden = false;
  if (structural) {
    // Problems are placed by index: after a move, the next check places them again.
    serverErrors = [];
    render(focusFk);
  } else {
    updatePlanned();
  }
  clearTimeout(checkTimer);
  checkTimer = setTimeout(check, structural ? 0 : 300);
  setStatusChecking();
  clearTimeout(saveTimer);
  saveTimer = setTimeout(save, 400);
  savePending = true;
}

function setStatusChecking() {
  checkState = 'checking';
  $('ed-status').dataset.state = 'checking';
}

/** Asks the server what it thinks of the definition; the latest answer wins. */
function check() {
  clearTimeout(checkTimer);
  const mine = (checkSeq += 1);
  const body = JSON.stringify(toDef(model));
  setStatusChecking();
  return (async () => {
    let res;
    let data = null;
    try {
      res = await fetch('/api/definitions/check', {
        method: 'POST', headers: { 'Content-Type': 'application/json', Accept: 'application/json' }, body, credentials: 'omit',
      });
      data = await res.json().catch(() => null);
    } catch {
      res = null;
    }
    if (mine !== checkSeq) return;
    if (!res) {
      checkState = 'failed';
      checkFailure = t('ed.check_offline');
    } else if (res.ok) {
      checkState = 'ok';
      serverErrors = [];
    } else if (res.status === 400) {
      const e = (data && data.error) || {};
      serverErrors = Array.isArray(e.fields) && e.fields.length
        ? e.fields.map((f) => ({ path: String(f.path || ''), message: String(f.message || '') }))
        : [{ path: '', message: String(e.message || t('ed.check_failed', { status: 400 })) }];
      checkState = 'problems';
    } else {
      checkState = 'failed';
      checkFailure = res.status === 413 ? t('create.too_large') : t('ed.check_failed', { status: res.status });
    }
    applyErrors();
  })();
}

/** The problems to show now: the page's own, then the server's (one per path and message). */
function allErrors() {
  const seen = new Set();
  return [...localErrors(model), ...serverErrors].filter((e) => {
    const k = `${e.path}\u0001${e.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Where a problem goes: the field with its path, else the nearest enclosing one. */
function targetOf(path) {
  let p = path;
  while (p) {
    const el = document.querySelector(`#ed-form [data-path="${CSS.escape(p)}"]`);
    if (el) return el;
    const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
    if (cut <= 0) break;
    p = p.slice(0, cut);
  }
  return null;
}

const isControl = (el) => /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName);
const controlsOf = (el) => (isControl(el) ? [el] : [...el.querySelectorAll('input, textarea, select')]);

function shown(el) {
  if (showAll) return true;
  if (el.tagName === 'SECTION') return true;
  return controlsOf(el).some((c) => dirty.has(c.dataset.fk));
}

/** Each problem next to its field (aria-invalid, aria-describedby), the rest in the summary. */
function applyErrors() {
  for (const e of document.querySelectorAll('.ed-err')) e.remove();
  for (const c of document.querySelectorAll('[data-ed-invalid]')) {
    c.removeAttribute('aria-invalid');
    c.removeAttribute('data-ed-invalid');
    const base = c.dataset.edDescribed;
    if (base) c.setAttribute('aria-describedby', base);
    else c.removeAttribute('aria-describedby');
    delete c.dataset.edDescribed;
  }
  const errs = allErrors();
  const loose = [];
  let hidden = 0;
  let placed = 0;
  for (const e of errs) {
    const el = e.path ? targetOf(e.path) : null;
    if (!el) {
      loose.push(e);
      continue;
    }
    if (!shown(el)) {
      hidden += 1;
      continue;
    }
    placed += 1;
    const id = nextId('err');
    const msg = h('p', { class: 'ed-err', id, 'data-testid': 'field-error', 'data-for': e.path }, errorText(e, el));
    // Inside a by-language group, or on a list item: under its heading; on a control: after it.
    if (isControl(el)) el.after(msg);
    else if (el.matches('.ed-text')) el.querySelector('.ed-text-head').after(msg);
    else if (el.matches('li')) el.querySelector('.ed-item-bar').after(msg);
    else if (el.matches('section')) el.querySelector('h2').after(msg);
    else if (el.matches('fieldset')) el.querySelector('legend').after(msg);
    else el.prepend(msg);
    const targets = isControl(el) ? [el] : el.matches('.ed-text, fieldset') ? controlsOf(el) : [];
    for (const c of targets) {
      if (!c.hasAttribute('data-ed-invalid')) {
        const base = c.getAttribute('aria-describedby') || '';
        if (base) c.dataset.edDescribed = base;
        c.setAttribute('data-ed-invalid', '');
      }
      c.setAttribute('aria-invalid', 'true');
      c.setAttribute('aria-describedby', [c.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
    }
  }
  const sum = $('ed-summary');
  sum.hidden = !loose.length;
  fill(sum, loose.length ? [
    h('p', null, t('ed.summary', { n: loose.length })),
    h('ul', null, loose.map((e) => h('li', { 'data-testid': 'summary-error', 'data-for': e.path },
      e.path ? `${humanPath(e.path)}: ` : '', errorText(e, null)))),
  ] : []);
  renderStatus(placed + loose.length, hidden);
}

function renderStatus(n, hidden) {
  const el = $('ed-status');
  const first = $('ed-first-problem');
  let state = checkState;
  let text;
  if (state === 'failed') text = checkFailure;
  else if (state === 'checking' && !n && !hidden) text = el.textContent || t('ed.checking');
  else if (n) {
    state = 'problems';
    text = t('ed.problems', { n });
  } else if (hidden) {
    state = 'incomplete';
    text = t('ed.incomplete');
  } else if (state === 'ok') {
    text = t('ed.ready', { items: model.agenda.length, drafts: model.drafts.length });
  } else text = el.textContent;
  el.dataset.state = state;
  setText(el, text || '');
  if (first) first.hidden = !n;
}

/** The server's message in the page's language, where we know its wording. */
function errorText(e, el) {
  if (e.local) return e.message;
  const m = e.message.trim();
  let r;
  if (m === 'is required') return el && el.matches('.ed-text.is-bylang') ? t('ed.err.required_any') : t('ed.err.required');
  if ((r = /^is longer than (\d+) characters/.exec(m))) {
    const len = el && isControl(el) ? [...el.value.trim()].length : null;
    return len ? t('ed.err.too_long_n', { max: r[1], n: len }) : t('ed.err.too_long', { max: r[1] });
  }
  if ((r = /^must be from (\d+) to (\d+)$/.exec(m))) return t('ed.err.range', { min: r[1], max: r[2] });
  if ((r = /^is more than (\d+)$/.exec(m))) return t('ed.err.max', { max: r[1] });
  if ((r = /^([\w-]+) is not one of the session's languages \((.*)\)$/.exec(m))) return t('ed.err.lang', { lang: tv('lang.name', r[1]), list: r[2] });
  if (/^this session has no languages/.test(m)) return t('ed.err.no_langs');
  if (m === 'must have at least one item') return t('ed.err.agenda_empty');
  if (/contains control characters$/.test(m)) return t('ed.err.control');
  if ((r = /^has more than (\d+) (items|entries)$/.exec(m))) return t('ed.err.too_many', { max: r[1] });
  return m;
}

/** `agenda[2].speakers[0].fr` → "Item 3 · Speaker 1 · French". */
function humanPath(path) {
  const parts = [];
  for (const seg of path.split('.')) {
    const r = /^(\w+)(?:\[(\d+)\])?$/.exec(seg);
    if (!r) {
      parts.push(seg);
      continue;
    }
    const [, name, idx] = r;
    const n = idx == null ? null : Number(idx) + 1;
    if (name === 'agenda') parts.push(n ? t('ed.item_n', { n }) : t('ed.s_agenda'));
    else if (name === 'drafts') parts.push(n ? t('ed.draft_n', { n }) : t('ed.s_drafts'));
    else if (name === 'speakers') parts.push(n ? t('ed.f_speaker', { n }) : t('ed.speakers'));
    else if (name === 'languages') parts.push(t('ed.languages'));
    else if (PAGE_LANGS.includes(name)) parts.push(tv('lang.name', name));
    else {
      const key = `ed.p.${name}`;
      parts.push(t(key) === key ? name : t(key));
    }
  }
  return parts.join(' · ');
}

// ---------------------------------------------------------------- import, export, template

function load(def, message) {
  const before = { model, showAll };
  const { model: m, dropped } = fromDef(def);
  model = m;
  dirty.clear();
  showAll = true;
  serverErrors = [];
  checkState = 'idle';
  const text = dropped.length ? `${message} ${t('ed.dropped', { fields: dropped.join(', ') })}` : message;
  showUndo(text, () => {
    model = before.model;
    showAll = before.showAll;
    changed(true);
  });
  changed(true);
}

$('ed-import-file').addEventListener('change', async (e) => {
  const f = e.target.files && e.target.files[0];
  e.target.value = '';
  if (!f) return;
  if (f.size > MAX_BODY) return notice(t('create.too_large'), true);
  let def;
  try {
    def = JSON.parse(await f.text());
  } catch (err) {
    return notice(t('ed.import_bad', { name: f.name, detail: err.message }), true);
  }
  if (!isObj(def)) return notice(t('ed.import_bad', { name: f.name, detail: t('ed.not_object') }), true);
  load(def, t('ed.imported', { name: f.name }));
});

$('ed-example').addEventListener('click', async () => {
  try {
    const r = await fetch('/examples/sou94.json', { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(String(r.status));
    load(await r.json(), t('ed.example_loaded'));
  } catch {
    notice(t('create.example_failed'), true);
  }
});

$('ed-new').addEventListener('click', () => {
  const before = { model, showAll };
  model = blankModel();
  dirty.clear();
  showAll = false;
  serverErrors = [];
  showUndo(t('ed.cleared'), () => {
    model = before.model;
    showAll = before.showAll;
    changed(true);
  });
  changed(true);
});

$('ed-export').addEventListener('click', () => {
  const def = toDef(model);
  const json = `${JSON.stringify(def, null, 2)}\n`;
  const url = URL.createObjectURL(new Blob([json], { type: 'application/json' }));
  const a = h('a', { href: url, download: `${fileName(model.reference || loc1(model.title) || 'session')}.json`, hidden: true });
  a.href = url; // a blob: URL, which h() does not take as an href
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
});

const fileName = (s) => String(s).normalize('NFKD').replace(/[\u0300-\u036f]/g, '').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'session';

/** The session id and key of a moderator link (`…/m/{id}#key=…`). */
function parseModeratorLink(text) {
  const s = String(text || '').trim();
  const m = /\/m\/([^/?#\s]+)[^#]*#(?:.*&)?key=([^&\s]+)/.exec(s);
  if (!m) return null;
  try {
    return { id: decodeURIComponent(m[1]), key: decodeURIComponent(m[2]) };
  } catch {
    return null;
  }
}

$('ed-template').addEventListener('submit', async (e) => {
  e.preventDefault();
  const input = $('ed-template-link');
  const link = parseModeratorLink(input.value);
  if (!link) {
    input.setAttribute('aria-invalid', 'true');
    return notice(t('ed.template_bad'), true);
  }
  input.removeAttribute('aria-invalid');
  let res;
  try {
    res = await fetch(`/api/sessions/${encodeURIComponent(link.id)}/definition`, {
      headers: { Authorization: `Bearer ${link.key}`, Accept: 'application/json' }, cache: 'no-store', credentials: 'omit',
    });
  } catch {
    return notice(t('create.network'), true);
  }
  if (!res.ok) {
    const k = { 401: 'ed.template_401', 403: 'ed.template_401', 404: 'ed.template_404' }[res.status];
    return notice(k ? t(k) : t('ed.check_failed', { status: res.status }), true);
  }
  const def = await res.json().catch(() => null);
  if (!isObj(def)) return notice(t('ed.template_404'), true);
  input.value = '';
  load(def, t('ed.template_loaded', { title: loc1(def.title) }));
});

// ---------------------------------------------------------------- create

$('ed-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const btn = $('btn-create');
  if (btn.getAttribute('aria-busy') === 'true') return;
  $('create-error').hidden = true;
  showAll = true;
  if (localErrors(model).length) {
    applyErrors();
    createError(t('ed.fix_first', { n: localErrors(model).length }));
    focusFirstProblem();
    return;
  }
  const body = JSON.stringify(toDef(model));
  if (new Blob([body]).size > MAX_BODY) return createError(t('create.too_large'));
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = $('admin-token').value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  btn.setAttribute('aria-busy', 'true');
  try {
    let r;
    try {
      r = await fetch('/api/sessions', { method: 'POST', headers, body, credentials: 'omit' });
    } catch {
      createError(t('create.network'));
      return;
    }
    const data = await r.json().catch(() => null);
    if (r.ok && data && data.code) {
      created = data;
      clearTimeout(saveTimer);
      savePending = false;
      try {
        localStorage.removeItem(SAVE_KEY);
      } catch {
        /* nothing kept */
      }
      showCreated(data, true);
      return;
    }
    const err = (data && data.error) || {};
    if (r.status === 400) {
      serverErrors = Array.isArray(err.fields) && err.fields.length ? err.fields : [{ path: '', message: String(err.message || '') }];
      checkState = 'problems';
      applyErrors();
      createError(t('ed.fix_first', { n: serverErrors.length }));
      focusFirstProblem();
      return;
    }
    const byStatus = { 401: 'create.err_401', 403: 'create.err_401', 413: 'create.too_large', 429: 'create.err_429' };
    createError(byStatus[r.status] ? t(byStatus[r.status]) : t('create.err_other', { status: r.status }));
    if (r.status === 401 || r.status === 403) $('admin-token').focus();
  } finally {
    btn.removeAttribute('aria-busy');
  }
});

function createError(text) {
  setText($('create-error'), text);
  $('create-error').hidden = false;
}

function focusFirstProblem() {
  const el = document.querySelector('#ed-form [aria-invalid="true"], #ed-summary:not([hidden])');
  if (el) {
    el.focus();
    el.scrollIntoView({ block: 'center' });
  }
}

function showCreated(d, focus) {
  const links = d.links || {};
  setText($('created-code'), d.code);
  const qr = links.qr || `/j/${encodeURIComponent(d.code)}/qr.svg`;
  if ($('created-qr').getAttribute('src') !== qr) $('created-qr').src = qr;
  $('created-qr').alt = t('join.qr_alt', { code: d.code });
  const rows = [
    ['moderator', 'links.moderator', 'links.moderator_help'],
    ['rapporteur', 'links.rapporteur', 'links.rapporteur_help'],
    ['participant', 'links.participant', 'links.participant_help'],
    ['screen', 'links.screen', 'links.screen_help'],
  ];
  fill($('created-links'), rows.filter(([name]) => typeof links[name] === 'string').map(([name, label, help]) =>
    h('div', { class: `link-row link-${name}` },
      h('dt', null, t(label), h('span', { class: 'muted small' }, ` — ${t(help)}`)),
      h('dd', null,
        h('a', { href: links[name], target: '_blank', rel: 'noopener', 'data-testid': `link-${name}` }, links[name]),
        h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `copy-${name}`, onclick: (ev) => copy(links[name], ev.currentTarget) }, t('common.copy'))))));
  $('created').hidden = false;
  $('ed-roster').hidden = false;
  // Created: the dock's planned end and check belong to the form, and come back with an edit.
  $('ed-dock').hidden = true;
  hideToast();
  renderRosterIntro();
  if (focus) {
    $('created').focus();
    $('created').scrollIntoView({ block: 'start' });
  }
}

async function copy(text, btn) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    const ta = h('textarea', { class: 'visually-hidden', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
  }
  setText(btn, ok ? t('common.copied') : t('common.copy_failed'));
  setTimeout(() => setText(btn, t('common.copy')), 2000);
}

// ---------------------------------------------------------------- roster

const roster = { timer: null, seq: 0, url: null };

function renderRosterIntro() {
  setText($('ed-roster-intro'), t(model.settings.voting === 'roster' ? 'ed.roster_needed' : 'ed.roster_optional'));
}

const sessionApi = (path, init = {}) => fetch(`/api/sessions/${encodeURIComponent(created.id)}${path}`, {
  ...init, cache: 'no-store', credentials: 'omit', headers: { Authorization: `Bearer ${created.moderator_key}`, ...(init.headers || {}) },
});

$('roster-file').addEventListener('change', async (e) => {
  const f = e.target.files && e.target.files[0];
  if (!f) return;
  try {
    $('roster-text').value = await f.text();
  } catch {
    return rosterStatus(t('roster.file_failed'), 'error');
  }
  rosterStatus(t('roster.file_read', { name: f.name }), 'info');
  checkRoster();
});
$('roster-text').addEventListener('input', () => {
  clearTimeout(roster.timer);
  roster.timer = setTimeout(checkRoster, 300);
});

function rosterStatus(text, kind) {
  const el = $('roster-status');
  el.dataset.kind = kind || 'info';
  setText(el, text);
}

/** The preview: rows, weights and total, or the problems line by line. */
async function checkRoster() {
  clearTimeout(roster.timer);
  const text = $('roster-text').value;
  const box = $('roster-check');
  const mine = (roster.seq += 1);
  if (!text.trim()) {
    fill(box);
    $('roster-text').removeAttribute('aria-invalid');
    return;
  }
  let res;
  let data = null;
  try {
    res = await fetch('/api/roster/check', { method: 'POST', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text, credentials: 'omit' });
    data = await res.json().catch(() => null);
  } catch {
    res = null;
  }
  if (mine !== roster.seq) return;
  const ok = !!(res && res.ok && data && Array.isArray(data.entries));
  $('roster-text').setAttribute('aria-invalid', String(!ok));
  if (ok) {
    const shownRows = data.entries.slice(0, 50);
    fill(box, h('div', { class: 'ed-roster-ok', 'data-testid': 'roster-preview', 'data-entries': data.entries.length, 'data-weight': data.weight },
      h('p', { class: 'ed-roster-total', 'data-testid': 'roster-total' }, t('roster.summary', { n: data.entries.length, weight: data.weight })),
      h('div', { class: 'ed-table-wrap', tabindex: 0, role: 'region', 'aria-label': t('ed.roster_preview') },
        h('table', { class: 'ed-table' },
          h('thead', null, h('tr', null, h('th', { scope: 'col' }, '#'), h('th', { scope: 'col' }, t('ed.r_name')),
            h('th', { scope: 'col' }, t('ed.r_org')), h('th', { scope: 'col', class: 'num' }, t('ed.r_weight')))),
          h('tbody', null, shownRows.map((r, i) => h('tr', { 'data-testid': 'roster-row' },
            h('td', { class: 'num' }, i + 1), h('td', null, r.name), h('td', null, r.organisation), h('td', { class: 'num' }, r.weight)))))),
      data.entries.length > shownRows.length ? h('p', { class: 'muted small' }, t('ed.roster_more', { n: data.entries.length - shownRows.length })) : null));
    return;
  }
  const e = (data && data.error) || {};
  let lines = Array.isArray(e.fields) ? e.fields : [];
  if (!lines.length && e.message) {
    const r = /^(line \d+): (.*)$/s.exec(e.message);
    lines = [r ? { path: r[1], message: r[2] } : { path: '', message: e.message }];
  }
  if (!res) lines = [{ path: '', message: t('roster.err_network') }];
  else if (!lines.length) lines = [{ path: '', message: t('roster.err_other', { status: res.status }) }];
  fill(box, h('div', { class: 'form-error', 'data-testid': 'roster-errors' },
    h('p', null, t('ed.roster_bad')),
    h('ul', null, lines.map((l) => {
      const r = /^line (\d+)$/.exec(l.path || '');
      return h('li', { 'data-testid': 'roster-error', 'data-line': r ? r[1] : '' },
        r ? t('roster.err_line', { line: r[1], message: l.message }) : l.message);
    }))));
}

$('btn-roster-upload').addEventListener('click', async () => {
  const btn = $('btn-roster-upload');
  if (!created || btn.getAttribute('aria-busy') === 'true') return;
  const text = $('roster-text').value;
  if (!text.trim()) {
    rosterStatus(t('roster.empty'), 'error');
    $('roster-text').focus();
    return;
  }
  btn.setAttribute('aria-busy', 'true');
  rosterStatus(t('roster.uploading'), 'info');
  try {
    const res = await sessionApi('/roster', { method: 'PUT', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text });
    const data = await res.json().catch(() => null);
    if (!res.ok) {
      if (res.status === 400) {
        await checkRoster();
        rosterStatus(t('ed.roster_bad'), 'error');
      } else if (res.status === 409) rosterStatus(t('roster.err_409'), 'error');
      else if (res.status === 413) rosterStatus(t('roster.err_413'), 'error');
      else rosterStatus(t('roster.err_other', { status: res.status }), 'error');
      return;
    }
    const entries = (data && data.entries) || [];
    const weight = entries.reduce((a, x) => a + (Number(x.weight) || 0), 0);
    $('btn-cards').disabled = false;
    rosterStatus(t('ed.roster_uploaded', { n: entries.length, weight }), 'ok');
  } catch {
    rosterStatus(t('roster.err_network'), 'error');
  } finally {
    btn.removeAttribute('aria-busy');
  }
});

$('btn-cards').addEventListener('click', async () => {
  const btn = $('btn-cards');
  if (!created || btn.getAttribute('aria-busy') === 'true') return;
  btn.setAttribute('aria-busy', 'true');
  $('cards-fallback').hidden = true;
  try {
    const res = await sessionApi('/roster/cards.html', { headers: { Accept: 'text/html' } });
    if (!res.ok) {
      rosterStatus(t('roster.cards_failed', { status: res.status }), 'error');
      return;
    }
    // Opened from a blob: URL, the cards inherit this page's CSP, which refuses their inline
    // <style>: its rules go over as a constructed stylesheet (as the console does).
    let css = '';
    const html = (await res.text()).replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (m, rules) => {
      css += `${rules}\n`;
      return '';
    });
    if (roster.url) URL.revokeObjectURL(roster.url);
    roster.url = URL.createObjectURL(new Blob([html], { type: 'text/html;charset=utf-8' }));
    const w = window.open(roster.url, '_blank');
    $('cards-link').href = roster.url;
    if (!w) {
      $('cards-fallback').hidden = false;
      $('cards-link').focus();
    } else if (css) {
      styleWhenLoaded(w, roster.url, css);
    }
  } catch {
    rosterStatus(t('roster.err_network'), 'error');
  } finally {
    btn.removeAttribute('aria-busy');
  }
});

// ---------------------------------------------------------------- messages, undo, autosave

function announce(text) {
  const el = $('ed-live');
  el.textContent = '';
  requestAnimationFrame(() => { el.textContent = text; });
}

function notice(text, error = false) {
  const el = $('ed-notice');
  el.dataset.kind = error ? 'error' : 'info';
  setText(el, text);
  el.hidden = !text;
}

/** A message with an Undo button, kept until the next one or a dismissal. */
function showUndo(text, fn) {
  undoAction = fn;
  setText($('ed-toast-text'), text);
  $('ed-toast').hidden = false;
  announce(text);
}
function hideToast() {
  undoAction = null;
  $('ed-toast').hidden = true;
}
$('ed-undo').addEventListener('click', () => {
  const fn = undoAction;
  hideToast();
  if (fn) {
    fn();
    announce(t('ed.undone'));
  }
});
$('ed-toast-close').addEventListener('click', hideToast);

function save() {
  clearTimeout(saveTimer);
  savePending = false;
  try {
    localStorage.setItem(SAVE_KEY, JSON.stringify({ v: 1, model }));
  } catch {
    /* not kept: too large, or storage refused */
  }
}

// Leaving or reloading the page keeps what was typed in the last moment too.
window.addEventListener('pagehide', () => {
  if (savePending) save();
});
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'hidden' && savePending) save();
});

function restore() {
  try {
    const s = JSON.parse(localStorage.getItem(SAVE_KEY) || 'null');
    if (!s || s.v !== 1 || !isObj(s.model) || !Array.isArray(s.model.agenda)) return false;
    model = { ...blankModel(), ...s.model };
    showAll = true;
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------- start

const firstBtn = h('button', { type: 'button', class: 'btn btn-small', id: 'ed-first-problem', 'data-testid': 'ed-first-problem', hidden: true, onclick: focusFirstProblem });
$('ed-dock').append(firstBtn);

initI18n().then(() => {
  const restored = restore();
  if (!restored) model = blankModel(); // its languages in the page's order, now that it is known
  render();
  setText(firstBtn, t('ed.first_problem'));
  if (restored) {
    notice(t('ed.restored'));
    check();
  } else {
    checkState = 'idle';
    renderStatus(0, 0);
    check();
  }
});
onLangChange(() => {
  setText(firstBtn, t('ed.first_problem'));
  render();
  renderRosterIntro();
  if (created) showCreated(created, false);
  if ($('roster-text').value.trim()) checkRoster();
});

// For browser tests and debugging: the definition the form stands for, and the last check.
window.__editor = {
  definition: () => toDef(model),
  check: () => check(),
  get errors() {
    return allErrors();
  },
};
