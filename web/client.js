// Palabre shared client: the live connection, the local state, safe DOM.
//
// One module for every page. It owns the WebSocket (hello with `since`,
// ordered events, resync on a gap, reconnect with backoff and jitter), the
// commands (queued while offline, resent with the same id, each one's fate
// tracked), and `h()`, the only way pages build DOM: text is always set as
// text, never parsed as HTML. Texts given by language (titles, speaker lines, draft
// texts) are shown through `locText` / `langText` and their kin: the page's language,
// else the other one with a small badge that says so. Nothing here touches the DOM at
// import time, so `applyEvent` can be imported and tested outside a browser.

import { t, tv, onLangChange, currentLang } from './i18n.js';

// ---------------------------------------------------------------- state

/**
 * Applies one sequenced event to a state view and returns the new state.
 * Pure: the input is never mutated; unknown kinds and events whose details
 * are hidden from this role (just `{kind}`) return the state unchanged.
 * `state.role` says whose view it is (moderator, rapporteur, participant, screen):
 * the debate events fold the way /work/spec-debate.md says each role sees them, the
 * voting events (polls, drafts, `voter.claimed`) the way /work/spec-votes.md does: a
 * participant whose roster entry was claimed again elsewhere keeps `voter` with
 * `moved: true` and the new `claim` (it may no longer vote), as the server's view has it.
 */
/**
 * A live change of the agenda (`agenda.item_inserted|updated|moved|removed`): items are
 * named by their stable id, and the current item stays current wherever it lands.
 */
function applyAgendaChange(state, event) {
  if (!state.agenda || !Array.isArray(state.agenda.items)) return state;
  const before = state.agenda.items;
  const currentId = state.agenda.current != null && before[state.agenda.current] ? before[state.agenda.current].id : null;
  let items = before.slice();
  const at = (id) => items.findIndex((it) => it.id === id);
  switch (event.kind) {
    case 'agenda.item_inserted': {
      const it = event.item;
      if (!it || it.id == null || at(it.id) >= 0) return state;
      const where = Math.max(0, Math.min(Number(event.at) || 0, items.length));
      items.splice(where, 0, { ...it, speakers: it.speakers || [], spent_seconds: 0, held: false });
      break;
    }
    case 'agenda.item_updated': {
      const it = event.item;
      const i = it ? at(it.id) : -1;
      if (i < 0) return state;
      const { id, title, kind, minutes, speakers, turn_seconds } = it;
      items[i] = { ...items[i], id, title, kind, minutes, speakers: speakers || [], turn_seconds };
      if (turn_seconds == null) delete items[i].turn_seconds;
      break;
    }
    case 'agenda.item_moved': {
      const i = at(event.item);
      if (i < 0) return state;
      const [moved] = items.splice(i, 1);
      items.splice(Math.max(0, Math.min(Number(event.to) || 0, items.length)), 0, moved);
      break;
    }
    case 'agenda.item_removed':
      if (at(event.item) < 0) return state;
      items = items.filter((it) => it.id !== event.item);
      break;
    default:
      return state;
  }
  const current = currentId == null ? state.agenda.current : Math.max(0, items.findIndex((it) => it.id === currentId));
  return { ...state, agenda: { ...state.agenda, items, current } };
}

/** The state with draft `id` replaced by `fn(draft)`. */
function mapDraft(state, id, fn) {
  if (!Array.isArray(state.drafts) || !state.drafts.some((d) => d.id === id)) return state;
  return { ...state, drafts: state.drafts.map((d) => (d.id === id ? fn(d) : d)) };
}

