//! The audience's questions: asked from phones, moderated, highlighted on the screen,
//! answered, merged when they repeat each other. Upvotes are counted by the store (they grow
//! with the room and change too often to be events); this module decides whether one may be
//! given.

use super::text::{self, QuestionText};
use super::{Actor, DomainError, Millis, Role};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Open (pending or approved) questions one participant may have at once.
pub const MAX_OPEN_PER_PARTICIPANT: i64 = 5;
/// Open questions one session holds at most.
pub const MAX_OPEN_QUESTIONS: i64 = 500;
/// Questions one participant may ask within [`ASK_WINDOW_MS`].
pub const MAX_ASKS_PER_WINDOW: usize = 3;
pub const ASK_WINDOW_MS: Millis = 60_000;
/// Upvotes and unvotes one participant may send within [`UPVOTE_WINDOW_MS`].
pub const MAX_UPVOTES_PER_WINDOW: u64 = 30;
pub const UPVOTE_WINDOW_MS: u64 = 10_000;
/// How many of a participant's question texts are remembered to refuse the same one twice.
const REMEMBERED_TEXTS: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuestionStatus {
    Pending,
    Approved,
    Answered,
    Rejected,
    /// United with another question (`merged_into`); only its asker still sees it.
    Merged,
}

impl QuestionStatus {
    /// Pending or approved: counts against the caps on open questions.
    pub fn is_open(self) -> bool {
        matches!(self, QuestionStatus::Pending | QuestionStatus::Approved)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Question {
    pub id: String,
    /// The asker's public participant id; shown to the moderator only (empty once redacted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub by: String,
    pub name: Option<String>,
    pub text: String,
    pub status: QuestionStatus,
    pub at: Millis,
    #[serde(default)]
    pub answered_at: Option<Millis>,
    #[serde(default)]
    pub merged_into: Option<String>,
}

/// What the rules remember of one participant's asking: when they last asked, and
/// fingerprints of what they asked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asker {
    pub recent: Vec<Millis>,
    pub texts: Vec<String>,
}

/// The questions' part of the state. A store may load only the entries a command touches:
/// an absent question is then one that does not exist.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Questions {
    pub highlighted: Option<String>,
    pub items: BTreeMap<String, Question>,
    pub askers: BTreeMap<String, Asker>,
    /// Open questions in the session, and per participant.
    pub open_total: i64,
    pub open_by: BTreeMap<String, i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuestionCommand {
    /// `id` is made by the caller (from the command id, so a retry names the same question).
    Ask {
        id: String,
        text: QuestionText,
        name: Option<String>,
    },
    Upvote {
        question: String,
    },
    Unvote {
        question: String,
    },
    Approve {
        question: String,
    },
    Reject {
        question: String,
    },
    Answer {
        question: String,
    },
    Highlight {
        question: Option<String>,
    },
    Merge {
        question: String,
        into: String,
    },
}

impl QuestionCommand {
    pub fn op(&self) -> &'static str {
        match self {
            QuestionCommand::Ask { .. } => "question.ask",
            QuestionCommand::Upvote { .. } => "question.upvote",
            QuestionCommand::Unvote { .. } => "question.unvote",
            QuestionCommand::Approve { .. } => "question.approve",
            QuestionCommand::Reject { .. } => "question.reject",
            QuestionCommand::Answer { .. } => "question.answer",
            QuestionCommand::Highlight { .. } => "question.highlight",
            QuestionCommand::Merge { .. } => "question.merge",
        }
    }

    pub fn role(&self) -> Role {
        match self {
            QuestionCommand::Ask { .. } | QuestionCommand::Upvote { .. } | QuestionCommand::Unvote { .. } => {
                Role::Participant
            }
            _ => Role::Moderator,
        }
    }

    /// The questions the command reads.
    pub fn touches(&self) -> Vec<String> {
        match self {
            QuestionCommand::Ask { id, .. } => vec![id.clone()],
            QuestionCommand::Upvote { question }
            | QuestionCommand::Unvote { question }
            | QuestionCommand::Approve { question }
            | QuestionCommand::Reject { question }
            | QuestionCommand::Answer { question }
            | QuestionCommand::Highlight { question: Some(question) } => vec![question.clone()],
            QuestionCommand::Highlight { question: None } => vec![],
            QuestionCommand::Merge { question, into } => vec![question.clone(), into.clone()],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum QuestionEvent {
    #[serde(rename = "question.asked")]
    Asked { question: Question },
    /// Carries the whole question: those who could not see it pending see it now.
    #[serde(rename = "question.approved")]
    Approved { question: Question },
    #[serde(rename = "question.rejected")]
    Rejected { question: String },
    #[serde(rename = "question.answered")]
    Answered { question: String, at: Millis },
    #[serde(rename = "question.highlighted")]
    Highlighted { question: Option<String> },
    #[serde(rename = "question.merged")]
    Merged { question: String, into: String },
}

impl QuestionEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            QuestionEvent::Asked { .. } => "question.asked",
            QuestionEvent::Approved { .. } => "question.approved",
            QuestionEvent::Rejected { .. } => "question.rejected",
            QuestionEvent::Answered { .. } => "question.answered",
            QuestionEvent::Highlighted { .. } => "question.highlighted",
            QuestionEvent::Merged { .. } => "question.merged",
        }
    }

