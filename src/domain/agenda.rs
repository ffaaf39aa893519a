//! The agenda: where the room stands (phase, current item, time spent per item) and whether
//! questions are open. Moves start the session, and entering or leaving a debate item opens or
//! closes questions.

use super::definition::ItemKind;
use super::{DomainError, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Ended,
}

/// What the rules need to know of an agenda item (its texts stay in the definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemPlan {
    pub kind: ItemKind,
    /// Speaking time per turn in the list of speakers during this item.
    pub turn_seconds: u32,
}

/// The agenda's part of the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agenda {
    pub plan: Vec<ItemPlan>,
    pub phase: Phase,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub current: Option<usize>,
    /// When the current item became current.
    pub since: Option<Millis>,
    /// Milliseconds spent on each item, summed over every time it was current.
    pub spent_ms: Vec<u64>,
    pub qa_open: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgendaCommand {
    Next,
    Prev,
    Goto { item: usize },
    QaOpen,
    QaClose,
    SessionEnd,
}

impl AgendaCommand {
    pub fn op(&self) -> &'static str {
        match self {
            AgendaCommand::Next => "agenda.next",
            AgendaCommand::Prev => "agenda.prev",
            AgendaCommand::Goto { .. } => "agenda.goto",
            AgendaCommand::QaOpen => "qa.open",
            AgendaCommand::QaClose => "qa.close",
            AgendaCommand::SessionEnd => "session.end",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum AgendaEvent {
    #[serde(rename = "session.started")]
    SessionStarted { at: Millis },
    #[serde(rename = "agenda.moved")]
    Moved {
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

impl AgendaEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AgendaEvent::SessionStarted { .. } => "session.started",
            AgendaEvent::Moved { .. } => "agenda.moved",
            AgendaEvent::QaOpened => "qa.opened",
            AgendaEvent::QaClosed => "qa.closed",
            AgendaEvent::SessionEnded { .. } => "session.ended",
        }
    }
}

impl Agenda {
    pub fn new(plan: Vec<ItemPlan>) -> Self {
        Self {
            spent_ms: vec![0; plan.len()],
            plan,
            phase: Phase::Pending,
            started_at: None,
            ended_at: None,
            current: None,
            since: None,
            qa_open: false,
        }
    }

    pub fn spent_seconds(&self, item: usize) -> u64 {
        self.spent_ms.get(item).copied().unwrap_or(0) / 1000
    }

    /// Speaking time per turn now: the current item's.
    pub fn turn_seconds(&self, default: u32) -> u32 {
        self.current.and_then(|i| self.plan.get(i)).map_or(default, |p| p.turn_seconds)
    }

    pub fn decide(&self, command: &AgendaCommand, now: Millis) -> Result<Vec<AgendaEvent>, DomainError> {
        let last = self.plan.len().saturating_sub(1);
        match command {
            AgendaCommand::Next => match self.current {
                None => Ok(self.move_to(0, now)),
                Some(i) if i >= last => {
                    Err(DomainError::Conflict("this is the last agenda item; end the session instead".into()))
                }
                Some(i) => Ok(self.move_to(i + 1, now)),
            },
            AgendaCommand::Prev => match self.current {
                None => Err(DomainError::Conflict("the session has not started".into())),
                Some(0) => Err(DomainError::Conflict("this is the first agenda item".into())),
                Some(i) => Ok(self.move_to(i - 1, now)),
            },
            AgendaCommand::Goto { item } => {
                if *item > last {
                    Err(DomainError::NotFound(format!("there is no agenda item {item}; items are 0 to {last}")))
                } else if self.current == Some(*item) {
                    Err(DomainError::Conflict(format!("agenda item {item} is already current")))
                } else {
                    Ok(self.move_to(*item, now))
                }
            }
            AgendaCommand::QaOpen if self.qa_open => Err(DomainError::Conflict("questions are already open".into())),
            AgendaCommand::QaOpen => Ok(vec![AgendaEvent::QaOpened]),
            AgendaCommand::QaClose if !self.qa_open => {
                Err(DomainError::Conflict("questions are already closed".into()))
            }
            AgendaCommand::QaClose => Ok(vec![AgendaEvent::QaClosed]),
            AgendaCommand::SessionEnd => {
                let mut events = Vec::new();
                if self.qa_open {
                    events.push(AgendaEvent::QaClosed);
                }
                events.push(AgendaEvent::SessionEnded {
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

    fn is_debate(&self, i: usize) -> bool {
        self.plan.get(i).is_some_and(|p| p.kind == ItemKind::Debate)
    }

    /// The events of making `to` the current item: starting the session if needed, and
    /// opening or closing questions when entering or leaving a debate.
    fn move_to(&self, to: usize, now: Millis) -> Vec<AgendaEvent> {
        let mut events = Vec::new();
        if self.phase == Phase::Pending {
            events.push(AgendaEvent::SessionStarted { at: now });
        }
        if self.qa_open && self.current.is_some_and(|i| self.is_debate(i)) && !self.is_debate(to) {
            events.push(AgendaEvent::QaClosed);
        }
        events.push(AgendaEvent::Moved {
            current: to,
            previous: self.current,
            previous_spent_seconds: self.current.map(|i| self.spent_after_leaving(i, now) / 1000),
            at: now,
        });
        if !self.qa_open && self.is_debate(to) {
            events.push(AgendaEvent::QaOpened);
        }
        events
    }

    fn settle(&mut self, item: usize, at: Millis) {
        let total = self.spent_after_leaving(item, at);
        if let Some(slot) = self.spent_ms.get_mut(item) {
            *slot = total;
        }
    }

    /// Folds one event in. Events are facts: applying one cannot fail.
    pub fn apply(&mut self, event: &AgendaEvent) {
        match event {
            AgendaEvent::SessionStarted { at } => {
                self.phase = Phase::Running;
                self.started_at = Some(*at);
            }
            AgendaEvent::Moved { current, previous, at, .. } => {
                if let Some(p) = previous {
                    self.settle(*p, *at);
                }
                self.current = Some(*current);
                self.since = Some(*at);
            }
            AgendaEvent::QaOpened => self.qa_open = true,
            AgendaEvent::QaClosed => self.qa_open = false,
            AgendaEvent::SessionEnded { at, item, .. } => {
                if let Some(i) = item {
                    self.settle(*i, *at);
                }
                self.phase = Phase::Ended;
                self.ended_at = Some(*at);
                self.since = None;
            }
        }
    }
}
