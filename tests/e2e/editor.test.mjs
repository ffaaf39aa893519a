// The session editor (/new) in a real Chromium: SOU 94 typed in field by field and created,
// problems shown next to their fields, items reordered by keyboard and by drag, import → export
// round trips, and the roster step after creation. Screenshots at laptop and phone size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  root, createSession, useServerAndBrowser, tid, screenshot, watchErrors, checkA11y, sou94, storeName,
} from './harness.mjs';

const room = useServerAndBrowser();
const LAPTOP_900 = { viewport: { width: 1366, height: 900 } };
const PHONE_390 = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };
const rosterCsv = readFileSync(join(root, 'fixtures', 'sou94-roster.csv'), 'utf8');

const path = (p) => `[data-path="${p}"]`;
/** A problem the server reports is a 400, which Chromium logs as a failed resource load. */
const unexpected = (errors) => errors.filter((e) => !/Failed to load resource: the server responded with a status of 400/.test(e));

async function openEditor(options = LAPTOP_900, url = '/new') {
  const context = await room.browser.newContext({ ...options, locale: 'en-GB' });
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(`${room.server.base}${url}`);
  if (url === '/new') await ready(page);
  return { context, page, errors };
}

/** The form is drawn and its last check is answered. */
async function ready(page) {
  await page.waitForSelector(tid('ed-item'));
  await settled(page);
}
const settled = (page) => page.waitForFunction(() => {
  const s = document.querySelector('[data-testid="ed-status"]');
  return s && s.dataset.state !== 'checking' && s.dataset.state !== 'idle';
});

/** The definition the form stands for now (what Export and Create send). */
const definition = (page) => page.evaluate(() => window.__editor.definition());

/** What the server keeps for a definition: created through the API, read back with the moderator key. */
async function stored(base, created) {
  const res = await fetch(`${base}/api/sessions/${created.id}/definition`, { headers: { Authorization: `Bearer ${created.moderator_key}` } });
  assert.equal(res.status, 200, `GET definition: ${res.status}`);
  return res.json();
}

/** The id and key of the moderator link shown once a session is created. */
async function createdFromPage(page) {
  await page.waitForSelector(`${tid('created')}:not([hidden])`);
  const href = await page.getAttribute(tid('link-moderator'), 'href');
  const m = /\/m\/([^#]+)#key=(.+)$/.exec(href);
  assert.ok(m, `a moderator link: ${href}`);
  return { id: decodeURIComponent(m[1]), moderator_key: decodeURIComponent(m[2]), code: (await page.textContent(tid('created-code'))).trim() };
}

/** Types a text given as a string or by language into the field at `p`, switching its form if needed. */
async function typeText(page, p, value) {
  const byLang = value !== null && typeof value === 'object';
  const toggle = page.locator(`${tid('ed-mode')}[data-for="${p}"]`);
  if ((await toggle.count()) && (await toggle.getAttribute('aria-pressed')) !== String(byLang)) await toggle.click();
  if (byLang) {
    for (const [lang, text] of Object.entries(value)) await page.fill(path(`${p}.${lang}`), text);
  } else {
    await page.fill(path(p), value);
  }
}

async function importJson(page, def, name = 'session.json') {
  await page.setInputFiles(tid('ed-import-file'), { name, mimeType: 'application/json', buffer: Buffer.from(JSON.stringify(def)) });
  await page.waitForFunction((n) => document.querySelector('[data-testid="ed-toast"]')?.textContent.includes(n), name);
  await settled(page);
}

async function exportJson(page) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.click(tid('ed-export'))]);
  return JSON.parse(readFileSync(await download.path(), 'utf8'));
}

const titles = (def) => def.agenda.map((it) => (typeof it.title === 'string' ? it.title : it.title.en));