export function applyEvent(state, event) {
  if (!state || !event || typeof event.kind !== 'string') return state;
  switch (event.kind) {
    case 'session.started':
      if (!('at' in event)) return state;
      return { ...state, phase: 'running', started_at: event.at };
    case 'agenda.moved': {
      if (!('current' in event) || !state.agenda) return state;
      const items = (state.agenda.items || []).slice();
      const p = event.previous;
      if (p != null && items[p] && event.previous_spent_seconds != null) {
        items[p] = { ...items[p], spent_seconds: event.previous_spent_seconds };
      }
      if (items[event.current]) items[event.current] = { ...items[event.current], held: true };
      const next = {
        ...state,
        agenda: { ...state.agenda, current: event.current, since: event.at ?? null, items },
      };
      // The speaking time of the new item: its own, else the session's.
      const item = event.current != null ? items[event.current] : null;
      const turn = (item && item.turn_seconds) ?? (state.settings && state.settings.turn_seconds);
      if (turn != null) next.floor = { ...floorOf(state), turn_seconds: turn };
      return next;
    }
    case 'agenda.item_inserted':
    case 'agenda.item_updated':
    case 'agenda.item_moved':
    case 'agenda.item_removed':
      return applyAgendaChange(state, event);
    case 'qa.opened':
      return { ...state, qa_open: true };
    case 'qa.closed':
      return { ...state, qa_open: false };
    case 'session.ended': {
      if (!('at' in event)) return state;
      const next = { ...state, phase: 'ended', ended_at: event.at };
      // The item running at the end gets its final time, and the clock stops.
      const i = event.item;
      if (state.agenda && i != null && event.item_spent_seconds != null && state.agenda.items[i]) {
        const items = state.agenda.items.slice();
        items[i] = { ...items[i], spent_seconds: event.item_spent_seconds };
        next.agenda = { ...state.agenda, since: null, items };
      }
      return next;
    }

    // ---- questions
    case 'question.asked':
    case 'question.approved': {
      const q = event.question;
      if (!q || typeof q !== 'object' || q.id == null) return state; // hidden from this role
      const approved = event.kind === 'question.approved';
      const role = state.role;
      const mine = isMine(state, 'questions', q.id);
      if (role === 'screen' && !approved && q.status !== 'approved') return state;
      if (role === 'participant' && !approved && q.status === 'pending' && !mine) return state;
      return upsertQuestion(state, approved ? { ...q, status: 'approved' } : q);
    }
    case 'question.rejected': {
      const id = event.question;
      if (id == null) return state;
      const role = state.role;
      const q = findQuestion(state, id);
      let next = state;
      if (role === 'screen' || (role === 'participant' && !(q && q.mine) && !isMine(state, 'questions', id))) {
        next = removeQuestion(state, id);
      } else if (q) {
        next = patchQuestion(state, id, { status: 'rejected' });
      }
      return clearHighlight(next, id);
    }
    case 'question.answered': {
      const id = event.question;
      if (id == null) return state;
      const next = state.role === 'screen'
        ? removeQuestion(state, id)
        : patchQuestion(state, id, { status: 'answered', answered_at: event.at ?? null });
      return clearHighlight(next, id);
    }
    case 'question.highlighted':
      if (!('question' in event)) return state;
      return { ...state, highlighted: event.question ?? null };
    case 'question.merged': {
      const { question: id, into } = event;
      if (id == null) return state;
      const dup = findQuestion(state, id);
      let next = state;
      if (state.role === 'participant' && dup && (dup.mine || isMine(state, 'questions', id))) {
        next = patchQuestion(state, id, { status: 'merged', merged_into: into ?? null });
      } else {
        next = removeQuestion(state, id);
      }
      // Upvoters are united: who upvoted the duplicate has upvoted the target
      // (its count comes with the next `upvotes` frame).
      if (dup && dup.upvoted && into != null && findQuestion(next, into)) {
        next = patchQuestion(next, into, { upvoted: true });
      }
      return clearHighlight(next, id);
    }

    // ---- list of speakers
    case 'floor.requested': {
      const r = event.request;
      if (!r || typeof r !== 'object' || r.id == null) return state;
      const floor = floorOf(state);
      if (floor.queue.some((x) => x.id === r.id) || (floor.speaking && floor.speaking.id === r.id)) return state;
      const entry = isMine(state, 'requests', r.id) ? { ...r, mine: true } : r;
      return { ...state, floor: { ...floor, queue: [...floor.queue, entry] } };
    }
    case 'floor.withdrawn':
    case 'floor.skipped': {
      const floor = floorOf(state);
      if (!floor.queue.some((x) => x.id === event.request)) return state;
      return { ...state, floor: { ...floor, queue: floor.queue.filter((x) => x.id !== event.request) } };
    }
    case 'floor.moved': {
      const floor = floorOf(state);
      const from = floor.queue.findIndex((x) => x.id === event.request);
      if (from < 0 || typeof event.position !== 'number') return state;
      const queue = floor.queue.slice();
      const [entry] = queue.splice(from, 1);
      const to = Math.max(0, Math.min(queue.length, Math.floor(event.position)));
      queue.splice(to, 0, entry);
      return { ...state, floor: { ...floor, queue } };
    }
    case 'floor.granted': {
      if (event.request == null || !('at' in event)) return state;
      const floor = floorOf(state);
      const entry = floor.queue.find((x) => x.id === event.request) || { id: event.request, name: '', organisation: '' };
      const speaking = { ...entry, since: event.at, limit_seconds: event.limit_seconds ?? floor.turn_seconds ?? null };
      if (isMine(state, 'requests', entry.id)) speaking.mine = true;
      return { ...state, floor: { ...floor, queue: floor.queue.filter((x) => x.id !== event.request), speaking } };
    }
    case 'floor.ended': {
      const floor = floorOf(state);
      if (!floor.speaking || (event.request != null && floor.speaking.id !== event.request)) return state;
      return { ...state, floor: { ...floor, speaking: null } };
    }

    // ---- drafts and polls
    case 'poll.opened': {
      const p = event.poll;
      if (!p || typeof p !== 'object' || p.id == null) return state;
      // The event may carry the poll as stored (`result`, no figures yet): as a view, it has
      // zero figures (counts null where this role may not see them while hidden).
      const { result, ...given } = p;
      const blind = !!p.hidden && (state.role === 'participant' || state.role === 'screen');
      const poll = {
        closed_at: null, counts: blind ? null : { for: 0, against: 0, abstain: 0 }, cast: 0, cast_weight: 0,
        eligible: latestEligible(state), outcome: null, rule: null, ...given, status: 'open',
      };
      const next = upsertPoll(state, poll);
      return p.draft != null ? patchDraft(next, p.draft, { status: 'voting', adopted_by: null, poll: p.id }) : next;
    }
    case 'poll.closed': {
      const id = event.poll;
      if (id == null || typeof id === 'object') return state;
      const patch = { status: 'closed', closed_at: event.at ?? null };
      for (const k of ['counts', 'cast', 'cast_weight', 'eligible', 'outcome', 'rule']) if (k in event) patch[k] = event[k];
      const next = patchPoll(state, id, patch);
      const draft = draftOfPoll(state, id);
      if (draft == null) return next;
      if (event.outcome === 'adopted') return patchDraft(next, draft, { status: 'adopted', adopted_by: 'vote', poll: id });
      if (event.outcome === 'rejected') return patchDraft(next, draft, { status: 'rejected', adopted_by: null, poll: id });
      // No quorum: nothing decided, the text may be put to the vote again.
      if (event.outcome === 'no_quorum') return patchDraft(next, draft, { status: 'draft', adopted_by: null, poll: null });
      return next;
    }
    case 'poll.cancelled': {
      const id = event.poll;
      if (id == null || typeof id === 'object') return state;
      const patch = { status: 'cancelled' };
      if ('at' in event) patch.closed_at = event.at;
      const next = patchPoll(state, id, patch);
      const draft = draftOfPoll(state, id);
      return draft == null ? next : patchDraft(next, draft, { status: 'draft', adopted_by: null, poll: null });
    }
    case 'draft.adopted': {
      if (event.draft == null) return state;
      return patchDraft(state, event.draft, { status: 'adopted', adopted_by: event.by ?? 'consensus', poll: null });
    }
    case 'roster.replaced': {
      if (!('entries' in event)) return state;
      // Every earlier claim is void: phones claim again with the new codes.
      if (state.role === 'participant') {
        return state.voter && state.voter.entry != null ? { ...state, voter: null } : state;
      }
      if (state.role === 'moderator' || state.role === 'rapporteur') {
        return { ...state, roster: { entries: event.entries, weight: event.weight ?? 0, claimed: 0 } };
      }
      return state;
    }
    case 'voter.claimed': {
      if (event.entry == null || event.claim == null) return state;
      if (state.role === 'participant') {
        // This device held the entry and someone claimed it since: the right moved away.
        const v = state.voter;
        if (v && v.entry != null && v.entry === event.entry && Number(v.claim) < Number(event.claim)) {
          return { ...state, voter: { ...v, claim: event.claim, moved: true } };
        }
        return state;
      }
      // Moderator and rapporteur: a first claim of an entry adds one to the claimed count.
      if (state.roster && Number(event.claim) === 1) {
        return { ...state, roster: { ...state.roster, claimed: (Number(state.roster.claimed) || 0) + 1 } };
      }
      return state;
    }
    case 'draft.edited': {
      // The event carries the WHOLE new text (string or texts by language) and the language
      // the edit changed (null: the whole text).
      if (!('text' in event)) return state;
      const lang = event.lang ?? null;
      return mapDraft(state, event.draft, (d) => ({
        ...d,
        text: event.text,
        version: event.version,
        ...(Array.isArray(d.versions)
          ? { versions: [...d.versions, { version: event.version, at: event.at, role: event.role, text: event.text, lang }] }
          : {}),
      }));
    }
    case 'draft.created': {
      if (!('title' in event) || (state.drafts || []).some((d) => d.id === event.draft)) return state;
      const staff = state.role === 'moderator' || state.role === 'rapporteur';
      const draft = {
        id: event.draft, kind: event.draft_kind, title: event.title, text: event.text, status: 'draft', version: 1,
        adopted_by: null, poll: null,
        ...(staff ? { versions: [{ version: 1, at: event.at, role: event.role, text: event.text, lang: null }] } : {}),
      };
      return { ...state, drafts: [...(state.drafts || []), draft] };
    }
    case 'draft.withdrawn':
      return mapDraft(state, event.draft, (d) => ({ ...d, status: 'withdrawn' }));
    // The rapporteur's notes are not in the state view (record.json has them): the page
    // that shows them follows these events itself.
    case 'record.noted':
    case 'record.note_edited':
    case 'record.note_deleted':
      return state;
    default:
      return state;
  }
}

