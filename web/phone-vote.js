// The participant page's votes (phone first): the voting right in roster mode, one card per
// open poll with the text and the ballot, then the outcome and the check of one's receipt,
// earlier votes. Loaded by participant.js on demand, off the first load, with its styles
// (phone-vote.css) and its strings (i18n/phone-vote.<lang>.json); the state it draws is the
// client's, folded as ever while this module was on its way.
//
// Everything a participant or a moderator wrote reaches the DOM through h() / setText():
// text, never HTML.

import { h, fill, setText, langNodes, setLangText } from './client.js';
import { t as pageT, tv, currentLang } from './i18n.js';
import {
  $, CHOICES, pollDraft, voteNumbers, methodText, ruleText, turnoutText, pollsByTime, fmtNum, fmtPct,
} from './render.js';

/** What the page hands over: see participant.js. Set once, by mountVotes(). */
let page = null;
let client = null;

/**
 * Builds the votes' part of the page once its styles and strings are in (the promise fails,
 * and may be called again, when either could not be fetched); then `render(state)` draws it.
 */
export async function mountVotes(p) {
  await Promise.all([styles(), loadStrings(currentLang())]);
  if (!page) {
    page = p;
    client = p.client;
    build();
    client.on('command', onCommand);
    addEventListener('online', recheck);
  }
  return { render };
}

// ---------------------------------------------------------------- styles and strings

let sheet = null;
/** The stylesheet, as a <link> after the page's own (the CSP allows styles from 'self'). */
function styles() {
  if (!sheet) {
    sheet = new Promise((resolve, reject) => {
      const link = h('link', { rel: 'stylesheet', href: '/assets/phone-vote.css' });
      link.addEventListener('load', resolve);
      link.addEventListener('error', () => {
        link.remove();
        sheet = null;
        reject(new Error('phone-vote.css'));
      });
      document.head.append(link);
    });
  }
  return sheet;
}

const strings = {}; // language -> its dictionary, once in
const asked = {}; // language -> the fetch on its way
const failedAt = {}; // language -> when its fetch last failed
let lastStrings = null; // the dictionary last loaded, until the language chosen since has its own

function loadStrings(lang) {
  if (strings[lang]) return Promise.resolve(strings[lang]);
  if (!asked[lang]) {
    asked[lang] = fetch(`/assets/i18n/phone-vote.${lang}.json`)
      .then((r) => {
        if (!r.ok) throw new Error(`phone-vote.${lang}: ${r.status}`);
        return r.json();
      })
      .then((d) => {
        strings[lang] = d;
        lastStrings = d;
        return d;
      })
      .catch((e) => {
        failedAt[lang] = Date.now();
        throw e;
      })
      .finally(() => delete asked[lang]);
  }
  return asked[lang];
}

/** After a change of language: this one's strings, asked at most every 5 s (offline, each render would ask). */
function stringsFor(lang) {
  if (strings[lang] || asked[lang] || Date.now() - (failedAt[lang] || 0) < 5000) return;
  loadStrings(lang).then(page.schedule, () => { /* drawn meanwhile with the strings in hand */ });
}

/** Like i18n.js's t(): these strings first, then the page's. */
function t(key, vars) {
  const lang = currentLang();
  const d = strings[lang] || lastStrings || {};
  let s;
  if (vars && typeof vars.n === 'number') {
    let cat = 'other';
    try {
      cat = new Intl.PluralRules(lang).select(vars.n);
    } catch {
      /* keep "other" */
    }
    s = d[`${key}.${cat}`] ?? d[`${key}.other`];
  }
  if (s == null) s = d[key];
  if (s == null) return pageT(key, vars);
  return vars ? s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m)) : s;
}

// ---------------------------------------------------------------- the part of the page

