// Near-duplicate questions (web/similar.js), on questions as a room asks them, in
// French and in English: what must meet, what must not, which way a merge goes,
// and how fast it is with 500 questions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { similar, normalise, stem, suggestDuplicates, mergeTarget } from '../../web/similar.js';

let n = 0;
const q = (text, status = 'pending', more = {}) => {
  n += 1;
  return { id: `q${n}`, text, name: null, status, upvotes: 0, at: 1_700_000_000_000 + n * 1000, ...more };
};

/** Questions of the day that are neither duplicates of each other nor of the pairs below. */
const ROOM = [
  'What role for local elected officials in the peace process?',
  'Quelle coopération décentralisée avec les partenaires techniques et financiers ?',
  'How are mayors protected in the north of the country?',
  'Les élus locaux sont-ils associés aux comités de suivi de l’accord de paix ?',
  'Is the Bamako 2030 vision realistic?',
  'Quelle place pour la société civile ?',
  'Les collectivités territoriales peuvent-elles lever des impôts locaux ?',
  'How do local authorities work with traditional chiefs?',
  'Quel bilan de la décentralisation au Mali depuis 1999 ?',
  'What is being done for displaced people?',
];

/** [asked, already there]: the same question in other words. */
const SAME = [
  ['Comment financer les communes ?', 'Quel financement pour les communes'],
  ['How will municipalities be funded?', 'How are municipalities funded'],
  ['Quel est le rôle des jeunes dans la gouvernance locale ?', 'Quelle place pour les jeunes dans la gouvernance locale?'],
  ['Funding municipalities?', 'How will the municipalities be funded, given the budget cuts announced by the State?'],
  ["Quand l'État transférera-t-il les ressources aux collectivités ?", "Le transfert des ressources de l'Etat vers les collectivités : quel calendrier ?"],
  ['What is the timetable for transferring resources to local authorities?', 'When will the State transfer resources to local authorities?'],
  ['Comment les femmes participent-elles à la réconciliation ?', 'Quelle est la place des femmes dans le processus de réconciliation ?'],
  ['COMMENT FINANCER LES COMMUNES', 'comment financer les communes ?!'],
  ["Qu'en est-il de l'emploi des jeunes ?", 'Emploi des jeunes : quelles mesures ?'],
];

/** [asked, there]: related words, other questions. */
const OTHER = [
  ['Comment financer les communes ?', 'Quel rôle pour les femmes dans la paix ?'],
  ['What about security in the north?', 'What about women in the peace process?'],
  ['How will municipalities be funded?', 'Is the Bamako 2030 vision realistic?'],
  ['Quelle place pour la société civile ?', 'Comment lutter contre la corruption dans les marchés publics ?'],
  ['Why was the meeting in Tangier?', 'Who pays for the water network in Gao?'],
];

test('normalise: case, accents, elisions, curly apostrophes and punctuation', () => {
  assert.equal(normalise('Comment financer l’État ?'), 'comment financer etat');
  assert.equal(normalise("QU'EN EST-IL de l'Œuvre ?"), 'en est il de oeuvre');
  assert.equal(normalise('Réconciliation, décentralisation… & co.'), 'reconciliation decentralisation co');
  assert.equal(normalise("J'ai   d'abord\nune question"), 'ai abord une question');
  assert.equal(normalise(null), '');
  assert.equal(normalise('<img src=x onerror=alert(1)>'), 'img src x onerror alert 1');
});

test('stems meet across inflection and across the two languages', () => {
  const same = (a, b) => assert.equal(stem(normalise(a)), stem(normalise(b)), `${a} / ${b}`);
  same('financer', 'financement');
  same('financement', 'financing');
  same('communes', 'commune');
  same('municipalities', 'municipalité');
  same('funded', 'funding');
  same('développement', 'develop');
  same('emploi', 'employment');
  same('régionaux', 'régional');
  same('transferring', 'transfer');
});