/**
 * Applies a `tally` frame (coalesced, not sequenced) to its poll: `cast`, `cast_weight`,
 * `eligible`, and `counts` when the frame has them (absent while the poll hides its
 * results from this role: the counts stay as they are, null). A closed poll keeps its
 * final figures. Returns the same state when nothing changed.
 */
export function applyTally(state, frame) {
  if (!state || !frame || frame.poll == null || !Array.isArray(state.polls)) return state;
  const p = state.polls.find((x) => x.id === frame.poll);
  // A closed poll keeps its final figures; a cancelled one shows the tally it had (the last
  // frame may come just after the cancellation).
  if (!p || p.status === 'closed') return state;
  const patch = {};
  for (const k of ['cast', 'cast_weight', 'eligible']) {
    if (typeof frame[k] === 'number' && frame[k] !== p[k]) patch[k] = frame[k];
  }
  if (frame.counts && typeof frame.counts === 'object' && JSON.stringify(frame.counts) !== JSON.stringify(p.counts)) {
    patch.counts = { ...frame.counts };
  }
  return Object.keys(patch).length ? patchPoll(state, p.id, patch) : state;
}

/**
 * Applies an `upvotes` frame (`{"<question id>": n}`, absolute counts) to the
 * questions the state has. Returns the same state when nothing changed.
 */
export function applyUpvotes(state, counts) {
  if (!state || !Array.isArray(state.questions) || !counts || typeof counts !== 'object') return state;
  let changed = false;
  const questions = state.questions.map((q) => {
    const n = counts[q.id];
    if (typeof n !== 'number' || n === q.upvotes) return q;
    changed = true;
    return { ...q, upvotes: n };
  });
  return changed ? { ...state, questions } : state;
}

/**
 * Folds the result of an acknowledged command into the state, for what only the
 * sender learns from its ack: its own question (`question.ask`), its upvote
 * (`question.upvote` / `unvote`), its own request to speak (`floor.request`), its
 * ballot and receipt (`vote.cast`: `state.ballots[poll] = {choice, receipt}`), the roster
 * entry it now holds (`voter.claim`: `state.voter`). `fields` are the command's own, for
 * what an ack leaves out. Pure. The ack and the matching event may come in either order; both orders
 * end in the same state, and `mine` / `upvoted` are never lost. The ids of the
 * sender's own questions and requests are remembered in `state.own`.
 */
export function applyAck(state, op, result, fields = null) {
  if (!state || !result || typeof result !== 'object') return state;
  switch (op) {
    case 'vote.cast': {
      const poll = result.poll ?? (fields && fields.poll);
      const choice = result.choice ?? (fields && fields.choice);
      if (poll == null || !choice) return state;
      const old = (state.ballots && state.ballots[poll]) || null;
      const receipt = result.receipt ?? (old && old.receipt) ?? null;
      if (old && old.choice === choice && old.receipt === receipt) return state;
      return { ...state, ballots: { ...(state.ballots || {}), [poll]: { choice, receipt } } };
    }
    case 'voter.claim': {
      if (!('entry' in result) || result.claim == null) return state;
      const v = state.voter;
      // An older ack replayed after a newer claim changes nothing.
      if (v && v.entry === result.entry && Number(v.claim) > Number(result.claim)) return state;
      const voter = {
        entry: result.entry, name: result.name ?? null, organisation: result.organisation ?? null,
        weight: result.weight ?? 1, claim: result.claim, moved: false,
      };
      return { ...state, voter };
    }
    case 'question.ask': {
      const q = result.question;
      if (!q || typeof q !== 'object' || q.id == null) return state;
      const next = remember(state, 'questions', q.id);
      if (findQuestion(next, q.id)) return patchQuestion(next, q.id, { mine: true }); // the event was first: it is newer
      // Merged or rejected before we heard of it: the view says so at the next welcome.
      return { ...next, questions: [...(next.questions || []), { ...q, mine: true }] };
    }
    case 'question.upvote':
    case 'question.unvote': {
      const id = result.question;
      if (id == null || !findQuestion(state, id)) return state;
      const patch = {};
      if (typeof result.upvoted === 'boolean') patch.upvoted = result.upvoted;
      else patch.upvoted = op === 'question.upvote';
      if (typeof result.upvotes === 'number') patch.upvotes = result.upvotes;
      return patchQuestion(state, id, patch);
    }
    case 'floor.request': {
      const id = result.request;
      if (id == null) return state;
      const next = remember(state, 'requests', id);
      const floor = floorOf(next);
      const queue = floor.queue.map((x) => (x.id === id && !x.mine ? { ...x, mine: true } : x));
      const speaking = floor.speaking && floor.speaking.id === id && !floor.speaking.mine
        ? { ...floor.speaking, mine: true } : floor.speaking;
      return { ...next, floor: { ...floor, queue, speaking } };
    }
    default:
      return state;
  }
}

