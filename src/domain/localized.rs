//! A text the organiser, the moderator or the rapporteur gives in one or several of the
//! session's languages: a plain string, or texts by language (`{"fr": "…", "en": "…"}`). Views
//! and the record carry it as it was given; pages pick the viewer's language.

use super::text;
use super::DomainError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Localized {
    /// One text, whatever the language.
    One(String),
    /// Texts by language (keys from the session's `languages`), at least one.
    ByLang(BTreeMap<String, String>),
}

/// The empty text (a draft with no wording yet).
pub static EMPTY: Localized = Localized::One(String::new());

impl Default for Localized {
    fn default() -> Self {
        Localized::One(String::new())
    }
}

impl From<&str> for Localized {
    fn from(s: &str) -> Self {
        Localized::One(s.to_owned())
    }
}

impl From<String> for Localized {
    fn from(s: String) -> Self {
        Localized::One(s)
    }
}

/// Whether `tag` looks like a language tag (`fr`, `en`, `pt-br`).
pub fn is_language_tag(tag: &str) -> bool {
    (2..=8).contains(&tag.len()) && tag.chars().all(|c| c.is_ascii_lowercase() || c == '-')
}

impl Localized {
    /// The text in `lang` (a plain string is in every language).
    pub fn get(&self, lang: &str) -> Option<&str> {
        match self {
            Localized::One(s) => Some(s),
            Localized::ByLang(m) => m.get(lang).map(String::as_str),
        }
    }

    /// The text in `lang` if given, else English, else the first given: for places that show
    /// one language (logs, a voting card's heading).
    pub fn pick(&self, lang: &str) -> &str {
        match self {
            Localized::One(s) => s,
            Localized::ByLang(m) => {
                m.get(lang).or_else(|| m.get("en")).or_else(|| m.values().next()).map_or("", String::as_str)
            }
        }
    }

    /// Every language's text, joined by `sep` (in the key order).
    pub fn joined(&self, sep: &str) -> String {
        match self {
            Localized::One(s) => s.clone(),
            Localized::ByLang(m) => m.values().map(String::as_str).collect::<Vec<_>>().join(sep),
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Localized::One(s) => s.is_empty(),
            Localized::ByLang(m) => m.values().all(String::is_empty),
        }
    }

    /// The languages it is given in that `languages` does not list.
    pub fn check_languages(&self, languages: &[String]) -> Result<(), DomainError> {
        if let Localized::ByLang(m) = self {
            if let Some(bad) = m.keys().find(|k| !languages.contains(k)) {
                return Err(DomainError::Invalid(if languages.is_empty() {
                    format!("this session has no languages: give the text as a string, not by language ({bad})")
                } else {
                    format!("{bad} is not one of the session's languages ({})", languages.join(", "))
                }));
            }
        }
        Ok(())
    }

    /// This text with `new` as its wording in `lang`, or as the whole text when `lang` is
    /// `None`. A plain string edited in one language becomes texts by language, the string
    /// counting as the session's first language.
    pub fn with(&self, lang: Option<&str>, new: String, languages: &[String]) -> Result<Localized, DomainError> {
        match (lang, self) {
            (None, Localized::One(_)) => Ok(Localized::One(new)),
            (None, Localized::ByLang(_)) => {
                Err(DomainError::Invalid("this text is given by language: say which one with lang".into()))
            }
            (Some(lang), _) if !languages.iter().any(|l| l == lang) => {
                Err(DomainError::Invalid(if languages.is_empty() {
                    "this session has no languages: send the text without lang".into()
                } else {
                    format!("lang must be one of the session's languages ({})", languages.join(", "))
                }))
            }
            (Some(lang), Localized::ByLang(m)) => {
                let mut m = m.clone();
                m.insert(lang.to_owned(), new);
                Ok(Localized::ByLang(m))
            }
            (Some(lang), Localized::One(old)) => {
                let mut m = BTreeMap::new();
                if let Some(first) = languages.first().filter(|f| *f != lang && !old.is_empty()) {
                    m.insert(first.clone(), old.clone());
                }
                m.insert(lang.to_owned(), new);
                Ok(Localized::ByLang(m))
            }
        }
    }

