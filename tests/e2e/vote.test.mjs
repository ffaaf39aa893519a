// Votes as the room lives them, in a real Chromium: the moderator opens a poll (through its
// page's client, `window.__palabre.send`), phones vote, one of them changes its vote while
// offline, the projector shows the live tally and then the outcome, and each phone finds its
// receipt among the published ballots. In roster mode, a personal voting code claimed from
// the link on one phone moves to another phone when it is entered there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, checkA11y, sou94, storeName, PHONE, PROJECTOR, LAPTOP,
} from './harness.mjs';

const room = useServerAndBrowser();

const open = (options, url) => openOnline(room.browser, options, url);


const visible = (page, sel) => page.waitForSelector(sel, { state: 'visible' });
const hidden = (page, sel) => page.waitForSelector(sel, { state: 'hidden' });
const attrIs = (page, sel, attr, value) => page.waitForFunction(
  ([s, a, v]) => document.querySelector(s)?.getAttribute(a) === v, [sel, attr, value],
);
const textOf = async (page, sel) => (await page.textContent(sel)).trim();
const RECEIPT = /^[A-Z0-9]{2}-[A-Z0-9]{4}$/;
/** The bars move in .5 s: a screenshot waits for them. */
const settle = (page) => page.waitForTimeout(700);

/** A running session on its adoption item. */
async function adoption(definition = sou94) {
  const created = await createSession(room.server.base, definition);
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  assert.equal((await send(moderator.page, 'agenda.next')).status, 'acked');
  const item = definition.agenda.findIndex((i) => i.kind === 'adoption');
  if (item > 0) assert.equal((await send(moderator.page, 'agenda.goto', { item })).status, 'acked');
  return { created, moderator };
}