/**
 * A fresh view replacing `prev`: keeps what the client learnt from its acks
 * (`own`, `mine`) in case the view does not carry it, and fills `role`.
 */
export function carryOver(prev, next, role) {
  if (!next || typeof next !== 'object') return next;
  let s = next.role || !role ? next : { ...next, role };
  const own = prev && prev.own;
  if (!own || (prev.id && s.id && prev.id !== s.id)) return s;
  s = { ...s, own: { questions: [...(own.questions || [])], requests: [...(own.requests || [])] } };
  if (Array.isArray(s.questions)) {
    s.questions = s.questions.map((q) => (!q.mine && own.questions.includes(q.id) ? { ...q, mine: true } : q));
  }
  if (s.floor) {
    const mark = (x) => (x && !x.mine && own.requests.includes(x.id) ? { ...x, mine: true } : x);
    s.floor = { ...s.floor, queue: (s.floor.queue || []).map(mark), speaking: mark(s.floor.speaking) };
  }
  return s;
}

/** Questions in the order the room sees them: most upvoted first, then the oldest. */
export function byUpvotes(a, b) {
  return (Number(b.upvotes) || 0) - (Number(a.upvotes) || 0) || (Number(a.at) || 0) - (Number(b.at) || 0);
}

/** "ok", "near" (the last `near` seconds) or "over" the `planned` seconds. */
export function timerLevel(secs, planned, near) {
  if (!planned) return 'ok';
  if (secs > planned) return 'over';
  return planned - secs <= near ? 'near' : 'ok';
}

/** Seconds the current speaker has spoken, on the server's clock. */
export function speakingSeconds(state, nowMs) {
  const sp = state && state.floor && state.floor.speaking;
  if (!sp || sp.since == null) return 0;
  return Math.max(0, Math.floor((nowMs - sp.since) / 1000));
}

function upsertPoll(state, p) {
  const list = Array.isArray(state.polls) ? state.polls : [];
  const i = list.findIndex((x) => x.id === p.id);
  const polls = list.slice();
  if (i >= 0) polls[i] = { ...list[i], ...p };
  else polls.push(p);
  return { ...state, polls };
}

function patchPoll(state, id, patch) {
  const list = Array.isArray(state.polls) ? state.polls : [];
  const i = list.findIndex((x) => x.id === id);
  if (i < 0) return state;
  const polls = list.slice();
  polls[i] = { ...list[i], ...patch };
  return { ...state, polls };
}

function patchDraft(state, id, patch) {
  const list = Array.isArray(state.drafts) ? state.drafts : [];
  const i = list.findIndex((x) => x.id === id);
  if (i < 0) return state;
  const drafts = list.slice();
  drafts[i] = { ...list[i], ...patch };
  return { ...state, drafts };
}

/** The total voting weight as last heard (a new poll's `eligible` until its first tally). */
function latestEligible(state) {
  const polls = Array.isArray(state.polls) ? state.polls : [];
  let best = null;
  for (const p of polls) if (typeof p.eligible === 'number' && (!best || (p.opened_at || 0) >= (best.opened_at || 0))) best = p;
  return best ? best.eligible : 0;
}

/** The draft a poll is about: from the poll, else the draft that points at it. */
function draftOfPoll(state, id) {
  const p = Array.isArray(state.polls) ? state.polls.find((x) => x.id === id) : null;
  if (p && p.draft != null) return p.draft;
  const d = Array.isArray(state.drafts) ? state.drafts.find((x) => x.poll === id) : null;
  return d ? d.id : null;
}

function floorOf(state) {
  const f = state.floor || {};
  return { ...f, speaking: f.speaking ?? null, queue: Array.isArray(f.queue) ? f.queue : [] };
}

function isMine(state, kind, id) {
  return !!(state.own && Array.isArray(state.own[kind]) && state.own[kind].includes(id));
}

function remember(state, kind, id) {
  if (isMine(state, kind, id)) return state;
  const own = state.own || {};
  return { ...state, own: { questions: [], requests: [], ...own, [kind]: [...(own[kind] || []), id] } };
}

function findQuestion(state, id) {
  return (Array.isArray(state.questions) && state.questions.find((q) => q.id === id)) || null;
}

/** Adds or replaces a question by id, keeping what only this client knows (`mine`, `upvoted`). */
function upsertQuestion(state, q) {
  const list = Array.isArray(state.questions) ? state.questions : [];
  const i = list.findIndex((x) => x.id === q.id);
  const keep = {};
  const old = i >= 0 ? list[i] : null;
  if ((old && old.mine) || isMine(state, 'questions', q.id)) keep.mine = true;
  if (old && old.upvoted && q.upvoted == null) keep.upvoted = true;
  const merged = { ...(old || {}), ...q, ...keep };
  if (q.upvotes == null) merged.upvotes = old ? old.upvotes ?? 0 : 0;
  const questions = list.slice();
  if (i >= 0) questions[i] = merged;
  else questions.push(merged);
  return { ...state, questions };
}

function patchQuestion(state, id, patch) {
  const list = Array.isArray(state.questions) ? state.questions : [];
  const i = list.findIndex((x) => x.id === id);
  if (i < 0) return state;
  const questions = list.slice();
  questions[i] = { ...list[i], ...patch };
  return { ...state, questions };
}

function removeQuestion(state, id) {
  const list = Array.isArray(state.questions) ? state.questions : [];
  if (!list.some((x) => x.id === id)) return state;
  return { ...state, questions: list.filter((x) => x.id !== id) };
}

function clearHighlight(state, id) {
  return state.highlighted != null && state.highlighted === id ? { ...state, highlighted: null } : state;
}

/**
 * Seconds spent on agenda item `i`: the finished stints (`spent_seconds`)
 * plus, for the current item, the running one up to `nowMs` (server clock),
 * or up to the end of the session once it has ended.
 */
