//! Text typed by people in the room (questions, names, organisations), parsed at the edge:
//! trimmed, in Unicode NFC, bounded, and free of control and direction-override characters,
//! so what reaches the state is safe to store, compare and show.

use super::DomainError;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

pub const MAX_QUESTION: usize = 500;
pub const MAX_NAME: usize = 80;
pub const MAX_ORGANISATION: usize = 120;

/// A question's text: 1 to [`MAX_QUESTION`] characters, line breaks allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionText(String);

impl QuestionText {
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        parse(raw, "the question", MAX_QUESTION, true).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters that reorder or hide text on screen (bidirectional overrides and isolates):
/// a question could otherwise show something other than what was stored.
fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Parses a piece of text of at most `max` characters (after trimming, in NFC). `multiline`
/// keeps line breaks (a question); otherwise none is allowed (a name). `what` names the field
/// in the refusal.
pub fn parse(raw: &str, what: &str, max: usize, multiline: bool) -> Result<String, DomainError> {
    let text: String = raw.replace("\r\n", "\n").trim().nfc().collect();
    if text.is_empty() {
        return Err(DomainError::Invalid(format!("{what} is empty")));
    }
    let count = text.chars().count();
    if count > max {
        return Err(DomainError::Invalid(format!("{what} is longer than {max} characters ({count})")));
    }
    let bad = |c: char| (c.is_control() && !(multiline && c == '\n')) || is_direction_override(c);
    if text.chars().any(bad) {
        return Err(DomainError::Invalid(format!("{what} contains control characters")));
    }
    Ok(text)
}

/// Optional text: absent or blank is `None`.
pub fn parse_optional(raw: Option<&str>, what: &str, max: usize) -> Result<Option<String>, DomainError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) => parse(t, what, max, false).map(Some),
    }
}

/// The text as compared for "the same question again": lower case, accents and punctuation
/// dropped, spaces folded. "Quel budget ?" and "quel  BUDGET" are the same.
pub fn normalised(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfd().filter(|c| !is_combining_mark(*c)).flat_map(char::to_lowercase) {
        if c.is_alphanumeric() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        } else {
            space = true;
        }
    }
    out
}

/// A short, stable fingerprint (64-bit FNV-1a, hex) of the normalised text: what a
/// participant's record keeps to refuse the same question twice, without keeping the text.
pub fn fingerprint(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in normalised(text).bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_trimmed_and_composed() {
        let decomposed = "  Cafe\u{301} ?  ";
        assert_eq!(parse(decomposed, "text", 10, false).expect("ok"), "Café ?");
    }

    #[test]
    fn empty_long_and_control_text_is_refused() {
        assert!(parse("   ", "text", 10, false).is_err());
        assert!(parse(&"é".repeat(11), "text", 10, false).is_err());
        assert!(parse(&"é".repeat(10), "text", 10, false).is_ok());
        assert!(parse("a\u{0007}b", "text", 10, true).is_err());
        assert!(parse("a\u{202E}b", "text", 10, true).is_err());
        assert!(parse("a\nb", "name", 10, false).is_err());
        assert_eq!(parse("a\r\nb", "text", 10, true).expect("ok"), "a\nb");
    }

    #[test]
    fn the_same_question_is_recognised_through_case_accents_and_punctuation() {
        assert_eq!(fingerprint("Quel budget pour les RÉGIONS ?"), fingerprint("quel budget, pour les regions"));
        assert_ne!(fingerprint("Quel budget ?"), fingerprint("Quel calendrier ?"));
    }
}
