// The dictionaries: French and English hold the same keys, the shared one and each page's own;
// every key a page's script names literally is in the shared dictionary or that page's own.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';

const web = new URL('../../web/', import.meta.url);
const dict = (name) => JSON.parse(readFileSync(new URL(`i18n/${name}.json`, web), 'utf8'));

test('French and English have the same keys in every dictionary', () => {
  const names = readdirSync(new URL('i18n/', web)).filter((f) => f.endsWith('en.json')).map((f) => f.slice(0, -'en.json'.length));
  assert.ok(names.includes('') && names.includes('editor.') && names.includes('rapporteur.'));
  for (const n of names) {
    const en = Object.keys(dict(`${n}en`)).sort();
    const fr = Object.keys(dict(`${n}fr`)).sort();
    assert.deepEqual(fr, en, `${n || 'shared '}dictionary`);
  }
});

test("every key a script names is in the shared dictionary or its page's own", () => {
  const shared = dict('en');
  const own = { 'editor.js': dict('editor.en'), 'rapporteur.js': dict('rapporteur.en') };
  for (const file of readdirSync(web).filter((f) => f.endsWith('.js'))) {
    const src = readFileSync(new URL(file, web), 'utf8');
    const keys = [...src.matchAll(/\bt\('([a-z_]+\.[a-z0-9_.]+)'/g)].map((m) => m[1]);
    const known = { ...shared, ...(own[file] || {}) };
    const missing = keys.filter((k) => !(k in known) && !(`${k}.other` in known));
    assert.deepEqual(missing, [], `${file} names keys no dictionary it loads has`);
  }
});
