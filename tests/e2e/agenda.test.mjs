// The agenda changed while the session runs, in a real Chromium, through the console's own
// controls: the moderator inserts an item after the current one, moves others from the
// keyboard and by dragging (mouse on a laptop, a finger on a phone), fixes the title of an
// item already held, and every phone and the projector follow; a phone that was offline
// during a move catches up to the same agenda as a fresh page; held items stay put and the
// console says why; a participant may not change the agenda. Then a recommendation drafted
// from the debate (on the rapporteur page, and on the console) is put to the vote, voted on
// phones and adopted; and the console's roster preview points at the faulty line of a CSV.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, checkA11y, sou94, storeName, PHONE, PROJECTOR,
} from './harness.mjs';

const room = useServerAndBrowser();
const open = (options, url) => openOnline(room.browser, options, url);

const CONSOLE = { viewport: { width: 1366, height: 900 } };
const PHONE_390 = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const visible = (page, sel) => page.waitForSelector(sel, { state: 'visible' });
const hidden = (page, sel) => page.waitForSelector(sel, { state: 'hidden' });
const textOf = async (page, sel) => (await page.textContent(sel)).trim();
const textIs = (page, sel, text) => page.waitForFunction(
  ([s, x]) => document.querySelector(s)?.textContent.trim() === x, [sel, text],
);
const en = (v) => (typeof v === 'string' ? v : v.en);
const title = (id) => en(sou94.agenda[Number(id.slice(1)) - 1].title);

/** The agenda list as a page shows it: each row's item id and title. */
const agendaOf = (page) => page.$$eval(`${tid('agenda')} > ${tid('agenda-item')}`, (rows) => rows.map((r) => ({
  id: r.dataset.id, index: Number(r.dataset.index), title: r.querySelector('.ag-title').textContent.trim(),
})));
/** Resolves once the page lists the items in this order. */
const orderIs = (page, ids) => page.waitForFunction(
  ([sel, want]) => [...document.querySelectorAll(sel)].map((r) => r.dataset.id).join() === want.join(),
  [`${tid('agenda')} > ${tid('agenda-item')}`, ids],
);
const row = (id) => `${tid('agenda')} > ${tid('agenda-item')}[data-id="${id}"]`;

