// The pages in a real Chromium, as the people in the room use them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, createSession, useServerAndBrowser, tid, screenshot, watchErrors, checkA11y, checkA11yAll, sou94, storeName,
  PHONE, PROJECTOR, LAPTOP,
} from './harness.mjs';
import { loc } from '../../web/client.js';

// Every state a test brings a page into is also checked with axe-core (WCAG 2.2 A/AA):
// a serious or critical violation fails the test (see checkA11y in harness.mjs).

const room = useServerAndBrowser();

/** Waits until the element's trimmed text is exactly `text`. */
async function textIs(page, testid, text) {
  await page.waitForFunction(
    ([sel, want]) => document.querySelector(sel)?.textContent.trim() === want,
    [tid(testid), text],
  );
}

async function attrIs(page, testid, attr, value) {
  await page.waitForFunction(
    ([sel, a, v]) => document.querySelector(sel)?.getAttribute(a) === v,
    [tid(testid), attr, value],
  );
}

async function open(options, url) {
  const context = await room.browser.newContext(options);
  const page = await context.newPage();
  const errors = watchErrors(page);
  await page.goto(url);
  return { context, page, errors };
}

const online = (page) => attrIs(page, 'conn-state', 'data-state', 'online');
/** The SOU 94 agenda as an English page shows it (its titles may be given by language). */
const en = (v) => loc(v, 'en');
const items = sou94.agenda.map((item) => ({ ...item, title: en(item.title), speakers: (item.speakers || []).map(en) }));

test(`the moderator moves the room and the phone and the screen follow (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  await Promise.all([online(phone.page), online(screen.page), online(moderator.page)]);
  await attrIs(phone.page, 'phase', 'data-phase', 'pending');
  await textIs(screen.page, 'join-code', created.code);
  await checkA11yAll([
    [phone.page, 'participant, pending'], [screen.page, 'screen, pending'], [moderator.page, 'moderator, pending'],
  ]);

  await moderator.page.click(tid('btn-next'));
  for (const { page } of [phone, screen, moderator]) {
    await attrIs(page, 'phase', 'data-phase', 'running');
    await textIs(page, 'current-title', items[0].title);
  }
  await textIs(phone.page, 'current-speakers', items[0].speakers.join(' · '));

  await moderator.page.click(tid('btn-next'));
  await textIs(phone.page, 'current-title', items[1].title);
  await textIs(screen.page, 'current-title', items[1].title);

  await moderator.page.click(`${tid('btn-goto')}[data-index="6"]`);
  await textIs(phone.page, 'current-title', items[6].title);
  await textIs(screen.page, 'current-title', items[6].title);
  await attrIs(moderator.page, 'qa-state', 'data-open', 'true');
  await attrIs(phone.page, 'agenda-item"][data-index="6', 'data-status', 'current');

  await moderator.page.click(tid('btn-prev'));
  await textIs(phone.page, 'current-title', items[5].title);

  // The moderator sees the room: the phone and the screen are connected.
  await moderator.page.waitForFunction((sel) => Number(document.querySelector(sel)?.textContent) >= 1, tid('connected-count'));
  await checkA11yAll([
    [phone.page, 'participant, running'], [screen.page, 'screen, running'], [moderator.page, 'moderator, running'],
  ]);

  await screenshot(phone.page, 'participant-phone-running');
  await screenshot(screen.page, 'screen-projector-running');
  await screenshot(moderator.page, 'moderator-laptop-running');

  for (const { page, errors, context } of [phone, screen, moderator]) {
    assert.deepEqual(errors, [], `no errors on ${page.url()}`);
    await context.close();
  }
});

test(`a phone that drops off the network keeps its identity and catches up (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  await Promise.all([online(phone.page), online(moderator.page)]);
  const key = `palabre.participant.${created.code}`;
  const token = await phone.page.evaluate((k) => localStorage.getItem(k), key);
  assert.ok(token && token.length >= 32, 'the phone keeps a participant token');

  await phone.context.setOffline(true);
  await phone.page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state !== 'online', tid('conn-state'));
  await moderator.page.click(tid('btn-next'));
  await textIs(moderator.page, 'current-title', items[0].title);
  await moderator.page.click(tid('btn-next'));
  await textIs(moderator.page, 'current-title', items[1].title);
  await screenshot(phone.page, 'participant-phone-offline');
  await checkA11y(phone.page, 'participant, offline');

  await phone.context.setOffline(false);
  await online(phone.page);
  await textIs(phone.page, 'current-title', items[1].title);
  assert.equal(await phone.page.evaluate((k) => localStorage.getItem(k), key), token);

  // A reload is the same person too.
  await phone.page.reload();
  await online(phone.page);
  await textIs(phone.page, 'current-title', items[1].title);
  // The server would have handed out (and the page stored) a new token for a stranger.
  assert.equal(await phone.page.evaluate((k) => localStorage.getItem(k), key), token);
  await phone.context.close();
  await moderator.context.close();
});

