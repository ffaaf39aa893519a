// The record in a real Chromium: the moderator runs a short SOU 94 session (through its page's
// client, `window.__palabre.send`): a question from a phone taken in the debate, a speaker from
// the floor, a vote on d1 by two phones, d2 adopted by consensus, the end. The rapporteur page
// adds a note, edits and deletes another, edits d1's French text (and sees the two versions
// compared word by word), creates a draft, watches the record grow as minutes (a vote's figures
// show as it closes), finalises the record through its confirmation and shows the digest,
// which is record.json's. The printable minutes (record.html) are printed by Chromium to an A4
// PDF and turned into PNG pages (pdftoppm) next to the screenshots, for a person to look at.
// A session without languages edits and creates its texts as plain strings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, watchErrors, checkA11y, sou94, storeName, shots, PHONE, LAPTOP,
} from './harness.mjs';

/** The sizes a person looks at: a common phone, a common laptop. */
const PHONE_390 = { ...PHONE, viewport: { width: 390, height: 844 } };
const LAPTOP_900 = { ...LAPTOP, viewport: { width: 1366, height: 900 } };
/** A draft's row on the rapporteur page, and a test id inside it. */
const draftSel = (id, inner) => `${tid('draft')}[data-id="${id}"]${inner ? ` ${tid(inner)}` : ''}`;

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
  const rapporteur = await open({ ...LAPTOP_900, locale: 'en-GB' }, created.links.rapporteur);
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

  // A second note, edited in place, then deleted through its confirmation; the record follows.
  await r.fill(tid('note-text'), 'Second note, with a typo.');
  await r.keyboard.press('Control+Enter');
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, tid('note'));
  const second = r.locator(tid('note')).nth(1);
  await second.locator(tid('note-edit')).click();
  assert.equal(await r.evaluate(() => document.activeElement?.dataset.testid), 'note-edit-text', 'the box takes the focus');
  await second.locator(tid('note-edit-text')).fill('Second note, corrected.');
  await second.locator(tid('note-edit-save')).click();
  await r.waitForFunction((sel) => [...document.querySelectorAll(sel)].some((n) => n.textContent.includes('Second note, corrected.')), tid('rec-note'));
  assert.match(await second.textContent(), /Second note, corrected\.\s*edited/, 'the note says it was edited');
  await second.locator(tid('note-delete')).click();
  await r.waitForSelector(tid('note-delete-confirm'));
  assert.equal(await r.evaluate(() => document.activeElement?.dataset.testid), 'note-delete-cancel', 'the safe button takes the focus');
  await checkA11y(r, 'rapporteur, deleting a note');
  await r.click(tid('note-delete-yes'));
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, tid('note'));
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 1, tid('rec-note'));

  // The live record: the debate as held so far, the question with its upvote, the speaker.
  await r.waitForSelector(`${tid('rec-question')}[data-id="${asked.question.id}"]`);
  assert.match(await textOf(r, `${tid('rec-question')}[data-id="${asked.question.id}"]`), /Awa Traoré · 0 upvotes · answered \d\d:\d\d UTC/);
  assert.match(await textOf(r, tid('rec-speaker')), /^Jean Dupont \(Commune de Kati\)\s*\d\d:\d\d–\d\d:\d\d UTC · 0:0\d/);
  assert.match(await textOf(r, `${tid('rec-item')}[data-index="0"]`), /\d\d:\d\d–\d\d:\d\d UTC · planned 10\smin/);
  assert.match(await textOf(r, `${tid('rec-item')}[data-index="${debate}"]`), /since \d\d:\d\d UTC/, 'the item running now');

  // d1's French text, edited from the page: only French is sent, and the two versions compare word by word.
  await r.click(draftSel('d1', 'draft-edit'));
  await r.waitForSelector(draftSel('d1', 'draft-editor'));
  const frBox = `${draftSel('d1', 'draft-edit-text')}[data-lang="fr"]`;
  const enBox = `${draftSel('d1', 'draft-edit-text')}[data-lang="en"]`;
  assert.equal(await r.inputValue(enBox), sou94.drafts[0].text.en);
  assert.equal(await r.inputValue(frBox), sou94.drafts[0].text.fr);
  await checkA11y(r, 'rapporteur, editing a draft');
  const frNew = sou94.drafts[0].text.fr.replace('appellent l’État à accélérer le transfert effectif', 'demandent à l’État d’accélérer sans délai le transfert');
  await r.fill(frBox, frNew);
  await r.click(draftSel('d1', 'draft-edit-save'));
  await r.waitForSelector(`${draftSel('d1', 'diff')}[data-lang="fr"][data-changed="true"]`);
  const d1 = await r.evaluate(() => window.__palabre.state.drafts.find((d) => d.id === 'd1'));
  assert.equal(d1.version, 2);
  assert.deepEqual(d1.text, { en: sou94.drafts[0].text.en, fr: frNew }, 'English untouched');
  assert.equal(d1.versions.at(-1).lang, 'fr');
  const diffFr = `${draftSel('d1', 'diff')}[data-lang="fr"]`;
  const dels = await r.locator(`${diffFr} del`).allTextContents();
  const inss = await r.locator(`${diffFr} ins`).allTextContents();
  assert.ok(dels.some((x) => x.includes('effectif')) && dels.every((x) => x.startsWith('removed:')), JSON.stringify(dels));
  assert.ok(inss.some((x) => x.includes('sans délai')) && inss.every((x) => x.startsWith('added:')), JSON.stringify(inss));
  assert.equal(await r.getAttribute(`${draftSel('d1', 'diff')}[data-lang="en"]`, 'data-changed'), 'false');
  assert.equal(await r.inputValue(draftSel('d1', 'diff-from')), '1');
  assert.equal(await r.inputValue(draftSel('d1', 'diff-to')), '2');
  await checkA11y(r, 'rapporteur, versions compared');
  await r.locator(draftSel('d1', 'draft-versions')).scrollIntoViewIfNeeded();
  await screenshot(r, 'rapporteur-laptop-diff');
  // The same on a phone, in French.
  const rphone = await open({ ...PHONE_390, locale: 'fr-FR' }, created.links.rapporteur);
  const rp = rphone.page;
  await rp.waitForFunction((sel) => document.querySelector(sel)?.textContent.includes('v2'), draftSel('d1'));
  await rp.click(draftSel('d1', 'draft-history'));
  await rp.waitForSelector(`${draftSel('d1', 'diff')}[data-lang="fr"][data-changed="true"] ins`);
  assert.match(await rp.textContent(`${draftSel('d1', 'diff')}[data-lang="fr"] ins`), /^ajouté\s:/);
  await rp.locator(draftSel('d1', 'draft-versions')).scrollIntoViewIfNeeded();
  await screenshot(rp, 'rapporteur-phone-diff');
  await rp.click(draftSel('d1', 'draft-edit'));
  await rp.waitForSelector(draftSel('d1', 'draft-editor'));
  await rp.locator(draftSel('d1', 'draft-editor')).scrollIntoViewIfNeeded();
  await screenshot(rp, 'rapporteur-phone-editor');
  await checkA11y(rp, 'rapporteur, phone, editing a draft');
  assert.ok(await rp.evaluate(() => document.documentElement.scrollWidth <= document.documentElement.clientWidth), 'no sideways scrolling on a phone');
  await rp.click(draftSel('d1', 'draft-edit-cancel'));

  // A new draft: an English text, a title in both languages.
  await r.click(tid('draft-new'));
  await r.waitForSelector(tid('draft-form'));
  await r.check(`${tid('new-kind')}[value="recommendation"]`);
  await r.fill(`${tid('new-title')}[data-lang="en"]`, 'Training of local elected officials');
  await r.fill(`${tid('new-title')}[data-lang="fr"]`, 'Formation des élus locaux');
  await r.fill(`${tid('new-text')}[data-lang="en"]`, 'Local authorities should train their elected officials in conflict prevention.');
  await checkA11y(r, 'rapporteur, new draft');
  await r.click(tid('new-submit'));
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 6, tid('draft'));
  const made = await r.evaluate(() => window.__palabre.state.drafts.at(-1));
  assert.equal(made.kind, 'recommendation');
  assert.deepEqual(made.title, { en: 'Training of local elected officials', fr: 'Formation des élus locaux' });
  assert.deepEqual(made.text, { en: 'Local authorities should train their elected officials in conflict prevention.' });
  assert.equal(await r.evaluate(() => document.activeElement?.closest('[data-testid="draft"]')?.dataset.id), made.id, 'the new draft takes the focus');
  // On the French phone its text is shown in English, with the marker.
  await rp.waitForSelector(`${draftSel(made.id)} .draft-text .lang-fallback[lang="en"]`, { state: 'attached' });

  // The adoption: d1 by a vote of two phones, d2 by consensus; then the end.
  const adoption = sou94.agenda.findIndex((i) => i.kind === 'adoption');
  await ok(m, 'agenda.goto', { item: adoption });
  const { poll } = await ok(m, 'poll.open', { draft: 'd1', method: 'simple', quorum: 2 });
  // While it is voted on, d1 cannot be edited, and the page says why; the record shows the vote.
  await r.waitForSelector(`${draftSel('d1', 'draft-edit')}[disabled]`);
  assert.match(await textOf(r, draftSel('d1', 'draft-edit-note')), /Being voted on/);
  await r.waitForSelector(`${tid('rec-text')}[data-id="d1"][data-outcome="voting"]`);
  await ok(phone.page, 'vote.cast', { poll, choice: 'for' });
  await ok(phone2.page, 'vote.cast', { poll, choice: 'against' });
  await m.waitForFunction((p) => window.__palabre.state.polls.find((x) => x.id === p)?.cast === 2, poll);
  await ok(m, 'poll.close', { poll });
  // The record card shows the figures as the vote closes: the version voted, the rule.
  await r.waitForSelector(`${tid('rec-text')}[data-id="d1"][data-outcome="rejected"]`);
  const d1rec = await textOf(r, `${tid('rec-text')}[data-id="d1"]`);
  assert.match(d1rec, /Rejected · version 2 voted/);
  assert.match(d1rec, /For 1.*Against 1/s);
  assert.match(d1rec, /closed \d\d:\d\d UTC/);
  await ok(m, 'draft.adopt_by_consensus', { draft: 'd2' });
  await r.waitForSelector(`${tid('draft')}[data-id="d2"] ${tid('draft-figures')}[data-outcome="consensus"]`);
  await r.waitForSelector(`${tid('rec-text')}[data-id="d2"][data-outcome="consensus"]`);
  assert.match(await textOf(r, `${tid('rec-text')}[data-id="d2"]`), /Adopted by consensus · version 1/);
  await screenshot(r, 'rapporteur-laptop-running');
  await r.screenshot({ path: join(shots, 'rapporteur-laptop-whole.png'), fullPage: true });
  await ok(m, 'session.end');
  // Nothing can be edited or added any more: said once, above the drafts.
  await r.waitForSelector(`${draftSel('d3', 'draft-edit')}[disabled][aria-describedby="draft-new-note"]`);
  assert.match(await textOf(r, tid('draft-new-note')), /session has ended/);
  assert.equal(await r.isDisabled(tid('draft-new')), true);
  assert.equal(await r.locator(`${tid('draft-edit-note')}:visible`).count(), 0);

  // Finalise through the confirmation; the digest shows.
  await r.waitForSelector(`${tid('btn-finalise')}:not([disabled])`);
  // (A button fades in as it is enabled: its colours are checked once it is all there.)
  await r.waitForFunction((sel) => getComputedStyle(document.querySelector(sel)).opacity === '1', tid('btn-finalise'));
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
  assert.equal(await r.locator(tid('note-edit')).count(), 0, 'no more editing notes once final');
  assert.equal(await r.locator(tid('note-delete')).count(), 0, 'nor deleting them');

  // record.json (with the rapporteur's key) carries the same digest, the note and the figures.
  const res = await get(`/api/sessions/${created.id}/record.json`, rkey);
  assert.equal(res.status, 200);
  const record = await res.json();
  assert.equal(record.digest, shown, 'the digest shown is record.json’s');
  assert.deepEqual(record.notes.map((n) => n.text), [note], 'the deleted note is gone from the record');
  assert.equal(record.drafts.find((d) => d.id === 'd1').versions.length, 2);
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
  assert.match(minutes.headers.get('content-security-policy'), /default-src 'none'; style-src 'sha256-[A-Za-z0-9+/=]+'; /, 'its one style allowed by hash, nothing inline');
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
  await small.page.locator(tid('record')).scrollIntoViewIfNeeded();
  await screenshot(small.page, 'rapporteur-phone-record');
  const overflow = await small.page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow}px)`);

  for (const { errors: e, context } of [moderator, rapporteur, phone, phone2, small, rphone]) {
    assert.deepEqual(e, []);
    await context.close();
  }
});

test(`a session without languages edits and creates its texts as plain strings (${storeName})`, async () => {
  const created = await createSession(room.server.base, {
    title: 'Conseil de quartier',
    agenda: [{ title: 'Adoption', kind: 'adoption', minutes: 10 }],
    drafts: [{ kind: 'resolution', title: 'Éclairage public', text: 'Le conseil demande un meilleur éclairage de la rue des Écoles.' }],
  });
  const rapporteur = await open({ ...PHONE_390, locale: 'fr-FR' }, created.links.rapporteur);
  const r = rapporteur.page;
  await r.waitForSelector(draftSel('d1', 'draft-edit'));
  await r.click(draftSel('d1', 'draft-edit'));
  const boxes = r.locator(draftSel('d1', 'draft-edit-text'));
  assert.equal(await boxes.count(), 1, 'one box: the text has no languages');
  await boxes.fill('Le conseil demande un meilleur éclairage de la rue des Écoles et du square.');
  await r.click(draftSel('d1', 'draft-edit-save'));
  await r.waitForSelector(`${draftSel('d1', 'diff')}[data-changed="true"] ins`);
  assert.match(await r.textContent(`${draftSel('d1', 'diff')} ins`), /et du square/);
  const d1 = await r.evaluate(() => window.__palabre.state.drafts.find((d) => d.id === 'd1'));
  assert.equal(d1.text, 'Le conseil demande un meilleur éclairage de la rue des Écoles et du square.');
  assert.equal(d1.versions.at(-1).lang ?? null, null);

  // Nothing changed: nothing is sent, and the editor says so.
  await r.click(draftSel('d1', 'draft-edit'));
  await r.click(draftSel('d1', 'draft-edit-save'));
  await r.waitForFunction((sel) => document.querySelector(sel)?.dataset.kind === 'info', draftSel('d1', 'draft-edit-status'));
  assert.equal(await r.evaluate(() => window.__palabre.state.drafts.find((d) => d.id === 'd1').version), 2);
  await r.keyboard.press('Escape');
  await r.waitForSelector(draftSel('d1', 'draft-editor'), { state: 'detached' });

  // A new draft: a title is needed first; then plain strings go out.
  await r.click(tid('draft-new'));
  await r.fill(tid('new-text'), 'Un banc devant la bibliothèque.');
  await r.click(tid('new-submit'));
  await r.waitForFunction((sel) => document.querySelector(sel)?.dataset.kind === 'error', tid('new-status'));
  assert.equal(await r.getAttribute(tid('new-title'), 'aria-invalid'), 'true');
  await r.fill(tid('new-title'), 'Mobilier urbain');
  await r.click(tid('new-submit'));
  await r.waitForFunction((sel) => document.querySelectorAll(sel).length === 2, tid('draft'));
  const made = await r.evaluate(() => window.__palabre.state.drafts.at(-1));
  assert.deepEqual([made.kind, made.title, made.text], ['resolution', 'Mobilier urbain', 'Un banc devant la bibliothèque.']);
  await checkA11y(r, 'rapporteur, phone, a session without languages');
  assert.deepEqual(rapporteur.errors, []);
  await rapporteur.context.close();
});
