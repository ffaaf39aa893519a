// Word-level differences between versions of a draft text (web/diff.js), on the texts a
// rapporteur edits, in French and in English: the parts always give back both texts, read as
// a person would mark the change by hand, and two 20,000-character texts that share nothing
// fall back to a coarser comparison instead of a quadratic one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { diffWords, tokenize, collapse, wordCount } from '../../web/diff.js';

/** The text before (eq + del) and after (eq + ins). */
const sides = (parts) => [
  parts.filter((p) => p.op !== 'ins').map((p) => p.text).join(''),
  parts.filter((p) => p.op !== 'del').map((p) => p.text).join(''),
];
/** A small deterministic random generator (mulberry32): rnd(n) is in [0, n). */
function random(seed) {
  return (n) => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) % n;
  };
}
/** The parts as one line: [-removed-]{+added+}. */
const show = (parts) => parts.map((p) => (p.op === 'del' ? `[-${p.text}-]` : p.op === 'ins' ? `{+${p.text}+}` : p.text)).join('');

test('tokens: words with their accents, apostrophes and hyphens, spaces and punctuation; they join back', () => {
  const text = 'L’État doit, d’ici 2030, accélérer le peer-learning.\n\nFin !';
  const toks = tokenize(text);
  assert.equal(toks.join(''), text);
  for (const w of ['L’État', 'd’ici', '2030', 'accélérer', 'peer-learning', '\n\n', ',', '!']) assert.ok(toks.includes(w), w);
  assert.equal(wordCount(text), 8);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize(null), []);
});

test('a word changed, added or removed is marked as such, and nothing else', () => {
  assert.equal(
    show(diffWords('The participants call on the State to accelerate the transfer.', 'The participants call on the State to speed up the transfer.').parts),
    'The participants call on the State to [-accelerate-]{+speed up+} the transfer.',
  );
  // A word and one of the spaces around it: either space will do.
  assert.match(
    show(diffWords('Les participants appellent l’État à accélérer le transfert effectif des compétences.', 'Les participants appellent l’État à accélérer le transfert des compétences.').parts),
    /^Les participants appellent l’État à accélérer le transfert(\[- effectif-\] | \[-effectif -\])des compétences\.$/,
  );
  assert.equal(show(diffWords('one two', 'one two three').parts), 'one two{+ three+}');
  assert.equal(show(diffWords('', 'new text').parts), '{+new text+}');
  assert.equal(show(diffWords('old text', '').parts), '[-old text-]');
  assert.deepEqual(diffWords('same', 'same'), { parts: [{ op: 'eq', text: 'same' }], coarse: false });
  assert.deepEqual(diffWords('', ''), { parts: [], coarse: false });
});

test('a run of changed words reads as one change, not word by word; punctuation counts', () => {
  // The spaces and the short word between the changed words are not left standing alone.
  assert.equal(
    show(diffWords('quick brown fox', 'slow red fox').parts),
    '[-quick brown-]{+slow red+} fox',
  );
  assert.equal(
    show(diffWords('a call to the State, and to partners.', 'a call to the State; and to partners!').parts),
    'a call to the State[-,-]{+;+} and to partners[-.-]{+!+}',
  );
  // Every deletion comes before its insertion.
  const { parts } = diffWords('alpha beta gamma delta', 'alpha BETA gamma DELTA');
  for (let i = 1; i < parts.length; i++) assert.ok(!(parts[i - 1].op === 'ins' && parts[i].op === 'del'), show(parts));
});

