//! The agenda: its items (each with a stable id, changed live by the moderator for items not
//! yet held), where the room stands (phase, current item, time spent per item) and whether
//! questions are open. Moves start the session, and entering or leaving a debate item opens or
//! closes questions.

use super::definition::{AgendaItemDef, ItemKind, MAX_AGENDA_ITEMS};
use super::localized::Localized;
use super::{DomainError, Millis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Pending,
    Running,
    Ended,
}

/// One agenda item as it now stands: what the organiser planned (or the moderator changed),
/// under an id that stays the same whatever moves around it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub id: String,
    #[serde(flatten)]
    pub def: AgendaItemDef,
    /// Milliseconds spent on it, summed over every time it was current.
    #[serde(default)]
    pub spent_ms: u64,
    /// Whether it has been current: a held item is neither moved nor removed.
    #[serde(default)]
    pub held: bool,
}

/// The agenda's part of the state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agenda {
    pub items: Vec<Item>,
    pub phase: Phase,
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub current: Option<usize>,
    /// When the current item became current.
    pub since: Option<Millis>,
    pub qa_open: bool,
}

/// The fields of an item that `agenda.update` changes (the others are kept).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemChanges {
    pub title: Option<Localized>,
    pub kind: Option<ItemKind>,
    pub minutes: Option<u32>,
    pub speakers: Option<Vec<Localized>>,
    /// `Some(None)`: back to the session's default.
    pub turn_seconds: Option<Option<u32>>,
}

/// An item named by a command: by its id, or by its place now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemRef {
    Id(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgendaCommand {
    Next,
    Prev,
    Goto {
        item: usize,
    },
    QaOpen,
    QaClose,
    SessionEnd,
    /// `id` made by the caller from the command id.
    Insert {
        id: String,
        at: usize,
        item: AgendaItemDef,
    },
    Update {
        item: ItemRef,
        changes: ItemChanges,
    },
    Move {
        item: ItemRef,
        to: usize,
    },
    Remove {
        item: ItemRef,
    },
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
            AgendaCommand::Insert { .. } => "agenda.insert",
            AgendaCommand::Update { .. } => "agenda.update",
            AgendaCommand::Move { .. } => "agenda.move",
            AgendaCommand::Remove { .. } => "agenda.remove",
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
        /// The ids of the items at `current` and `previous`.
        #[serde(default)]
        item: String,
        #[serde(default)]
        previous_item: Option<String>,
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
        #[serde(default)]
        item_id: Option<String>,
    },
    /// A new item at `at` (those from `at` on move down one place).
    #[serde(rename = "agenda.item_inserted")]
    ItemInserted { item: ItemView, at: usize },
    /// An item's new planned fields (its time and place are unchanged).
    #[serde(rename = "agenda.item_updated")]
    ItemUpdated { item: ItemView },
    #[serde(rename = "agenda.item_moved")]
    ItemMoved { item: String, from: usize, to: usize },
    #[serde(rename = "agenda.item_removed")]
    ItemRemoved { item: String, from: usize },
}

/// An item's planned fields with its id, as events carry them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemView {
    pub id: String,
    #[serde(flatten)]
    pub def: AgendaItemDef,
}

impl AgendaEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            AgendaEvent::SessionStarted { .. } => "session.started",
            AgendaEvent::Moved { .. } => "agenda.moved",
            AgendaEvent::QaOpened => "qa.opened",
            AgendaEvent::QaClosed => "qa.closed",
            AgendaEvent::SessionEnded { .. } => "session.ended",
            AgendaEvent::ItemInserted { .. } => "agenda.item_inserted",
            AgendaEvent::ItemUpdated { .. } => "agenda.item_updated",
            AgendaEvent::ItemMoved { .. } => "agenda.item_moved",
            AgendaEvent::ItemRemoved { .. } => "agenda.item_removed",
        }
    }
}

impl Agenda {
    /// The agenda of a definition: its items get the ids `a1`, `a2`…
    pub fn new(items: &[AgendaItemDef]) -> Self {
        Self {
            items: items
                .iter()
                .enumerate()
                .map(|(i, def)| Item { id: format!("a{}", i + 1), def: def.clone(), spent_ms: 0, held: false })
                .collect(),
            phase: Phase::Pending,
            started_at: None,
            ended_at: None,
            current: None,
            since: None,
            qa_open: false,
        }
    }

    pub fn spent_seconds(&self, item: usize) -> u64 {
        self.items.get(item).map_or(0, |i| i.spent_ms) / 1000
    }

    /// Speaking time per turn now: the current item's, else `default`.
    pub fn turn_seconds(&self, default: u32) -> u32 {
        self.current.and_then(|i| self.items.get(i)).and_then(|i| i.def.turn_seconds).unwrap_or(default)
    }

    /// The place of the item `r` names.
    fn find(&self, r: &ItemRef) -> Result<usize, DomainError> {
        match r {
            ItemRef::Id(id) => self.items.iter().position(|i| &i.id == id).ok_or_else(|| {
                DomainError::NotFound(format!("there is no agenda item {}", super::questions::shown(id)))
            }),
            ItemRef::Index(i) if *i < self.items.len() => Ok(*i),
            ItemRef::Index(i) => Err(DomainError::NotFound(format!("there is no agenda item {i}"))),
        }
    }

    /// The place of the item `r` names, if it may still be moved or removed.
    fn find_unheld(&self, r: &ItemRef, what: &str) -> Result<usize, DomainError> {
        let at = self.find(r)?;
        if self.items[at].held {
            return Err(DomainError::Conflict(format!("this item has been held: it cannot be {what}")));
        }
        Ok(at)
    }

