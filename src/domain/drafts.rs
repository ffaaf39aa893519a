//! The draft texts' wording: every version kept (who, when, the text), edited by the rapporteur
//! or the moderator while a text is still a draft, new texts drafted during the session, and
//! texts withdrawn. Where a draft stands in the vote is `votes`' and `session`'s business.

use super::definition::DraftKind;
use super::localized::Localized;
use super::{DomainError, Millis, Role};
use serde::{Deserialize, Serialize};

/// Versions one text keeps at most.
pub const MAX_VERSIONS: usize = 100;
/// Drafts one session holds at most (with those of the definition).
pub const MAX_DRAFTS: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Version {
    pub version: u32,
    pub at: Millis,
    /// Who wrote it (the definition's text is the organiser's: `None`).
    pub role: Option<Role>,
    /// The whole text of this version.
    pub text: Localized,
    /// The language this version changed (`None`: the whole text).
    #[serde(default)]
    pub lang: Option<String>,
}

/// One text's title and versions, the last being current.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftText {
    pub title: Localized,
    pub versions: Vec<Version>,
}

impl DraftText {
    pub fn new(title: Localized, text: Localized, at: Millis, role: Option<Role>) -> Self {
        Self { title, versions: vec![Version { version: 1, at, role, text, lang: None }] }
    }

    pub fn text(&self) -> &Localized {
        self.versions.last().map_or(&super::localized::EMPTY, |v| &v.text)
    }

    pub fn version(&self) -> u32 {
        self.versions.last().map_or(1, |v| v.version)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DraftCommand {
    /// `lang`: the language whose wording changes (`None`: the whole text).
    Edit {
        draft: String,
        text: String,
        lang: Option<String>,
    },
    /// `id` made by the caller from the command id.
    Create {
        id: String,
        kind: DraftKind,
        title: Localized,
        text: Localized,
    },
    Withdraw {
        draft: String,
    },
}

impl DraftCommand {
    pub fn op(&self) -> &'static str {
        match self {
            DraftCommand::Edit { .. } => "draft.edit",
            DraftCommand::Create { .. } => "draft.create",
            DraftCommand::Withdraw { .. } => "draft.withdraw",
        }
    }

    pub fn draft(&self) -> &str {
        match self {
            DraftCommand::Edit { draft, .. } | DraftCommand::Withdraw { draft } => draft,
            DraftCommand::Create { id, .. } => id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind")]
pub enum DraftEvent {
    #[serde(rename = "draft.edited")]
    /// `text`: the whole new text; `lang`: the language that changed.
    Edited { draft: String, version: u32, text: Localized, lang: Option<String>, at: Millis, role: Role },
    #[serde(rename = "draft.created")]
    Created { draft: String, draft_kind: DraftKind, title: Localized, text: Localized, at: Millis, role: Role },
    #[serde(rename = "draft.withdrawn")]
    Withdrawn { draft: String, at: Millis },
}

impl DraftEvent {
    pub fn kind(&self) -> &'static str {
        match self {
            DraftEvent::Edited { .. } => "draft.edited",
            DraftEvent::Created { .. } => "draft.created",
            DraftEvent::Withdrawn { .. } => "draft.withdrawn",
        }
    }
}

/// What a draft command needs to know of the session besides the text it touches.
pub struct Context<'a> {
    /// Whether the draft's status lets it change (a draft: not being voted on, adopted,
    /// rejected or withdrawn).
    pub open: Result<(), DomainError>,
    /// Drafts the session holds.
    pub drafts: usize,
    /// The session's languages.
    pub languages: &'a [String],
    pub role: Role,
    pub now: Millis,
}

/// Decides a command on `existing` (the draft's wording, if there is such a draft).
pub fn decide(
    command: &DraftCommand,
    existing: Option<&DraftText>,
    cx: Context<'_>,
) -> Result<DraftEvent, DomainError> {
    let Context { open, drafts, languages, role, now } = cx;
    match command {
        DraftCommand::Edit { draft, text, lang } => {
            open?;
            let current = existing.ok_or_else(|| DomainError::NotFound("there is no such draft".into()))?;
            let text = current.text().with(lang.as_deref(), text.clone(), languages)?;
            if *current.text() == text {
                return Err(DomainError::Conflict("the text is unchanged".into()));
            }
            if current.versions.len() >= MAX_VERSIONS {
                return Err(DomainError::Conflict(format!("a text keeps at most {MAX_VERSIONS} versions")));
            }
            Ok(DraftEvent::Edited {
                draft: draft.clone(),
                version: current.version() + 1,
                text,
                lang: lang.clone(),
                at: now,
                role,
            })
        }
        DraftCommand::Create { id, kind, title, text } => {
            if existing.is_some() {
                return Err(DomainError::Conflict("that draft id is taken; send it again with a new id".into()));
            }
            title.check_languages(languages)?;
            text.check_languages(languages)?;
            if drafts >= MAX_DRAFTS {
                return Err(DomainError::Conflict(format!("a session holds at most {MAX_DRAFTS} drafts")));
            }
            Ok(DraftEvent::Created {
                draft: id.clone(),
                draft_kind: *kind,
                title: title.clone(),
                text: text.clone(),
                at: now,
                role,
            })
        }
        DraftCommand::Withdraw { draft } => {
            open?;
            Ok(DraftEvent::Withdrawn { draft: draft.clone(), at: now })
        }
    }
}