test(`the moderator changes the agenda live and every phone and the screen follow (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const moderator = await open({ ...CONSOLE, locale: 'en-GB' }, created.links.moderator);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const offline = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen);
  const m = moderator.page;

  // Started from the console: the first item runs everywhere.
  await m.click(`${tid('btn-next')}[data-mode="start"]`);
  for (const page of [m, phone.page, screen.page]) await textIs(page, tid('current-title'), title('a1'));
  await textIs(screen.page, tid('next-up'), `Next: ${title('a2')}`);
  await textIs(phone.page, tid('next-up'), `Next: ${title('a2')}`);
  const endBefore = Number(await m.getAttribute(tid('agenda-end'), 'data-end'));
  assert.ok(endBefore > 0, 'the console shows the planned end');
  assert.match(await textOf(m, tid('agenda-end')), /^Planned end .*(on time|before|after)/);

  // "Edit the agenda": a handle, ↑ ↓, Edit, Remove per item, "Insert an item here" between them.
  await m.click(tid('agenda-edit'));
  await visible(m, `${row('a2')} ${tid('ag-drag')}`);
  assert.equal(await m.getAttribute(tid('agenda-edit'), 'aria-pressed'), 'true');

  // An item inserted right after the current one, in both languages.
  await m.click(`${row('a1')} ${tid('ag-insert')}`);
  await visible(m, `${tid('ag-form')}[data-mode="insert"]`);
  assert.equal(await m.evaluate(() => document.activeElement?.dataset.testid), 'ag-form-title', 'the form takes the focus');
  await m.fill(`${tid('ag-form-title')}[data-lang="en"]`, 'Welcome from the host city');
  await m.fill(`${tid('ag-form-title')}[data-lang="fr"]`, 'Mot d’accueil de la ville hôte');
  await m.selectOption(tid('ag-form-kind'), 'presentation');
  await m.fill(tid('ag-form-minutes'), '5');
  await m.fill(`${tid('ag-form-speakers')}[data-lang="en"]`, 'Mayor of Tangier');
  await m.fill(`${tid('ag-form-speakers')}[data-lang="fr"]`, 'Maire de Tanger');
  await checkA11y(m, 'console, agenda edit mode with the insert form');
  await m.click(tid('ag-form-save'));
  await hidden(m, tid('ag-form'));
  // (The form closes on the ack; the event may come just after it.)
  await m.waitForFunction(() => window.__palabre.state.agenda.items.length === 9);
  const inserted = await m.evaluate(() => window.__palabre.state.agenda.items[1]);
  assert.match(inserted.id, /^i[0-9a-f]+$/);
  assert.deepEqual(inserted.title, { en: 'Welcome from the host city', fr: 'Mot d’accueil de la ville hôte' });
  assert.deepEqual(inserted.speakers, [{ en: 'Mayor of Tangier', fr: 'Maire de Tanger' }]);
  const ins = inserted.id;
  let order = ['a1', ins, 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'];
  for (const page of [m, phone.page, offline.page]) await orderIs(page, order);
  assert.equal(await m.evaluate(() => document.activeElement?.closest('[data-testid="agenda-item"]')?.dataset.id), ins, 'the new item takes the focus');
  await textIs(phone.page, `${row(ins)} .ag-title`, 'Welcome from the host city');
  await textIs(phone.page, `${row(ins)} .ag-speakers`, 'Mayor of Tangier');
  await textIs(phone.page, tid('next-up'), 'Next: Welcome from the host city');
  await textIs(screen.page, tid('next-up'), 'Next: Welcome from the host city');
  // Five more minutes: the planned end moves with it, on the console and on the phone.
  await m.waitForFunction(([sel, e]) => Number(document.querySelector(sel)?.dataset.end) === e, [tid('agenda-end'), endBefore + 5 * 60000]);
  await phone.page.waitForFunction(([sel, e]) => Number(document.querySelector(sel)?.dataset.end) === e, [tid('agenda-end'), endBefore + 5 * 60000]);
  assert.match(await textOf(m, tid('agenda-total')), /^Planned 3:05:00/);
  await screenshot(screen.page, 'agenda-screen-after-insert');

  // From the keyboard: Alt+↑ in an item moves it up one place, and the focus stays with it.
  await m.focus(`${row('a4')} ${tid('ag-edit')}`);
  await m.keyboard.press('Alt+ArrowUp');
  order = ['a1', ins, 'a2', 'a4', 'a3', 'a5', 'a6', 'a7', 'a8'];
  for (const page of [m, phone.page, offline.page]) await orderIs(page, order);
  assert.equal(await m.evaluate(() => document.activeElement?.closest('[data-testid="agenda-item"]')?.dataset.id), 'a4');
  // …and the ↓ button moves it back.
  await m.click(`${row('a4')} ${tid('ag-down')}`);
  order = ['a1', ins, 'a2', 'a3', 'a4', 'a5', 'a6', 'a7', 'a8'];
  await orderIs(phone.page, order);

  // By dragging its handle with the mouse: "Debates" goes up three places.
  await m.locator(row('a4')).scrollIntoViewIfNeeded();
  await m.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'center' }), row('a4'));
  const from = await m.locator(`${row('a7')} ${tid('ag-drag')}`).boundingBox();
  const target = await m.locator(row('a4')).boundingBox();
  await m.mouse.move(from.x + from.width / 2, from.y + from.height / 2);
  await m.mouse.down();
  await m.mouse.move(from.x + from.width / 2, target.y + 6, { steps: 12 });
  await m.waitForSelector(`${row('a4')}.drop-before`);
  await m.mouse.up();
  order = ['a1', ins, 'a2', 'a3', 'a7', 'a4', 'a5', 'a6', 'a8'];
  for (const page of [m, phone.page, offline.page]) await orderIs(page, order);
  assert.equal((await agendaOf(phone.page))[4].title, title('a7'));

  // A phone offline during a move ends up with the same agenda as a fresh page.
  await offline.context.setOffline(true);
  await offline.page.waitForFunction(() => window.__palabre.status !== 'online');
  await m.focus(`${row('a5')} ${tid('ag-drag')}`);
  await m.keyboard.press('ArrowDown');
  order = ['a1', ins, 'a2', 'a3', 'a7', 'a4', 'a6', 'a5', 'a8'];
  await orderIs(phone.page, order);
  await offline.context.setOffline(false);
  await orderIs(offline.page, order);
  const fresh = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  await orderIs(fresh.page, order);
  assert.deepEqual(await agendaOf(offline.page), await agendaOf(fresh.page));
  assert.deepEqual(
    await offline.page.evaluate(() => window.__palabre.state.agenda.items.map(({ id, title: x, minutes, held }) => ({ id, title: x, minutes, held }))),
    await fresh.page.evaluate(() => window.__palabre.state.agenda.items.map(({ id, title: x, minutes, held }) => ({ id, title: x, minutes, held }))),
  );

  // The item being held keeps its place: its controls are disabled and say why…
  const held = row('a1');
  for (const b of ['ag-remove', 'ag-up', 'ag-down', 'ag-drag']) assert.equal(await m.isDisabled(`${held} ${tid(b)}`), true, `${b} of a held item`);
  assert.equal(await textOf(m, `${held} ${tid('ag-held-note')}`), 'Already held: it stays in place and cannot be removed.');
  assert.equal(await m.getAttribute(`${held} ${tid('ag-remove')}`, 'aria-describedby'), 'ag-held-a1');
  // …Alt+↓ on it is refused in place, with the reason…
  await m.focus(`${held} ${tid('ag-edit')}`);
  await m.keyboard.press('Alt+ArrowDown');
  await textIs(m, `${held} ${tid('ag-error')}`, 'This item has been held: it cannot be moved or removed.');
  // …and so is a removal that reaches the server (sent as another console might): the server's reason, next to the item.
  const refused = await send(m, 'agenda.remove', { item: 'a1' });
  assert.equal(refused.status, 'refused');
  assert.equal(refused.error.code, 'conflict');
  await m.waitForFunction((sel) => /it cannot be removed/.test(document.querySelector(sel)?.textContent || ''), `${held} ${tid('ag-error')}`);
  await orderIs(phone.page, order);

  // A held item's title may still be put right: everyone sees it at once.
  await m.click(`${held} ${tid('ag-edit')}`);
  await visible(m, `${tid('ag-form')}[data-mode="update"]`);
  assert.equal(await m.inputValue(`${tid('ag-form-title')}[data-lang="en"]`), title('a1'));
  await m.fill(`${tid('ag-form-title')}[data-lang="en"]`, 'Introduction and welcome');
  await m.click(tid('ag-form-save'));
  await hidden(m, tid('ag-form'));
  for (const page of [m, phone.page, screen.page]) await textIs(page, tid('current-title'), 'Introduction and welcome');
  assert.deepEqual(await m.evaluate(() => window.__palabre.state.agenda.items[0].title), { en: 'Introduction and welcome', fr: 'Introduction' });

  // Removing an item not yet held, after the confirmation.
  await m.click(`${row('a6')} ${tid('ag-remove')}`);
  await visible(m, `${row('a6')} ${tid('ag-remove-confirm')}`);
  assert.equal(await m.evaluate(() => document.activeElement?.dataset.testid), 'ag-remove-no', 'the safe button takes the focus');
  await m.click(`${row('a6')} ${tid('ag-remove-yes')}`);
  order = ['a1', ins, 'a2', 'a3', 'a7', 'a4', 'a5', 'a8'];
  for (const page of [m, phone.page, offline.page, fresh.page]) await orderIs(page, order);

  // A participant may not change the agenda.
  const denied = await send(phone.page, 'agenda.insert', { at: 0, item: { title: 'Mine', kind: 'other', minutes: 1 } });
  assert.equal(denied.status, 'refused');
  assert.equal(denied.error.code, 'forbidden');

  // The next item is the one inserted: the room moves on to it.
  await m.click(tid('btn-next'));
  for (const page of [m, phone.page, screen.page]) await textIs(page, tid('current-title'), 'Welcome from the host city');
  await textIs(screen.page, tid('next-up'), `Next: ${title('a2')}`);
  await m.waitForSelector(`${row(ins)} ${tid('ag-remove')}[disabled]`);

  await m.evaluate(() => document.getElementById('agenda-panel').scrollIntoView({ block: 'start' }));
  await m.evaluate(() => scrollBy(0, -64));
  await screenshot(m, 'agenda-console-edit-laptop');

  // On a phone-sized console, the same mode; a finger drags an item down one place.
  const small = await open({ ...PHONE_390, locale: 'en-GB' }, created.links.moderator);
  const s = small.page;
  await s.click(tid('agenda-edit'));
  await visible(s, `${row('a4')} ${tid('ag-drag')}`);
  await s.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'center' }), row('a4'));
  const grip = await s.locator(`${row('a4')} ${tid('ag-drag')}`).boundingBox();
  const below = await s.locator(row('a5')).boundingBox();
  const cdp = await small.context.newCDPSession(s);
  const at = (x, y) => [{ x: Math.round(x), y: Math.round(y) }];
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchStart', touchPoints: at(grip.x + grip.width / 2, grip.y + grip.height / 2) });
  for (let k = 1; k <= 8; k += 1) {
    const y = grip.y + grip.height / 2 + ((below.y + below.height - 8 - grip.y - grip.height / 2) * k) / 8;
    await cdp.send('Input.dispatchTouchEvent', { type: 'touchMove', touchPoints: at(grip.x + grip.width / 2, y) });
  }
  await s.waitForSelector(`${row('a5')}.drop-before, ${row('a8')}.drop-before`);
  await cdp.send('Input.dispatchTouchEvent', { type: 'touchEnd', touchPoints: [] });
  order = ['a1', ins, 'a2', 'a3', 'a7', 'a5', 'a4', 'a8'];
  for (const page of [s, m, phone.page]) await orderIs(page, order);
  await s.click(`${row('a5')} ${tid('ag-edit')}`);
  await visible(s, `${tid('ag-form')}[data-mode="update"]`);
  await s.evaluate((sel) => document.querySelector(sel).scrollIntoView({ block: 'start' }), row('a3'));
  await screenshot(s, 'agenda-console-edit-phone');
  await checkA11y(s, 'console on a phone, agenda edit mode');
  await s.click(tid('ag-form-cancel'));
  await hidden(s, tid('ag-form'));

  for (const { page, errors, context } of [moderator, phone, offline, fresh, screen, small]) {
    assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED|net::ERR/.test(e)), [], `no errors on ${page.url()}`);
    await context.close();
  }
});

test(`a recommendation drafted from the debate is put to the vote, voted on phones and adopted (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const moderator = await open({ ...CONSOLE, locale: 'en-GB' }, created.links.moderator);
  const rapporteur = await open({ ...CONSOLE, locale: 'en-GB' }, created.links.rapporteur);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const phone2 = await open({ ...PHONE, locale: 'fr-FR' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen);
  const m = moderator.page;
  const r = rapporteur.page;
  await m.click(tid('btn-next'));
  await textIs(phone.page, tid('current-title'), title('a1'));
  await m.click(`${tid('btn-goto')}[data-id="a7"]`);
  await textIs(screen.page, tid('current-title'), title('a7'));

  // The rapporteur writes it down as the debate concludes.
  await r.click(tid('draft-new'));
  await r.check(`${tid('new-kind')}[value="recommendation"]`);
  await r.fill(`${tid('new-title')}[data-lang="en"]`, 'Peace education in schools');
  await r.fill(`${tid('new-title')}[data-lang="fr"]`, 'Éducation à la paix à l’école');
  await r.fill(`${tid('new-text')}[data-lang="en"]`, 'Local authorities should support peace education programmes in the schools they run.');
  await r.fill(`${tid('new-text')}[data-lang="fr"]`, 'Les collectivités devraient soutenir les programmes d’éducation à la paix dans les écoles qu’elles gèrent.');
  await r.click(tid('new-submit'));
  await r.waitForFunction(() => window.__palabre.state.drafts.length === 6);
  const draft = await r.evaluate(() => window.__palabre.state.drafts.at(-1));
  assert.equal(draft.kind, 'recommendation');

  // The moderator puts it to the vote from its row on the console.
  const draftRow = `${tid('draft-row')}[data-id="${draft.id}"]`;
  await visible(m, draftRow);
  await m.click(`${draftRow} ${tid('btn-open-poll')}`);
  await m.click(`${draftRow} ${tid('btn-poll-start')}`);
  const openPoll = async (d) => (await m.waitForFunction((x) => window.__palabre.state.polls.find((p) => p.draft === x && p.status === 'open')?.id, d)).jsonValue();
  const pollId = await openPoll(draft.id);
  const card = `${tid('vote-card')}[data-poll="${pollId}"]`;
  for (const p of [phone.page, phone2.page]) await visible(p, card);
  assert.equal(await textOf(phone.page, `${card} ${tid('vote-draft-title')}`), 'Peace education in schools');
  assert.equal(await textOf(phone2.page, `${card} ${tid('vote-draft-title')}`), 'Éducation à la paix à l’école');
  await textIs(screen.page, tid('screen-vote-title'), 'Peace education in schools');
  await phone.page.click(`${card} ${tid('vote-for')}`);
  await phone2.page.click(`${card} ${tid('vote-for')}`);
  await m.waitForSelector(`${tid('poll-live')}[data-poll="${pollId}"] ${tid('mod-tally-bar')}[data-choice="for"][data-count="2"]`);
  await m.click(`${tid('poll-live')}[data-poll="${pollId}"] ${tid('btn-poll-close')}`);
  await m.click(`${tid('poll-live')}[data-poll="${pollId}"] ${tid('btn-close-confirm')}`);
  for (const p of [phone.page, phone2.page]) await p.waitForSelector(`${card} ${tid('vote-result')}[data-outcome="adopted"]`);
  await screen.page.waitForSelector(`${tid('screen-outcome')}[data-outcome="adopted"]`);
  await m.waitForSelector(`${draftRow}[data-status="adopted"]`);

  // The moderator drafts one on the console, and puts it to the vote at once.
  await m.click(`${tid('panel-polls')} ${tid('draft-new')}`);
  await visible(m, `${tid('panel-polls')} ${tid('draft-form')}`);
  await m.check(`${tid('panel-polls')} ${tid('new-kind')}[value="recommendation"]`);
  await m.fill(`${tid('panel-polls')} ${tid('new-title')}[data-lang="en"]`, 'A yearly forum of local elected officials');
  await m.fill(`${tid('panel-polls')} ${tid('new-text')}[data-lang="en"]`, 'The associations of local authorities should hold a forum on peace and reconciliation every year.');
  await m.click(`${tid('panel-polls')} ${tid('new-submit')}`);
  await visible(m, tid('draft-created'));
  const made = await m.getAttribute(tid('draft-created'), 'data-draft');
  assert.ok(made);
  await m.waitForSelector(`${tid('btn-vote-now')}[aria-busy="false"]`);
  assert.equal(await m.evaluate(() => document.activeElement?.dataset.testid), 'btn-vote-now', '"Put to the vote now" takes the focus');
  await checkA11y(m, 'console, a new draft ready to be put to the vote');
  await m.click(tid('btn-vote-now'));
  await hidden(m, tid('draft-created'));
  const second = await openPoll(made);
  const card2 = `${tid('vote-card')}[data-poll="${second}"]`;
  for (const p of [phone.page, phone2.page]) await visible(p, card2);
  // Written in English only: the French phone shows it in English, marked.
  await phone2.page.waitForSelector(`${card2} ${tid('vote-draft-title')} .lang-fallback[lang="en"]`);
  await textIs(screen.page, tid('screen-vote-title'), 'A yearly forum of local elected officials');
  await phone.page.click(`${card2} ${tid('vote-for')}`);
  await phone2.page.click(`${card2} ${tid('vote-abstain')}`);
  await m.waitForFunction((p) => window.__palabre.state.polls.find((x) => x.id === p)?.cast === 2, second);
  await m.click(`${tid('poll-live')}[data-poll="${second}"] ${tid('btn-poll-close')}`);
  await m.click(`${tid('poll-live')}[data-poll="${second}"] ${tid('btn-close-confirm')}`);
  await phone.page.waitForSelector(`${card2} ${tid('vote-result')}[data-outcome="adopted"]`);
  await screen.page.waitForSelector(`${tid('screen-vote')}[data-poll="${second}"] ${tid('screen-outcome')}[data-outcome="adopted"]`);
  await m.waitForSelector(`${tid('draft-row')}[data-id="${made}"][data-status="adopted"]`);
  await screenshot(screen.page, 'agenda-screen-console-draft-adopted');

  for (const { page, errors, context } of [moderator, rapporteur, phone, phone2, screen]) {
    assert.deepEqual(errors, [], `no errors on ${page.url()}`);
    await context.close();
  }
});

test(`the console previews a roster, points at a faulty line, then loads it (${storeName})`, async () => {
  const created = await createSession(room.server.base, { ...sou94, settings: { ...sou94.settings, voting: 'roster' } });
  const moderator = await open({ ...CONSOLE, locale: 'en-GB' }, created.links.moderator);
  const m = moderator.page;
  await visible(m, tid('roster-panel'));
  await m.fill(tid('roster-text'), 'name,organisation,weight\nAwa Diop,AMM,2\nMoussa Keita,ARM,heavy\n,AMM,1\n');
  await m.click(tid('btn-roster-check'));
  await visible(m, tid('roster-error'));
  const problems = await m.$$eval(`${tid('roster-error')} li`, (l) => l.map((x) => x.textContent.trim()));
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^Line 3: the weight must be a whole number/);
  assert.match(problems[1], /^Line 4: the name is empty/);
  assert.equal(await m.isVisible(tid('roster-preview')), false);

  await m.fill(tid('roster-text'), 'name,organisation,weight\nAwa Diop,AMM,2\nMoussa Keita,ARM,3\nFatou Sow,,\n');
  await m.click(tid('btn-roster-check'));
  await visible(m, tid('roster-preview'));
  await hidden(m, tid('roster-error'));
  assert.equal(await m.locator(tid('roster-preview-row')).count(), 3);
  assert.equal(await textOf(m, tid('roster-preview-total')), '3 voters · total weight 6');
  await m.click(tid('btn-roster-upload'));
  await m.waitForSelector(`${tid('roster-summary')}[data-entries="3"]`);
  assert.equal(await m.isDisabled(tid('btn-cards')), false);
  await (await m.$(tid('roster-panel'))).scrollIntoViewIfNeeded();
  await checkA11y(m, 'console, roster loaded');
  // (The refused check is a 400 the browser reports in the console: that one is expected.)
  assert.deepEqual(moderator.errors.filter((e) => !/status of 400/.test(e)), []);
  await moderator.context.close();
});
