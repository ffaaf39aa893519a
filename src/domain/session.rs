//! A session's live state and its rules: [`Session::handle`] decides a command into events
//! and folds them in, each with the session's next `seq`.

use super::definition::{DraftKind, ItemKind, SessionDefinition};
use super::Millis;
use serde::{Deserialize, Serialize};

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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Ended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftStatus {
    Draft,
    Voting,
    Adopted,
    Rejected,
    Withdrawn,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Draft {
    pub id: String,
    pub kind: DraftKind,
    pub title: String,
    pub text: String,
    pub status: DraftStatus,
    pub version: u32,
}

/// A command, already parsed and typed. Later capabilities (questions, floor, polls, record)
/// add variants here; the wire names live in `protocol`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    AgendaNext,
    AgendaPrev,
    AgendaGoto { item: usize },
    QaOpen,
    QaClose,
    SessionEnd,
}

impl Command {
    /// The wire name of the op, for metrics and logs.
    pub fn op(&self) -> &'static str {
        match self {
            Command::AgendaNext => "agenda.next",
            Command::AgendaPrev => "agenda.prev",
            Command::AgendaGoto { .. } => "agenda.goto",
            Command::QaOpen => "qa.open",
            Command::QaClose => "qa.close",
            Command::SessionEnd => "session.end",
        }
    }

    fn allowed(&self, role: Role) -> bool {
        match self {
            Command::AgendaNext
            | Command::AgendaPrev
            | Command::AgendaGoto { .. }
            | Command::QaOpen
            | Command::QaClose
            | Command::SessionEnd => role == Role::Moderator,
        }
    }
}

/// One change to a session. Events carry what a client needs to apply them to its copy of
/// the state without asking again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum Event {
    #[serde(rename = "session.started")]
    SessionStarted { at: Millis },
    #[serde(rename = "agenda.moved")]
    AgendaMoved {
        current: usize,
        previous: Option<usize>,
        /// Total time spent so far on the item just left, so every copy of the state agrees.
        previous_spent_seconds: Option<u64>,
        at: Millis,
    },
    #[serde(rename = "qa.opened")]
    QaOpened,
    #[serde(rename = "qa.closed")]
    QaClosed,
    #[serde(rename = "session.ended")]
    SessionEnded {
        at: Millis,
        /// The item that was running when the session ended, and its final time.
        item: Option<usize>,
        item_spent_seconds: Option<u64>,
    },
}

impl Event {
    pub fn kind(&self) -> &'static str {
        match self {
            Event::SessionStarted { .. } => "session.started",
            Event::AgendaMoved { .. } => "agenda.moved",
            Event::QaOpened => "qa.opened",
            Event::QaClosed => "qa.closed",
            Event::SessionEnded { .. } => "session.ended",
        }
    }

    /// Whether a role may see this event's details. Events a role may not see still reach
    /// it, as a bare `kind`, so its `seq` never skips.
    pub fn visible_to(&self, _role: Role) -> bool {
        true
    }
}

/// An event with its place in the session's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequenced {
    pub seq: u64,
    pub event: Event,
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
}

/// The whole state of one session: its definition and everything that happened since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: String,
    pub code: String,
    pub created_at: Millis,
    pub definition: SessionDefinition,
    /// The `seq` of the last event; 0 before any.
    pub seq: u64,
    pub phase: Phase,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub current: Option<usize>,
    /// When the current item became current.
    pub since: Option<Millis>,
    /// Milliseconds spent on each item, summed over every time it was current.
    pub spent_ms: Vec<u64>,
    pub qa_open: bool,
    pub highlighted: Option<String>,
    pub drafts: Vec<Draft>,
}

impl Session {
    pub fn new(id: String, code: String, definition: SessionDefinition, created_at: Millis) -> Self {
        let drafts = definition
            .drafts
            .iter()
            .enumerate()
            .map(|(i, d)| Draft {
                id: format!("d{}", i + 1),
                kind: d.kind,
                title: d.title.clone(),
                text: d.text.clone(),
                status: DraftStatus::Draft,
                version: 1,
            })
            .collect();
        Self {
            id,
            code,
            created_at,
            spent_ms: vec![0; definition.agenda.len()],
            definition,
            seq: 0,
            phase: Phase::Pending,
            started_at: None,
            ended_at: None,
            current: None,
            since: None,
            qa_open: false,
            highlighted: None,
            drafts,
        }
    }

    pub fn spent_seconds(&self, item: usize) -> u64 {
        self.spent_ms.get(item).copied().unwrap_or(0) / 1000
    }

    /// Decides `command` for `role` at `now`, applies the resulting events and returns them
    /// with their `seq`. On error the session is unchanged.
    pub fn handle(&mut self, role: Role, command: &Command, now: Millis) -> Result<Vec<Sequenced>, DomainError> {
        let events = self.decide(role, command, now)?;
        Ok(events
            .into_iter()
            .map(|event| {
                self.apply(&event);
                self.seq += 1;
                Sequenced { seq: self.seq, event }
            })
            .collect())
    }

