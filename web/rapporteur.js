// Rapporteur page: the session as it unfolds, with the times held; the record; the draft
// texts with what was decided about each (the vote's figures, or adopted by consensus).

import {
  connect, h, fill, setText, pathSegment, fragmentKey, itemStatus, itemSeconds, fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, startPage, showContent, showFatal, renderPhase, renderNow, rowAttrs, statusTag } from './render.js';
import {
  loc, draftsOf, draftPolls, decidingPoll, decision, isRoster, countsText, turnoutText, settingsText, ruleText,
} from './votes.js';

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

/** Draft rows, kept across renders: a tally redraws the figures only, and an unfolded text stays open. */
const draftRows = new Map(); // id → {li, sig, figures}

function renderDrafts(s) {
  const drafts = draftsOf(s);
  const roster = isRoster(s);
  const lang = currentLang();
  $('drafts-empty').hidden = drafts.length > 0;
  const seen = new Set();
  const els = drafts.map((d) => {
    seen.add(d.id);
    const sig = JSON.stringify([lang, d.kind, d.title, d.text, d.status, d.adopted_by, d.version]);
    let row = draftRows.get(d.id);
    if (!row || row.sig !== sig) {
      const open = row ? row.li.querySelector('details').open : false;
      const figures = h('div', { class: 'draft-figures', 'data-testid': 'draft-figures' });
      const statusLabel = d.status === 'adopted' && d.adopted_by === 'consensus' ? t('votes.status_consensus') : tv('draft.status', d.status);
      const li = h(
        'li',
        { class: 'draft', 'data-testid': 'draft', 'data-id': d.id },
        h(
          'details',
          { open },
          h(
            'summary',
            null,
            h('span', { class: 'kind' }, tv('draft.kind', d.kind)),
            ' ',
            h('span', { class: 'draft-title' }, loc(d.title)),
            ' ',
            h('span', { class: `pill draft-status st-${d.status}` }, statusLabel),
            d.version ? h('span', { class: 'muted small' }, ` v${d.version}`) : null,
          ),
          h('p', { class: 'draft-text' }, loc(d.text)),
        ),
        figures,
      );
      if (row) row.li.replaceWith(li);
      row = { li, sig, figures, figSig: null };
      draftRows.set(d.id, row);
    }
    row.li.dataset.status = d.status;
    renderFigures(row, s, d, roster, lang);
    return row.li;
  });
  for (const id of [...draftRows.keys()]) if (!seen.has(id)) draftRows.delete(id);
  const list = $('drafts-list');
  els.forEach((el, i) => {
    if (list.children[i] !== el) list.insertBefore(el, list.children[i] || null);
  });
  while (list.children.length > els.length) list.lastElementChild.remove();
}

/** What was decided, with the vote's figures (or "by consensus"); the live figures while voting. */
function renderFigures(row, s, d, roster, lang) {
  const dec = decision(s, d);
  const live = d.status === 'voting' ? decidingPoll(s, d) : null;
  const earlier = draftPolls(s, d.id).filter((p) => p.status === 'closed' && p.outcome === 'no_quorum' && (!dec.poll || p.id !== dec.poll.id));
  const fig = (p) => [p.id, p.status, p.outcome, JSON.stringify(p.counts), p.cast, p.cast_weight, p.eligible, p.closed_at, p.method, p.quorum].join('|');
  const sig = JSON.stringify([lang, dec.outcome, dec.poll && fig(dec.poll), live && fig(live), earlier.map(fig)]);
  if (sig === row.figSig) return;
  row.figSig = sig;
  const el = row.figures;
  el.dataset.outcome = dec.outcome || (live ? 'voting' : '');
  const lines = [];
  const pollLines = (p, head) => [
    h('p', { class: 'fig-head' }, head),
    h('p', { class: 'fig-counts' }, [countsText(p), turnoutText(p, roster)].filter(Boolean).join(' · ')),
    h('p', { class: 'fig-rule muted small' }, [settingsText(p), ruleText(p)].filter(Boolean).join(' — ')),
  ];
  for (const p of earlier) {
    lines.push(h('div', { class: 'fig is-no_quorum' }, pollLines(p, t('votes.outcome_earlier', { outcome: tv('votes.outcome', 'no_quorum'), time: fmtTime(p.closed_at, lang) }))));
  }
  if (dec.outcome === 'consensus') {
    lines.push(h('div', { class: 'fig is-consensus' }, h('p', { class: 'fig-head' }, t('votes.by_consensus'))));
  } else if (dec.poll && dec.outcome !== 'no_quorum') {
    lines.push(h('div', { class: `fig is-${dec.outcome}` }, pollLines(dec.poll, t('votes.outcome_head', { outcome: tv('votes.outcome', dec.outcome), time: fmtTime(dec.poll.closed_at, lang) }))));
  } else if (dec.poll && !earlier.includes(dec.poll)) {
    lines.push(h('div', { class: 'fig is-no_quorum' }, pollLines(dec.poll, t('votes.outcome_earlier', { outcome: tv('votes.outcome', 'no_quorum'), time: fmtTime(dec.poll.closed_at, lang) }))));
  }
  if (live) lines.push(h('div', { class: 'fig is-voting' }, pollLines(live, t('votes.voting_now'))));
  el.hidden = lines.length === 0;
  fill(el, lines);
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