test(`SOU 94 typed into the editor, field by field, is stored as the fixture is (${storeName})`, async () => {
  const { context, page, errors } = await openEditor(LAPTOP_900, '/');
  // From the landing page, organisers find the editor.
  await page.click(`${tid('create')} summary`);
  await page.click(tid('link-editor'));
  await page.waitForURL('**/new');
  await ready(page);
  assert.equal(await page.locator(tid('field-error')).count(), 0, 'nothing is flagged before anything is typed');

  const languages = page.locator(tid('ed-lang'));
  assert.deepEqual(await languages.evaluateAll((els) => els.filter((e) => e.checked).map((e) => e.value)), ['en', 'fr']);
  assert.equal(await page.inputValue(tid('ed-primary')), 'en');

  // Real keystrokes for the title in English; the rest is filled field by field.
  await page.locator(path('title.en')).pressSequentially(sou94.title.en);
  await page.fill(path('title.fr'), sou94.title.fr);
  await page.fill(tid('ed-reference'), sou94.reference);
  await page.fill(tid('ed-venue'), sou94.venue);
  await page.fill(tid('ed-date'), '2018-11-23');
  await page.fill(tid('ed-start'), '14:30');
  await page.fill(tid('ed-end'), '17:30');

  for (const [i, item] of sou94.agenda.entries()) {
    if (i > 0) await page.click(tid('ed-add-item'));
    const p = `agenda[${i}]`;
    // A new item has its title by language in a bilingual session, and the focus.
    if (i > 0) assert.equal(await page.evaluate(() => document.activeElement?.dataset.path), `${p}.title.en`);
    await typeText(page, `${p}.title`, item.title);
    await page.selectOption(path(`${p}.kind`), item.kind);
    await page.fill(path(`${p}.minutes`), String(item.minutes));
    for (const [j, speaker] of item.speakers.entries()) {
      await page.locator(tid('ed-item')).nth(i).locator(tid('ed-add-speaker')).click();
      await typeText(page, `${p}.speakers[${j}]`, speaker);
    }
    if (i === 6) {
      // 145 minutes from 14:30: the planned end is shown against the end, live.
      await page.waitForFunction(() => document.querySelector('[data-testid="ed-planned"]').textContent.startsWith('Planned end 16:55 UTC — 35 min to spare'));
    }
  }
  await page.waitForFunction(() => document.querySelector('[data-testid="ed-planned"]').textContent.startsWith('Planned end 17:30 UTC — on time'));
  await page.fill(path('agenda[7].minutes'), '40');
  await page.waitForFunction(() => document.querySelector('[data-testid="ed-planned"]').textContent.startsWith('Planned end 17:35 UTC — 5 min over'));
  assert.equal(await page.getAttribute(tid('ed-planned'), 'data-level'), 'over');
  await page.fill(path('agenda[7].minutes'), '35');

  for (const [i, draft] of sou94.drafts.entries()) {
    await page.click(tid('ed-add-draft'));
    const p = `drafts[${i}]`;
    await page.selectOption(path(`${p}.kind`), draft.kind);
    await typeText(page, `${p}.title`, draft.title);
    await typeText(page, `${p}.text`, draft.text);
  }
  // The settings of SOU 94 are the editor's own defaults.
  assert.equal(await page.isChecked(tid('ed-moderate')), true);
  assert.equal(await page.isChecked(tid('ed-anonymous')), true);
  assert.equal(await page.isChecked(tid('ed-voting-open')), true);
  assert.equal(await page.inputValue(tid('ed-turn')), '180');

  await page.waitForFunction(() => document.querySelector('[data-testid="ed-status"]').dataset.state === 'ok');
  assert.equal((await page.textContent(tid('ed-status'))).trim(), 'Ready to create');
  assert.equal(await page.locator(tid('field-error')).count(), 0);
  await checkA11y(page, 'editor, SOU 94 typed in');
  await page.locator(path('title.en')).scrollIntoViewIfNeeded();
  await screenshot(page, 'editor-laptop-session');
  await page.locator(tid('ed-item')).nth(4).scrollIntoViewIfNeeded();
  await screenshot(page, 'editor-laptop-agenda');

  await page.click(tid('btn-create'));
  const created = await createdFromPage(page);
  assert.match(created.code, /^[A-Z0-9]{6}$/);
  for (const name of ['moderator', 'rapporteur', 'participant', 'screen']) {
    assert.ok(await page.getAttribute(tid(`link-${name}`), 'href'), `the ${name} link is shown`);
  }
  await page.waitForSelector(`${tid('ed-roster')}:not([hidden])`);
  await checkA11y(page, 'editor, session created');
  await screenshot(page, 'editor-laptop-created');

  const typed = await stored(room.server.base, created);
  const direct = await stored(room.server.base, await createSession(room.server.base, sou94));
  assert.deepEqual(typed, direct);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});

