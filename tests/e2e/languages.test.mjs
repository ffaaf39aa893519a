// Texts in the session's languages: every page shows a title, a speaker line or a draft text
// in the viewer's language, and one that lacks it in the other language, with a small badge
// (EN / FR) that says so. Real Chromium, a real server, screenshots to look at.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createSession, useServerAndBrowser, openOnline, send, tid, screenshot, checkA11yAll, storeName, PROJECTOR, LAPTOP,
} from './harness.mjs';

const room = useServerAndBrowser();

/** A bilingual session whose second item, its speaker and its second draft exist in English only. */
const definition = {
  title: { en: 'Local elected authorities and peace', fr: 'Les élus locaux et la paix' },
  reference: 'LANG 8',
  venue: 'Tanger',
  starts_at: '2018-11-23T14:30:00Z',
  ends_at: '2018-11-23T17:30:00Z',
  languages: ['en', 'fr'],
  agenda: [
    {
      title: { en: 'Opening', fr: 'Ouverture' }, kind: 'intro', minutes: 10,
      speakers: [{ en: 'The mayor of Tangier', fr: 'Le maire de Tanger' }, 'Association des Municipalités du Mali (AMM)'],
    },
    {
      title: { en: 'Regional councils and regional economic development' }, kind: 'presentation', minutes: 20,
      speakers: [{ en: 'Association of the Regions of Mali' }],
    },
    { title: { en: 'Debate with the audience', fr: 'Débat avec la salle' }, kind: 'debate', minutes: 40, speakers: [] },
    { title: { en: 'Adoption of the texts', fr: 'Adoption des textes' }, kind: 'adoption', minutes: 20, speakers: [] },
  ],
  drafts: [
    {
      kind: 'resolution',
      title: { en: 'Transfer of resources', fr: 'Transfert des ressources' },
      text: {
        en: 'The participants call on the State to transfer to local authorities the resources their competences require.',
        fr: 'Les participants appellent l’État à transférer aux collectivités les ressources qu’exigent leurs compétences.',
      },
    },
    {
      kind: 'recommendation',
      title: { en: 'Exchange with Sahel countries' },
      text: { en: 'Local authorities of the Sahel should set up a peer-learning network on the role of local authorities in crisis exit.' },
    },
  ],
  settings: { moderate_questions: true, anonymous_questions: true, voting: 'open' },
};
const [opening, regions, debate] = definition.agenda;
const [transfer, sahel] = definition.drafts;
const FR_TEXT = 'Les collectivités du Sahel devraient créer un réseau d’apprentissage entre pairs sur leur rôle dans la sortie de crise.';

// A phone as in the brief: 390 × 844 for the screenshots (the layout is also checked at 360).
const PHONE_390 = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

/**
 * What an element shows: its text without the badge, its `lang`, and its badge (lang, text,
 * title) or null. `sel` is a CSS selector; the first match is read.
 */
const read = (page, sel) => page.evaluate((s) => {
  const el = document.querySelector(s);
  if (!el) return null;
  const copy = el.cloneNode(true);
  for (const b of copy.querySelectorAll('.lang-fallback')) b.remove();
  const badge = el.querySelector('.lang-fallback');
  return {
    text: copy.textContent.trim(),
    lang: el.getAttribute('lang'),
    badge: badge ? { lang: badge.getAttribute('lang'), text: badge.textContent, title: badge.title, label: badge.getAttribute('aria-label') } : null,
  };
}, sel);

/** Waits until the element at `sel` shows `text` (badge aside), then returns what it shows. */
async function shows(page, sel, text) {
  try {
    await page.waitForFunction(([s, want]) => {
      const el = document.querySelector(s);
      if (!el) return false;
      const copy = el.cloneNode(true);
      for (const b of copy.querySelectorAll('.lang-fallback')) b.remove();
      return copy.textContent.trim() === want;
    }, [sel, text], { timeout: 5000 });
  } catch {
    assert.fail(`${sel} should show ${JSON.stringify(text)}, shows ${JSON.stringify(await read(page, sel))}`);
  }
  return read(page, sel);
}

const NOT_FR = 'Pas disponible en français — affiché en anglais';
const NOT_EN = 'Not available in English — shown in French';
const enBadge = { lang: 'en', text: 'EN', title: NOT_FR, label: NOT_FR };

