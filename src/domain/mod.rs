//! The rules of a session, pure and synchronous: a definition is parsed into valid types,
//! a command is decided into events, and events are folded into the state. No I/O, no clock,
//! no randomness: the caller passes the time and the ids in.
//!
//! One module per capability, each with its own part of the state, its commands, its events,
//! `decide` and `apply`: [`agenda`] (where the room stands, questions open or closed),
//! [`questions`] (the audience's questions), [`floor`] (the list of speakers), [`votes`]
//! (polls on the drafts, ballots, the roster). [`session`] is their sum and dispatches to them.

pub mod agenda;
pub mod definition;
pub mod drafts;
pub mod floor;
pub mod localized;
pub mod questions;
pub mod record;
pub mod session;
pub mod text;
pub mod votes;

pub use agenda::{AgendaCommand, AgendaEvent, Phase};
pub use definition::{
    AgendaItemDef, DefinitionError, DraftDef, DraftKind, ItemKind, SessionDefinition, Settings, VotingMode,
};
pub use drafts::{DraftCommand, DraftEvent};
pub use floor::{FloorCommand, FloorEvent};
pub use localized::Localized;
pub use questions::{Question, QuestionCommand, QuestionEvent, QuestionStatus};
pub use record::{RecordCommand, RecordEvent};
pub use session::{Decision, DraftState, DraftStatus, Footprint, RosterSummary, Session};
pub use votes::{Choice, Method, VoteCommand, VoteEvent};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, as handed in by the caller.
pub type Millis = i64;

/// Who is acting. The role comes from the credential the connection presented, never from
/// what the client claims.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Moderator,
    Rapporteur,
    Participant,
    Screen,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Moderator, Role::Rapporteur, Role::Participant, Role::Screen];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Moderator => "moderator",
            Role::Rapporteur => "rapporteur",
            Role::Participant => "participant",
            Role::Screen => "screen",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The one acting: a role, and for a participant their public id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub role: Role,
    pub participant: Option<String>,
}

impl Actor {
    pub fn new(role: Role) -> Self {
        Self { role, participant: None }
    }

    pub fn participant(id: impl Into<String>) -> Self {
        Self { role: Role::Participant, participant: Some(id.into()) }
    }
}

/// A command, already parsed and typed; each capability's commands in its own enum. The wire
/// names live in `protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Agenda(AgendaCommand),
    Question(QuestionCommand),
    Floor(FloorCommand),
    Vote(VoteCommand),
    Record(RecordCommand),
    Draft(DraftCommand),
}

impl Command {
    /// The wire name of the op, for metrics and logs.
    pub fn op(&self) -> &'static str {
        match self {
            Command::Agenda(c) => c.op(),
            Command::Question(c) => c.op(),
            Command::Floor(c) => c.op(),
            Command::Vote(c) => c.op(),
            Command::Record(c) => c.op(),
            Command::Draft(c) => c.op(),
        }
    }

    /// The role that may send it.
    pub fn role(&self) -> Role {
        match self {
            Command::Agenda(_) => Role::Moderator,
            Command::Question(c) => c.role(),
            Command::Floor(c) => c.role(),
            Command::Vote(c) => c.role(),
            Command::Record(_) | Command::Draft(_) => Role::Rapporteur,
        }
    }

    /// Whether `role` may send it: its own role, and the moderator may also word the texts.
    pub fn allows(&self, role: Role) -> bool {
        self.role() == role || (matches!(self, Command::Draft(_)) && role == Role::Moderator)
    }

    /// A ballot: counted by the store, not a sequenced event.
    pub fn ballot(&self) -> Option<(&str, votes::Choice)> {
        match self {
            Command::Vote(VoteCommand::Cast { poll, choice }) => Some((poll, *choice)),
            _ => None,
        }
    }

    /// An upvote or unvote: counted by the store, not a sequenced event.
    pub fn vote(&self) -> Option<(&str, bool)> {
        match self {
            Command::Question(QuestionCommand::Upvote { question }) => Some((question, true)),
            Command::Question(QuestionCommand::Unvote { question }) => Some((question, false)),
            _ => None,
        }
    }

    /// The parts of the state the command reads and may change, so a store can load only
    /// those: the session's core always, plus these.
    pub fn footprint(&self, actor: &Actor) -> Footprint {
        match self {
            Command::Agenda(AgendaCommand::SessionEnd) => Footprint { floor: true, ..Footprint::default() },
            Command::Agenda(_) => Footprint::default(),
            Command::Question(c) => Footprint {
                questions: c.touches(),
                asker: matches!(c, QuestionCommand::Ask { .. }).then(|| actor.participant.clone()).flatten(),
                ..Footprint::default()
            },
            Command::Floor(_) => Footprint { floor: true, ..Footprint::default() },
            Command::Vote(c) => match c {
                VoteCommand::PollOpen { id, .. } => {
                    Footprint { polls: vec![id.clone()], eligible: true, ..Footprint::default() }
                }
                VoteCommand::PollClose { poll } => Footprint {
                    polls: vec![poll.clone()],
                    tallies: vec![poll.clone()],
                    eligible: true,
                    ..Footprint::default()
                },
                VoteCommand::PollCancel { poll } => Footprint { polls: vec![poll.clone()], ..Footprint::default() },
                VoteCommand::AdoptByConsensus { .. } => Footprint::default(),
                VoteCommand::Cast { poll, .. } => {
                    Footprint { polls: vec![poll.clone()], voter: actor.participant.clone(), ..Footprint::default() }
                }
                VoteCommand::Claim { entry, .. } => {
                    Footprint { entry: entry.clone(), voter: actor.participant.clone(), ..Footprint::default() }
                }
            },
            Command::Record(_) => Footprint::default(),
            Command::Draft(c) => Footprint { texts: vec![c.draft().to_owned()], ..Footprint::default() },
        }
    }
}