test(`a command made while the moderator is offline is sent on reconnect and applied once (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  await Promise.all([online(phone.page), online(moderator.page)]);
  await moderator.page.click(tid('btn-next'));
  await textIs(phone.page, 'current-title', items[0].title);

  await moderator.context.setOffline(true);
  await moderator.page.waitForFunction((sel) => document.querySelector(sel)?.dataset.state !== 'online', tid('conn-state'));
  await moderator.page.click(tid('btn-next'));
  await moderator.page.waitForSelector(`${tid('cmd-entry')}[data-op="agenda.next"][data-status="queued"]`);
  await checkA11y(moderator.page, 'moderator, offline with a queued command');
  await moderator.context.setOffline(false);
  await online(moderator.page);
  await textIs(phone.page, 'current-title', items[1].title);
  await moderator.page.waitForFunction(
    (sel) => [...document.querySelectorAll(sel)].every((e) => e.dataset.status === 'acked'),
    `${tid('cmd-entry')}[data-op="agenda.next"]`,
  );
  // Applied once: the room is on item 1, not 2, and the seq says so.
  const res = await fetch(`${room.server.base}/api/sessions/${created.id}`, { headers: { authorization: `Bearer ${created.moderator_key}` } });
  const state = await res.json();
  assert.equal(state.agenda.current, 1);
  assert.equal(state.seq, 3);
  await moderator.context.close();
  await phone.context.close();
});

test(`a French phone gets French, and the switch changes it (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const phone = await open({ ...PHONE, locale: 'fr-FR' }, created.links.participant);
  await online(phone.page);
  // The language is set once its dictionary has loaded: wait for it rather than read it at once.
  await phone.page.waitForFunction(() => document.documentElement.lang === 'fr');
  await textIs(phone.page, 'phase', 'Pas encore commencée');
  await attrIs(phone.page, 'conn-state', 'data-state', 'online');
  await screenshot(phone.page, 'participant-phone-fr');
  await checkA11y(phone.page, 'participant, pending, in French');
  await phone.page.click(tid('lang-en'));
  await phone.page.waitForFunction(() => document.documentElement.lang === 'en');
  await textIs(phone.page, 'phase', 'Not started');
  await checkA11y(phone.page, 'participant, pending, switched to English');
  // The choice is remembered.
  await phone.page.reload();
  await online(phone.page);
  await phone.page.waitForFunction(() => document.documentElement.lang === 'en');
  assert.deepEqual(phone.errors, []);
  await phone.context.close();
});

test(`the landing page creates a session from the SOU 94 example and joins it by code (${storeName})`, async () => {
  const landing = await open({ ...LAPTOP, locale: 'en-GB' }, `${room.server.base}/`);
  await checkA11y(landing.page, 'landing');
  await landing.page.click('summary');
  await landing.page.click(tid('btn-example'));
  await landing.page.waitForFunction((sel) => document.querySelector(sel)?.value.includes('SOU 94'), tid('definition'));
  await checkA11y(landing.page, 'landing, create form open with the example');
  await landing.page.click(tid('btn-create'));
  await landing.page.waitForSelector(`${tid('created')}:not([hidden])`);
  const code = (await landing.page.textContent(tid('created-code'))).trim();
  assert.match(code, /^[A-Z2-9]{6}$/);
  await landing.page.waitForFunction((sel) => document.querySelector(sel)?.naturalWidth > 0, tid('created-qr'));
  await screenshot(landing.page, 'landing-laptop-created');
  await checkA11y(landing.page, 'landing, session created');

  const phone = await open({ ...PHONE, locale: 'en-GB' }, `${room.server.base}/`);
  await checkA11y(phone.page, 'landing');
  await phone.page.fill(tid('join-code-input'), code.toLowerCase());
  await phone.page.click(tid('btn-join'));
  await phone.page.waitForURL(`**/j/${code}`);
  await online(phone.page);
  await textIs(phone.page, 'session-title', en(sou94.title));
  await landing.context.close();
  await phone.context.close();
});

