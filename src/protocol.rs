//! The live protocol on the wire: what clients send ([`ClientMsg`], parsed into typed
//! commands), what the server sends ([`ServerMsg`]), and what each role may see of the state
//! ([`state_view`]) and of each event ([`event_frame`]); the `welcome`'s state serialised once
//! per role and shared by every socket ([`SharedView`]). The only place the live protocol
//! meets serde.
//!
//! Every frame is a JSON object with a `type`. A client opens with `hello`; the server answers
//! with `welcome` (the role's view and its `seq`), then streams `event`s in `seq` order. A
//! `cmd` carries a client-made `id` and an `op`; the server answers `ack` (also for a retry
//! of an id it already applied) or `error`.

use crate::domain::agenda::ItemRef;
use crate::domain::definition::{AgendaItemDef, RawItemChanges};
use crate::domain::drafts::Version;
use crate::domain::floor::Request;
use crate::domain::votes::{AdoptedBy, Choice, Counts, Method, Outcome, Poll, PollStatus, Tally};
use crate::domain::{Command, DomainError, DraftKind, DraftStatus, ItemKind, Phase, Question, QuestionStatus};
use crate::domain::{Localized, Session};
use crate::domain::{Reply, Role, Sequenced, Settings};
use crate::store::Snapshot;
use axum::body::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Range;

/// Frames larger than this close the connection with 1009.
pub const MAX_FRAME: usize = 64 * 1024;
/// The longest message a refusal of bad input carries, in characters.
pub const MAX_MESSAGE: usize = 300;

/// WebSocket close codes, and what the client should do on each (the page client names the
/// same codes in `web/client.js`).
pub mod close {
    /// The server is going away: reconnect (to another instance).
    pub const GOING_AWAY: u16 = 1001;
    /// Bad credentials, or no `hello` in time: do not reconnect as is.
    pub const POLICY: u16 = 1008;
    /// A frame over [`super::MAX_FRAME`].
    pub const TOO_BIG: u16 = 1009;
    /// The store did not answer; the command was not applied: reconnect and resend it.
    pub const UNAVAILABLE: u16 = 1011;
    /// The session's keys were replaced: this key no longer opens it.
    pub const REVOKED: u16 = 4401;
    /// The session does not exist (or no longer does): do not reconnect.
    pub const GONE: u16 = 4404;
    /// Too many frames: reconnect after a pause, resending what was not acknowledged.
    pub const FLOOD: u16 = 4429;
}

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
            DomainError::RateLimited(_) => ErrorCode::RateLimited,
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
    /// A refusal of bad input; its message is bounded (a parser's message may quote the input).
    pub fn invalid(id: Option<String>, message: impl Into<String>) -> Self {
        let message: String = message.into();
        let message = if message.chars().count() > MAX_MESSAGE {
            message.chars().take(MAX_MESSAGE).chain(std::iter::once('…')).collect()
        } else {
            message
        };
        Self { id, code: ErrorCode::Invalid, message }
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

/// Ids of questions and requests are short; anything longer is refused before it is looked up.
const MAX_ID: usize = 64;

fn field_id(fields: &Map<String, Value>, name: &str) -> Result<String, String> {
    match fields.get(name) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= MAX_ID => Ok(s.clone()),
        Some(Value::String(_)) => Err(format!("{name} must be an id of 1 to {MAX_ID} characters")),
        _ => Err(format!("{name} is required (an id)")),
    }
}

fn field_optional_id(fields: &Map<String, Value>, name: &str) -> Result<Option<String>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(_) => field_id(fields, name).map(Some),
    }
}

fn field_optional_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{name} must be a string")),
    }
}

fn field_bool(fields: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}

/// A text given as a string or by language (`{"fr": "…", "en": "…"}`), required.
/// An agenda item named by its id (a string) or its place now (a number).
fn field_item(fields: &Map<String, Value>) -> Result<ItemRef, String> {
    match fields.get("item") {
        Some(Value::String(_)) => field_id(fields, "item").map(ItemRef::Id),
        Some(Value::Number(_)) => field_index(fields, "item").map(ItemRef::Index),
        _ => Err("item is required (the item's id, or its place)".into()),
    }
}

fn field_localized(fields: &Map<String, Value>, name: &str, max: usize) -> Result<Localized, String> {
    Localized::parse(fields.get(name).unwrap_or(&Value::Null), name, max)?.ok_or_else(|| format!("{name} is required"))
}

fn field_str<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    field_optional_str(fields, name)?.ok_or_else(|| format!("{name} is required"))
}

/// The id of what a command creates (a question, a floor request), made from the command id:
/// a retry of the command names the same thing, and its ack can be rebuilt.
pub fn created_id(prefix: char, cmd_id: &str) -> String {
    let hex: String = cmd_id.chars().filter(char::is_ascii_hexdigit).take(12).collect();
    format!("{prefix}{hex}")
}

/// Every op the protocol knows, in the order `parse_command` reads them. A test holds this
/// list and the parser to each other, and the access tests cover every op in it.
pub const OPS: &[&str] = &[
    "agenda.next",
    "agenda.prev",
    "agenda.goto",
    "agenda.insert",
    "agenda.update",
    "agenda.move",
    "agenda.remove",
    "qa.open",
    "qa.close",
    "session.end",
    "question.ask",
    "question.upvote",
    "question.unvote",
    "question.approve",
    "question.reject",
    "question.answer",
    "question.highlight",
    "question.merge",
    "floor.request",
    "floor.withdraw",
    "floor.grant",
    "floor.skip",
    "floor.move",
    "floor.end",
    "poll.open",
    "poll.close",
    "poll.cancel",
    "draft.adopt_by_consensus",
    "vote.cast",
    "draft.edit",
    "draft.create",
    "draft.withdraw",
    "record.note",
    "record.note_delete",
    "record.finalise",
    "voter.claim",
];

