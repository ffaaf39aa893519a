//! The rapporteur's record: notes taken during the session, and the finalisation that freezes
//! it with its digest. The record itself is built from the audit trail and the state (see
//! `crate::record`); this module holds the rules of the commands that change it.

use super::{DomainError, Millis, Role};
use serde::{Deserialize, Serialize};

/// Notes one session holds at most.
pub const MAX_NOTES: u32 = 500;
/// A note's length at most.
pub const MAX_NOTE: usize = 5000;

/// The record's part of the state (small: the notes' texts are in the audit trail).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordState {
    /// Notes taken so far (deleted ones included).
    pub notes: u32,
    /// The ids of the notes that stand (not deleted), in the order they were taken.
    #[serde(default)]
    pub standing: Vec<String>,
    /// Changes to the notes so far (taken, edited, deleted): what a finalisation was built on.
    #[serde(default)]
    pub changes: u32,
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
    Note {
        id: String,
        text: String,
    },
    /// A new wording for a standing note.
    EditNote {
        note: String,
        text: String,
    },
    DeleteNote {
        note: String,
    },
    /// `digest` of the record as built after `changes` changes to the notes (the caller
    /// builds it).
    Finalise {
        digest: String,
        changes: u32,
    },
}

impl RecordCommand {
    pub fn op(&self) -> &'static str {
        match self {
            RecordCommand::Note { .. } | RecordCommand::EditNote { .. } => "record.note",
            RecordCommand::DeleteNote { .. } => "record.note_delete",
            RecordCommand::Finalise { .. } => "record.finalise",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum RecordEvent {
    #[serde(rename = "record.noted")]
    Noted { note: String, text: String, at: Millis },
    #[serde(rename = "record.note_edited")]
    NoteEdited { note: String, text: String, at: Millis },
    #[serde(rename = "record.note_deleted")]
    NoteDeleted { note: String, at: Millis },
    #[serde(rename = "record.finalised")]
    Finalised { at: Millis, digest: String },
}

impl RecordEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            RecordEvent::Noted { .. } => "record.noted",
            RecordEvent::NoteEdited { .. } => "record.note_edited",
            RecordEvent::NoteDeleted { .. } => "record.note_deleted",
            RecordEvent::Finalised { .. } => "record.finalised",
        }
    }

    /// Notes are the record keepers' until the record is published.
    pub fn visible_to(&self, role: Role) -> bool {
        match self {
            RecordEvent::Noted { .. } | RecordEvent::NoteEdited { .. } | RecordEvent::NoteDeleted { .. } => {
                matches!(role, Role::Moderator | Role::Rapporteur)
            }
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
            RecordCommand::EditNote { note, text } => {
                self.standing(note)?;
                vec![RecordEvent::NoteEdited { note: note.clone(), text: text.clone(), at: now }]
            }
            RecordCommand::DeleteNote { note } => {
                self.standing(note)?;
                vec![RecordEvent::NoteDeleted { note: note.clone(), at: now }]
            }
            RecordCommand::Finalise { digest, changes } => {
                if !ended {
                    return Err(DomainError::Conflict("end the session before finalising its record".into()));
                }
                if *changes != self.changes {
                    return Err(DomainError::Conflict("the record changed meanwhile; finalise it again".into()));
                }
                vec![RecordEvent::Finalised { at: now, digest: digest.clone() }]
            }
        })
    }

    fn standing(&self, note: &str) -> Result<(), DomainError> {
        if self.standing.iter().any(|n| n == note) {
            Ok(())
        } else {
            Err(DomainError::NotFound("there is no such note (or it was deleted)".into()))
        }
    }

    pub fn apply(&mut self, event: &RecordEvent) {
        match event {
            RecordEvent::Noted { note, .. } => {
                self.notes += 1;
                self.changes += 1;
                self.standing.push(note.clone());
            }
            RecordEvent::NoteEdited { .. } => self.changes += 1,
            RecordEvent::NoteDeleted { note, .. } => {
                self.changes += 1;
                self.standing.retain(|n| n != note);
            }
            RecordEvent::Finalised { at, digest } => {
                self.finalised = Some(Finalised { at: *at, digest: digest.clone() })
            }
        }
    }
}