test(`a problem the server finds is shown next to its field (${storeName})`, async () => {
  const { context, page, errors } = await openEditor();
  await page.fill(path('title.en'), 'x'.repeat(201));
  const err = page.locator(`${tid('field-error')}[data-for="title.en"]`);
  await err.waitFor();
  assert.equal((await err.textContent()).trim(), 'Too long: 201 characters, 200 at most.');
  const input = page.locator(path('title.en'));
  assert.equal(await input.getAttribute('aria-invalid'), 'true');
  const errId = await err.getAttribute('id');
  assert.ok((await input.getAttribute('aria-describedby')).split(' ').includes(errId), 'the message describes the field');
  // The French title, untouched, carries nothing.
  assert.equal(await page.getAttribute(path('title.fr'), 'aria-invalid'), null);

  // An agenda title typed, then cleared: required, said at the item's title.
  await page.fill(path('agenda[0].title.en'), 'Opening');
  await page.fill(path('agenda[0].title.en'), '');
  const required = page.locator(`${tid('ed-item')} ${tid('field-error')}[data-for="agenda[0].title"]`);
  await required.waitFor();
  assert.equal((await required.textContent()).trim(), 'Required: give it in at least one language.');
  assert.equal(await page.getAttribute(path('agenda[0].title.fr'), 'aria-invalid'), 'true');
  // A number of minutes that is not one is caught by the page itself.
  await page.locator(path('agenda[0].minutes')).pressSequentially('-5');
  await page.waitForSelector(`${tid('field-error')}[data-for="agenda[0].minutes"]`);
  await page.waitForFunction(() => document.querySelector('[data-testid="ed-status"]').textContent.includes('problems to fix'));
  await checkA11y(page, 'editor, problems shown');
  await page.locator(path('title.en')).scrollIntoViewIfNeeded();
  await screenshot(page, 'editor-laptop-problems');

  // Create with problems: refused in the page, the focus on the first one.
  await page.click(tid('btn-create'));
  await page.waitForSelector(`${tid('create-error')}:not([hidden])`);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.path), 'title.en');

  // In French, the same problem in French.
  await page.click(tid('lang-fr'));
  await page.waitForFunction(() => document.querySelector('[data-for="title.en"]')?.textContent.includes('Trop long : 201 caractères, 200 au plus.'));

  // Fixed, the marks go.
  await page.fill(path('title.en'), 'Plenary');
  await page.fill(path('agenda[0].title.fr'), 'Ouverture');
  await page.fill(path('agenda[0].minutes'), '10');
  await page.waitForFunction(() => !document.querySelector('[data-testid="field-error"]') && document.querySelector('[data-testid="ed-status"]').dataset.state === 'ok');
  assert.equal(await page.getAttribute(path('title.en'), 'aria-invalid'), null);
  assert.equal(await page.getAttribute(path('title.en'), 'aria-describedby'), null);

  // The work is kept in the browser: a reload brings it back.
  await page.reload();
  await ready(page);
  assert.equal(await page.inputValue(path('title.en')), 'Plenary');
  assert.equal(await page.inputValue(path('agenda[0].title.fr')), 'Ouverture');
  assert.equal(await page.isVisible(tid('ed-notice')), true);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});