    fn decide(&self, role: Role, command: &Command, now: Millis) -> Result<Vec<Event>, DomainError> {
        if !command.allowed(role) {
            return Err(DomainError::Forbidden(format!("{} is not allowed for the {}", command.op(), role.as_str())));
        }
        if self.phase == Phase::Ended {
            return Err(DomainError::Closed("the session has ended".into()));
        }
        let last = self.definition.agenda.len() - 1;
        match command {
            Command::AgendaNext => match self.current {
                None => Ok(self.move_to(0, now)),
                Some(i) if i >= last => {
                    Err(DomainError::Conflict("this is the last agenda item; end the session instead".into()))
                }
                Some(i) => Ok(self.move_to(i + 1, now)),
            },
            Command::AgendaPrev => match self.current {
                None => Err(DomainError::Conflict("the session has not started".into())),
                Some(0) => Err(DomainError::Conflict("this is the first agenda item".into())),
                Some(i) => Ok(self.move_to(i - 1, now)),
            },
            Command::AgendaGoto { item } => {
                if *item > last {
                    Err(DomainError::NotFound(format!("there is no agenda item {item}; items are 0 to {last}")))
                } else if self.current == Some(*item) {
                    Err(DomainError::Conflict(format!("agenda item {item} is already current")))
                } else {
                    Ok(self.move_to(*item, now))
                }
            }
            Command::QaOpen if self.qa_open => Err(DomainError::Conflict("questions are already open".into())),
            Command::QaOpen => Ok(vec![Event::QaOpened]),
            Command::QaClose if !self.qa_open => Err(DomainError::Conflict("questions are already closed".into())),
            Command::QaClose => Ok(vec![Event::QaClosed]),
            Command::SessionEnd => {
                let mut events = Vec::new();
                if self.qa_open {
                    events.push(Event::QaClosed);
                }
                events.push(Event::SessionEnded {
                    at: now,
                    item: self.current,
                    item_spent_seconds: self.current.map(|i| self.spent_after_leaving(i, now) / 1000),
                });
                Ok(events)
            }
        }
    }

    fn spent_after_leaving(&self, item: usize, now: Millis) -> u64 {
        let running = self.since.map(|s| u64::try_from(now.saturating_sub(s)).unwrap_or(0)).unwrap_or(0);
        self.spent_ms.get(item).copied().unwrap_or(0) + running
    }

    /// The events of making `to` the current item: starting the session if needed, and
    /// opening or closing questions when entering or leaving a debate.
    fn move_to(&self, to: usize, now: Millis) -> Vec<Event> {
        let mut events = Vec::new();
        if self.phase == Phase::Pending {
            events.push(Event::SessionStarted { at: now });
        }
        let is_debate = |i: usize| self.definition.agenda[i].kind == ItemKind::Debate;
        if self.qa_open && self.current.is_some_and(is_debate) && !is_debate(to) {
            events.push(Event::QaClosed);
        }
        events.push(Event::AgendaMoved {
            current: to,
            previous: self.current,
            previous_spent_seconds: self.current.map(|i| self.spent_after_leaving(i, now) / 1000),
            at: now,
        });
        if !self.qa_open && is_debate(to) {
            events.push(Event::QaOpened);
        }
        events
    }