fn parse_command(op: &str, cmd_id: &str, fields: &Map<String, Value>) -> Result<Command, String> {
    use crate::domain::definition::{MAX_DRAFT_TEXT, MAX_TITLE};
    use crate::domain::text;
    use crate::domain::DraftCommand as D;
    use crate::domain::RecordCommand as R;
    use crate::domain::VoteCommand as V;
    use crate::domain::{AgendaCommand as A, FloorCommand as F, QuestionCommand as Q};
    let question = || field_id(fields, "question");
    let request = || field_id(fields, "request");
    let invalid = |e: DomainError| e.to_string();
    Ok(match op {
        "agenda.next" => Command::Agenda(A::Next),
        "agenda.prev" => Command::Agenda(A::Prev),
        "agenda.goto" => Command::Agenda(A::Goto { item: field_index(fields, "item")? }),
        "agenda.insert" => Command::Agenda(A::Insert {
            id: created_id('i', cmd_id),
            at: field_index(fields, "at")?,
            item: {
                let raw = fields.get("item").cloned().ok_or("item is required (an agenda item)")?;
                let raw = serde_json::from_value(raw).map_err(|e| format!("item is not an agenda item: {e}"))?;
                AgendaItemDef::parse(raw).map_err(|e| e.to_string())?
            },
        }),
        "agenda.update" => {
            let mut changes = fields.clone();
            for known in ["type", "id", "op", "item"] {
                changes.remove(known);
            }
            let raw: RawItemChanges = serde_json::from_value(Value::Object(changes))
                .map_err(|e| format!("an update changes title, kind, minutes, speakers or turn_seconds: {e}"))?;
            Command::Agenda(A::Update { item: field_item(fields)?, changes: raw.parse().map_err(|e| e.to_string())? })
        }
        "agenda.move" => Command::Agenda(A::Move { item: field_item(fields)?, to: field_index(fields, "to")? }),
        "agenda.remove" => Command::Agenda(A::Remove { item: field_item(fields)? }),
        "qa.open" => Command::Agenda(A::QaOpen),
        "qa.close" => Command::Agenda(A::QaClose),
        "session.end" => Command::Agenda(A::SessionEnd),
        "question.ask" => Command::Question(Q::Ask {
            id: created_id('q', cmd_id),
            text: text::QuestionText::parse(field_str(fields, "text")?).map_err(invalid)?,
            name: text::parse_optional(field_optional_str(fields, "name")?, "the name", text::MAX_NAME)
                .map_err(invalid)?,
        }),
        "question.upvote" => Command::Question(Q::Upvote { question: question()? }),
        "question.unvote" => Command::Question(Q::Unvote { question: question()? }),
        "question.approve" => Command::Question(Q::Approve { question: question()? }),
        "question.reject" => Command::Question(Q::Reject { question: question()? }),
        "question.answer" => Command::Question(Q::Answer { question: question()? }),
        "question.highlight" => Command::Question(Q::Highlight { question: field_optional_id(fields, "question")? }),
        "question.merge" => Command::Question(Q::Merge { question: question()?, into: field_id(fields, "into")? }),
        "floor.request" => Command::Floor(F::Request {
            id: created_id('f', cmd_id),
            name: text::parse(field_str(fields, "name")?, "the name", text::MAX_NAME, false).map_err(invalid)?,
            organisation: text::parse_optional(
                field_optional_str(fields, "organisation")?,
                "the organisation",
                text::MAX_ORGANISATION,
            )
            .map_err(invalid)?
            .unwrap_or_default(),
        }),
        "floor.withdraw" => Command::Floor(F::Withdraw { request: field_optional_id(fields, "request")? }),
        "floor.grant" => Command::Floor(F::Grant { request: request()? }),
        "floor.skip" => Command::Floor(F::Skip { request: request()? }),
        "floor.move" => Command::Floor(F::Move { request: request()?, position: field_index(fields, "position")? }),
        "floor.end" => Command::Floor(F::End { request: field_optional_id(fields, "request")? }),
        "poll.open" => Command::Vote(V::PollOpen {
            id: created_id('p', cmd_id),
            draft: field_id(fields, "draft")?,
            method: match field_optional_str(fields, "method")? {
                None => Method::Simple,
                Some(m) => Method::parse(m).ok_or("method must be simple, absolute or two_thirds")?,
            },
            quorum: match fields.get("quorum") {
                None | Some(Value::Null) => 0,
                Some(q) => q.as_u64().filter(|q| *q <= 1_000_000_000).ok_or("quorum must be a whole number ≥ 0")?,
            },
            secret: field_bool(fields, "secret")?,
            hidden: field_bool(fields, "hidden")?,
        }),
        "poll.close" => Command::Vote(V::PollClose { poll: field_id(fields, "poll")? }),
        "poll.cancel" => Command::Vote(V::PollCancel { poll: field_id(fields, "poll")? }),
        "draft.adopt_by_consensus" => Command::Vote(V::AdoptByConsensus { draft: field_id(fields, "draft")? }),
        "vote.cast" => Command::Vote(V::Cast {
            poll: field_id(fields, "poll")?,
            choice: Choice::parse(field_str(fields, "choice")?).ok_or("choice must be for, against or abstain")?,
        }),
        "draft.edit" => Command::Draft(D::Edit {
            draft: field_id(fields, "draft")?,
            text: text::parse(field_str(fields, "text")?, "the text", MAX_DRAFT_TEXT, true).map_err(invalid)?,
            lang: match field_optional_str(fields, "lang")? {
                None => None,
                Some(l) if crate::domain::localized::is_language_tag(l) => Some(l.to_owned()),
                Some(_) => return Err("lang must be a language tag such as fr or en".into()),
            },
        }),
        "draft.create" => Command::Draft(D::Create {
            id: created_id('d', cmd_id),
            kind: match field_str(fields, "kind")? {
                "resolution" => DraftKind::Resolution,
                "recommendation" => DraftKind::Recommendation,
                _ => return Err("kind must be resolution or recommendation".into()),
            },
            title: field_localized(fields, "title", MAX_TITLE)?,
            text: field_localized(fields, "text", MAX_DRAFT_TEXT)?,
        }),
        "draft.withdraw" => Command::Draft(D::Withdraw { draft: field_id(fields, "draft")? }),
        "record.note" => {
            let text = text::parse(field_str(fields, "text")?, "the note", crate::domain::record::MAX_NOTE, true)
                .map_err(invalid)?;
            match fields.get("note") {
                None | Some(Value::Null) => Command::Record(R::Note { id: created_id('n', cmd_id), text }),
                Some(_) => Command::Record(R::EditNote { note: field_id(fields, "note")?, text }),
            }
        }
        "record.note_delete" => Command::Record(R::DeleteNote { note: field_id(fields, "note")? }),
        // The digest is filled in by the connection, from the record as it stands.
        "record.finalise" => Command::Record(R::Finalise { digest: String::new(), changes: 0 }),
        "voter.claim" => Command::Vote(V::Claim {
            code: crate::credentials::normalise_voting_code(field_str(fields, "code")?)
                .ok_or("a voting code is 8 letters and digits")?,
            entry: None,
        }),
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
                parse_command(&op, &id, &fields)
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
        state: Option<Box<StateView<'a>>>,
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

/// The `event` frame for one role: the event as the role may see it, else its bare kind, so
/// the role's `seq` still rises by one.
pub fn event_frame(e: &Sequenced, role: Role) -> String {
    let event = match e.event.for_role(role) {
        Some(visible) => serde_json::to_value(&visible).unwrap_or_else(|_| json!({"kind": e.event.kind()})),
        None => json!({"kind": e.event.kind()}),
    };
    json!({"type": "event", "seq": e.seq, "event": event}).to_string()
}

/// The coalesced `upvotes` frame: the latest count of each question that changed.
pub fn upvotes_frame(counts: &BTreeMap<String, u64>) -> String {
    json!({"type": "upvotes", "counts": counts}).to_string()
}

/// The coalesced `tally` frame of one poll, as `role` may see it: the counts are withheld from
/// participants and the screen while the poll hides them.
pub fn tally_frame(poll: &str, tally: &Tally, eligible: u64, hidden: bool, role: Role) -> String {
    let mut frame = json!({"type": "tally", "poll": poll, "cast": tally.cast, "cast_weight": tally.cast_weight,
                           "eligible": eligible});
    if !hidden || matches!(role, Role::Moderator | Role::Rapporteur) {
        frame["counts"] = json!(tally.counts());
    }
    frame.to_string()
}

/// The `ack` of a command: its `seq`, and what it hands back to the sender.
pub fn ack_frame(id: &str, seq: u64, reply: Option<&Reply>) -> String {
    let mut result = json!({"seq": seq});
    match reply {
        Some(Reply::Question { question }) => {
            let own = question.by.clone();
            let viewer = Viewer { role: Role::Participant, participant: Some(&own), upvoted: &HashSet::new() };
            result["question"] = json!(QuestionView::new(question, 0, &viewer));
        }
        Some(Reply::Request { request }) => result["request"] = json!(request),
        Some(Reply::Upvote { question, upvotes, upvoted }) => {
            result["question"] = json!(question);
            result["upvotes"] = json!(upvotes);
            result["upvoted"] = json!(upvoted);
        }
        Some(Reply::Poll { poll }) => result["poll"] = json!(poll),
        Some(Reply::Draft { draft }) => result["draft"] = json!(draft),
        Some(Reply::Note { note }) => result["note"] = json!(note),
        Some(Reply::Item { item }) => result["item"] = json!(item),
        Some(Reply::Ballot { poll, choice, receipt }) => {
            result["poll"] = json!(poll);
            result["choice"] = json!(choice);
            result["receipt"] = json!(receipt);
        }
        Some(Reply::Voter { entry, name, organisation, weight, claim }) => {
            result["entry"] = json!(entry);
            result["name"] = json!(name);
            result["organisation"] = json!(organisation);
            result["weight"] = json!(weight);
            result["claim"] = json!(claim);
        }
        None => {}
    }
    ServerMsg::Ack { id, result: Some(result) }.to_json()
}

/// Who a view is made for.
pub struct Viewer<'a> {
    pub role: Role,
    /// The participant's public id, for `mine`.
    pub participant: Option<&'a str>,
    /// The questions this participant upvoted.
    pub upvoted: &'a HashSet<String>,
}

#[derive(Debug, Serialize)]
pub struct QuestionView<'a> {
    pub id: &'a str,
    pub text: &'a str,
    pub name: Option<&'a str>,
    pub status: QuestionStatus,
    pub upvotes: u64,
    pub at: i64,
    pub answered_at: Option<i64>,
    pub merged_into: Option<&'a str>,
    /// The asker's public id: the moderator's to see only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'a str>,
    /// Participants only: their own question.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
    /// Participants only: whether they upvoted it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upvoted: Option<bool>,
}

impl<'a> QuestionView<'a> {
    pub fn new(q: &'a Question, upvotes: u64, viewer: &Viewer<'_>) -> Self {
        let participant = viewer.role == Role::Participant;
        let mine = participant && viewer.participant == Some(q.by.as_str());
        Self {
            id: &q.id,
            text: &q.text,
            name: q.name.as_deref(),
            status: q.status,
            upvotes,
            at: q.at,
            answered_at: q.answered_at,
            merged_into: q.merged_into.as_deref(),
            by: (viewer.role == Role::Moderator).then_some(q.by.as_str()),
            mine: mine.then_some(true),
            upvoted: participant.then(|| viewer.upvoted.contains(&q.id)),
        }
    }

    /// Whether the viewer sees this question at all.
    fn shown(q: &Question, viewer: &Viewer<'_>) -> bool {
        use QuestionStatus::*;
        match viewer.role {
            Role::Moderator | Role::Rapporteur => q.status != Merged,
            Role::Screen => q.status == Approved,
            Role::Participant => matches!(q.status, Approved | Answered) || viewer.participant == Some(q.by.as_str()),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RequestView<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub organisation: &'a str,
    pub at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mine: Option<bool>,
}

impl<'a> RequestView<'a> {
    fn new(r: &'a Request, viewer: &Viewer<'_>) -> Self {
        let mine = viewer.role == Role::Participant && viewer.participant == Some(r.by.as_str());
        Self {
            id: &r.id,
            name: &r.name,
            organisation: &r.organisation,
            at: r.at,
            by: (viewer.role == Role::Moderator).then_some(r.by.as_str()),
            mine: mine.then_some(true),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct TurnView<'a> {
    #[serde(flatten)]
    pub request: RequestView<'a>,
    pub since: i64,
    pub limit_seconds: u32,
}

#[derive(Debug, Serialize)]
pub struct FloorView<'a> {
    pub speaking: Option<TurnView<'a>>,
    pub queue: Vec<RequestView<'a>>,
    /// Speaking time per turn for the current agenda item.
    pub turn_seconds: u32,
}

#[derive(Debug, Serialize)]
pub struct ItemView<'a> {
    /// Stable whatever moves around it.
    pub id: &'a str,
    pub title: &'a Localized,
    pub kind: ItemKind,
    pub minutes: u32,
    pub speakers: &'a [Localized],
    pub spent_seconds: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub turn_seconds: Option<u32>,
    /// Whether it has been current (a held item is neither moved nor removed).
    pub held: bool,
}

#[derive(Debug, Serialize)]
pub struct AgendaView<'a> {
    pub current: Option<usize>,
    pub since: Option<i64>,
    pub items: Vec<ItemView<'a>>,
}

#[derive(Debug, Serialize)]
pub struct DraftView<'a> {
    pub id: &'a str,
    pub kind: DraftKind,
    pub title: &'a Localized,
    pub text: &'a Localized,
    pub status: DraftStatus,
    pub version: u32,
    pub adopted_by: Option<AdoptedBy>,
    pub poll: Option<&'a str>,
    /// Every version (moderator and rapporteur).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub versions: Option<&'a [Version]>,
}

#[derive(Debug, Serialize)]
pub struct PollView<'a> {
    pub id: &'a str,
    pub draft: &'a str,
    pub status: PollStatus,
    pub method: Method,
    pub quorum: u64,
    pub secret: bool,
    pub hidden: bool,
    pub opened_at: i64,
    /// The version of the draft's text put to the vote.
    pub version: u32,
    pub closed_at: Option<i64>,
    /// `None` while hidden from this viewer.
    pub counts: Option<Counts>,
    pub cast: u64,
    pub cast_weight: u64,
    pub eligible: u64,
    pub outcome: Option<Outcome>,
    pub rule: Option<&'a str>,
}

