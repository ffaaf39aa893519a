// Participant page (phone first): where the session stands, live.

import { connect, fill, setText, $t, participantTokenKey, itemStatus } from './client.js';
import { t } from './i18n.js';
import {
  $, pathCode, startPage, showContent, showFatal, renderPhase, renderNow, agendaRow, itemMeta,
} from './render.js';

const code = pathCode();

const client = code
  ? connect({ code, role: 'participant' }, { tokenKey: participantTokenKey(code) })
  : null;

startPage(client, render);

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'gone', 'participant', code);
  const s = client.state;
  if (!s) return;
  showContent();
  document.title = `${s.title} · Palabre`;
  setText($('session-title'), s.title);
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setText($('join-code'), s.code || code);
  renderPhase(s);
  $t('now').dataset.phase = s.phase;
  renderNow(s, { idle: idleText });
  fill($('agenda'), s.agenda.items.map((item, i) => agendaRow(s, i, itemStatus(s, i), itemMeta(item), { speakers: true })));
}

/** Under the "now" title with no current item: the closing words, or what comes first. */
function idleText(s) {
  const items = s.agenda.items;
  if (s.phase === 'ended') return t('now.ended_text');
  return items.length ? t('now.first', { title: items[0].title }) : '';
}
