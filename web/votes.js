// Votes on the draft texts, as the moderator and the rapporteur see them: the figures of a
// poll, the rule that decided it, and (moderator) the console's Votes panel with its voter
// roster, and a text drafted on the console (draftform.js) put to the vote at once. The folding
// of poll events and `tally` frames into the state is client.js's; this module only reads
// `state.drafts`, `state.polls`, `state.roster` and `state.settings`.

import * as C from './client.js';
import { t, tv, currentLang } from './i18n.js';
import { draftForm, draftLanguages, labelDraftForm, readDraftForm, sayDraftForm } from './draftform.js';

const { h, setText, loc, langText, setLangText } = C;

export const CHOICES = ['for', 'against', 'abstain'];
export const METHODS = ['simple', 'absolute', 'two_thirds'];

// ---------------------------------------------------------------- pure helpers

/** A text given as a string or by language, in the page's language (client.js picks it). */
export { loc };

export const draftsOf = (s) => (Array.isArray(s && s.drafts) ? s.drafts.filter((d) => d && d.id != null) : []);
export const pollsOf = (s) => (Array.isArray(s && s.polls) ? s.polls.filter((p) => p && p.id != null) : []);
export const isRoster = (s) => !!(s && s.settings && s.settings.voting === 'roster');

const num = (x) => (Number.isFinite(Number(x)) ? Number(x) : 0);
const byOpened = (a, b) => num(a.opened_at) - num(b.opened_at) || String(a.id).localeCompare(String(b.id));

/** A draft's polls, oldest first. */
export function draftPolls(s, draftId) {
  return pollsOf(s).filter((p) => p.draft === draftId).sort(byOpened);
}

/** The poll a draft is being voted on or was decided by; else its last closed one (no quorum). */
export function decidingPoll(s, d) {
  const polls = draftPolls(s, d.id);
  if (d.poll != null) {
    const p = polls.find((x) => x.id === d.poll);
    if (p) return p;
  }
  const open = polls.find((p) => p.status === 'open');
  if (open) return open;
  const closed = polls.filter((p) => p.status === 'closed');
  return closed.length ? closed[closed.length - 1] : null;
}

/** Numbers of a poll: counts (null while hidden from this role), ballots, weights. */
export function figures(p) {
  const c = p && p.counts && typeof p.counts === 'object' ? p.counts : null;
  const counts = c ? { for: num(c.for), against: num(c.against), abstain: num(c.abstain) } : null;
  const cast = num(p && p.cast);
  const sum = counts ? counts.for + counts.against + counts.abstain : null;
  const castWeight = p && p.cast_weight != null ? num(p.cast_weight) : sum ?? cast;
  return { counts, cast, castWeight, eligible: num(p && p.eligible), quorum: num(p && p.quorum), total: sum ?? castWeight };
}

/**
 * Whether the poll passes its rule with these figures, and the comparison that says so:
 * {outcome: adopted | rejected | no_quorum, key, vars}. For a closed poll the server's
 * outcome is what counts; this explains it (and gives the console's "if closed now").
 */
export function judge(p) {
  const f = figures(p);
  const method = METHODS.includes(p.method) ? p.method : 'simple';
  if (f.quorum > 0 && f.castWeight < f.quorum) {
    return { outcome: 'no_quorum', key: 'votes.rule.no_quorum', vars: { cast: fmtNum(f.castWeight), quorum: fmtNum(f.quorum) } };
  }
  if (!f.counts) return { outcome: null, key: null, vars: {} };
  const { for: yes, against: no } = f.counts;
  const vars = { for: fmtNum(yes), against: fmtNum(no), eligible: fmtNum(f.eligible) };
  let pass;
  if (method === 'absolute') {
    pass = yes * 2 > f.eligible;
    vars.half = fmtNum(f.eligible / 2);
  } else if (method === 'two_thirds') {
    const decisive = yes + no;
    pass = decisive > 0 && yes * 3 >= decisive * 2;
    vars.decisive = fmtNum(decisive);
    vars.need = fmtNum(Math.ceil((decisive * 2) / 3));
  } else {
    pass = yes > no;
  }
  const outcome = p.status === 'closed' && p.outcome ? p.outcome : pass ? 'adopted' : 'rejected';
  return { outcome, key: `votes.rule.${method}.${pass ? 'pass' : 'fail'}`, vars };
}

/** The rule's comparison in words ("for 12 > against 5"), or ''. */
export function ruleText(p) {
  const j = judge(p);
  return j.key ? t(j.key, j.vars) : '';
}

export function fmtNum(n, lang = currentLang()) {
  try {
    return new Intl.NumberFormat(lang, { maximumFractionDigits: 1 }).format(n);
  } catch {
    return String(n);
  }
}

export function fmtPct(part, whole, lang = currentLang()) {
  if (!whole) return '';
  try {
    return new Intl.NumberFormat(lang, { style: 'percent', maximumFractionDigits: 0 }).format(part / whole);
  } catch {
    return `${Math.round((part / whole) * 100)} %`;
  }
}

/** "12 ballots of 42 eligible (29 %)"; roster mode adds the weight. */
export function turnoutText(p, roster) {
  const f = figures(p);
  const pct = fmtPct(roster ? f.castWeight : f.cast, f.eligible);
  const vars = { n: f.cast, cast: fmtNum(f.cast), weight: fmtNum(f.castWeight), eligible: fmtNum(f.eligible), pct };
  if (roster) return t(pct ? 'votes.turnout_roster' : 'votes.turnout_roster_nopct', vars);
  return t(pct ? 'votes.turnout' : 'votes.turnout_nopct', vars);
}

/** "For 12 · Against 5 · Abstain 2". */
export function countsText(p) {
  const f = figures(p);
  if (!f.counts) return '';
  return CHOICES.map((c) => `${t(`votes.choice.${c}`)} ${fmtNum(f.counts[c])}`).join(' · ');
}

/** "Simple majority · quorum 10 · secret ballot · results hidden until the close". */
export function settingsText(p) {
  const parts = [tv('votes.method', p.method || 'simple')];
  parts.push(num(p.quorum) > 0 ? t('votes.quorum_n', { n: fmtNum(num(p.quorum)) }) : t('votes.no_quorum_set'));
  if (p.secret) parts.push(t('votes.secret_short'));
  if (p.hidden) parts.push(t('votes.hidden_short'));
  return parts.join(' · ');
}

/**
 * What was decided about a draft, for the record: {outcome, lines[]} with outcome
 * adopted | rejected | no_quorum | consensus | withdrawn | null (nothing decided yet).
 */
export function decision(s, d) {
  if (d.status === 'adopted' && d.adopted_by === 'consensus') return { outcome: 'consensus', poll: null };
  const p = decidingPoll(s, d);
  if (d.status === 'withdrawn') return { outcome: 'withdrawn', poll: p && p.status === 'closed' ? p : null };
  if (p && p.status === 'closed') return { outcome: p.outcome || judge(p).outcome, poll: p };
  if (d.status === 'adopted' || d.status === 'rejected') return { outcome: d.status, poll: null };
  return { outcome: null, poll: null };
}

/** The figures of a closed poll in one line, for the console and the record. */
export function closedFigures(p, roster) {
  return [countsText(p), turnoutText(p, roster), tv('votes.method', p.method || 'simple')].filter(Boolean).join(' · ');
}

// ---------------------------------------------------------------- moderator console

/**
 * The console's Votes panel (#panel-polls) and its voter roster. Returns
 * {render(state), onCommand(rec)}; refusals are the console's (its toast and command log).
 */