    /// Folds one event into the state. Events are facts: applying one cannot fail.
    fn apply(&mut self, event: &Event) {
        match event {
            Event::SessionStarted { at } => {
                self.phase = Phase::Running;
                self.started_at = Some(*at);
            }
            Event::AgendaMoved { current, previous, at, .. } => {
                if let Some(p) = previous {
                    let total = self.spent_after_leaving(*p, *at);
                    if let Some(slot) = self.spent_ms.get_mut(*p) {
                        *slot = total;
                    }
                }
                self.current = Some(*current);
                self.since = Some(*at);
            }
            Event::QaOpened => self.qa_open = true,
            Event::QaClosed => self.qa_open = false,
            Event::SessionEnded { at, item, .. } => {
                if let Some(i) = item {
                    let total = self.spent_after_leaving(*i, *at);
                    if let Some(slot) = self.spent_ms.get_mut(*i) {
                        *slot = total;
                    }
                }
                self.phase = Phase::Ended;
                self.ended_at = Some(*at);
                self.since = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::definition::{AgendaItemDef, Settings};

    fn session(kinds: &[ItemKind]) -> Session {
        let agenda = kinds
            .iter()
            .enumerate()
            .map(|(i, k)| AgendaItemDef { title: format!("Item {i}"), kind: *k, minutes: 10, speakers: vec![] })
            .collect();
        let def = SessionDefinition {
            title: "T".into(),
            reference: None,
            venue: None,
            starts_at: None,
            ends_at: None,
            languages: vec![],
            agenda,
            drafts: vec![],
            settings: Settings::default(),
        };
        Session::new("s".into(), "ABCDEF".into(), def, 0)
    }

    fn kinds(events: &[Sequenced]) -> Vec<&'static str> {
        events.iter().map(|e| e.event.kind()).collect()
    }

    const M: Role = Role::Moderator;

    #[test]
    fn the_first_next_starts_the_session_on_the_first_item() {
        let mut s = session(&[ItemKind::Intro, ItemKind::Presentation]);
        let events = s.handle(M, &Command::AgendaNext, 1_000).expect("ok");
        assert_eq!(kinds(&events), ["session.started", "agenda.moved"]);
        assert_eq!((s.phase, s.current, s.seq), (Phase::Running, Some(0), 2));
        assert_eq!(events.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2]);
    }

    #[test]
    fn time_on_an_item_adds_up_over_each_visit() {
        let mut s = session(&[ItemKind::Intro, ItemKind::Presentation]);
        s.handle(M, &Command::AgendaNext, 0).expect("ok");
        s.handle(M, &Command::AgendaNext, 60_000).expect("ok");
        s.handle(M, &Command::AgendaPrev, 90_000).expect("ok");
        let ev = s.handle(M, &Command::AgendaNext, 120_000).expect("ok");
        assert_eq!(s.spent_seconds(0), 90);
        assert_eq!(
            ev[0].event,
            Event::AgendaMoved { current: 1, previous: Some(0), previous_spent_seconds: Some(90), at: 120_000 }
        );
        s.handle(M, &Command::SessionEnd, 150_000).expect("ok");
        assert_eq!(s.spent_seconds(1), 60);
    }

    #[test]
    fn entering_a_debate_opens_questions_and_leaving_it_closes_them() {
        let mut s = session(&[ItemKind::Presentation, ItemKind::Debate, ItemKind::Adoption]);
        s.handle(M, &Command::AgendaNext, 0).expect("ok");
        let ev = s.handle(M, &Command::AgendaNext, 1).expect("ok");
        assert_eq!(kinds(&ev), ["agenda.moved", "qa.opened"]);
        assert!(s.qa_open);
        let ev = s.handle(M, &Command::AgendaNext, 2).expect("ok");
        assert_eq!(kinds(&ev), ["qa.closed", "agenda.moved"]);
        assert!(!s.qa_open);
    }

    #[test]
    fn questions_opened_by_hand_stay_open_between_non_debate_items() {
        let mut s = session(&[ItemKind::Presentation, ItemKind::Presentation]);
        s.handle(M, &Command::AgendaNext, 0).expect("ok");
        s.handle(M, &Command::QaOpen, 1).expect("ok");
        let ev = s.handle(M, &Command::AgendaNext, 2).expect("ok");
        assert_eq!(kinds(&ev), ["agenda.moved"]);
        assert!(s.qa_open);
    }

    #[test]
    fn moves_past_either_end_are_conflicts_and_change_nothing() {
        let mut s = session(&[ItemKind::Intro]);
        assert!(matches!(s.handle(M, &Command::AgendaPrev, 0), Err(DomainError::Conflict(_))));
        s.handle(M, &Command::AgendaNext, 0).expect("ok");
        let before = s.clone();
        assert!(matches!(s.handle(M, &Command::AgendaNext, 1), Err(DomainError::Conflict(_))));
        assert!(matches!(s.handle(M, &Command::AgendaPrev, 1), Err(DomainError::Conflict(_))));
        assert!(matches!(s.handle(M, &Command::AgendaGoto { item: 1 }, 1), Err(DomainError::NotFound(_))));
        assert_eq!(s, before);
    }

    #[test]
    fn only_the_moderator_moves_the_agenda() {
        let mut s = session(&[ItemKind::Intro]);
        for role in [Role::Participant, Role::Screen, Role::Rapporteur] {
            assert!(matches!(s.handle(role, &Command::AgendaNext, 0), Err(DomainError::Forbidden(_))));
        }
        assert_eq!(s.seq, 0);
    }

    #[test]
    fn an_ended_session_refuses_every_command() {
        let mut s = session(&[ItemKind::Debate, ItemKind::Other]);
        s.handle(M, &Command::AgendaGoto { item: 0 }, 0).expect("ok");
        let ev = s.handle(M, &Command::SessionEnd, 5_000).expect("ok");
        assert_eq!(kinds(&ev), ["qa.closed", "session.ended"]);
        assert_eq!(s.phase, Phase::Ended);
        for cmd in [Command::AgendaNext, Command::QaOpen, Command::SessionEnd] {
            assert!(matches!(s.handle(M, &cmd, 6_000), Err(DomainError::Closed(_))));
        }
    }
}
