// The "new draft" form, shared by the rapporteur page and the moderator console: the kind of
// text, then a title and a text per session language (one language is enough; where one is
// missing the pages show the other with its badge). It only builds, labels and reads the
// form; sending `draft.create` and what follows is each page's.
//
// Test ids (both pages): `draft-form`, `new-kind` (radios, value resolution · recommendation),
// `new-title` and `new-text` (`data-lang`), `new-submit`, `new-cancel`, `new-status`
// (`data-kind` = info · ok · error).

import { h, setText } from './client.js';
import { t, tv } from './i18n.js';

export const DRAFT_KINDS = ['resolution', 'recommendation'];

const capital = (x) => (x ? x[0].toLocaleUpperCase() + x.slice(1) : x);

/** The session's languages, in its order (none: one plain title and text). */
export const draftLanguages = (s) => (Array.isArray(s && s.languages) ? s.languages.filter((l) => typeof l === 'string' && l) : []);

/**
 * A new, empty form. `prefix` keeps the element ids apart when a page could hold two;
 * `onSubmit` runs on submit, `onCancel` on Cancel or Escape.
 * Returns {form, slots: [{lang, title, text, …}], submit, cancel, status, …}; `labelDraftForm`
 * gives it its words (again on a change of language).
 */
export function draftForm(languages, { prefix = 'new', extra = [], onSubmit, onCancel } = {}) {
  const kindLabels = new Map();
  const radios = DRAFT_KINDS.map((k, i) => {
    const id = `${prefix}-kind-${k}`;
    const label = h('label', { for: id });
    kindLabels.set(k, label);
    return h('span', { class: 'radio' }, h('input', { type: 'radio', name: `${prefix}-kind`, id, value: k, checked: i === 0, 'data-testid': 'new-kind' }), label);
  });
  const slots = (languages.length ? languages : [null]).map((l) => {
    const tid = `${prefix}-title-${l || 'x'}`;
    const xid = `${prefix}-text-${l || 'x'}`;
    return {
      lang: l,
      head: h('h3', { class: 'new-lang' }),
      titleLabel: h('label', { class: 'field-label', for: tid }),
      title: h('input', { type: 'text', id: tid, maxlength: 200, lang: l, 'data-testid': 'new-title', 'data-lang': l || '' }),
      textLabel: h('label', { class: 'field-label', for: xid }),
      text: h('textarea', { id: xid, rows: 5, maxlength: 20000, lang: l, 'data-testid': 'new-text', 'data-lang': l || '' }),
    };
  });
  const f = {
    prefix,
    slots,
    kindLabels,
    legend: h('legend', { class: 'field-label' }),
    hint: h('p', { class: 'muted small' }),
    submit: h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'new-submit' }),
    cancel: h('button', { type: 'button', class: 'btn', 'data-testid': 'new-cancel' }),
    status: h('p', { class: 'edit-status small', 'data-testid': 'new-status', role: 'status', 'aria-live': 'polite' }),
  };
  f.form = h(
    'form',
    { class: 'draft-new', 'data-testid': 'draft-form', novalidate: true },
    h('fieldset', { class: 'kind-pick' }, f.legend, radios),
    slots.map((x) => h('div', { class: 'new-slot' }, x.lang ? x.head : null, x.titleLabel, x.title, x.textLabel, x.text)),
    f.hint,
    extra,
    h('div', { class: 'edit-buttons' }, f.submit, f.cancel),
    f.status,
  );
  f.form.addEventListener('submit', (e) => {
    e.preventDefault();
    if (onSubmit) onSubmit();
  });
  f.cancel.addEventListener('click', () => onCancel && onCancel());
  f.form.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && onCancel) {
      e.preventDefault();
      onCancel();
    }
  });
  return f;
}

/** The form's words in the page's language; `submit` is the key of its main button's. */
export function labelDraftForm(f, { submit = 'rap.new_submit' } = {}) {
  setText(f.legend, t('rap.new_kind'));
  for (const [k, el] of f.kindLabels) setText(el, tv('draft.kind', k));
  for (const x of f.slots) {
    setText(x.head, x.lang ? capital(tv('lang.name', x.lang)) : '');
    setText(x.titleLabel, t('rap.new_title'));
    setText(x.textLabel, t('rap.new_text'));
  }
  setText(f.hint, f.slots.length > 1 ? t('rap.new_hint_langs') : t('rap.new_hint'));
  setText(f.submit, t(submit));
  setText(f.cancel, t('common.cancel'));
  f.form.setAttribute('aria-label', t('rap.new_draft_label'));
}

/** Says how the form stands under its buttons (`kind`: info · ok · error). */
export function sayDraftForm(f, text, kind = 'info') {
  f.status.dataset.kind = kind;
  setText(f.status, text);
}

/**
 * The `draft.create` fields the form holds: `{kind, title, text}`, each text a string (no
 * languages) or texts by language (those given). A missing title or text is marked on the
 * first box, said in the status line and focused: then null.
 */
export function readDraftForm(f) {
  const pick = (field) => {
    const given = f.slots.filter((x) => x[field].value.trim() !== '');
    if (given.length === 0) return null;
    if (f.slots.length === 1 && !f.slots[0].lang) return given[0][field].value.trim();
    return Object.fromEntries(given.map((x) => [x.lang, x[field].value.trim()]));
  };
  const title = pick('title');
  const text = pick('text');
  for (const x of f.slots) {
    x.title.removeAttribute('aria-invalid');
    x.text.removeAttribute('aria-invalid');
  }
  if (!title || !text) {
    const field = title ? 'text' : 'title';
    f.slots[0][field].setAttribute('aria-invalid', 'true');
    sayDraftForm(f, t(title ? 'rap.new_need_text' : 'rap.new_need_title'), 'error');
    f.slots[0][field].focus();
    return null;
  }
  const kind = f.form.querySelector(`input[name="${f.prefix}-kind"]:checked`)?.value || DRAFT_KINDS[0];
  return { kind, title, text };
}
