// Near-duplicate questions, French and English alike. Pure: no DOM, no i18n.
//
// A question becomes a set of word stems and a set of character trigrams:
// lower case, accents stripped, elisions (l', d', qu', j'…) folded, punctuation
// dropped, French and English stop words dropped, a light suffix stemmer
// (plurals, -ment, -tion, -ing, -ed, -ity…) and doubled letters folded. Two
// questions score
//
//   0.45 · Jaccard(stems) + 0.25 · containment(stems) + 0.30 · Dice(trigrams)
//
// where the word overlap is weighted by inverse document frequency over the
// questions at hand (the day's topic words count less than rare ones) and
// containment is measured against the shorter question. So "Comment financer
// les communes ?" meets "Quel financement pour les communes" (same stems:
// financ, comun), and a short question meets the longer one that contains it.
//
// Fast enough for 500 questions on a cheap phone: features are computed once
// per question and cached by id and text, stems and trigrams are interned as
// integers, and one pass over an inverted index scores a question against all
// the others at once. suggestDuplicates() recomputes scores only when a
// question is added, removed or edited.

const W_JACCARD = 0.45;
const W_CONTAIN = 0.25;
const W_TRIGRAM = 0.3;

// Stop words after normalise(): lower case, no accents, elisions folded.
const STOP = new Set(
  (
    // French
    'a ai aie aient ainsi alors as au aucun aucune aupres auquel aura aurait aussi autre autres aux avaient avais avait avant avec avez aviez avoir avons ' +
    'bien c ca car ce ceci cela celle celles celui cependant certain certaine certains ces cet cette ceux chaque chez ci comme comment concernant ' +
    'd dans de depuis des desquels deux doit doivent donc dont du duquel elle elles en encore entre es est et etaient etait etant ete etes etre eu eux ' +
    'faire fait faut fois font ici il ils j je jusqu l la laquelle le lequel les lesquelles lesquels leur leurs lors lui m ma mais me meme memes mes moi moins mon ' +
    'n ne ni non nos notre nous on ont or ou par parce pas peu peut peuvent plus pour pourquoi pourra pourrait pourraient pouvez pouvons qu quand que quel quelle quelles quels qui quoi ' +
    's sa sans se sera seraient serait seront ses si sien soit sommes son sont sous suis sur t ta te tes toi ton tous tout toute toutes tres tu un une unes uns ' +
    'va vers voici voila vont vos votre vous y ' +
    // English
    'about above after again against all am an and any are aren as at be because been before being below between both but by ' +
    'can cannot could couldn did didn do does doesn doing don down during each few for from further had hasn has have haven having he her here hers herself him himself his how ' +
    'i if in into is isn it its itself just let me more most my myself no nor not of off on once only or other ought our ours ourselves out over own ' +
    'same shall she should shouldn so some such than that the their theirs them themselves then there these they this those through to too ' +
    'under until up upon very was wasn we were weren what when where which while who whom whose why will with won would wouldn you your yours yourself yourselves ' +
    'get got also ever every many much may might must need please regarding re ve ll d s t'
  ).split(/\s+/),
);

// Longest first. Each entry: [suffix, replacement]. French and English share many.
const SUFFIXES = [
  ['issements', ''], ['issement', ''], ['isations', ''], ['isation', ''], ['izations', ''], ['ization', ''],
  ['eraient', ''], ['ements', ''], ['ement', ''], ['ations', ''], ['ation', ''], ['itions', ''], ['ition', ''],
  ['ments', ''], ['ment', ''], ['tions', ''], ['tion', ''], ['erait', ''], ['eront', ''], ['erons', ''], ['erez', ''], ['era', ''],
  ['ities', ''], ['ites', ''], ['ity', ''], ['ite', ''],
  ['ieres', ''], ['iere', ''], ['iers', ''], ['ier', ''],
  ['euses', ''], ['euse', ''], ['eurs', ''], ['eur', ''], ['ers', ''], ['er', ''],
  ['ings', ''], ['ing', ''], ['ives', ''], ['ive', ''], ['ness', ''],
  ['ances', ''], ['ance', ''], ['ences', ''], ['ence', ''],
  ['ents', ''], ['ent', ''], ['ales', ''], ['aux', ''], ['al', ''], ['us', ''], ['ees', ''], ['ee', ''], ['ed', ''], ['es', ''], ['ez', ''], ['e', ''], ['s', ''], ['x', ''],
];
const MIN_STEM = 3;

