// The debate as the room lives it, in a real Chromium: questions asked and upvoted from
// phones, the projector following, and the list of speakers. The moderator's commands go
// through its page's client (`window.__palabre.send`), so these tests do not depend on the
// console's buttons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, checkA11y, sou94, storeName, PHONE, PROJECTOR, LAPTOP,
} from './harness.mjs';

const room = useServerAndBrowser();
const q = (id) => `${tid('questions-list')} ${tid('question')}[data-id="${id}"]`;

const open = (options, url) => openOnline(room.browser, options, url);


const visible = (page, sel) => page.waitForSelector(sel, { state: 'visible' });
const hidden = (page, sel) => page.waitForSelector(sel, { state: 'hidden' });
const attrIs = (page, sel, attr, value) => page.waitForFunction(
  ([s, a, v]) => document.querySelector(s)?.getAttribute(a) === v, [sel, attr, value],
);

/** A running session on its debate item (Q&A opens by itself). */
async function debate(definition = sou94) {
  const created = await createSession(room.server.base, definition);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  assert.equal((await send(moderator.page, 'agenda.next')).status, 'acked');
  const item = definition.agenda.findIndex((i) => i.kind === 'debate');
  assert.equal((await send(moderator.page, 'agenda.goto', { item })).status, 'acked');
  return { created, moderator };
}

test(`questions: asked on a phone, moderated, upvoted, highlighted on the screen, answered (${storeName})`, async () => {
  const { created, moderator } = await debate();
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const phone2 = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen);
  const p = phone.page;

  await visible(p, tid('ask-form'));
  await hidden(p, tid('qa-closed-note'));
  assert.equal(await p.$eval(tid('ask-name'), (e) => e.required), false, 'anonymous questions allowed');
  const xss = '<img src=x onerror=alert(1)> Is this shown as text?';
  await p.fill(tid('ask-text'), xss);
  assert.equal((await p.textContent(tid('ask-count'))).trim(), `${xss.length} / 500`);
  await p.click(tid('ask-submit'));
  await visible(p, `${tid('my-question')}[data-status="pending"]`);
  assert.equal(await p.inputValue(tid('ask-text')), '');
  assert.match(await p.textContent(tid('ask-status')), /moderator/i);

  await phone2.page.fill(tid('ask-text'), 'How will the transfer of resources to the communes be guaranteed in the budget?');
  await phone2.page.fill(tid('ask-name'), 'Awa Diop');
  await phone2.page.click(tid('ask-submit'));
  await visible(phone2.page, `${tid('my-question')}[data-status="pending"]`);

  // The moderator approves both; the phones and the screen see them.
  await moderator.page.waitForFunction(() => window.__palabre.state.questions.filter((x) => x.status === 'pending').length === 2);
  const pending = await moderator.page.evaluate(() => window.__palabre.state.questions.map((x) => ({ id: x.id, text: x.text })));
  const mine = pending.find((x) => x.text === xss).id;
  const theirs = pending.find((x) => x.text !== xss).id;
  for (const { id } of pending) assert.equal((await send(moderator.page, 'question.approve', { question: id })).status, 'acked');
  await visible(p, q(theirs));
  await attrIs(p, q(mine), 'data-mine', 'true');
  await attrIs(p, q(theirs), 'data-mine', 'false');
  await visible(p, `${tid('my-question')}[data-id="${mine}"][data-status="approved"]`);
  // Text, never HTML, on the phone and on the screen.
  assert.equal((await p.textContent(`${q(mine)} .q-text`)).trim(), xss);
  await visible(screen.page, `${tid('screen-question')}[data-id="${mine}"]`);
  for (const page of [p, screen.page]) assert.equal(await page.$$eval('main img:not([data-testid="qr"])', (l) => l.length), 0);

  // Typing something close to an approved question suggests upvoting it instead.
  await p.fill(tid('ask-text'), 'Transfer of resources to the communes: guaranteed?');
  await visible(p, `${tid('similar-list')} ${tid('similar-item')}[data-id="${theirs}"]`);
  await p.fill(tid('ask-text'), '');
  await hidden(p, tid('similar-list'));

  // One tap upvotes, the next takes it back; everyone sees the count.
  const up = `${q(theirs)} ${tid('upvote')}`;
  await attrIs(p, up, 'aria-pressed', 'false');
  await p.click(up);
  await attrIs(p, up, 'aria-pressed', 'true');
  await p.waitForFunction((s) => document.querySelector(s)?.textContent.trim() === '1', `${up} ${tid('upvote-count')}`);
  await phone2.page.waitForFunction((s) => document.querySelector(s)?.textContent.trim() === '1', `${q(theirs)} ${tid('upvote-count')}`);
  await attrIs(screen.page, `${tid('top-questions')} ${tid('screen-question')}:first-child`, 'data-id', theirs);
  await attrIs(screen.page, `${tid('screen-question')}[data-id="${theirs}"]`, 'data-upvotes', '1');
  await screenshot(p, 'participant-phone-questions');
  await screenshot(screen.page, 'screen-projector-questions');
  await checkA11y(p, 'participant with questions');
  await checkA11y(screen.page, 'screen with top questions');
  await p.click(up);
  await attrIs(p, up, 'aria-pressed', 'false');
  await attrIs(screen.page, `${tid('screen-question')}[data-id="${theirs}"]`, 'data-upvotes', '0');

  // Highlighted: very large on the screen, the top list gives way.
  assert.equal((await send(moderator.page, 'question.highlight', { question: mine })).status, 'acked');
  await attrIs(screen.page, tid('highlighted-question'), 'data-id', mine);
  await hidden(screen.page, tid('top-questions'));
  assert.equal((await screen.page.textContent('#hl-text')).trim(), xss);
  await screenshot(screen.page, 'screen-projector-highlighted');
  const small = await open({ ...PHONE, locale: 'fr-FR' }, created.links.screen);
  await visible(small.page, tid('highlighted-question'));
  await screenshot(small.page, 'screen-phone-highlighted');
  await checkA11y(small.page, 'screen at phone size, highlighted');

  // Answered: off the screen, into the phone's "answered" group.
  assert.equal((await send(moderator.page, 'question.answer', { question: mine })).status, 'acked');
  await hidden(screen.page, tid('highlighted-question'));
  await visible(screen.page, tid('top-questions'));
  await p.waitForSelector(`${tid('answered')} ${tid('question')}[data-id="${mine}"][data-status="answered"]`, { state: 'attached' });
  await visible(p, `${tid('my-question')}[data-id="${mine}"][data-status="answered"]`);

  // Q&A closed: the form goes, the note says why.
  assert.equal((await send(moderator.page, 'qa.close')).status, 'acked');
  await visible(p, tid('qa-closed-note'));
  await hidden(p, tid('ask-form'));

  for (const { page, errors, context } of [phone, phone2, screen, small, moderator]) {
    assert.deepEqual(errors, [], `no errors on ${page.url()}`);
    await context.close();
  }
});