/** The section's content, once: the voting right (roster mode), the cards, earlier votes. */
function build() {
  fill(
    $('votes'),
    h('h2', { class: 'visually-hidden', id: 'votes-title' }),
    h('p', { class: 'visually-hidden', id: 'vote-live', role: 'status', 'aria-live': 'polite', 'aria-atomic': 'true' }),
    h(
      'div',
      { class: 'card voter', id: 'voter', 'data-testid': 'voter', hidden: true },
      h('h3', { class: 'label', id: 'claim-title' }),
      h('p', { class: 'voter-name', id: 'voter-name', 'data-testid': 'voter-name', hidden: true }),
      h('p', { class: 'voter-moved', id: 'voter-moved', 'data-testid': 'voter-moved', role: 'alert', hidden: true }),
      h(
        'form',
        { class: 'claim-form', id: 'claim-form', 'data-testid': 'claim-form', novalidate: true, hidden: true, onsubmit: submitClaim },
        h('p', { class: 'hint', id: 'claim-intro' }),
        h('label', { class: 'field-label', for: 'claim-code', id: 'claim-label' }),
        h('input', {
          type: 'text', id: 'claim-code', 'data-testid': 'claim-code', class: 'claim-code', maxlength: '16', autocomplete: 'off',
          autocapitalize: 'characters', autocorrect: 'off', spellcheck: 'false', 'aria-describedby': 'claim-intro claim-error',
          oninput: (e) => e.target.removeAttribute('aria-invalid'),
        }),
        h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'claim-submit', 'data-testid': 'claim-submit' }),
        h('p', { class: 'form-status', id: 'claim-error', 'data-testid': 'claim-error', role: 'status', 'aria-live': 'polite' }),
      ),
    ),
    h('div', { class: 'vote-cards', id: 'vote-cards' }),
    h(
      'div',
      { class: 'card past-polls', id: 'past-polls', 'data-testid': 'past-polls', hidden: true },
      h('h3', { class: 'label', id: 'past-title' }),
      h('ul', { class: 'past-list', id: 'past-list', 'aria-labelledby': 'past-title' }),
    ),
  );
}

/** The fixed words, in the page's language. */
function labels() {
  setText($('votes-title'), t('part.vote.title'));
  setText($('claim-title'), t('part.claim.title'));
  setText($('claim-intro'), t('part.claim.intro'));
  setText($('claim-label'), t('part.claim.label'));
  setText($('claim-submit'), t('part.claim.submit'));
  setText($('past-title'), t('part.vote.past'));
}

/** A voting code as typed: spaces and dashes dropped, upper case (the server does the same). */
const normaliseCode = (v) => String(v || '').replace(/[\s-]+/g, '').toUpperCase();

const isRoster = (s) => !!(s.settings && s.settings.voting === 'roster');
/** Whether this phone may vote now: always in open mode; in roster mode, holding an entry. */
function entitled(s) {
  if (!isRoster(s)) return true;
  const v = s.voter;
  return !!(v && v.entry != null && !v.moved);
}

/** Draws the votes from the state (the section stays hidden while nothing of a vote is shown). */
function render(s) {
  stringsFor(currentLang());
  labels();
  const roster = isRoster(s);
  if (roster && page.linkClaim && client.welcomed) {
    const c = normaliseCode(page.linkClaim);
    page.linkClaim = null;
    if (c) sendClaim(c);
  } else if (!roster && page.linkClaim) {
    page.linkClaim = null; // open mode: everyone votes, there is nothing to claim
  }
  const { open, ended } = pollsByTime(s);
  const shown = open.length ? open : ended.slice(0, 1);
  const past = ended.filter((p) => !shown.includes(p));
  const consensus = (s.drafts || []).filter((d) => d.status === 'adopted' && d.adopted_by === 'consensus');
  $('votes').hidden = !(roster || shown.length || consensus.length);
  renderVoter(s, roster);
  syncCards(s, shown);
  renderPast(s, past, consensus);
  announce(s, shown);
}

// ---- the voting right (roster mode)

let claimSent = null; // the latest voter.claim record, whose fate the form shows

