// The dictionaries. The shared one (en.json, fr.json) holds the strings two pages or more name;
// a page's own (<name>.<lang>.json) is loaded by the pages whose <html data-i18n-extra> names it
// (the moderator's and the rapporteur's share console.*, the landing page's and the editor's
// share landing.*), so a phone downloads only its own strings and the shared ones.
//
// A script loaded on demand may bring a dictionary of its own, fetched with it
// (`/assets/i18n/phone-vote.${lang}.json`: the participant page's votes): the page loads that
// one too, and only that script may fetch it.
//
// A page "names" a key when its HTML or one of its scripts (the module it loads and everything
// that imports, statically or on demand) writes the key in quotes, or a prefix of it in a
// template (`part.err.${…}`) or a tv('prefix', …) call.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, existsSync } from 'node:fs';

const web = new URL('../../web/', import.meta.url);
const read = (name) => readFileSync(new URL(name, web), 'utf8');
const dictFile = (name, lang) => (name ? `${name}.${lang}` : lang);
const dict = (name, lang = 'en') => JSON.parse(read(`i18n/${dictFile(name, lang)}.json`));
const dictNames = readdirSync(new URL('i18n/', web))
  .filter((f) => f.endsWith('en.json'))
  .map((f) => f.slice(0, -'en.json'.length).replace(/\.$/, ''));
const allKeys = new Map(); // key -> dictionary name ('' = shared)
for (const n of dictNames) for (const k of Object.keys(dict(n))) allKeys.set(k, [...(allKeys.get(k) || []), n]);

/** Each page: its HTML, the scripts it runs, the dictionaries it loads. */
const pages = readdirSync(web).filter((f) => f.endsWith('.html')).map((html) => {
  const src = read(html);
  const extra = (/<html[^>]*\sdata-i18n-extra="([^"]*)"/.exec(src) || [])[1] || '';
  const scripts = new Set();
  const queue = [...src.matchAll(/<script type="module" src="\/assets\/([\w-]+\.js)"/g)].map((m) => m[1]);
  while (queue.length) {
    const f = queue.shift();
    if (scripts.has(f)) continue;
    scripts.add(f);
    for (const m of read(f).matchAll(/(?:from|import\()\s*'\.\/([\w-]+\.js)'/g)) queue.push(m[1]);
  }
  const fetched = [...scripts].flatMap((f) => scriptDicts(read(f)));
  return { html, src: [src, ...[...scripts].map(read)].join('\n'), scripts, dicts: ['', ...extra.split(/\s+/).filter(Boolean), ...fetched] };
});

