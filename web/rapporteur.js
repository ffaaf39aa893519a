// Rapporteur page: the session as it unfolds, with the times held; the record; the draft
// texts with what was decided about each (the vote's figures, or adopted by consensus); the
// rapporteur's notes (`record.note`), the finalisation (`record.finalise`, once the session
// has ended) with the digest, and the exports, fetched with the key as a bearer header.

import {
  connect, h, fill, setText, pathSegment, fragmentKey, itemStatus, itemSeconds, fmtDuration, fmtTime, every, styleWhenLoaded,
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
if (client) wireRecord();

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
  renderRecord();
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

// ---------------------------------------------------------------- notes, finalisation, exports
//
// The state view carries neither the notes nor the seal: they come from record.json (fetched
// with the key on load, after every full welcome and after the record's events), and the
// `record.noted` and `record.finalised` events are folded in as they come.

const rec = {
  notes: new Map(), // id → {id, text, at}
  finalised: null, // {at, digest}
  loading: false,
  again: false,
  timer: null,
  note: null, // the note command on its way
  finalise: null, // the finalise command on its way
  justFinalised: false,
  url: null, // blob: URL of the last minutes opened
};

/** A record export of this session, fetched with the key (never in the URL). */
function api(name) {
  return fetch(`/api/sessions/${encodeURIComponent(sessionId)}/${name}`, {
    headers: { Authorization: `Bearer ${key}` },
    cache: 'no-store',
  });
}

async function loadRecord() {
  if (rec.loading) {
    rec.again = true;
    return;
  }
  rec.loading = true;
  try {
    const res = await api('record.json');
    if (res.ok) {
      const r = await res.json();
      for (const n of Array.isArray(r.notes) ? r.notes : []) if (n && n.id != null) rec.notes.set(String(n.id), n);
      if (typeof r.digest === 'string' && r.digest) {
        rec.finalised = { at: (r.finalised && r.finalised.at) ?? rec.finalised?.at ?? null, digest: r.digest };
      }
      if (ready()) renderRecord();
    }
  } catch {
    /* offline: the next welcome fetches it again */
  } finally {
    rec.loading = false;
    if (rec.again) {
      rec.again = false;
      loadRecord();
    }
  }
}

/** Fetches record.json again shortly (events come in bursts). */
function refreshSoon(ms = 400) {
  clearTimeout(rec.timer);
  rec.timer = setTimeout(loadRecord, ms);
}

function wireRecord() {
  client.on('welcome', (msg) => {
    if (msg.state) refreshSoon(0);
  });
  client.on('event', (ev) => {
    if (!ev || typeof ev.kind !== 'string') return;
    if (ev.kind === 'record.noted' && ev.note != null && typeof ev.text === 'string') {
      rec.notes.set(String(ev.note), { id: String(ev.note), text: ev.text, at: ev.at });
    } else if (ev.kind === 'record.finalised' && typeof ev.digest === 'string') {
      rec.finalised = { at: ev.at ?? null, digest: ev.digest };
    }
    if (ev.kind.startsWith('record.') || ev.kind === 'session.ended') {
      if (ready()) renderRecord();
      refreshSoon();
    }
  });
  client.on('command', onCommand);

  $('note-form').addEventListener('submit', (e) => {
    e.preventDefault();
    sendNote();
  });
  $('note-text').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      sendNote();
    }
  });

  $('btn-finalise').addEventListener('click', () => {
    if ($('btn-finalise').disabled || rec.finalise) return;
    $('finalise-confirm').hidden = false;
    $('btn-finalise').hidden = true;
    $('btn-finalise').setAttribute('aria-expanded', 'true');
    $('btn-finalise-cancel').focus();
  });
  $('btn-finalise-cancel').addEventListener('click', closeFinaliseConfirm);
  $('finalise-confirm').addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeFinaliseConfirm();
  });
  $('btn-finalise-confirm').addEventListener('click', () => {
    closeFinaliseConfirm();
    rec.justFinalised = true;
    rec.finalise = client.send('record.finalise', {});
    setStatus('final-status', t('rap.finalising'), 'info');
    renderRecord();
  });

  for (const b of document.querySelectorAll('[data-export]')) b.addEventListener('click', () => exportOne(b));
}

function closeFinaliseConfirm() {
  $('finalise-confirm').hidden = true;
  $('btn-finalise').hidden = false;
  $('btn-finalise').setAttribute('aria-expanded', 'false');
  $('btn-finalise').focus();
}

function setStatus(id, text, kind = 'info') {
  const el = $(id);
  el.dataset.kind = kind;
  setText(el, text);
}

/** Why a command was refused, in the page's language (with the server's words). */
function reason(c) {
  const e = c.error || {};
  const label = tv('error', e.code || 'invalid');
  return e.message ? `${label} (${e.message})` : label;
}

function sendNote() {
  const box = $('note-text');
  const text = box.value.trim();
  if (rec.finalised || rec.note) return;
  if (!text) {
    setStatus('note-status', t('rap.note_empty'), 'error');
    box.focus();
    return;
  }
  rec.note = client.send('record.note', { text });
  onCommand(rec.note);
}