function renderVoter(s, roster) {
  const box = $('voter');
  const v = s.voter;
  const holds = !!(v && v.entry != null && !v.moved);
  const moved = !!(v && v.entry != null && v.moved);
  const ended = s.phase === 'ended';
  box.hidden = !roster || (ended && !holds);
  if (box.hidden) return;
  const name = $('voter-name');
  name.hidden = !holds;
  if (holds) {
    const who = v.organisation
      ? t('part.claim.as_org', { name: v.name || '', organisation: v.organisation })
      : t('part.claim.as', { name: v.name || '' });
    const w = Number(v.weight) || 1;
    setText(name, w > 1 ? `${who} · ${t('part.claim.weight', { n: w })}` : who);
  }
  $('voter-moved').hidden = !moved;
  setText($('voter-moved'), moved ? t('part.claim.moved') : '');
  $('claim-form').hidden = holds || ended;
  const busy = client.pending('voter.claim').length > 0;
  if (busy) $('claim-submit').setAttribute('aria-busy', 'true');
  else $('claim-submit').removeAttribute('aria-busy');
  if (claimSent) showClaimFate(claimSent);
}

function submitClaim(e) {
  e.preventDefault();
  const input = $('claim-code');
  const code = normaliseCode(input.value);
  if (!/^[A-Z0-9]{8}$/.test(code)) {
    input.setAttribute('aria-invalid', 'true');
    input.focus();
    return claimStatus('error', t('part.claim.length'));
  }
  return sendClaim(code);
}

function sendClaim(code) {
  if (client.pending('voter.claim').length) return;
  claimSent = client.send('voter.claim', { code });
  showClaimFate(claimSent);
  page.schedule();
}

function claimStatus(kind, message) {
  const el = $('claim-error');
  el.dataset.kind = kind;
  setText(el, message);
}

function showClaimFate(rec) {
  if (rec.status === 'queued') claimStatus('info', t('part.claim.queued'));
  else if (rec.status === 'sent') claimStatus('info', t('part.claim.sending'));
  else if (rec.status === 'acked') {
    claimStatus('ok', '');
    $('claim-code').value = '';
  } else if (rec.status === 'refused') {
    const conflict = rec.error && rec.error.code === 'conflict';
    claimStatus(conflict ? 'info' : 'error', page.refusal('claim', rec.error, t));
    if (!conflict) {
      const input = $('claim-code');
      input.setAttribute('aria-invalid', 'true');
      if (!input.value) input.value = rec.fields.code;
    }
  }
}

// ---- the voting cards: one per open poll, else the latest result

const cards = new Map(); // poll id -> {el, parts, status}
/** Polls whose last change was refused because the vote had closed meanwhile. */
const lostChange = new Set();
let cardSeq = 0;

function syncCards(s, polls) {
  const box = $('vote-cards');
  const keep = new Set(polls.map((p) => p.id));
  for (const [id, c] of cards) {
    if (!keep.has(id)) {
      c.el.remove();
      cards.delete(id);
    }
  }
  polls.forEach((p, i) => {
    let c = cards.get(p.id);
    if (!c) {
      c = makeCard(p.id);
      cards.set(p.id, c);
    }
    updateCard(c, p, s);
    if (box.children[i] !== c.el) box.insertBefore(c.el, box.children[i] || null);
  });
}