export function itemSeconds(state, i, nowMs) {
  const item = state && state.agenda && state.agenda.items[i];
  if (!item) return 0;
  let s = Number(item.spent_seconds) || 0;
  const a = state.agenda;
  if (a.current === i && a.since != null && state.phase !== 'pending') {
    const end = state.phase === 'ended' && state.ended_at != null ? state.ended_at : nowMs;
    s += Math.max(0, (end - a.since) / 1000);
  }
  return Math.floor(s);
}

/**
 * Where agenda item `i` stands: `current`, `done`, `upcoming`, or `skipped`
 * (passed over, or never reached before the end). For the audience an item
 * before the current one is done; with `held` (moderator, rapporteur) only
 * an item that time was spent on is.
 */
export function itemStatus(state, i, held = false) {
  const a = state.agenda;
  const item = a.items[i];
  const spent = (Number(item && item.spent_seconds) || 0) > 0;
  if (a.current === i && state.phase !== 'ended') return 'current';
  if (spent) return 'done';
  if (a.current != null && i <= a.current && !held) return 'done';
  if (a.current != null && i < a.current) return 'skipped';
  return state.phase === 'ended' ? 'skipped' : 'upcoming';
}

/** "7:05", "1:02:09"; negative values keep their sign. */
export function fmtDuration(seconds) {
  const neg = seconds < 0;
  let s = Math.floor(Math.abs(seconds));
  const hh = Math.floor(s / 3600);
  s -= hh * 3600;
  const mm = Math.floor(s / 60);
  const ss = String(s - mm * 60).padStart(2, '0');
  const body = hh ? `${hh}:${String(mm).padStart(2, '0')}:${ss}` : `${mm}:${ss}`;
  return neg ? `−${body}` : body;
}

// ---------------------------------------------------------------- texts by language

/** After the page's language, the languages a text falls back to, in this order. */
const FALLBACK_LANGS = ['en', 'fr'];

const given = (v) => typeof v === 'string' && v.trim() !== '';

/**
 * A text given as a string, or as texts by language (`{"fr": "…", "en": "…"}`), as shown in
 * `lang` (the page's language by default): `{text, lang, fallback}` where `lang` is the
 * language shown (null for a plain string) and `fallback` says the text lacks `lang`. The one
 * in `lang` first, then English, then French, then the first non-empty one.
 */
export function locText(value, lang = currentLang()) {
  if (value == null) return { text: '', lang: null, fallback: false };
  if (typeof value !== 'object' || Array.isArray(value)) return { text: String(value), lang: null, fallback: false };
  for (const l of [lang, ...FALLBACK_LANGS]) {
    if (l && Object.prototype.hasOwnProperty.call(value, l) && given(value[l])) return { text: value[l], lang: l, fallback: l !== lang };
  }
  const first = Object.entries(value).find(([, v]) => given(v));
  return first ? { text: first[1], lang: first[0], fallback: first[0] !== lang } : { text: '', lang: null, fallback: false };
}

/** The text of `value` in `lang` (the page's language by default), as `locText` picks it. */
export function loc(value, lang = currentLang()) {
  return locText(value, lang).text;
}

/** "Not available in French — shown in English", in the page's language. */
export function fallbackNote(shown, page = currentLang()) {
  return t('lang.fallback', { missing: tv('lang.name', page), shown: tv('lang.name', shown) });
}

/** The small "EN" badge of a text shown in another language than the page's. */
function fallbackBadge(shown, page) {
  const note = fallbackNote(shown, page);
  return h('span', { class: 'lang-fallback', lang: shown, role: 'img', title: note, 'aria-label': note }, shown.toUpperCase());
}

/**
 * The nodes of a text in `lang`: the bare text when it is in that language (or a plain
 * string); else the badge and the text in a span carrying its own `lang`. For lists and
 * sentences; `langText` makes a whole element.
 */
export function langNodes(value, lang = currentLang()) {
  const r = locText(value, lang);
  if (!r.fallback) return [r.text];
  return [fallbackBadge(r.lang, lang), h('span', { lang: r.lang }, r.text)];
}

/**
 * An element holding a text in the page's language (h() for a text given by language): shown
 * in another language, it gets `lang` and, first, the badge (first, so that an ellipsis or a
 * clamp never cuts it off).
 */
export function langText(tag, attrs, value, lang = currentLang()) {
  const r = locText(value, lang);
  const el = h(tag, { ...attrs, lang: r.fallback ? r.lang : null });
  return fillLang(el, r, lang);
}

function fillLang(el, r, lang) {
  if (r.fallback) return fill(el, fallbackBadge(r.lang, lang), r.text);
  return fill(el, r.text);
}

// What each element was last filled with (and its text then): unchanged texts are not redrawn,
// so screen readers stay quiet; an element changed since by other means is filled again.
const langSigs = new WeakMap();
const unchanged = (el, sig) => langSigs.get(el) === `${sig}\u0002${el.textContent}`;
const filled = (el, sig) => langSigs.set(el, `${sig}\u0002${el.textContent}`);

/**
 * Sets an existing element to a text in the page's language, as `langText` builds one (a
 * plain string clears what an earlier text left: its `lang`, its badge); only when it changed.
 */
export function setLangText(el, value, lang = currentLang()) {
  if (!el) return el;
  const r = locText(value, lang);
  const sig = `${lang}\u0001${r.fallback ? r.lang : ''}\u0001${r.text}`;
  if (unchanged(el, sig)) return el;
  if (r.fallback) {
    el.setAttribute('lang', r.lang);
    fillLang(el, r, lang);
  } else {
    el.removeAttribute('lang');
    setText(el, r.text);
  }
  filled(el, sig);
  return el;
}

/** Fills `el` with texts (speaker lines…) joined by `sep`, each as `langNodes` gives it; only when it changed. */
export function setLangList(el, values, sep = ' · ', lang = currentLang()) {
  if (!el) return el;
  const list = Array.isArray(values) ? values : [];
  const rs = list.map((v) => locText(v, lang));
  const sig = `${lang}\u0001${JSON.stringify(rs)}`;
  if (unchanged(el, sig)) return el;
  el.removeAttribute('lang');
  if (rs.some((r) => r.fallback)) fill(el, list.map((v, i) => [i ? sep : null, langNodes(v, lang)]));
  else setText(el, rs.map((r) => r.text).join(sep));
  filled(el, sig);
  return el;
}