function onCommand(c) {
  if (c === rec.note) {
    if (c.status === 'queued') setStatus('note-status', t('rap.note_queued'), 'info');
    else if (c.status === 'sent') setStatus('note-status', t('rap.note_sending'), 'info');
    else {
      rec.note = null;
      if (c.status === 'acked') {
        const box = $('note-text');
        if (box.value.trim() === c.fields.text) box.value = '';
        setStatus('note-status', t('rap.note_added'), 'ok');
        refreshSoon();
      } else {
        setStatus('note-status', t('rap.note_refused', { reason: reason(c) }), 'error');
      }
    }
    $('note-submit').setAttribute('aria-busy', String(!!rec.note));
  } else if (c === rec.finalise) {
    if (c.status === 'queued') setStatus('final-status', t('rap.note_queued'), 'info');
    if (c.status === 'acked' || c.status === 'refused' || c.status === 'cancelled') {
      rec.finalise = null;
      if (c.status === 'refused') {
        rec.justFinalised = false;
        setStatus('final-status', t('rap.finalise_refused', { reason: reason(c) }), 'error');
      } else {
        setStatus('final-status', '', 'info');
      }
      refreshSoon(0);
      if (ready()) renderRecord();
    }
  }
}

function renderRecord() {
  if (!client || !client.state) return;
  const s = client.state;
  const lang = currentLang();
  const final = rec.finalised;

  // Notes, in the order they were taken.
  const notes = [...rec.notes.values()].sort((a, b) => (Number(a.at) || 0) - (Number(b.at) || 0));
  const sig = JSON.stringify([lang, notes.map((n) => [n.id, n.at, n.text])]);
  const list = $('notes-list');
  if (list.dataset.sig !== sig) {
    list.dataset.sig = sig;
    fill(list, notes.map((n) => h(
      'li',
      { class: 'note', 'data-testid': 'note', 'data-id': n.id },
      h('time', { class: 'note-time', datetime: Number.isFinite(Number(n.at)) ? new Date(Number(n.at)).toISOString() : null }, n.at ? fmtTime(n.at, lang) : ''),
      h('p', { class: 'note-text' }, n.text),
    )));
  }
  $('notes-empty').hidden = notes.length > 0;
  const closed = !!final;
  $('note-text').disabled = closed;
  $('note-submit').disabled = closed;
  // Once final, the form gives way to a line saying so.
  for (const id of ['note-text', 'note-submit']) $(id).hidden = closed;
  $('note-form').querySelector('.field-label').hidden = closed;
  $('note-hint').textContent = closed ? t('rap.note_closed') : t('rap.note_hint');

  // Finalisation.
  $('final').dataset.final = String(closed);
  $('final-open').hidden = closed;
  $('final-done').hidden = !closed;
  if (closed) {
    const first = $('digest').textContent !== final.digest;
    setText($('digest'), final.digest);
    setText($('final-at'), final.at ? t('rap.final_at', { time: fmtTime(final.at, lang, true) }) : '');
    if (first && rec.justFinalised) {
      rec.justFinalised = false;
      $('digest').setAttribute('tabindex', '-1');
      $('digest').focus();
    }
  } else {
    const ended = s.phase === 'ended';
    setText($('final-note'), ended ? t('rap.final_ready') : t('rap.final_pending'));
    const btn = $('btn-finalise');
    btn.disabled = !ended;
    btn.setAttribute('aria-busy', String(!!rec.finalise));
    if (!ended && !$('finalise-confirm').hidden) {
      $('finalise-confirm').hidden = true;
      btn.hidden = false;
    }
  }
}

/** A file name for an export: "SOU-94-record.json". */
function fileName(name) {
  const s = (client && client.state) || {};
  const base = String(s.reference || s.code || 'palabre').replace(/[^\w.-]+/g, '-').replace(/^-+|-+$/g, '') || 'palabre';
  return `${base}-${name}`;
}

async function exportOne(btn) {
  if (btn.getAttribute('aria-busy') === 'true') return;
  const name = btn.dataset.export;
  btn.setAttribute('aria-busy', 'true');
  $('export-fallback').hidden = true;
  setStatus('export-status', '', 'info');
  try {
    const res = await api(name);
    if (!res.ok) {
      setStatus('export-status', t('rap.export_failed', { status: res.status }), 'error');
      return;
    }
    if (name === 'record.html') {
      openMinutes(await res.text());
    } else {
      const blob = await res.blob();
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = fileName(name);
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      setStatus('export-status', t('rap.export_done', { file: a.download }), 'ok');
    }
  } catch {
    setStatus('export-status', t('rap.export_network'), 'error');
  } finally {
    btn.setAttribute('aria-busy', 'false');
  }
}

/**
 * The minutes in a new tab, from a blob: URL. That page inherits this one's
 * Content-Security-Policy, which refuses an inline <style>: its rules are taken out and given
 * to it as a constructed stylesheet once it is open (as the console does with the voting cards).
 */
function openMinutes(html) {
  let css = '';
  const body = html.replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (m, rules) => {
    css += `${rules}\n`;
    return '';
  });
  if (rec.url) URL.revokeObjectURL(rec.url);
  rec.url = URL.createObjectURL(new Blob([body], { type: 'text/html;charset=utf-8' }));
  const w = window.open(rec.url, '_blank');
  $('export-link').href = rec.url;
  if (!w) {
    $('export-fallback').hidden = false;
    $('export-link').focus();
    return;
  }
  if (css) styleWhenLoaded(w, rec.url, css);
  setStatus('export-status', t('rap.export_opened'), 'ok');
}