/** The dictionaries a script fetches itself (`/assets/i18n/<name>.${lang}.json`). */
function scriptDicts(js) {
  return [...js.matchAll(/\/assets\/i18n\/([\w-]+)\.\$\{/g)].map((m) => m[1]);
}

const KEY = /^[a-z_]+\.[a-z0-9_.]+$/;
/** The keys written out whole: t('…') in scripts, data-i18n and data-i18n-attr anywhere. */
function literalKeys(src) {
  const keys = [...src.matchAll(/\bt\('([a-z_]+\.[a-z0-9_.]+)'/g)].map((m) => m[1]);
  for (const m of src.matchAll(/data-i18n="([^"]+)"/g)) keys.push(m[1]);
  for (const m of src.matchAll(/data-i18n-attr="([^"]+)"/g)) for (const pair of m[1].split(';')) keys.push((pair.split(':')[1] || '').trim());
  return keys.filter((k) => KEY.test(k));
}

const PLURAL = /\.(zero|one|two|few|many|other)$/;
/** Every dictionary key the page may use (see the top of the file). */
function namedKeys(src) {
  const prefixes = [...src.matchAll(/`([a-z_][a-z0-9_.]*\.)\$\{/g)].map((m) => m[1]);
  for (const m of src.matchAll(/\btv\(\s*'([^']+)'/g)) prefixes.push(`${m[1]}.`);
  const written = new Set(literalKeys(src));
  const quoted = (k) => written.has(k) || [`'${k}'`, `"${k}"`, `\`${k}\``].some((w) => src.includes(w));
  return new Set([...allKeys.keys()].filter((k) => quoted(k) || quoted(k.replace(PLURAL, '')) || prefixes.some((p) => k.startsWith(p))));
}
for (const p of pages) p.named = namedKeys(p.src);

test('French and English have the same keys in every dictionary', () => {
  assert.ok(dictNames.includes('') && dictNames.includes('participant'));
  for (const n of dictNames) {
    assert.ok(existsSync(new URL(`i18n/${dictFile(n, 'fr')}.json`, web)), `${dictFile(n, 'fr')}.json`);
    assert.deepEqual(Object.keys(dict(n, 'fr')).sort(), Object.keys(dict(n)).sort(), `${n || 'shared'} dictionary`);
  }
});

test('a dictionary a script fetches comes with that script only, which is loaded on demand', () => {
  const scripts = readdirSync(web).filter((f) => f.endsWith('.js'));
  const owners = new Map();
  for (const f of scripts) for (const d of scriptDicts(read(f))) owners.set(d, [...(owners.get(d) || []), f]);
  for (const [d, by] of owners) {
    assert.equal(by.length, 1, `${d} is fetched by ${by.join(' and ')}`);
    const statically = scripts.filter((f) => read(f).includes(`from './${by[0]}'`));
    assert.deepEqual(statically, [], `${by[0]} (which fetches ${d}) is imported on demand only`);
    for (const p of pages) {
      const src = read(p.html);
      assert.ok(!src.includes(`/assets/${by[0]}"`), `${p.html} loads ${by[0]} on its first load`);
      const extra = (/<html[^>]*\sdata-i18n-extra="([^"]*)"/.exec(src) || [])[1] || '';
      assert.ok(!extra.split(/\s+/).includes(d), `${p.html} loads ${d} on its first load`);
    }
  }
  const participant = pages.find((p) => p.html === 'participant.html');
  assert.ok(participant.scripts.has('phone-vote.js') && participant.dicts.includes('phone-vote'), 'the participant page brings its votes on demand');
});

test('every page loads dictionaries that exist', () => {
  for (const p of pages) for (const d of p.dicts) assert.ok(dictNames.includes(d), `${p.html} names a dictionary "${d}" that is not in web/i18n`);
});

test('every key a page writes out is in a dictionary it loads', () => {
  for (const p of pages) {
    const known = new Set(p.dicts.flatMap((d) => Object.keys(dict(d))));
    const missing = [...new Set(literalKeys(p.src))].filter((k) => !known.has(k) && !known.has(`${k}.other`));
    assert.deepEqual(missing, [], `${p.html} (${[...p.scripts].join(', ')}) names keys no dictionary it loads has`);
  }
});

test('every key a page may use is in a dictionary it loads', () => {
  for (const p of pages) {
    const known = new Set(p.dicts.flatMap((d) => Object.keys(dict(d))));
    const missing = [...p.named].filter((k) => !known.has(k));
    assert.deepEqual(missing, [], `${p.html} may use keys of dictionaries it does not load`);
  }
});

test('each key lives in one dictionary, and is used by a page that loads it', () => {
  for (const [k, in_] of allKeys) {
    assert.equal(in_.length, 1, `${k} is in ${in_.map((n) => n || 'the shared dictionary').join(' and ')}`);
    const users = pages.filter((p) => p.dicts.includes(in_[0]) && p.named.has(k));
    assert.ok(users.length > 0, `${k} (${in_[0] || 'shared'}) is used by no page that loads its dictionary`);
  }
});

test("a key only one page uses is in that page's dictionary, not the shared one", () => {
  const alone = Object.keys(dict('')).filter((k) => pages.filter((p) => p.named.has(k)).length < 2);
  assert.deepEqual(alone, [], 'these keys of the shared dictionary belong to one page');
});