impl<'a> PollView<'a> {
    fn new(p: &'a Poll, tally: Option<&Tally>, eligible: u64, role: Role) -> Self {
        let tally = tally.copied().unwrap_or_default();
        let shown = !p.hidden || matches!(role, Role::Moderator | Role::Rapporteur);
        match &p.result {
            Some(r) => Self::of(p, Some(r.counts), r.cast, r.cast_weight, r.eligible, Some(r.outcome), Some(&r.rule)),
            None => Self::of(p, shown.then(|| tally.counts()), tally.cast, tally.cast_weight, eligible, None, None),
        }
    }

    fn of(
        p: &'a Poll,
        counts: Option<Counts>,
        cast: u64,
        cast_weight: u64,
        eligible: u64,
        outcome: Option<Outcome>,
        rule: Option<&'a str>,
    ) -> Self {
        Self {
            id: &p.id,
            draft: &p.draft,
            status: p.status,
            method: p.method,
            quorum: p.quorum,
            secret: p.secret,
            hidden: p.hidden,
            opened_at: p.opened_at,
            version: p.version,
            closed_at: p.closed_at,
            counts,
            cast,
            cast_weight,
            eligible,
            outcome,
            rule,
        }
    }
}

/// A participant's voting right.
#[derive(Debug, Serialize)]
pub struct VoterView<'a> {
    pub entry: Option<&'a str>,
    pub name: Option<&'a str>,
    pub organisation: Option<&'a str>,
    pub weight: u64,
    pub claim: u64,
    /// The right was claimed on another device since.
    pub moved: bool,
}

