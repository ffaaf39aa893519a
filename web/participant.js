// Participant page (phone first): where the session stands, live.

import {
  connect, h, fill, setText, $t, pathSegment, participantTokenKey, bindConnBadge, itemStatus, fmtTime,
} from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const code = pathSegment(1).toUpperCase().replace(/[^A-Z0-9]/g, '');
let ready = false;

const client = code
  ? connect({ code, role: 'participant' }, { tokenKey: participantTokenKey(code) })
  : null;

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

function render() {
  if (!ready) return;
  if (!client || client.final) return showFatal(client ? client.status : 'gone');
  const s = client.state;
  if (!s) return;
  $('loading').hidden = true;
  $('content').hidden = false;
  document.title = `${s.title} · Palabre`;
  setText($('session-title'), s.title);
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setText($('join-code'), s.code || code);
  renderPhase(s);
  renderNow(s);
  renderAgenda(s);
}

function renderPhase(s) {
  const el = $('phase');
  el.dataset.phase = s.phase;
  setText(el, tv('phase', s.phase));
  const lang = currentLang();
  let note = '';
  if (s.phase === 'pending' && s.starts_at) note = t('phase.planned_start', { time: fmtTime(s.starts_at, lang, true) });
  if (s.phase === 'running' && s.started_at) note = t('phase.started_at', { time: fmtTime(s.started_at, lang) });
  if (s.phase === 'ended' && s.ended_at) note = t('phase.ended_at', { time: fmtTime(s.ended_at, lang) });
  setText($('phase-note'), note);
}

function renderNow(s) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const item = cur != null ? items[cur] : null;
  const card = $t('now');
  card.dataset.phase = s.phase;
  if (s.phase === 'ended') {
    setText($('current-kind'), '');
    setText($('current-pos'), '');
    setText($('current-title'), t('now.ended_title'));
    setText($('current-speakers'), t('now.ended_text'));
    return;
  }
  if (!item) {
    setText($('current-kind'), '');
    setText($('current-pos'), '');
    setText($('current-title'), t('now.pending_title'));
    setText($('current-speakers'), items.length ? t('now.first', { title: items[0].title }) : '');
    return;
  }
  setText($('current-kind'), tv('kind', item.kind));
  setText($('current-pos'), t('now.position', { i: cur + 1, n: items.length }));
  setText($('current-title'), item.title);
  const sp = item.speakers || [];
  setText($('current-speakers'), sp.length ? sp.join(' · ') : '');
}

function renderAgenda(s) {
  fill(
    $('agenda'),
    s.agenda.items.map((item, i) => {
      const st = itemStatus(s, i);
      const meta = [kindUnlessTitle(item), item.minutes ? t('agenda.minutes', { n: item.minutes }) : null]
        .filter(Boolean)
        .join(' · ');
      return h(
        'li',
        {
          class: `ag-item is-${st}`,
          'data-testid': 'agenda-item',
          'data-index': i,
          'data-status': st,
          'aria-current': st === 'current' ? 'step' : null,
        },
        h('span', { class: 'ag-num', 'aria-hidden': 'true' }, st === 'done' ? '✓' : String(i + 1)),
        h(
          'div',
          { class: 'ag-body' },
          h('p', { class: 'ag-title' }, item.title),
          h('p', { class: 'ag-meta' }, meta),
          item.speakers && item.speakers.length ? h('p', { class: 'ag-speakers' }, item.speakers.join(' · ')) : null,
        ),
        h('span', { class: `ag-tag tag-${st}` }, tv('agenda.status', st)),
      );
    }),
  );
}

function showFatal(status) {
  $('loading').hidden = true;
  $('content').hidden = true;
  $('fatal').hidden = false;
  const which = status === 'denied' ? 'denied' : 'gone';
  setText($('fatal-title'), t(`fatal.${which}.title`));
  setText($('fatal-text'), t(`fatal.participant.${which}`, { code: code || '—' }));
}

/** The kind's label, unless it only repeats the title ("Introduction"). */
function kindUnlessTitle(item) {
  const k = tv('kind', item.kind);
  return k.toLowerCase() === String(item.title).trim().toLowerCase() ? null : k;
}