    /// The event as `role` may see it: `None` when only its kind may be shown (a pending
    /// question outside the moderator's desk); the asker's id only for the moderator.
    pub fn for_role(&self, role: Role) -> Option<QuestionEvent> {
        let redact = |q: &Question| Question { by: String::new(), ..q.clone() };
        match self {
            QuestionEvent::Asked { question }
                if question.status == QuestionStatus::Pending && matches!(role, Role::Participant | Role::Screen) =>
            {
                None
            }
            _ if role == Role::Moderator => Some(self.clone()),
            QuestionEvent::Asked { question } => Some(QuestionEvent::Asked { question: redact(question) }),
            QuestionEvent::Approved { question } => Some(QuestionEvent::Approved { question: redact(question) }),
            other => Some(other.clone()),
        }
    }
}

/// What the questions' rules need from the rest of the session.
pub struct Context {
    pub qa_open: bool,
    pub moderate: bool,
    pub anonymous: bool,
}

impl Questions {
    fn get(&self, id: &str) -> Result<&Question, DomainError> {
        self.items.get(id).ok_or_else(|| DomainError::NotFound(format!("there is no question {}", shown(id))))
    }

    /// A question a participant may see: approved, answered, or their own.
    fn visible_to(&self, id: &str, actor: &Actor) -> Result<&Question, DomainError> {
        let q = self.get(id)?;
        let own = actor.participant.as_deref() == Some(q.by.as_str());
        if matches!(q.status, QuestionStatus::Approved | QuestionStatus::Answered) || own {
            Ok(q)
        } else {
            Err(DomainError::NotFound(format!("there is no question {}", shown(id))))
        }
    }

    fn with_status(&self, id: &str, allowed: &[QuestionStatus], doing: &str) -> Result<&Question, DomainError> {
        let q = self.get(id)?;
        if allowed.contains(&q.status) {
            Ok(q)
        } else {
            Err(DomainError::Conflict(format!("cannot {doing} a question that is {}", status_name(q.status))))
        }
    }

    /// Whether `actor` may upvote (or unvote) `question` now. The count itself is the store's.
    pub fn check_vote(&self, ctx: &Context, actor: &Actor, question: &str) -> Result<(), DomainError> {
        if !ctx.qa_open {
            return Err(DomainError::Closed("questions are closed".into()));
        }
        let q = self.visible_to(question, actor)?;
        if q.status != QuestionStatus::Approved {
            return Err(DomainError::Conflict(format!("this question is {}", status_name(q.status))));
        }
        Ok(())
    }

    pub fn decide(
        &self,
        ctx: &Context,
        actor: &Actor,
        command: &QuestionCommand,
        now: Millis,
    ) -> Result<Vec<QuestionEvent>, DomainError> {
        use QuestionStatus::*;
        let unhighlight = |id: &str| {
            (self.highlighted.as_deref() == Some(id)).then_some(QuestionEvent::Highlighted { question: None })
        };
        Ok(match command {
            QuestionCommand::Ask { id, text, name } => vec![self.ask(ctx, actor, id, text, name, now)?],
            QuestionCommand::Upvote { question } | QuestionCommand::Unvote { question } => {
                self.check_vote(ctx, actor, question)?;
                vec![]
            }
            QuestionCommand::Approve { question } => {
                // A rejected question may be approved after all: a rejection by mistake is not final.
                let q = self.with_status(question, &[Pending, Rejected], "approve")?;
                vec![QuestionEvent::Approved { question: Question { status: Approved, ..q.clone() } }]
            }
            QuestionCommand::Reject { question } => {
                self.with_status(question, &[Pending, Approved], "reject")?;
                let mut events = vec![QuestionEvent::Rejected { question: question.clone() }];
                events.extend(unhighlight(question));
                events
            }
            QuestionCommand::Answer { question } => {
                self.with_status(question, &[Approved], "mark as answered")?;
                let mut events = vec![QuestionEvent::Answered { question: question.clone(), at: now }];
                events.extend(unhighlight(question));
                events
            }
            QuestionCommand::Highlight { question: Some(question) } => {
                self.with_status(question, &[Approved], "highlight")?;
                if self.highlighted.as_ref() == Some(question) {
                    return Err(DomainError::Conflict("this question is already on the screen".into()));
                }
                vec![QuestionEvent::Highlighted { question: Some(question.clone()) }]
            }
            QuestionCommand::Highlight { question: None } => {
                if self.highlighted.is_none() {
                    return Err(DomainError::Conflict("no question is on the screen".into()));
                }
                vec![QuestionEvent::Highlighted { question: None }]
            }
            QuestionCommand::Merge { question, into } => {
                if question == into {
                    return Err(DomainError::Invalid("a question cannot be merged into itself".into()));
                }
                let from = self.with_status(question, &[Pending, Approved], "merge")?;
                let target = self.with_status(into, &[Pending, Approved, Answered], "merge into")?;
                if from.status == Approved && target.status == Pending {
                    return Err(DomainError::Conflict(
                        "approve the question to merge into first: an approved question cannot go into a pending one"
                            .into(),
                    ));
                }
                let mut events = vec![QuestionEvent::Merged { question: question.clone(), into: into.clone() }];
                events.extend(unhighlight(question));
                events
            }
        })
    }