#[derive(Debug, Serialize)]
pub struct BallotView<'a> {
    pub choice: Choice,
    pub receipt: &'a str,
}

#[derive(Debug, Serialize)]
pub struct RosterView {
    pub entries: u64,
    pub weight: u64,
    pub claimed: u64,
}

/// The state as one viewer sees it: the contract's state view, plus the fields the pages use.
/// What differs by role: which questions are shown, and the `by`, `mine` and `upvoted` fields.
/// [`StateView::write_shared`] writes the same fields in the same order for the shared
/// `welcome` ([`SharedView`]); a test holds the two to each other byte for byte.
#[derive(Debug, Serialize)]
pub struct StateView<'a> {
    pub id: &'a str,
    pub code: &'a str,
    pub role: Role,
    pub title: &'a Localized,
    pub reference: Option<&'a str>,
    pub venue: Option<&'a str>,
    pub starts_at: Option<&'a str>,
    pub ends_at: Option<&'a str>,
    pub languages: &'a [String],
    pub phase: Phase,
    pub started_at: Option<i64>,
    pub ended_at: Option<i64>,
    pub seq: u64,
    pub agenda: AgendaView<'a>,
    pub qa_open: bool,
    pub highlighted: Option<&'a str>,
    pub floor: FloorView<'a>,
    pub questions: Vec<QuestionView<'a>>,
    pub drafts: Vec<DraftView<'a>>,
    pub polls: Vec<PollView<'a>>,
    pub settings: Settings,
    /// Moderator and rapporteur, roster mode.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub roster: Option<RosterView>,
    /// Participants only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voter: Option<VoterView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ballots: Option<BTreeMap<&'a str, BallotView<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub participant_url: Option<String>,
}

/// The state view of `snapshot` for `viewer`.
pub fn state_view<'a>(snapshot: &'a Snapshot, viewer: &Viewer<'_>) -> StateView<'a> {
    let (def, s) = (&snapshot.definition, &snapshot.session);
    let items = s
        .agenda
        .items
        .iter()
        .map(|it| ItemView {
            id: &it.id,
            title: &it.def.title,
            kind: it.def.kind,
            minutes: it.def.minutes,
            speakers: &it.def.speakers,
            spent_seconds: it.spent_ms / 1000,
            turn_seconds: it.def.turn_seconds,
            held: it.held,
        })
        .collect();
    let questions = s
        .questions
        .items
        .values()
        .filter(|q| QuestionView::shown(q, viewer))
        .map(|q| QuestionView::new(q, snapshot.upvotes.get(&q.id).copied().unwrap_or(0), viewer))
        .collect();
    let staff = matches!(viewer.role, Role::Moderator | Role::Rapporteur);
    let drafts = s
        .drafts
        .iter()
        .map(|d| {
            let text = s.texts.get(&d.id);
            DraftView {
                id: &d.id,
                kind: d.kind,
                title: text.map_or(&crate::domain::localized::EMPTY, |t| &t.title),
                text: text.map_or(&crate::domain::localized::EMPTY, |t| t.text()),
                status: d.status,
                version: d.version,
                adopted_by: d.adopted_by,
                poll: d.poll.as_deref(),
                versions: text.filter(|_| staff).map(|t| t.versions.as_slice()),
            }
        })
        .collect();
    let polls = polls_view(s, viewer.role);
    let participant = viewer.role == Role::Participant;
    StateView {
        id: &s.id,
        code: &s.code,
        role: viewer.role,
        title: &def.title,
        reference: def.reference.as_deref(),
        venue: def.venue.as_deref(),
        starts_at: def.starts_at.as_deref(),
        ends_at: def.ends_at.as_deref(),
        languages: &def.languages,
        phase: s.agenda.phase,
        started_at: s.agenda.started_at,
        ended_at: s.agenda.ended_at,
        seq: s.seq,
        agenda: AgendaView { current: s.agenda.current, since: s.agenda.since, items },
        qa_open: s.agenda.qa_open,
        highlighted: s.questions.highlighted.as_deref(),
        floor: floor_view(s, viewer),
        questions,
        drafts,
        polls,
        settings: def.settings,
        roster: (staff && s.roster_mode()).then(|| {
            let r = s.roster.unwrap_or_default();
            RosterView { entries: r.entries, weight: r.weight, claimed: snapshot.claimed }
        }),
        voter: participant.then(|| voter_view(s, viewer.participant)).flatten(),
        ballots: participant.then(|| ballots_view(snapshot)),
        participant_url: None,
    }
}