/** Switches a page's language with its EN | FR buttons and waits for the dictionary. */
async function switchTo(page, lang) {
  await page.click(tid(`lang-${lang}`));
  await page.waitForFunction((l) => document.documentElement.lang === l, lang);
}

/** The page scrolls sideways (something is wider than the viewport). */
const overflows = (page) => page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);

const agendaTitle = (i) => `${tid('agenda-item')}[data-index="${i}"] .ag-title`;

test(`every page shows the viewer's language and marks what it shows in the other (${storeName})`, async () => {
  const created = await createSession(room.server.base, definition);
  const [phone, screen, moderator] = await Promise.all([
    openOnline(room.browser, { ...PHONE_390, locale: 'fr-FR' }, created.links.participant),
    openOnline(room.browser, { ...PROJECTOR, locale: 'fr-FR' }, created.links.screen),
    openOnline(room.browser, { ...LAPTOP, locale: 'fr-FR' }, created.links.moderator),
  ]);
  const pages = [phone.page, screen.page, moderator.page];
  await Promise.all(pages.map((p) => p.waitForFunction(() => document.documentElement.lang === 'fr')));

  // ---- pending, in French: French titles bare; the English-only item with its badge
  assert.deepEqual(await shows(phone.page, tid('session-title'), definition.title.fr), { text: definition.title.fr, lang: null, badge: null });
  assert.deepEqual(await shows(phone.page, agendaTitle(0), opening.title.fr), { text: opening.title.fr, lang: null, badge: null });
  assert.deepEqual(await shows(phone.page, agendaTitle(1), regions.title.en), { text: regions.title.en, lang: 'en', badge: enBadge });
  // the speaker lines: one by language, one plain string (never marked), one in English only
  const speakers0 = await read(phone.page, `${tid('agenda-item')}[data-index="0"] .ag-speakers`);
  assert.equal(speakers0.text, `${opening.speakers[0].fr} · ${opening.speakers[1]}`);
  assert.equal(speakers0.badge, null);
  const speakers1 = await read(phone.page, `${tid('agenda-item')}[data-index="1"] .ag-speakers`);
  assert.equal(speakers1.text, regions.speakers[0].en);
  assert.deepEqual(speakers1.badge, enBadge);
  assert.equal(await phone.page.getAttribute(`${tid('agenda-item')}[data-index="1"] .ag-speakers span[lang="en"]:not(.lang-fallback)`, 'lang'), 'en');
  assert.equal((await read(phone.page, tid('current-speakers'))).text, `Pour commencer\u00a0: ${opening.title.fr}`);
  assert.deepEqual(await shows(screen.page, tid('current-title'), definition.title.fr), { text: definition.title.fr, lang: null, badge: null });
  assert.equal((await read(screen.page, tid('session-title'))).text, definition.title.fr);
  assert.equal((await shows(moderator.page, tid('session-title'), `${definition.reference} · ${definition.title.fr}`)).badge, null);
  assert.deepEqual(await shows(moderator.page, agendaTitle(1), regions.title.en), { text: regions.title.en, lang: 'en', badge: enBadge });
  assert.equal(await phone.page.title(), `${definition.title.fr} · Palabre`);

  // ---- the first item, then the English-only one, on every page
  assert.equal((await send(moderator.page, 'agenda.next')).status, 'acked');
  for (const p of pages) assert.equal((await shows(p, tid('current-title'), opening.title.fr)).badge, null);
  assert.equal((await shows(screen.page, tid('next-up'), `Ensuite\u00a0: ${regions.title.en}`)).badge.lang, 'en');
  assert.equal((await shows(phone.page, tid('current-speakers'), `${opening.speakers[0].fr} · ${opening.speakers[1]}`)).badge, null);
  assert.equal((await read(screen.page, tid('current-speakers'))).text, `${opening.speakers[0].fr} · ${opening.speakers[1]}`);

  assert.equal((await send(moderator.page, 'agenda.next')).status, 'acked');
  for (const p of pages) {
    assert.deepEqual(await shows(p, tid('current-title'), regions.title.en), { text: regions.title.en, lang: 'en', badge: enBadge });
  }
  assert.deepEqual((await shows(phone.page, tid('current-speakers'), regions.speakers[0].en)).badge, enBadge);
  assert.deepEqual((await shows(screen.page, tid('current-speakers'), regions.speakers[0].en)).badge, enBadge);
  assert.equal((await shows(screen.page, tid('next-up'), `Ensuite\u00a0: ${debate.title.fr}`)).badge, null);
  assert.equal((await shows(moderator.page, tid('next-up'), `Ensuite\u00a0: ${debate.title.fr}`)).badge, null);
  // the moderator's agenda lists the speakers in its meta line, marked too
  assert.deepEqual((await read(moderator.page, `${tid('agenda-item')}[data-index="1"] .ag-meta`)).badge, enBadge);

  // ---- a draft given in English only gets a French text (draft.edit with lang), then goes to the vote
  const edit = await send(moderator.page, 'draft.edit', { draft: 'd2', text: FR_TEXT, lang: 'fr' });
  assert.equal(edit.status, 'acked', JSON.stringify(edit.error));
  await moderator.page.waitForFunction(() => {
    const d = window.__palabre.state.drafts.find((x) => x.id === 'd2');
    return d && d.version === 2;
  });
  const d2 = await moderator.page.evaluate(() => window.__palabre.state.drafts.find((x) => x.id === 'd2'));
  assert.deepEqual(d2.text, { en: sahel.text.en, fr: FR_TEXT }, 'the whole new text, both languages');
  assert.deepEqual(d2.versions.map((v) => [v.version, v.lang]), [[1, null], [2, 'fr']]);
  const row = `${tid('draft-row')}[data-id="d2"]`;
  assert.deepEqual(await shows(moderator.page, `${row} .vd-title`, sahel.title.en), { text: sahel.title.en, lang: 'en', badge: enBadge });
  assert.deepEqual(await shows(moderator.page, `${row} .vd-text`, FR_TEXT), { text: FR_TEXT, lang: null, badge: null });
  assert.equal((await shows(moderator.page, `${tid('draft-row')}[data-id="d1"] .vd-title`, transfer.title.fr)).badge, null);

  const opened = await send(moderator.page, 'poll.open', { draft: 'd2', method: 'simple' });
  assert.equal(opened.status, 'acked', JSON.stringify(opened.error));
  const card = `${tid('vote-card')}[data-poll="${opened.result.poll}"]`;
  assert.deepEqual(await shows(phone.page, `${card} ${tid('vote-draft-title')}`, sahel.title.en), { text: sahel.title.en, lang: 'en', badge: enBadge });
  assert.deepEqual(await shows(phone.page, `${card} ${tid('vote-draft-text')}`, FR_TEXT), { text: FR_TEXT, lang: null, badge: null });
  assert.deepEqual(await shows(screen.page, tid('screen-vote-title'), sahel.title.en), { text: sahel.title.en, lang: 'en', badge: enBadge });
  assert.equal((await shows(screen.page, tid('screen-vote-text'), FR_TEXT)).badge, null);
  assert.deepEqual(await shows(moderator.page, `${tid('poll-live')} .poll-title`, sahel.title.en), { text: sahel.title.en, lang: 'en', badge: enBadge });

  // The badge stays small: one line, its two letters, nothing pushed out of a phone or the stage.
  const badgeBox = await phone.page.evaluate((s) => {
    const b = document.querySelector(`${s} .lang-fallback`).getBoundingClientRect();
    const line = parseFloat(getComputedStyle(document.querySelector(s)).lineHeight);
    return { w: b.width, h: b.height, line };
  }, `${card} ${tid('vote-draft-title')}`);
  assert.ok(badgeBox.w < 40 && badgeBox.h <= badgeBox.line, `a small badge on the phone: ${JSON.stringify(badgeBox)}`);
  assert.equal(await overflows(phone.page), false, 'nothing wider than a 390 px phone');
  await phone.page.evaluate(() => window.scrollTo(0, 0));
  await screenshot(phone.page, 'languages-participant-fr-vote');
  await screenshot(screen.page, 'languages-screen-fr-vote');
  await screenshot(moderator.page, 'languages-moderator-fr-vote');
  await checkA11yAll([[phone.page, 'participant, French, a vote on an English-only title'], [screen.page, 'screen, French, a vote'],
    [moderator.page, 'moderator, French, a vote on an English-only title']]);
  assert.equal((await send(moderator.page, 'poll.cancel', { poll: opened.result.poll })).status, 'acked');
  await screen.page.waitForSelector(`${tid('screen-vote')}[hidden]`, { state: 'attached' });
  await screenshot(screen.page, 'languages-screen-fr-item');
  await phone.page.locator(agendaTitle(1)).scrollIntoViewIfNeeded();
  await screenshot(phone.page, 'languages-participant-fr-agenda');
  await phone.page.setViewportSize({ width: 360, height: 740 });
  assert.equal(await overflows(phone.page), false, 'nothing wider than a 360 px phone');

  // ---- switching the page's language switches the texts (and the badge goes where it belongs)
  await switchTo(phone.page, 'en');
  assert.deepEqual(await shows(phone.page, tid('current-title'), regions.title.en), { text: regions.title.en, lang: null, badge: null });
  assert.deepEqual(await shows(phone.page, tid('session-title'), definition.title.en), { text: definition.title.en, lang: null, badge: null });
  assert.equal((await shows(phone.page, agendaTitle(0), opening.title.en)).badge, null);
  assert.equal((await shows(phone.page, agendaTitle(2), debate.title.en)).badge, null);
  assert.equal((await read(phone.page, `${tid('agenda-item')}[data-index="0"] .ag-speakers`)).text, `${opening.speakers[0].en} · ${opening.speakers[1]}`);
  assert.equal(await phone.page.title(), `${definition.title.en} · Palabre`);
  await switchTo(phone.page, 'fr');
  assert.deepEqual(await shows(phone.page, tid('current-title'), regions.title.en), { text: regions.title.en, lang: 'en', badge: enBadge });
  assert.equal((await shows(phone.page, agendaTitle(0), opening.title.fr)).badge, null);

  await switchTo(screen.page, 'en');
  assert.deepEqual(await shows(screen.page, tid('current-title'), regions.title.en), { text: regions.title.en, lang: null, badge: null });
  assert.equal((await shows(screen.page, tid('next-up'), `Next: ${debate.title.en}`)).badge, null);
  assert.equal((await shows(screen.page, tid('session-title'), definition.title.en)).badge, null);

  await switchTo(moderator.page, 'en');
  assert.deepEqual(await shows(moderator.page, agendaTitle(1), regions.title.en), { text: regions.title.en, lang: null, badge: null });
  assert.equal((await shows(moderator.page, agendaTitle(3), definition.agenda[3].title.en)).badge, null);
  assert.equal((await shows(moderator.page, `${tid('draft-row')}[data-id="d1"] .vd-title`, transfer.title.en)).badge, null);
  // in English, the French-only text is the one marked
  const frOnly = await send(moderator.page, 'draft.create', { kind: 'recommendation', title: { fr: 'Dialogue intercommunautaire' }, text: { fr: 'Des rencontres chaque année.' } });
  assert.equal(frOnly.status, 'acked', JSON.stringify(frOnly.error));
  const made = await moderator.page.waitForFunction(() => {
    const d = window.__palabre.state.drafts.find((x) => x.title && x.title.fr === 'Dialogue intercommunautaire');
    return d && d.id;
  });
  const madeId = await made.jsonValue();
  const frBadge = { lang: 'fr', text: 'FR', title: NOT_EN, label: NOT_EN };
  assert.deepEqual(await shows(moderator.page, `${tid('draft-row')}[data-id="${madeId}"] .vd-title`, 'Dialogue intercommunautaire'),
    { text: 'Dialogue intercommunautaire', lang: 'fr', badge: frBadge });
  await checkA11yAll([[phone.page, 'participant, French, at 360 px'], [screen.page, 'screen, switched to English'],
    [moderator.page, 'moderator, switched to English, a French-only draft']]);

  for (const [name, p] of [['participant', phone], ['screen', screen], ['moderator', moderator]]) {
    assert.deepEqual(p.errors, [], `no errors on the ${name} page`);
  }
  await Promise.all([phone, screen, moderator].map((p) => p.context.close()));
});