test('the same question in other words is found first, in French and in English', () => {
  for (const [asked, there] of SAME) {
    const target = q(there, 'approved');
    const found = similar(asked, [...ROOM.map((t) => q(t, 'approved')), target]);
    assert.ok(found.length >= 1, `nothing found for "${asked}"`);
    assert.equal(found[0].question, target, `"${asked}" should meet "${there}", got "${found[0].question.text}"`);
    assert.ok(found[0].score >= 0.35 && found[0].score <= 1, `${found[0].score}`);
  }
});

test('other questions do not meet, even with shared words', () => {
  for (const [asked, there] of OTHER) {
    const found = similar(asked, [q(there, 'approved')]);
    assert.deepEqual(found, [], `"${asked}" should not meet "${there}"`);
  }
  // The questions of the day do not meet each other.
  const room = ROOM.map((t) => q(t, 'approved'));
  for (const r of room) {
    const found = similar(r.text, room.filter((x) => x !== r));
    assert.deepEqual(found.map((f) => f.question.text), [], r.text);
  }
  // Nothing to compare: no content words at all.
  assert.deepEqual(similar('Et pourquoi ? Who, what, when?', room), []);
  assert.deepEqual(similar('', room), []);
});

test('results: best first, at most `limit`, none below `min`', () => {
  const list = [
    q('How are municipalities funded'),
    q('How are municipalities funded by the State'),
    q('How will municipalities be funded and controlled by the State in the north'),
    q('Who funds the regions'),
  ];
  const all = similar('How will municipalities be funded?', list, { limit: 10, min: 0 });
  for (let i = 1; i < all.length; i += 1) assert.ok(all[i - 1].score >= all[i].score);
  assert.equal(all[0].question, list[0]);
  assert.equal(similar('How will municipalities be funded?', list, { limit: 1 }).length, 1);
  assert.ok(similar('How will municipalities be funded?', list, { min: 0.9 }).every((f) => f.score >= 0.9));
});

test('merges go one way: into the question further along, then the more upvoted, then the older', () => {
  const a = q('Comment financer les communes ?', 'pending');
  const b = q('Quel financement pour les communes', 'approved');
  assert.equal(mergeTarget(a, b), true);
  assert.equal(mergeTarget(b, a), false);
  const older = q('Comment financer les communes ?', 'pending');
  const newer = q('Le financement des communes ?', 'pending');
  assert.equal(mergeTarget(newer, older), true);
  assert.equal(mergeTarget(older, newer), false);
  const popular = q('Comment financer les communes ?', 'approved', { upvotes: 9 });
  const fresh = q('Quel financement pour les communes ?', 'approved', { upvotes: 2, at: 1 });
  assert.equal(mergeTarget(fresh, popular), true);
  const answered = q('Quel financement des communes ?', 'answered');
  assert.equal(mergeTarget(popular, answered), true);
  assert.equal(mergeTarget(a, q('x', 'rejected')), false);
  assert.equal(mergeTarget(a, a), false);
});