fn polls_view(s: &Session, role: Role) -> Vec<PollView<'_>> {
    let mut polls: Vec<PollView<'_>> =
        s.votes.polls.values().map(|p| PollView::new(p, s.votes.tallies.get(&p.id), s.votes.eligible, role)).collect();
    // In the order they were opened, as clients add them.
    polls.sort_by(|a, b| a.opened_at.cmp(&b.opened_at).then_with(|| a.id.cmp(b.id)));
    polls
}

fn floor_view<'a>(s: &'a Session, viewer: &Viewer<'_>) -> FloorView<'a> {
    FloorView {
        speaking: s.floor.speaking.as_ref().map(|t| TurnView {
            request: RequestView::new(&t.request, viewer),
            since: t.since,
            limit_seconds: t.limit_seconds,
        }),
        queue: s.floor.queue.iter().map(|r| RequestView::new(r, viewer)).collect(),
        turn_seconds: s.turn_seconds(),
    }
}

fn ballots_view(snapshot: &Snapshot) -> BTreeMap<&str, BallotView<'_>> {
    snapshot.ballots.iter().map(|(p, b)| (p.as_str(), BallotView { choice: b.choice, receipt: &b.receipt })).collect()
}

/// `,"key":value`, as `serde_json` writes a struct's field (keys here are plain identifiers).
fn put<T: Serialize + ?Sized>(out: &mut Vec<u8>, key: &str, value: &T) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
    write_json(out, value);
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Serialising these types cannot fail: no maps with non-string keys, no custom impls.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// Where the parts a viewer may have of their own lie in a view written by
/// [`StateView::write_shared`].
struct Marks {
    /// The floor's value.
    floor: Range<usize>,
    /// Each question of the array.
    questions: Vec<Range<usize>>,
    /// The array's closing bracket.
    questions_end: usize,
    /// The polls' value.
    polls: Range<usize>,
}

impl StateView<'_> {
    /// Writes the view as its `Serialize` does, field for field, up to the viewer's own fields
    /// (`voter`, `ballots`, `participant_url`) and without the closing brace; notes where the
    /// floor and each question lie. [`StateView::write_own`] writes the rest.
    fn write_shared(&self, out: &mut Vec<u8>) -> Marks {
        out.extend_from_slice(b"{\"id\":");
        write_json(out, self.id);
        put(out, "code", self.code);
        put(out, "role", &self.role);
        put(out, "title", self.title);
        put(out, "reference", &self.reference);
        put(out, "venue", &self.venue);
        put(out, "starts_at", &self.starts_at);
        put(out, "ends_at", &self.ends_at);
        put(out, "languages", self.languages);
        put(out, "phase", &self.phase);
        put(out, "started_at", &self.started_at);
        put(out, "ended_at", &self.ended_at);
        put(out, "seq", &self.seq);
        put(out, "agenda", &self.agenda);
        put(out, "qa_open", &self.qa_open);
        put(out, "highlighted", &self.highlighted);
        out.extend_from_slice(b",\"floor\":");
        let start = out.len();
        write_json(out, &self.floor);
        let floor = start..out.len();
        out.extend_from_slice(b",\"questions\":[");
        let mut questions = Vec::with_capacity(self.questions.len());
        for (k, q) in self.questions.iter().enumerate() {
            if k > 0 {
                out.push(b',');
            }
            let start = out.len();
            write_json(out, q);
            questions.push(start..out.len());
        }
        let questions_end = out.len();
        out.push(b']');
        put(out, "drafts", &self.drafts);
        out.extend_from_slice(b",\"polls\":");
        let start = out.len();
        write_json(out, &self.polls);
        let polls = start..out.len();
        put(out, "settings", &self.settings);
        if let Some(roster) = &self.roster {
            put(out, "roster", roster);
        }
        Marks { floor, questions, questions_end, polls }
    }

    /// The viewer's own fields and the closing brace: what [`StateView::write_shared`] leaves out.
    #[cfg(test)]
    fn write_own(&self, out: &mut Vec<u8>) {
        write_own(out, self.voter.as_ref(), self.ballots.as_ref(), self.participant_url.as_deref());
    }
}

fn write_own(
    out: &mut Vec<u8>,
    voter: Option<&VoterView<'_>>,
    ballots: Option<&BTreeMap<&str, BallotView<'_>>>,
    participant_url: Option<&str>,
) {
    if let Some(voter) = voter {
        put(out, "voter", voter);
    }
    if let Some(ballots) = ballots {
        put(out, "ballots", ballots);
    }
    if let Some(url) = participant_url {
        put(out, "participant_url", url);
    }
    out.push(b'}');
}

/// The `welcome` frame's fields before its state.
pub struct WelcomeHead<'a> {
    pub role: Role,
    pub session: &'a str,
    pub code: &'a str,
    pub participant: Option<&'a str>,
    pub seq: u64,
    pub server_time: i64,
}

impl WelcomeHead<'_> {
    fn message<'s>(&'s self, state: Option<Box<StateView<'s>>>) -> ServerMsg<'s> {
        ServerMsg::Welcome {
            role: self.role,
            session: self.session,
            code: self.code,
            participant: self.participant,
            seq: self.seq,
            server_time: self.server_time,
            state,
        }
    }

    /// The `welcome` without a state (the missed events follow it).
    pub fn to_json(&self) -> String {
        self.message(None).to_json()
    }

    /// `{"type":"welcome",…,"server_time":…,"state":`: the state is the frame's last field.
    fn open_state(&self) -> Vec<u8> {
        let mut head = self.to_json().into_bytes();
        head.pop();
        head.extend_from_slice(b",\"state\":");
        head
    }
}

