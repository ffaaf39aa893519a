//! A session definition: what the organiser prepared (title, agenda, draft texts, settings),
//! parsed at the edge into types that cannot hold an invalid value.

use super::localized::Localized;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

pub const MAX_TITLE: usize = 200;
pub const MAX_AGENDA_ITEMS: usize = 100;
pub const MAX_DRAFTS: usize = 100;
pub const MAX_DRAFT_TEXT: usize = 20_000;
/// Short fields (reference, venue, speaker names, draft titles): generous, but bounded.
pub const MAX_SHORT: usize = 200;
pub const MAX_SPEAKERS: usize = 20;
pub const MAX_MINUTES: u32 = 24 * 60;
/// A speaking turn in the list of speakers: the default, and the bounds of what a definition
/// may set.
pub const DEFAULT_TURN_SECONDS: u32 = 180;
pub const TURN_SECONDS: std::ops::RangeInclusive<u32> = 10..=3600;

/// The definition as it comes off the wire: every field optional, nothing trusted yet.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDefinition {
    pub title: Option<Value>,
    pub reference: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub languages: Option<Vec<String>>,
    pub agenda: Option<Vec<RawItem>>,
    pub drafts: Option<Vec<RawDraft>>,
    pub settings: Option<RawSettings>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItem {
    pub title: Option<Value>,
    pub kind: Option<String>,
    pub minutes: Option<u32>,
    pub speakers: Option<Vec<Value>>,
    pub turn_seconds: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDraft {
    pub kind: Option<String>,
    pub title: Option<Value>,
    pub text: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSettings {
    pub moderate_questions: Option<bool>,
    pub anonymous_questions: Option<bool>,
    pub voting: Option<String>,
    pub turn_seconds: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Intro,
    Presentation,
    Debate,
    Adoption,
    Other,
}

impl ItemKind {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "intro" => Self::Intro,
            "presentation" => Self::Presentation,
            "debate" => Self::Debate,
            "adoption" => Self::Adoption,
            "other" => Self::Other,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftKind {
    Resolution,
    Recommendation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VotingMode {
    Open,
    Roster,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgendaItemDef {
    pub title: Localized,
    pub kind: ItemKind,
    pub minutes: u32,
    pub speakers: Vec<Localized>,
    /// Speaking time per turn in the list of speakers during this item, when it differs from
    /// the session's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_seconds: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DraftDef {
    pub kind: DraftKind,
    pub title: Localized,
    pub text: Localized,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    pub moderate_questions: bool,
    pub anonymous_questions: bool,
    pub voting: VotingMode,
    /// Default speaking time per turn in the list of speakers.
    pub turn_seconds: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            moderate_questions: true,
            anonymous_questions: true,
            voting: VotingMode::Open,
            turn_seconds: DEFAULT_TURN_SECONDS,
        }
    }
}

/// A valid session definition. The only way to get one is [`SessionDefinition::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDefinition {
    pub title: Localized,
    pub reference: Option<String>,
    pub venue: Option<String>,
    pub starts_at: Option<String>,
    pub ends_at: Option<String>,
    pub languages: Vec<String>,
    pub agenda: Vec<AgendaItemDef>,
    pub drafts: Vec<DraftDef>,
    pub settings: Settings,
}

impl AgendaItemDef {
    /// One item from the wire (`agenda.insert`), checked as a definition's items are but for
    /// the languages of its texts (the session's rules check those).
    pub fn parse(raw: RawItem) -> Result<Self, DefinitionError> {
        let mut p = Problems(Vec::new());
        match p.item("item", raw, None) {
            Some(item) if p.0.is_empty() => Ok(item),
            _ => Err(DefinitionError(p.0)),
        }
    }
}

/// The changed fields of an item from the wire (`agenda.update`), each checked as in a
/// definition.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawItemChanges {
    pub title: Option<Value>,
    pub kind: Option<String>,
    pub minutes: Option<u32>,
    pub speakers: Option<Vec<Value>>,
    #[serde(default, deserialize_with = "explicit_null")]
    pub turn_seconds: Option<Option<u32>>,
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn explicit_null<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    Option::<u32>::deserialize(d).map(Some)
}

impl RawItemChanges {
    pub fn parse(self) -> Result<super::agenda::ItemChanges, DefinitionError> {
        let mut p = Problems(Vec::new());
        let title = self.title.and_then(|t| p.localized("title", Some(t), MAX_TITLE, true, None));
        let kind = self.kind.and_then(|k| {
            ItemKind::parse(&k).or_else(|| {
                p.0.push("kind must be one of intro, presentation, debate, adoption, other".into());
                None
            })
        });
        if self.minutes.is_some_and(|m| m > MAX_MINUTES) {
            p.0.push(format!("minutes is more than {MAX_MINUTES}"));
        }
        let speakers = self.speakers.map(|s| p.speakers("item", Some(s), None));
        if let Some(Some(t)) = self.turn_seconds {
            if !TURN_SECONDS.contains(&t) {
                p.0.push("turn_seconds must be from 10 to 3600".into());
            }
        }
        if p.0.is_empty() {
            Ok(super::agenda::ItemChanges {
                title,
                kind,
                minutes: self.minutes,
                speakers,
                turn_seconds: self.turn_seconds,
            })
        } else {
            Err(DefinitionError(p.0))
        }
    }
}

/// Every problem found in a definition, each with the path of the field, so the organiser
/// can fix them all in one go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefinitionError(pub Vec<String>);

impl fmt::Display for DefinitionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

impl std::error::Error for DefinitionError {}

impl DefinitionError {
    /// Each problem as `(path, message)`: every problem starts with the path of its field
    /// (`agenda[2].title is required` → `("agenda[2].title", "is required")`).
    pub fn fields(&self) -> Vec<(String, String)> {
        self.0
            .iter()
            .map(|p| match p.split_once(' ') {
                Some((path, rest)) => (path.trim_end_matches(':').to_owned(), rest.to_owned()),
                None => (String::new(), p.clone()),
            })
            .collect()
    }
}

struct Problems(Vec<String>);

impl Problems {
    fn text(&mut self, path: &str, value: Option<String>, max: usize, required: bool) -> Option<String> {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        match value {
            None if required => {
                self.0.push(format!("{path} is required"));
                None
            }
            None => None,
            // Read as every other text is: NFC, bounded, no control or direction-override
            // characters.
            Some(v) => match super::text::parse(&v, path, max, false) {
                Ok(v) => Some(v),
                Err(e) => {
                    self.0.push(e.to_string());
                    None
                }
            },
        }
    }

    /// An agenda item at `path` (`agenda[2]`); its texts' languages are checked against
    /// `languages` when given.
    fn item(&mut self, path: &str, item: RawItem, languages: Option<&[String]>) -> Option<AgendaItemDef> {
        let title = self.localized(&format!("{path}.title"), item.title, MAX_TITLE, true, languages);
        let kind = match item.kind.as_deref() {
            None => Some(ItemKind::Other),
            Some(k) => ItemKind::parse(k).or_else(|| {
                self.0.push(format!("{path}.kind must be one of intro, presentation, debate, adoption, other"));
                None
            }),
        };
        let minutes = item.minutes.unwrap_or(0);
        if minutes > MAX_MINUTES {
            self.0.push(format!("{path}.minutes is more than {MAX_MINUTES}"));
        }
        let speakers = self.speakers(path, item.speakers, languages);
        let turn_seconds = item.turn_seconds.filter(|t| {
            let ok = TURN_SECONDS.contains(t);
            if !ok {
                self.0.push(format!("{path}.turn_seconds must be from 10 to 3600"));
            }
            ok
        });
        match (title, kind) {
            (Some(title), Some(kind)) => Some(AgendaItemDef { title, kind, minutes, speakers, turn_seconds }),
            _ => None,
        }
    }

    fn speakers(&mut self, path: &str, raw: Option<Vec<Value>>, languages: Option<&[String]>) -> Vec<Localized> {
        let raw = raw.unwrap_or_default();
        if raw.len() > MAX_SPEAKERS {
            self.0.push(format!("{path}.speakers has more than {MAX_SPEAKERS} entries"));
        }
        raw.into_iter()
            .take(MAX_SPEAKERS)
            .enumerate()
            .filter_map(|(j, s)| self.localized(&format!("{path}.speakers[{j}]"), Some(s), MAX_SHORT, true, languages))
            .collect()
    }

    /// A text given as a string or by language (keys from `languages`, when given), each at
    /// most `max` characters.
    fn localized(
        &mut self,
        path: &str,
        value: Option<Value>,
        max: usize,
        required: bool,
        languages: Option<&[String]>,
    ) -> Option<Localized> {
        match Localized::parse(&value.unwrap_or(Value::Null), path, max) {
            Err(e) => {
                self.0.push(e);
                None
            }
            Ok(None) => {
                if required {
                    self.0.push(format!("{path} is required"));
                }
                None
            }
            Ok(Some(l)) => match languages.map_or(Ok(()), |ls| l.check_languages(ls)) {
                Ok(()) => Some(l),
                Err(e) => {
                    self.0.push(format!("{path}: {e}"));
                    None
                }
            },
        }
    }
}

impl SessionDefinition {
    pub fn parse(raw: RawDefinition) -> Result<Self, DefinitionError> {
        let mut p = Problems(Vec::new());
        let reference = p.text("reference", raw.reference, MAX_SHORT, false);
        let venue = p.text("venue", raw.venue, MAX_SHORT, false);
        let starts_at = p.text("starts_at", raw.starts_at, 64, false);
        let ends_at = p.text("ends_at", raw.ends_at, 64, false);
        let mut languages = Vec::new();
        for (i, l) in raw.languages.unwrap_or_default().into_iter().enumerate() {
            let l = l.trim().to_ascii_lowercase();
            if l.len() < 2 || l.len() > 8 || !l.chars().all(|c| c.is_ascii_alphabetic() || c == '-') {
                p.0.push(format!("languages[{i}] is not a language tag"));
            } else if !languages.contains(&l) {
                languages.push(l);
            }
        }
        if languages.len() > 10 {
            p.0.push("languages has more than 10 entries".into());
        }
        let title = p.localized("title", raw.title, MAX_TITLE, true, Some(&languages));
        let raw_agenda = raw.agenda.unwrap_or_default();
        if raw_agenda.is_empty() {
            p.0.push("agenda must have at least one item".into());
        }
        if raw_agenda.len() > MAX_AGENDA_ITEMS {
            p.0.push(format!("agenda has more than {MAX_AGENDA_ITEMS} items"));
        }
        let mut agenda = Vec::new();
        for (i, item) in raw_agenda.into_iter().take(MAX_AGENDA_ITEMS).enumerate() {
            if let Some(item) = p.item(&format!("agenda[{i}]"), item, Some(&languages)) {
                agenda.push(item);
            }
        }
        let raw_drafts = raw.drafts.unwrap_or_default();
        if raw_drafts.len() > MAX_DRAFTS {
            p.0.push(format!("drafts has more than {MAX_DRAFTS} entries"));
        }
        let mut drafts = Vec::new();
        for (i, d) in raw_drafts.into_iter().take(MAX_DRAFTS).enumerate() {
            let kind = match d.kind.as_deref() {
                Some("resolution") | None => Some(DraftKind::Resolution),
                Some("recommendation") => Some(DraftKind::Recommendation),
                Some(_) => {
                    p.0.push(format!("drafts[{i}].kind must be resolution or recommendation"));
                    None
                }
            };
            let title = p.localized(&format!("drafts[{i}].title"), d.title, MAX_TITLE, true, Some(&languages));
            let text = p.localized(&format!("drafts[{i}].text"), d.text, MAX_DRAFT_TEXT, false, Some(&languages));
            if let (Some(kind), Some(title)) = (kind, title) {
                drafts.push(DraftDef { kind, title, text: text.unwrap_or_default() });
            }
        }
        let mut settings = Settings::default();
        if let Some(s) = raw.settings {
            settings.moderate_questions = s.moderate_questions.unwrap_or(true);
            settings.anonymous_questions = s.anonymous_questions.unwrap_or(true);
            settings.voting = match s.voting.as_deref() {
                None | Some("open") => VotingMode::Open,
                Some("roster") => VotingMode::Roster,
                Some(_) => {
                    p.0.push("settings.voting must be open or roster".into());
                    VotingMode::Open
                }
            };
            match s.turn_seconds {
                Some(t) if TURN_SECONDS.contains(&t) => settings.turn_seconds = t,
                Some(_) => p.0.push("settings.turn_seconds must be from 10 to 3600".into()),
                None => {}
            }
        }
        match title {
            Some(title) if p.0.is_empty() => {
                Ok(Self { title, reference, venue, starts_at, ends_at, languages, agenda, drafts, settings })
            }
            _ => Err(DefinitionError(p.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(title: &str) -> RawItem {
        RawItem { title: Some(title.into()), kind: None, minutes: Some(5), speakers: None, turn_seconds: None }
    }

    #[test]
    fn a_title_and_one_item_are_enough() {
        let raw = RawDefinition {
            title: Some(" Plenary ".into()),
            agenda: Some(vec![item("Opening")]),
            ..Default::default()
        };
        let def = SessionDefinition::parse(raw).expect("valid");
        assert_eq!(def.title, Localized::from("Plenary"));
        assert_eq!(def.agenda[0].kind, ItemKind::Other);
        assert_eq!(def.settings, Settings::default());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let raw = RawDefinition {
            title: Some("x".repeat(201).into()),
            agenda: Some(vec![RawItem {
                title: None,
                kind: Some("party".into()),
                minutes: None,
                speakers: None,
                turn_seconds: Some(5),
            }]),
            drafts: Some(vec![RawDraft {
                kind: Some("law".into()),
                title: Some("T".into()),
                text: Some("y".repeat(20_001).into()),
            }]),
            ..Default::default()
        };
        let err = SessionDefinition::parse(raw).expect_err("invalid");
        let all = err.to_string();
        for needle in [
            "title is longer than 200",
            "agenda[0].title is required",
            "agenda[0].kind",
            "drafts[0].kind",
            "drafts[0].text is longer than 20000",
            "agenda[0].turn_seconds",
        ] {
            assert!(all.contains(needle), "{needle} missing from {all}");
        }
    }

    #[test]
    fn an_empty_agenda_is_refused() {
        let raw = RawDefinition { title: Some("T".into()), agenda: Some(vec![]), ..Default::default() };
        assert!(SessionDefinition::parse(raw).expect_err("invalid").to_string().contains("at least one item"));
    }

    #[test]
    fn more_than_a_hundred_items_are_refused() {
        let raw = RawDefinition {
            title: Some("T".into()),
            agenda: Some((0..101).map(|i| item(&format!("i{i}"))).collect()),
            ..Default::default()
        };
        assert!(SessionDefinition::parse(raw).expect_err("invalid").to_string().contains("more than 100 items"));
    }

    #[test]
    fn short_fields_are_read_like_every_other_text() {
        let raw = RawDefinition {
            title: Some("T".into()),
            venue: Some("Tan\u{202E}ger".into()),
            reference: Some("SOU e\u{301}".into()),
            agenda: Some(vec![item("Opening")]),
            ..Default::default()
        };
        let err = SessionDefinition::parse(raw).expect_err("a direction override is refused");
        assert_eq!(err.fields(), [("venue".to_owned(), "contains control characters".to_owned())]);
        let raw = RawDefinition {
            title: Some("T".into()),
            reference: Some("SOU e\u{301}".into()),
            agenda: Some(vec![item("Opening")]),
            ..Default::default()
        };
        assert_eq!(SessionDefinition::parse(raw).expect("valid").reference.as_deref(), Some("SOU \u{e9}"), "in NFC");
    }
}
