//! The live protocol on the wire: what clients send ([`ClientMsg`], parsed into typed
//! commands), what the server sends ([`ServerMsg`]), and what each role may see of the state
//! ([`state_view`]) and of each event ([`event_frame`]). The only place the live protocol
//! meets serde.
//!
//! Every frame is a JSON object with a `type`. A client opens with `hello`; the server answers
//! with `welcome` (the role's view and its `seq`), then streams `event`s in `seq` order. A
//! `cmd` carries a client-made `id` and an `op`; the server answers `ack` (also for a retry
//! of an id it already applied) or `error`.

use crate::domain::session::{Draft, Sequenced};
use crate::domain::{Command, DomainError, Role, Session};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// Frames larger than this close the connection with 1009.
pub const MAX_FRAME: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    Invalid,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    Closed,
    RateLimited,
    TooLarge,
}

impl From<&DomainError> for ErrorCode {
    fn from(e: &DomainError) -> Self {
        match e {
            DomainError::Invalid(_) => ErrorCode::Invalid,
            DomainError::Forbidden(_) => ErrorCode::Forbidden,
            DomainError::NotFound(_) => ErrorCode::NotFound,
            DomainError::Conflict(_) => ErrorCode::Conflict,
            DomainError::Closed(_) => ErrorCode::Closed,
        }
    }
}

/// A refused frame: the code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub id: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

impl Refusal {
    pub fn invalid(id: Option<String>, message: impl Into<String>) -> Self {
        Self { id, code: ErrorCode::Invalid, message: message.into() }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestedRole {
    Participant,
    Screen,
    Moderator,
    Rapporteur,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Hello {
    pub code: Option<String>,
    pub session: Option<String>,
    pub role: Option<RequestedRole>,
    pub key: Option<String>,
    pub participant: Option<String>,
    pub since: Option<u64>,
}

/// A client frame, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMsg {
    Hello(Hello),
    Cmd { id: String, command: Command },
}

/// Command ids are client-made UUIDs; anything else is refused so that the id space stays
/// unguessable and bounded in size.
fn parse_cmd_id(v: Option<&Value>) -> Result<String, Refusal> {
    let s = v.and_then(Value::as_str).ok_or_else(|| Refusal::invalid(None, "cmd needs an id (a UUID)"))?;
    uuid::Uuid::parse_str(s)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Refusal::invalid(None, "cmd id must be a UUID"))
}

fn field_index(fields: &Map<String, Value>, name: &str) -> Result<usize, String> {
    fields
        .get(name)
        .and_then(Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| format!("{name} must be a non-negative whole number"))
}

fn parse_command(op: &str, fields: &Map<String, Value>) -> Result<Command, String> {
    Ok(match op {
        "agenda.next" => Command::AgendaNext,
        "agenda.prev" => Command::AgendaPrev,
        "agenda.goto" => Command::AgendaGoto { item: field_index(fields, "item")? },
        "qa.open" => Command::QaOpen,
        "qa.close" => Command::QaClose,
        "session.end" => Command::SessionEnd,
        other => {
            let shown: String = other.chars().take(40).collect();
            return Err(format!("unknown op '{shown}'"));
        }
    })
}

impl ClientMsg {
    /// Parses one text frame. A refusal carries the command id when one could be read, so
    /// the client can tie it to the command it sent.
    pub fn parse(text: &str) -> Result<ClientMsg, Refusal> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| Refusal::invalid(None, format!("not valid JSON: {e}")))?;
        let Value::Object(mut fields) = value else {
            return Err(Refusal::invalid(None, "a frame must be a JSON object"));
        };
        match fields.get("type").and_then(Value::as_str) {
            Some("hello") => serde_json::from_value::<Hello>(Value::Object(fields))
                .map(ClientMsg::Hello)
                .map_err(|e| Refusal::invalid(None, format!("bad hello: {e}"))),
            Some("cmd") => {
                let id = parse_cmd_id(fields.get("id"))?;
                let op = match fields.remove("op") {
                    Some(Value::String(op)) => op,
                    _ => return Err(Refusal::invalid(Some(id), "cmd needs an op")),
                };
                parse_command(&op, &fields)
                    .map(|command| ClientMsg::Cmd { id: id.clone(), command })
                    .map_err(|m| Refusal::invalid(Some(id), m))
            }
            Some(other) => {
                let shown: String = other.chars().take(40).collect();
                Err(Refusal::invalid(None, format!("unknown frame type '{shown}'")))
            }
            None => Err(Refusal::invalid(None, "a frame needs a type")),
        }
    }
}