/// One role's view of the state, serialised once and shared by every socket of that role that
/// joins at the same `seq`: a room of phones joining at once costs one serialisation of the
/// questions and drafts, not one per phone. A socket's `welcome` is these bytes with the
/// viewer's own parts spliced in ([`SharedView::welcome`]); the frame is byte for byte the one
/// [`ServerMsg::Welcome`] writes with [`state_view`].
///
/// What a participant has of their own: the questions they asked (`mine`, and in any status)
/// or upvoted (`upvoted: true`), their place in the list of speakers (`mine`), `voter` and
/// `ballots`. The shared bytes are a participant's view with none of these. Every role's
/// `participant_url` comes from the request (its `Host`), so it is the viewer's own too. The
/// polls are written for each socket: their running tallies and the eligible weight (which
/// grows with every participant who joins, in open voting) change without an event, and they
/// are few.
pub struct SharedView {
    role: Role,
    seq: u64,
    /// What the view was made from that changes without an event, besides the polls: a view
    /// fits a snapshot only when these are the same too.
    upvotes: HashMap<String, u64>,
    claimed: u64,
    /// The state object up to its viewer's own fields, without its closing brace.
    body: Bytes,
    floor: Range<usize>,
    polls: Range<usize>,
    /// The shared questions' ids and places in `body`, in the view's order.
    questions: Vec<(String, Range<usize>)>,
    questions_end: usize,
}

impl SharedView {
    /// Serialises `role`'s view of `snapshot` for a viewer with nothing of their own.
    pub fn build(snapshot: &Snapshot, role: Role) -> SharedView {
        let nothing = HashSet::new();
        let viewer = Viewer { role, participant: None, upvoted: &nothing };
        let view = state_view(snapshot, &viewer);
        let mut body = Vec::with_capacity(16 * 1024);
        let marks = view.write_shared(&mut body);
        let questions = view.questions.iter().map(|q| q.id.to_owned()).zip(marks.questions).collect();
        let s = &snapshot.session;
        SharedView {
            role,
            seq: s.seq,
            upvotes: snapshot.upvotes.clone(),
            claimed: snapshot.claimed,
            body: body.into(),
            floor: marks.floor,
            polls: marks.polls,
            questions,
            questions_end: marks.questions_end,
        }
    }

    /// Whether this is `role`'s view of `snapshot` (its own parts aside).
    pub fn fits(&self, snapshot: &Snapshot, role: Role) -> bool {
        let s = &snapshot.session;
        self.role == role && self.seq == s.seq && self.claimed == snapshot.claimed && self.upvotes == snapshot.upvotes
    }

    /// The `welcome` frame for `viewer`, with the state of `snapshot` (which this view
    /// [`fits`](Self::fits)), as pieces to send in order as one text frame.
    pub fn welcome(
        &self,
        head: &WelcomeHead<'_>,
        snapshot: &Snapshot,
        viewer: &Viewer<'_>,
        participant_url: Option<&str>,
    ) -> Vec<Bytes> {
        let s = &snapshot.session;
        let own = match self.own_parts(snapshot, viewer) {
            Some(own) => own,
            None => {
                // Not this view's snapshot after all: the whole frame for this viewer.
                let mut view = state_view(snapshot, viewer);
                view.participant_url = participant_url.map(str::to_owned);
                return vec![head.message(Some(Box::new(view))).to_json().into()];
            }
        };
        let participant = viewer.role == Role::Participant;
        let mut tail = Vec::new();
        let voter = participant.then(|| voter_view(s, viewer.participant)).flatten();
        let ballots = participant.then(|| ballots_view(snapshot));
        write_own(&mut tail, voter.as_ref(), ballots.as_ref(), participant_url);
        tail.push(b'}');
        let mut pieces = Vec::with_capacity(own.len() * 2 + 3);
        pieces.push(Bytes::from(head.open_state()));
        let mut at = 0;
        for (range, bytes) in own {
            if range.start > at {
                pieces.push(self.body.slice(at..range.start));
            }
            pieces.push(Bytes::from(bytes));
            at = range.end;
        }
        pieces.push(self.body.slice(at..));
        pieces.push(Bytes::from(tail));
        pieces
    }

    /// What differs from the shared bytes for `viewer` (and the polls, always written anew):
    /// (what it replaces in the body, the viewer's bytes), in the body's order. `None` when the
    /// snapshot's questions are not the ones this view holds.
    fn own_parts(&self, snapshot: &Snapshot, viewer: &Viewer<'_>) -> Option<Vec<(Range<usize>, Vec<u8>)>> {
        let polls = |snapshot: &Snapshot, role| {
            let mut out = Vec::new();
            write_json(&mut out, &polls_view(&snapshot.session, role));
            out
        };
        let mut own = Vec::new();
        let Some(me) = viewer.participant.filter(|_| viewer.role == Role::Participant) else {
            own.push((self.polls.clone(), polls(snapshot, viewer.role)));
            return Some(own);
        };
        let s = &snapshot.session;
        let in_floor = |r: &Request| r.by == me;
        if s.floor.speaking.as_ref().is_some_and(|t| in_floor(&t.request)) || s.floor.queue.iter().any(in_floor) {
            let mut floor = Vec::new();
            write_json(&mut floor, &floor_view(s, viewer));
            own.push((self.floor.clone(), floor));
        }
        let everyone = Viewer { role: viewer.role, participant: None, upvoted: viewer.upvoted };
        let question = |q: &Question| {
            let mut out = Vec::new();
            write_json(&mut out, &QuestionView::new(q, snapshot.upvotes.get(&q.id).copied().unwrap_or(0), viewer));
            out
        };
        // The viewer's questions that are not shown to everyone, waiting for their place.
        let mut unshared: Vec<u8> = Vec::new();
        let mut shared = self.questions.iter();
        let mut next = shared.next();
        for q in s.questions.items.values() {
            if QuestionView::shown(q, &everyone) {
                let (id, range) = next.filter(|(id, _)| *id == q.id)?;
                next = shared.next();
                if !unshared.is_empty() {
                    unshared.push(b',');
                    own.push((range.start..range.start, std::mem::take(&mut unshared)));
                }
                if q.by == me || viewer.upvoted.contains(id) {
                    own.push((range.clone(), question(q)));
                }
            } else if QuestionView::shown(q, viewer) {
                if !unshared.is_empty() {
                    unshared.push(b',');
                }
                unshared.extend_from_slice(&question(q));
            }
        }
        if next.is_some() {
            return None;
        }
        if !unshared.is_empty() {
            if !self.questions.is_empty() {
                unshared.insert(0, b',');
            }
            own.push((self.questions_end..self.questions_end, unshared));
        }
        own.push((self.polls.clone(), polls(snapshot, viewer.role)));
        Some(own)
    }
}