test(`agenda items are reordered by keyboard and by drag, removed and brought back (${storeName})`, async () => {
  const { context, page, errors } = await openEditor();
  await page.click(tid('ed-example'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="ed-item"]').length === 8);
  await page.click('#ed-toast-close');
  const start = titles(sou94);
  const order = async () => titles(await definition(page));
  const focusedItem = () => page.evaluate(() => Number(document.activeElement?.closest('li[data-uid]')?.dataset.index));

  // The ↑ button of the third item: it becomes the second, the focus goes with it.
  await page.locator(tid('ed-item')).nth(2).locator(tid('ed-up')).focus();
  await page.keyboard.press('Enter');
  assert.deepEqual(await order(), [start[0], start[2], start[1], ...start.slice(3)]);
  assert.equal(await focusedItem(), 1);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), 'ed-up');
  await page.waitForFunction(() => document.getElementById('ed-live').textContent === 'Item moved to position 2 of 8.');

  // Alt+↓ while typing in the first item's title: the item goes down, the caret stays in its title.
  await page.locator(path('agenda[0].title.fr')).focus();
  await page.keyboard.press('Alt+ArrowDown');
  assert.deepEqual(await order(), [start[2], start[0], start[1], ...start.slice(3)]);
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.path), 'agenda[1].title.fr');
  // ↑ on the handle of the second item.
  await page.locator(tid('ed-item')).nth(1).locator(tid('ed-handle')).focus();
  await page.keyboard.press('ArrowUp');
  assert.deepEqual(await order(), start.slice(0, 1).concat([start[2], start[1]], start.slice(3)));
  assert.equal(await focusedItem(), 0);

  // Drag the second item's handle above the first one's middle, then the first below the second's.
  const drag = async (from, to, where) => {
    const handle = page.locator(tid('ed-item')).nth(from).locator(tid('ed-handle'));
    const target = page.locator(tid('ed-item')).nth(to);
    await page.locator(tid('ed-item')).nth(Math.min(from, to)).evaluate((el) => {
      el.scrollIntoView({ block: 'start' });
      window.scrollBy(0, -70);
    });
    const hb = await handle.boundingBox();
    await page.mouse.move(hb.x + hb.width / 2, hb.y + hb.height / 2);
    await page.mouse.down();
    // The items fold to one line while dragging, the handle staying under the pointer.
    await page.waitForSelector('#ed-agenda.is-sorting');
    const still = await handle.boundingBox();
    assert.ok(Math.abs(still.y - hb.y) < 2, `the handle stays under the pointer (${hb.y} → ${still.y})`);
    const tb = await target.boundingBox();
    assert.ok(tb.height < 120, 'the items are folded');
    const y = tb.y + tb.height / 2 + (where === 'above' ? -8 : 8);
    await page.mouse.move(hb.x + hb.width / 2, y, { steps: 12 });
    await page.mouse.up();
  };
  await drag(1, 0, 'above');
  assert.deepEqual(await order(), [start[2], start[0], start[1], ...start.slice(3)]);
  assert.equal(await focusedItem(), 0, 'the dragged item keeps the focus');
  await drag(0, 1, 'below');
  assert.deepEqual(await order(), [start[0], start[2], start[1], ...start.slice(3)]);
  await page.waitForFunction(() => document.getElementById('ed-live').textContent === 'Item moved to position 2 of 8.');
  // The times follow the order: the 20-minute item now runs 14:40–15:00.
  assert.equal((await page.locator(tid('ed-item-time')).nth(1).textContent()).trim(), '14:40–15:00');

  // A touch drag on a phone works the same way.
  const phone = await room.browser.newContext({ ...PHONE_390, locale: 'en-GB' });
  const pp = await phone.newPage();
  await pp.goto(`${room.server.base}/new`);
  await ready(pp);
  await pp.click(tid('ed-add-item'));
  await pp.fill(path('agenda[0].title.en'), 'First');
  await pp.fill(path('agenda[1].title.en'), 'Second');
  await pp.locator(tid('ed-item')).nth(0).evaluate((el) => {
    el.scrollIntoView({ block: 'start' });
    window.scrollBy(0, -100);
  });
  const cdp = await phone.newCDPSession(pp);
  const hb = await pp.locator(tid('ed-item')).nth(1).locator(tid('ed-handle')).boundingBox();
  const point = (y) => [{ x: hb.x + hb.width / 2, y }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: point(hb.y + hb.height / 2) });
  await pp.waitForSelector('#ed-agenda.is-sorting');
  const tb = await pp.locator(tid('ed-item')).nth(0).boundingBox();
  for (let k = 1; k <= 8; k += 1) {
    const y = hb.y + hb.height / 2 - ((hb.y + hb.height / 2 - (tb.y + 8)) * k) / 8;
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: point(y) });
  }
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  await pp.waitForFunction(() => window.__editor.definition().agenda[0].title.en === 'Second');
  await phone.close();

  // Removed, then brought back by Undo at its place.
  const before = await order();
  await page.locator(tid('ed-item')).nth(3).locator(tid('ed-remove')).click();
  assert.equal(await page.locator(tid('ed-item')).count(), 7);
  await page.waitForSelector(`${tid('ed-toast')}:not([hidden])`);
  assert.match(await page.textContent(tid('ed-toast')), /removed from the agenda/);
  assert.equal(await focusedItem(), 3, 'the focus goes to the next item');
  await page.click(tid('ed-undo'));
  assert.deepEqual(await order(), before);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});