/**
 * Lower case, accents stripped, curly quotes straightened, elisions folded
 * ("l'État" → "etat", "qu'il" → "il"), everything that is not a letter or a
 * digit a single space. "Comment financer l’État ?" → "comment financer etat".
 */
export function normalise(text) {
  return String(text == null ? '' : text)
    .toLowerCase()
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[\u2019\u2018\u02bc`´]/g, "'")
    .replace(/\b(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu|quoiqu)'(?=\p{L})/gu, '')
    .replace(/œ/g, 'oe')
    .replace(/æ/g, 'ae')
    .replace(/ß/g, 'ss')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/** A light stem: English -ies, -s/-x plurals, then up to two suffixes, doubled letters folded. */
export function stem(word) {
  if (/^\d+$/.test(word)) return word;
  let w = word.replace(/(\p{L})\1+/gu, '$1');
  if (w.length > 4 && w.endsWith('ies')) w = `${w.slice(0, -3)}y`;
  for (let round = 0; round < 2; round += 1) {
    let changed = false;
    for (const [suf, rep] of SUFFIXES) {
      if (w.length - suf.length >= MIN_STEM && w.endsWith(suf)) {
        w = w.slice(0, w.length - suf.length) + rep;
        changed = true;
        break;
      }
    }
    if (!changed) break;
  }
  // "y" and "i" endings meet ("municipality" / "municipalite"; "study" / "studi").
  if (w.length > MIN_STEM && (w.endsWith('y') || w.endsWith('i'))) w = w.slice(0, -1);
  return w.replace(/(\p{L})\1+/gu, '$1');
}

/** The content words of a text (normalised, without stop words). */
export function words(text) {
  return normalise(text)
    .split(' ')
    .filter((w) => w && !STOP.has(w) && (w.length > 1 || /\d/.test(w)));
}

// Stems and trigrams are interned as small integers, for the inverted index.
const stemIds = new Map();
const gramIds = new Map();
const intern = (map, x) => {
  let id = map.get(x);
  if (id === undefined) map.set(x, (id = map.size));
  return id;
};

/** Features of a text: {stems: Set, grams: Set} (and their interned ids). */
export function features(text) {
  const stems = new Set(words(text).map(stem).filter(Boolean));
  const grams = new Set();
  for (const w of stems) {
    const p = ` ${w} `;
    for (let i = 0; i + 3 <= p.length; i += 1) grams.add(p.slice(i, i + 3));
  }
  const sid = Int32Array.from(stems, (x) => intern(stemIds, x));
  const gid = Int32Array.from(grams, (x) => intern(gramIds, x));
  return { stems, grams, sid, gid };
}

function intersect(a, b) {
  const [small, big] = a.size <= b.size ? [a, b] : [b, a];
  let n = 0;
  for (const x of small) if (big.has(x)) n += 1;
  return n;
}

/** The blend of the word overlap (weighted) and the trigram overlap, 0…1. */
function blend(common, wa, wb, na, nb, gramsCommon, ga, gb) {
  if (!wa || !wb) return 0;
  const jaccard = common / (wa + wb - common);
  // A one-word question is "contained" in too many others to say much.
  const contain = (common / Math.min(wa, wb)) * Math.min(1, Math.min(na, nb) / 2);
  const dice = ga + gb ? (2 * gramsCommon) / (ga + gb) : 0;
  return W_JACCARD * jaccard + W_CONTAIN * contain + W_TRIGRAM * dice;
}

/**
 * Similarity of two feature sets, 0…1. `weight(stem)` (default 1) lets the
 * words that many questions share count less (see the corpus' idf).
 */
export function score(fa, fb, weight = () => 1) {
  if (!fa.stems.size || !fb.stems.size) return 0;
  let wa = 0;
  let wb = 0;
  let common = 0;
  for (const x of fa.stems) {
    const w = weight(x);
    wa += w;
    if (fb.stems.has(x)) common += w;
  }
  for (const x of fb.stems) wb += weight(x);
  return blend(common, wa, wb, fa.stems.size, fb.stems.size, intersect(fa.grams, fb.grams), fa.grams.size, fb.grams.size);
}

/**
 * An inverted index over some questions' features: stem id → question
 * indexes, trigram id → question indexes, and the smoothed inverse document
 * frequency of each stem (a stem found in most questions, the day's topic,
 * weighs less than a rare one; with a handful of questions every stem still
 * counts).
 */
function corpus(feats) {
  const n = feats.length;
  const post = new Map();
  const gpost = new Map();
  const add = (map, id, i) => {
    const l = map.get(id);
    if (l) l.push(i);
    else map.set(id, [i]);
  };
  feats.forEach((f, i) => {
    for (const id of f.sid) add(post, id, i);
    for (const id of f.gid) add(gpost, id, i);
  });
  const weights = new Map();
  const weight = (id) => {
    let w = weights.get(id);
    if (w === undefined) {
      const l = post.get(id);
      w = Math.log(1 + (n + 1) / ((l ? l.length : 0) + 1));
      weights.set(id, w);
    }
    return w;
  };
  const totals = Float64Array.from(feats, (f) => f.sid.reduce((sum, id) => sum + weight(id), 0));
  return { n, feats, post, gpost, weight, totals, accW: new Float64Array(n), accG: new Int32Array(n) };
}

/** Scores of `f` against the corpus' questions (one pass over the postings): [{i, score}] ≥ min. */
function against(c, f, min, accept, self = -1) {
  const { accW, accG, feats, totals } = c;
  const touched = [];
  let wa = 0;
  for (const id of f.sid) {
    const w = c.weight(id);
    wa += w;
    const l = c.post.get(id);
    if (!l) continue;
    for (const j of l) {
      if (accW[j] === 0 && accG[j] === 0) touched.push(j);
      accW[j] += w;
    }
  }
  // Without a shared word the score is at most W_TRIGRAM: trigrams only matter for the others.
  const gramsOnly = min <= W_TRIGRAM;
  for (const id of f.gid) {
    const l = c.gpost.get(id);
    if (!l) continue;
    for (const j of l) {
      if (accW[j] === 0) {
        if (!gramsOnly) continue;
        if (accG[j] === 0) touched.push(j);
      }
      accG[j] += 1;
    }
  }
  const out = [];
  for (const j of touched) {
    if (j !== self) {
      const g = feats[j];
      const s = blend(accW[j], wa, totals[j], f.sid.length, g.sid.length, accG[j], f.gid.length, g.gid.length);
      if (s >= min && accept(j)) out.push({ i: j, score: s });
    }
    accW[j] = 0;
    accG[j] = 0;
  }
  return out;
}

// ---------------------------------------------------------------- cache

const CACHE_MAX = 5000;
const cache = new Map(); // key → {text, f}

/** The features of a question, computed once per id and text. */
function featuresOf(q) {
  const text = String((q && q.text) || '');
  const key = q && q.id != null ? `#${q.id}` : `=${text}`;
  const hit = cache.get(key);
  if (hit && hit.text === text) return hit.f;
  if (cache.size >= CACHE_MAX) cache.clear();
  const f = features(text);
  cache.set(key, { text, f });
  return f;
}

// ---------------------------------------------------------------- API

/**
 * The questions most like `text`, best first: [{question, score}] with
 * score ≥ `min`, at most `limit`.
 */
export function similar(text, questions, { limit = 3, min = 0.35 } = {}) {
  const f = features(text);
  if (!f.stems.size || !Array.isArray(questions)) return [];
  const list = questions.filter((q) => q && q.text);
  const sig = list.map((q) => `${q.id}\u0001${q.text}`).join('\u0002');
  if (asked.sig !== sig) asked = { sig, c: corpus(list.map(featuresOf)) };
  const found = against(asked.c, f, min, () => true).map(({ i, score: s }) => ({ question: list[i], score: s }));
  return top(found, limit);
}

/** The index similar() used last: a page asks again and again (as one types) about the same questions. */
let asked = { sig: null, c: null };

function top(list, limit) {
  list.sort((a, b) => b.score - a.score || (a.question.at ?? 0) - (b.question.at ?? 0));
  return list.slice(0, Math.max(0, limit));
}

const RANK = { pending: 1, approved: 2, answered: 3 };

/**
 * May `dup` be merged into `into`? Into a question at least as far along
 * (pending < approved < answered); between equals, into the one with more
 * upvotes, then the older one. So each pair is suggested one way only.
 */
export function mergeTarget(dup, into) {
  const rd = RANK[dup.status] || 0;
  const ri = RANK[into.status] || 0;
  if (!rd || !ri || dup.id === into.id) return false;
  if (ri !== rd) return ri > rd;
  const ud = Number(dup.upvotes) || 0;
  const ui = Number(into.upvotes) || 0;
  if (ui !== ud) return ui > ud;
  const ad = Number(dup.at) || 0;
  const ai = Number(into.at) || 0;
  if (ai !== ad) return ai < ad;
  return String(into.id) < String(dup.id);
}

const NEAR_KEEP = 24;
// The index over the current questions, and each question's nearest ones (computed when asked for).
let near = { sig: null, min: null, c: null, lists: new Map() };
let memo = { sig: null, result: new Map() };

/**
 * For the console: each pending or approved question that looks like another
 * one it could be merged into (see mergeTarget) → its best targets,
 * [{question, score}] best first. Questions without suggestions are absent.
 * `only` (a Set of ids): just for those questions (the ones on screen).
 * A question's scores are computed once and kept until a question is added,
 * removed or edited; a change of status or of upvotes only re-applies mergeTarget.
 */
export function suggestDuplicates(questions, { limit = 3, min = 0.35, only = null } = {}) {
  const list = Array.isArray(questions) ? questions.filter((q) => q && RANK[q.status] && q.text) : [];
  const onlySig = only ? [...only].join('\u0001') : '*';
  const sig = `${limit}/${min}/${onlySig}\u0003${list.map((q) => `${q.id}\u0001${q.status}\u0001${q.upvotes || 0}\u0001${q.text}`).join('\u0002')}`;
  if (memo.sig === sig) return memo.result;

  const textSig = list.map((q) => `${q.id}\u0001${q.text}`).join('\u0002');
  if (near.sig !== textSig || near.min !== min) {
    near = { sig: textSig, min, c: corpus(list.map(featuresOf)), lists: new Map() };
  }
  const result = new Map();
  list.forEach((q, i) => {
    if (q.status !== 'pending' && q.status !== 'approved') return;
    if (only && !only.has(q.id)) return;
    let raw = near.lists.get(i);
    if (!raw) {
      raw = against(near.c, near.c.feats[i], min, () => true, i);
      raw.sort((x, y) => y.score - x.score);
      raw = raw.slice(0, NEAR_KEEP);
      near.lists.set(i, raw);
    }
    const found = [];
    for (const { i: j, score: s } of raw) {
      if (mergeTarget(q, list[j])) found.push({ question: list[j], score: s });
    }
    if (found.length) result.set(q.id, top(found, limit));
  });
  memo = { sig, result };
  return result;
}
