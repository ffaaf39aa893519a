// Palabre UI strings: English and French, chosen from the browser, switchable.
//
// Static text carries `data-i18n="key"` (textContent) or
// `data-i18n-attr="placeholder:key;aria-label:key2"`; scripts call t(key, vars).
// A key with plural forms has `key.one` / `key.other` and is called with {n}.
// No DOM access at import time.

export const LANGS = ['en', 'fr'];
const STORE_KEY = 'palabre.lang';

let lang = 'en';
let dict = {};
const cache = {};
const listeners = [];

export const currentLang = () => lang;

function stored() {
  try {
    return globalThis.localStorage ? localStorage.getItem(STORE_KEY) : null;
  } catch {
    return null;
  }
}

/** The remembered choice, else the first of navigator.languages we speak (fr* → fr), else en. */
export function pickLang() {
  const s = stored();
  if (LANGS.includes(s)) return s;
  const prefs = (globalThis.navigator && (navigator.languages || [navigator.language])) || [];
  for (const p of prefs) {
    const base = String(p || '').toLowerCase().split('-')[0];
    if (LANGS.includes(base)) return base;
  }
  return 'en';
}

function fetchDict(name) {
  return fetch(`/assets/i18n/${name}.json`).then((r) => {
    if (!r.ok) throw new Error(`i18n ${name}: ${r.status}`);
    return r.json();
  });
}

/**
 * The dictionary of `l`: the one pages share, plus those the page's <html> names
 * (`data-i18n-extra="console moderator"` loads `console.<l>.json` and `moderator.<l>.json`),
 * so a phone never downloads the strings of pages it does not open.
 */
function load(l) {
  if (!cache[l]) {
    const extra = (globalThis.document && document.documentElement.dataset.i18nExtra) || '';
    const names = [l, ...extra.split(/\s+/).filter(Boolean).map((n) => `${n}.${l}`)];
    cache[l] = Promise.all(names.map(fetchDict)).then((dicts) => Object.assign({}, ...dicts));
  }
  return cache[l];
}

/** The string for `key` with {name} placeholders filled; the key itself if missing. */
export function t(key, vars) {
  let s;
  if (vars && typeof vars.n === 'number') {
    let cat = 'other';
    try {
      cat = new Intl.PluralRules(lang).select(vars.n);
    } catch {
      /* keep "other" */
    }
    s = dict[`${key}.${cat}`] ?? dict[`${key}.other`];
  }
  if (s == null) s = dict[key];
  if (s == null) return key;
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

/** A label for an enumerated value (`tv('kind', 'debate')`); the raw value if unknown. */
export function tv(prefix, value) {
  const k = `${prefix}.${value}`;
  const s = t(k);
  return s === k ? String(value == null ? '' : value) : s;
}

/** Fills every [data-i18n] / [data-i18n-attr] under root. */
export function applyI18n(root = document) {
  for (const el of root.querySelectorAll('[data-i18n]')) {
    const v = t(el.dataset.i18n);
    if (el.textContent !== v) el.textContent = v;
  }
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of el.dataset.i18nAttr.split(';')) {
      const [attr, key] = pair.split(':').map((x) => x.trim());
      if (attr && key) el.setAttribute(attr, t(key));
    }
  }
}

/** Called after every language change (and once the first dictionary is in). */
export function onLangChange(fn) {
  listeners.push(fn);
}

/** Switches language; `remember` keeps the choice in localStorage. */
export async function setLang(l, remember = false) {
  if (!LANGS.includes(l)) l = 'en';
  try {
    dict = await load(l);
  } catch (e) {
    console.warn(e.message);
    if (l !== 'en') return setLang('en', false);
    dict = {};
  }
  lang = l;
  if (remember) {
    try {
      localStorage.setItem(STORE_KEY, l);
    } catch {
      /* not remembered */
    }
  }
  document.documentElement.lang = l;
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.setAttribute('aria-pressed', String(b.dataset.lang === l));
  }
  applyI18n(document);
  for (const fn of listeners) {
    try {
      fn(l);
    } catch (e) {
      console.error(e);
    }
  }
  return l;
}

/** Wires the EN | FR buttons ([data-lang]) and loads the chosen language. */
export function initI18n() {
  for (const b of document.querySelectorAll('[data-lang]')) {
    b.addEventListener('click', () => setLang(b.dataset.lang, true));
  }
  return setLang(pickLang(), false);
}