test(`the list of speakers: a place in the queue, the floor with its time, a withdrawal (${storeName})`, async () => {
  const { created, moderator } = await debate();
  const phone = await open({ ...PHONE, locale: 'fr-FR' }, created.links.participant);
  const phone2 = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'fr-FR' }, created.links.screen);
  const p = phone.page;

  await visible(p, tid('floor-form'));
  await p.fill(tid('floor-name'), 'Moussa Traoré');
  await p.fill(tid('floor-org'), 'AMM');
  await p.click(tid('floor-request'));
  await attrIs(p, tid('floor-place'), 'data-position', '1');
  await visible(p, tid('floor-withdraw'));
  await hidden(p, tid('floor-form'));

  await phone2.page.fill(tid('floor-name'), 'Awa Diop');
  await phone2.page.click(tid('floor-request'));
  await attrIs(phone2.page, tid('floor-place'), 'data-position', '2');
  assert.match(await phone2.page.textContent(tid('floor-place')), /number 2/);
  await screen.page.waitForFunction((s) => document.querySelectorAll(s).length === 2, `${tid('floor-next')} li`);

  // The moderator gives the floor to the first: the phone says so, the screen shows the time.
  const first = await moderator.page.evaluate(() => window.__palabre.state.floor.queue[0].id);
  assert.equal((await send(moderator.page, 'floor.grant', { request: first })).status, 'acked');
  await attrIs(p, tid('floor-place'), 'data-state', 'speaking');
  await attrIs(phone2.page, tid('floor-place'), 'data-position', '1');
  await visible(screen.page, tid('floor-speaking'));
  assert.equal((await screen.page.textContent('#sp-name')).trim(), 'Moussa Traoré');
  await attrIs(screen.page, tid('floor-timer'), 'data-level', 'ok');
  await p.locator(tid('floor')).scrollIntoViewIfNeeded();
  await screenshot(p, 'participant-phone-floor');
  await screenshot(screen.page, 'screen-projector-floor');
  // Past the turn's limit (the page's clock pushed forward): red.
  await screen.page.evaluate(() => { window.__palabre.clockOffset += 181000; });
  await attrIs(screen.page, tid('floor-timer'), 'data-level', 'over');

  // The second withdraws; the first's turn ends.
  await phone2.page.click(tid('floor-withdraw'));
  await visible(phone2.page, tid('floor-form'));
  await screen.page.waitForFunction((s) => document.querySelectorAll(s).length === 0, `${tid('floor-next')} li`);
  assert.equal((await send(moderator.page, 'floor.end', { request: first })).status, 'acked');
  await hidden(screen.page, tid('floor-speaking'));
  await p.waitForFunction((s) => document.querySelector(s)?.textContent.includes('terminé'), tid('floor-status'));
  await visible(p, tid('floor-form'));

  for (const { page, errors, context } of [phone, phone2, screen, moderator]) {
    assert.deepEqual(errors, [], `no errors on ${page.url()}`);
    await context.close();
  }
});
