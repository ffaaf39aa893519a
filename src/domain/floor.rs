//! The list of speakers: participants ask for the floor from their phones (to speak in person),
//! the moderator orders the list, gives the floor, skips, and ends each turn, which is timed
//! against the current agenda item's speaking time.

use super::{Actor, DomainError, Millis, Role};
use serde::{Deserialize, Serialize};

/// Requests the list of speakers holds at most.
pub const MAX_QUEUE: usize = 200;
/// Finished turns kept for the record.
const MAX_HISTORY: usize = 1000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub id: String,
    /// Who asked (public participant id); shown to the moderator only (empty once redacted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
    pub name: String,
    pub organisation: String,
    pub at: Millis,
}

/// The turn under way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    #[serde(flatten)]
    pub request: Request,
    pub since: Millis,
    pub limit_seconds: u32,
}

/// A finished turn, for the record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    pub id: String,
    pub name: String,
    pub organisation: String,
    pub started: Millis,
    pub ended: Millis,
    pub seconds: u64,
    pub limit_seconds: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Floor {
    /// Waiting requests, in speaking order.
    pub queue: Vec<Request>,
    pub speaking: Option<Turn>,
    pub history: Vec<Held>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FloorCommand {
    /// `id` is made by the caller (from the command id, so a retry names the same request).
    Request {
        id: String,
        name: String,
        organisation: String,
    },
    Withdraw {
        request: Option<String>,
    },
    Grant {
        request: String,
    },
    Skip {
        request: String,
    },
    Move {
        request: String,
        position: usize,
    },
    End {
        request: Option<String>,
    },
}

impl FloorCommand {
    pub fn op(&self) -> &'static str {
        match self {
            FloorCommand::Request { .. } => "floor.request",
            FloorCommand::Withdraw { .. } => "floor.withdraw",
            FloorCommand::Grant { .. } => "floor.grant",
            FloorCommand::Skip { .. } => "floor.skip",
            FloorCommand::Move { .. } => "floor.move",
            FloorCommand::End { .. } => "floor.end",
        }
    }

    pub fn role(&self) -> Role {
        match self {
            FloorCommand::Request { .. } | FloorCommand::Withdraw { .. } => Role::Participant,
            _ => Role::Moderator,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum FloorEvent {
    #[serde(rename = "floor.requested")]
    Requested { request: Request },
    #[serde(rename = "floor.withdrawn")]
    Withdrawn { request: String },
    #[serde(rename = "floor.granted")]
    Granted { request: String, at: Millis, limit_seconds: u32 },
    #[serde(rename = "floor.skipped")]
    Skipped { request: String },
    #[serde(rename = "floor.moved")]
    Moved { request: String, position: usize },
    #[serde(rename = "floor.ended")]
    Ended { request: String, at: Millis, seconds: u64 },
}

impl FloorEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            FloorEvent::Requested { .. } => "floor.requested",
            FloorEvent::Withdrawn { .. } => "floor.withdrawn",
            FloorEvent::Granted { .. } => "floor.granted",
            FloorEvent::Skipped { .. } => "floor.skipped",
            FloorEvent::Moved { .. } => "floor.moved",
            FloorEvent::Ended { .. } => "floor.ended",
        }
    }

    /// The event as `role` sees it: who asked is the moderator's to know.
    pub fn for_role(&self, role: Role) -> FloorEvent {
        match self {
            FloorEvent::Requested { request } if role != Role::Moderator => {
                FloorEvent::Requested { request: Request { by: String::new(), ..request.clone() } }
            }
            other => other.clone(),
        }
    }
}

/// What the floor's rules need from the rest of the session.
pub struct Context {
    pub qa_open: bool,
    /// Speaking time per turn for the current agenda item.
    pub turn_seconds: u32,
}

fn not_in_list(id: &str) -> DomainError {
    DomainError::NotFound(format!("request {} is not in the list of speakers", super::questions::shown(id)))
}

impl Floor {
    fn position(&self, id: &str) -> Result<usize, DomainError> {
        self.queue.iter().position(|r| r.id == id).ok_or_else(|| not_in_list(id))
    }

    /// The events that end the turn under way, if there is one.
    pub fn end_turn(&self, now: Millis) -> Option<FloorEvent> {
        self.speaking.as_ref().map(|t| FloorEvent::Ended {
            request: t.request.id.clone(),
            at: now,
            seconds: u64::try_from(now.saturating_sub(t.since)).unwrap_or(0) / 1000,
        })
    }

