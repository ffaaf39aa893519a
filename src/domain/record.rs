//! The rapporteur's record: notes taken during the session, and the finalisation that freezes
//! it with its digest. The record itself is built from the audit trail and the state (see
//! `crate::record`); this module holds the rules of the commands that change it.

use super::{DomainError, Millis, Role};
use serde::{Deserialize, Serialize};

/// Notes one session holds at most.
pub const MAX_NOTES: u32 = 500;
/// A note's length at most.
pub const MAX_NOTE: usize = 5000;

/// The record's part of the state (small: the notes themselves are in the audit trail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    pub notes: u32,
    pub finalised: Option<Finalised>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finalised {
    pub at: Millis,
    pub digest: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordCommand {
    /// `id` made by the caller from the command id.
    Note { id: String, text: String },
    /// `digest` of the record as built when `notes` notes were taken (the caller builds it).
    Finalise { digest: String, notes: u32 },
}

impl RecordCommand {
    pub fn op(&self) -> &'static str {
        match self {
            RecordCommand::Note { .. } => "record.note",
            RecordCommand::Finalise { .. } => "record.finalise",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum RecordEvent {
    #[serde(rename = "record.noted")]
    Noted { note: String, text: String, at: Millis },
    #[serde(rename = "record.finalised")]
    Finalised { at: Millis, digest: String },
}

impl RecordEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            RecordEvent::Noted { .. } => "record.noted",
            RecordEvent::Finalised { .. } => "record.finalised",
        }
    }

    /// Notes are the record keepers' until the record is published.
    pub fn visible_to(&self, role: Role) -> bool {
        match self {
            RecordEvent::Noted { .. } => matches!(role, Role::Moderator | Role::Rapporteur),
            RecordEvent::Finalised { .. } => true,
        }
    }
}

impl RecordState {
    /// `ended`: whether the session has ended (finalising needs it).
    pub fn decide(&self, ended: bool, command: &RecordCommand, now: Millis) -> Result<Vec<RecordEvent>, DomainError> {
        if self.finalised.is_some() {
            return Err(DomainError::Closed("the record is final".into()));
        }
        Ok(match command {
            RecordCommand::Note { id, text } => {
                if self.notes >= MAX_NOTES {
                    return Err(DomainError::Conflict(format!("the record holds at most {MAX_NOTES} notes")));
                }
                vec![RecordEvent::Noted { note: id.clone(), text: text.clone(), at: now }]
            }
            RecordCommand::Finalise { digest, notes } => {
                if !ended {
                    return Err(DomainError::Conflict("end the session before finalising its record".into()));
                }
                if *notes != self.notes {
                    return Err(DomainError::Conflict("the record changed meanwhile; finalise it again".into()));
                }
                vec![RecordEvent::Finalised { at: now, digest: digest.clone() }]
            }
        })
    }

    pub fn apply(&mut self, event: &RecordEvent) {
        match event {
            RecordEvent::Noted { .. } => self.notes += 1,
            RecordEvent::Finalised { at, digest } => {
                self.finalised = Some(Finalised { at: *at, digest: digest.clone() })
            }
        }
    }
}