test(`import then export gives the file back; a moderator link is a template (${storeName})`, async () => {
  const { context, page, errors } = await openEditor();
  // The fixture as it is, and a definition with every form of value: strings and texts by
  // language side by side, missing fields, nulls (as the server gives a definition back), an
  // item's own speaking time, an end on the next day, a draft without a text, a start this page
  // cannot read.
  const mixed = {
    languages: ['fr', 'en'],
    title: 'Séance plénière',
    reference: null,
    venue: '',
    starts_at: '2024-03-01T22:00:00+00:00',
    ends_at: '2024-03-02T01:30:00Z',
    agenda: [
      { title: { fr: 'Ouverture' }, speakers: ['Le maire', { fr: 'La présidente', en: 'The chair' }], turn_seconds: 90 },
      { title: 'Débat', kind: 'debate', minutes: 60, speakers: [] },
      { kind: 'adoption', title: { en: 'Adoption', fr: 'Adoption' }, minutes: 30 },
    ],
    drafts: [{ title: 'Motion', kind: 'recommendation' }, { title: { fr: 'Vœu' }, text: { fr: 'Texte', en: '' } }],
    settings: { voting: 'roster' },
  };
  const unreadable = { title: 'T', starts_at: 'tomorrow afternoon', agenda: [{ title: 'A' }] };
  for (const [name, def] of [['sou94.json', sou94], ['mixed.json', mixed], ['unreadable.json', unreadable]]) {
    await importJson(page, def, name);
    assert.deepEqual(await exportJson(page), def, `${name} comes back as it was`);
  }
  assert.equal(await page.isVisible(tid('ed-raw-times')), true, 'a start the page cannot read is said to be kept');

  // What the officer touches changes, and only that.
  await importJson(page, mixed, 'mixed.json');
  assert.equal(await page.getAttribute(`${tid('ed-mode')}[data-for="title"]`, 'aria-pressed'), 'false');
  assert.equal(await page.inputValue(tid('ed-date')), '2024-03-01');
  assert.equal(await page.inputValue(tid('ed-start')), '22:00');
  await page.fill(tid('ed-venue'), 'Tanger');
  await page.click(`${tid('ed-mode')}[data-for="agenda[1].title"]`); // "Débat" becomes {fr: "Débat"}
  await page.fill(path('agenda[1].title.en'), 'Debate');
  const edited = await exportJson(page);
  assert.deepEqual(edited, { ...mixed, venue: 'Tanger', agenda: [mixed.agenda[0], { ...mixed.agenda[1], title: { fr: 'Débat', en: 'Debate' } }, mixed.agenda[2]] });
  // Texts by language made one string and back: nothing lost.
  await page.click(`${tid('ed-mode')}[data-for="agenda[1].title"]`);
  assert.equal((await definition(page)).agenda[1].title, 'Débat');
  await page.click(`${tid('ed-mode')}[data-for="agenda[1].title"]`);
  assert.deepEqual((await definition(page)).agenda[1].title, { fr: 'Débat', en: 'Debate' });

  // Fields a definition may not hold are left out, and said so.
  await importJson(page, { ...sou94, comment: 'draft 2' }, 'with-comment.json');
  assert.match(await page.textContent(tid('ed-toast')), /Left out .*comment/);
  assert.deepEqual(await exportJson(page), sou94);

  // "Use as template": a session's moderator link brings its definition as the server keeps it.
  const created = await createSession(room.server.base, { ...sou94, reference: 'TPL 1' });
  await page.fill(tid('ed-template-link'), created.links.moderator);
  await page.click(tid('ed-template-load'));
  await page.waitForFunction(() => document.querySelector('[data-testid="ed-reference"]').value === 'TPL 1');
  await settled(page);
  assert.deepEqual(await exportJson(page), await stored(room.server.base, created));
  // A wrong key is refused with a message.
  await page.fill(tid('ed-template-link'), created.links.moderator.replace(/key=.*/, 'key=nope'));
  await page.click(tid('ed-template-load'));
  await page.waitForFunction(() => document.querySelector('[data-testid="ed-notice"]')?.textContent.includes('was not accepted'));
  assert.deepEqual(unexpected(errors).filter((e) => !/status of 401/.test(e)), []);
  await context.close();
});

