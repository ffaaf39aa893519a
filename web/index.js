// Landing page: join with a code; organisers create a session.

import { h, fill, setText } from './client.js';
import { t, initI18n, onLangChange } from './i18n.js';

const $ = (id) => document.getElementById(id);
const MAX_BODY = 1024 * 1024;
let created = null; // last creation response, re-rendered on language change

initI18n();
onLangChange(() => {
  if (created) showCreated(created);
});

// ---------------------------------------------------------------- join

const codeInput = $('join-code-input');
const normalize = (v) => v.toUpperCase().replace(/[\s-]/g, '');

codeInput.addEventListener('input', () => {
  const v = normalize(codeInput.value);
  if (v !== codeInput.value) codeInput.value = v;
  $('join-error').hidden = true;
  codeInput.removeAttribute('aria-invalid');
});

$('join-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const code = normalize(codeInput.value);
  if (!/^[A-Z0-9]{6}$/.test(code)) {
    showError('join-error', t('join.invalid'));
    codeInput.setAttribute('aria-invalid', 'true');
    codeInput.focus();
    return;
  }
  location.href = `/j/${encodeURIComponent(code)}`;
});

// ---------------------------------------------------------------- create

const area = $('definition');

$('btn-example').addEventListener('click', async () => {
  hideError('create-error');
  try {
    const r = await fetch('/examples/sou94.json', { headers: { Accept: 'application/json' } });
    if (!r.ok) throw new Error(String(r.status));
    const text = await r.text();
    area.value = pretty(text);
    area.focus();
  } catch {
    showError('create-error', t('create.example_failed'));
  }
});

$('definition-file').addEventListener('change', async (e) => {
  hideError('create-error');
  const file = e.target.files && e.target.files[0];
  if (!file) return;
  if (file.size > MAX_BODY) {
    showError('create-error', t('create.too_large'));
    return;
  }
  try {
    area.value = pretty(await file.text());
  } catch {
    showError('create-error', t('create.file_failed'));
  }
  e.target.value = '';
});

$('create-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  hideError('create-error');
  const body = area.value.trim();
  if (!body) {
    showError('create-error', t('create.empty'));
    area.focus();
    return;
  }
  try {
    JSON.parse(body);
  } catch (err) {
    showError('create-error', t('create.bad_json', { detail: err.message }));
    area.focus();
    return;
  }
  if (new Blob([body]).size > MAX_BODY) {
    showError('create-error', t('create.too_large'));
    return;
  }
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const token = $('admin-token').value.trim();
  if (token) headers.Authorization = `Bearer ${token}`;
  const btn = $('btn-create');
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  try {
    let r;
    try {
      r = await fetch('/api/sessions', { method: 'POST', headers, body });
    } catch {
      showError('create-error', t('create.network'));
      return;
    }
    let data = null;
    try {
      data = await r.json();
    } catch {
      data = null;
    }
    if (r.ok && data && data.code) {
      created = data;
      showCreated(data);
      return;
    }
    const msg = data && data.error && data.error.message ? data.error.message : '';
    const byStatus = { 400: 'create.err_400', 401: 'create.err_401', 403: 'create.err_401', 413: 'create.too_large', 429: 'create.err_429' };
    const k = byStatus[r.status];
    const base = k ? t(k) : t('create.err_other', { status: r.status });
    showError('create-error', msg && r.status !== 401 ? `${base} ${msg}` : base);
  } finally {
    btn.disabled = false;
    btn.removeAttribute('aria-busy');
  }
});

function showCreated(d) {
  const links = d.links || {};
  setText($('created-code'), d.code);
  const qr = links.qr || `/j/${encodeURIComponent(d.code)}/qr.svg`;
  if ($('created-qr').getAttribute('src') !== qr) $('created-qr').src = qr;
  $('created-qr').alt = t('join.qr_alt', { code: d.code });
  const rows = [
    ['participant', 'links.participant', 'links.participant_help'],
    ['screen', 'links.screen', 'links.screen_help'],
    ['moderator', 'links.moderator', 'links.moderator_help'],
    ['rapporteur', 'links.rapporteur', 'links.rapporteur_help'],
  ];
  fill(
    $('created-links'),
    rows
      .filter(([name]) => typeof links[name] === 'string')
      .map(([name, label, help]) =>
        h(
          'div',
          { class: `link-row link-${name}` },
          h('dt', null, t(label), h('span', { class: 'muted small' }, ` — ${t(help)}`)),
          h(
            'dd',
            null,
            h('a', { href: links[name], target: '_blank', rel: 'noopener', 'data-testid': `link-${name}` }, links[name]),
            h('button', { type: 'button', class: 'btn btn-small', 'data-testid': `copy-${name}`, onclick: (ev) => copy(links[name], ev.currentTarget) }, t('common.copy')),
          ),
        ),
      ),
  );
  const box = $('created');
  const first = box.hidden;
  box.hidden = false;
  if (first) box.focus();
}

// ---------------------------------------------------------------- helpers

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

async function copy(text, btn) {
  let ok = false;
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      ok = true;
    }
  } catch {
    ok = false;
  }
  if (!ok) {
    // Plain http on a room's network: no Clipboard API, fall back to a selection.
    const ta = h('textarea', { class: 'visually-hidden', readonly: true });
    ta.value = text;
    document.body.append(ta);
    ta.select();
    try {
      ok = document.execCommand('copy');
    } catch {
      ok = false;
    }
    ta.remove();
  }
  setText(btn, ok ? t('common.copied') : t('common.copy_failed'));
  setTimeout(() => setText(btn, t('common.copy')), 2000);
}

function showError(id, text) {
  const el = $(id);
  setText(el, text);
  el.hidden = false;
}

function hideError(id) {
  $(id).hidden = true;
}