test('suggestDuplicates: pending and approved questions get their targets; rejected ones take no part', () => {
  const approved = q('How will municipalities be funded?', 'approved', { upvotes: 4 });
  const dup1 = q('How are municipalities funded', 'pending');
  const dup2 = q('Funding of the municipalities: how?', 'pending');
  const rejected = q('How are municipalities funded???', 'rejected');
  const answered = q('Comment financer les communes ?', 'answered');
  const dupFr = q('Quel financement pour les communes', 'approved', { upvotes: 7 });
  const alone = q('Can the rapporteur read the resolution again?', 'pending');
  const list = [approved, dup1, dup2, rejected, answered, dupFr, alone, ...ROOM.map((t) => q(t, 'approved'))];
  const s = suggestDuplicates(list);
  assert.equal(s.get(dup1.id)[0].question, approved);
  assert.equal(s.get(dup2.id)[0].question, approved);
  // The newer pending one may also go into the older pending one, after the approved one.
  assert.ok(s.get(dup2.id).some((x) => x.question === dup1));
  assert.ok(!s.has(approved.id), 'the target is not told to merge into its duplicates');
  assert.equal(s.get(dupFr.id)[0].question, answered, 'an approved question goes into the answered one, whatever its upvotes');
  assert.ok(!s.has(alone.id));
  assert.ok(!s.has(rejected.id) && !s.has(answered.id));
  for (const targets of s.values()) assert.ok(targets.every((x) => x.question !== rejected));
  assert.equal(suggestDuplicates(list), s, 'the same questions: the same answer, not recomputed');
  const onScreen = suggestDuplicates(list, { only: new Set([dup2.id, alone.id]) });
  assert.deepEqual([...onScreen.keys()], [dup2.id], 'only the questions asked for');
  assert.deepEqual(onScreen.get(dup2.id), s.get(dup2.id).slice(0, 3));

  // Upvotes turn the direction between two approved questions.
  const a = q('Comment financer les communes rurales ?', 'approved', { upvotes: 1 });
  const b = q('Quel financement pour les communes rurales', 'approved', { upvotes: 0 });
  assert.equal(suggestDuplicates([a, b]).get(b.id)[0].question, a);
  const b2 = { ...b, upvotes: 5 };
  const again = suggestDuplicates([a, b2]);
  assert.equal(again.get(a.id)[0].question, b2);
  assert.ok(!again.has(b.id));

  // An edited text is read again (the cache is by id and text).
  const c = { ...a, text: 'Can the rapporteur read the resolution again?' };
  assert.equal(suggestDuplicates([c, b2]).size, 0);
});

test('500 questions: one against all in well under 50 ms, the whole console in a blink', () => {
  const words = ('financement communes collectivités territoriales ressources transfert État décentralisation paix ' +
    'réconciliation jeunes femmes élus locaux budget impôts coopération partenaires sécurité nord régions développement ' +
    'économique gouvernance accord suivi comités société civile municipalities funding local authorities peace process ' +
    'youth women security taxes budget transfer resources state regions development water schools health roads').split(' ');
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const list = [];
  for (let i = 0; i < 500; i += 1) {
    const w = [];
    for (let k = 0, m = 4 + Math.floor(rnd() * 10); k < m; k += 1) w.push(words[Math.floor(rnd() * words.length)]);
    list.push(q(`Comment ${w.join(' ')} ?`, i % 3 ? 'pending' : 'approved', { upvotes: i % 5 }));
  }
  suggestDuplicates(list); // warm: features cached, code compiled
  similar(list[0].text, list);
  // The best of a few runs: the machine may be busy with something else.
  const best = (runs, fn) => {
    let min = Infinity;
    for (let r = 0; r < runs; r += 1) {
      const t = performance.now();
      fn(r);
      min = Math.min(min, performance.now() - t);
    }
    return min;
  };

  const one = best(20, (r) => similar(list[r].text, list));
  assert.ok(one < 50, `one question against 500: ${one.toFixed(1)} ms`);
  const fresh = best(20, (r) => similar(list[r].text, [...list, q(`Encore une question ${r}`)]));
  assert.ok(fresh < 50, `one question against 500 new ones: ${fresh.toFixed(1)} ms`);

  let s;
  const all = best(3, (r) => {
    s = suggestDuplicates([...list, q(`Comment financer les communes et les régions ${r} ?`)]);
  });
  assert.ok(s.size > 0);
  assert.ok(all < 1000, `every question against every other: ${all.toFixed(0)} ms`);
  const some = best(3, (r) => suggestDuplicates([...list, q(`Quel financement des régions ${r} ?`)], { only: new Set(list.slice(0, 50).map((x) => x.id)) }));
  assert.ok(some < all + 50, `only the questions on screen: ${some.toFixed(0)} ms`);

  const upvoted = best(3, (r) => {
    list[1] = { ...list[1], upvotes: 40 + r };
    suggestDuplicates(list);
  });
  assert.ok(upvoted < 100, `an upvote does not recompute the scores: ${upvoted.toFixed(0)} ms`);
});