/// A server frame.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg<'a> {
    Welcome {
        role: Role,
        session: &'a str,
        code: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        participant: Option<&'a str>,
        /// The `seq` of the state the client holds once it has this frame: the full state's
        /// when `state` is present, else the `since` it sent (the missed events follow).
        seq: u64,
        server_time: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        state: Option<Value>,
    },
    Ack {
        id: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        result: Option<Value>,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a str>,
        code: ErrorCode,
        message: &'a str,
    },
    Presence {
        connected: u64,
        participants: u64,
    },
}

impl ServerMsg<'_> {
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: no maps with non-string keys, no custom impls.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

pub fn refusal_frame(r: &Refusal) -> String {
    ServerMsg::Error { id: r.id.as_deref(), code: r.code, message: &r.message }.to_json()
}

/// The `event` frame for one role: the whole event when the role may see it, else its bare
/// kind, so the role's `seq` still rises by one.
pub fn event_frame(e: &Sequenced, role: Role) -> String {
    let event = if e.event.visible_to(role) {
        serde_json::to_value(&e.event).unwrap_or_else(|_| json!({"kind": e.event.kind()}))
    } else {
        json!({"kind": e.event.kind()})
    };
    json!({"type": "event", "seq": e.seq, "event": event}).to_string()
}

fn draft_view(d: &Draft) -> Value {
    json!({"id": d.id, "kind": d.kind, "title": d.title, "text": d.text, "status": d.status, "version": d.version})
}

/// The state as `role` sees it (the contract's state view, plus a few fields clients use).
pub fn state_view(s: &Session, _role: Role) -> Value {
    let def = &s.definition;
    let items: Vec<Value> = def
        .agenda
        .iter()
        .enumerate()
        .map(|(i, it)| {
            json!({"title": it.title, "kind": it.kind, "minutes": it.minutes, "speakers": it.speakers,
                   "spent_seconds": s.spent_seconds(i)})
        })
        .collect();
    json!({
        "id": s.id,
        "code": s.code,
        "title": def.title,
        "reference": def.reference,
        "venue": def.venue,
        "starts_at": def.starts_at,
        "ends_at": def.ends_at,
        "languages": def.languages,
        "phase": s.phase,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "seq": s.seq,
        "agenda": {"current": s.current, "since": s.since, "items": items},
        "qa_open": s.qa_open,
        "highlighted": s.highlighted,
        "floor": {"speaking": null, "queue": []},
        "questions": [],
        "drafts": s.drafts.iter().map(draft_view).collect::<Vec<_>>(),
        "polls": [],
        "settings": def.settings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmd_is_parsed_into_a_typed_command() {
        let id = "7d9f1c1e-2f7a-4c1e-9a51-0d6c9f8e0b11";
        let m = ClientMsg::parse(&format!(r#"{{"type":"cmd","id":"{id}","op":"agenda.goto","item":3}}"#));
        assert_eq!(m, Ok(ClientMsg::Cmd { id: id.into(), command: Command::AgendaGoto { item: 3 } }));
    }

    #[test]
    fn a_bad_field_is_refused_with_the_cmd_id() {
        let id = "7d9f1c1e-2f7a-4c1e-9a51-0d6c9f8e0b11";
        let r = ClientMsg::parse(&format!(r#"{{"type":"cmd","id":"{id}","op":"agenda.goto","item":-1}}"#))
            .expect_err("refused");
        assert_eq!(r.id.as_deref(), Some(id));
        assert_eq!(r.code, ErrorCode::Invalid);
    }

    #[test]
    fn junk_is_refused_as_invalid() {
        for junk in ["", "[]", "{}", r#"{"type":"dance"}"#, r#"{"type":"cmd","id":"x","op":"agenda.next"}"#, "nul"] {
            assert_eq!(ClientMsg::parse(junk).expect_err(junk).code, ErrorCode::Invalid, "{junk}");
        }
    }

    #[test]
    fn an_unknown_op_is_named_in_the_refusal() {
        let r = ClientMsg::parse(r#"{"type":"cmd","id":"7d9f1c1e-2f7a-4c1e-9a51-0d6c9f8e0b11","op":"fly"}"#)
            .expect_err("refused");
        assert!(r.message.contains("fly"));
    }
}
