// Projector screen: the current item, its speakers and time, and how to join;
// during the debate, the highlighted question (or the most upvoted ones) and the
// list of speakers with the speaking time; during a vote, the text with the live
// tally, then the outcome in very large type with the rule applied.

import {
  connect, h, fill, setText, fmtTime, fmtDuration, every, byUpvotes, speakingSeconds, timerLevel, loc, setLangText, setLangList,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import {
  $, pathCode, startPage, showFatal, renderPhase, kindUnlessTitle, nextUp,
  pollDraft, voteNumbers, methodText, ruleText, turnoutText, pollsByTime, fmtNum, fmtPct,
} from './render.js';
import { renderJoinLink, renderTimer } from './room.js';

/** How many questions and waiting speakers the screen lists. */
const TOP_QUESTIONS = 5;
const NEXT_SPEAKERS = 3;

const code = pathCode();

const client = code ? connect({ code, role: 'screen' }) : null;
const ready = startPage(client, render);
every(500, tick);

function render() {
  if (!client || client.final) {
    document.querySelector('.s-main').hidden = true;
    return showFatal(client ? client.status : 'gone', 'participant', code);
  }
  const s = client.state;
  renderJoin(s);
  if (!s) return;
  document.title = `${s.reference || loc(s.title)} · Palabre`;
  $('stage').dataset.phase = s.phase;
  setText($('session-ref'), s.reference || '');
  setLangText($('session-title'), s.title);
  renderPhase(s, s.phase === 'running' ? '' : tv('phase', s.phase));

  const items = s.agenda.items;
  const cur = s.agenda.current;
  const item = cur != null ? items[cur] : null;
  const lang = currentLang();
  if (s.phase === 'ended') {
    setText($('now-label'), t('screen.ended'));
    setLangText($('current-title'), t('screen.thanks'));
    setLangText($('current-speakers'), s.ended_at ? t('phase.ended_at', { time: fmtTime(s.ended_at, lang) }) : '');
    nextUp($('next-up'), 'now.next', null);
  } else if (!item) {
    setText($('now-label'), t('screen.not_started'));
    setLangText($('current-title'), s.title);
    setLangText($('current-speakers'), s.starts_at ? t('phase.planned_start', { time: fmtTime(s.starts_at, lang, true) }) : '');
    nextUp($('next-up'), 'now.first', items[0]);
  } else {
    setText($('now-label'), [t('now.label'), kindUnlessTitle(item), `${cur + 1}/${items.length}`].filter(Boolean).join(' · '));
    setLangText($('current-title'), item.title);
    setLangList($('current-speakers'), item.speakers);
    nextUp($('next-up'), 'now.next', cur < items.length - 1 ? items[cur + 1] : null);
  }
  // Very long titles step down a size so they stay on the screen.
  const len = $('current-title').textContent.length;
  $('current-title').dataset.len = len > 110 ? 'xl' : len > 60 ? 'l' : 's';

  const vote = renderVote(s);
  let questions = false;
  let floor = false;
  if (vote) {
    // A vote takes the stage: the debate waits behind it.
    $('questions').hidden = true;
    $('floor').hidden = true;
  } else {
    questions = renderQuestions(s);
    floor = renderFloor(s);
  }
  if (vote) $('stage').dataset.vote = vote;
  else delete $('stage').dataset.vote;
  $('stage').dataset.questions = String(questions);
  $('stage').dataset.debate = String(questions || floor);
  renderJoin(s);
  fitTop();
  tick();
}

// ---------------------------------------------------------------- votes

/**
 * The poll the screen shows: the open one (the latest opened); else the latest closed
 * one, until the agenda moves on, a question is put on screen, or another poll opens.
 */
function shownPoll(s) {
  if (s.phase === 'ended') return null;
  const { open, ended } = pollsByTime(s);
  if (open.length) return open[open.length - 1];
  const last = ended[0];
  if (!last || last.status !== 'closed') return null;
  const since = s.agenda && s.agenda.since;
  if (since != null && last.closed_at != null && since > last.closed_at) return null;
  if (s.highlighted != null) return null;
  return last;
}

/** The vote on the stage; returns `open`, `closed` or null (nothing shown). */
function renderVote(s) {
  const p = shownPoll(s);
  const box = $('vote');
  box.hidden = !p;
  if (!p) return null;
  const open = p.status === 'open';
  const d = pollDraft(s, p);
  box.dataset.poll = p.id;
  box.dataset.status = p.status;
  setText($('vote-label'), [t(open ? 'screen.vote.open' : 'screen.vote.result'), d.kind].filter(Boolean).join(' · '));
  setLangText($('vote-title'), d.draft ? d.draft.title : '');
  const tl = d.title.length;
  $('vote-title').dataset.len = tl > 110 ? 'xl' : tl > 60 ? 'l' : 's';
  setLangText($('vote-text'), open && d.draft ? d.draft.text : '');
  const n0 = d.text.length;
  $('vote-text').dataset.len = n0 > 1200 ? 'xl' : n0 > 600 ? 'l' : n0 > 280 ? 'm' : 's';
  $('vote-text').hidden = !open || !d.text;

  const outcomeBox = $('outcome-box');
  outcomeBox.hidden = open;
  const out = $('outcome');
  out.dataset.outcome = open ? '' : p.outcome || '';
  setText(out, open ? '' : tv('vote.outcome', p.outcome));
  setText($('rule'), open ? '' : ruleText(p));

  const n = voteNumbers(p);
  $('tally').hidden = !n;
  for (const li of $('tally').children) {
    const ch = li.dataset.choice;
    li.querySelector('.s-bar-word').textContent = tv('vote.choice', ch);
    if (!n) continue;
    li.dataset.count = String(n.counts[ch]);
    setText(li.querySelector('.s-bar-num'), `${fmtNum(n.counts[ch])} · ${fmtPct(n.share[ch])}`);
    li.querySelector('.s-bar-fill').style.width = `${(n.share[ch] * 100).toFixed(1)}%`;
  }
  $('tally-hidden').hidden = !!n || !open;
  setText($('tally-hidden'), t('screen.vote.hidden'));
  setText($('turnout'), turnoutText(p));
  setText($('vote-method'), open ? methodText(p) : '');
  return p.status;
}

/** On the 16:9 stage the list has the height it has: the last questions go rather than one cut in half. */
function fitTop() {
  const ol = $('top-questions');
  if ($('top-block').hidden) return;
  while (ol.children.length > 1 && ol.scrollHeight > ol.clientHeight + 1) ol.lastElementChild.remove();
}

addEventListener('resize', () => {
  if (ready()) render();
});

function renderJoin(s) {
  const c = (s && s.code) || code;
  const voting = $('stage').dataset.vote === 'open';
  setText($('join-label'), voting ? t('screen.vote.join') : s && s.qa_open && s.phase !== 'ended' ? t('screen.ask_hint') : t('screen.follow'));
  renderJoinLink(s, c);
  const box = $('join-code');
  if (box.dataset.code !== c) {
    box.dataset.code = c;
    // Two groups of three read better from afar; textContent stays the bare code.
    fill(box, h('span', null, c.slice(0, 3)), h('span', null, c.slice(3)));
  }
}

// ---------------------------------------------------------------- questions

/** The highlighted question, very large; else, while Q&A is open, the most upvoted. Returns whether shown. */
function renderQuestions(s) {
  const live = s.phase !== 'ended';
  const list = (s.questions || []).filter((q) => q.status === 'approved');
  const hl = live && s.highlighted != null ? list.find((q) => q.id === s.highlighted) : null;
  // With nothing approved yet, the current item keeps its size; the join box invites questions.
  const top = live && s.qa_open && !hl && list.length > 0;
  const box = $('highlighted');
  box.hidden = !hl;
  if (hl) {
    box.dataset.id = hl.id;
    setText($('hl-text'), hl.text);
    setText($('hl-name'), hl.name || t('screen.anonymous'));
    $('hl-name').classList.toggle('is-anon', !hl.name);
    setText($('hl-votes'), t('screen.upvotes', { n: Number(hl.upvotes) || 0 }));
    const n = hl.text.length;
    $('hl-text').dataset.len = n > 280 ? 'xl' : n > 140 ? 'l' : 's';
  } else {
    delete box.dataset.id;
  }
  $('top-block').hidden = !top;
  if (top) {
    fill($('top-questions'), list.slice().sort(byUpvotes).slice(0, TOP_QUESTIONS).map(topItem));
  }
  $('questions').hidden = !hl && !top;
  return !!(hl || top);
}

function topItem(q) {
  const n = Number(q.upvotes) || 0;
  return h(
    'li',
    { class: 's-q', 'data-testid': 'screen-question', 'data-id': q.id, 'data-upvotes': n },
    h('span', { class: 's-q-votes' }, h('span', { 'aria-hidden': 'true', class: 's-q-arrow' }, '▲'), String(n),
      h('span', { class: 'visually-hidden' }, ` ${t('screen.upvotes', { n })}`)),
    h(
      'span',
      { class: 's-q-body' },
      h('span', { class: 's-q-text' }, q.text),
      h('span', { class: q.name ? 's-q-name' : 's-q-name is-anon' }, q.name || t('screen.anonymous')),
    ),
  );
}

// ---------------------------------------------------------------- list of speakers

/** Who speaks now with their time, and the next ones. Returns whether shown. */
function renderFloor(s) {
  const f = s.floor || {};
  const queue = f.queue || [];
  const sp = f.speaking;
  const shown = s.phase !== 'ended' && !!(sp || queue.length || s.qa_open);
  $('floor').hidden = !shown;
  if (!shown) return false;
  $('floor-speaking').hidden = !sp;
  $('floor-empty').hidden = !!sp || queue.length > 0;
  if (sp) {
    $('floor-speaking').dataset.id = sp.id;
    setText($('sp-name'), sp.name || '');
    setText($('sp-org'), sp.organisation || '');
  }
  $('next-block').hidden = queue.length === 0;
  fill(
    $('floor-next'),
    queue.slice(0, NEXT_SPEAKERS).map((r, i) => h(
      'li',
      { class: 's-nx', 'data-id': r.id },
      h('span', { class: 's-nx-num', 'aria-hidden': 'true' }, `${i + 1}.`),
      h('span', { class: 's-nx-name' }, r.name || ''),
      r.organisation ? h('span', { class: 's-nx-org' }, r.organisation) : null,
    )),
  );
  const more = queue.length - NEXT_SPEAKERS;
  setText($('floor-more'), more > 0 ? t('screen.more_waiting', { n: more }) : '');
  return true;
}

/** The speaking time against the turn's limit: amber in its last fifth (as on the console), red over. */
function renderFloorTimer(s, nowMs) {
  const sp = s.floor && s.floor.speaking;
  const el = $('floor-timer');
  if (!sp) return;
  const secs = speakingSeconds(s, nowMs);
  const limit = Number(sp.limit_seconds) || 0;
  setText($('floor-elapsed'), fmtDuration(secs));
  setText($('floor-limit'), limit ? `/ ${fmtDuration(limit)}` : '');
  el.dataset.level = timerLevel(secs, limit, limit * 0.2);
}

function tick() {
  if (!ready() || !client || !client.state) return;
  const now = client.now();
  renderTimer(client.state, now);
  renderFloorTimer(client.state, now);
}
