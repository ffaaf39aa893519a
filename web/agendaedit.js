// The console's agenda card: the items with their times and "Go to", the planned end against
// the planned close, and the "Edit the agenda" mode in which the moderator changes the agenda
// while the session runs: edit an item (title per session language, kind, minutes, speakers),
// insert one between two others, remove one (after a confirmation), reorder by dragging the
// handle (mouse, pen or finger: pointer events) or from the keyboard (↑/↓ buttons, Alt+↑/↓).
//
// Items are named by their stable id (`a1`…, `i<hex>` for inserted ones) in every command and
// in everything this module keeps across renders; an index is only ever where an item is now.
// An item that has been current (`held`) stays where it is: its move and remove controls are
// disabled and say why. Refusals from the server are shown next to the item they were about.

import { h, setText, reconcile, itemStatus, itemSeconds, fmtDuration, loc } from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { $, agendaRow, itemMeta, speakerNodes, renderPlannedEnd } from './render.js';

export const KINDS = ['intro', 'presentation', 'debate', 'adoption', 'other'];
const MAX_MINUTES = 24 * 60;
const MAX_TITLE = 200;
const MAX_SPEAKERS = 20;

/** The id the server gives the item a `agenda.insert` command creates (protocol.rs `created_id`). */
export const insertedId = (cmdId) => `i${String(cmdId).replace(/[^0-9a-f]/gi, '').slice(0, 12)}`;

/** The session's languages ([''] when it has none: one plain text). */
const langsOf = (s) => {
  const l = Array.isArray(s && s.languages) ? s.languages.filter((x) => typeof x === 'string' && x) : [];
  return l.length ? l : [''];
};

/** A text's words in language `l` (a plain string is the same in every language). */
const textIn = (value, l) => {
  if (value == null) return '';
  if (typeof value === 'object') return typeof value[l] === 'string' ? value[l] : '';
  return String(value);
};

/** One text from its words by language: a plain string when the same in all, else the languages given. */
function textFrom(words, langs) {
  if (langs.length === 1 && langs[0] === '') return words[''].trim() || null;
  const given = langs.filter((l) => words[l].trim() !== '');
  if (!given.length) return null;
  const first = words[given[0]].trim();
  if (given.length === langs.length && given.every((l) => words[l].trim() === first)) return first;
  return Object.fromEntries(given.map((l) => [l, words[l].trim()]));
}

const capital = (x) => (x ? x[0].toLocaleUpperCase() + x.slice(1) : x);

/** What a text says in each language, to compare two texts however they were given. */
const canon = (value, langs) => JSON.stringify(langs.map((l) => textIn(value, l).trim()));

/**
 * Mounts the agenda card. `busy()` says whether an agenda or end command is unanswered (the
 * console's Next, Previous and Go to wait for it). Returns {render(s), tick(now), onCommand(rec)}.
 */