test(`an unknown code and a wrong key are told plainly, without retrying (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const phone = await open({ ...PHONE, locale: 'en-GB' }, `${room.server.base}/j/ZZZZZZ`);
  await attrIs(phone.page, 'conn-state', 'data-state', 'gone');
  await phone.page.waitForSelector(`${tid('fatal')}:not([hidden])`);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, `${room.server.base}/m/${created.id}#key=${'0'.repeat(40)}`);
  await attrIs(moderator.page, 'conn-state', 'data-state', 'denied');
  await checkA11yAll([[phone.page, 'participant, unknown code'], [moderator.page, 'moderator, wrong key']]);
  await phone.context.close();
  await moderator.context.close();
});

test(`every page at phone and projector sizes, pending, running and ended, for a person and for axe (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const driver = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  await online(driver.page);
  const pages = {
    landing: `${room.server.base}/`,
    participant: created.links.participant,
    moderator: created.links.moderator,
    screen: created.links.screen,
    rapporteur: created.links.rapporteur,
  };
  // Each page at each size, opened once and all at once; the room pages then follow the room.
  const opened = await Promise.all(
    [['phone', PHONE], ['projector', PROJECTOR]].flatMap(([size, options]) => Object.entries(pages).map(async ([name, url]) => {
      const p = await open({ ...options, locale: 'en-GB' }, url);
      if (name !== 'landing') await online(p.page);
      return { ...p, name, size };
    })),
  );
  const inRoom = opened.filter((p) => p.name !== 'landing');
  /** Screenshots of and axe on every page in `list`, once each shows `phase`; no page has logged an error. */
  const look = async (list, phase, suffix, ready = () => null) => {
    await Promise.all(list.filter((p) => p.name !== 'landing').map((p) => attrIs(p.page, 'phase', 'data-phase', phase).then(() => ready(p))));
    for (const p of list) await screenshot(p.page, `${p.name}-${p.size}${p.name === 'landing' ? '' : suffix}`);
    await checkA11yAll(list.map((p) => [p.page, p.name === 'landing' ? 'landing' : `${p.name}, ${phase}`]));
    for (const p of list) assert.deepEqual(p.errors, [], `no errors on ${p.name} at ${p.size} size, ${phase}`);
  };
  await look(opened, 'pending', '-pending');

  await driver.page.click(tid('btn-next'));
  await textIs(driver.page, 'current-title', items[0].title);
  await driver.page.click(`${tid('btn-goto')}[data-index="1"]`);
  await textIs(driver.page, 'current-title', items[1].title);
  await look(inRoom, 'running', '', (p) => textIs(p.page, 'current-title', items[1].title));

  // Ending asks first; the question is a state of its own.
  await driver.page.click(tid('btn-end'));
  await driver.page.waitForSelector(`${tid('end-confirm')}:not([hidden])`);
  await checkA11y(driver.page, 'moderator, asked to confirm the end');
  await driver.page.click(tid('btn-end-confirm'));
  await look([...inRoom, { ...driver, name: 'moderator', size: 'laptop' }], 'ended', '-ended');
  await Promise.all(opened.map((p) => p.context.close()));
  await driver.context.close();
});

test(`with an admin token, the landing page creates only for whoever gives it (${storeName})`, async () => {
  const guarded = await startServer({ PALABRE_ADMIN_TOKEN: 'room-42-admin' });
  try {
    const landing = await open({ ...LAPTOP, locale: 'en-GB' }, `${guarded.base}/`);
    await landing.page.click('summary');
    await landing.page.click(tid('btn-example'));
    await landing.page.waitForFunction((sel) => document.querySelector(sel)?.value.includes('SOU 94'), tid('definition'));
    await landing.page.click(tid('btn-create'));
    await landing.page.waitForSelector(`${tid('create-error')}:not([hidden])`);
    assert.match(await landing.page.textContent(tid('create-error')), /admin/i);
    await checkA11y(landing.page, 'landing, admin token refused');
    await landing.page.fill(tid('admin-token'), 'room-42-admin');
    await landing.page.click(tid('btn-create'));
    await landing.page.waitForSelector(`${tid('created')}:not([hidden])`);
    assert.match((await landing.page.textContent(tid('created-code'))).trim(), /^[A-Z2-9]{6}$/);
    // The token is not written anywhere a later visitor of this browser would find it.
    const stored = await landing.page.evaluate(() => JSON.stringify({ ...localStorage }) + document.cookie);
    assert.ok(!stored.includes('room-42-admin'), 'the admin token is not kept in the browser');
    await landing.context.close();
  } finally {
    await guarded.stop();
  }
});