    /// Decides one of the live changes of the agenda (`languages`: the session's).
    fn decide_change(&self, command: &AgendaCommand, languages: &[String]) -> Result<AgendaEvent, DomainError> {
        let check = |def: &AgendaItemDef| -> Result<(), DomainError> {
            def.title.check_languages(languages)?;
            def.speakers.iter().try_for_each(|s| s.check_languages(languages))
        };
        Ok(match command {
            AgendaCommand::Insert { id, at, item } => {
                if self.items.iter().any(|i| &i.id == id) {
                    return Err(DomainError::Conflict("that item id is taken; send it again with a new id".into()));
                }
                if self.items.len() >= MAX_AGENDA_ITEMS {
                    return Err(DomainError::Conflict(format!("an agenda holds at most {MAX_AGENDA_ITEMS} items")));
                }
                if *at > self.items.len() {
                    return Err(DomainError::Invalid(format!("at is 0 to {}", self.items.len())));
                }
                check(item)?;
                AgendaEvent::ItemInserted { item: ItemView { id: id.clone(), def: item.clone() }, at: *at }
            }
            AgendaCommand::Update { item, changes } => {
                let at = self.find(item)?;
                let mut def = self.items[at].def.clone();
                if let Some(t) = &changes.title {
                    def.title = t.clone();
                }
                if let Some(k) = changes.kind {
                    def.kind = k;
                }
                if let Some(m) = changes.minutes {
                    def.minutes = m;
                }
                if let Some(s) = &changes.speakers {
                    def.speakers = s.clone();
                }
                if let Some(t) = changes.turn_seconds {
                    def.turn_seconds = t;
                }
                if def == self.items[at].def {
                    return Err(DomainError::Conflict("nothing changes".into()));
                }
                check(&def)?;
                AgendaEvent::ItemUpdated { item: ItemView { id: self.items[at].id.clone(), def } }
            }
            AgendaCommand::Move { item, to } => {
                let from = self.find_unheld(item, "moved")?;
                if *to >= self.items.len() {
                    return Err(DomainError::Invalid(format!("to is 0 to {}", self.items.len() - 1)));
                }
                if *to == from {
                    return Err(DomainError::Conflict("the item is already there".into()));
                }
                AgendaEvent::ItemMoved { item: self.items[from].id.clone(), from, to: *to }
            }
            AgendaCommand::Remove { item } => {
                let from = self.find_unheld(item, "removed")?;
                if self.items.len() == 1 {
                    return Err(DomainError::Conflict("an agenda keeps at least one item".into()));
                }
                AgendaEvent::ItemRemoved { item: self.items[from].id.clone(), from }
            }
            _ => return Err(DomainError::Invalid("not an agenda change".into())),
        })
    }

    pub fn decide(
        &self,
        command: &AgendaCommand,
        languages: &[String],
        now: Millis,
    ) -> Result<Vec<AgendaEvent>, DomainError> {
        let last = self.items.len().saturating_sub(1);
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
                    item_id: self.current.map(|i| self.items[i].id.clone()),
                });
                Ok(events)
            }
            AgendaCommand::Insert { .. }
            | AgendaCommand::Update { .. }
            | AgendaCommand::Move { .. }
            | AgendaCommand::Remove { .. } => Ok(vec![self.decide_change(command, languages)?]),
        }
    }

    fn spent_after_leaving(&self, item: usize, now: Millis) -> u64 {
        let running = self.since.map(|s| u64::try_from(now.saturating_sub(s)).unwrap_or(0)).unwrap_or(0);
        self.items.get(item).map_or(0, |i| i.spent_ms) + running
    }

    fn is_debate(&self, i: usize) -> bool {
        self.items.get(i).is_some_and(|p| p.def.kind == ItemKind::Debate)
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
            item: self.items[to].id.clone(),
            previous_item: self.current.map(|i| self.items[i].id.clone()),
        });
        if !self.qa_open && self.is_debate(to) {
            events.push(AgendaEvent::QaOpened);
        }
        events
    }

    fn settle(&mut self, item: usize, at: Millis) {
        let total = self.spent_after_leaving(item, at);
        if let Some(slot) = self.items.get_mut(item) {
            slot.spent_ms = total;
        }
    }

    /// Changes the list of items with `change`, the current item staying current wherever it
    /// lands.
    fn reshape(&mut self, change: impl FnOnce(&mut Vec<Item>)) {
        let current = self.current.and_then(|i| self.items.get(i)).map(|i| i.id.clone());
        change(&mut self.items);
        self.current = current.and_then(|id| self.items.iter().position(|i| i.id == id));
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
                if let Some(i) = self.items.get_mut(*current) {
                    i.held = true;
                }
            }
            AgendaEvent::ItemInserted { item, at } => self.reshape(|items| {
                let new = Item { id: item.id.clone(), def: item.def.clone(), spent_ms: 0, held: false };
                items.insert((*at).min(items.len()), new);
            }),
            AgendaEvent::ItemUpdated { item } => {
                if let Some(i) = self.items.iter_mut().find(|i| i.id == item.id) {
                    i.def = item.def.clone();
                }
            }
            AgendaEvent::ItemMoved { item, to, .. } => self.reshape(|items| {
                if let Some(from) = items.iter().position(|i| &i.id == item) {
                    let moved = items.remove(from);
                    items.insert((*to).min(items.len()), moved);
                }
            }),
            AgendaEvent::ItemRemoved { item, .. } => self.reshape(|items| items.retain(|i| &i.id != item)),
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