fn voter_view<'a>(s: &'a Session, participant: Option<&str>) -> Option<VoterView<'a>> {
    if !s.roster_mode() {
        return Some(VoterView { entry: None, name: None, organisation: None, weight: 1, claim: 0, moved: false });
    }
    let entry = s.votes.bound.get(participant?)?;
    let record = s.votes.roster.get(entry);
    let claim = s.votes.claims.get(entry);
    Some(VoterView {
        entry: Some(entry),
        name: record.map(|r| r.name.as_str()),
        organisation: record.map(|r| r.organisation.as_str()),
        weight: record.map_or(0, |r| r.weight),
        claim: claim.map_or(0, |c| c.claim),
        moved: claim.is_none_or(|c| Some(c.participant.as_str()) != participant),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cmd_is_parsed_into_a_typed_command() {
        let id = "7d9f1c1e-2f7a-4c1e-9a51-0d6c9f8e0b11";
        let m = ClientMsg::parse(&format!(r#"{{"type":"cmd","id":"{id}","op":"agenda.goto","item":3}}"#));
        assert_eq!(
            m,
            Ok(ClientMsg::Cmd {
                id: id.into(),
                command: Command::Agenda(crate::domain::AgendaCommand::Goto { item: 3 })
            })
        );
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

    #[test]
    fn ops_lists_exactly_the_ops_the_parser_knows() {
        for op in OPS {
            let r = parse_command(op, "00000000-0000-4000-8000-000000000000", &Map::new());
            assert!(!matches!(&r, Err(m) if m.starts_with("unknown op")), "{op} is listed but not parsed");
        }
        let source = include_str!("protocol.rs");
        let parsed = source.lines().filter(|l| l.starts_with("        \"") && l.contains("\" => ")).count();
        assert_eq!(parsed, OPS.len(), "an op the parser reads is missing from OPS");
    }

    /// A session with something of everyone's own in it: questions in every status (asked,
    /// approved, answered, rejected, merged, upvoted), the list of speakers, a poll with a
    /// ballot; and its participants.
    async fn busy_session(roster: bool) -> (crate::store::memory::MemoryStore, Vec<&'static str>) {
        use crate::domain::definition::RawDefinition;
        use crate::domain::{Actor, Session, SessionDefinition};
        use crate::store::{Participant, Store};
        let mut raw: Value = serde_json::from_str(crate::fixtures::SOU94).expect("SOU 94");
        if roster {
            raw["settings"]["voting"] = json!("roster");
        }
        let raw: RawDefinition = serde_json::from_value(raw).expect("a raw definition");
        let definition = SessionDefinition::parse(raw).expect("a valid definition");
        let store = crate::store::memory::MemoryStore::new();
        let session = Session::new("s1".into(), "ABCDEF".into(), &definition, 1_000);
        let credentials = crate::credentials::Credentials {
            moderator: "m".into(),
            rapporteur: "r".into(),
            code: "ABCDEF".into(),
            ballot_salt: "salt".into(),
        };
        store.create(&definition, &session, &credentials).await.expect("created");
        let people = vec!["p1", "p2", "p3", "p4"];
        for p in &people {
            store
                .participant("s1", &format!("token-{p}"), &Participant { id: (*p).into(), joined_at: 1_000 })
                .await
                .expect("joined");
        }
        let mut now = 2_000;
        let mut n = 0;
        let mut send = |who: Option<&'static str>, frame: Value| {
            n += 1;
            now += 60_000;
            let id = format!("{n:08x}-0000-4000-8000-000000000000");
            let mut frame = frame;
            frame["type"] = json!("cmd");
            frame["id"] = json!(id);
            let Ok(ClientMsg::Cmd { id, command }) = ClientMsg::parse(&frame.to_string()) else { panic!("{frame}") };
            let actor = match who {
                Some(p) => Actor { role: Role::Participant, participant: Some(p.into()) },
                None => Actor { role: Role::Moderator, participant: None },
            };
            (id, actor, command, now)
        };
        let q = |n: u32| created_id('q', &format!("{n:08x}-0000-4000-8000-000000000000"));
        let f = |n: u32| created_id('f', &format!("{n:08x}-0000-4000-8000-000000000000"));
        let steps = vec![
            send(None, json!({"op": "agenda.goto", "item": 6})),
            send(Some("p1"), json!({"op": "question.ask", "text": "What of the \"returnees\"? <b>é</b>"})), // 2
            send(Some("p1"), json!({"op": "question.ask", "text": "And the budget?", "name": "Awa"})),      // 3
            send(Some("p2"), json!({"op": "question.ask", "text": "Who pays for it?"})),                    // 4
            send(Some("p3"), json!({"op": "question.ask", "text": "When does it start?"})),                 // 5
            send(Some("p3"), json!({"op": "question.ask", "text": "Is it binding?"})),                      // 6
            send(Some("p4"), json!({"op": "question.ask", "text": "Where is the list?"})),                  // 7
            send(None, json!({"op": "question.approve", "question": q(2)})),
            send(None, json!({"op": "question.approve", "question": q(4)})),
            send(None, json!({"op": "question.approve", "question": q(5)})),
            send(None, json!({"op": "question.approve", "question": q(7)})),
            send(None, json!({"op": "question.answer", "question": q(5)})),
            send(None, json!({"op": "question.reject", "question": q(6)})),
            send(None, json!({"op": "question.merge", "question": q(7), "into": q(4)})),
            send(Some("p2"), json!({"op": "question.upvote", "question": q(2)})),
            send(Some("p3"), json!({"op": "question.upvote", "question": q(2)})),
            send(Some("p3"), json!({"op": "question.upvote", "question": q(4)})),
            send(Some("p1"), json!({"op": "floor.request", "name": "Awa", "organisation": "AMM"})), // 18
            send(Some("p3"), json!({"op": "floor.request", "name": "Ben"})),                        // 19
            send(None, json!({"op": "floor.grant", "request": f(18)})),
            send(Some("p2"), json!({"op": "floor.request", "name": "Cé"})),
            send(None, json!({"op": "poll.open", "draft": "d1"})), // 22
        ];
        for (id, actor, command, now) in steps {
            store.apply("s1", &id, &actor, &command, now).await.unwrap_or_else(|e| panic!("{command:?}: {e}"));
        }
        if !roster {
            let poll = created_id('p', "00000016-0000-4000-8000-000000000000");
            let (id, actor, command, now) = send(Some("p2"), json!({"op": "vote.cast", "poll": poll, "choice": "for"}));
            store.apply("s1", &id, &actor, &command, now).await.expect("a ballot");
        }
        (store, people)
    }

    fn concat(pieces: &[Bytes]) -> String {
        String::from_utf8(pieces.concat()).expect("UTF-8")
    }

    #[tokio::test]
    async fn the_shared_welcome_is_the_welcome_byte_for_byte() {
        use crate::store::Store;
        for roster in [false, true] {
            let (store, people) = busy_session(roster).await;
            // Built from one viewer's snapshot, used for every other's: nothing of one leaks.
            let source = store.snapshot("s1", Some("p1")).await.expect("read").expect("there");
            let viewers = people.iter().map(|p| (Role::Participant, Some(*p))).chain(Role::ALL.map(|r| (r, None)));
            for (role, who) in viewers {
                let snapshot = store.snapshot("s1", who).await.expect("read").expect("there");
                let shared = SharedView::build(&source, role);
                assert!(shared.fits(&snapshot, role), "{role:?} {who:?}");
                let viewer = Viewer { role, participant: who, upvoted: &snapshot.upvoted };
                let head = WelcomeHead {
                    role,
                    session: "s1",
                    code: "ABCDEF",
                    participant: who.map(|_| "token"),
                    seq: snapshot.session.seq,
                    server_time: 42,
                };
                let url = "http://palabre.example/j/ABCDEF";
                let pieces = shared.welcome(&head, &snapshot, &viewer, Some(url));
                // Head, the shared body around the polls, own tail; and for each participant
                // something more of their own.
                assert_eq!(pieces.len() > 5, who.is_some(), "{role:?} {who:?}: {} pieces", pieces.len());
                let spliced = concat(&pieces);
                let mut view = state_view(&snapshot, &viewer);
                view.participant_url = Some(url.into());
                let whole = head.message(Some(Box::new(view))).to_json();
                assert_eq!(spliced, whole, "roster {roster}, {role:?} {who:?}");
                serde_json::from_str::<Value>(&spliced).expect("JSON");
            }
        }
    }

    #[tokio::test]
    async fn a_view_written_in_parts_is_the_view() {
        use crate::store::Store;
        let (store, people) = busy_session(false).await;
        let viewers = people.iter().map(|p| (Role::Participant, Some(*p))).chain(Role::ALL.map(|r| (r, None)));
        for (role, who) in viewers {
            let snapshot = store.snapshot("s1", who).await.expect("read").expect("there");
            let mut view = state_view(&snapshot, &Viewer { role, participant: who, upvoted: &snapshot.upvoted });
            view.participant_url = Some("http://x/j/ABCDEF".into());
            let mut out = Vec::new();
            view.write_shared(&mut out);
            view.write_own(&mut out);
            assert_eq!(String::from_utf8(out).expect("UTF-8"), serde_json::to_string(&view).expect("JSON"));
        }
    }

    #[tokio::test]
    async fn a_shared_view_does_not_fit_once_counts_change() {
        use crate::domain::Actor;
        use crate::store::Store;
        let (store, _) = busy_session(false).await;
        let before = store.snapshot("s1", None).await.expect("read").expect("there");
        let shared = SharedView::build(&before, Role::Screen);
        assert!(shared.fits(&before, Role::Screen));
        assert!(!shared.fits(&before, Role::Moderator), "one role's view is not another's");
        let q = created_id('q', "00000002-0000-4000-8000-000000000000");
        let id = "000000ff-0000-4000-8000-000000000000";
        let Ok(ClientMsg::Cmd { command, .. }) =
            ClientMsg::parse(&json!({"type": "cmd", "id": id, "op": "question.upvote", "question": q}).to_string())
        else {
            panic!()
        };
        let actor = Actor { role: Role::Participant, participant: Some("p4".into()) };
        store.apply("s1", id, &actor, &command, 9_000_000).await.expect("an upvote");
        let after = store.snapshot("s1", None).await.expect("read").expect("there");
        assert_eq!(after.session.seq, before.session.seq, "upvotes are not events");
        assert!(!shared.fits(&after, Role::Screen), "the counts changed");
        // A participant more changes the open poll's eligible weight, which every socket's
        // welcome writes anew: the shared view still fits.
        let shared = SharedView::build(&after, Role::Screen);
        let fresh = crate::store::Participant { id: "p5".into(), joined_at: 9_000_001 };
        store.participant("s1", "token-p5", &fresh).await.expect("joined");
        let joined = store.snapshot("s1", None).await.expect("read").expect("there");
        assert_ne!(joined.session.votes.eligible, after.session.votes.eligible);
        assert!(shared.fits(&joined, Role::Screen));
        let head = WelcomeHead {
            role: Role::Screen,
            session: "s1",
            code: "ABCDEF",
            participant: None,
            seq: joined.session.seq,
            server_time: 1,
        };
        let viewer = Viewer { role: Role::Screen, participant: None, upvoted: &joined.upvoted };
        let whole = head.message(Some(Box::new(state_view(&joined, &viewer)))).to_json();
        assert_eq!(concat(&shared.welcome(&head, &joined, &viewer, None)), whole);
    }

    #[test]
    fn a_refusal_does_not_echo_a_huge_input() {
        let huge = "x".repeat(60_000);
        let r =
            ClientMsg::parse(&format!(r#"{{"type":"hello","code":"ABCDEF","role":"{huge}"}}"#)).expect_err("bad role");
        assert!(r.message.chars().count() <= MAX_MESSAGE + 1, "{} characters", r.message.len());
        assert!(r.message.starts_with("bad hello"));
    }
}