/**
 * Fills `el` with the sentence `t(key, {[name]: …, ...vars})` where the text `value` goes in
 * the place of `{name}`, with its badge when shown in another language; only when it changed.
 */
export function setLangSentence(el, key, name, value, vars = {}, lang = currentLang()) {
  if (!el) return el;
  const r = locText(value, lang);
  el.removeAttribute('lang');
  if (!r.fallback) {
    setText(el, t(key, { ...vars, [name]: r.text }));
    return el;
  }
  const [before, after = ''] = t(key, { ...vars, [name]: '\u0000' }).split('\u0000');
  const sig = `${lang}\u0001${r.lang}\u0001${before}\u0001${r.text}\u0001${after}`;
  if (unchanged(el, sig)) return el;
  fill(el, before, langNodes(value, lang), after);
  filled(el, sig);
  return el;
}

/** Local clock time of an epoch-ms or ISO value, in the page language. */
export function fmtTime(value, lang, withDate = false) {
  if (value == null || value === '') return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return '';
  const opts = withDate
    ? { day: 'numeric', month: 'short', year: 'numeric', hour: 'numeric', minute: '2-digit' }
    : { hour: 'numeric', minute: '2-digit' };
  try {
    return new Intl.DateTimeFormat(lang, opts).format(d);
  } catch {
    return d.toLocaleString();
  }
}

// ---------------------------------------------------------------- safe DOM

