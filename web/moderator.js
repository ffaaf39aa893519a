// Moderator console: moves the room through the agenda, opens Q&A, ends the session.

import {
  connect, h, fill, setText, pathSegment, fragmentKey, itemStatus, itemSeconds, fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, startPage, showContent, showFatal, renderPhase, renderNow, agendaRow, itemMeta } from './render.js';
import { renderJoinLink, renderTimer } from './room.js';

const LOG_SIZE = 8;
let liveCell = null; // the agenda cell whose time ticks (current item)
let toastTimer = null;

const sessionId = pathSegment(1);
const key = fragmentKey();
const client = sessionId && key ? connect({ session: sessionId, key }) : null;
const ready = startPage(client, render, () => {
  render();
  renderPresence();
  renderLog();
});
if (client) {
  client.on('presence', renderPresence);
  client.on('command', onCommand);
}

// ---------------------------------------------------------------- actions

// While a move is unanswered the buttons say so (aria-busy) and ignore clicks,
// so a double click cannot skip an item; they are not disabled, to keep focus.
$('btn-next').addEventListener('click', () => client && !busy() && client.send('agenda.next'));
$('btn-prev').addEventListener('click', () => client && !busy() && client.send('agenda.prev'));
$('btn-qa').addEventListener('click', () => {
  if (!client || !client.state) return;
  client.send(client.state.qa_open ? 'qa.close' : 'qa.open');
});
$('btn-end').addEventListener('click', () => {
  if (busy()) return;
  $('end-confirm').hidden = false;
  $('btn-end').hidden = true;
  $('btn-end-cancel').focus();
});
$('btn-end-cancel').addEventListener('click', closeConfirm);
$('btn-end-confirm').addEventListener('click', () => {
  closeConfirm();
  $('btn-end').focus();
  if (client && !busy()) client.send('session.end');
});
$('agenda').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-goto]');
  if (b && client && !b.disabled && !busy()) client.send('agenda.goto', { item: Number(b.dataset.goto) });
});
$('cmd-log').addEventListener('click', (e) => {
  const b = e.target.closest('button[data-cancel]');
  if (b && client) client.cancel(b.dataset.cancel);
});
document.addEventListener('keydown', (e) => {
  if (e.key === 'Escape' && !$('end-confirm').hidden) closeConfirm();
});

function closeConfirm() {
  $('end-confirm').hidden = true;
  $('btn-end').hidden = false;
}

every(500, tick);

// ---------------------------------------------------------------- rendering

/** True while an agenda or end command is unanswered: one move at a time. */
function busy() {
  return client.pending('agenda.').length > 0 || client.pending('session.').length > 0;
}

function render() {
  if (!client || client.final) return showFatal(client ? client.status : 'denied', 'key');
  const s = client.state;
  if (!s) return;
  showContent();
  document.title = `${t('role.moderator')} · ${s.reference || s.title} · Palabre`;
  setText($('bar-title'), [s.reference, s.title].filter(Boolean).join(' · '));
  renderPhase(s);
  renderNow(s);
  renderButtons(s);
  renderAgenda(s);
  renderJoin(s);
  renderQa(s);
  renderEnd(s);
  tick();
}

function renderButtons(s) {
  const items = s.agenda.items;
  const cur = s.agenda.current;
  const b = busy();
  const pending = s.phase === 'pending';
  const next = $('btn-next');
  next.dataset.mode = pending ? 'start' : 'next';
  setText($('btn-next-label'), pending ? t('cmd.start') : t('cmd.next'));
  next.disabled = s.phase === 'ended' || (cur != null && cur >= items.length - 1);
  $('btn-prev').disabled = s.phase !== 'running' || cur == null || cur <= 0;
  next.setAttribute('aria-busy', String(b));
  $('btn-prev').setAttribute('aria-busy', String(b));

  let up = '';
  if (s.phase === 'pending' && items.length) up = t('now.first', { title: items[0].title });
  else if (s.phase === 'running' && cur != null && cur < items.length - 1) up = t('now.next', { title: items[cur + 1].title });
  else if (s.phase === 'running' && cur === items.length - 1) up = t('now.last_item');
  setText($('next-up'), up);
}