export function mountAgenda(client, { busy }) {
  const box = $('agenda');
  const ui = {
    editing: false,
    form: null, // the open item form: {mode: 'insert' | 'update', id, after, el, refs, cmd}
    confirm: null, // id of the item whose removal waits for a confirmation
    errors: new Map(), // item id → why its last change was refused
    drag: null, // the row being dragged (see the pointer handlers); the list is not redrawn under it
    rows: new Map(), // item id → {sig, li}
    live: null, // the current item's time cell, ticking
    focusId: null, // an item to focus once it shows (one just inserted)
  };

  const pendingFor = (id) => client.pending('agenda.').some((c) => c.fields && c.fields.item === id);
  const ended = () => !!(client.state && client.state.phase === 'ended');
  const indexOf = (s, id) => s.agenda.items.findIndex((it) => it.id === id);

  // ------------------------------------------------------------ render

  function render(s) {
    renderTotals(s);
    renderToggle(s);
    if (ui.drag) return; // redrawn at the drop
    if (ended() && ui.editing) stopEditing(false);
    const lang = currentLang();
    const b = busy();
    const now = client.now();
    ui.live = null;
    const focus = focusIn();
    const items = s.agenda.items;
    const seen = new Set();
    const els = items.map((item, i) => {
      seen.add(item.id);
      const st = itemStatus(s, i, true);
      const secs = itemSeconds(s, i, now);
      const timeText = secs > 0 || st === 'current' ? fmtDuration(secs) : '';
      const sig = JSON.stringify([
        lang, i, items.length, st, s.phase, b, item.title, item.kind, item.minutes, item.speakers, item.held,
        st === 'current' ? 'live' : timeText, ui.editing, ui.editing ? [pendingFor(item.id), ui.confirm === item.id, ui.errors.get(item.id) || '', formHere(item.id)] : 0,
      ]);
      let row = ui.rows.get(item.id);
      if (!row || row.sig !== sig) {
        row = { sig, li: buildRow(s, i, st, timeText, b) };
        ui.rows.set(item.id, row);
      }
      if (st === 'current' && s.phase === 'running') ui.live = { el: row.li.querySelector('[data-testid="item-time"]'), id: item.id };
      return row.li;
    });
    for (const id of [...ui.rows.keys()]) if (!seen.has(id)) ui.rows.delete(id);
    for (const id of [...ui.errors.keys()]) if (!seen.has(id)) ui.errors.delete(id);
    if (ui.confirm != null && !seen.has(ui.confirm)) ui.confirm = null;
    // The item the form was about (or was to follow) has been removed meanwhile.
    if (ui.form && (ui.form.mode === 'update' ? !seen.has(ui.form.id) : ui.form.after != null && !seen.has(ui.form.after))) closeForm(false);
    reconcile(box, els);
    box.classList.toggle('ag-editing', ui.editing);
    placeForm();
    restoreFocus(focus);
    if (ui.focusId && ui.rows.has(ui.focusId)) {
      const b2 = ui.rows.get(ui.focusId).li.querySelector('[data-act="edit"]');
      ui.focusId = null;
      if (b2) b2.focus();
    }
    if (ui.form) labelForm(ui.form, s);
  }

  function renderTotals(s) {
    const now = client.now();
    let planned = 0;
    let held = 0;
    s.agenda.items.forEach((item, i) => {
      planned += (Number(item.minutes) || 0) * 60;
      held += itemSeconds(s, i, now);
    });
    const total = $('agenda-total');
    total.dataset.planned = String(planned);
    setText(total, t('agenda.total', { planned: fmtDuration(planned), held: fmtDuration(held) }));
    renderPlannedEnd($('agenda-end'), s);
  }

  function renderToggle(s) {
    const btn = $('agenda-edit');
    btn.setAttribute('aria-pressed', String(ui.editing));
    setText(btn, ui.editing ? t('agenda.edit_done') : t('agenda.edit'));
    btn.disabled = s.phase === 'ended';
    $('agenda-edit-help').hidden = !ui.editing;
    const top = $('agenda-insert-top');
    top.hidden = !ui.editing || !!(ui.form && ui.form.mode === 'insert' && ui.form.after == null);
    top.setAttribute('aria-label', t('agenda.insert_first'));
    $('agenda-panel').dataset.editing = String(ui.editing);
  }

  /** Whether the open form belongs under this item (its editor, or an insert after it). */
  function formHere(id) {
    const f = ui.form;
    if (!f) return '';
    if (f.mode === 'update' && f.id === id) return 'update';
    if (f.mode === 'insert' && f.after === id) return 'insert';
    return '';
  }

  function buildRow(s, i, st, timeText, b) {
    const item = s.agenda.items[i];
    const time = h('span', { class: 'ag-time', 'data-testid': 'item-time', 'data-index': i, 'data-id': item.id }, timeText);
    const meta = itemMeta(item, speakerNodes(item.speakers));
    const title = loc(item.title);
    const goto = h(
      'button',
      {
        type: 'button',
        class: 'btn btn-small',
        'data-testid': 'btn-goto',
        'data-act': 'goto',
        'data-goto': i,
        'data-index': i,
        'data-id': item.id,
        disabled: s.phase === 'ended' || s.agenda.current === i,
        'aria-busy': b ? 'true' : null,
        'aria-label': t('cmd.goto_item', { i: i + 1, title }),
      },
      t('cmd.goto'),
    );
    if (!ui.editing) return agendaRow(s, i, st, meta, { after: [time, goto] });

    const held = !!item.held;
    const last = s.agenda.items.length - 1;
    const pend = pendingFor(item.id);
    const heldId = `ag-held-${item.id}`;
    const btn = (act, testid, label, aria, extra = {}) =>
      h(
        'button',
        {
          type: 'button',
          class: `btn btn-small${extra.cls ? ` ${extra.cls}` : ''}`,
          'data-act': act,
          'data-testid': testid,
          'aria-label': aria,
          'aria-describedby': extra.why ? heldId : null,
          'aria-busy': pend ? 'true' : null,
          'aria-expanded': extra.expanded == null ? null : String(extra.expanded),
          disabled: !!extra.disabled,
        },
        label,
      );
    const place = { i: i + 1, title };
    const tools = h(
      'div',
      { class: 'ag-tools' },
      btn('up', 'ag-up', '↑', t('agenda.up_label', place), { cls: 'btn-icon', disabled: held || i === 0, why: held }),
      btn('down', 'ag-down', '↓', t('agenda.down_label', place), { cls: 'btn-icon', disabled: held || i === last, why: held }),
      btn('edit', 'ag-edit', t('agenda.edit_item'), t('agenda.edit_label', place), { expanded: formHere(item.id) === 'update' }),
      btn('remove', 'ag-remove', t('agenda.remove'), t('agenda.remove_label', place), {
        cls: 'btn-quiet-danger', disabled: held || s.agenda.items.length === 1, why: held, expanded: ui.confirm === item.id,
      }),
    );
    const handle = h(
      'button',
      {
        type: 'button',
        class: 'ag-handle',
        'data-act': 'drag',
        'data-testid': 'ag-drag',
        'aria-label': t('agenda.drag_label', place),
        'aria-describedby': held ? heldId : 'agenda-edit-help',
        disabled: held,
      },
      h('span', { 'aria-hidden': 'true' }, '⠿'),
    );
    const slot = h('div', { class: 'ag-slot' });
    if (held) slot.append(h('p', { class: 'ag-held-note small', id: heldId, 'data-testid': 'ag-held-note' }, t('agenda.held_note')));
    const err = ui.errors.get(item.id);
    if (err) slot.append(h('p', { class: 'ag-error', 'data-testid': 'ag-error', role: 'alert' }, err));
    if (ui.confirm === item.id) slot.append(removeConfirm(item));
    slot.append(h('div', { class: 'ag-form-slot' }));
    slot.append(insertButton(item.id, i + 1, title));
    const li = agendaRow(s, i, st, meta, { after: [tools, slot] });
    li.prepend(handle);
    li.classList.add('ag-edit-row');
    li.dataset.held = String(held);
    if (pend) li.setAttribute('aria-busy', 'true');
    return li;
  }

  function insertButton(after, at, title) {
    return h(
      'button',
      {
        type: 'button',
        class: 'btn btn-small ag-insert',
        'data-act': 'insert',
        'data-testid': 'ag-insert',
        'data-at': at,
        'data-after': after || '',
        'aria-label': after ? t('agenda.insert_after', { title }) : t('agenda.insert_first'),
        hidden: formHere(after) === 'insert',
      },
      h('span', { 'aria-hidden': 'true' }, '+ '),
      t('agenda.insert_here'),
    );
  }

  function removeConfirm(item) {
    const qid = `ag-rm-${item.id}`;
    return h(
      'div',
      { class: 'confirm ag-confirm', role: 'alertdialog', 'aria-modal': 'false', 'aria-labelledby': qid, 'data-testid': 'ag-remove-confirm' },
      h('p', { id: qid }, t('agenda.remove_question', { title: loc(item.title) })),
      h(
        'div',
        { class: 'confirm-buttons' },
        h('button', { type: 'button', class: 'btn', 'data-act': 'remove-no', 'data-testid': 'ag-remove-no' }, t('common.cancel')),
        h('button', { type: 'button', class: 'btn btn-danger', 'data-act': 'remove-yes', 'data-testid': 'ag-remove-yes' }, t('agenda.remove_confirm')),
      ),
    );
  }

  /** Puts the open form where it belongs (rows are redrawn around it; it keeps what was typed). */
  function placeForm() {
    const f = ui.form;
    if (!f) return;
    let where = null;
    if (f.mode === 'insert' && f.after == null) where = $('agenda-form-top');
    else {
      const row = ui.rows.get(f.mode === 'update' ? f.id : f.after);
      where = row && row.li.querySelector('.ag-form-slot');
    }
    if (!where) return;
    if (f.el.parentElement !== where) {
      const had = f.el.contains(document.activeElement) ? document.activeElement : null;
      where.append(f.el);
      if (had) had.focus({ preventScroll: true });
    }
  }

  /** Where the focus is in the list: the item and the control. */
  function focusIn() {
    const a = document.activeElement;
    if (!a || !box.contains(a)) return null;
    const li = a.closest('[data-testid="agenda-item"]');
    return li ? { id: li.dataset.id, act: a.dataset.act || null, el: a, index: Number(li.dataset.index) } : null;
  }

  /** Gives the focus back after a redraw: the same control of the same item, else a neighbour's. */
  function restoreFocus(was) {
    if (!was) return;
    const a = document.activeElement;
    if (a && a !== document.body && box.contains(a)) return;
    if (was.el.isConnected && !was.el.disabled) {
      was.el.focus({ preventScroll: true });
      return;
    }
    const row = ui.rows.get(was.id);
    let target = null;
    if (row) {
      const pick = (act) => row.li.querySelector(`[data-act="${act}"]:not(:disabled):not([hidden])`);
      target = (was.act && pick(was.act)) || (was.act === 'up' && pick('down')) || (was.act === 'down' && pick('up')) || pick('edit') || pick('goto');
    } else {
      // The item left (removed): the one now in its place, else the last one.
      const lis = [...box.children];
      const li = lis[Math.min(was.index, lis.length - 1)];
      target = li && (li.querySelector('[data-act="edit"]') || li.querySelector('[data-act="goto"]'));
    }
    if (!target) target = $('agenda-edit');
    target.focus({ preventScroll: false });
  }

  /** The ticking time of the current item. */
  function tick() {
    const s = client.state;
    if (!s || !ui.live) return;
    const i = indexOf(s, ui.live.id);
    if (i >= 0 && ui.live.el) setText(ui.live.el, fmtDuration(itemSeconds(s, i, client.now())));
  }

  // ------------------------------------------------------------ actions

  $('agenda-edit').addEventListener('click', () => {
    if (ui.editing) stopEditing(true);
    else {
      ui.editing = true;
      if (client.state) render(client.state);
    }
  });

  function stopEditing(focusBack) {
    ui.editing = false;
    ui.confirm = null;
    ui.errors.clear();
    if (ui.drag) endDrag(false);
    closeForm(false);
    if (client.state) render(client.state);
    if (focusBack) $('agenda-edit').focus();
  }

  $('agenda-insert-top').addEventListener('click', () => openForm('insert', null));

  box.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    const li = e.target.closest('[data-testid="agenda-item"]');
    const s = client.state;
    if (!b || !li || !s || b.disabled) return;
    const id = li.dataset.id;
    switch (b.dataset.act) {
      case 'goto':
        if (!busy()) {
          const i = indexOf(s, id);
          if (i >= 0) client.send('agenda.goto', { item: i });
        }
        break;
      case 'up':
        move(id, -1);
        break;
      case 'down':
        move(id, 1);
        break;
      case 'edit':
        if (ui.form && ui.form.mode === 'update' && ui.form.id === id) closeForm(true);
        else openForm('update', id);
        break;
      case 'insert':
        openForm('insert', b.dataset.after || null);
        break;
      case 'remove':
        ui.confirm = ui.confirm === id ? null : id;
        ui.errors.delete(id);
        render(s);
        if (ui.confirm) rowOf(id)?.querySelector('[data-act="remove-no"]')?.focus();
        break;
      case 'remove-no':
        ui.confirm = null;
        render(s);
        rowOf(id)?.querySelector('[data-act="remove"]')?.focus();
        break;
      case 'remove-yes':
        ui.confirm = null;
        if (!pendingFor(id)) client.send('agenda.remove', { item: id });
        rowOf(id)?.querySelector('[data-act="edit"]')?.focus();
        render(s);
        break;
      default:
        break;
    }
  });

  const rowOf = (id) => (ui.rows.get(id) || {}).li || null;

  /** Moves an item one place up (-1) or down (1); a held one stays, and the row says why. */
  function move(id, by, to = null) {
    const s = client.state;
    if (!s || ended()) return;
    const i = indexOf(s, id);
    if (i < 0) return;
    if (s.agenda.items[i].held) {
      ui.errors.set(id, t('agenda.held_refused'));
      render(s);
      return;
    }
    const dest = to == null ? i + by : to;
    if (dest < 0 || dest >= s.agenda.items.length || dest === i || pendingFor(id)) return;
    ui.errors.delete(id);
    client.send('agenda.move', { item: id, to: dest });
  }

  // Alt+↑/↓ anywhere in an item (and ↑/↓ on its handle) move it.
  box.addEventListener('keydown', (e) => {
    if (!ui.editing || e.defaultPrevented) return;
    if (e.key === 'Escape' && ui.drag) {
      e.preventDefault();
      endDrag(false);
      return;
    }
    if (e.key === 'Escape' && ui.confirm != null) {
      e.preventDefault();
      const id = ui.confirm;
      ui.confirm = null;
      render(client.state);
      rowOf(id)?.querySelector('[data-act="remove"]')?.focus();
      return;
    }
    if (e.key !== 'ArrowUp' && e.key !== 'ArrowDown') return;
    const onHandle = e.target.closest && e.target.closest('[data-act="drag"]');
    if (!(e.altKey && !e.ctrlKey && !e.metaKey) && !(onHandle && !e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey)) return;
    if (e.target.closest('input, textarea, select')) return;
    const li = e.target.closest('[data-testid="agenda-item"]');
    if (!li) return;
    e.preventDefault();
    move(li.dataset.id, e.key === 'ArrowUp' ? -1 : 1);
  });

  // ------------------------------------------------------------ drag (pointer events)

  box.addEventListener('pointerdown', (e) => {
    const handle = e.target.closest('[data-act="drag"]');
    if (!handle || handle.disabled || !ui.editing || (e.pointerType === 'mouse' && e.button !== 0)) return;
    const li = handle.closest('[data-testid="agenda-item"]');
    if (!li || pendingFor(li.dataset.id)) return;
    e.preventDefault();
    handle.focus({ preventScroll: true });
    try {
      handle.setPointerCapture(e.pointerId);
    } catch {
      /* a synthetic pointer: the moves still bubble here */
    }
    const rows = [...box.children];
    const top = scrollY;
    ui.drag = {
      id: li.dataset.id,
      li,
      handle,
      pointerId: e.pointerId,
      y0: e.clientY + top,
      from: rows.indexOf(li),
      to: rows.indexOf(li),
      others: rows.filter((r) => r !== li),
      mids: rows.filter((r) => r !== li).map((r) => {
        const b = r.getBoundingClientRect();
        return b.top + top + b.height / 2;
      }),
    };
    li.classList.add('is-dragging');
    box.classList.add('is-sorting');
  });

  box.addEventListener('pointermove', (e) => {
    const d = ui.drag;
    if (!d || e.pointerId !== d.pointerId) return;
    e.preventDefault();
    // Near the top or bottom of the window, the page scrolls along.
    if (e.clientY < 48) scrollBy(0, -12);
    else if (e.clientY > innerHeight - 48) scrollBy(0, 12);
    const y = e.clientY + scrollY;
    d.li.style.transform = `translateY(${Math.round(y - d.y0)}px)`;
    d.to = d.mids.filter((m) => m < y).length;
    for (const r of d.others) r.classList.remove('drop-before', 'drop-after');
    if (d.to !== d.from) {
      if (d.to < d.others.length) d.others[d.to].classList.add('drop-before');
      else d.others[d.others.length - 1].classList.add('drop-after');
    }
  });

  const drop = (commit) => (e) => {
    if (ui.drag && e.pointerId === ui.drag.pointerId) endDrag(commit);
  };
  box.addEventListener('pointerup', drop(true));
  box.addEventListener('pointercancel', drop(false));
  box.addEventListener('lostpointercapture', drop(true));

  function endDrag(commit) {
    const d = ui.drag;
    if (!d) return;
    ui.drag = null;
    d.li.classList.remove('is-dragging');
    d.li.style.transform = '';
    box.classList.remove('is-sorting');
    for (const r of d.others) r.classList.remove('drop-before', 'drop-after');
    if (commit && d.to !== d.from) move(d.id, 0, d.to);
    if (client.state) render(client.state);
  }

  // ------------------------------------------------------------ item form (insert, update)

  function openForm(mode, ref) {
    const s = client.state;
    if (!s || ended()) return;
    const item = mode === 'update' ? s.agenda.items[indexOf(s, ref)] : null;
    if (mode === 'update' && !item) return;
    ui.confirm = null;
    const langs = langsOf(s);
    const fid = `agf-${mode}-${ref || 'top'}`;
    const refs = { titles: new Map(), speakers: new Map(), labels: [] };
    const field = (input, key, vars) => {
      const l = h('label', { class: 'field-label', for: input.id });
      refs.labels.push([l, key, vars]);
      return [l, input];
    };
    const titleBoxes = langs.map((l) => {
      const input = h('input', {
        type: 'text', id: `${fid}-t-${l || 'x'}`, maxlength: MAX_TITLE, lang: l || null,
        'data-testid': 'ag-form-title', 'data-lang': l,
      });
      if (item) input.value = textIn(item.title, l);
      refs.titles.set(l, input);
      return field(input, l ? 'agenda.form_title_in' : 'agenda.form_title', { lang: l });
    });
    refs.kind = h('select', { id: `${fid}-kind`, 'data-testid': 'ag-form-kind' }, KINDS.map((k) => h('option', { value: k })));
    refs.kind.value = item ? item.kind : 'other';
    refs.minutes = h('input', {
      type: 'number', id: `${fid}-min`, min: 0, max: MAX_MINUTES, step: 1, inputmode: 'numeric', 'data-testid': 'ag-form-minutes',
    });
    refs.minutes.value = String(item ? Number(item.minutes) || 0 : 10);
    const speakerBoxes = langs.map((l) => {
      const box2 = h('textarea', {
        id: `${fid}-s-${l || 'x'}`, rows: 2, lang: l || null, 'data-testid': 'ag-form-speakers', 'data-lang': l,
        'aria-describedby': `${fid}-sh`,
      });
      box2.value = item ? (item.speakers || []).map((sp) => textIn(sp, l)).join('\n') : '';
      refs.speakers.set(l, box2);
      return field(box2, l ? 'agenda.form_speakers_in' : 'agenda.form_speakers', { lang: l });
    });
    refs.heading = h('p', { class: 'ag-form-head' });
    refs.speakersHint = h('p', { class: 'pf-hint', id: `${fid}-sh` });
    refs.error = h('p', { class: 'form-error', 'data-testid': 'ag-form-error', role: 'alert', hidden: true });
    refs.status = h('p', { class: 'edit-status small', 'data-testid': 'ag-form-status', role: 'status' });
    refs.save = h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'ag-form-save' });
    refs.cancel = h('button', { type: 'button', class: 'btn', 'data-testid': 'ag-form-cancel' });
    const el = h(
      'form',
      { class: 'ag-form', 'data-testid': 'ag-form', 'data-mode': mode, novalidate: true },
      refs.heading,
      h('div', { class: 'ag-form-titles' }, titleBoxes.map((x) => h('div', { class: 'ag-field' }, x))),
      h(
        'div',
        { class: 'ag-form-row' },
        h('div', { class: 'ag-field' }, field(refs.kind, 'agenda.form_kind')),
        h('div', { class: 'ag-field ag-field-min' }, field(refs.minutes, 'agenda.form_minutes')),
      ),
      h('div', { class: 'ag-form-speakers' }, speakerBoxes.map((x) => h('div', { class: 'ag-field' }, x))),
      refs.speakersHint,
      refs.error,
      h('div', { class: 'edit-buttons' }, refs.save, refs.cancel),
      refs.status,
    );
    const f = { mode, id: mode === 'update' ? ref : null, after: mode === 'insert' ? ref : null, el, refs, langs, cmd: null };
    el.addEventListener('submit', (e) => {
      e.preventDefault();
      submitForm(f);
    });
    refs.cancel.addEventListener('click', () => closeForm(true));
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        e.stopPropagation();
        closeForm(true);
      }
    });
    el.addEventListener('input', () => {
      refs.error.hidden = true;
      for (const x of el.querySelectorAll('[aria-invalid]')) x.removeAttribute('aria-invalid');
    });
    ui.form = f;
    labelForm(f, s);
    render(s);
    refs.titles.get(langs[0]).focus();
  }

  function labelForm(f, s) {
    const { refs } = f;
    for (const [l, key, vars] of refs.labels) {
      setText(l, t(key, vars && vars.lang ? { lang: tv('lang.name', vars.lang) } : undefined));
    }
    for (const o of refs.kind.options) setText(o, tv('kind', o.value));
    let head;
    if (f.mode === 'update') {
      const i = indexOf(s, f.id);
      head = t('agenda.form_edit_head', { i: i + 1, title: i >= 0 ? loc(s.agenda.items[i].title) : '' });
    } else if (f.after == null) head = t('agenda.form_insert_first');
    else {
      const i = indexOf(s, f.after);
      head = t('agenda.form_insert_head', { i: i + 2, title: i >= 0 ? loc(s.agenda.items[i].title) : '' });
    }
    setText(refs.heading, head);
    setText(refs.speakersHint, f.langs.length > 1 ? t('agenda.form_speakers_hint_langs') : t('agenda.form_speakers_hint'));
    setText(refs.save, f.mode === 'update' ? t('agenda.form_save') : t('agenda.form_insert'));
    setText(refs.cancel, t('common.cancel'));
    refs.save.setAttribute('aria-busy', String(!!(f.cmd && (f.cmd.status === 'queued' || f.cmd.status === 'sent'))));
  }

  function closeForm(focusBack) {
    const f = ui.form;
    if (!f) return;
    ui.form = null;
    f.el.remove();
    if (client.state) render(client.state);
    if (!focusBack) return;
    if (f.mode === 'update') rowOf(f.id)?.querySelector('[data-act="edit"]')?.focus();
    else if (f.after == null) $('agenda-insert-top').focus();
    else rowOf(f.after)?.querySelector('[data-act="insert"]')?.focus();
  }

  function formError(f, text, input) {
    f.refs.error.hidden = false;
    setText(f.refs.error, text);
    if (input) {
      input.setAttribute('aria-invalid', 'true');
      input.focus();
    }
  }

  /** The item the form describes, or null (the problem said and focused). */
  function readForm(f) {
    const { refs, langs } = f;
    const words = Object.fromEntries(langs.map((l) => [l, refs.titles.get(l).value]));
    const title = textFrom(words, langs);
    if (!title) {
      formError(f, t('agenda.form_need_title'), refs.titles.get(langs[0]));
      return null;
    }
    const raw = String(refs.minutes.value).trim();
    const minutes = raw === '' ? 0 : Number(raw);
    if (!Number.isInteger(minutes) || minutes < 0 || minutes > MAX_MINUTES) {
      formError(f, t('agenda.form_bad_minutes', { max: MAX_MINUTES }), refs.minutes);
      return null;
    }
    const lines = Object.fromEntries(langs.map((l) => [l, refs.speakers.get(l).value.split('\n').map((x) => x.trim())]));
    const n = Math.max(...langs.map((l) => lines[l].length));
    const speakers = [];
    for (let k = 0; k < n; k += 1) {
      const one = textFrom(Object.fromEntries(langs.map((l) => [l, lines[l][k] || ''])), langs);
      if (one) speakers.push(one);
    }
    if (speakers.length > MAX_SPEAKERS) {
      formError(f, t('agenda.form_many_speakers', { max: MAX_SPEAKERS }), refs.speakers.get(langs[0]));
      return null;
    }
    return { title, kind: refs.kind.value, minutes, speakers };
  }

  function submitForm(f) {
    const s = client.state;
    if (!s || ended() || (f.cmd && (f.cmd.status === 'queued' || f.cmd.status === 'sent'))) return;
    const v = readForm(f);
    if (!v) return;
    if (f.mode === 'insert') {
      const at = f.after == null ? 0 : indexOf(s, f.after) + 1 || s.agenda.items.length;
      f.cmd = client.send('agenda.insert', { at, item: v });
    } else {
      const item = s.agenda.items[indexOf(s, f.id)];
      if (!item) return closeForm(false);
      const changes = {};
      if (canon(v.title, f.langs) !== canon(item.title, f.langs)) changes.title = v.title;
      if (v.kind !== item.kind) changes.kind = v.kind;
      if (v.minutes !== (Number(item.minutes) || 0)) changes.minutes = v.minutes;
      const sp = (list) => JSON.stringify((list || []).map((x) => canon(x, f.langs)));
      if (sp(v.speakers) !== sp(item.speakers)) changes.speakers = v.speakers;
      if (!Object.keys(changes).length) return closeForm(true);
      f.cmd = client.send('agenda.update', { item: f.id, ...changes });
    }
    formFate(f);
  }

  function formFate(f) {
    const c = f.cmd;
    if (!c) return;
    if (c.status === 'acked') {
      if (f.mode === 'insert') ui.focusId = insertedId(c.id);
      const back = f.mode === 'update' ? f.id : null;
      closeForm(false);
      if (back) rowOf(back)?.querySelector('[data-act="edit"]')?.focus();
      if (ui.focusId && client.state) render(client.state);
      return;
    }
    if (c.status === 'refused') {
      formError(f, reason(c));
      setText(f.refs.status, '');
    } else {
      setText(f.refs.status, c.status === 'queued' ? t('agenda.form_queued') : t('agenda.form_sending'));
    }
    if (client.state) labelForm(f, client.state);
  }

  // ------------------------------------------------------------ command fates

  function onCommand(rec) {
    if (!rec.op.startsWith('agenda.')) return;
    if (ui.form && ui.form.cmd === rec) formFate(ui.form);
    const id = rec.fields && rec.fields.item;
    if (typeof id === 'string' && ['agenda.move', 'agenda.remove', 'agenda.update'].includes(rec.op)) {
      // A refusal is said next to its item until something about that item goes through.
      if (rec.status === 'refused') ui.errors.set(id, reason(rec));
      else if (rec.status === 'acked') ui.errors.delete(id);
    }
    if (rec.status === 'acked' && rec.op === 'agenda.move' && client.state) {
      const s = client.state;
      const i = indexOf(s, id);
      if (i >= 0) announce(t('agenda.live_moved', { title: loc(s.agenda.items[i].title), i: i + 1, n: s.agenda.items.length }));
    }
    if (rec.status === 'acked' && rec.op === 'agenda.remove') announce(t('agenda.live_removed'));
  }

  function announce(text) {
    const el = $('agenda-live');
    el.textContent = '';
    setText(el, text);
  }

  /** Why a command was refused: the server's words (they name the field or the rule), else the code's. */
  function reason(rec) {
    const e = rec.error || {};
    const said = String(e.message || '').trim();
    if (!said) return capital(tv('error', e.code || 'invalid'));
    return capital(/[.!?]$/.test(said) ? said : `${said}.`);
  }

  return { render, tick, onCommand, editing: () => ui.editing };
}