const SAFE_URL = /^(https?:\/\/|\/(?!\/)|#|\?)/i;

/**
 * h('a', {href: '/x', class: 'btn', onclick: fn}, 'text', child, [more])
 * Strings become text nodes; attributes are set with setAttribute; `on*`
 * take functions only; href/src must be http(s) or same-origin paths.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue;
      if (k.startsWith('on')) {
        if (typeof v === 'function') el.addEventListener(k.slice(2), v);
      } else if (k === 'class') {
        el.className = v;
      } else if ((k === 'href' || k === 'src') && !SAFE_URL.test(String(v))) {
        continue;
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c == null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el` (text stays text). */
export function fill(el, ...children) {
  if (!el) return el;
  while (el.firstChild) el.removeChild(el.firstChild);
  append(el, children);
  return el;
}

/** Puts `els` in `parent` in this order, moving only what moved. */
export function reconcile(parent, els) {
  let cur = parent.firstChild;
  for (const el of els) {
    if (el === cur) cur = cur.nextSibling;
    else parent.insertBefore(el, cur);
  }
  while (cur) {
    const next = cur.nextSibling;
    parent.removeChild(cur);
    cur = next;
  }
}

/** Sets textContent only when it changed (keeps screen readers quiet). */
export function setText(el, text) {
  if (el && el.textContent !== String(text)) el.textContent = String(text);
}

/** First element with this data-testid. */
export const $t = (id, root = document) => root.querySelector(`[data-testid="${id}"]`);

/** The n-th segment of the path: /j/ABC234 -> seg(1) = "ABC234". */
export function pathSegment(n) {
  const parts = location.pathname.split('/').filter(Boolean);
  try {
    return decodeURIComponent(parts[n] || '');
  } catch {
    return '';
  }
}

/** `key` from the URL fragment (#key=…), never from the query string. */
export function fragmentKey() {
  return new URLSearchParams(location.hash.replace(/^#/, '')).get('key') || '';
}

/** A v4 UUID; crypto.randomUUID needs a secure context, a room's Wi-Fi may be plain http. */
export function uuid() {
  if (globalThis.crypto && typeof crypto.randomUUID === 'function') {
    try {
      return crypto.randomUUID();
    } catch {
      /* insecure context: fall through */
    }
  }
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = Array.from(b, (v) => v.toString(16).padStart(2, '0')).join('');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function storage() {
  try {
    return globalThis.localStorage || null;
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------- connection

/** Closes a socket that is no longer ours, without its handlers firing. */
function detach(ws, code) {
  ws.onclose = ws.onmessage = ws.onopen = null;
  try {
    ws.close(code);
  } catch {
    /* already closing */
  }
}

/** WebSocket close codes the server uses (CONTRACT.md, "Close codes"). */
export const CLOSE = Object.freeze({
  GOING_AWAY: 1001, // server restarting: reconnect
  DENIED: 1008, // bad credentials or no hello: final
  TOO_LARGE: 1009,
  STORE_DOWN: 1011, // the command was not applied: reconnect and resend it
  REVOKED: 4401,
  GONE: 4404, // no such session: final
  TOO_MANY: 4429, // too many frames: pause, then reconnect and resend
});
/** After CLOSE.TOO_MANY: wait at least this long (plus up to PAUSE_JITTER_MS) before reconnecting. */
export const TOO_MANY_PAUSE_MS = 10000;
/** Frames larger than this close the socket (1009): the server's `MAX_FRAME`. */
export const MAX_FRAME = 64 * 1024;
const PAUSE_JITTER_MS = 5000;

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10000;
/** After this many failed attempts in a row the badge says "offline". */
const OFFLINE_AFTER = 3;
/** A socket not welcomed within this time is dropped and tried again (captive portals, stalls). */
const WELCOME_TIMEOUT_MS = 10000;
/** The server sends something (presence) at least every 10 s; silence this long means the
 * connection died without telling anyone (a Wi-Fi that drops packets): reconnect. */
const SILENCE_MS = 35000;
/** Settled commands kept for display. */
const KEEP_COMMANDS = 40;

/**
 * Connection states: `connecting` (first attempt), `online` (welcomed),
 * `reconnecting` (lost, trying again), `offline` (browser offline or several
 * failures; still retrying), and two final ones that stop retrying:
 * `gone` (the session no longer exists) and `denied` (bad key or code).
 *
 * Command records: {id, op, fields, status: queued|sent|acked|refused|cancelled,
 * error: {code, message}|null, result, at}. `queued` = waiting for the link,
 * `sent` = on the wire, waiting for the server's answer.
 */
export class Client {
  /**
   * @param {object} hello  {code, role} or {session, key}: the hello fields
   * @param {object} [opts] {tokenKey}: localStorage key of the participant token
   */
  constructor(hello, opts = {}) {
    this.hello = hello;
    this.tokenKey = opts.tokenKey || null;
    this.state = null;
    this.seq = null;
    this.role = null;
    this.session = null;
    this.code = hello.code || null;
    this.status = 'connecting';
    this.presence = null;
    this.clockOffset = 0;
    this.heard = Date.now();
    this.commands = [];
    this.ws = null;
    this.welcomed = false;
    this.everOnline = false;
    this.attempt = 0;
    this.timer = null;
    this.welcomeTimer = null;
    this.retryAt = null;
    this.handlers = {};
  }

  on(name, fn) {
    if (!this.handlers[name]) this.handlers[name] = [];
    this.handlers[name].push(fn);
    return this;
  }

  emit(name, ...args) {
    for (const fn of this.handlers[name] || []) {
      try {
        fn(...args);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** Current time on the server's clock (ms), corrected by welcome.server_time. */
  now() {
    return Date.now() + this.clockOffset;
  }

  get final() {
    return this.status === 'gone' || this.status === 'denied';
  }

  start() {
    const wake = () => {
      if (!this.ws && !this.final) this.open();
    };
    addEventListener('online', wake);
    // The browser knows the network is gone before TCP does: drop the socket now, keep
    // the commands queued, and keep trying (with backoff) until it comes back.
    addEventListener('offline', () => {
      if (this.final) return;
      const ws = this.ws;
      if (ws) {
        this.ws = null;
        this.welcomed = false;
        detach(ws);
        this.requeue();
      }
      this.scheduleReconnect();
    });
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') wake();
    });
    addEventListener('pageshow', (e) => {
      if (e.persisted) wake();
    });
    setInterval(() => {
      if (this.ws && this.welcomed && Date.now() - this.heard > SILENCE_MS) this.resync();
    }, 5000);
    this.open();
    return this;
  }

  setStatus(s) {
    if (this.status === s) return;
    this.status = s;
    this.emit('status', s);
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.final || this.ws) return;
    let ws;
    try {
      const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
      ws = new WebSocket(`${proto}//${location.host}/ws`);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    this.welcomed = false;
    clearTimeout(this.welcomeTimer);
    this.welcomeTimer = setTimeout(() => {
      if (ws !== this.ws || this.welcomed) return;
      this.ws = null;
      detach(ws);
      this.requeue();
      this.scheduleReconnect();
    }, WELCOME_TIMEOUT_MS);
    // First attempt: "connecting"; after a loss the status set by
    // scheduleReconnect (reconnecting / offline) stays until the welcome.
    if (this.status === 'online') this.setStatus('reconnecting');
    ws.onopen = () => {
      if (ws !== this.ws) return;
      const hello = { type: 'hello', ...this.hello };
      const token = this.tokenKey && storage() ? storage().getItem(this.tokenKey) : null;
      if (token) hello.participant = token;
      if (this.state && this.seq != null) hello.since = this.seq;
      ws.send(JSON.stringify(hello));
    };
    ws.onmessage = (m) => {
      if (ws !== this.ws) return;
      let msg;
      try {
        msg = JSON.parse(m.data);
      } catch {
        return;
      }
      this.heard = Date.now();
      if (msg && typeof msg === 'object') this.handle(msg);
    };
    ws.onclose = (e) => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.closed(e.code);
    };
  }

  /** Drops the socket without triggering the close handler, and reconnects now. */
  resync() {
    const ws = this.ws;
    this.ws = null;
    this.welcomed = false;
    if (ws) detach(ws, 1000);
    this.requeue();
    this.open();
  }

  closed(code) {
    this.welcomed = false;
    if (code === CLOSE.GONE) return this.fail('gone');
    if (code === CLOSE.DENIED) return this.fail('denied');
    this.requeue();
    // Too many frames: not final, but the server wants a pause (with jitter, so a
    // room of phones does not come back at the same instant).
    if (code === CLOSE.TOO_MANY) return this.scheduleReconnect(TOO_MANY_PAUSE_MS + Math.random() * PAUSE_JITTER_MS);
    this.scheduleReconnect();
  }

  /** Tries again after a backoff with jitter, or after `pauseMs` when given. */
  scheduleReconnect(pauseMs = 0) {
    if (this.final) return;
    this.attempt += 1;
    const exp = Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** (this.attempt - 1));
    const delay = Math.max(pauseMs, exp / 2 + Math.random() * (exp / 2));
    this.retryAt = Date.now() + delay;
    const offline = this.attempt >= OFFLINE_AFTER || (globalThis.navigator && navigator.onLine === false);
    this.setStatus(offline ? 'offline' : this.everOnline ? 'reconnecting' : 'connecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.open(), delay);
  }

  fail(status) {
    clearTimeout(this.welcomeTimer);
    clearTimeout(this.timer);
    this.timer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onclose = null;
      try {
        ws.close(1000);
      } catch {
        /* ignore */
      }
    }
    for (const c of this.commands) {
      if (c.status === 'queued' || c.status === 'sent') {
        this.settle(c, 'refused', { error: { code: 'closed', message: '' } });
      }
    }
    this.setStatus(status);
  }

  handle(msg) {
    switch (msg.type) {
      case 'welcome':
        return this.welcome(msg);
      case 'event':
        return this.event(msg);
      case 'ack': {
        const c = this.find(msg.id);
        if (!c) return undefined;
        // What only the sender learns from its ack (its question, its upvote, its request).
        const before = this.state;
        if (before) this.state = applyAck(before, c.op, msg.result, c.fields);
        this.settle(c, 'acked', { result: msg.result ?? null });
        if (this.state !== before) this.emit('state', this.state, null);
        return undefined;
      }
      case 'upvotes': {
        const before = this.state;
        this.state = applyUpvotes(before, msg.counts);
        if (this.state !== before) this.emit('state', this.state, null);
        return undefined;
      }
      case 'error':
        return this.error(msg);
      case 'presence':
        this.presence = { connected: msg.connected, participants: msg.participants };
        return this.emit('presence', this.presence);
      case 'tally': {
        const before = this.state;
        this.state = applyTally(before, msg);
        this.emit('tally', msg);
        if (this.state !== before) this.emit('state', this.state, null);
        return undefined;
      }
      default:
        return undefined; // unknown frame types are ignored
    }
  }

  welcome(msg) {
    this.role = msg.role || this.role;
    this.session = msg.session || this.session;
    this.code = msg.code || this.code;
    if (typeof msg.server_time === 'number') this.clockOffset = msg.server_time - Date.now();
    if (msg.participant && this.tokenKey && storage()) {
      try {
        storage().setItem(this.tokenKey, msg.participant);
      } catch {
        /* private mode: identity lasts for this page only */
      }
    }
    if (msg.state) {
      this.state = carryOver(this.state, msg.state, this.role);
      this.seq = typeof msg.seq === 'number' ? msg.seq : 0;
    } else if (!this.state) {
      // No state to resume from: ask again for a full one.
      this.seq = null;
      return this.resync();
    }
    // Without state the missed events follow; our seq stays the resume point.
    clearTimeout(this.welcomeTimer);
    this.welcomed = true;
    this.everOnline = true;
    this.attempt = 0;
    this.retryAt = null;
    this.setStatus('online');
    this.emit('welcome', msg);
    if (msg.state) this.emit('state', this.state, null);
    this.flush();
  }

  event(msg) {
    if (!this.state || typeof msg.seq !== 'number') return;
    if (msg.seq <= this.seq) return;
    if (msg.seq > this.seq + 1) {
      // A gap: something was missed. Resume from what we have.
      this.resync();
      return;
    }
    this.seq = msg.seq;
    const before = this.state;
    this.state = applyEvent(before, msg.event);
    this.emit('event', msg.event, msg.seq);
    if (this.state !== before) this.emit('state', this.state, msg.event);
  }

  error(msg) {
    const c = msg.id ? this.find(msg.id) : null;
    if (c) {
      this.settle(c, 'refused', { error: { code: msg.code || 'invalid', message: msg.message || '' } });
      return;
    }
    if (!this.welcomed) {
      if (msg.code === 'unauthorized' || msg.code === 'forbidden') return this.fail('denied');
      if (msg.code === 'not_found') return this.fail('gone');
    }
    this.emit('error', msg);
  }

  // ------------------------------------------------------------ commands

  /** Sends a command now, or queues it until the link is back. Returns its record. */
  send(op, fields = {}) {
    const rec = { id: uuid(), op, fields, status: 'queued', error: null, result: null, at: Date.now(), wired: false };
    this.commands.push(rec);
    this.trim();
    if (this.final) {
      this.settle(rec, 'refused', { error: { code: 'closed', message: '' } });
    } else if (new TextEncoder().encode(JSON.stringify({ type: 'cmd', id: rec.id, op, ...fields })).length > MAX_FRAME) {
      // The server would close the socket (1009) and the resend would meet the same fate:
      // refuse it here, where the page can say so.
      this.settle(rec, 'refused', { error: { code: 'too_large', message: '' } });
    } else if (this.welcomed) {
      this.transmit(rec);
    } else {
      this.emit('command', rec);
    }
    return rec;
  }

  /** Withdraws a command that never left this page. Returns true if it did. */
  cancel(id) {
    const c = this.find(id);
    if (!c || c.status !== 'queued' || c.wired) return false;
    this.settle(c, 'cancelled', {});
    return true;
  }

  /** Commands not yet answered (optionally only those whose op starts with `prefix`). */
  pending(prefix = '') {
    return this.commands.filter((c) => (c.status === 'queued' || c.status === 'sent') && c.op.startsWith(prefix));
  }

  find(id) {
    return this.commands.find((c) => c.id === id) || null;
  }

  transmit(rec) {
    if (!this.ws || this.ws.readyState !== 1) return;
    this.ws.send(JSON.stringify({ ...rec.fields, type: 'cmd', id: rec.id, op: rec.op }));
    rec.status = 'sent';
    rec.wired = true;
    this.emit('command', rec);
  }

  flush() {
    for (const c of this.commands) if (c.status === 'queued') this.transmit(c);
  }

  requeue() {
    for (const c of this.commands) {
      if (c.status === 'sent') {
        c.status = 'queued';
        this.emit('command', c);
      }
    }
  }

  settle(rec, status, extra) {
    Object.assign(rec, extra, { status });
    this.emit('command', rec);
  }

  trim() {
    while (this.commands.length > KEEP_COMMANDS) {
      const i = this.commands.findIndex((c) => c.status !== 'queued' && c.status !== 'sent');
      if (i < 0) break;
      this.commands.splice(i, 1);
    }
  }
}

/** Creates a client and starts connecting. */
export function connect(hello, opts) {
  return new Client(hello, opts).start();
}

/** The localStorage key of the participant token for a join code. */
export const participantTokenKey = (code) => `palabre.participant.${code}`;

// ---------------------------------------------------------------- shared UI bits

/**
 * Keeps a connection badge (`data-state`, i18n text) and `<body data-conn>` in
 * step with the client. CSS colours the badge from `data-state`.
 */
export function bindConnBadge(el, client) {
  const render = () => {
    const s = client.status;
    el.dataset.state = s;
    setText(el, t(`conn.${s}`));
    el.title = t(`conn.${s}.hint`);
    document.body.dataset.conn = s;
    if (client.everOnline) document.body.dataset.wasOnline = '1';
  };
  client.on('status', render);
  onLangChange(render);
  render();
}

/** Calls fn every `ms` while the page is visible (timers). */
export function every(ms, fn) {
  return setInterval(() => {
    if (document.visibilityState !== 'hidden') fn();
  }, ms);
}

/**
 * Gives `css` to the page at `url` in window `w` once it has loaded. A page opened from a blob
 * URL (voting cards, printable minutes) inherits this page's CSP, which refuses its inline
 * style; a constructed stylesheet is allowed.
 */
export function styleWhenLoaded(w, url, css) {
  let tries = 0;
  const apply = () => {
    try {
      if (w.closed || (tries += 1) > 200) return true;
      const d = w.document;
      if (!d || d.URL !== url || d.readyState === 'loading') return false;
      const sheet = new w.CSSStyleSheet();
      sheet.replaceSync(css);
      d.adoptedStyleSheets = [...d.adoptedStyleSheets, sheet];
      return true;
    } catch {
      return true;
    }
  };
  const timer = setInterval(() => {
    if (apply()) clearInterval(timer);
  }, 25);
}
