//! The record of a session, built from its state and its audit trail: the agenda as held, the
//! questions taken, who took the floor, each vote with its figures and outcome, the texts
//! adopted, and the rapporteur's notes, as one JSON document (`record.json`), and the forms
//! made from it (`record.md`, `results.csv`).
//!
//! **The digest.** The canonical form of a record is its JSON with the seal left out (the
//! `digest` and `finalised` members), object keys sorted, no insignificant white space, UTF-8
//! (what `serde_json` writes for a `Value`); the timeline does not list the finalisation
//! itself. The digest is the SHA-256 of that form, in lower-case hex. `palabre verify
//! record.json` recomputes it: a copy whose digest matches is the original, byte for byte in
//! every figure and word.

use crate::domain::{Event, Role};
use crate::store::{Audited, Snapshot};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The record's format, named in every copy.
pub const FORMAT: &str = "palabre-record/1";

/// The canonical form of `record` (without its seal), as hashed.
pub fn canonical(record: &Value) -> String {
    let mut copy = record.clone();
    if let Value::Object(m) = &mut copy {
        m.remove("digest");
        m.remove("finalised");
    }
    // serde_json's maps are ordered by key (no `preserve_order`), and `to_string` is compact.
    copy.to_string()
}

pub fn digest(record: &Value) -> String {
    hex::encode(Sha256::digest(canonical(record).as_bytes()))
}

/// Whether `record` carries the digest of its own content.
pub fn verify(record: &Value) -> Result<String, String> {
    let claimed =
        record.get("digest").and_then(Value::as_str).ok_or("this record carries no digest (not finalised)")?;
    let actual = digest(record);
    if actual == claimed {
        Ok(actual)
    } else {
        Err(format!("the digest does not match: the record says {claimed}, its content gives {actual}"))
    }
}

/// The record of `snapshot`, with the events of `audit`. Its digest is set when the record is
/// final (`record.finalised` in the state).
pub fn build(snapshot: &Snapshot, audit: &[Audited]) -> Value {
    let (def, s) = (&snapshot.definition, &snapshot.session);
    let mut record = json!({
        "format": FORMAT,
        "session": {
            "id": s.id, "code": s.code, "title": def.title, "reference": def.reference, "venue": def.venue,
            "starts_at": def.starts_at, "ends_at": def.ends_at, "languages": def.languages,
            "started_at": s.agenda.started_at, "ended_at": s.agenda.ended_at,
        },
        "agenda": agenda(snapshot, audit),
        "agenda_planned": agenda_planned(snapshot),
        "questions": questions(snapshot),
        "floor": s.floor.history.iter().map(|h| json!({
            "name": h.name, "organisation": h.organisation, "started": h.started, "ended": h.ended,
            "seconds": h.seconds, "limit_seconds": h.limit_seconds,
        })).collect::<Vec<_>>(),
        "drafts": s.drafts.iter().map(|d| {
            let text = s.texts.get(&d.id);
            json!({
                "id": d.id, "kind": d.kind, "title": text.map(|t| &t.title), "text": text.map(|t| t.text()),
                "status": d.status, "version": d.version, "adopted_by": d.adopted_by, "poll": d.poll,
                "versions": text.map(|t| &t.versions),
            })
        }).collect::<Vec<_>>(),
        "polls": polls_in_order(s).into_iter().map(|p| json!({
            "id": p.id, "draft": p.draft, "version": p.version, "method": p.method, "quorum": p.quorum, "secret": p.secret,
            "hidden": p.hidden, "status": p.status, "opened_at": p.opened_at, "closed_at": p.closed_at,
            "counts": p.result.as_ref().map(|r| r.counts), "cast": p.result.as_ref().map(|r| r.cast),
            "cast_weight": p.result.as_ref().map(|r| r.cast_weight), "eligible": p.result.as_ref().map(|r| r.eligible),
            "outcome": p.result.as_ref().map(|r| r.outcome), "rule": p.result.as_ref().map(|r| r.rule.as_str()),
        })).collect::<Vec<_>>(),
        "notes": notes(audit),
        "timeline": audit.iter().filter(|a| !matches!(a.event, Event::Record(crate::domain::RecordEvent::Finalised { .. }))).map(|a| json!({
            "seq": a.seq, "at": a.at, "role": a.role,
            "event": a.event.for_role(Role::Rapporteur).map_or_else(|| json!({"kind": a.event.kind()}), |e| json!(e)),
        })).collect::<Vec<_>>(),
        "finalised": s.record.finalised.as_ref().map(|f| json!({"at": f.at})),
    });
    if let Some(f) = &s.record.finalised {
        record["digest"] = json!(f.digest);
    }
    record
}

/// The polls in the order they were opened.
fn polls_in_order(s: &crate::domain::Session) -> Vec<&crate::domain::votes::Poll> {
    let mut polls: Vec<_> = s.votes.polls.values().collect();
    polls.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(&b.id)));
    polls
}

