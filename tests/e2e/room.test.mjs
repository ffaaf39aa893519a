// The whole room in one real Chromium: twenty phones, the moderator's console (laptop) and
// the projector screen run the SOU 94 debate through their pages, as people do it: typing
// and tapping on the phones, the mouse and the keyboard shortcuts on the console. Nothing
// here goes through `window.__palabre.send`; the pages' state is only read, to name things.
//
// One browser, one context per phone (each its own participant token), nothing blocked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSession, useServerAndBrowser, tid, screenshot, watchErrors, checkA11yAll, sou94, storeName,
  PHONE, PROJECTOR, LAPTOP,
} from './harness.mjs';

/** Playwright's waits: generous for a loaded two-core machine, never endless. */
const WAIT_MS = 20_000;
const PHONES = 20;
/** Phones opened at once (two cores: a few at a time load as fast as all at once). */
const BATCH = 5;

const room = useServerAndBrowser();
/** A question of the room on a phone (not the answered group, not "my questions"). */
const roomQ = (id) => `${tid('questions-list')} ${tid('question')}[data-id="${id}"]`;
const modRow = (id) => `${tid('mod-questions')} ${tid('mod-question')}[data-id="${id}"]`;

async function open(options, url, label) {
  const context = await room.browser.newContext(options);
  context.setDefaultTimeout(WAIT_MS);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  await page.waitForSelector(`${tid('conn-state')}[data-state="online"]`);
  return { context, page, errors, label };
}

/**
 * Waits until `fn(arg)` holds in the page; on a timeout, the error carries what `report(arg)`
 * says about the page then, so a failure tells what was seen instead of just "timeout".
 */
async function until(page, what, fn, arg, report) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  } catch (e) {
    let seen = '';
    try {
      seen = JSON.stringify(await page.evaluate(report, arg));
    } catch (e2) {
      seen = `(could not read the page: ${e2.message})`;
    }
    throw new Error(`${what}: not reached within ${WAIT_MS} ms on ${page.url()}\n  seen: ${seen}\n  (${e.message.split('\n')[0]})`);
  }
}

const attrIs = (page, sel, attr, value) => until(
  page, `${sel}[${attr}="${value}"]`,
  ([s, a, v]) => document.querySelector(s)?.getAttribute(a) === v, [sel, attr, value],
  ([s, a]) => document.querySelector(s)?.getAttribute(a) ?? '(no such element)',
);

const textHas = (page, sel, re) => until(
  page, `${sel} text ~ ${re}`,
  ([s, src, flags]) => new RegExp(src, flags).test(document.querySelector(s)?.textContent || ''), [sel, re.source, re.flags],
  ([s]) => document.querySelector(s)?.textContent ?? '(no such element)',
);

/** Scrolls the page so that the element's top sits just under the sticky top bar. */
const showPanel = (page, testid) => page.locator(tid(testid)).evaluate((el) => {
  const bar = document.querySelector('header, .topbar, .bar');
  const below = bar && getComputedStyle(bar).position.match(/sticky|fixed/) ? bar.getBoundingClientRect().height : 0;
  window.scrollTo(0, el.getBoundingClientRect().top + window.scrollY - below - 8);
});

// ---------------------------------------------------------------- the questions of the day

const HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>';
/** Who asks what (phone index, its language, the text), in the order they ask. */
const ASKED = {
  QA: { phone: 0, text: 'Comment financer les communes ?' },
  QB: { phone: 1, text: 'Quel financement pour les communes ?' }, // near-duplicate of QA: merged while pending
  QC: { phone: 2, text: 'How will the transfer of resources from the State to local authorities be guaranteed?' },
  QD: { phone: 3, text: 'Quel rôle pour les élus locaux dans la réconciliation nationale au Mali ?' },
  QX: { phone: 4, text: HOSTILE },
  QE: { phone: 5, text: 'How can regional councils attract private investment?' },
  QF: { phone: 6, text: 'How could regional councils attract more private investment?' }, // duplicate of QE, merged once upvoted
};
const FRENCH_PHONES = new Set([0, 1, 3, 8, 10, 12, 14, 16, 18]);