function renderAgenda(s) {
  const b = busy();
  liveCell = null;
  const now = client.now();
  let planned = 0;
  let held = 0;
  const rows = s.agenda.items.map((item, i) => {
    const st = itemStatus(s, i, true);
    const secs = itemSeconds(s, i, now);
    planned += (Number(item.minutes) || 0) * 60;
    held += secs;
    const time = h(
      'span',
      { class: 'ag-time', 'data-testid': 'item-time', 'data-index': i },
      secs > 0 || st === 'current' ? fmtDuration(secs) : '',
    );
    if (st === 'current' && s.phase === 'running') liveCell = { el: time, i };
    const meta = itemMeta(item, (item.speakers || []).join(' · ') || null);
    const goto = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-small',
        'data-testid': 'btn-goto',
        'data-goto': i,
        'data-index': i,
        disabled: s.phase === 'ended' || s.agenda.current === i,
        'aria-busy': b ? 'true' : null,
        'aria-label': t('cmd.goto_item', { i: i + 1, title: item.title }),
      },
      t('cmd.goto'),
    );
    return agendaRow(s, i, st, meta, { after: [time, goto] });
  });
  const focused = document.activeElement && document.activeElement.dataset ? document.activeElement.dataset.goto : undefined;
  fill($('agenda'), rows);
  if (focused !== undefined) {
    const again = $('agenda').querySelector(`button[data-goto="${focused}"]`);
    if (again && !again.disabled) again.focus();
  }
  const total = $('agenda-total');
  total.dataset.planned = String(planned);
  setText(total, t('agenda.total', { planned: fmtDuration(planned), held: fmtDuration(held) }));
}

function renderJoin(s) {
  const code = s.code || client.code || '';
  setText($('join-code'), code);
  const { url, qr } = renderJoinLink(s, code);
  $('link-participant').href = url;
  $('link-screen').href = `/screen/${encodeURIComponent(code)}`;
  $('qr-link').href = qr;
}

function renderQa(s) {
  const open = !!s.qa_open;
  const pill = $('qa-state');
  pill.dataset.open = String(open);
  setText(pill, open ? t('qa.open') : t('qa.closed'));
  const btn = $('btn-qa');
  btn.setAttribute('aria-pressed', String(open));
  setText(btn, open ? t('qa.close_btn') : t('qa.open_btn'));
  btn.disabled = s.phase === 'ended' || client.pending('qa.').length > 0;
}

function renderEnd(s) {
  const ended = s.phase === 'ended';
  $('btn-end').disabled = ended;
  $('btn-end').setAttribute('aria-busy', String(busy()));
  if (ended) closeConfirm();
}

function renderPresence() {
  if (!ready() || !client || !client.presence) return;
  const p = client.presence;
  $('presence').hidden = false;
  const n = Number(p.participants) || 0;
  setText($('connected-count'), String(n));
  setText($('connected-label'), t('presence.participants', { n }));
  $('presence').title = t('presence.total', { n: Number(p.connected) || 0 });
  $('presence').dataset.connected = String(p.connected);
}

/** Live numbers: current item time against its plan; the ticking agenda cell. */
function tick() {
  if (!ready() || !client || !client.state) return;
  const s = client.state;
  const shown = renderTimer(s, client.now());
  if (!shown) return;
  const { secs, planned } = shown;
  let left = '';
  if (planned) {
    const remaining = planned - secs;
    left = remaining >= 0
      ? t('timer.left', { time: fmtDuration(remaining) })
      : t('timer.over', { time: fmtDuration(-remaining) });
  }
  $('timer-fill').style.width = planned ? `${Math.min(100, (secs / planned) * 100).toFixed(1)}%` : '0';
  setText($('timer-left'), left);
  if (liveCell) setText(liveCell.el, fmtDuration(itemSeconds(s, liveCell.i, client.now())));
}

// ---------------------------------------------------------------- command fates

function onCommand(rec) {
  renderLog();
  if (client.state) {
    renderButtons(client.state);
    renderAgenda(client.state);
    renderQa(client.state);
    renderEnd(client.state);
  }
  if (rec.status === 'refused') toast(`${opLabel(rec)}: ${reason(rec)}`);
}

function opLabel(rec) {
  const i = rec.fields && rec.fields.item != null ? Number(rec.fields.item) + 1 : '';
  return t(`op.${rec.op}`, { i });
}

function reason(rec) {
  const e = rec.error || {};
  const base = tv('error', e.code || 'invalid');
  return e.message ? `${base} (${e.message})` : base;
}

function renderLog() {
  if (!ready() || !client) return;
  const recs = client.commands.slice(-LOG_SIZE).reverse();
  $('cmd-empty').hidden = recs.length > 0;
  fill(
    $('cmd-log'),
    recs.map((rec) =>
      h(
        'li',
        { class: `cmd is-${rec.status}`, 'data-testid': 'cmd-entry', 'data-status': rec.status, 'data-op': rec.op, 'data-id': rec.id },
        h('span', { class: 'cmd-time' }, fmtTime(rec.at, currentLang())),
        h('span', { class: 'cmd-op' }, opLabel(rec)),
        h('span', { class: 'cmd-status' }, tv('cmd.status', rec.status)),
        rec.status === 'refused' ? h('span', { class: 'cmd-reason' }, reason(rec)) : null,
        rec.status === 'queued' && !rec.wired
          ? h('button', { type: 'button', class: 'btn btn-small', 'data-cancel': rec.id, 'data-testid': 'cmd-cancel' }, t('common.cancel'))
          : null,
      ),
    ),
  );
}

function toast(text) {
  const el = $('toast');
  setText(el, text);
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => {
    el.hidden = true;
  }, 7000);
}
