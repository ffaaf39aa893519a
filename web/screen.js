// Projector screen: the current item, its speakers and time, and how to join.

import {
  connect, h, fill, setText, $t, pathSegment, bindConnBadge, itemSeconds, fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const code = pathSegment(1).toUpperCase().replace(/[^A-Z0-9]/g, '');
let ready = false;

const client = code ? connect({ code, role: 'screen' }) : null;
if (client) {
  bindConnBadge($t('conn-state'), client);
  globalThis.__palabre = client; // for browser tests and debugging
  client.on('state', render);
  client.on('status', render);
}
onLangChange(render);
initI18n().finally(() => {
  ready = true;
  render();
});
every(500, tick);

function render() {
  if (!ready) return;
  if (!client || client.final) return showFatal(client ? client.status : 'gone');
  const s = client.state;
  renderJoin(s);
  if (!s) return;
  document.title = `${s.reference || s.title} · Palabre`;
  $('stage').dataset.phase = s.phase;
  setText($('session-ref'), s.reference || '');
  setText($('session-title'), s.title);
  const ph = $('phase');
  ph.dataset.phase = s.phase;
  setText(ph, s.phase === 'running' ? '' : tv('phase', s.phase));

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
    const kind = tv('kind', item.kind);
    const showKind = kind.toLowerCase() !== String(item.title).trim().toLowerCase();
    setText($('now-label'), [t('now.label'), showKind ? kind : null, `${cur + 1}/${items.length}`].filter(Boolean).join(' · '));
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
  const url = participantUrl(s, c);
  setText($('join-url'), url.replace(/^https?:\/\//, ''));
  const box = $('join-code');
  if (box.dataset.code !== c) {
    box.dataset.code = c;
    // Two groups of three read better from afar; textContent stays the bare code.
    fill(box, h('span', null, c.slice(0, 3)), h('span', null, c.slice(3)));
  }
  const qr = `/j/${encodeURIComponent(c)}/qr.svg`;
  if ($('qr').getAttribute('src') !== qr) $('qr').src = qr;
  $('qr').alt = t('join.qr_alt', { code: c });
}

function tick() {
  if (!ready || !client || !client.state) return;
  const s = client.state;
  const cur = s.agenda.current;
  const timer = $('timer');
  if (cur == null || s.phase !== 'running') {
    timer.hidden = true;
    return;
  }
  const item = s.agenda.items[cur];
  const secs = itemSeconds(s, cur, client.now());
  const planned = (Number(item.minutes) || 0) * 60;
  timer.hidden = false;
  setText($('timer-elapsed'), fmtDuration(secs));
  setText($('timer-planned'), planned ? `/ ${fmtDuration(planned)}` : '');
  timer.dataset.level = planned && secs > planned ? 'over' : planned && planned - secs <= Math.min(300, Math.max(60, planned * 0.2)) ? 'near' : 'ok';
}

function participantUrl(s, c) {
  const given = s && (s.participant_url || (s.links && s.links.participant));
  if (typeof given === 'string' && /^https?:\/\//.test(given)) return given;
  return `${location.origin}/j/${encodeURIComponent(c)}`;
}

function showFatal(status) {
  $('fatal').hidden = false;
  document.querySelector('.s-main').hidden = true;
  const which = status === 'denied' ? 'denied' : 'gone';
  setText($('fatal-title'), t(`fatal.${which}.title`));
  setText($('fatal-text'), t(`fatal.participant.${which}`, { code: code || '—' }));
}