test('whatever the texts, the parts give back both of them (random edits)', () => {
  const rnd = random(42);
  const words = ['les', 'collectivités', 'State', 'peace', ',', '.', 'l’État', 'de', 'a', 'transfer', '\n', 'élus', '2030'];
  const sentence = (n) => Array.from({ length: n }, () => words[rnd(words.length)]).join(rnd(5) ? ' ' : '  ');
  for (let i = 0; i < 300; i++) {
    const a = sentence(rnd(40));
    const toks = tokenize(a);
    for (let e = rnd(6); e > 0; e--) {
      const at = rnd(toks.length + 1);
      if (rnd(2)) toks.splice(at, 1);
      else toks.splice(at, 0, words[rnd(words.length)], ' ');
    }
    const b = toks.join('');
    const { parts, coarse } = diffWords(a, b);
    assert.deepEqual(sides(parts), [a, b], `${JSON.stringify(a)} → ${JSON.stringify(b)}`);
    assert.equal(coarse, false);
    for (let j = 1; j < parts.length; j++) assert.notEqual(parts[j].op, parts[j - 1].op, 'neighbours differ');
  }
});

/** About `chars` characters of sentences made of `vocab`, deterministic. */
function longText(chars, vocab, salt = 1) {
  const rnd = random(salt);
  const out = [];
  let len = 0;
  while (len < chars) {
    const w = vocab[rnd(vocab.length)];
    out.push(w);
    len += w.length + 1;
    if (rnd(13) === 0) out.push('.');
  }
  return out.join(' ').slice(0, chars);
}

test('a 20,000-character text with a few edits is still compared word by word', () => {
  const a = longText(20_000, ['participants', 'State', 'competences', 'resources', 'local', 'authorities', 'transfer', 'peace']);
  const b = `${a.slice(0, 5000)} newly inserted words ${a.slice(5000, 12000)}${a.slice(12040)}`;
  const { parts, coarse } = diffWords(a, b);
  assert.equal(coarse, false);
  assert.deepEqual(sides(parts), [a, b]);
  const ins = parts.filter((p) => p.op === 'ins').map((p) => p.text).join('');
  assert.ok(ins.includes('newly inserted words'), ins);
  assert.ok(parts.filter((p) => p.op !== 'eq').length <= 4, show(parts).length);
});

test('two 20,000-character texts with nothing in common fall back to a coarse comparison, still exact', () => {
  const a = longText(20_000, ['participants', 'State', 'competences', 'resources', 'local', 'authorities'], 7);
  const b = longText(20_000, ['collectivités', 'élus', 'réconciliation', 'paix', 'ressources', 'transfert'], 9);
  const { parts, coarse } = diffWords(a, b);
  assert.equal(coarse, true);
  assert.deepEqual(sides(parts), [a, b]);
  // Many scattered edits in a long text: by sentence, with the changed sentences refined.
  const edited = a.replace(/State/g, 'Government').replace(/local/g, 'regional');
  const r = diffWords(a, edited);
  assert.equal(r.coarse, true);
  assert.deepEqual(sides(r.parts), [a, edited]);
  assert.ok(r.parts.some((p) => p.op === 'del' && p.text === 'State'), 'the changed sentences are refined word by word');
});

test('long unchanged stretches are shortened to their ends, at word boundaries', () => {
  const long = 'word '.repeat(200); // 1,000 characters
  const parts = [{ op: 'eq', text: long }, { op: 'ins', text: 'NEW' }, { op: 'eq', text: ` ${long}` }, { op: 'del', text: 'OLD' }, { op: 'eq', text: long }];
  const c = collapse(parts, { context: 100, min: 300 });
  assert.deepEqual(c.map((p) => p.op), ['gap', 'eq', 'ins', 'eq', 'gap', 'eq', 'del', 'eq', 'gap']);
  const [g0, e1] = c;
  assert.equal(g0.chars + e1.text.length, long.length, 'the first stretch keeps its end only');
  assert.ok(e1.text.length >= 100 && e1.text.length < 150 && e1.text.startsWith('word'), JSON.stringify(e1.text));
  assert.ok(c[3].text.endsWith('word') && c[3].text.length < 150, 'a kept head ends with a whole word');
  // Short stretches and a text with no change stay whole.
  assert.deepEqual(collapse([{ op: 'eq', text: 'short' }, { op: 'ins', text: 'x' }]), [{ op: 'eq', text: 'short' }, { op: 'ins', text: 'x' }]);
  assert.deepEqual(collapse([{ op: 'eq', text: long }]), [{ op: 'eq', text: long }]);
});