function makeCard(pollId) {
  const k = (cardSeq += 1);
  const P = {};
  P.label = h('h3', { class: 'label vote-label', id: `vc${k}-label` });
  P.kind = h('p', { class: 'vote-kind' });
  P.title = h('p', { class: 'vote-title', id: `vc${k}-title`, 'data-testid': 'vote-draft-title' });
  P.text = h('div', { class: 'vote-text', 'data-testid': 'vote-draft-text', tabindex: '0', role: 'region' });
  P.method = h('p', { class: 'vote-method' });
  P.secret = h('p', { class: 'vote-secret', 'data-testid': 'vote-secret-note' });
  P.buttons = {};
  P.ballotLabel = h('p', { class: 'ballot-label', id: `vc${k}-ballot` });
  P.ballot = h(
    'div',
    { class: 'ballot', role: 'group', 'aria-labelledby': `vc${k}-ballot` },
    P.ballotLabel,
    CHOICES.map((c) => {
      P.buttons[c] = h(
        'button',
        {
          type: 'button', class: `ballot-btn is-${c}`, 'data-testid': `vote-${c}`, 'data-id': pollId, 'data-choice': c,
          'aria-pressed': 'false', onclick: () => castVote(pollId, c),
        },
        h('span', { class: 'ballot-mark', 'aria-hidden': 'true' }),
        h('span', { class: 'ballot-word' }),
      );
      return P.buttons[c];
    }),
  );
  P.pending = h('p', { class: 'vote-pending', 'data-testid': 'vote-pending' });
  P.choice = h('span', { class: 'vote-choice', 'data-testid': 'vote-choice' });
  P.receipt = h('span', { class: 'vote-receipt', 'data-testid': 'vote-receipt' });
  P.check = h('span', { class: 'receipt-check', 'data-testid': 'receipt-check' });
  P.sep1 = h('span', { class: 'sep' }, ', ');
  P.sep2 = h('span', { class: 'sep' }, ', ');
  P.mine = h('p', { class: 'vote-mine', role: 'status' }, P.choice, P.sep1, P.receipt, P.sep2, P.check);
  P.hint = h('p', { class: 'hint vote-hint' });
  P.warning = h('p', { class: 'vote-warning', role: 'alert' });
  P.needCode = h('p', { class: 'note vote-need-code' });
  P.outcome = h('p', { class: 'vote-outcome' });
  P.rule = h('p', { class: 'vote-rule', 'data-testid': 'vote-rule' });
  P.result = h('div', { class: 'vote-result', 'data-testid': 'vote-result' }, P.outcome, P.rule);
  P.bars = {};
  P.tally = h(
    'ul',
    { class: 'vote-bars', 'data-testid': 'vote-tally' },
    CHOICES.map((c) => {
      const fill = h('span', { class: 'vbar-fill' });
      const num = h('span', { class: 'vbar-num' });
      const word = h('span', { class: 'vbar-word' });
      P.bars[c] = { li: h('li', { class: `vbar is-${c}`, 'data-choice': c }, word, h('span', { class: 'vbar-track', 'aria-hidden': 'true' }, fill), num), fill, num, word };
      return P.bars[c].li;
    }),
  );
  P.hiddenNote = h('p', { class: 'muted small vote-hidden-note' });
  P.turnout = h('p', { class: 'vote-turnout', 'data-testid': 'vote-turnout' });
  P.cancelled = h('p', { class: 'note' });
  const el = h('article', { class: 'card vote-card', 'data-testid': 'vote-card', 'data-poll': pollId, 'aria-labelledby': `vc${k}-label vc${k}-title` });
  return { el, parts: P, status: null, pollId };
}

/** The choice shown: the last one on its way, else the one the server acknowledged. */
function pendingBallot(pollId) {
  return client.pending('vote.cast').filter((c) => c.fields.poll === pollId).pop() || null;
}