export function mountVotes(client, { sessionId, key }) {
  const $ = (id) => document.getElementById(id);
  const panel = $('panel-polls');
  const vui = {
    formFor: null, // draft id whose "open the vote" form is shown
    formEl: null,
    consensusFor: null, // draft id whose consensus confirmation is shown
    consensusEl: null,
    closeFor: null, // poll id whose close confirmation is shown
    cancelFor: null, // poll id whose cancel confirmation is shown
    rows: new Map(), // draft id → {li, main, slot, sig}
    live: new Map(), // poll id → {el, refs}
    textOpen: new Set(), // drafts whose text is unfolded
    statuses: null, // poll id → status, to announce changes
    consensus: null, // draft ids adopted by consensus, to announce
    tallies: new Map(), // poll id → the last tally frame (when client.js does not fold them)
  };
  const foldsTallies = typeof C.applyTally === 'function';
  let lastState = null;
  let frame = 0;

  client.on('tally', (msg) => {
    // client.js folds the frame into the state and says so (a render follows); an older one does not.
    if (!msg || msg.poll == null || foldsTallies) return;
    vui.tallies.set(msg.poll, msg);
    if (!frame) {
      frame = requestAnimationFrame(() => {
        frame = 0;
        if (client.state) render(client.state);
      });
    }
  });
  client.on('welcome', () => vui.tallies.clear());
  client.on('event', (e) => {
    if (e && typeof e.kind === 'string' && e.kind.startsWith('poll.')) {
      const id = typeof e.poll === 'object' && e.poll ? e.poll.id : e.poll;
      vui.tallies.delete(id);
    }
  });

  /** The poll with the last tally frame folded in (only when client.js does not do it). */
  function withTally(p) {
    const tally = vui.tallies.get(p.id);
    if (!tally || p.status !== 'open') return p;
    const out = { ...p };
    for (const k of ['counts', 'cast', 'cast_weight', 'eligible']) if (k in tally) out[k] = tally[k];
    return out;
  }

  const busyDraft = (id) => client.pending('poll.open').concat(client.pending('draft.')).some((c) => c.fields && c.fields.draft === id);
  const busyPoll = (id) => client.pending('poll.').some((c) => c.op !== 'poll.open' && c.fields && c.fields.poll === id);
  const ended = () => !!(client.state && client.state.phase === 'ended');

  function announce(text) {
    const el = $('polls-live-msg');
    el.textContent = '';
    setText(el, text);
  }

  // ------------------------------------------------------------ render

  function render(s) {
    lastState = s;
    const lang = currentLang();
    const drafts = draftsOf(s);
    const polls = pollsOf(s).map(withTally);
    const open = polls.filter((p) => p.status === 'open');
    const view = { ...s, polls };

    // A form drawn in the other language is drawn again, keeping what was chosen.
    if (vui.formEl && vui.formEl.dataset.lang !== lang) {
      const old = vui.formEl;
      vui.formEl = buildForm(vui.formFor);
      const pick = (f) => ({
        method: (f.querySelector('input[name="method"]:checked') || {}).value,
        quorum: f.querySelector('[name="quorum"]').value,
        secret: f.querySelector('[name="secret"]').checked,
        hidden: f.querySelector('[name="hidden"]').checked,
      });
      const v = pick(old);
      const m = vui.formEl.querySelector(`input[name="method"][value="${v.method}"]`);
      if (m) m.checked = true;
      vui.formEl.querySelector('[name="quorum"]').value = v.quorum;
      vui.formEl.querySelector('[name="secret"]').checked = v.secret;
      vui.formEl.querySelector('[name="hidden"]').checked = v.hidden;
    }
    if (vui.consensusEl && vui.consensusEl.dataset.lang !== lang) {
      const id = vui.consensusFor;
      vui.consensusEl = buildConsensus(id);
    }

    // Dialogs whose object moved on close by themselves.
    const draftById = new Map(drafts.map((d) => [d.id, d]));
    if (vui.formFor != null && (!draftById.has(vui.formFor) || draftById.get(vui.formFor).status !== 'draft' || s.phase === 'ended')) closeForm(false);
    if (vui.consensusFor != null && (!draftById.has(vui.consensusFor) || draftById.get(vui.consensusFor).status !== 'draft' || s.phase === 'ended')) closeConsensus(false);
    if (vui.closeFor != null && !open.some((p) => p.id === vui.closeFor)) vui.closeFor = null;
    if (vui.cancelFor != null && !open.some((p) => p.id === vui.cancelFor)) vui.cancelFor = null;

    // First in the strip while a vote is open or the adoption item runs.
    const cur = s.agenda && s.agenda.current != null ? (s.agenda.items || [])[s.agenda.current] : null;
    placePanel(open.length > 0 || (s.phase === 'running' && !!cur && cur.kind === 'adoption'));
    panel.dataset.live = String(open.length > 0);
    const head = $('polls-head-count');
    head.hidden = open.length === 0;
    setText(head, t('votes.open_count', { n: open.length }));

    renderLive(view, open, drafts, lang);
    renderRows(view, drafts, lang);
    $('vote-drafts-empty').hidden = drafts.length > 0;
    renderNewDraft(s, drafts);
    renderRoster(s);
    announceChanges(view, drafts);
  }

  /** While a vote is open the panel comes first in the strip (and full width on a wide screen). */
  function placePanel(voting) {
    panel.dataset.voting = String(voting);
    const box = panel.parentElement;
    const want = voting ? box.firstElementChild : null;
    if (voting ? want === panel : box.lastElementChild === panel) return;
    const had = document.activeElement && panel.contains(document.activeElement) ? document.activeElement : null;
    box.insertBefore(panel, want);
    if (had && document.activeElement !== had) had.focus({ preventScroll: true });
  }

  function announceChanges(s, drafts) {
    const polls = pollsOf(s);
    const now = new Map(polls.map((p) => [p.id, p.status]));
    const cons = new Set(drafts.filter((d) => d.status === 'adopted' && d.adopted_by === 'consensus').map((d) => d.id));
    if (vui.statuses) {
      const title = (p) => {
        const d = drafts.find((x) => x.id === p.draft);
        return d ? loc(d.title) : '';
      };
      for (const p of polls) {
        const was = vui.statuses.get(p.id);
        if (was === p.status) continue;
        if (p.status === 'open' && was == null) announce(t('votes.live.opened', { title: title(p) }));
        if (p.status === 'closed') announce(t('votes.live.closed', { title: title(p), outcome: tv('votes.outcome', p.outcome || judge(p).outcome) }));
        if (p.status === 'cancelled') announce(t('votes.live.cancelled', { title: title(p) }));
      }
      for (const id of cons) {
        if (!vui.consensus.has(id)) {
          const d = drafts.find((x) => x.id === id);
          announce(t('votes.live.consensus', { title: d ? loc(d.title) : '' }));
        }
      }
    }
    vui.statuses = now;
    vui.consensus = cons;
  }

  // ------------------------------------------------------------ live polls

  function renderLive(s, open, drafts, lang) {
    const box = $('polls-live');
    const roster = isRoster(s);
    const seen = new Set();
    const els = open.map((p) => {
      seen.add(p.id);
      let entry = vui.live.get(p.id);
      if (!entry || entry.lang !== lang) {
        const had = entry && entry.el.contains(document.activeElement) ? document.activeElement.dataset.act : null;
        entry = buildLive(p);
        entry.lang = lang;
        vui.live.set(p.id, entry);
        if (had) {
          // Put back below, once in the document.
          entry.refocus = had;
        }
      }
      updateLive(entry, p, drafts.find((d) => d.id === p.draft), roster, s);
      return entry.el;
    });
    for (const [id, entry] of vui.live) {
      if (seen.has(id)) continue;
      if (entry.el.contains(document.activeElement)) {
        // The vote closed under the focus: it goes to the draft's row, which now shows the outcome.
        const p = pollsOf(s).find((x) => x.id === id);
        vui.focusRow = p ? p.draft : null;
      }
      vui.live.delete(id);
    }
    C.reconcile(box, els);
    for (const entry of vui.live.values()) {
      if (entry.refocus) {
        const b = entry.el.querySelector(`[data-act="${entry.refocus}"]`);
        entry.refocus = null;
        if (b) b.focus();
      }
    }
    box.hidden = els.length === 0;
  }

  function buildLive(p) {
    const id = `pl-${p.id}`;
    const refs = {};
    const bar = (choice) => {
      refs[`n_${choice}`] = h('span', { class: 'tally-num' });
      refs[`pct_${choice}`] = h('span', { class: 'tally-pct' });
      refs[`fill_${choice}`] = h('span', { class: 'tally-fill' });
      refs[`row_${choice}`] = h(
        'div',
        { class: `tally-row tally-${choice}`, 'data-testid': 'mod-tally-bar', 'data-choice': choice, 'data-count': '0' },
        h('span', { class: 'tally-label' }, t(`votes.choice.${choice}`)),
        h('span', { class: 'tally-track', 'aria-hidden': 'true' }, refs[`fill_${choice}`]),
        h('span', { class: 'tally-figs' }, refs[`n_${choice}`], ' ', refs[`pct_${choice}`]),
      );
      return refs[`row_${choice}`];
    };
    refs.kind = h('span', { class: 'kind' });
    refs.title = h('h4', { class: 'poll-title', id: `${id}-t` });
    refs.settings = h('p', { class: 'poll-settings small' });
    refs.tallyNote = h('p', { class: 'muted small tally-note' });
    refs.turnout = h('p', { class: 'poll-turnout', 'data-testid': 'mod-turnout' });
    refs.quorum = h('p', { class: 'poll-quorum small' });
    refs.provisional = h('p', { class: 'poll-provisional small' });
    refs.close = h(
      'button',
      { type: 'button', class: 'btn btn-primary', 'data-act': 'close', 'data-testid': 'btn-poll-close', 'aria-haspopup': 'dialog' },
      t('votes.close_btn'),
    );
    refs.cancel = h(
      'button',
      { type: 'button', class: 'btn btn-quiet-danger', 'data-act': 'cancel', 'data-testid': 'btn-poll-cancel', 'aria-haspopup': 'dialog' },
      t('votes.cancel_btn'),
    );
    refs.actions = h('div', { class: 'poll-actions' }, refs.close, refs.cancel);

    refs.cfFigures = h('p', { class: 'confirm-figures', id: `${id}-cf` });
    refs.cfOutcome = h('p', { class: 'confirm-outcome', id: `${id}-co` });
    refs.cfQ = h('p', { id: `${id}-cq` });
    refs.closeConfirm = h(
      'div',
      {
        class: 'confirm confirm-neutral',
        role: 'alertdialog',
        'aria-modal': 'false',
        'aria-labelledby': `${id}-cq`,
        'aria-describedby': `${id}-cf ${id}-co`,
        'data-testid': 'close-confirm',
        hidden: true,
      },
      refs.cfQ,
      refs.cfFigures,
      refs.cfOutcome,
      h(
        'div',
        { class: 'confirm-buttons' },
        h('button', { type: 'button', class: 'btn', 'data-act': 'close-no', 'data-testid': 'btn-close-cancel' }, t('votes.keep_voting')),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-act': 'close-yes', 'data-testid': 'btn-close-confirm' }, t('votes.close_confirm')),
      ),
    );
    refs.caQ = h('p', { id: `${id}-aq` });
    refs.cancelConfirm = h(
      'div',
      {
        class: 'confirm',
        role: 'alertdialog',
        'aria-modal': 'false',
        'aria-labelledby': `${id}-aq`,
        'aria-describedby': `${id}-ad`,
        'data-testid': 'cancel-confirm',
        hidden: true,
      },
      refs.caQ,
      h('p', { class: 'small', id: `${id}-ad` }, t('votes.cancel_detail')),
      h(
        'div',
        { class: 'confirm-buttons' },
        h('button', { type: 'button', class: 'btn', 'data-act': 'cancel-no', 'data-testid': 'btn-cancel-keep' }, t('votes.keep_vote')),
        h('button', { type: 'button', class: 'btn btn-danger', 'data-act': 'cancel-yes', 'data-testid': 'btn-cancel-confirm' }, t('votes.cancel_confirm')),
      ),
    );
    const el = h(
      'article',
      { class: 'poll-live', 'data-testid': 'poll-live', 'data-poll': p.id, 'aria-labelledby': `${id}-t` },
      h('p', { class: 'poll-eyebrow' }, h('span', { class: 'pill st-voting' }, t('votes.voting_now')), ' ', refs.kind),
      refs.title,
      refs.settings,
      h('div', { class: 'tally', role: 'group', 'aria-label': t('votes.tally_label') }, CHOICES.map(bar)),
      refs.tallyNote,
      refs.turnout,
      refs.quorum,
      refs.provisional,
      refs.actions,
      refs.closeConfirm,
      refs.cancelConfirm,
    );
    el.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-act]');
      if (b) liveAct(p.id, b.dataset.act);
    });
    return { el, refs, id: p.id };
  }

  function updateLive(entry, p, d, roster, s) {
    const { refs } = entry;
    const f = figures(p);
    const title = d ? loc(d.title) : '';
    setText(refs.kind, d ? tv('draft.kind', d.kind) : '');
    setLangText(refs.title, d ? d.title : '');
    setText(refs.settings, settingsText(p));
    const total = f.total || 0;
    for (const c of CHOICES) {
      const n = f.counts ? f.counts[c] : null;
      refs[`row_${c}`].dataset.count = n == null ? '' : String(n);
      setText(refs[`n_${c}`], n == null ? '—' : fmtNum(n));
      setText(refs[`pct_${c}`], n != null && total ? `(${fmtPct(n, total)})` : '');
      refs[`fill_${c}`].style.width = n != null && total ? `${((n / total) * 100).toFixed(1)}%` : '0';
    }
    setText(refs.tallyNote, p.hidden ? t('votes.hidden_note') : '');
    refs.tallyNote.hidden = !p.hidden;
    setText(refs.turnout, turnoutText(p, roster));
    if (f.quorum > 0) {
      const reached = f.castWeight >= f.quorum;
      refs.quorum.dataset.reached = String(reached);
      setText(
        refs.quorum,
        reached
          ? t('votes.quorum_reached', { quorum: fmtNum(f.quorum) })
          : t('votes.quorum_missing', { quorum: fmtNum(f.quorum), missing: fmtNum(f.quorum - f.castWeight) }),
      );
    }
    refs.quorum.hidden = !(f.quorum > 0);
    const j = judge(p);
    const provisional = j.outcome
      ? t('votes.if_closed_now', { outcome: tv('votes.outcome', j.outcome), rule: j.key ? t(j.key, j.vars) : '' })
      : '';
    refs.provisional.dataset.outcome = j.outcome || '';
    setText(refs.provisional, provisional);

    const busy = busyPoll(p.id);
    const off = ended();
    for (const b of [refs.close, refs.cancel]) {
      b.setAttribute('aria-busy', String(busy));
      b.disabled = off;
    }
    const closing = vui.closeFor === p.id;
    const cancelling = vui.cancelFor === p.id;
    refs.closeConfirm.hidden = !closing;
    refs.cancelConfirm.hidden = !cancelling;
    refs.actions.hidden = closing || cancelling;
    setText(refs.cfQ, t('votes.close_question', { title }));
    setText(refs.cfFigures, [countsText(p), turnoutText(p, roster)].filter(Boolean).join(' — '));
    setText(refs.cfOutcome, provisional);
    setText(refs.caQ, t('votes.cancel_question', { title }));
    entry.el.setAttribute('aria-busy', String(busy));
  }

  function liveAct(pollId, act) {
    const s = client.state;
    if (!s) return;
    const entry = vui.live.get(pollId);
    switch (act) {
      case 'close':
        if (!entry || busyPoll(pollId) || ended()) return;
        vui.closeFor = pollId;
        vui.cancelFor = null;
        render(s);
        entry.el.querySelector('[data-act="close-no"]').focus();
        break;
      case 'cancel':
        if (!entry || busyPoll(pollId) || ended()) return;
        vui.cancelFor = pollId;
        vui.closeFor = null;
        render(s);
        entry.el.querySelector('[data-act="cancel-no"]').focus();
        break;
      case 'close-no':
      case 'cancel-no':
        dismissLive(pollId, act === 'close-no' ? 'close' : 'cancel');
        break;
      case 'close-yes':
      case 'cancel-yes': {
        const op = act === 'close-yes' ? 'poll.close' : 'poll.cancel';
        vui.closeFor = null;
        vui.cancelFor = null;
        render(s);
        const back = entry && entry.el.querySelector(`[data-act="${act === 'close-yes' ? 'close' : 'cancel'}"]`);
        if (back) back.focus();
        if (!busyPoll(pollId)) client.send(op, { poll: pollId });
        break;
      }
      default:
        break;
    }
  }

  function dismissLive(pollId, which) {
    vui.closeFor = null;
    vui.cancelFor = null;
    if (client.state) render(client.state);
    const entry = vui.live.get(pollId);
    const b = entry && entry.el.querySelector(`[data-act="${which}"]`);
    if (b) b.focus();
  }

  // ------------------------------------------------------------ drafts

  function renderRows(s, drafts, lang) {
    const box = $('vote-drafts');
    const roster = isRoster(s);
    const off = s.phase === 'ended';
    const openDrafts = new Set(pollsOf(s).filter((p) => p.status === 'open').map((p) => p.draft));
    const seen = new Set();
    const els = drafts.map((d) => {
      seen.add(d.id);
      const dec = decision(s, d);
      const polls = draftPolls(s, d.id);
      const sig = JSON.stringify([
        lang, d.title, d.text, d.kind, d.status, d.adopted_by, d.version, d.poll, off, roster,
        busyDraft(d.id), openDrafts.size, vui.formFor === d.id, vui.consensusFor === d.id, vui.textOpen.has(d.id),
        polls.map((p) => (p.status === 'open' ? `${p.id}|open` : [p.id, p.status, p.outcome, JSON.stringify(p.counts), p.cast, p.cast_weight, p.eligible, p.closed_at].join('|'))).join(';'),
      ]);
      let row = vui.rows.get(d.id);
      if (!row) {
        const slot = h('div', { class: 'vd-slot' });
        const main = h('div', { class: 'vd-main' });
        const li = h('li', { class: 'vote-draft', 'data-testid': 'draft-row', 'data-id': d.id, tabindex: '-1' }, main, slot);
        row = { li, main, slot, sig: null };
        vui.rows.set(d.id, row);
      }
      row.li.dataset.status = d.status;
      row.li.dataset.outcome = dec.outcome || '';
      row.li.setAttribute('aria-labelledby', `vd-${d.id}-t`);
      if (row.sig !== sig) {
        const focus = row.main.contains(document.activeElement) ? document.activeElement.dataset.act || null : null;
        const fresh = draftMain(s, d, dec, polls, { roster, off, openOthers: [...openDrafts].filter((x) => x !== d.id).length, lang });
        row.main.replaceWith(fresh);
        row.main = fresh;
        row.sig = sig;
        if (focus) {
          const b = fresh.querySelector(`[data-act="${focus}"]`);
          if (b && !b.disabled) b.focus();
          else row.li.focus();
        }
      }
      // The form or the confirmation lives in the row's slot.
      const want = vui.formFor === d.id ? vui.formEl : vui.consensusFor === d.id ? vui.consensusEl : null;
      if (want && row.slot.firstChild !== want) C.fill(row.slot, want);
      if (!want && row.slot.firstChild) C.fill(row.slot);
      if (want === vui.formEl && want) updateForm(s);
      if (want === vui.consensusEl && want) {
        const b = want.querySelector('[data-act="consensus-yes"]');
        b.setAttribute('aria-busy', String(busyDraft(d.id)));
      }
      return row.li;
    });
    for (const id of [...vui.rows.keys()]) if (!seen.has(id)) vui.rows.delete(id);
    C.reconcile(box, els);
    if (vui.focusRow != null) {
      const row = vui.rows.get(vui.focusRow);
      vui.focusRow = null;
      if (row && (document.activeElement === document.body || !document.activeElement)) row.li.focus();
    }
  }

  function draftMain(s, d, dec, polls, ctx) {
    const idT = `vd-${d.id}-t`;
    const busy = busyDraft(d.id);
    const text = loc(d.text);
    const textOpen = !!text && vui.textOpen.has(d.id);
    const textBtn = text
      ? h(
        'button',
        {
          type: 'button',
          class: 'btn btn-small btn-text',
          'data-act': 'text',
          'aria-expanded': String(textOpen),
          'aria-controls': `vd-${d.id}-x`,
          'aria-describedby': idT,
        },
        textOpen ? t('votes.hide_text') : t('votes.read_text'),
      )
      : null;
    const details = text ? langText('p', { class: 'draft-text vd-text', id: `vd-${d.id}-x`, hidden: !textOpen }, d.text) : null;
    const statusLabel = d.status === 'adopted' && d.adopted_by === 'consensus'
      ? t('votes.status_consensus')
      : tv('draft.status', d.status);
    const head = h(
      'div',
      { class: 'vd-head' },
      h(
        'p',
        { class: 'vd-meta' },
        h('span', { class: 'kind' }, tv('draft.kind', d.kind)),
        ' ',
        h('span', { class: `pill draft-status st-${d.status}`, 'data-testid': 'draft-status' }, statusLabel),
        d.version > 1 ? h('span', { class: 'muted small' }, ` ${t('votes.version', { n: d.version })}`) : null,
      ),
      langText('p', { class: 'vd-title', id: idT }, d.title),
    );

    const out = [];
    // What happened to this text: earlier votes without a result, then the decision.
    for (const p of polls) {
      if (p.status === 'closed' && p.outcome === 'no_quorum' && (!dec.poll || dec.poll.id !== p.id)) {
        out.push(outcomeBox(p, 'no_quorum', ctx.roster, true));
      }
    }
    if (dec.outcome === 'consensus') {
      out.push(h('div', { class: 'poll-outcome is-consensus', 'data-testid': 'poll-outcome', 'data-outcome': 'consensus' },
        h('p', { class: 'outcome-head' }, t('votes.by_consensus'))));
    } else if (dec.poll) {
      out.push(outcomeBox(dec.poll, dec.outcome, ctx.roster, false));
    }
    const cancelled = polls.filter((p) => p.status === 'cancelled').length;
    if (cancelled && d.status === 'draft') out.push(h('p', { class: 'muted small' }, t('votes.cancelled_n', { n: cancelled })));

    const actions = [];
    if (d.status === 'draft') {
      actions.push(
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-small btn-primary',
            'data-act': 'open',
            'data-testid': 'btn-open-poll',
            'data-draft': d.id,
            'aria-describedby': idT,
            'aria-expanded': String(vui.formFor === d.id),
            'aria-busy': busy ? 'true' : null,
            disabled: ctx.off,
          },
          t('votes.open_btn'),
        ),
        h(
          'button',
          {
            type: 'button',
            class: 'btn btn-small',
            'data-act': 'consensus',
            'data-testid': 'btn-consensus',
            'data-draft': d.id,
            'aria-describedby': idT,
            'aria-expanded': String(vui.consensusFor === d.id),
            'aria-busy': busy ? 'true' : null,
            disabled: ctx.off,
          },
          t('votes.consensus_btn'),
        ),
      );
    } else if (d.status === 'voting') {
      actions.push(h('p', { class: 'small vd-voting' }, t('votes.being_voted')));
    }
    if (textBtn) actions.push(textBtn);
    return h(
      'div',
      { class: 'vd-main' },
      head,
      out,
      actions.length ? h('div', { class: 'vd-actions' }, actions) : null,
      details,
    );
  }

  function outcomeBox(p, outcome, roster, earlier) {
    const lang = currentLang();
    const j = judge(p);
    const when = p.closed_at ? C.fmtTime(p.closed_at, lang) : '';
    const headKey = earlier ? 'votes.outcome_earlier' : 'votes.outcome_head';
    return h(
      'div',
      { class: `poll-outcome is-${outcome}`, 'data-testid': 'poll-outcome', 'data-outcome': outcome || '', 'data-poll': p.id },
      h('p', { class: 'outcome-head' }, t(headKey, { outcome: tv('votes.outcome', outcome), time: when })),
      h('p', { class: 'outcome-figs' }, countsText(p)),
      h('p', { class: 'outcome-figs' }, turnoutText(p, roster)),
      h('p', { class: 'outcome-rule small' }, [settingsText(p), j.key ? t(j.key, j.vars) : ''].filter(Boolean).join(' — ')),
    );
  }

  $('vote-drafts').addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    const li = e.target.closest('[data-testid="draft-row"]');
    if (!b || !li || b.disabled) return;
    draftAct(li.dataset.id, b.dataset.act);
  });

  function draftAct(id, act) {
    const s = client.state;
    if (!s) return;
    const d = draftsOf(s).find((x) => x.id === id);
    if (!d) return;
    switch (act) {
      case 'open':
        if (d.status !== 'draft' || ended() || busyDraft(id)) return;
        if (vui.formFor === id) return closeForm(true);
        closeConsensus(false);
        openForm(id);
        break;
      case 'consensus':
        if (d.status !== 'draft' || ended() || busyDraft(id)) return;
        if (vui.consensusFor === id) return closeConsensus(true);
        closeForm(false);
        openConsensus(id);
        break;
      case 'form-cancel':
        closeForm(true);
        break;
      case 'consensus-no':
        closeConsensus(true);
        break;
      case 'text':
        if (vui.textOpen.has(id)) vui.textOpen.delete(id);
        else vui.textOpen.add(id);
        render(s);
        break;
      case 'consensus-yes':
        if (busyDraft(id) || d.status !== 'draft') return;
        closeConsensus(false);
        client.send('draft.adopt_by_consensus', { draft: id });
        render(s);
        focusRow(id);
        break;
      default:
        break;
    }
  }

  function focusRow(id) {
    const row = vui.rows.get(id);
    if (row) row.li.focus();
  }

  // ------------------------------------------------------------ the "open the vote" form

  function openForm(id) {
    vui.formFor = id;
    vui.formEl = buildForm(id);
    render(client.state);
    const first = vui.formEl.querySelector('input[name="method"]:checked');
    if (first) first.focus();
  }

  function closeForm(focusBack) {
    const id = vui.formFor;
    vui.formFor = null;
    vui.formEl = null;
    if (id == null) return;
    if (lastState) render(lastState);
    if (focusBack) {
      const row = vui.rows.get(id);
      const b = row && row.main.querySelector('[data-act="open"]');
      if (b) b.focus();
      else if (row) row.li.focus();
    }
  }

  function buildForm(draftId) {
    const id = `pf-${draftId}`;
    const d = draftsOf(client.state).find((x) => x.id === draftId);
    const radio = (m, checked) =>
      h(
        'label',
        { class: 'pf-choice' },
        h('input', { type: 'radio', name: 'method', value: m, checked, 'aria-describedby': `${id}-m-${m}` }),
        h(
          'span',
          { class: 'pf-choice-text' },
          h('span', { class: 'pf-choice-name' }, t(`votes.method.${m}`)),
          h('span', { class: 'pf-choice-hint', id: `${id}-m-${m}` }, t(`votes.method_hint.${m}`)),
        ),
      );
    const check = (testid, name, label, hint) =>
      h(
        'div',
        { class: 'pf-check' },
        h('input', { type: 'checkbox', id: `${id}-${name}`, name, 'data-testid': testid, 'aria-describedby': `${id}-${name}-h` }),
        h('label', { for: `${id}-${name}` }, label),
        h('p', { class: 'pf-hint', id: `${id}-${name}-h` }, hint),
      );
    const form = h(
      'form',
      { class: 'poll-form', 'data-testid': 'poll-form', 'aria-labelledby': `${id}-title`, novalidate: true, 'data-lang': currentLang() },
      h('p', { class: 'pf-title', id: `${id}-title` }, t('votes.form_title', { title: d ? loc(d.title) : '' })),
      h(
        'fieldset',
        { class: 'pf-methods', 'data-testid': 'poll-method' },
        h('legend', null, t('votes.method_label')),
        METHODS.map((m, i) => radio(m, i === 0)),
      ),
      h(
        'div',
        { class: 'pf-quorum' },
        h('label', { for: `${id}-quorum` }, t('votes.quorum_label')),
        h('input', {
          type: 'number', id: `${id}-quorum`, name: 'quorum', min: '0', step: '1', value: '0', inputmode: 'numeric',
          'data-testid': 'poll-quorum', 'aria-describedby': `${id}-quorum-h ${id}-err`,
        }),
        h('p', { class: 'pf-hint', id: `${id}-quorum-h` }),
      ),
      check('poll-secret', 'secret', t('votes.secret_label'), t('votes.secret_hint')),
      check('poll-hidden', 'hidden', t('votes.hidden_label'), t('votes.hidden_hint')),
      h('p', { class: 'pf-warn', 'data-role': 'others', hidden: true }),
      h('p', { class: 'form-error', id: `${id}-err`, role: 'alert', 'data-role': 'error', hidden: true }),
      h(
        'div',
        { class: 'pf-buttons' },
        h('button', { type: 'button', class: 'btn', 'data-act': 'form-cancel' }, t('common.cancel')),
        h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'btn-poll-start' }, t('votes.start_btn')),
      ),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      submitForm(draftId, form);
    });
    form.addEventListener('input', () => {
      const err = form.querySelector('[data-role="error"]');
      if (!err.hidden) {
        err.hidden = true;
        form.querySelector('[name="quorum"]').removeAttribute('aria-invalid');
      }
    });
    return form;
  }

  function updateForm(s) {
    const form = vui.formEl;
    if (!form) return;
    const hint = form.querySelector('[id$="-quorum-h"]');
    if (isRoster(s)) {
      const w = s.roster && s.roster.weight != null ? num(s.roster.weight) : null;
      setText(hint, w == null ? t('votes.quorum_hint') : t('votes.quorum_hint_roster', { n: fmtNum(w) }));
    } else {
      const n = client.presence && client.presence.participants != null ? num(client.presence.participants) : null;
      setText(hint, n == null ? t('votes.quorum_hint') : t('votes.quorum_hint_open', { n: fmtNum(n) }));
    }
    const others = pollsOf(s).filter((p) => p.status === 'open');
    const warn = form.querySelector('[data-role="others"]');
    warn.hidden = others.length === 0;
    if (others.length) {
      const titles = others.map((p) => {
        const d = draftsOf(s).find((x) => x.id === p.draft);
        return d ? `“${loc(d.title)}”` : '';
      }).filter(Boolean).join(', ');
      setText(warn, t('votes.others_open', { n: others.length, titles }));
    }
    const start = form.querySelector('[data-testid="btn-poll-start"]');
    start.setAttribute('aria-busy', String(busyDraft(vui.formFor)));
  }

  function submitForm(draftId, form) {
    const s = client.state;
    if (!s || ended() || busyDraft(draftId)) return;
    const method = (form.querySelector('input[name="method"]:checked') || {}).value || 'simple';
    const qEl = form.querySelector('[name="quorum"]');
    const raw = String(qEl.value || '').trim();
    const quorum = raw === '' ? 0 : Number(raw);
    const err = form.querySelector('[data-role="error"]');
    if (!Number.isInteger(quorum) || quorum < 0) {
      setText(err, t('votes.quorum_invalid'));
      err.hidden = false;
      qEl.setAttribute('aria-invalid', 'true');
      qEl.focus();
      return;
    }
    const fields = {
      draft: draftId,
      method,
      quorum,
      secret: form.querySelector('[name="secret"]').checked,
      hidden: form.querySelector('[name="hidden"]').checked,
    };
    vui.formFor = null;
    vui.formEl = null;
    client.send('poll.open', fields);
    render(s);
    focusRow(draftId);
  }

  // ------------------------------------------------------------ adoption by consensus

  function openConsensus(id) {
    vui.consensusFor = id;
    vui.consensusEl = buildConsensus(id);
    render(client.state);
    vui.consensusEl.querySelector('[data-act="consensus-no"]').focus();
  }

  function buildConsensus(id) {
    const d = draftsOf(client.state).find((x) => x.id === id);
    const cid = `cc-${id}`;
    return h(
      'div',
      {
        'data-lang': currentLang(),
        class: 'confirm confirm-neutral',
        role: 'alertdialog',
        'aria-modal': 'false',
        'aria-labelledby': `${cid}-q`,
        'aria-describedby': `${cid}-d`,
        'data-testid': 'consensus-confirm',
      },
      h('p', { id: `${cid}-q` }, t('votes.consensus_question', { title: d ? loc(d.title) : '' })),
      h('p', { class: 'small', id: `${cid}-d` }, t('votes.consensus_detail')),
      h(
        'div',
        { class: 'confirm-buttons' },
        h('button', { type: 'button', class: 'btn', 'data-act': 'consensus-no', 'data-testid': 'btn-consensus-cancel' }, t('common.cancel')),
        h('button', { type: 'button', class: 'btn btn-primary', 'data-act': 'consensus-yes', 'data-testid': 'btn-consensus-confirm' }, t('votes.consensus_confirm')),
      ),
    );
  }

  function closeConsensus(focusBack) {
    const id = vui.consensusFor;
    vui.consensusFor = null;
    vui.consensusEl = null;
    if (id == null) return;
    if (lastState) render(lastState);
    if (focusBack) {
      const row = vui.rows.get(id);
      const b = row && row.main.querySelector('[data-act="consensus"]');
      if (b) b.focus();
      else if (row) row.li.focus();
    }
  }

  // Escape closes the open form or confirmation, and the focus goes back to what opened it.
  document.addEventListener('keydown', (e) => {
    if (e.key !== 'Escape' || e.defaultPrevented) return;
    if (vui.closeFor != null) dismissLive(vui.closeFor, 'close');
    else if (vui.cancelFor != null) dismissLive(vui.cancelFor, 'cancel');
    else if (vui.consensusFor != null) closeConsensus(true);
    else if (vui.formFor != null) closeForm(true);
    else if (!$('roster-confirm').hidden) hideRosterConfirm(true);
    else return;
    e.preventDefault();
  });

  // ------------------------------------------------------------ a new draft, then its vote

  /** The console's new-draft form (draftform.js), then the box that puts the new text to the vote. */
  const nd = { f: null, created: null, el: null };

  function renderNewDraft(s, drafts) {
    const btn = $('btn-draft-new');
    const off = s.phase === 'ended';
    btn.disabled = off && !nd.f;
    btn.setAttribute('aria-expanded', String(!!nd.f));
    if (nd.f) {
      labelDraftForm(nd.f);
      nd.f.submit.disabled = off;
    }
    if (!nd.created) return;
    const d = drafts.find((x) => x.id === nd.created.id);
    // Put to the vote (here or from its row), withdrawn, or the session over: the box has done its work.
    if (off || (d && d.status !== 'draft')) {
      closeCreated(false);
      return;
    }
    if (!nd.el || nd.el.dataset.lang !== currentLang()) {
      const had = nd.el && nd.el.contains(document.activeElement) ? document.activeElement.dataset.act : null;
      nd.el = buildCreated(nd.created);
      C.fill($('draft-new-slot'), nd.el);
      if (had) nd.el.querySelector(`[data-act="${had}"]`)?.focus();
    }
    const now = nd.el.querySelector('[data-act="vote-now"]');
    now.setAttribute('aria-busy', String(busyDraft(nd.created.id) || !d));
  }

  function openNewDraft() {
    const s = client.state;
    if (!s || nd.f || ended()) return;
    closeCreated(false);
    const f = draftForm(draftLanguages(s), { prefix: 'con-new', onSubmit: submitNewDraft, onCancel: () => closeNewDraft(true) });
    f.cmd = null;
    nd.f = f;
    C.fill($('draft-new-slot'), f.form);
    render(s);
    f.slots[0].title.focus();
  }

  function closeNewDraft(focusBack) {
    nd.f = null;
    C.fill($('draft-new-slot'));
    if (client.state) render(client.state);
    if (focusBack) $('btn-draft-new').focus();
  }

  function submitNewDraft() {
    const f = nd.f;
    if (!f || ended() || (f.cmd && (f.cmd.status === 'queued' || f.cmd.status === 'sent'))) return;
    const fields = readDraftForm(f);
    if (!fields) return;
    f.title = fields.title;
    f.cmd = client.send('draft.create', fields);
    newDraftFate(f.cmd);
  }

  /** How the draft being created fares; once acked, its id comes back and the vote can open. */
  function newDraftFate(c) {
    const f = nd.f;
    if (!f || f.cmd !== c) return;
    f.submit.setAttribute('aria-busy', String(c.status === 'queued' || c.status === 'sent'));
    if (c.status === 'queued') sayDraftForm(f, t('rap.note_queued'), 'info');
    else if (c.status === 'sent') sayDraftForm(f, t('rap.new_sending'), 'info');
    else if (c.status === 'refused') sayDraftForm(f, t('rap.new_refused', { reason: refusal(c) }), 'error');
    else if (c.status === 'acked') {
      const id = c.result && c.result.draft;
      nd.f = null;
      C.fill($('draft-new-slot'));
      if (id == null) {
        $('btn-draft-new').focus();
        return;
      }
      nd.created = { id, title: f.title };
      nd.el = null;
      if (client.state) render(client.state);
      nd.el?.querySelector('[data-act="vote-now"]')?.focus();
    }
  }

  function buildCreated(c) {
    const qid = 'draft-created-q';
    const el = h(
      'div',
      {
        class: 'confirm confirm-neutral draft-created',
        role: 'group',
        'aria-labelledby': qid,
        'aria-describedby': 'draft-created-d',
        'data-testid': 'draft-created',
        'data-draft': c.id,
        'data-lang': currentLang(),
      },
      h('p', { id: qid }, t('con.draft_created', { title: loc(c.title) })),
      h('p', { class: 'small', id: 'draft-created-d' }, t('con.vote_now_hint')),
      h(
        'div',
        { class: 'confirm-buttons draft-created-buttons' },
        h('button', { type: 'button', class: 'btn btn-primary', 'data-act': 'vote-now', 'data-testid': 'btn-vote-now' }, t('con.vote_now')),
        h('button', { type: 'button', class: 'btn', 'data-act': 'vote-rules', 'data-testid': 'btn-vote-rules' }, t('con.vote_settings')),
        h('button', { type: 'button', class: 'btn', 'data-act': 'later', 'data-testid': 'btn-created-close' }, t('con.later')),
      ),
    );
    el.addEventListener('click', (e) => {
      const b = e.target.closest('button[data-act]');
      if (!b || !nd.created) return;
      const id = nd.created.id;
      const d = draftsOf(client.state).find((x) => x.id === id);
      if (b.dataset.act === 'later') {
        closeCreated(true);
      } else if (b.dataset.act === 'vote-rules') {
        if (!d) return;
        closeCreated(false);
        openForm(id);
      } else if (b.dataset.act === 'vote-now') {
        if (!d || d.status !== 'draft' || busyDraft(id) || ended()) return;
        closeCreated(false);
        client.send('poll.open', { draft: id });
        if (client.state) render(client.state);
        focusRow(id);
      }
    });
    el.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.preventDefault();
        closeCreated(true);
      }
    });
    return el;
  }

  function closeCreated(focusBack) {
    if (!nd.created) return;
    nd.created = null;
    nd.el = null;
    C.fill($('draft-new-slot'));
    if (focusBack) $('btn-draft-new').focus();
  }

  $('btn-draft-new').addEventListener('click', () => {
    if (nd.f) closeNewDraft(true);
    else openNewDraft();
  });

  function refusal(c) {
    const e = c.error || {};
    const base = tv('error', e.code || 'invalid');
    return e.message ? `${base}: ${e.message}` : base;
  }

  // ------------------------------------------------------------ voter roster

  const rui = { codes: null, reading: null, url: null, checked: null, checking: 0 };

  function renderRoster(s) {
    const box = $('roster-panel');
    const on = isRoster(s);
    box.hidden = !on;
    if (!on) return;
    const r = s.roster || null;
    const entries = r ? num(r.entries) : 0;
    const sum = $('roster-summary');
    sum.dataset.entries = String(entries);
    sum.dataset.claimed = String(r ? num(r.claimed) : 0);
    if (!entries) {
      setText($('roster-count'), t('roster.none'));
      setText($('roster-claimed'), '');
      $('roster-meter').hidden = true;
    } else {
      setText($('roster-count'), t('roster.summary', { n: entries, weight: fmtNum(num(r.weight)) }));
      setText($('roster-claimed'), t('roster.claimed', { n: num(r.claimed), total: fmtNum(entries), pct: fmtPct(num(r.claimed), entries) }));
      $('roster-meter').hidden = false;
      $('roster-meter-fill').style.width = `${Math.min(100, (num(r.claimed) / entries) * 100).toFixed(1)}%`;
    }
    $('btn-cards').disabled = !entries;
    $('btn-codes-csv').disabled = !rui.codes;
    $('roster-codes-note').hidden = !!rui.codes || !entries;
    $('roster-codes-warn').hidden = !entries;
    setText($('roster-load-label'), entries ? t('roster.replace_title') : t('roster.load_title'));
    const open = pollsOf(s).some((p) => p.status === 'open');
    $('roster-open-note').hidden = !open;
  }

  $('roster-file').addEventListener('change', () => {
    const f = $('roster-file').files && $('roster-file').files[0];
    if (!f) return;
    rosterError('');
    rui.reading = f.text().then(
      (text) => {
        $('roster-text').value = text;
        setText($('roster-status'), t('roster.file_read', { name: f.name }));
        checkRoster(text);
        return text;
      },
      () => {
        rosterError(t('roster.file_failed'));
        return null;
      },
    ).finally(() => {
      rui.reading = null;
    });
  });

  $('btn-roster-upload').addEventListener('click', async () => {
    if (rui.reading) await rui.reading;
    const text = $('roster-text').value;
    if (!text.trim()) {
      rosterError(t('roster.empty'));
      $('roster-text').focus();
      return;
    }
    const s = client.state;
    if (s && s.roster && num(s.roster.entries) > 0) {
      setText($('roster-confirm-q'), t('roster.replace_question', { n: num(s.roster.entries) }));
      $('roster-confirm').hidden = false;
      $('btn-roster-upload').hidden = true;
      $('btn-roster-keep').focus();
      return;
    }
    upload(text);
  });
  $('btn-roster-keep').addEventListener('click', () => hideRosterConfirm(true));
  $('btn-roster-replace').addEventListener('click', () => {
    hideRosterConfirm(false);
    upload($('roster-text').value);
  });

  function hideRosterConfirm(focusBack) {
    $('roster-confirm').hidden = true;
    $('btn-roster-upload').hidden = false;
    if (focusBack) $('btn-roster-upload').focus();
  }

  // The preview: the CSV read by the server as the upload would read it (POST /api/roster/check,
  // nothing stored): its rows and total weight, or its problems line by line.
  const PREVIEW_ROWS = 50;

  $('btn-roster-check').addEventListener('click', async () => {
    if (rui.reading) await rui.reading;
    const text = $('roster-text').value;
    if (!text.trim()) {
      rosterError(t('roster.empty'));
      $('roster-text').focus();
      return;
    }
    checkRoster(text);
  });
  $('roster-text').addEventListener('input', () => {
    // What was checked is no longer what is there.
    if (rui.checked != null && rui.checked !== $('roster-text').value) {
      $('roster-preview').hidden = true;
      rui.checked = null;
    }
  });

  async function checkRoster(text) {
    const ticket = ++rui.checking;
    const btn = $('btn-roster-check');
    btn.setAttribute('aria-busy', 'true');
    rosterError('');
    setText($('roster-status'), t('roster.checking'));
    try {
      const res = await fetch('/api/roster/check', {
        method: 'POST', cache: 'no-store', credentials: 'omit', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text,
      });
      const body = await res.json().catch(() => null);
      if (ticket !== rui.checking) return;
      setText($('roster-status'), '');
      if (!res.ok) {
        $('roster-preview').hidden = true;
        rui.checked = null;
        const e = (body && body.error) || {};
        if (res.status === 400) rosterError(t('roster.preview_bad'), problemLines(e));
        else if (res.status === 413) rosterError(t('roster.err_413'));
        else rosterError(t('roster.check_failed', { status: res.status }));
        return;
      }
      showPreview(body, text);
    } catch {
      if (ticket === rui.checking) {
        setText($('roster-status'), '');
        rosterError(t('roster.err_network'));
      }
    } finally {
      if (ticket === rui.checking) btn.setAttribute('aria-busy', 'false');
    }
  }

  function showPreview(body, text) {
    const entries = body && Array.isArray(body.entries) ? body.entries : [];
    const weight = body && body.weight != null ? num(body.weight) : entries.reduce((a, x) => a + num(x.weight), 0);
    rui.checked = text;
    $('roster-preview').hidden = false;
    $('roster-preview').dataset.entries = String(entries.length);
    $('roster-preview').dataset.weight = String(weight);
    setText($('roster-preview-total'), t('roster.preview_summary', { n: entries.length, weight: fmtNum(weight) }));
    // Line numbers as in the file: the header is line 1 (blank lines aside).
    C.fill(
      $('roster-preview-rows'),
      entries.slice(0, PREVIEW_ROWS).map((x, i) => h(
        'tr',
        { 'data-testid': 'roster-preview-row' },
        h('td', { class: 'num' }, String(i + 2)),
        h('td', null, x.name),
        h('td', null, x.organisation || ''),
        h('td', { class: 'num' }, fmtNum(num(x.weight))),
      )),
    );
    const more = entries.length - PREVIEW_ROWS;
    setText($('roster-preview-more'), more > 0 ? t('roster.preview_more', { n: more }) : '');
  }

  /** A 400's problems, one per line of the CSV (`error.fields`), else from its message. */
  function problemLines(e) {
    if (Array.isArray(e.fields) && e.fields.length) {
      return e.fields.map((f) => {
        const m = /^line (\d+)$/.exec(String(f.path || ''));
        return m ? t('roster.err_line', { line: m[1], message: f.message }) : [f.path, f.message].filter(Boolean).join(': ');
      });
    }
    const parts = errorParts(e.message);
    return parts.lines.length ? parts.lines : [parts.head].filter(Boolean);
  }

  function rosterError(text, lines) {
    const el = $('roster-error');
    el.hidden = !text;
    C.fill(el, text ? h('p', null, text) : null, lines && lines.length ? h('ul', null, lines.map((l) => h('li', null, l))) : null);
    $('roster-text').setAttribute('aria-invalid', String(!!text));
  }

  const api = (path, init = {}) =>
    fetch(`/api/sessions/${encodeURIComponent(sessionId)}${path}`, {
      ...init,
      cache: 'no-store',
      credentials: 'omit',
      headers: { Authorization: `Bearer ${key}`, ...(init.headers || {}) },
    });

  async function upload(text) {
    const btn = $('btn-roster-upload');
    if (btn.getAttribute('aria-busy') === 'true') return;
    btn.setAttribute('aria-busy', 'true');
    rosterError('');
    setText($('roster-status'), t('roster.uploading'));
    try {
      const res = await api('/roster', { method: 'PUT', headers: { 'Content-Type': 'text/csv', Accept: 'application/json' }, body: text });
      const body = await res.json().catch(() => null);
      if (!res.ok) {
        setText($('roster-status'), '');
        const e = (body && body.error) || {};
        const parts = errorParts(e.message);
        if (res.status === 400 && Array.isArray(e.fields) && e.fields.length) rosterError(t('roster.err_400', { detail: '' }).trim(), problemLines(e));
        else if (res.status === 400) rosterError(t('roster.err_400', { detail: parts.head }).trim(), parts.lines);
        else if (res.status === 409) rosterError(t('roster.err_409'));
        else if (res.status === 401 || res.status === 403) rosterError(t('roster.err_auth'));
        else if (res.status === 413) rosterError(t('roster.err_413'));
        else rosterError(t('roster.err_other', { status: res.status }));
        $('roster-text').focus();
        return;
      }
      const entries = body && Array.isArray(body.entries) ? body.entries : [];
      rui.codes = entries;
      const weight = entries.reduce((a, x) => a + num(x.weight), 0);
      setText($('roster-status'), t('roster.uploaded', { n: entries.length, weight: fmtNum(weight) }));
      $('roster-file').value = '';
      if (client.state) renderRoster(client.state);
    } catch {
      setText($('roster-status'), '');
      rosterError(t('roster.err_network'));
    } finally {
      btn.setAttribute('aria-busy', 'false');
    }
  }

  /**
   * A 400's problems, one per line of the CSV: the server says "line 3: …; line 4: …".
   * Returns {head, lines}: a message naming no line stays whole.
   */
  function errorParts(message) {
    const parts = String(message || '').split(/;\s+(?=line \d+)/);
    const lines = [];
    for (const p of parts) {
      const m = /^line (\d+):\s*(.*)$/s.exec(p.trim());
      if (!m) return { head: message, lines: [] };
      lines.push(t('roster.err_line', { line: m[1], message: m[2] }));
    }
    return { head: '', lines };
  }

  $('btn-cards').addEventListener('click', async () => {
    const btn = $('btn-cards');
    if (btn.getAttribute('aria-busy') === 'true') return;
    btn.setAttribute('aria-busy', 'true');
    rosterError('');
    $('cards-fallback').hidden = true;
    try {
      const res = await api('/roster/cards.html', { headers: { Accept: 'text/html' } });
      if (!res.ok) {
        rosterError(res.status === 401 || res.status === 403 ? t('roster.err_auth') : t('roster.cards_failed', { status: res.status }));
        return;
      }
      // The page opened from a blob: URL inherits this console's Content-Security-Policy, which
      // refuses an inline <style>: its rules are taken out and given to it as a constructed
      // stylesheet once it is open.
      // (Not through DOMParser: parsing the <style> there is already refused, and reported.)
      let css = '';
      const html = (await res.text()).replace(/<style[^>]*>([\s\S]*?)<\/style>/gi, (m, rules) => {
        css += `${rules}\n`;
        return '';
      });
      if (rui.url) URL.revokeObjectURL(rui.url);
      rui.url = URL.createObjectURL(new Blob([html], { type: 'text/html;charset=utf-8' }));
      const w = window.open(rui.url, '_blank');
      const link = $('cards-link');
      link.href = rui.url;
      if (!w) {
        $('cards-fallback').hidden = false;
        link.focus();
      } else if (css) {
        C.styleWhenLoaded(w, rui.url, css);
      }
    } catch {
      rosterError(t('roster.err_network'));
    } finally {
      btn.setAttribute('aria-busy', 'false');
    }
  });

  $('btn-codes-csv').addEventListener('click', () => {
    if (!rui.codes) return;
    const cell = (v) => {
      let s = v == null ? '' : String(v);
      // A spreadsheet would run a cell that starts like a formula.
      if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
      return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const rows = [['name', 'organisation', 'weight', 'code'], ...rui.codes.map((x) => [x.name, x.organisation, x.weight, x.code])];
    const csv = `\ufeff${rows.map((r) => r.map(cell).join(',')).join('\r\n')}\r\n`;
    const url = URL.createObjectURL(new Blob([csv], { type: 'text/csv;charset=utf-8' }));
    const a = document.createElement('a');
    a.href = url;
    const s = client.state || {};
    a.download = `${String(s.reference || s.code || 'palabre').replace(/[^\w.-]+/g, '-')}-voting-codes.csv`;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  });

  function onCommand(rec) {
    if (rec.op === 'draft.create') newDraftFate(rec);
    if (client.state && (rec.op.startsWith('poll.') || rec.op.startsWith('draft.'))) render(client.state);
  }

  return { render, onCommand };
}

