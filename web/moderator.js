// Moderator console: moves the room through the agenda, opens Q&A, ends the session.

import {
  connect, h, fill, setText, $t, pathSegment, fragmentKey, bindConnBadge, itemStatus, itemSeconds,
  fmtDuration, fmtTime, every,
} from './client.js';
import { t, tv, initI18n, onLangChange, currentLang } from './i18n.js';

const $ = (id) => document.getElementById(id);
const sessionId = pathSegment(1);
const key = fragmentKey();
const LOG_SIZE = 8;
let ready = false;
let liveCell = null; // the agenda cell whose time ticks (current item)
let toastTimer = null;

const client = sessionId && key ? connect({ session: sessionId, key }) : null;

if (client) {
  bindConnBadge($t('conn-state'), client);
  globalThis.__palabre = client; // for browser tests and debugging
  client.on('state', render);
  client.on('status', render);
  client.on('presence', renderPresence);
  client.on('command', onCommand);
}
onLangChange(() => {
  render();
  renderPresence();
  renderLog();
});
initI18n().finally(() => {
  ready = true;
  render();
});

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
  if (!ready) return;
  if (!client || client.final) return showFatal(client ? client.status : 'denied');
  const s = client.state;
  if (!s) return;
  $('loading').hidden = true;
  $('content').hidden = false;
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
  const item = cur != null && s.phase !== 'ended' ? items[cur] : null;
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
    const meta = [kindUnlessTitle(item), item.minutes ? t('agenda.minutes', { n: item.minutes }) : null,
      (item.speakers || []).join(' · ') || null].filter(Boolean).join(' · ');
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
      h('div', { class: 'ag-body' }, h('p', { class: 'ag-title' }, item.title), h('p', { class: 'ag-meta' }, meta)),
      h('span', { class: `ag-tag tag-${st}` }, tv('agenda.status', st)),
      time,
      h(
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
      ),
    );
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
  const url = participantUrl(s, code);
  setText($('join-url'), url.replace(/^https?:\/\//, ''));
  $('link-participant').href = url;
  $('link-screen').href = `/screen/${encodeURIComponent(code)}`;
  const qr = `/j/${encodeURIComponent(code)}/qr.svg`;
  if ($('qr').getAttribute('src') !== qr) $('qr').src = qr;
  $('qr').alt = t('join.qr_alt', { code });
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
  if (!ready || !client || !client.presence) return;
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
  let level = 'ok';
  let left = '';
  if (planned) {
    const remaining = planned - secs;
    const near = Math.min(300, Math.max(60, planned * 0.2));
    if (remaining < 0) level = 'over';
    else if (remaining <= near) level = 'near';
    left = remaining >= 0
      ? t('timer.left', { time: fmtDuration(remaining) })
      : t('timer.over', { time: fmtDuration(-remaining) });
  }
  $('timer-fill').style.width = planned ? `${Math.min(100, (secs / planned) * 100).toFixed(1)}%` : '0';
  timer.dataset.level = level;
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
  if (!ready || !client) return;
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

// ---------------------------------------------------------------- helpers

function participantUrl(s, code) {
  const given = s.participant_url || (s.links && s.links.participant);
  if (typeof given === 'string' && /^https?:\/\//.test(given)) return given;
  return `${location.origin}/j/${encodeURIComponent(code)}`;
}

function showFatal(status) {
  $('loading').hidden = true;
  $('content').hidden = true;
  $('fatal').hidden = false;
  const which = status === 'gone' ? 'gone' : 'denied';
  setText($('fatal-title'), t(`fatal.${which}.title`));
  setText($('fatal-text'), t(`fatal.key.${which}`));
}

/** The kind's label, unless it only repeats the title ("Introduction"). */
function kindUnlessTitle(item) {
  const k = tv('kind', item.kind);
  return k.toLowerCase() === String(item.title).trim().toLowerCase() ? null : k;
}