const range = (a, b) => Array.from({ length: b - a + 1 }, (_, i) => a + i);
/** Who taps the upvote of which question; `again` tap a second time (the upvote taken back). */
const UPVOTES = {
  QA: { tap: range(0, 9), again: [8, 9] },
  QX: { tap: range(10, 15), again: [] },
  QC: { tap: range(6, 9), again: [] },
  QD: { tap: [18, 19], again: [] },
  QE: { tap: [0, 1, 2, 3, 16, 17, 18], again: [] },
  QF: { tap: [2, 3, 4, 5, 19], again: [] },
};
const upvoters = (key) => new Set(UPVOTES[key].tap.filter((i) => !UPVOTES[key].again.includes(i)));
const union = (...sets) => new Set(sets.flatMap((s) => [...s]));

// The list of speakers: phone index, name, organisation, in the order they ask.
const SPEAKERS = [
  { phone: 3, name: 'Moussa Traoré', org: 'Association des municipalités du Mali' },
  { phone: 2, name: 'Awa Diop', org: 'Réseau des femmes élues locales' },
  { phone: 7, name: 'Fatoumata Keïta', org: 'Conseil régional de Ségou' },
];

test(`the room: twenty phones, the console and the screen run the SOU 94 debate (${storeName})`, { timeout: 115_000 }, async (t) => {
  const t0 = Date.now();
  const lap = (what) => t.diagnostic(`${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  const created = await createSession(room.server.base, sou94);

  const console_ = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator, 'console');
  const screen = await open({ ...PROJECTOR, locale: 'fr-FR' }, created.links.screen, 'screen');
  const phones = [];
  for (let from = 0; from < PHONES; from += BATCH) {
    phones.push(...await Promise.all(range(from, Math.min(PHONES, from + BATCH) - 1).map((i) => open(
      { ...PHONE, locale: FRENCH_PHONES.has(i) ? 'fr-FR' : 'en-GB' }, created.links.participant, `phone ${i}`,
    ))));
  }
  const all = [console_, screen, ...phones];
  const m = console_.page;
  const s = screen.page;
  const phone = (i) => phones[i].page;
  lap('22 pages online');

  // Twenty distinct participants, as the console counts them.
  await until(m, 'connected-count 20', () => document.querySelector('[data-testid="connected-count"]')?.textContent.trim() === '20', null,
    () => document.querySelector('[data-testid="connected-count"]')?.textContent);
  const tokens = await Promise.all(phones.map(({ page }) => page.evaluate(() => Object.entries(localStorage).find(([k]) => k.startsWith('palabre.participant.'))?.[1])));
  assert.ok(tokens.every(Boolean), 'each phone keeps its participant token');
  assert.equal(new Set(tokens).size, PHONES, 'each phone has its own participant token');

  // ---- the console starts the session and goes to the debate: Q&A opens on every phone
  await m.click(`${tid('btn-next')}[data-mode="start"]`);
  await attrIs(m, tid('phase'), 'data-phase', 'running');
  const debateItem = sou94.agenda.findIndex((i) => i.kind === 'debate');
  assert.equal(debateItem, 6);
  assert.equal(sou94.agenda[debateItem].title.en, 'Debates and exchanges with the audience');
  await m.click(`${tid('btn-goto')}[data-index="${debateItem}"]`);
  await attrIs(m, `${tid('agenda-item')}[data-index="${debateItem}"]`, 'data-status', 'current');
  await attrIs(m, tid('qa-state'), 'data-open', 'true');
  await Promise.all(phones.map(({ page }) => page.waitForSelector(tid('ask-form'), { state: 'visible' })));
  await Promise.all(phones.map(({ page }) => page.waitForSelector(tid('qa-closed-note'), { state: 'hidden' })));
  await textHas(s, tid('current-title'), /^(Debates and exchanges with the audience|Débats et échanges avec la salle)$/);
  lap('debate item: Q&A open everywhere');

  // ---- phones ask, through the form, one after the other (the pending list is oldest first)
  const ids = {};
  for (const [key, { phone: i, text }] of Object.entries(ASKED)) {
    const p = phone(i);
    await p.fill(tid('ask-text'), text);
    await p.click(tid('ask-submit'));
    await p.waitForSelector(`${tid('my-question')}[data-status="pending"]`);
    assert.equal(await p.inputValue(tid('ask-text')), '', `the form is emptied on phone ${i}`);
    ids[key] = await p.$eval(`${tid('my-question')}[data-status="pending"]`, (el) => el.dataset.id);
    assert.equal((await p.textContent(`${tid('my-question')}[data-id="${ids[key]}"] .q-text`)).trim(), text);
  }
  const keyOf = Object.fromEntries(Object.entries(ids).map(([k, id]) => [id, k]));
  lap('7 questions asked');

  // The console lists them, oldest first, with the near-duplicates suggested.
  const pendingOrder = ['QA', 'QB', 'QC', 'QD', 'QX', 'QE', 'QF'].map((k) => ids[k]);
  await until(m, 'the 7 questions pending on the console, oldest first',
    (want) => JSON.stringify([...document.querySelectorAll('[data-testid="mod-question"]')].map((e) => e.dataset.id)) === JSON.stringify(want),
    pendingOrder, () => [...document.querySelectorAll('[data-testid="mod-question"]')].map((e) => e.dataset.id));
  await m.waitForSelector(`${modRow(ids.QB)} ${tid('dup-suggestion')}[data-id="${ids.QA}"]`);
  await m.waitForSelector(`${modRow(ids.QF)} ${tid('dup-suggestion')}[data-id="${ids.QE}"]`);
  assert.equal((await m.textContent(`${modRow(ids.QX)} .q-text`)).trim(), HOSTILE, 'the hostile text is text on the console');
  await showPanel(m, 'panel-questions');
  await screenshot(m, 'room-console-pending');

  // ---- the console approves: the first with the mouse...
  await m.click(`${modRow(ids.QA)} ${tid('q-approve')}`);
  await m.waitForSelector(modRow(ids.QA), { state: 'detached' });
  const selected = () => m.evaluate(() => {
    const sel = document.querySelector('[data-testid="mod-question"][aria-selected="true"]');
    const a = document.activeElement;
    return { selected: sel?.dataset.id ?? null, focus: a?.closest?.('[data-testid="mod-question"]')?.dataset.id ?? null };
  });
  const selectedIs = (key) => until(m, `${key} selected and focused on the console`,
    (id) => {
      const sel = document.querySelector('[data-testid="mod-question"][aria-selected="true"]');
      return sel?.dataset.id === id && document.activeElement?.closest?.('[data-testid="mod-question"]')?.dataset.id === id;
    },
    ids[key], () => {
      const sel = document.querySelector('[data-testid="mod-question"][aria-selected="true"]');
      return { selected: sel?.dataset.id, focus: document.activeElement?.outerHTML?.slice(0, 120) };
    });
  // The focus stays in the list, on the next one: the keyboard goes on from there.
  await selectedIs('QB');
  // ...the others with the keyboard: j/k move the selection, a approves.
  await m.keyboard.press('j');
  await selectedIs('QC');
  await m.keyboard.press('j');
  await selectedIs('QD');
  await m.keyboard.press('k');
  await selectedIs('QC');
  for (const [key, next] of [['QC', 'QD'], ['QD', 'QX'], ['QX', 'QE'], ['QE', 'QF'], ['QF', 'QB']]) {
    await m.keyboard.press('a');
    await m.waitForSelector(modRow(ids[key]), { state: 'detached' });
    await selectedIs(next);
  }
  assert.deepEqual(await selected(), { selected: ids.QB, focus: ids.QB });
  await until(m, '6 approved on the console', () => document.querySelector('[data-testid="q-filter"][data-filter="approved"] [data-testid="q-filter-count"]')?.textContent.trim() === '6',
    null, () => document.querySelector('[data-testid="q-filter"][data-filter="approved"]')?.textContent);
  lap('approved: 1 with the mouse, 5 with the keyboard');

  // ---- the pending near-duplicate: its twin, approved, is suggested next to it; one click merges
  const suggestion = `${modRow(ids.QB)} ${tid('dup-suggestion')}[data-id="${ids.QA}"]`;
  await m.waitForSelector(suggestion);
  assert.equal((await m.textContent(`${suggestion} .q-dup-text`)).trim(), ASKED.QA.text);
  await m.click(`${suggestion} ${tid('dup-merge')}`);
  await m.waitForSelector(modRow(ids.QB), { state: 'detached' });
  await m.waitForSelector(tid('q-empty'), { state: 'visible' });
  // Its asker sees where it went.
  await phone(1).waitForSelector(`${tid('my-question')}[data-id="${ids.QB}"][data-status="merged"] ${tid('merged-link')}[data-into="${ids.QA}"]`);
  lap('QB merged into QA with "merge into this"');

  // The console follows the approved questions, the upvotes as they come.
  await m.click(`${tid('q-filter')}[data-filter="approved"]`);
  await attrIs(m, `${tid('q-filter')}[data-filter="approved"]`, 'aria-pressed', 'true');

  // ---- every phone sees the six approved questions and taps its upvotes
  const approved = ['QA', 'QC', 'QD', 'QX', 'QE', 'QF'];
  await Promise.all(phones.map(({ page }) => until(page, 'six approved questions on the phone',
    (want) => want.every((id) => document.querySelector(`[data-testid="questions-list"] [data-testid="question"][data-id="${id}"] [data-testid="upvote"]`)),
    approved.map((k) => ids[k]),
    () => [...document.querySelectorAll('[data-testid="questions-list"] [data-testid="question"]')].map((e) => e.dataset.id))));
  const settled = (page, id, pressed) => until(page, `upvote of ${keyOf[id]} pressed=${pressed}, answered`,
    ([sel, want]) => {
      const b = document.querySelector(sel);
      return !!b && b.getAttribute('aria-pressed') === want && !b.hasAttribute('data-pending');
    },
    [`${roomQ(id)} ${tid('upvote')}`, String(pressed)],
    ([sel]) => document.querySelector(sel)?.outerHTML ?? '(no button)');
  await Promise.all(phones.map(async ({ page }, i) => {
    for (const key of approved) {
      if (!UPVOTES[key].tap.includes(i)) continue;
      await page.locator(`${roomQ(ids[key])} ${tid('upvote')}`).tap();
      await settled(page, ids[key], true);
    }
    for (const key of approved) {
      if (!UPVOTES[key].again.includes(i)) continue;
      await page.locator(`${roomQ(ids[key])} ${tid('upvote')}`).tap();
      await settled(page, ids[key], false);
    }
  }));
  lap('upvotes tapped on 20 phones');

  /** What every page must show: upvotes by question, and on each phone which buttons are pressed. */
  async function countsEverywhere(expected, what) {
    const order = Object.keys(expected).sort((a, b) => expected[b].size - expected[a].size);
    const want = order.map((k) => [ids[k], expected[k].size]);
    // The console: q-upvotes of every approved row, most upvoted first.
    await until(m, `console counts ${what}`,
      (w) => JSON.stringify([...document.querySelectorAll('[data-testid="mod-question"]')].map((r) => [r.dataset.id, Number(r.querySelector('[data-testid="q-upvotes"]').textContent.trim())])) === JSON.stringify(w),
      want, () => [...document.querySelectorAll('[data-testid="mod-question"]')].map((r) => [r.dataset.id, r.querySelector('[data-testid="q-upvotes"]')?.textContent]));
    // The screen: the top questions (as many as fit, at least three), in that order, with their counts.
    await until(s, `screen counts ${what}`,
      (w) => {
        const got = [...document.querySelectorAll('[data-testid="top-questions"] [data-testid="screen-question"]')].map((e) => [e.dataset.id, Number(e.dataset.upvotes), Number(e.querySelector('.s-q-votes').textContent.match(/\d+/)?.[0])]);
        return got.length >= 3 && got.every(([id, n, shown], i) => w[i] && id === w[i][0] && n === w[i][1] && shown === w[i][1]);
      },
      want, () => [...document.querySelectorAll('[data-testid="top-questions"] [data-testid="screen-question"]')].map((e) => [e.dataset.id, e.dataset.upvotes, e.textContent.slice(0, 40)]));
    // Each phone: every count, and its own upvotes pressed, nothing else.
    await Promise.all(phones.map(({ page }, i) => until(page, `phone ${i} counts ${what}`,
      (w) => {
        const items = [...document.querySelectorAll('[data-testid="questions-list"] [data-testid="question"]')];
        return items.length === w.length && w.every(([id, n, pressed]) => {
          const b = document.querySelector(`[data-testid="questions-list"] [data-testid="question"][data-id="${id}"] [data-testid="upvote"]`);
          return !!b && b.querySelector('[data-testid="upvote-count"]').textContent.trim() === String(n)
            && b.getAttribute('aria-pressed') === String(pressed) && !b.hasAttribute('data-pending');
        });
      },
      order.map((k) => [ids[k], expected[k].size, expected[k].has(i)]),
      () => [...document.querySelectorAll('[data-testid="questions-list"] [data-testid="question"]')].map((e) => [e.dataset.id, e.querySelector('[data-testid="upvote-count"]')?.textContent, e.querySelector('[data-testid="upvote"]')?.getAttribute('aria-pressed')]))));
  }

  const before = Object.fromEntries(approved.map((k) => [k, upvoters(k)]));
  assert.deepEqual(Object.fromEntries(approved.map((k) => [k, before[k].size])), { QA: 8, QC: 4, QD: 2, QX: 6, QE: 7, QF: 5 });
  await countsEverywhere(before, 'after the taps');
  lap('counts checked on 22 pages');

  // ---- two approved near-duplicates, both upvoted: the console suggests the less upvoted
  // into the more upvoted; selected with j, merged with m (into the top suggestion).
  await m.waitForSelector(`${modRow(ids.QF)} ${tid('dup-suggestion')}[data-id="${ids.QE}"]`);
  await m.waitForSelector(`${modRow(ids.QB)}`, { state: 'detached' });
  await showPanel(m, 'panel-questions');
  await screenshot(m, 'room-console-approved');
  // From the filter button (in the panel), j selects and focuses the rows one by one.
  await m.focus(`${tid('q-filter')}[data-filter="approved"]`);
  for (let n = 0; n < approved.length && (await selected()).focus !== ids.QF; n += 1) {
    const was = (await selected()).focus;
    await m.keyboard.press('j');
    await until(m, 'j moves the focus to the next row',
      (w) => { const f = document.activeElement?.closest?.('[data-testid="mod-question"]'); return !!f && f.dataset.id !== w; },
      was, () => document.activeElement?.outerHTML?.slice(0, 120));
  }
  await selectedIs('QF');
  await m.keyboard.press('m');
  await m.waitForSelector(modRow(ids.QF), { state: 'detached' });
  // Upvoters united, each counted once (phones 2 and 3 upvoted both).
  const after_ = { QE: union(before.QE, before.QF), QA: before.QA, QX: before.QX, QC: before.QC, QD: before.QD };
  assert.equal(after_.QE.size, 10);
  await countsEverywhere(after_, 'after the merge');
  await phone(6).waitForSelector(`${tid('my-question')}[data-id="${ids.QF}"][data-status="merged"] ${tid('merged-link')}[data-into="${ids.QE}"]`);
  lap('QF merged into QE with the keyboard, counts checked again');

  // ---- the hostile text: text everywhere, never markup, never run
  assert.equal((await m.textContent(`${modRow(ids.QX)} .q-text`)).trim(), HOSTILE);
  assert.equal((await s.textContent(`${tid('screen-question')}[data-id="${ids.QX}"] .s-q-text`)).trim(), HOSTILE);
  for (const { page } of phones) assert.equal((await page.textContent(`${roomQ(ids.QX)} .q-text`)).trim(), HOSTILE);
  assert.equal((await phone(4).textContent(`${tid('my-question')}[data-id="${ids.QX}"] .q-text`)).trim(), HOSTILE);

  // ---- highlighted with the mouse: very large on the screen; answered with the keyboard (d)
  await m.click(`${modRow(ids.QA)} ${tid('q-highlight')}`);
  await attrIs(s, tid('highlighted-question'), 'data-id', ids.QA);
  await s.waitForSelector(tid('highlighted-question'), { state: 'visible' });
  await s.waitForSelector(tid('top-questions'), { state: 'hidden' });
  assert.equal((await s.textContent('#hl-text')).trim(), ASKED.QA.text);
  await textHas(s, '#hl-votes', /\b8\b/);
  await m.waitForSelector(tid('q-onscreen'), { state: 'visible' });
  assert.equal((await m.textContent('#q-onscreen-text')).trim(), ASKED.QA.text);
  await attrIs(m, `${modRow(ids.QA)} ${tid('q-highlight')}`, 'aria-pressed', 'true');
  await until(m, 'the highlight acknowledged, the focus back on its button',
    (sel) => !document.querySelector(sel)?.hasAttribute('aria-busy') && document.activeElement === document.querySelector(`${sel} [data-testid="q-highlight"]`),
    modRow(ids.QA), (sel) => ({ busy: document.querySelector(sel)?.getAttribute('aria-busy'), focus: document.activeElement?.outerHTML?.slice(0, 120) }));
  await screenshot(s, 'room-screen-highlighted');
  await m.keyboard.press('d');
  await m.waitForSelector(modRow(ids.QA), { state: 'detached' });
  await s.waitForSelector(tid('highlighted-question'), { state: 'hidden' });
  await s.waitForSelector(tid('top-questions'), { state: 'visible' });
  await attrIs(s, `${tid('top-questions')} ${tid('screen-question')}:first-child`, 'data-id', ids.QE);
  await m.waitForSelector(tid('q-onscreen'), { state: 'hidden' });
  await phone(0).waitForSelector(`${tid('answered')} ${tid('question')}[data-id="${ids.QA}"][data-status="answered"]`, { state: 'attached' });
  await phone(0).waitForSelector(`${tid('my-question')}[data-id="${ids.QA}"][data-status="answered"]`);
  lap('QA highlighted, then answered');

  // ---- the list of speakers
  for (const [n, { phone: i, name, org }] of SPEAKERS.entries()) {
    const p = phone(i);
    await p.waitForSelector(tid('floor-form'), { state: 'visible' });
    await p.fill(tid('floor-name'), name);
    await p.fill(tid('floor-org'), org);
    await p.click(tid('floor-request'));
    await attrIs(p, tid('floor-place'), 'data-position', String(n + 1));
    await attrIs(p, tid('floor-place'), 'data-state', 'queued');
    if (n > 0) await textHas(p, tid('floor-place'), FRENCH_PHONES.has(i) ? new RegExp(`position ${n + 1}\\b`) : new RegExp(`number ${n + 1}\\b`));
    await p.waitForSelector(tid('floor-form'), { state: 'hidden' });
  }
  const [moussa, awa, fatoumata] = SPEAKERS;
  const consoleQueue = () => m.$$eval(`${tid('floor-queue')} ${tid('floor-entry')} .floor-name`, (l) => l.map((e) => e.textContent.trim()));
  await until(m, 'three requests on the console', () => document.querySelectorAll('[data-testid="floor-entry"]').length === 3, null,
    () => document.querySelectorAll('[data-testid="floor-entry"]').length);
  assert.deepEqual(await consoleQueue(), [moussa.name, awa.name, fatoumata.name]);
  // The console moves the third one up.
  await m.locator(tid('floor-entry'), { hasText: fatoumata.name }).locator(tid('floor-up')).click();
  await until(m, 'Fatoumata second on the console',
    (want) => JSON.stringify([...document.querySelectorAll('[data-testid="floor-entry"] .floor-name')].map((e) => e.textContent.trim())) === JSON.stringify(want),
    [moussa.name, fatoumata.name, awa.name], () => [...document.querySelectorAll('[data-testid="floor-entry"] .floor-name')].map((e) => e.textContent.trim()));
  await attrIs(phone(fatoumata.phone), tid('floor-place'), 'data-position', '2');
  await attrIs(phone(awa.phone), tid('floor-place'), 'data-position', '3');
  await textHas(phone(awa.phone), tid('floor-place'), /number 3\b/);
  // ...and gives the floor to the first.
  await m.locator(tid('floor-entry'), { hasText: moussa.name }).locator(tid('floor-grant')).click();
  await m.waitForSelector(tid('floor-speaking'), { state: 'visible' });
  assert.equal((await m.textContent('#floor-speaking-name')).trim(), moussa.name);
  await attrIs(phone(moussa.phone), tid('floor-place'), 'data-state', 'speaking');
  await textHas(phone(moussa.phone), tid('floor-place'), /Vous avez la parole/);
  await attrIs(phone(fatoumata.phone), tid('floor-place'), 'data-position', '1');
  await attrIs(phone(awa.phone), tid('floor-place'), 'data-position', '2');
  await textHas(phone(awa.phone), tid('floor-place'), /number 2\b/);
  await s.waitForSelector(`${tid('screen-floor')} ${tid('floor-speaking')}`, { state: 'visible' });
  await textHas(s, '#sp-name', new RegExp(`^\\s*${moussa.name}\\s*$`));
  await textHas(s, '#sp-org', new RegExp(moussa.org));
  await until(s, 'who is next on the screen',
    (want) => JSON.stringify([...document.querySelectorAll('[data-testid="floor-next"] li .s-nx-name')].map((e) => e.textContent.trim())) === JSON.stringify(want),
    [fatoumata.name, awa.name], () => [...document.querySelectorAll('[data-testid="floor-next"] li')].map((e) => e.textContent));
  await attrIs(s, tid('floor-timer'), 'data-level', 'ok');
  await screenshot(s, 'room-screen-floor');
  await showPanel(phone(awa.phone), 'my-questions');
  await screenshot(phone(awa.phone), 'room-phone-questions');
  await showPanel(phone(awa.phone), 'floor');
  await screenshot(phone(awa.phone), 'room-phone-floor');
  lap('list of speakers: requested, moved, granted');

  // The console ends the turn.
  await m.click(tid('floor-end'));
  await m.waitForSelector(tid('floor-speaking'), { state: 'hidden' });
  await s.waitForSelector(`${tid('screen-floor')} ${tid('floor-speaking')}`, { state: 'hidden' });
  await textHas(phone(moussa.phone), tid('floor-status'), /terminé/);
  await phone(moussa.phone).waitForSelector(tid('floor-form'), { state: 'visible' });
  await attrIs(phone(fatoumata.phone), tid('floor-place'), 'data-position', '1');

  // ---- nothing ran, nothing went wrong, and the pages are usable
  for (const { page, label } of all) {
    assert.equal(await page.evaluate(() => typeof window.__pwned), 'undefined', `window.__pwned on ${label}`);
    assert.equal(await page.$$eval('img:not([data-testid="qr"])', (l) => l.filter((e) => !e.closest('[data-testid="qr"]')).length), 0, `no img on ${label}`);
  }
  await checkA11yAll([[m, 'console during the debate'], [s, 'screen with the list of speakers'], [phone(awa.phone), 'phone in the list of speakers']]);
  for (const { errors, label } of all) assert.deepEqual(errors, [], `no errors on ${label}`);
  const serverErrors = room.server.log().split('\n').filter((l) => /\bERROR\b/.test(l));
  assert.deepEqual(serverErrors, [], 'no errors in the server log');
  lap('done');
  await Promise.all(all.map(({ context }) => context.close()));
});