function updateCard(c, p, s) {
  const P = c.parts;
  const el = c.el;
  const d = pollDraft(s, p);
  const ballot = (s.ballots && s.ballots[p.id]) || null;
  const open = p.status === 'open';
  el.dataset.status = p.status;
  el.dataset.outcome = p.outcome || '';
  if (c.status !== p.status) {
    // The order of the parts: the ballot first while open; the outcome first once closed.
    c.status = p.status;
    fill(el);
    if (open) {
      el.append(P.label, P.kind, P.title, P.text, P.needCode, P.ballot, P.pending, P.mine, P.hint, P.secret, P.method, P.tally, P.hiddenNote, P.turnout);
    } else if (p.status === 'closed') {
      el.append(P.label, P.kind, P.title, P.result, P.tally, P.turnout, P.mine, P.warning, P.hint, P.text);
    } else {
      el.append(P.label, P.kind, P.title, P.cancelled, P.text);
    }
  }
  setText(P.label, t(open ? 'part.vote.open_label' : p.status === 'closed' ? 'part.vote.closed_label' : 'part.vote.cancelled_label'));
  setText(P.kind, d.kind);
  setLangText(P.title, d.draft ? d.draft.title : '');
  setLangText(P.text, d.draft ? d.draft.text : '');
  P.text.setAttribute('aria-label', t('part.vote.text_label'));
  setText(P.cancelled, t('part.vote.cancelled'));

  // How it is decided; secret or not.
  setText(P.method, methodText(p));
  P.secret.hidden = !p.secret;
  setText(P.secret, p.secret ? t('part.vote.secret') : '');

  // The figures: live bars (unless hidden), the turnout.
  const n = voteNumbers(p);
  P.tally.hidden = !n;
  if (n) {
    for (const ch of CHOICES) {
      const b = P.bars[ch];
      setText(b.word, tv('vote.choice', ch));
      setText(b.num, `${fmtNum(n.counts[ch])} · ${fmtPct(n.share[ch])}`);
      b.fill.style.width = `${(n.share[ch] * 100).toFixed(1)}%`;
      b.li.dataset.count = String(n.counts[ch]);
    }
  }
  P.hiddenNote.hidden = !!n || !open;
  setText(P.hiddenNote, t('part.vote.hidden'));
  setText(P.turnout, turnoutText(p));

  // One's own ballot.
  const mayVote = entitled(s) && s.phase !== 'ended';
  const pend = open ? pendingBallot(p.id) : null;
  const shownChoice = pend ? pend.fields.choice : ballot ? ballot.choice : null;
  setText(P.ballotLabel, t('part.vote.your_vote'));
  P.ballot.hidden = !open || !mayVote;
  for (const ch of CHOICES) {
    const b = P.buttons[ch];
    const pressed = shownChoice === ch;
    b.setAttribute('aria-pressed', String(pressed));
    if (pressed && pend) b.dataset.pending = pend.status;
    else delete b.dataset.pending;
    setText(b.querySelector('.ballot-mark'), pressed ? '✓' : '');
    setText(b.querySelector('.ballot-word'), tv('vote.choice', ch));
  }
  P.needCode.hidden = !open || mayVote || !isRoster(s) || s.phase === 'ended';
  setText(P.needCode, t('part.vote.need_code'));
  P.pending.hidden = !pend;
  P.pending.dataset.status = pend ? pend.status : '';
  setText(P.pending, pend ? t(pend.status === 'queued' ? 'part.vote.pending_queued' : 'part.vote.pending_sent', { choice: tv('vote.choice', pend.fields.choice) }) : '');

  P.receipt.hidden = !(ballot && ballot.receipt);
  showReceipt(P.receipt, ballot && ballot.receipt);
  P.sep1.hidden = P.receipt.hidden;
  if (open) {
    P.mine.hidden = !ballot && !mayVote;
    setText(P.choice, ballot ? t('part.vote.choice', { choice: tv('vote.choice', ballot.choice) }) : t('part.vote.none'));
    P.check.hidden = true;
    P.sep2.hidden = true;
    P.hint.hidden = !mayVote;
    setText(P.hint, ballot && ballot.receipt ? `${t('part.vote.change_hint')} ${t('part.vote.receipt_hint')}` : t('part.vote.change_hint'));
    P.warning.hidden = true;
  } else if (p.status === 'closed') {
    setText(P.outcome, tv('vote.outcome', p.outcome));
    P.result.dataset.outcome = p.outcome || '';
    setText(P.rule, ruleText(p));
    P.mine.hidden = !ballot && !lostChange.has(p.id) && !(isRoster(s) ? s.voter && s.voter.entry != null : true);
    setText(P.choice, ballot ? t('part.vote.ballot', { choice: tv('vote.choice', ballot.choice) }) : t('part.vote.no_ballot'));
    const chk = ballot && ballot.receipt ? checkReceipt(p.id, ballot) : null;
    P.check.hidden = !chk;
    P.sep2.hidden = !chk;
    P.check.dataset.state = chk ? chk.state : '';
    setText(P.check, chk ? checkText(chk) : '');
    const bad = !!chk && chk.state === 'missing';
    P.warning.hidden = !bad;
    setText(P.warning, bad ? t('part.vote.check.warning') : '');
    P.hint.hidden = !lostChange.has(p.id);
    setText(P.hint, t('part.vote.lost_change'));
  }
}

