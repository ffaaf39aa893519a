// The record in a real Chromium: the moderator runs a short SOU 94 session (through its page's
// client, `window.__palabre.send`): a question from a phone taken in the debate, a speaker from
// the floor, a vote on d1 by two phones, d2 adopted by consensus, the end. The rapporteur page
// adds a note, finalises the record through its confirmation and shows the digest, which is
// record.json's. The printable minutes (record.html) are printed by Chromium to an A4 PDF and
// turned into PNG pages (pdftoppm) next to the screenshots, for a person to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, watchErrors, checkA11y, sou94, storeName, shots, PHONE, LAPTOP,
} from './harness.mjs';

const room = useServerAndBrowser();

const open = (options, url) => openOnline(room.browser, options, url);


async function ok(page, op, fields) {
  const r = await send(page, op, fields);
  assert.equal(r.status, 'acked', `${op}: ${JSON.stringify(r.error)}`);
  return r.result;
}

const get = (path, key) => fetch(`${room.server.base}${path}`, key ? { headers: { Authorization: `Bearer ${key}` } } : {});
const textOf = async (page, sel) => (await page.textContent(sel)).trim();

test(`the rapporteur notes, finalises and exports the record; the minutes print to A4 (${storeName})`, async () => {
  const created = await createSession(room.server.base);
  const rkey = created.rapporteur_key;
  const moderator = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.moderator);
  const rapporteur = await open({ ...LAPTOP, locale: 'en-GB' }, created.links.rapporteur);
  const phone = await open({ ...PHONE, locale: 'fr-FR' }, created.links.participant);
  const phone2 = await open({ ...PHONE, locale: 'en-GB' }, created.links.participant);
  const r = rapporteur.page;
  const m = moderator.page;

  // Before the end: finalising is not possible, and the page says why.
  await r.waitForSelector(tid('note-form'));
  assert.equal(await r.isDisabled(tid('btn-finalise')), true, 'finalise is disabled while the session has not ended');

  // The debate: a question (with markup in it, which must stay text) taken, a speaker from the floor.
  await ok(m, 'agenda.next');
  const debate = sou94.agenda.findIndex((i) => i.kind === 'debate');
  await ok(m, 'agenda.goto', { item: debate });
  await phone.page.waitForFunction(() => window.__palabre.state?.qa_open === true);
  const question = 'Quel budget pour les communes <b>rurales</b> & les régions ?';
  const asked = await ok(phone.page, 'question.ask', { text: question, name: 'Awa Traoré' });
  await ok(m, 'question.approve', { question: asked.question.id });
  await ok(m, 'question.answer', { question: asked.question.id });
  const req = await ok(phone2.page, 'floor.request', { name: 'Jean Dupont', organisation: 'Commune de Kati' });
  await ok(m, 'floor.grant', { request: req.request });
  await ok(m, 'floor.end', { request: req.request });

  // A note from the rapporteur page, while the session runs.
  const note = 'Le débat a porté sur le transfert des ressources aux communes rurales.';
  await r.fill(tid('note-text'), note);
  await r.click(tid('note-submit'));
  await r.waitForFunction(([sel, text]) => [...document.querySelectorAll(sel)].some((li) => li.textContent.includes(text)), [tid('note'), note]);
  assert.equal(await r.inputValue(tid('note-text')), '', 'the box is emptied once the note is in');
  assert.equal(await r.locator(`${tid('notes-list')} ${tid('note')}`).count(), 1);

  // The adoption: d1 by a vote of two phones, d2 by consensus; then the end.
  const adoption = sou94.agenda.findIndex((i) => i.kind === 'adoption');
  await ok(m, 'agenda.goto', { item: adoption });
  const { poll } = await ok(m, 'poll.open', { draft: 'd1', method: 'simple', quorum: 2 });
  await ok(phone.page, 'vote.cast', { poll, choice: 'for' });
  await ok(phone2.page, 'vote.cast', { poll, choice: 'against' });
  await m.waitForFunction((p) => window.__palabre.state.polls.find((x) => x.id === p)?.cast === 2, poll);
  await ok(m, 'poll.close', { poll });
  await ok(m, 'draft.adopt_by_consensus', { draft: 'd2' });
  await r.waitForSelector(`${tid('draft')}[data-id="d2"] ${tid('draft-figures')}[data-outcome="consensus"]`);
  await screenshot(r, 'rapporteur-laptop-running');
  await ok(m, 'session.end');

  // Finalise through the confirmation; the digest shows.
  await r.waitForSelector(`${tid('btn-finalise')}:not([disabled])`);
  await checkA11y(r, 'rapporteur, ended, before finalising');
  await r.click(tid('btn-finalise'));
  await r.waitForSelector(tid('finalise-confirm'), { state: 'visible' });
  assert.equal(await r.evaluate(() => document.activeElement?.dataset.testid), 'btn-finalise-cancel', 'the safe button takes the focus');
  await checkA11y(r, 'rapporteur, finalise confirmation');
  await r.keyboard.press('Escape');
  await r.waitForSelector(tid('finalise-confirm'), { state: 'hidden' });
  await r.click(tid('btn-finalise'));
  await r.click(tid('btn-finalise-confirm'));
  await r.waitForFunction((sel) => /^[0-9a-f]{64}$/.test(document.querySelector(sel)?.textContent.trim() || ''), tid('digest'));
  const shown = await textOf(r, tid('digest'));
  assert.equal(await r.isVisible(tid('note-text')), false, 'no more notes once final');

  // record.json (with the rapporteur's key) carries the same digest, the note and the figures.
  const res = await get(`/api/sessions/${created.id}/record.json`, rkey);
  assert.equal(res.status, 200);
  const record = await res.json();
  assert.equal(record.digest, shown, 'the digest shown is record.json’s');
  assert.ok(record.notes.some((n) => n.text === note));
  const p1 = record.polls.find((p) => p.id === poll);
  assert.deepEqual([p1.counts.for, p1.counts.against, p1.outcome], [1, 1, 'rejected']);

  // After a reload the page finds the final record again (the state view has no seal).
  await r.reload();
  await r.waitForFunction((sel) => document.querySelector(sel)?.textContent.trim().length === 64, tid('digest'));
  assert.equal(await textOf(r, tid('digest')), shown);
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, tid('note'));
  await checkA11y(r, 'rapporteur, final');
  await screenshot(r, 'rapporteur-laptop-final');

  // The exports: a download each, with the key in a header; the minutes in a new tab.
  for (const [id, name] of [['export-json', 'record.json'], ['export-md', 'record.md'], ['export-csv', 'results.csv'], ['export-jsonl', 'events.jsonl']]) {
    const [download] = await Promise.all([r.waitForEvent('download'), r.click(tid(id))]);
    assert.equal(download.suggestedFilename(), `SOU-94-${name}`);
  }
  const [tab] = await Promise.all([rapporteur.context.waitForEvent('page'), r.click(tid('export-html'))]);
  await tab.waitForLoadState();
  await tab.waitForFunction((d) => document.body.textContent.includes(d), shown);
  // Its inline style was handed over as a constructed stylesheet (the blob: page has our CSP).
  await tab.waitForFunction(() => document.adoptedStyleSheets.length > 0);
  await tab.close();

  // The routes' access rules.
  const html = `/api/sessions/${created.id}/record.html`;
  assert.equal((await get(html)).status, 401, 'no key');
  assert.equal((await get(html, 'x'.repeat(43))).status, 401, 'a wrong key');
  assert.equal((await get(html, created.moderator_key)).status, 200, 'the moderator');
  assert.equal((await get(`${html}?lang=de`, rkey)).status, 400, 'an unknown language');
  const minutes = await get(`${html}?lang=fr`, rkey);
  assert.equal(minutes.status, 200);
  assert.match(minutes.headers.get('content-security-policy'), /default-src 'none'; style-src 'unsafe-inline'/);
  const fr = await minutes.text();
  assert.ok(fr.includes('Adopté par consensus') && fr.includes(shown), 'French labels, the digest');
  assert.ok(fr.includes('&lt;b&gt;rurales&lt;/b&gt; &amp; les régions'), 'the question is escaped');

  // The minutes printed by Chromium: A4, page numbers and digest in the footer, PNG pages.
  const printer = await room.browser.newContext({ extraHTTPHeaders: { Authorization: `Bearer ${rkey}` } });
  const page = await printer.newPage();
  const errors = watchErrors(page);
  assert.equal((await page.goto(`${room.server.base}${html}`)).status(), 200);
  assert.equal(await page.locator('b').count(), 0, 'no markup from the room in the minutes');
  assert.ok((await page.textContent('body')).includes(question), 'the question as typed');
  await page.emulateMedia({ media: 'print' });
  mkdirSync(shots, { recursive: true });
  const pdf = join(shots, 'minutes.pdf');
  await page.pdf({ path: pdf, format: 'A4', printBackground: true });
  assert.ok(statSync(pdf).size > 1000, 'a PDF');
  for (const f of readdirSync(shots)) if (/^minutes-\d+\.png$/.test(f)) rmSync(join(shots, f));
  execFileSync('pdftoppm', ['-png', '-r', '70', pdf, join(shots, 'minutes')]);
  const pngs = readdirSync(shots).filter((f) => /^minutes-\d+\.png$/.test(f));
  assert.ok(pngs.length >= 1, 'at least one page');
  const info = execFileSync('pdfinfo', [pdf]).toString();
  assert.match(info, /Pages:\s+[1-9]/);
  assert.match(info, /Page size:.*\(A4\)/);
  const text = execFileSync('pdftotext', ['-layout', pdf, '-']).toString();
  assert.ok(text.includes(shown.slice(0, 16)), 'the digest is printed');
  const pages = Number(/Pages:\s+(\d+)/.exec(info)[1]);
  assert.ok(text.includes(`Page 1 / ${pages}`), 'page numbers in the footer');
  assert.deepEqual(errors, []);
  await printer.close();

  // The rapporteur page on a phone, in French.
  const small = await open({ ...PHONE, locale: 'fr-FR' }, created.links.rapporteur);
  await small.page.waitForFunction((sel) => document.querySelector(sel)?.textContent.trim().length === 64, tid('digest'));
  await checkA11y(small.page, 'rapporteur, phone, final');
  await small.page.locator(tid('final')).scrollIntoViewIfNeeded();
  await screenshot(small.page, 'rapporteur-phone-final');
  const overflow = await small.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow}px)`);

  for (const { errors: e, context } of [moderator, rapporteur, phone, phone2, small]) {
    assert.deepEqual(e, []);
    await context.close();
  }
});