test(`a vote: ballots from phones, a change made offline, the live tally, the outcome, the receipts (${storeName})`, async () => {
  const { created, moderator } = await adoption();
  const phone = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const phone2 = await open({ ...PHONE, locale: 'fr-FR' }, created.links.participant);
  const phone3 = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const screen = await open({ ...PROJECTOR, locale: 'en-GB' }, created.links.screen);
  const p = phone.page;

  const opened = await send(moderator.page, 'poll.open', { draft: 'd1', method: 'simple', quorum: 2, secret: true });
  assert.equal(opened.status, 'acked', JSON.stringify(opened.error));
  const poll = opened.result.poll;
  assert.ok(poll, 'the ack names the poll');
  const card = `${tid('vote-card')}[data-poll="${poll}"]`;

  // The phone shows the text put to the vote, the secret-ballot note and three big buttons.
  await attrIs(p, card, 'data-status', 'open');
  const draft = await p.evaluate(() => window.__palabre.state.drafts.find((d) => d.id === 'd1'));
  assert.equal(await textOf(p, `${card} ${tid('vote-draft-title')}`), draft.title.en);
  assert.equal(await textOf(p, `${card} ${tid('vote-draft-text')}`), draft.text.en.trim());
  await visible(p, `${card} ${tid('vote-secret-note')}`);
  for (const c of ['for', 'against', 'abstain']) {
    const box = await p.locator(`${card} ${tid(`vote-${c}`)}`).boundingBox();
    assert.ok(box.height >= 56 && box.width >= 300, `vote-${c} is a big target (${box.width}×${box.height})`);
    await attrIs(p, `${card} ${tid(`vote-${c}`)}`, 'aria-pressed', 'false');
  }
  assert.match(await textOf(p, `${card} ${tid('vote-choice')}`), /not voted/);

  // One tap votes For: pressed, and the receipt comes back.
  await p.click(`${card} ${tid('vote-for')}`);
  await attrIs(p, `${card} ${tid('vote-for')}`, 'aria-pressed', 'true');
  await visible(p, `${card} ${tid('vote-receipt')}`);
  await hidden(p, `${card} ${tid('vote-pending')}`);
  const receipt = await p.evaluate((id) => window.__palabre.state.ballots[id].receipt, poll);
  assert.match(receipt, RECEIPT);
  assert.equal(await textOf(p, `${card} ${tid('vote-receipt')}`), `receipt\u00a0${receipt}`);
  assert.equal(await textOf(p, `${card} ${tid('vote-choice')}`), 'Your vote: For');
  await p.locator(card).evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await screenshot(p, 'vote-phone-ballot');
  await checkA11y(p, 'participant with an open poll, voted');

  // The others vote: For from a French phone, Abstain then For from the third.
  await phone2.page.click(`${card} ${tid('vote-for')}`);
  await visible(phone2.page, `${card} ${tid('vote-receipt')}`);
  assert.match(await textOf(phone2.page, `${card} ${tid('vote-choice')}`), /^Votre vote\u00a0: Pour$/);
  await phone3.page.click(`${card} ${tid('vote-abstain')}`);
  await visible(phone3.page, `${card} ${tid('vote-receipt')}`);
  await phone3.page.click(`${card} ${tid('vote-for')}`);
  await attrIs(phone3.page, `${card} ${tid('vote-for')}`, 'aria-pressed', 'true');
  await hidden(phone3.page, `${card} ${tid('vote-pending')}`);

  // Offline, the phone changes its mind: shown pending, sent and acknowledged once back online.
  await phone.context.setOffline(true);
  await p.waitForFunction(() => window.__palabre.status !== 'online');
  await p.click(`${card} ${tid('vote-against')}`);
  await attrIs(p, `${card} ${tid('vote-against')}`, 'aria-pressed', 'true');
  await attrIs(p, `${card} ${tid('vote-against')}`, 'data-pending', 'queued');
  await attrIs(p, `${card} ${tid('vote-for')}`, 'aria-pressed', 'false');
  await visible(p, `${card} ${tid('vote-pending')}`);
  assert.match(await textOf(p, `${card} ${tid('vote-pending')}`), /No connection.*Against/);
  assert.equal(await textOf(p, `${card} ${tid('vote-choice')}`), 'Your vote: For', 'the server still has For');
  await screenshot(p, 'vote-phone-pending');
  await phone.context.setOffline(false);
  await hidden(p, `${card} ${tid('vote-pending')}`);
  await p.waitForFunction((s) => document.querySelector(s)?.textContent.trim() === 'Your vote: Against', `${card} ${tid('vote-choice')}`);
  await p.waitForFunction((s) => !document.querySelector(s)?.hasAttribute('data-pending'), `${card} ${tid('vote-against')}`);
  assert.equal(await textOf(p, `${card} ${tid('vote-receipt')}`), `receipt\u00a0${receipt}`, 'the same receipt after a change');

  // The screen: the text, the live bars with numbers and percentages, the turnout, the rule.
  await visible(screen.page, tid('screen-vote'));
  assert.equal(await textOf(screen.page, tid('screen-vote-title')), draft.title.en);
  await attrIs(screen.page, `${tid('tally-bar')}[data-choice="for"]`, 'data-count', '2');
  await attrIs(screen.page, `${tid('tally-bar')}[data-choice="against"]`, 'data-count', '1');
  await attrIs(screen.page, `${tid('tally-bar')}[data-choice="abstain"]`, 'data-count', '0');
  assert.match(await textOf(screen.page, `${tid('tally-bar')}[data-choice="for"]`), /For\s*2 · 67\s?%/);
  await screen.page.waitForFunction((s) => /^3 votes cast out of \d+$/.test(document.querySelector(s)?.textContent.trim()), tid('tally-turnout'));
  assert.match(await screen.page.textContent('#vote-method'), /Simple majority.*Quorum: 2 votes/);
  await visible(screen.page, tid('join-code'));
  await settle(screen.page);
  await screenshot(screen.page, 'vote-screen-open');
  await checkA11y(screen.page, 'screen during a vote');

  // Closed: the outcome everywhere, and each phone finds its receipt among the published ballots.
  assert.equal((await send(moderator.page, 'poll.close', { poll })).status, 'acked');
  await attrIs(p, card, 'data-status', 'closed');
  await attrIs(p, `${card} ${tid('vote-result')}`, 'data-outcome', 'adopted');
  await attrIs(p, `${card} ${tid('receipt-check')}`, 'data-state', 'counted');
  assert.equal(await textOf(p, `${card} ${tid('vote-choice')}`), 'Your ballot: Against');
  assert.equal(await textOf(p, `${card} ${tid('receipt-check')}`), 'counted ✓');
  assert.match(await textOf(p, `${card} ${tid('vote-result')}`), /Adopted.*2 for > 1 against/);
  const published = await (await fetch(`${room.server.base}/j/${created.code}/polls/${poll}/receipts.json`)).json();
  assert.deepEqual(published.receipts.find((r) => r.receipt === receipt)?.choice, 'against');
  assert.equal(published.receipts.length, 3);
  await attrIs(phone2.page, `${card} ${tid('receipt-check')}`, 'data-state', 'counted');
  assert.equal(await textOf(phone2.page, `${card} ${tid('receipt-check')}`), 'compté ✓');
  await p.locator(card).evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await settle(p);
  await screenshot(p, 'vote-phone-result');
  await screenshot(phone2.page, 'vote-phone-result-fr');
  await checkA11y(p, 'participant after the close, receipt counted');

  await attrIs(screen.page, tid('screen-outcome'), 'data-outcome', 'adopted');
  assert.equal(await screen.page.innerText(tid('screen-outcome')), 'ADOPTED');
  const size = await screen.page.$eval(tid('screen-outcome'), (e) => parseFloat(getComputedStyle(e).fontSize));
  assert.ok(size >= 120, `the outcome is very large on a 1080p projector (${size}px)`);
  assert.match(await textOf(screen.page, tid('screen-rule')), /Simple majority: 2 for > 1 against/);
  await settle(screen.page);
  await screenshot(screen.page, 'vote-screen-outcome');
  await checkA11y(screen.page, 'screen with the outcome');
  const fr = await open({ ...PROJECTOR, locale: 'fr-FR' }, created.links.screen);
  await attrIs(fr.page, tid('screen-outcome'), 'data-outcome', 'adopted');
  assert.equal(await fr.page.innerText(tid('screen-outcome')), 'ADOPTÉE');
  assert.match(await textOf(fr.page, tid('screen-rule')), /^Majorité simple\u00a0: 2 pour > 1 contre/);
  const small = await open({ ...PHONE, locale: 'fr-FR' }, created.links.screen);
  await visible(small.page, tid('screen-outcome'));
  await checkA11y(small.page, 'screen at phone size, outcome');

  // The agenda moves on: the screen goes back to the agenda; the phone keeps the result.
  assert.equal((await send(moderator.page, 'agenda.prev')).status, 'acked');
  await hidden(screen.page, tid('screen-vote'));
  await visible(p, `${card}[data-status="closed"]`);

  for (const { page, errors, context } of [phone, phone2, phone3, screen, fr, small, moderator]) {
    assert.deepEqual(errors.filter((e) => !/ERR_INTERNET_DISCONNECTED/.test(e)), [], `no errors on ${page.url()}`);
    await context.close();
  }
});