/** "receipt K7-PQ2M", the code in its own span (monospace); rebuilt only when it changes. */
function showReceipt(el, receipt) {
  const words = t('part.vote.receipt', { receipt: '\u0000' });
  const sig = `${words.replace('\u0000', '{receipt}')}|${receipt || ''}`;
  if (el.dataset.sig === sig) return;
  el.dataset.sig = sig;
  if (!receipt) return fill(el);
  const [before, after = ''] = words.split('\u0000');
  return fill(el, before, h('span', { class: 'receipt-code' }, receipt), after);
}

/** One tap casts (or changes) the vote; a change not yet sent is replaced, not queued behind. */
function castVote(pollId, choice) {
  const s = client.state;
  const p = s && (s.polls || []).find((x) => x.id === pollId);
  if (!p || p.status !== 'open' || !entitled(s)) return;
  const ballot = s.ballots && s.ballots[pollId];
  const pend = pendingBallot(pollId);
  if (pend && pend.fields.choice === choice) return;
  if (pend && client.cancel(pend.id) && ballot && ballot.choice === choice) {
    page.schedule();
    return; // back to what the server already has
  }
  if (!pend && ballot && ballot.choice === choice) return;
  lostChange.delete(pollId);
  client.send('vote.cast', { poll: pollId, choice });
  page.schedule();
}

// ---- the receipt check, after the close

const checks = new Map(); // poll id -> {state: checking|counted|missing, listed, offline, timer, tries}

/**
 * Looks the receipt up in the published ballots (`receipts.json`), once per poll; a failed
 * fetch (offline, the server busy) is tried again with a growing pause. The first try waits
 * a moment at random, so a room of phones does not ask at the same instant.
 */
function checkReceipt(pollId, ballot) {
  let c = checks.get(pollId);
  if (c && c.receipt === ballot.receipt && c.choice === ballot.choice) return c;
  if (c) clearTimeout(c.timer);
  c = { state: 'checking', listed: null, offline: false, tries: 0, timer: null, receipt: ballot.receipt, choice: ballot.choice };
  checks.set(pollId, c);
  c.timer = setTimeout(() => fetchReceipts(pollId, c), 200 + Math.random() * 1500);
  return c;
}

async function fetchReceipts(pollId, c) {
  if (checks.get(pollId) !== c) return;
  c.tries += 1;
  try {
    const res = await fetch(`/j/${encodeURIComponent(page.code)}/polls/${encodeURIComponent(pollId)}/receipts.json`, {
      cache: 'no-store', headers: { accept: 'application/json' },
    });
    if (!res.ok) throw new Error(`receipts: ${res.status}`);
    const body = await res.json();
    const list = Array.isArray(body.receipts) ? body.receipts : [];
    const found = list.find((r) => r && r.receipt === c.receipt) || null;
    c.listed = found ? found.choice : null;
    c.state = found && found.choice === c.choice ? 'counted' : 'missing';
    c.offline = false;
  } catch {
    c.offline = !navigator.onLine || c.tries > 1;
    const pause = Math.min(30000, 1000 * 2 ** Math.min(c.tries, 5)) * (0.75 + Math.random() / 2);
    c.timer = setTimeout(() => fetchReceipts(pollId, c), pause);
  }
  page.schedule();
}

/** Back online: the checks still waiting go again, each after a moment at random. */
function recheck() {
  for (const [id, c] of checks) {
    if (c.state === 'checking') {
      clearTimeout(c.timer);
      c.timer = setTimeout(() => fetchReceipts(id, c), Math.random() * 1500);
    }
  }
}

