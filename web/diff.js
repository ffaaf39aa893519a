// Word-level differences between two versions of a text, for the rapporteur's version history.
// Pure (no DOM): `tokenize`, `diffWords(a, b)` → {parts: [{op: 'eq'|'del'|'ins', text}], coarse},
// `collapse(parts)` (long unchanged stretches shortened to their ends), `wordCount`.
// Tested by tests/e2e/diff.test.mjs.
//
// Tokens are words (letters, marks and digits, with inner apostrophes and hyphens: "l’État",
// "peer-learning"), runs of white space, and each other character on its own (punctuation),
// so the parts always put back together into exactly the two texts. The shortest edit script
// comes from Myers' O((N+M)·D) algorithm on the tokens left once the common ends are cut off.
// Its work grows with D, the number of tokens changed: past `maxEdits` the texts are compared
// sentence by sentence instead (and the changed sentences paired and compared word by word),
// and past that again the middle is shown as replaced whole. So two 20,000-character texts
// that have nothing in common cost tens of milliseconds, not seconds, and a few megabytes.

const TOKEN = /[\p{L}\p{M}\p{N}]+(?:['’‑-][\p{L}\p{M}\p{N}]+)*|\s+|[^]/gu;
const WORD = /[\p{L}\p{N}]/u;
const SENTENCE = /[^.!?;\n]*(?:[.!?;]+|\n+|$)\s*/g;

/** The tokens of `text`; joined back they give the text. */
export function tokenize(text) {
  return String(text ?? '').match(TOKEN) || [];
}

/** How many words a piece of text holds. */
export function wordCount(text) {
  let n = 0;
  for (const tok of tokenize(text)) if (WORD.test(tok)) n += 1;
  return n;
}

/** Sentences (with their trailing punctuation and space) and line breaks; joined back they give the text. */
function sentences(text) {
  const out = [];
  SENTENCE.lastIndex = 0;
  let m;
  while ((m = SENTENCE.exec(text)) && m[0] !== '') out.push(m[0]);
  return out;
}

/**
 * Myers' shortest edit script between token id arrays `a` and `b`, as a list of
 * [op, from, to] runs over a (eq, del) or b (ins); null when it needs more than `maxD` edits.
 */
function myers(a, b, maxD) {
  const n = a.length;
  const m = b.length;
  const max = n + m;
  const limit = Math.min(max, maxD);
  const off = max + 1;
  const v = new Int32Array(2 * max + 3);
  const trace = [];
  let found = -1;
  for (let d = 0; d <= limit && found < 0; d++) {
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1;
      let y = x - k;
      while (x < n && y < m && a[x] === b[y]) {
        x += 1;
        y += 1;
      }
      v[off + k] = x;
      if (x >= n && y >= m) {
        found = d;
        break;
      }
    }
    trace.push(v.slice(off - d, off + d + 1)); // V after step d, for k in [-d, d]
  }
  if (found < 0) return null;
  // Back from (n, m): each step d came from a diagonal k ± 1 of step d - 1.
  const ops = [];
  let x = n;
  let y = m;
  for (let d = found; d > 0; d--) {
    const prev = trace[d - 1];
    const at = (k) => prev[k + d - 1];
    const k = x - y;
    const down = k === -d || (k !== d && at(k - 1) < at(k + 1));
    const pk = down ? k + 1 : k - 1;
    const px = at(pk);
    const py = px - pk;
    const sx = down ? px : px + 1; // where the snake of step d began
    if (x > sx) ops.push(['eq', sx, x]);
    if (down) ops.push(['ins', py, py + 1]);
    else ops.push(['del', px, px + 1]);
    x = px;
    y = py;
  }
  if (x > 0) ops.push(['eq', 0, x]);
  return ops.reverse();
}

/** Token strings to small integers, shared by both sides, so comparisons are cheap. */
function ids(a, b) {
  const map = new Map();
  const id = (t) => {
    let i = map.get(t);
    if (i === undefined) {
      i = map.size;
      map.set(t, i);
    }
    return i;
  };
  return [Int32Array.from(a, id), Int32Array.from(b, id)];
}

/** Adds a part, joining it to the last one when it is of the same kind. */
function push(parts, op, text) {
  if (!text) return;
  const last = parts[parts.length - 1];
  if (last && last.op === op) last.text += text;
  else parts.push({ op, text });
}

/** The parts of `ta` → `tb` (token lists) by Myers, or null past `maxD` edits. */
function diffTokens(ta, tb, maxD) {
  const [a, b] = ids(ta, tb);
  const ops = myers(a, b, maxD);
  if (!ops) return null;
  const parts = [];
  for (const [op, from, to] of ops) push(parts, op, (op === 'ins' ? tb : ta).slice(from, to).join(''));
  return parts;
}

/**
 * A stretch of unchanged text this short between two changes is shown as part of the change:
 * white space and punctuation, or one word of at most two letters ("a", "of", "de", "à").
 */
function absorbable(text) {
  return text.length <= 6 && /^[^\p{L}\p{N}]*(?:[\p{L}\p{M}\p{N}]{1,2}[^\p{L}\p{N}]*)?$/u.test(text);
}

/**
 * Readable parts: a short unchanged stretch between two changes (", ", "of", a space) joins
 * them, and each run of changes becomes one deletion followed by one insertion.
 */
function tidy(parts) {
  const out = [];
  let del = '';
  let ins = '';
  const flush = () => {
    // Tokens at either end that both sides share (a space, a comma) go back to the unchanged text.
    const ta = tokenize(del);
    const tb = tokenize(ins);
    let pre = 0;
    let suf = 0;
    if (ta.length && tb.length) {
      while (pre < ta.length && pre < tb.length && ta[pre] === tb[pre]) pre += 1;
      while (suf < ta.length - pre && suf < tb.length - pre && ta[ta.length - 1 - suf] === tb[tb.length - 1 - suf]) suf += 1;
    }
    push(out, 'eq', ta.slice(0, pre).join(''));
    push(out, 'del', ta.slice(pre, ta.length - suf).join(''));
    push(out, 'ins', tb.slice(pre, tb.length - suf).join(''));
    push(out, 'eq', ta.slice(ta.length - suf).join(''));
    del = '';
    ins = '';
  };
  parts.forEach((p, i) => {
    if (p.op === 'del') del += p.text;
    else if (p.op === 'ins') ins += p.text;
    else if (i > 0 && i < parts.length - 1 && parts[i - 1].op !== 'eq' && parts[i + 1].op !== 'eq' && absorbable(p.text)) {
      del += p.text;
      ins += p.text;
    } else {
      flush();
      push(out, 'eq', p.text);
    }
  });
  flush();
  return out;
}

/**
 * The word-level difference from text `a` to text `b`: {parts, coarse}. Joining the `eq` and
 * `del` parts gives `a`, the `eq` and `ins` parts `b`. `coarse` is true when the texts differ
 * too much for a word-by-word comparison of the whole and some of it is by sentence or whole.
 * `maxEdits` bounds the tokens changed that one Myers run may look for (the work budget).
 */
export function diffWords(a, b, { maxEdits = 600 } = {}) {
  a = String(a ?? '');
  b = String(b ?? '');
  if (a === b) return { parts: a ? [{ op: 'eq', text: a }] : [], coarse: false };
  const ta = tokenize(a);
  const tb = tokenize(b);
  // The common ends cost nothing to find and are most of a small edit.
  let pre = 0;
  while (pre < ta.length && pre < tb.length && ta[pre] === tb[pre]) pre += 1;
  let suf = 0;
  while (suf < ta.length - pre && suf < tb.length - pre && ta[ta.length - 1 - suf] === tb[tb.length - 1 - suf]) suf += 1;
  const midA = ta.slice(pre, ta.length - suf);
  const midB = tb.slice(pre, tb.length - suf);
  const parts = [];
  push(parts, 'eq', ta.slice(0, pre).join(''));
  let coarse = false;
  let middle = diffTokens(midA, midB, maxEdits);
  if (!middle) {
    coarse = true;
    middle = bySentence(midA.join(''), midB.join(''), maxEdits);
  }
  for (const p of middle) push(parts, p.op, p.text);
  push(parts, 'eq', ta.slice(ta.length - suf).join(''));
  return { parts: tidy(parts), coarse };
}

/**
 * Sentence by sentence; in each changed stretch the sentences removed and added are paired in
 * order and each pair compared word by word (an edited sentence reads as its edit), within the
 * same budget of edits per pair; past the budget, the whole middle as deleted and inserted.
 */
function bySentence(a, b, budget) {
  const sa = sentences(a);
  const sb = sentences(b);
  const [ia, ib] = ids(sa, sb);
  const ops = myers(ia, ib, budget);
  if (!ops) return [{ op: 'del', text: a }, { op: 'ins', text: b }];
  const out = [];
  let dels = [];
  let inss = [];
  const flush = () => {
    const n = Math.max(dels.length, inss.length);
    for (let i = 0; i < n; i++) {
      const ta = tokenize(dels[i] || '');
      const tb = tokenize(inss[i] || '');
      // (A pair that is the whole middle again was just found too different.)
      const whole = dels[i] === a && inss[i] === b;
      const fine = ta.length && tb.length && !whole ? diffTokens(ta, tb, budget) : null;
      if (fine) for (const f of fine) push(out, f.op, f.text);
      else {
        push(out, 'del', dels[i] || '');
        push(out, 'ins', inss[i] || '');
      }
    }
    dels = [];
    inss = [];
  };
  for (const [op, from, to] of ops) {
    if (op === 'eq') {
      flush();
      push(out, 'eq', sa.slice(from, to).join(''));
    } else if (op === 'del') dels.push(...sa.slice(from, to));
    else inss.push(...sb.slice(from, to));
  }
  flush();
  return out;
}

/**
 * Long unchanged stretches shortened to `context` characters at each end (cut at a space),
 * with {op: 'gap', chars} for what is left out; the first and last stretches keep only the
 * end that touches a change. Stretches shorter than `min` stay whole.
 */
export function collapse(parts, { context = 160, min = 480 } = {}) {
  const out = [];
  parts.forEach((p, i) => {
    if (p.op !== 'eq' || p.text.length < min) {
      out.push(p);
      return;
    }
    const first = i === 0;
    const last = i === parts.length - 1;
    if (first && last) {
      out.push(p);
      return;
    }
    const headEnd = first ? 0 : cutAfter(p.text, context);
    const tailStart = last ? p.text.length : cutBefore(p.text, p.text.length - context);
    if (tailStart - headEnd < context) {
      out.push(p);
      return;
    }
    if (headEnd > 0) out.push({ op: 'eq', text: p.text.slice(0, headEnd) });
    out.push({ op: 'gap', chars: tailStart - headEnd });
    if (tailStart < p.text.length) out.push({ op: 'eq', text: p.text.slice(tailStart) });
  });
  return out;
}

/** The end of the word at or after `at` (a white space position), else `at`. */
function cutAfter(text, at) {
  const i = text.slice(at).search(/\s/);
  return i < 0 || i > 40 ? at : at + i;
}

/** The start of the word at or before `at` (just after a white space), else `at`. */
function cutBefore(text, at) {
  const head = text.slice(Math.max(0, at - 40), at);
  const i = head.search(/\s\S*$/);
  return i < 0 ? at : at - head.length + i + 1;
}
