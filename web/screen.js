// Projector screen: the current item, its speakers and time, and how to join.

import { connect, h, fill, setText, fmtTime, every } from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, pathCode, startPage, showFatal, renderPhase, kindUnlessTitle } from './render.js';
import { renderJoinLink, renderTimer } from './room.js';

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
  document.title = `${s.reference || s.title} · Palabre`;
  $('stage').dataset.phase = s.phase;
  setText($('session-ref'), s.reference || '');
  setText($('session-title'), s.title);
  renderPhase(s, s.phase === 'running' ? '' : tv('phase', s.phase));

  const items = s.agenda.items;
  const cur = s.agenda.current;
  const item = cur != null ? items[cur] : null;
  const lang = currentLang();
  if (s.phase === 'ended') {
    setText($('now-label'), t('screen.ended'));
    setText($('current-title'), t('screen.thanks'));
    setText($('current-speakers'), s.ended_at ? t('phase.ended_at', { time: fmtTime(s.ended_at, lang) }) : '');
    setText($('next-up'), '');
  } else if (!item) {
    setText($('now-label'), t('screen.not_started'));
    setText($('current-title'), s.title);
    setText($('current-speakers'), s.starts_at ? t('phase.planned_start', { time: fmtTime(s.starts_at, lang) }) : '');
    setText($('next-up'), items.length ? t('now.first', { title: items[0].title }) : '');
  } else {
    setText($('now-label'), [t('now.label'), kindUnlessTitle(item), `${cur + 1}/${items.length}`].filter(Boolean).join(' · '));
    setText($('current-title'), item.title);
    setText($('current-speakers'), (item.speakers || []).join(' · '));
    setText($('next-up'), cur < items.length - 1 ? t('now.next', { title: items[cur + 1].title }) : '');
  }
  // Very long titles step down a size so they stay on the screen.
  const len = $('current-title').textContent.length;
  $('current-title').dataset.len = len > 110 ? 'xl' : len > 60 ? 'l' : 's';
  tick();
}

function renderJoin(s) {
  const c = (s && s.code) || code;
  renderJoinLink(s, c);
  const box = $('join-code');
  if (box.dataset.code !== c) {
    box.dataset.code = c;
    // Two groups of three read better from afar; textContent stays the bare code.
    fill(box, h('span', null, c.slice(0, 3)), h('span', null, c.slice(3)));
  }
}

function tick() {
  if (ready() && client && client.state) renderTimer(client.state, client.now());
}