test(`the roster is previewed line by line, uploaded, and its cards printed (${storeName})`, async () => {
  const { context, page, errors } = await openEditor(PHONE_390);
  await screenshot(page, 'editor-phone-top');
  await page.click(tid('ed-example'));
  await page.waitForFunction(() => document.querySelectorAll('[data-testid="ed-item"]').length === 8);
  await page.locator(tid('ed-item')).nth(1).scrollIntoViewIfNeeded();
  await screenshot(page, 'editor-phone-agenda');
  await page.check(tid('ed-voting-roster'));
  await checkA11y(page, 'editor on a phone, SOU 94 loaded');
  await page.click(tid('btn-create'));
  await createdFromPage(page);
  await page.waitForSelector(`${tid('ed-roster')}:not([hidden])`);
  assert.match(await page.textContent('#ed-roster-intro'), /votes by roster/);

  // A bad CSV: each problem with its line.
  const bad = 'name,organisation,weight\nAminata Traoré,AMM,1\nBoubacar Keïta,ARM,lots\n,Commune de Gao,1\n';
  await page.fill(tid('roster-text'), bad);
  await page.waitForSelector(`${tid('roster-error')}[data-line="3"]`);
  assert.match(await page.textContent(`${tid('roster-error')}[data-line="3"]`), /^Line 3: the weight must be/);
  assert.match(await page.textContent(`${tid('roster-error')}[data-line="4"]`), /^Line 4: /);
  assert.equal(await page.getAttribute(tid('roster-text'), 'aria-invalid'), 'true');
  await page.locator(tid('roster-errors')).scrollIntoViewIfNeeded();
  await checkA11y(page, 'editor on a phone, roster with problems');
  await screenshot(page, 'editor-phone-roster-errors');

  // The fixture's CSV, chosen as a file: its rows, weights and total.
  await page.setInputFiles(tid('roster-file'), join(root, 'fixtures', 'sou94-roster.csv'));
  const preview = page.locator(tid('roster-preview'));
  await preview.waitFor();
  const lines = rosterCsv.trim().split('\n').slice(1).map((l) => l.split(','));
  const weight = lines.reduce((a, l) => a + Number(l[2] || 1), 0);
  assert.equal(await preview.getAttribute('data-entries'), String(lines.length));
  assert.equal(await preview.getAttribute('data-weight'), String(weight));
  assert.equal(await page.locator(tid('roster-row')).count(), Math.min(50, lines.length));
  assert.equal((await page.locator(tid('roster-row')).first().locator('td').nth(1).textContent()), lines[0][0]);
  assert.equal(await page.getAttribute(tid('roster-text'), 'aria-invalid'), 'false');
  await preview.scrollIntoViewIfNeeded();
  await checkA11y(page, 'editor on a phone, roster preview');
  await screenshot(page, 'editor-phone-roster');

  await page.click(tid('btn-roster-upload'));
  await page.waitForFunction(() => document.querySelector('[data-testid="roster-status"]')?.dataset.kind === 'ok');
  assert.match(await page.textContent(tid('roster-status')), new RegExp(`${lines.length} voters, total weight ${weight}`));
  const [cards] = await Promise.all([context.waitForEvent('page'), page.click(tid('btn-cards'))]);
  await cards.waitForLoadState();
  await cards.waitForFunction((name) => document.body?.textContent.includes(name), lines[0][0]);
  assert.deepEqual(unexpected(errors), []);
  await context.close();
});