    pub fn decide(
        &self,
        ctx: &Context,
        actor: &Actor,
        command: &FloorCommand,
        now: Millis,
    ) -> Result<Vec<FloorEvent>, DomainError> {
        Ok(match command {
            FloorCommand::Request { id, name, organisation } => {
                let by = actor
                    .participant
                    .clone()
                    .ok_or_else(|| DomainError::Forbidden("only participants ask for the floor".into()))?;
                if !ctx.qa_open {
                    return Err(DomainError::Closed("the list of speakers is open during the debate".into()));
                }
                if self.queue.iter().any(|r| r.by == by) {
                    return Err(DomainError::Conflict("you are already in the list of speakers".into()));
                }
                if self.speaking.as_ref().is_some_and(|t| t.request.by == by) {
                    return Err(DomainError::Conflict("you have the floor".into()));
                }
                let taken = self.queue.iter().any(|r| &r.id == id)
                    || self.speaking.as_ref().is_some_and(|t| &t.request.id == id)
                    || self.history.iter().any(|h| &h.id == id);
                if taken {
                    return Err(DomainError::Conflict("that request id is taken; send it again with a new id".into()));
                }
                if self.queue.len() >= MAX_QUEUE {
                    return Err(DomainError::Conflict("the list of speakers is full".into()));
                }
                let request =
                    Request { id: id.clone(), by, name: name.clone(), organisation: organisation.clone(), at: now };
                vec![FloorEvent::Requested { request }]
            }
            FloorCommand::Withdraw { request } => {
                let mine = |r: &&Request| actor.participant.as_deref() == Some(r.by.as_str());
                let found = match request {
                    Some(id) => self.queue.iter().filter(mine).find(|r| &r.id == id),
                    None => self.queue.iter().find(mine),
                };
                let r = found.ok_or_else(|| DomainError::NotFound("you are not in the list of speakers".into()))?;
                vec![FloorEvent::Withdrawn { request: r.id.clone() }]
            }
            FloorCommand::Grant { request } => {
                self.position(request)?;
                let mut events: Vec<FloorEvent> = self.end_turn(now).into_iter().collect();
                events.push(FloorEvent::Granted { request: request.clone(), at: now, limit_seconds: ctx.turn_seconds });
                events
            }
            FloorCommand::Skip { request } => {
                self.position(request)?;
                vec![FloorEvent::Skipped { request: request.clone() }]
            }
            FloorCommand::Move { request, position } => {
                let from = self.position(request)?;
                let to = (*position).min(self.queue.len() - 1);
                if from == to {
                    return Err(DomainError::Conflict("the request is already at that place".into()));
                }
                vec![FloorEvent::Moved { request: request.clone(), position: to }]
            }
            FloorCommand::End { request } => {
                let turn =
                    self.speaking.as_ref().ok_or_else(|| DomainError::Conflict("nobody has the floor".into()))?;
                if request.as_ref().is_some_and(|id| *id != turn.request.id) {
                    return Err(DomainError::Conflict("that request does not have the floor".into()));
                }
                self.end_turn(now).into_iter().collect()
            }
        })
    }

    fn take(&mut self, id: &str) -> Option<Request> {
        let i = self.queue.iter().position(|r| r.id == id)?;
        Some(self.queue.remove(i))
    }

    pub fn apply(&mut self, event: &FloorEvent) {
        match event {
            FloorEvent::Requested { request } => self.queue.push(request.clone()),
            FloorEvent::Withdrawn { request } | FloorEvent::Skipped { request } => {
                self.take(request);
            }
            FloorEvent::Moved { request, position } => {
                if let Some(r) = self.take(request) {
                    let at = (*position).min(self.queue.len());
                    self.queue.insert(at, r);
                }
            }
            FloorEvent::Granted { request, at, limit_seconds } => {
                if let Some(r) = self.take(request) {
                    self.speaking = Some(Turn { request: r, since: *at, limit_seconds: *limit_seconds });
                }
            }
            FloorEvent::Ended { request, at, seconds } => {
                if let Some(t) = self.speaking.take_if(|t| &t.request.id == request) {
                    self.history.push(Held {
                        id: t.request.id,
                        name: t.request.name,
                        organisation: t.request.organisation,
                        started: t.since,
                        ended: *at,
                        seconds: *seconds,
                        limit_seconds: t.limit_seconds,
                    });
                    let keep_from = self.history.len().saturating_sub(MAX_HISTORY);
                    self.history.drain(..keep_from);
                }
            }
        }
    }
}
