// Rapporteur page: the session as it unfolds, with the times held; the record.

import {
  connect, h, fill, setText, $t, pathSegment, fragmentKey, bindConnBadge, itemStatus, itemSeconds,
  fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const sessionId = pathSegment(1);
const key = fragmentKey();
let ready = false;
let liveCell = null;

const client = sessionId && key ? connect({ session: sessionId, key }) : null;
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
every(1000, tick);

function render() {
  if (!ready) return;
  if (!client || client.final) return showFatal(client ? client.status : 'denied');
  const s = client.state;
  if (!s) return;
  $('loading').hidden = true;
  $('content').hidden = false;
  const lang = currentLang();
  document.title = `${t('role.rapporteur')} · ${s.reference || s.title} · Palabre`;
  setText($('bar-title'), [s.reference, s.title].filter(Boolean).join(' · '));
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setText($('session-title'), s.title);
  const planned = [fmtTime(s.starts_at, lang, true), fmtTime(s.ends_at, lang)].filter(Boolean).join(' – ');
  setText($('planned'), planned || '—');
  const ph = $('phase');
  ph.dataset.phase = s.phase;
  setText(ph, tv('phase', s.phase));
  setText($('started-at'), s.started_at ? fmtTime(s.started_at, lang, true) : '—');
  setText($('ended-at'), s.ended_at ? fmtTime(s.ended_at, lang, true) : '—');
  renderNow(s);
  renderAgenda(s);
  renderDrafts(s);
  tick();
}

function renderNow(s) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const item = cur != null && s.phase === 'running' ? items[cur] : null;
  if (!item) {
    setText($('current-kind'), '');
    setText($('current-pos'), '');
    setText($('current-title'), s.phase === 'ended' ? t('now.ended_title') : t('now.pending_title'));
    setText($('current-speakers'), '');
    return;
  }
  setText($('current-kind'), tv('kind', item.kind));
  setText($('current-pos'), t('now.position', { i: cur + 1, n: items.length }));
  setText($('current-title'), item.title);
  setText($('current-speakers'), (item.speakers || []).join(' · '));
}

function renderAgenda(s) {
  liveCell = null;
  let planned = 0;
  const rows = s.agenda.items.map((item, i) => {
    const st = itemStatus(s, i, true);
    const secs = itemSeconds(s, i, client.now());
    planned += (Number(item.minutes) || 0) * 60;
    const held = h('td', { class: 'num', 'data-testid': 'item-time', 'data-index': i }, secs > 0 || st === 'current' ? fmtDuration(secs) : '—');
    if (st === 'current' && s.phase === 'running') liveCell = { el: held, i };
    return h(
      'tr',
      { class: `is-${st}`, 'data-testid': 'agenda-item', 'data-index': i, 'data-status': st, 'aria-current': st === 'current' ? 'step' : null },
      h('td', { class: 'num' }, String(i + 1)),
      h(
        'td',
        null,
        h('span', { class: 'ag-title' }, item.title),
        h('span', { class: 'ag-meta' }, [tv('kind', item.kind), (item.speakers || []).join(' · ')].filter(Boolean).join(' · ')),
      ),
      h('td', { class: 'num' }, item.minutes ? fmtDuration(item.minutes * 60) : '—'),
      held,
      h('td', null, h('span', { class: `ag-tag tag-${st}` }, tv('agenda.status', st))),
    );
  });
  fill($('agenda'), rows);
  setText($('total-planned'), fmtDuration(planned));
}

function renderDrafts(s) {
  const drafts = s.drafts || [];
  $('drafts-empty').hidden = drafts.length > 0;
  fill(
    $('drafts-list'),
    drafts.map((d) =>
      h(
        'li',
        { class: 'draft', 'data-testid': 'draft', 'data-id': d.id, 'data-status': d.status },
        h(
          'details',
          null,
          h(
            'summary',
            null,
            h('span', { class: 'kind' }, tv('draft.kind', d.kind)),
            ' ',
            h('span', { class: 'draft-title' }, d.title),
            ' ',
            h('span', { class: `pill draft-status st-${d.status}` }, tv('draft.status', d.status)),
            d.version ? h('span', { class: 'muted small' }, ` v${d.version}`) : null,
          ),
          h('p', { class: 'draft-text' }, d.text),
        ),
      ),
    ),
  );
}

function tick() {
  if (!ready || !client || !client.state) return;
  const s = client.state;
  const now = client.now();
  let held = 0;
  for (let i = 0; i < s.agenda.items.length; i++) held += itemSeconds(s, i, now);
  setText($('total-held'), fmtDuration(held));
  if (liveCell) setText(liveCell.el, fmtDuration(itemSeconds(s, liveCell.i, now)));
  let dur = '—';
  if (s.started_at) dur = fmtDuration(((s.phase === 'ended' && s.ended_at ? s.ended_at : now) - s.started_at) / 1000);
  setText($('duration'), dur);
}

function showFatal(status) {
  $('loading').hidden = true;
  $('content').hidden = true;
  $('fatal').hidden = false;
  const which = status === 'gone' ? 'gone' : 'denied';
  setText($('fatal-title'), t(`fatal.${which}.title`));
  setText($('fatal-text'), t(`fatal.key.${which}`));
}