    fn ask(
        &self,
        ctx: &Context,
        actor: &Actor,
        id: &str,
        text: &QuestionText,
        name: &Option<String>,
        now: Millis,
    ) -> Result<QuestionEvent, DomainError> {
        let by = actor.participant.clone().ok_or_else(|| DomainError::Forbidden("only participants ask".into()))?;
        if !ctx.qa_open {
            return Err(DomainError::Closed("questions are closed".into()));
        }
        if name.is_none() && !ctx.anonymous {
            return Err(DomainError::Invalid("this session takes no anonymous questions: give your name".into()));
        }
        if self.items.contains_key(id) {
            return Err(DomainError::Conflict("that question id is taken; send it again with a new id".into()));
        }
        let asker = self.askers.get(&by).cloned().unwrap_or_default();
        if asker.recent.iter().filter(|t| now - **t < ASK_WINDOW_MS).count() >= MAX_ASKS_PER_WINDOW {
            return Err(DomainError::RateLimited(format!(
                "at most {MAX_ASKS_PER_WINDOW} questions a minute; wait a little"
            )));
        }
        if asker.texts.contains(&text::fingerprint(text.as_str())) {
            return Err(DomainError::Conflict("you have already asked this question".into()));
        }
        if self.open_by.get(&by).copied().unwrap_or(0) >= MAX_OPEN_PER_PARTICIPANT {
            return Err(DomainError::Conflict(format!(
                "you have {MAX_OPEN_PER_PARTICIPANT} questions waiting; wait until one is answered"
            )));
        }
        if self.open_total >= MAX_OPEN_QUESTIONS {
            return Err(DomainError::Conflict("the session has too many open questions; try again later".into()));
        }
        let status = if ctx.moderate { QuestionStatus::Pending } else { QuestionStatus::Approved };
        Ok(QuestionEvent::Asked {
            question: Question {
                id: id.to_owned(),
                by,
                name: name.clone(),
                text: text.as_str().to_owned(),
                status,
                at: now,
                answered_at: None,
                merged_into: None,
            },
        })
    }

    fn close(&mut self, id: &str) {
        let Some(q) = self.items.get(id) else { return };
        if q.status.is_open() {
            self.open_total -= 1;
            *self.open_by.entry(q.by.clone()).or_insert(0) -= 1;
        }
    }

    pub fn apply(&mut self, event: &QuestionEvent) {
        match event {
            QuestionEvent::Asked { question } => {
                let asker = self.askers.entry(question.by.clone()).or_default();
                asker.recent.push(question.at);
                let keep_from = asker.recent.len().saturating_sub(MAX_ASKS_PER_WINDOW);
                asker.recent.drain(..keep_from);
                asker.texts.push(text::fingerprint(&question.text));
                let keep_from = asker.texts.len().saturating_sub(REMEMBERED_TEXTS);
                asker.texts.drain(..keep_from);
                self.open_total += 1;
                *self.open_by.entry(question.by.clone()).or_insert(0) += 1;
                self.items.insert(question.id.clone(), question.clone());
            }
            QuestionEvent::Approved { question } => {
                if let Some(q) = self.items.get_mut(&question.id) {
                    if !q.status.is_open() {
                        self.open_total += 1;
                        *self.open_by.entry(q.by.clone()).or_insert(0) += 1;
                    }
                    q.status = QuestionStatus::Approved;
                }
            }
            QuestionEvent::Rejected { question } => {
                self.close(question);
                if let Some(q) = self.items.get_mut(question) {
                    q.status = QuestionStatus::Rejected;
                }
            }
            QuestionEvent::Answered { question, at } => {
                self.close(question);
                if let Some(q) = self.items.get_mut(question) {
                    q.status = QuestionStatus::Answered;
                    q.answered_at = Some(*at);
                }
            }
            QuestionEvent::Highlighted { question } => self.highlighted = question.clone(),
            QuestionEvent::Merged { question, into } => {
                self.close(question);
                if let Some(q) = self.items.get_mut(question) {
                    q.status = QuestionStatus::Merged;
                    q.merged_into = Some(into.clone());
                }
            }
        }
    }
}

pub fn status_name(s: QuestionStatus) -> &'static str {
    match s {
        QuestionStatus::Pending => "pending",
        QuestionStatus::Approved => "approved",
        QuestionStatus::Answered => "answered",
        QuestionStatus::Rejected => "rejected",
        QuestionStatus::Merged => "merged",
    }
}

/// An id as quoted back in a refusal: bounded, so a hostile id does not fill the message.
pub fn shown(id: &str) -> String {
    id.chars().take(40).collect()
}