/// One change to a session. Events carry what a client needs to apply them to its copy of
/// the state without asking again. On the wire each is an object with its `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    Agenda(AgendaEvent),
    Question(QuestionEvent),
    Floor(FloorEvent),
    Vote(VoteEvent),
    Record(RecordEvent),
    Draft(DraftEvent),
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Agenda(e) => e.kind(),
            Event::Question(e) => e.kind(),
            Event::Floor(e) => e.kind(),
            Event::Vote(e) => e.kind(),
            Event::Record(e) => e.kind(),
            Event::Draft(e) => e.kind(),
        }
    }

    /// The event as `role` may see it, or `None` when only its kind may be shown. Every role
    /// still receives every `seq`.
    pub fn for_role(&self, role: Role) -> Option<Event> {
        match self {
            Event::Agenda(_) => Some(self.clone()),
            Event::Question(e) => e.for_role(role).map(Event::Question),
            Event::Floor(e) => Some(Event::Floor(e.for_role(role))),
            Event::Vote(e) => Some(Event::Vote(e.for_role(role))),
            Event::Record(e) => e.visible_to(role).then(|| self.clone()),
            Event::Draft(_) => Some(self.clone()),
        }
    }

    /// Whether every role sees the event the same way (so it is serialised once).
    pub fn same_for_all(&self) -> bool {
        let full = Some(self.clone());
        Role::ALL.iter().all(|r| self.for_role(*r) == full)
    }
}

impl From<AgendaEvent> for Event {
    fn from(e: AgendaEvent) -> Self {
        Event::Agenda(e)
    }
}

impl From<QuestionEvent> for Event {
    fn from(e: QuestionEvent) -> Self {
        Event::Question(e)
    }
}

impl From<DraftEvent> for Event {
    fn from(e: DraftEvent) -> Self {
        Event::Draft(e)
    }
}

impl From<RecordEvent> for Event {
    fn from(e: RecordEvent) -> Self {
        Event::Record(e)
    }
}

impl From<VoteEvent> for Event {
    fn from(e: VoteEvent) -> Self {
        Event::Vote(e)
    }
}

impl From<FloorEvent> for Event {
    fn from(e: FloorEvent) -> Self {
        Event::Floor(e)
    }
}

/// An event with its place in the session's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    pub event: Event,
}

/// What a command hands back to its sender beyond its `seq` (the `ack`'s result), kept with
/// the command id so a retry gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    /// The question just asked, as its asker sees it.
    Question { question: Question },
    /// The id of the floor request just made.
    Request { request: String },
    /// An upvote or unvote: the question's count after it, and whether the sender upvotes it.
    Upvote { question: String, upvotes: u64, upvoted: bool },
    /// The id of the poll just opened.
    Poll { poll: String },
    /// A ballot: its choice and the voter's receipt for this poll.
    Ballot { poll: String, choice: votes::Choice, receipt: String },
    /// The roster entry this device now holds.
    Voter { entry: String, name: String, organisation: String, weight: u64, claim: u64 },
    /// The id of the draft just created.
    Draft { draft: String },
    /// The id of the note just taken.
    Note { note: String },
    /// The id of the agenda item just inserted.
    Item { item: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Closed(String),
    #[error("{0}")]
    RateLimited(String),
}
