// What the moderator console and the projector screen both show the room: the
// participant link with its QR code, and the current item's timer. Kept apart
// from render.js so the participant page does not load it.

import { setText, itemSeconds, fmtDuration } from './client.js';
import { t } from './i18n.js';
import { $ } from './render.js';

/** The participant link: the server's when it gives an absolute one, else this origin's. */
export function participantUrl(s, code) {
  const given = s && (s.participant_url || (s.links && s.links.participant));
  if (typeof given === 'string' && /^https?:\/\//.test(given)) return given;
  return `${location.origin}/j/${encodeURIComponent(code)}`;
}

/** The participant link as text (#join-url) and its QR code (#qr); returns both URLs. */
export function renderJoinLink(s, code) {
  const url = participantUrl(s, code);
  setText($('join-url'), url.replace(/^https?:\/\//, ''));
  const qr = `/j/${encodeURIComponent(code)}/qr.svg`;
  if ($('qr').getAttribute('src') !== qr) $('qr').src = qr;
  $('qr').alt = t('join.qr_alt', { code });
  return { url, qr };
}

/**
 * The current item's timer (#timer with `data-level` ok · near · over,
 * #timer-elapsed, #timer-planned), hidden unless an item runs. Returns the
 * seconds spent and planned, or null when hidden.
 */
export function renderTimer(s, nowMs) {
  const cur = s.agenda.current;
  const timer = $('timer');
  if (cur == null || s.phase !== 'running') {
    timer.hidden = true;
    return null;
  }
  const item = s.agenda.items[cur];
  const secs = itemSeconds(s, cur, nowMs);
  const planned = (Number(item.minutes) || 0) * 60;
  timer.hidden = false;
  setText($('timer-elapsed'), fmtDuration(secs));
  setText($('timer-planned'), planned ? `/ ${fmtDuration(planned)}` : '');
  // "near" from 20 % of the plan before its end, at least 1 and at most 5 minutes.
  const near = Math.min(300, Math.max(60, planned * 0.2));
  timer.dataset.level = planned && secs > planned ? 'over' : planned && planned - secs <= near ? 'near' : 'ok';
  return { secs, planned };
}