    /// Parses a text from the wire: a string, or an object of strings by language tag, each
    /// read like [`text::parse`] (trimmed, NFC, bounded by `max` characters, no control
    /// characters but line breaks). Empty entries of an object are dropped; `None` when
    /// nothing is left.
    pub fn parse(value: &Value, what: &str, max: usize) -> Result<Option<Localized>, String> {
        let one = |raw: &str, what: &str| match text::parse(raw, what, max, true) {
            Ok(t) => Ok(Some(t)),
            Err(DomainError::Invalid(m)) if m.ends_with("is empty") => Ok(None),
            Err(e) => Err(e.to_string()),
        };
        match value {
            Value::Null => Ok(None),
            Value::String(s) => Ok(one(s, what)?.map(Localized::One)),
            Value::Object(o) => {
                if o.len() > 10 {
                    return Err(format!("{what} has more than 10 languages"));
                }
                let mut m = BTreeMap::new();
                for (k, v) in o {
                    if !is_language_tag(k) {
                        return Err(format!("{what}: {k:?} is not a language tag"));
                    }
                    let s = v.as_str().ok_or_else(|| format!("{what}.{k} must be a string"))?;
                    if let Some(t) = one(s, &format!("{what}.{k}"))? {
                        m.insert(k.clone(), t);
                    }
                }
                Ok((!m.is_empty()).then_some(Localized::ByLang(m)))
            }
            _ => Err(format!("{what} must be a string or texts by language ({{\"fr\": \"…\", \"en\": \"…\"}})")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn langs() -> Vec<String> {
        vec!["en".into(), "fr".into()]
    }

    #[test]
    fn a_text_reads_back_as_it_was_given() {
        for v in [json!("Opening"), json!({"en": "Opening", "fr": "Ouverture"}), json!({"fr": "Ouverture"})] {
            let l = Localized::parse(&v, "title", 200).expect("valid").expect("some");
            assert_eq!(serde_json::to_value(&l).expect("json"), v);
            assert_eq!(serde_json::from_value::<Localized>(v).expect("reads"), l);
        }
    }

    #[test]
    fn bad_texts_are_refused_with_their_path() {
        let err = |v: Value| Localized::parse(&v, "agenda[2].title", 10).expect_err("invalid");
        assert!(err(json!(3)).contains("agenda[2].title must be a string or texts by language"));
        assert!(err(json!({"fr": 3})).contains("agenda[2].title.fr must be a string"));
        assert!(err(json!({"FR!": "x"})).contains("not a language tag"));
        assert!(err(json!({"fr": "x".repeat(11)})).contains("agenda[2].title.fr is longer than 10"));
        assert_eq!(Localized::parse(&json!({"fr": "  "}), "t", 10), Ok(None));
    }

    #[test]
    fn editing_one_language_keeps_the_others() {
        let by = Localized::parse(&json!({"en": "A", "fr": "B"}), "t", 10).expect("ok").expect("some");
        let edited = by.with(Some("fr"), "C".into(), &langs()).expect("edits");
        assert_eq!(serde_json::to_value(&edited).expect("json"), json!({"en": "A", "fr": "C"}));
        assert!(by.with(None, "C".into(), &langs()).is_err(), "which language?");
        assert!(by.with(Some("de"), "C".into(), &langs()).is_err(), "not a session language");
    }

    #[test]
    fn a_plain_text_edited_in_one_language_counts_as_the_first_language() {
        let one = Localized::from("Text");
        let fr = one.with(Some("fr"), "Texte".into(), &langs()).expect("edits");
        assert_eq!(serde_json::to_value(&fr).expect("json"), json!({"en": "Text", "fr": "Texte"}));
        let en = one.with(Some("en"), "New".into(), &langs()).expect("edits");
        assert_eq!(serde_json::to_value(&en).expect("json"), json!({"en": "New"}));
        assert_eq!(one.with(None, "New".into(), &[]).expect("edits"), Localized::from("New"));
        assert!(one.with(Some("fr"), "x".into(), &[]).is_err());
    }

    #[test]
    fn languages_outside_the_session_are_refused() {
        let by = Localized::parse(&json!({"en": "A", "de": "B"}), "t", 10).expect("ok").expect("some");
        assert!(by.check_languages(&langs()).is_err());
        assert!(Localized::from("x").check_languages(&[]).is_ok());
        assert_eq!(by.pick("fr"), "A");
        assert_eq!(by.pick("de"), "B");
    }
}