test(`roster mode: a personal voting code claimed from the link, then moved to another phone (${storeName})`, async () => {
  const definition = structuredClone(sou94);
  definition.settings = { ...definition.settings, voting: 'roster' };
  const { created, moderator } = await adoption(definition);
  const csv = 'name,organisation,weight\nAminata Traoré,Association des Municipalités du Mali,2\nMoussa Diallo,Commune de Kidal,1\n';
  const res = await fetch(`${room.server.base}/api/sessions/${created.id}/roster`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${created.moderator_key}`, 'content-type': 'text/csv' },
    body: csv,
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { entries } = await res.json();
  const aminata = entries.find((e) => e.name === 'Aminata Traoré');
  assert.match(aminata.code, /^[A-Z0-9]{8}$/);

  // The link with #claim= claims once, then the code leaves the address.
  const phone = await open({ ...PHONE, locale: 'fr-FR' }, `${created.links.participant}#claim=${aminata.code}`);
  const p = phone.page;
  await visible(p, tid('voter-name'));
  assert.equal(await textOf(p, tid('voter-name')),
    'Vous votez en tant que\u00a0: Aminata Traoré (Association des Municipalités du Mali) · 2\u00a0voix');
  assert.ok(!p.url().includes('claim'), `the code is gone from ${p.url()}`);
  await hidden(p, tid('claim-form'));

  // A phone without a code sees the form; a wrong code is refused with a clear message.
  const phone2 = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const q = phone2.page;
  await visible(q, tid('claim-form'));
  await q.fill(tid('claim-code'), 'abc');
  await q.click(tid('claim-submit'));
  assert.match(await textOf(q, tid('claim-error')), /8 letters or digits/);
  await q.fill(tid('claim-code'), 'ZZZZ ZZZZ');
  await q.click(tid('claim-submit'));
  await q.waitForFunction((s) => /not valid/.test(document.querySelector(s)?.textContent), tid('claim-error'));

  // A poll opens: the phone without a right is told to enter its code; the other one votes.
  const opened = await send(moderator.page, 'poll.open', { draft: 'd2', method: 'absolute' });
  assert.equal(opened.status, 'acked', JSON.stringify(opened.error));
  const card = `${tid('vote-card')}[data-poll="${opened.result.poll}"]`;
  await attrIs(q, card, 'data-status', 'open');
  await hidden(q, `${card} ${tid('vote-for')}`);
  await screenshot(q, 'vote-phone-claim-form');
  await checkA11y(q, 'participant in roster mode, no voting right');
  await p.click(`${card} ${tid('vote-for')}`);
  await visible(p, `${card} ${tid('vote-receipt')}`);
  await p.waitForFunction(
    (s) => document.querySelector(s)?.textContent.trim() === '1 votant · 2\u00a0voix sur 3', `${card} ${tid('vote-turnout')}`,
  );

  // The same code entered on the second phone: the right moves there, the first phone says so.
  await q.fill(tid('claim-code'), aminata.code.toLowerCase().replace(/(....)/, '$1 '));
  await q.click(tid('claim-submit'));
  await visible(q, tid('voter-name'));
  assert.match(await textOf(q, tid('voter-name')), /^You vote as Aminata Traoré/);
  await hidden(q, tid('claim-form'));
  await visible(q, `${card} ${tid('vote-for')}`);
  await visible(p, tid('voter-moved'));
  assert.match(await textOf(p, tid('voter-moved')), /passé sur un autre appareil/);
  await visible(p, tid('claim-form'));
  await hidden(p, tid('voter-name'));
  await hidden(p, `${card} ${tid('vote-for')}`);
  await p.evaluate(() => window.scrollTo(0, 0));
  await screenshot(p, 'vote-phone-moved');
  await checkA11y(p, 'participant whose voting right moved');

  // Closed: an absolute majority of the roster's weight (2 of 3) adopts it.
  assert.equal((await send(moderator.page, 'poll.close', { poll: opened.result.poll })).status, 'acked');
  await attrIs(q, `${card} ${tid('vote-result')}`, 'data-outcome', 'adopted');
  assert.match(await textOf(q, `${card} ${tid('vote-rule')}`), /^Absolute majority: 2 for, more than half of the 3 eligible votes \(2 needed\)/);

  // A hidden poll: turnout only until the close, on the phone and on the screen; then cancelled.
  const screen = await open({ ...PROJECTOR, locale: 'fr-FR' }, created.links.screen);
  const second = await send(moderator.page, 'poll.open', { draft: 'd3', hidden: true, quorum: 3 });
  assert.equal(second.status, 'acked', JSON.stringify(second.error));
  const card2 = `${tid('vote-card')}[data-poll="${second.result.poll}"]`;
  await attrIs(q, card2, 'data-status', 'open');
  await hidden(q, card);
  await visible(q, `${tid('past-polls')} ${tid('past-poll')}[data-poll="${opened.result.poll}"][data-outcome="adopted"]`);
  await q.click(`${card2} ${tid('vote-against')}`);
  await visible(q, `${card2} ${tid('vote-receipt')}`);
  await hidden(q, `${card2} ${tid('vote-tally')}`);
  await q.waitForFunction((s) => /^1 voter · 2 of 3 votes$/.test(document.querySelector(s)?.textContent.trim()), `${card2} ${tid('vote-turnout')}`);
  await visible(screen.page, tid('screen-vote'));
  await hidden(screen.page, `${tid('tally-bar')}[data-choice="for"]`);
  await screen.page.waitForFunction((s) => document.querySelector(s)?.textContent.trim() === '1 votant · 2\u00a0voix sur 3', tid('tally-turnout'));
  assert.match(await textOf(screen.page, '#vote-method'), /Quorum\u00a0: 3\u00a0voix\./);
  await screenshot(screen.page, 'vote-screen-hidden-fr');
  await checkA11y(screen.page, 'screen during a hidden vote');
  assert.equal((await send(moderator.page, 'poll.cancel', { poll: second.result.poll })).status, 'acked');
  await attrIs(q, card2, 'data-status', 'cancelled');
  await hidden(screen.page, tid('screen-vote'));

  for (const { page, errors, context } of [phone, phone2, screen, moderator]) {
    assert.deepEqual(errors.filter((e) => !/status of 404/.test(e)), [], `no errors on ${page.url()}`);
    await context.close();
  }
});