/// Each agenda item as it stands at the end, with its stints (from the moves in the trail)
/// and total time; items the moderator added are marked, with the place each had in the plan.
fn agenda(snapshot: &Snapshot, audit: &[Audited]) -> Vec<Value> {
    use crate::domain::AgendaEvent::{Moved, SessionEnded};
    let items = &snapshot.session.agenda.items;
    let mut stints: std::collections::HashMap<&str, Vec<(i64, Option<i64>)>> = Default::default();
    let mut current: Option<&str> = None;
    let close = |stints: &mut std::collections::HashMap<&str, Vec<(i64, Option<i64>)>>, c: Option<&str>, at: i64| {
        if let Some(last) = c.and_then(|c| stints.get_mut(c)).and_then(|s| s.last_mut()) {
            last.1 = Some(at);
        }
    };
    for a in audit {
        match &a.event {
            Event::Agenda(Moved { item, at, .. }) => {
                close(&mut stints, current, *at);
                stints.entry(item.as_str()).or_default().push((*at, None));
                current = Some(item.as_str());
            }
            Event::Agenda(SessionEnded { at, .. }) => {
                close(&mut stints, current, *at);
                current = None;
            }
            _ => {}
        }
    }
    items
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let planned = it.id.strip_prefix('a').and_then(|n| n.parse::<usize>().ok()).filter(|n| {
                *n >= 1 && *n <= snapshot.definition.agenda.len()
            });
            json!({
                "id": it.id, "index": i, "title": it.def.title, "kind": it.def.kind,
                "planned_minutes": it.def.minutes, "speakers": it.def.speakers,
                "planned_index": planned.map(|n| n - 1), "added": planned.is_none(),
                "held": stints.get(it.id.as_str()).into_iter().flatten().map(|(from, to)| json!({"from": from, "to": to})).collect::<Vec<_>>(),
                "seconds": it.spent_ms / 1000,
            })
        })
        .collect()
}

/// The agenda as the organiser planned it (the definition's).
fn agenda_planned(snapshot: &Snapshot) -> Vec<Value> {
    let kept: std::collections::HashSet<&str> = snapshot.session.agenda.items.iter().map(|i| i.id.as_str()).collect();
    snapshot
        .definition
        .agenda
        .iter()
        .enumerate()
        .map(|(i, it)| {
            let id = format!("a{}", i + 1);
            json!({
                "id": id, "index": i, "title": it.title, "kind": it.kind, "minutes": it.minutes,
                "speakers": it.speakers, "removed": !kept.contains(id.as_str()),
            })
        })
        .collect()
}

/// The questions taken (approved or answered), with their upvotes and the duplicates merged
/// into them.
fn questions(snapshot: &Snapshot) -> Vec<Value> {
    use crate::domain::QuestionStatus::{Answered, Approved, Merged};
    let items = &snapshot.session.questions.items;
    items
        .values()
        .filter(|q| matches!(q.status, Approved | Answered))
        .map(|q| {
            let merged: Vec<&str> = items
                .values()
                .filter(|m| m.status == Merged && m.merged_into.as_deref() == Some(q.id.as_str()))
                .map(|m| m.text.as_str())
                .collect();
            json!({
                "id": q.id, "text": q.text, "name": q.name, "status": q.status, "asked_at": q.at,
                "answered_at": q.answered_at, "upvotes": snapshot.upvotes.get(&q.id).copied().unwrap_or(0),
                "merged": merged,
            })
        })
        .collect()
}

/// The notes that stand, in the order they were taken, each in its last wording.
fn notes(audit: &[Audited]) -> Vec<Value> {
    use crate::domain::RecordEvent::{NoteDeleted, NoteEdited, Noted};
    let mut notes: Vec<Value> = Vec::new();
    for a in audit {
        match &a.event {
            Event::Record(Noted { note, text, at }) => {
                notes.push(json!({"id": note, "text": text, "at": at, "edited_at": null}));
            }
            Event::Record(NoteEdited { note, text, at }) => {
                if let Some(n) = notes.iter_mut().find(|n| n["id"] == json!(note)) {
                    n["text"] = json!(text);
                    n["edited_at"] = json!(at);
                }
            }
            Event::Record(NoteDeleted { note, .. }) => notes.retain(|n| n["id"] != json!(note)),
            _ => {}
        }
    }
    notes
}

/// Makes a `Map` of the canonical JSON for tests and tools.
pub fn parse(raw: &str) -> Result<Value, String> {
    let v: Value = serde_json::from_str(raw).map_err(|e| format!("not JSON: {e}"))?;
    match &v {
        Value::Object(m) if m.get("format").and_then(Value::as_str) == Some(FORMAT) => Ok(v.clone()),
        Value::Object(_) => Err(format!("not a {FORMAT} document")),
        _ => Err("a record is a JSON object".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Value {
        let mut m = serde_json::Map::new();
        m.insert("format".into(), json!(FORMAT));
        m.insert("polls".into(), json!([{"id": "p1", "counts": {"for": 3, "against": 1, "abstain": 0}}]));
        m.insert("notes".into(), json!([{"text": "Séance ouverte à 14 h 30."}]));
        let mut v = Value::Object(m);
        v["digest"] = json!(digest(&v));
        v
    }

    #[test]
    fn the_digest_is_that_of_the_canonical_form_and_verifies() {
        let v = sample();
        assert_eq!(verify(&v), Ok(v["digest"].as_str().expect("digest").to_owned()));
        // Key order and white space do not matter: the canonical form is the same.
        let pretty = serde_json::to_string_pretty(&v).expect("json");
        assert_eq!(verify(&parse(&pretty).expect("parses")), verify(&v));
    }

    #[test]
    fn any_change_to_a_figure_or_a_word_breaks_the_digest() {
        let mut v = sample();
        v["polls"][0]["counts"]["for"] = json!(4);
        assert!(verify(&v).is_err());
        let mut w = sample();
        w["notes"][0]["text"] = json!("Séance ouverte à 14 h 31.");
        assert!(verify(&w).is_err());
        let mut x = sample();
        x.as_object_mut().expect("object").remove("digest");
        assert!(verify(&x).is_err(), "no digest, nothing to verify");
        let mut y = sample();
        y["finalised"] = json!({"at": 1});
        assert!(verify(&y).is_ok(), "the seal is not part of what is sealed");
    }
}