function checkText(c) {
  if (c.state === 'counted') return t('part.vote.check.counted');
  if (c.state === 'missing') {
    return c.listed ? t('part.vote.check.mismatch', { choice: tv('vote.choice', c.listed) }) : t('part.vote.check.missing');
  }
  return c.offline ? `${t('part.vote.check.checking')} ${t('part.vote.check.offline')}` : t('part.vote.check.checking');
}

// ---- earlier votes, and what screen readers hear

function renderPast(s, past, consensus) {
  const box = $('past-polls');
  box.hidden = past.length === 0 && consensus.length === 0;
  if (box.hidden) return;
  const lang = currentLang();
  const items = past.map((p) => {
    const d = pollDraft(s, p);
    const n = voteNumbers(p);
    const figures = n ? CHOICES.map((ch) => `${tv('vote.choice', ch)} ${fmtNum(n.counts[ch])}`).join(' · ') : '';
    const status = p.status === 'closed' ? tv('vote.outcome', p.outcome) : t('part.vote.cancelled_label');
    const ballot = s.ballots && s.ballots[p.id];
    return h(
      'li',
      { class: `past-item is-${p.outcome || p.status}`, 'data-testid': 'past-poll', 'data-poll': p.id, 'data-outcome': p.outcome || p.status },
      h('p', { class: 'past-title' }, h('span', { class: 'vote-kind' }, d.kind), ' ', langNodes(d.draft ? d.draft.title : '', lang)),
      h(
        'p',
        { class: 'past-meta' },
        h('span', { class: `past-outcome is-${p.outcome || p.status}` }, status),
        figures ? h('span', null, figures) : null,
        ballot ? h('span', null, t('part.vote.ballot', { choice: tv('vote.choice', ballot.choice) })) : null,
      ),
    );
  });
  for (const d of consensus) {
    items.push(h(
      'li',
      { class: 'past-item is-adopted', 'data-testid': 'past-poll', 'data-draft': d.id, 'data-outcome': 'consensus' },
      h('p', { class: 'past-title' }, h('span', { class: 'vote-kind' }, tv('draft.kind', d.kind)), ' ', langNodes(d.title, lang)),
      h('p', { class: 'past-meta' }, h('span', { class: 'past-outcome is-adopted' }, t('part.vote.consensus'))),
    ));
  }
  fill($('past-list'), items);
}

/** A vote just opened: its card comes into view, unless the person is typing something. */
function bringIntoView(pollId) {
  const a = document.activeElement;
  if (a && (a.tagName === 'TEXTAREA' || a.tagName === 'INPUT')) return;
  requestAnimationFrame(() => {
    const c = cards.get(pollId);
    if (!c) return;
    const top = c.el.getBoundingClientRect().top;
    if (top >= 0 && top < innerHeight / 2) return;
    c.el.scrollIntoView({ block: 'start', behavior: matchMedia('(prefers-reduced-motion: reduce)').matches ? 'auto' : 'smooth' });
  });
}

/** Says it once when a vote opens, closes or is cancelled (not what the page showed on its first render). */
let heard = null; // poll id -> the status last heard
function announce(s, shown) {
  if (!heard) heard = new Map(page.heard);
  let msg = '';
  for (const p of shown) {
    const was = heard.get(p.id);
    if (was === p.status) continue;
    heard.set(p.id, p.status);
    if (p.status === 'open') {
      msg = t('part.vote.live_open', { title: pollDraft(s, p).title });
      bringIntoView(p.id);
    }
    else if (p.status === 'closed') msg = t('part.vote.live_closed', { outcome: tv('vote.outcome', p.outcome) });
    else msg = t('part.vote.live_cancelled');
  }
  if (msg) setText($('vote-live'), msg);
}

// ---------------------------------------------------------------- command fates

function onCommand(rec) {
  if (rec === claimSent) showClaimFate(rec);
  if (rec.status === 'refused' && rec.op === 'vote.cast') {
    const c = rec.error && rec.error.code;
    if (c === 'closed') lostChange.add(rec.fields.poll);
    page.notice(page.refusal('vote', rec.error, t));
  }
}
