// Rapporteur page: the session as it unfolds, with the times held; the record.

import {
  connect, h, fill, setText, pathSegment, fragmentKey, itemStatus, itemSeconds, fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, startPage, showContent, showFatal, renderPhase, renderNow, rowAttrs, statusTag } from './render.js';

let liveCell = null;

const sessionId = pathSegment(1);
const key = fragmentKey();
const client = sessionId && key ? connect({ session: sessionId, key }) : null;
const ready = startPage(client, render);
every(1000, tick);

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'denied', 'key');
  const s = client.state;
  if (!s) return;
  showContent();
  const lang = currentLang();
  document.title = `${t('role.rapporteur')} · ${s.reference || s.title} · Palabre`;
  setText($('bar-title'), [s.reference, s.title].filter(Boolean).join(' · '));
  setText($('session-ref'), [s.reference, s.venue].filter(Boolean).join(' · '));
  setText($('session-title'), s.title);
  const planned = [fmtTime(s.starts_at, lang, true), fmtTime(s.ends_at, lang)].filter(Boolean).join(' – ');
  setText($('planned'), planned || '—');
  renderPhase(s);
  setText($('started-at'), s.started_at ? fmtTime(s.started_at, lang, true) : '—');
  setText($('ended-at'), s.ended_at ? fmtTime(s.ended_at, lang, true) : '—');
  renderNow(s, { runningOnly: true });
  renderAgenda(s);
  renderDrafts(s);
  tick();
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
      rowAttrs(i, st, `is-${st}`),
      h('td', { class: 'num' }, String(i + 1)),
      h(
        'td',
        null,
        h('span', { class: 'ag-title' }, item.title),
        h('span', { class: 'ag-meta' }, [tv('kind', item.kind), (item.speakers || []).join(' · ')].filter(Boolean).join(' · ')),
      ),
      h('td', { class: 'num' }, item.minutes ? fmtDuration(item.minutes * 60) : '—'),
      held,
      h('td', null, statusTag(st)),
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
  if (!ready() || !client || !client.state) return;
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
