//! The record's plain-text forms: the readable minutes in Markdown (`record.md`) and one row
//! per poll (`results.csv`), both made from `record.json`, in English, in French or in both;
//! and what they share with the printable minutes (`record.html`): the export's language, the
//! labels' words, texts given by language, the wording a decision was about, times in UTC.

use serde_json::Value;
use std::fmt::Write as _;

/// The language of an export (`?lang=en|fr`): its labels, and which wording of a text given by
/// language it shows. `Both` (no `lang`): the two, labels as "English · Français".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Fr,
    Both,
}

impl Lang {
    /// The `lang` of a query: `en`, `fr`, or absent (or empty) for both.
    pub fn parse(raw: Option<&str>) -> Result<Lang, String> {
        match raw {
            None | Some("") => Ok(Lang::Both),
            Some("en") => Ok(Lang::En),
            Some("fr") => Ok(Lang::Fr),
            Some(other) => Err(format!("lang is fr or en, not {other:?}")),
        }
    }

    /// The one language wanted; `None` for both.
    pub fn code(self) -> Option<&'static str> {
        match self {
            Lang::En => Some("en"),
            Lang::Fr => Some("fr"),
            Lang::Both => None,
        }
    }

    /// A label in this language; both as "English · Français" (once when they are the same).
    pub fn words(self, en: &str, fr: &str) -> String {
        match self {
            Lang::En => en.to_owned(),
            Lang::Fr => fr.to_owned(),
            Lang::Both if en == fr => en.to_owned(),
            Lang::Both => format!("{en} · {fr}"),
        }
    }

    /// "Label: value", with the French space before the colon.
    fn fact(self, en: &str, fr: &str, value: &str) -> String {
        let colon = if self == Lang::Fr { " :" } else { ":" };
        format!("{}{colon} {value}", self.words(en, fr))
    }
}

/// One wording of a text as an export shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wording<'a> {
    pub text: &'a str,
    /// Its language, when the text was given by language.
    pub lang: Option<&'a str>,
    /// Shown although it is not the language wanted (or, in both languages, the only one
    /// there is): the reader must be told, with [`Wording::marker`].
    pub marked: bool,
}

impl Wording<'_> {
    /// `[EN]` for a wording shown in place of another language's.
    pub fn marker(&self) -> Option<String> {
        self.lang.filter(|_| self.marked).map(|l| format!("[{}]", l.to_uppercase()))
    }
}

/// How an export in `lang` shows `v`, a text (a string, or texts by language): a string as it
/// is; by language, the language wanted, else another one, marked; in both languages, every
/// language given (English, French, then any other), marked when there is only one.
pub fn wordings(v: &Value, lang: Lang) -> Vec<Wording<'_>> {
    match v {
        Value::String(s) => vec![Wording { text: s, lang: None, marked: false }],
        Value::Object(m) => {
            let others = m.keys().map(String::as_str).filter(|k| *k != "en" && *k != "fr");
            let given: Vec<(&str, &str)> = ["en", "fr"]
                .into_iter()
                .chain(others)
                .filter_map(|k| {
                    let (key, text) = m.get_key_value(k)?;
                    Some((key.as_str(), text.as_str().filter(|t| !t.trim().is_empty())?))
                })
                .collect();
            fn wording<'a>((k, text): (&'a str, &'a str), marked: bool) -> Wording<'a> {
                Wording { text, lang: Some(k), marked }
            }
            match lang.code() {
                Some(want) => match given.iter().find(|(k, _)| *k == want) {
                    Some(&found) => vec![wording(found, false)],
                    None => given.first().map(|&other| wording(other, true)).into_iter().collect(),
                },
                None => {
                    let marked = given.len() == 1;
                    given.into_iter().map(|g| wording(g, marked)).collect()
                }
            }
        }
        _ => Vec::new(),
    }
}

/// A text on one line in `lang`, unescaped: its wordings joined by " / ", each with its marker.
/// For the CSV and the page's plain-text places (title, footer).
pub fn plain(v: &Value, lang: Lang) -> String {
    wordings(v, lang)
        .iter()
        .map(|w| match w.marker() {
            Some(m) => format!("{} {m}", w.text),
            None => w.text.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// The name of a language, in that language.
pub fn language_name(code: &str) -> String {
    match code {
        "en" => "English".into(),
        "fr" => "Français".into(),
        other => other.to_uppercase(),
    }
}

/// The words of the record's enumerations (kinds, statuses, methods, outcomes): English, French.
pub fn enum_words(s: &str) -> (&str, &str) {
    match s {
        "intro" => ("Introduction", "Introduction"),
        "presentation" => ("Presentation", "Présentation"),
        "debate" => ("Debate", "Débat"),
        "adoption" => ("Adoption", "Adoption"),
        "other" => ("Other", "Autre"),
        "resolution" => ("Resolution", "Résolution"),
        "recommendation" => ("Recommendation", "Recommandation"),
        "draft" => ("Not put to the vote", "Non mis aux voix"),
        "voting" => ("Being voted on", "Vote en cours"),
        "adopted" => ("Adopted", "Adopté"),
        "rejected" => ("Rejected", "Rejeté"),
        "withdrawn" => ("Withdrawn", "Retiré"),
        "no_quorum" => ("No quorum", "Quorum non atteint"),
        "simple" => ("Simple majority", "Majorité simple"),
        "absolute" => ("Absolute majority", "Majorité absolue"),
        "two_thirds" => ("Two-thirds majority", "Majorité des deux tiers"),
        "approved" => ("Taken", "Retenue"),
        "answered" => ("Answered", "Traitée"),
        "cancelled" => ("Cancelled", "Annulé"),
        other => (other, other),
    }
}

fn enum_label(lang: Lang, v: &Value) -> String {
    let (en, fr) = enum_words(v.as_str().unwrap_or(""));
    lang.words(en, fr)
}

/// The rule a poll applied, in words: the record's own (English), and the same in French.
pub fn rule_words(p: &Value) -> (String, String) {
    let en = p["rule"].as_str().unwrap_or("").to_owned();
    let c = &p["counts"];
    let (f, a) = (num(&c["for"]), num(&c["against"]));
    let fr = match (p["outcome"].as_str(), p["method"].as_str()) {
        (Some("no_quorum"), _) => {
            format!("quorum non atteint : {} exprimés, {} requis", num(&p["cast_weight"]), num(&p["quorum"]))
        }
        (_, Some("absolute")) => {
            let e = num(&p["eligible"]);
            format!("majorité absolue : pour {f} {} la moitié de {e} inscrits", if 2 * f > e { ">" } else { "≤" })
        }
        (_, Some("two_thirds")) => {
            let ok = f > 0 && 3 * f >= 2 * (f + a);
            format!("majorité des deux tiers : pour {f} {} deux tiers de {}", if ok { "≥" } else { "<" }, f + a)
        }
        _ => format!("majorité simple : pour {f} {} contre {a}", if f > a { ">" } else { "≤" }),
    };
    (en, fr)
}

/// The closed polls on draft `d`, in the order they were opened.
pub fn closed_polls<'a>(record: &'a Value, d: &Value) -> Vec<&'a Value> {
    record["polls"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["draft"] == d["id"] && p["status"] == "closed")
        .collect()
}

/// The wording a decision on draft `d` was about, and its version: the version put to the
/// last vote that adopted or rejected it (from the draft's `versions`); otherwise (adopted by
/// consensus, withdrawn, undecided) the current text.
pub fn decided_wording<'a>(record: &Value, d: &'a Value) -> (u64, &'a Value) {
    let current = (num(&d["version"]), &d["text"]);
    let deciding = closed_polls(record, d)
        .into_iter()
        .rev()
        .find(|p| matches!(p["outcome"].as_str(), Some("adopted" | "rejected")));
    let Some(version) = deciding.and_then(|p| p["version"].as_u64()) else { return current };
    d["versions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|v| v["version"].as_u64() == Some(version))
        .map_or(current, |v| (version, &v["text"]))
}

pub fn num(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

/// "12 min 05 s", or "1 h 05 min" from an hour on.
pub fn duration(secs: u64) -> String {
    if secs >= 3600 {
        format!("{} h {:02} min", secs / 3600, secs / 60 % 60)
    } else {
        format!("{} min {:02} s", secs / 60, secs % 60)
    }
}

/// Time against plan: "+2 min 10 s", "−0 min 45 s", "±0".
fn against_plan(held: u64, planned: u64) -> String {
    match held.cmp(&planned) {
        std::cmp::Ordering::Equal => "±0".into(),
        std::cmp::Ordering::Greater => format!("+{}", duration(held - planned)),
        std::cmp::Ordering::Less => format!("−{}", duration(planned - held)),
    }
}

/// A calendar day: year, month (1–12), day.
pub type Day = (i64, u32, u32);

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's civil_from_days).
pub fn civil(days: i64) -> Day {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// (year, month, day) → days since 1970-01-01 (Howard Hinnant's days_from_civil).
fn days_from_civil((y, m, d): Day) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from(if m > 2 { m - 3 } else { m + 9 });
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The day of a time in milliseconds (UTC).
pub fn day_of(ms: i64) -> Day {
    civil(ms.div_euclid(86_400_000))
}

/// "14:32" (UTC) of a time in milliseconds; "—" for none.
pub fn clock(ms: &Value) -> String {
    match ms.as_i64() {
        Some(ms) => {
            let secs = ms.div_euclid(1000).rem_euclid(86_400);
            format!("{:02}:{:02}", secs / 3600, secs / 60 % 60)
        }
        None => "—".into(),
    }
}

const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];

/// "23 November 2018", "1er décembre 2018", or both.
pub fn date(lang: Lang, (y, m, d): Day) -> String {
    let i = (m.clamp(1, 12) - 1) as usize;
    let en = format!("{d} {} {y}", MONTHS_EN[i]);
    let fr = format!("{d}{} {} {y}", if d == 1 { "er" } else { "" }, MONTHS_FR[i]);
    lang.words(&en, &fr)
}

/// A planned time as the definition gives it ("2018-11-23T14:30:00Z", "…T15:30:00+01:00"):
/// its instant in milliseconds when it names its zone; else its day and "HH:MM" as written.
pub enum Planned<'a> {
    Utc(i64),
    Local(Day, Option<&'a str>),
}

pub fn planned(s: &str) -> Option<Planned<'_>> {
    let field = |r: std::ops::Range<usize>| s.get(r).and_then(|x| x.parse::<i64>().ok());
    let day: Day = (field(0..4)?, u32::try_from(field(5..7)?).ok()?, u32::try_from(field(8..10)?).ok()?);
    if !(1..=12).contains(&day.1) || !(1..=31).contains(&day.2) {
        return None;
    }
    let hm = s.get(11..16).filter(|t| t.len() == 5 && t.as_bytes()[2] == b':');
    let (Some(h), Some(min)) = (field(11..13), field(14..16)) else { return Some(Planned::Local(day, None)) };
    // The zone follows the seconds and their fraction, if any.
    let rest = s.get(16..).unwrap_or("");
    let zone = rest.trim_start_matches(|c: char| c.is_ascii_digit() || c == ':' || c == '.');
    let offset_minutes = match zone {
        "Z" | "z" => 0,
        z if z.len() == 6 && (z.starts_with('+') || z.starts_with('-')) => {
            let sign = if z.starts_with('-') { -1 } else { 1 };
            let oh: i64 = z.get(1..3)?.parse().ok()?;
            let om: i64 = z.get(4..6)?.parse().ok()?;
            sign * (oh * 60 + om)
        }
        _ => return Some(Planned::Local(day, hm)),
    };
    let minutes = days_from_civil(day) * 1440 + h * 60 + min - offset_minutes;
    Some(Planned::Utc(minutes * 60_000))
}

/// The day the session was held (UTC), else the day it was planned for.
pub fn session_day(session: &Value) -> Option<Day> {
    session["started_at"].as_i64().map(day_of).or_else(|| match session["starts_at"].as_str().and_then(planned)? {
        Planned::Utc(ms) => Some(day_of(ms)),
        Planned::Local(day, _) => Some(day),
    })
}

/// The planned times of the session, "14:30–17:30 UTC" ("…" as written when the definition
/// names no zone), with the planned day when the session was held on another.
pub fn planned_times(session: &Value, lang: Lang) -> Option<String> {
    let start = session["starts_at"].as_str().and_then(planned)?;
    let end = session["ends_at"].as_str().and_then(planned);
    let (day, from, utc) = match start {
        Planned::Utc(ms) => (day_of(ms), clock(&Value::from(ms)), true),
        Planned::Local(day, hm) => (day, hm?.to_owned(), false),
    };
    let to = match end {
        Some(Planned::Utc(ms)) if utc => format!("–{}", clock(&Value::from(ms))),
        Some(Planned::Local(_, Some(hm))) if !utc => format!("–{hm}"),
        _ => String::new(),
    };
    let on = match session_day(session) {
        Some(held) if held != day => format!("{}, ", date(lang, day)),
        _ => String::new(),
    };
    Some(format!("{on}{from}{to}{}", if utc { " UTC" } else { "" }))
}

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

/// One line of user text made safe for Markdown: what Markdown would read as emphasis, code,
/// links, HTML, a table's cell border, or (at the start) a heading, list, quote or rule, is
/// escaped, so the text reads as typed.
fn md_escape_line(line: &str) -> String {
    let mut out = String::with_capacity(line.len() + 8);
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            // An entity (`&amp;`, `&#38;`) would be decoded.
            '&' if chars.peek().is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#') => out.push_str("\\&"),
            c => out.push(c),
        }
    }
    if out.starts_with(['#', '-', '+', '=']) {
        out.insert(0, '\\');
    }
    // "2018. …" would start an ordered list.
    let digits = out.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && out[digits..].starts_with(['.', ')']) {
        out.insert(digits, '\\');
    }
    out
}

/// User text on one Markdown line (a table cell, a heading): white space, line breaks
/// included, collapsed to single spaces, and escaped.
pub fn md_inline(s: &str) -> String {
    md_escape_line(&s.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// User text as the continued lines of a list item: each line escaped, line breaks kept (as
/// hard breaks), blank lines dropped, continuation lines indented by `indent`.
fn md_lines(s: &str, indent: usize) -> String {
    let lines: Vec<String> = s.lines().map(str::trim).filter(|l| !l.is_empty()).map(md_inline).collect();
    lines.join(&format!("\\\n{}", " ".repeat(indent)))
}

/// User text as a block quote: paragraphs and line breaks kept, each line escaped; `marker`
/// (`[EN]`) leads it.
fn md_quote(s: &str, marker: Option<&str>) -> String {
    let lines: Vec<&str> = s.trim().lines().map(str::trim).collect();
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        if line.is_empty() {
            out.push_str(">\n");
            continue;
        }
        out.push_str("> ");
        if i == 0 {
            if let Some(m) = marker {
                out.push_str(m);
                out.push(' ');
            }
        }
        out.push_str(&md_inline(line));
        if lines.get(i + 1).is_some_and(|next| !next.is_empty()) {
            out.push('\\');
        }
        out.push('\n');
    }
    out
}

/// A text on one Markdown line in `lang`: its wordings escaped, each with its marker, joined
/// by " / ".
fn md_text(v: &Value, lang: Lang) -> String {
    wordings(v, lang)
        .iter()
        .map(|w| match w.marker() {
            Some(m) => format!("{} {m}", md_inline(w.text)),
            None => md_inline(w.text),
        })
        .collect::<Vec<_>>()
        .join(" / ")
}

/// A long text (a draft) in `lang`: one block quote; in both languages, one per language, each
/// under its language's name.
fn md_text_block(md: &mut String, v: &Value, lang: Lang) {
    let ws = wordings(v, lang);
    if ws.is_empty() {
        md.push_str("> —\n\n");
        return;
    }
    let labelled = ws.len() > 1;
    for w in ws {
        if labelled {
            if let Some(l) = w.lang {
                let _ = writeln!(md, "*{}*\n", language_name(l));
            }
        }
        md.push_str(&md_quote(w.text, w.marker().as_deref()));
        md.push('\n');
    }
}

fn items(v: &Value) -> impl Iterator<Item = &Value> {
    v.as_array().into_iter().flatten()
}

/// The minutes in Markdown, in `lang`: a document a conference secretariat can publish as it
/// is: the heading, the agenda as held, the texts adopted (in the wording voted, with the
/// figures), rejected, withdrawn or left without a decision, the questions taken, the speakers
/// from the floor, the rapporteur's notes, and the seal (the digest) or "draft record".
pub fn markdown(record: &Value, lang: Lang) -> String {
    let mut md = String::new();
    md_heading(&mut md, record, lang);
    md_agenda(&mut md, record, lang);
    md_texts(&mut md, record, lang);
    md_questions(&mut md, record, lang);
    md_floor(&mut md, record, lang);
    md_notes(&mut md, record, lang);
    md_seal(&mut md, record, lang);
    md
}

fn md_heading(md: &mut String, record: &Value, lang: Lang) {
    let s = &record["session"];
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let titles = wordings(&s["title"], lang);
    if titles.is_empty() {
        let _ = writeln!(md, "# {}\n", w("Minutes", "Procès-verbal"));
    }
    for t in &titles {
        let marker = t.marker().map(|m| format!(" {m}")).unwrap_or_default();
        let _ = writeln!(md, "# {}{marker}\n", md_inline(t.text));
    }
    let reference = md_text(&s["reference"], lang);
    let mut line = Vec::new();
    if !reference.is_empty() {
        line.push(format!("**{reference}**"));
    }
    line.push(w("Minutes", "Procès-verbal"));
    let _ = writeln!(md, "{}\n", line.join(" · "));

    let mut facts = Vec::new();
    let venue = md_text(&s["venue"], lang);
    if !venue.is_empty() {
        facts.push(lang.fact("Venue", "Lieu", &venue));
    }
    if let Some(day) = session_day(s) {
        facts.push(lang.fact("Date", "Date", &date(lang, day)));
    }
    if let Some(times) = planned_times(s, lang) {
        facts.push(lang.fact("Planned", "Prévu", &times));
    }
    let held = if s["started_at"].is_i64() {
        let to = if s["ended_at"].is_i64() { clock(&s["ended_at"]) } else { "…".into() };
        format!("{}–{to} UTC", clock(&s["started_at"]))
    } else {
        w("not held yet", "pas encore tenue")
    };
    facts.push(lang.fact("Held", "Tenue", &held));
    let status = match record["digest"].as_str() {
        Some(_) => w("final record", "compte rendu définitif"),
        None => w("draft record, not finalised", "projet de compte rendu, non définitif"),
    };
    facts.push(lang.fact("Status", "Statut", &status));
    for f in facts {
        let _ = writeln!(md, "- {f}");
    }
    md.push('\n');
}

fn md_agenda(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let _ = writeln!(md, "## {}\n", w("Agenda as held", "Ordre du jour tel que tenu"));
    let _ = writeln!(
        md,
        "| # | {} | {} | {} | {} | {} | {} |\n| ---: | --- | --- | --- | ---: | ---: | ---: |",
        w("Item", "Point"),
        w("Speakers", "Intervenants"),
        w("Time (UTC)", "Heure (UTC)"),
        w("Planned", "Prévu"),
        w("Held", "Tenu"),
        w("Against plan", "Écart"),
    );
    // The total against plan counts the items held only: one not reached is not time saved.
    let (mut planned_total, mut planned_held, mut held_total) = (0, 0, 0);
    for it in items(&record["agenda"]) {
        let planned = num(&it["planned_minutes"]) * 60;
        let secs = num(&it["seconds"]);
        let stints: Vec<String> = items(&it["held"])
            .map(|st| {
                format!("{}–{}", clock(&st["from"]), if st["to"].is_null() { "…".into() } else { clock(&st["to"]) })
            })
            .collect();
        planned_total += planned;
        held_total += secs;
        if !stints.is_empty() {
            planned_held += planned;
        }
        let speakers: Vec<String> =
            items(&it["speakers"]).map(|sp| md_text(sp, lang)).filter(|s| !s.is_empty()).collect();
        let (held, against) = if stints.is_empty() {
            (w("not held", "non tenu"), "—".into())
        } else {
            (duration(secs), if planned > 0 { against_plan(secs, planned) } else { "—".into() })
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {held} | {against} |",
            num(&it["index"]) + 1,
            md_text(&it["title"], lang),
            if speakers.is_empty() { "—".into() } else { speakers.join("; ") },
            if stints.is_empty() { "—".into() } else { stints.join(", ") },
            if planned > 0 { duration(planned) } else { "—".into() },
        );
    }
    let _ = writeln!(
        md,
        "| | **{}** | | | {} | {} | {} |\n",
        w("Total", "Total"),
        duration(planned_total),
        duration(held_total),
        against_plan(held_total, planned_held),
    );
}

fn md_texts(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let drafts: Vec<&Value> = items(&record["drafts"]).collect();
    let status = |d: &Value| d["status"].as_str().unwrap_or("").to_owned();
    let groups: [(String, Vec<&Value>); 4] = [
        (w("Texts adopted", "Textes adoptés"), drafts.iter().copied().filter(|d| status(d) == "adopted").collect()),
        (w("Texts rejected", "Textes rejetés"), drafts.iter().copied().filter(|d| status(d) == "rejected").collect()),
        (w("Texts withdrawn", "Textes retirés"), drafts.iter().copied().filter(|d| status(d) == "withdrawn").collect()),
        (
            w("Texts without a decision", "Textes sans décision"),
            drafts
                .iter()
                .copied()
                .filter(|d| !matches!(status(d).as_str(), "adopted" | "rejected" | "withdrawn"))
                .collect(),
        ),
    ];
    for (i, (heading, ds)) in groups.iter().enumerate() {
        if ds.is_empty() && i > 0 {
            continue;
        }
        let _ = writeln!(md, "## {heading}\n");
        if ds.is_empty() {
            let _ = writeln!(md, "*{}*\n", w("No text was adopted.", "Aucun texte n’a été adopté."));
        }
        for d in ds {
            md_draft(md, record, d, lang);
        }
    }
}

fn md_draft(md: &mut String, record: &Value, d: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let status = d["status"].as_str().unwrap_or("");
    let (version, wording) = decided_wording(record, d);
    let _ = writeln!(md, "### {}\n", md_text(&d["title"], lang));
    let what = match status {
        "adopted" => w(&format!("text adopted, version {version}"), &format!("texte adopté, version {version}")),
        "rejected" => {
            w(&format!("text put to the vote, version {version}"), &format!("texte mis aux voix, version {version}"))
        }
        _ => w(&format!("text, version {version}"), &format!("texte, version {version}")),
    };
    let current = num(&d["version"]);
    let later = if current != version {
        format!(
            " ({})",
            w(&format!("since amended: version {current}"), &format!("modifié depuis : version {current}"))
        )
    } else {
        String::new()
    };
    let _ = writeln!(md, "*{} — {what}{later}*\n", enum_label(lang, &d["kind"]));
    md_text_block(md, wording, lang);

    let polls = closed_polls(record, d);
    for p in &polls {
        md_poll(md, p, lang);
    }
    if d["adopted_by"] == "consensus" {
        let _ = writeln!(md, "**{}**\n", w("Adopted by consensus", "Adopté par consensus").to_uppercase());
    } else if (status == "draft" && polls.is_empty()) || status == "voting" {
        let _ = writeln!(md, "*{}.*\n", enum_label(lang, &d["status"]));
    }
}

fn md_poll(md: &mut String, p: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let mut how = vec![enum_label(lang, &p["method"])];
    let quorum = num(&p["quorum"]);
    how.push(if quorum > 0 {
        format!("{} {quorum}", w("quorum", "quorum"))
    } else {
        w("no quorum set", "sans quorum")
    });
    if p["secret"] == true {
        how.push(w("secret ballot", "scrutin secret"));
    }
    let c = &p["counts"];
    let _ = writeln!(
        md,
        "{}, {}–{} UTC — {}\n",
        w("Vote", "Vote"),
        clock(&p["opened_at"]),
        clock(&p["closed_at"]),
        how.join(if lang == Lang::Fr { " ; " } else { "; " })
    );
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} | {} | {} |\n| ---: | ---: | ---: | ---: | ---: | ---: |\n| {} | {} | {} | {} | {} | {} |\n",
        w("For", "Pour"),
        w("Against", "Contre"),
        w("Abstain", "Abstention"),
        w("Ballots", "Bulletins"),
        w("Weight cast", "Poids exprimé"),
        w("Eligible", "Inscrits"),
        num(&c["for"]),
        num(&c["against"]),
        num(&c["abstain"]),
        num(&p["cast"]),
        num(&p["cast_weight"]),
        num(&p["eligible"]),
    );
    let (en, fr) = rule_words(p);
    let _ = writeln!(md, "**{}** — {}\n", enum_label(lang, &p["outcome"]).to_uppercase(), lang.words(&en, &fr));
}

fn md_questions(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let _ = writeln!(md, "## {}\n", w("Questions taken", "Questions traitées"));
    let questions: Vec<&Value> = items(&record["questions"]).collect();
    if questions.is_empty() {
        let _ = writeln!(md, "*{}*\n", w("No questions were taken.", "Aucune question n’a été traitée."));
        return;
    }
    for (i, q) in questions.iter().enumerate() {
        let bullet = format!("{}. ", i + 1);
        let indent = bullet.len();
        let who = match q["name"].as_str().filter(|n| !n.trim().is_empty()) {
            Some(n) => md_inline(n),
            None => w("anonymous", "anonyme"),
        };
        let upvotes = num(&q["upvotes"]);
        let sub = [
            who,
            match upvotes {
                1 => w("1 upvote", "1 soutien"),
                n => w(&format!("{n} upvotes"), &format!("{n} soutiens")),
            },
            enum_label(lang, &q["status"]),
            format!("{} UTC", clock(&q["asked_at"])),
        ];
        let pad = " ".repeat(indent);
        let _ = writeln!(
            md,
            "{bullet}{}\\\n{pad}*{}*",
            md_lines(q["text"].as_str().unwrap_or(""), indent),
            sub.join(" · ")
        );
        for m in items(&q["merged"]) {
            let merged = md_inline(m.as_str().unwrap_or(""));
            let _ = writeln!(md, "{pad}- {}", lang.fact("Merged in", "Question regroupée", &merged));
        }
    }
    md.push('\n');
}

fn md_floor(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let _ = writeln!(md, "## {}\n", w("Speakers from the floor", "Interventions de la salle"));
    let floor: Vec<&Value> = items(&record["floor"]).collect();
    if floor.is_empty() {
        let _ = writeln!(md, "*{}*\n", w("Nobody took the floor.", "Personne n’a pris la parole."));
        return;
    }
    let _ = writeln!(
        md,
        "| {} | {} | {} | {} |\n| --- | --- | ---: | ---: |",
        w("Name", "Nom"),
        w("Organisation", "Organisation"),
        w("Time (UTC)", "Heure (UTC)"),
        w("Spoke for", "Durée"),
    );
    for f in floor {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            md_inline(f["name"].as_str().unwrap_or("")),
            md_inline(f["organisation"].as_str().unwrap_or("")),
            clock(&f["started"]),
            duration(num(&f["seconds"])),
        );
    }
    md.push('\n');
}

fn md_notes(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    let _ = writeln!(md, "## {}\n", w("Rapporteur’s notes", "Notes du rapporteur"));
    let notes: Vec<&Value> = items(&record["notes"]).collect();
    if notes.is_empty() {
        let _ = writeln!(md, "*{}*\n", w("No notes.", "Aucune note."));
        return;
    }
    for (i, n) in notes.iter().enumerate() {
        let bullet = format!("{}. ", i + 1);
        let indent = bullet.len();
        let mut when = format!("{} UTC", clock(&n["at"]));
        if n["edited_at"].is_i64() {
            let _ = write!(
                when,
                " · {}",
                w(
                    &format!("edited {} UTC", clock(&n["edited_at"])),
                    &format!("modifiée {} UTC", clock(&n["edited_at"]))
                )
            );
        }
        let _ = writeln!(
            md,
            "{bullet}{}\\\n{}*{when}*",
            md_lines(n["text"].as_str().unwrap_or(""), indent),
            " ".repeat(indent)
        );
    }
    md.push('\n');
}

fn md_seal(md: &mut String, record: &Value, lang: Lang) {
    let w = |en: &str, fr: &str| lang.words(en, fr);
    md.push_str("---\n\n");
    match record["digest"].as_str() {
        Some(d) => {
            let at = clock(&record["finalised"]["at"]);
            let _ = writeln!(
                md,
                "**{}** — {}\n\n{}\n\n{}",
                w("Final record", "Compte rendu définitif"),
                w(&format!("finalised at {at} UTC"), &format!("arrêté à {at} UTC")),
                lang.fact("SHA-256 digest of record.json", "Empreinte SHA-256 de record.json", &format!("`{d}`")),
                lang.fact("To check a copy", "Pour vérifier une copie", "`palabre verify record.json`"),
            );
        }
        None => {
            let _ = writeln!(
                md,
                "**{}** — {}",
                w("Draft record", "Projet de compte rendu"),
                w(
                    "not finalised: the rapporteur finalises the record after the session ends; it then carries its digest.",
                    "non définitif : le rapporteur arrête le compte rendu après la séance ; il porte alors son empreinte."
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// CSV
// ---------------------------------------------------------------------------------------------

/// One row per poll: draft, its title in `lang` (the other language marked `[EN]`/`[FR]` when
/// missing; both as "English / Français"), version, method, quorum, figures, outcome, digest.
/// The column names and the coded values stay the same in every language, for spreadsheets.
/// A cell of text someone typed, safe to open in a spreadsheet: one that would start a formula
/// (`=`, `+`, `-`, `@`, a tab or a carriage return) is prefixed with `'`, which spreadsheets
/// show as text.
pub fn csv_cell(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_owned()
    }
}

pub fn results_csv(record: &Value, lang: Lang) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record([
        "poll",
        "draft",
        "title",
        "version",
        "method",
        "quorum",
        "for",
        "against",
        "abstain",
        "cast",
        "cast_weight",
        "eligible",
        "outcome",
        "digest",
    ]);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    for p in items(&record["polls"]) {
        let title = items(&record["drafts"]).find(|d| d["id"] == p["draft"]).map(|d| plain(&d["title"], lang));
        let _ = out.write_record([
            text(&p["id"]),
            text(&p["draft"]),
            csv_cell(&title.unwrap_or_default()),
            text(&p["version"]),
            text(&p["method"]),
            text(&p["quorum"]),
            text(&p["counts"]["for"]),
            text(&p["counts"]["against"]),
            text(&p["counts"]["abstain"]),
            text(&p["cast"]),
            text(&p["cast_weight"]),
            text(&p["eligible"]),
            text(&p["outcome"]),
            text(&record["digest"]),
        ]);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
pub(crate) mod tests {

    #[test]
    fn a_cell_that_would_start_a_formula_is_kept_as_text() {
        assert_eq!(csv_cell("=HYPERLINK(\"http://x\")"), "'=HYPERLINK(\"http://x\")");
        for s in ["+1", "-2", "@SUM(A1)", "\tx"] {
            assert!(csv_cell(s).starts_with('\''), "{s}");
        }
        assert_eq!(csv_cell("Transfert des compétences"), "Transfert des compétences");
    }

    use super::*;
    use serde_json::json;

    /// 2018-11-23 at hh:mm UTC, in milliseconds.
    fn at(h: i64, m: i64) -> i64 {
        1_542_931_200_000 + (h * 60 + m) * 60_000
    }

    /// A finalised record whose texts are given by language (some only in one), with an
    /// adopted text amended in French before the vote, one adopted by consensus, one rejected
    /// and amended after its vote, one withdrawn, one never put to the vote.
    pub(crate) fn sample() -> Value {
        json!({
            "format": crate::record::FORMAT,
            "session": {"id": "s1", "code": "ABC234", "reference": "SOU 94", "venue": "Tanger",
                        "title": {"en": "Devolution and peacebuilding", "fr": "Décentralisation et paix"},
                        "starts_at": "2018-11-23T14:30:00Z", "ends_at": "2018-11-23T17:30:00Z", "languages": ["en", "fr"],
                        "started_at": at(14, 31), "ended_at": at(17, 28)},
            "agenda": [
                {"index": 0, "title": {"en": "Opening", "fr": "Ouverture"}, "kind": "intro", "planned_minutes": 10,
                 "speakers": ["AMM", {"en": "The chair", "fr": "La présidence"}],
                 "held": [{"from": at(14, 31), "to": at(14, 43)}], "seconds": 725},
                {"index": 1, "title": {"en": "Debate | exchanges"}, "kind": "debate", "planned_minutes": 50,
                 "speakers": [], "held": [], "seconds": 0},
            ],
            "drafts": [
                {"id": "d1", "kind": "resolution", "status": "adopted", "version": 2, "adopted_by": "vote", "poll": "p1",
                 "title": {"en": "Transfer of resources", "fr": "Transfert des ressources"},
                 "text": {"en": "The State shall transfer resources.", "fr": "L’État transfère les ressources chaque année."},
                 "versions": [
                    {"version": 1, "at": at(14, 0), "role": null, "lang": null,
                     "text": {"en": "The State shall transfer resources.", "fr": "L’État transfère les ressources."}},
                    {"version": 2, "at": at(15, 0), "role": "rapporteur", "lang": "fr",
                     "text": {"en": "The State shall transfer resources.", "fr": "L’État transfère les ressources chaque année."}},
                 ]},
                {"id": "d2", "kind": "recommendation", "status": "adopted", "version": 1, "adopted_by": "consensus",
                 "title": "Peer *learning*", "text": "Set up a network.\n\nReport each year.",
                 "versions": [{"version": 1, "at": at(14, 0), "role": null, "lang": null, "text": "Set up a network.\n\nReport each year."}]},
                {"id": "d3", "kind": "recommendation", "status": "rejected", "version": 2, "adopted_by": null,
                 "title": {"fr": "Seulement en français"}, "text": {"fr": "Texte modifié après le vote."},
                 "versions": [
                    {"version": 1, "at": at(14, 0), "role": null, "lang": null, "text": {"fr": "Texte mis aux voix."}},
                    {"version": 2, "at": at(16, 0), "role": "rapporteur", "lang": "fr", "text": {"fr": "Texte modifié après le vote."}},
                 ]},
                {"id": "d4", "kind": "recommendation", "status": "withdrawn", "version": 1, "title": "Withdrawn one", "text": "W."},
                {"id": "d5", "kind": "resolution", "status": "draft", "version": 1, "title": "Left over", "text": "L."},
            ],
            "polls": [
                {"id": "p1", "draft": "d1", "version": 2, "method": "simple", "quorum": 10, "secret": false, "status": "closed",
                 "opened_at": at(16, 50), "closed_at": at(16, 55), "counts": {"for": 12, "against": 3, "abstain": 1},
                 "cast": 16, "cast_weight": 16, "eligible": 20, "outcome": "adopted", "rule": "simple majority: for 12 > against 3"},
                {"id": "p2", "draft": "d3", "version": 1, "method": "two_thirds", "quorum": 0, "secret": true, "status": "closed",
                 "opened_at": at(17, 0), "closed_at": at(17, 5), "counts": {"for": 2, "against": 5, "abstain": 0},
                 "cast": 7, "cast_weight": 9, "eligible": 20, "outcome": "rejected", "rule": "two-thirds majority: for 2 < two thirds of 7"},
            ],
            "questions": [{"id": "q1", "text": "What *budget* for\n# communes?", "name": null, "status": "answered",
                           "asked_at": at(15, 10), "answered_at": at(15, 20), "upvotes": 3, "merged": ["Quel budget ?"]}],
            "floor": [{"name": "Awa | Traoré", "organisation": "AMM", "started": at(15, 30), "ended": at(15, 31),
                       "seconds": 95, "limit_seconds": 180}],
            "notes": [{"id": "n1", "text": "Séance ouverte à 14 h 31.", "at": at(14, 31), "edited_at": null},
                      {"id": "n2", "text": "- first point\nsecond line", "at": at(16, 0), "edited_at": at(16, 5)}],
            "timeline": [],
            "finalised": {"at": at(17, 40)},
            "digest": "ab".repeat(32),
        })
    }

    #[test]
    fn the_french_minutes_have_french_labels_and_texts_and_mark_what_is_only_in_english() {
        let md = markdown(&sample(), Lang::Fr);
        for expected in [
            "# Décentralisation et paix\n",
            "**SOU 94** · Procès-verbal",
            "- Lieu : Tanger",
            "- Date : 23 novembre 2018",
            "- Prévu : 14:30–17:30 UTC",
            "- Tenue : 14:31–17:28 UTC",
            "## Ordre du jour tel que tenu",
            "| 1 | Ouverture | AMM; La présidence | 14:31–14:43 | 10 min 00 s | 12 min 05 s | +2 min 05 s |",
            "| 2 | Debate \\| exchanges [EN] | — | — | 50 min 00 s | non tenu | — |",
            "## Textes adoptés",
            "### Transfert des ressources",
            "*Résolution — texte adopté, version 2*",
            "> L’État transfère les ressources chaque année.",
            "| Pour | Contre | Abstention | Bulletins | Poids exprimé | Inscrits |",
            "| 12 | 3 | 1 | 16 | 16 | 20 |",
            "**ADOPTÉ** — majorité simple : pour 12 > contre 3",
            "Vote, 16:50–16:55 UTC — Majorité simple ; quorum 10",
            "| | **Total** | | | 1 h 00 min | 12 min 05 s | +2 min 05 s |",
            "**ADOPTÉ PAR CONSENSUS**",
            "## Textes rejetés",
            "*Recommandation — texte mis aux voix, version 1 (modifié depuis : version 2)*",
            "> Texte mis aux voix.",
            "Majorité des deux tiers ; sans quorum ; scrutin secret",
            "| 2 | 5 | 0 | 7 | 9 | 20 |",
            "**REJETÉ**",
            "## Textes retirés",
            "## Textes sans décision",
            "*Non mis aux voix.*",
            "## Questions traitées",
            "*anonyme · 3 soutiens · Traitée · 15:10 UTC*",
            "- Question regroupée : Quel budget ?",
            "## Interventions de la salle",
            "| Awa \\| Traoré | AMM | 15:30 | 1 min 35 s |",
            "## Notes du rapporteur",
            "1. Séance ouverte à 14 h 31.",
            "modifiée 16:05 UTC",
            "**Compte rendu définitif** — arrêté à 17:40 UTC",
            "Empreinte SHA-256 de record.json :",
        ] {
            assert!(md.contains(expected), "{expected:?} in:\n{md}");
        }
        assert!(md.contains(&"ab".repeat(32)));
        assert!(!md.contains("Texte modifié après le vote"), "the rejected text as voted, not as amended since");
        assert!(!md.contains("L’État transfère les ressources.\n"), "the adopted text as voted, not version 1");
        for english in ["Agenda as held", "Texts adopted", "Questions taken", "Final record", "The State shall"] {
            assert!(!md.contains(english), "{english:?} in the French minutes:\n{md}");
        }
    }

    #[test]
    fn the_english_minutes_have_english_labels_and_texts_and_mark_what_is_only_in_french() {
        let md = markdown(&sample(), Lang::En);
        for expected in [
            "# Devolution and peacebuilding\n",
            "- Venue: Tanger",
            "- Date: 23 November 2018",
            "## Agenda as held",
            "| 1 | Opening | AMM; The chair |",
            "| 2 | Debate \\| exchanges | — | — | 50 min 00 s | not held | — |",
            "### Transfer of resources",
            "> The State shall transfer resources.",
            "**ADOPTED** — simple majority: for 12 > against 3",
            "**ADOPTED BY CONSENSUS**",
            "### Seulement en français [FR]",
            "> [FR] Texte mis aux voix.",
            "*Not put to the vote.*",
            "*anonymous · 3 upvotes · Answered · 15:10 UTC*",
            "**Final record** — finalised at 17:40 UTC",
        ] {
            assert!(md.contains(expected), "{expected:?} in:\n{md}");
        }
        for french in ["Ordre du jour", "Ouverture", "La présidence", "Transfert des ressources", "L’État"] {
            assert!(!md.contains(french), "{french:?} in the English minutes:\n{md}");
        }
    }

    #[test]
    fn the_minutes_in_both_languages_give_each_label_and_each_text_in_both() {
        let md = markdown(&sample(), Lang::Both);
        for expected in [
            "# Devolution and peacebuilding\n\n# Décentralisation et paix\n",
            "## Agenda as held · Ordre du jour tel que tenu",
            "| 1 | Opening / Ouverture | AMM; The chair / La présidence |",
            "### Transfer of resources / Transfert des ressources",
            "*English*\n\n> The State shall transfer resources.\n\n*Français*\n\n> L’État transfère les ressources chaque année.\n",
            "**ADOPTED · ADOPTÉ** — simple majority: for 12 > against 3 · majorité simple : pour 12 > contre 3",
            "**ADOPTED BY CONSENSUS · ADOPTÉ PAR CONSENSUS**",
            "### Seulement en français [FR]",
            "| For · Pour | Against · Contre |",
        ] {
            assert!(md.contains(expected), "{expected:?} in:\n{md}");
        }
    }

    #[test]
    fn user_texts_cannot_break_the_minutes_markup() {
        let md = markdown(&sample(), Lang::En);
        assert!(md.contains("1. What \\*budget\\* for\\\n   \\# communes?\\\n   *anonymous"), "{md}");
        assert!(md.contains("### Peer \\*learning\\*"), "{md}");
        assert!(md.contains("> Set up a network.\n>\n> Report each year.\n"), "paragraphs kept: {md}");
        assert!(md.contains("2. \\- first point\\\n   second line\\\n   *16:00 UTC · edited 16:05 UTC*"), "{md}");
        // Every row of a table has as many cell borders as its header.
        for table in md.split("\n\n").filter(|b| b.starts_with('|')) {
            let borders = |row: &str| row.replace("\\|", "").matches('|').count();
            let rows: Vec<&str> = table.lines().collect();
            assert!(rows.iter().all(|r| borders(r) == borders(rows[0])), "{table}");
        }
        assert_eq!(
            md_escape_line("<b>x</b> & &amp; 2018. [a](b) `c` ~d~"),
            "\\<b\\>x\\</b\\> & \\&amp; 2018. \\[a\\](b) \\`c\\` \\~d\\~"
        );
        assert_eq!(md_escape_line("2018. year"), "2018\\. year");
        assert_eq!(md_escape_line("+ plus"), "\\+ plus");
        assert_eq!(md_inline("a\n\n  b\tc"), "a b c");
    }

    #[test]
    fn a_record_not_yet_final_says_so_in_its_language() {
        let mut record = sample();
        record.as_object_mut().map(|m| m.remove("digest"));
        record["finalised"] = Value::Null;
        let fr = markdown(&record, Lang::Fr);
        assert!(fr.contains("- Statut : projet de compte rendu, non définitif"), "{fr}");
        assert!(fr.contains("**Projet de compte rendu** — non définitif"), "{fr}");
        assert!(markdown(&record, Lang::En).contains("**Draft record** — not finalised"));
        assert!(markdown(&record, Lang::Both).contains("**Draft record · Projet de compte rendu**"));
    }

    #[test]
    fn the_results_give_each_title_in_the_language_asked_or_both() {
        let rows = |lang| -> Vec<Vec<String>> {
            csv::Reader::from_reader(results_csv(&sample(), lang).as_bytes())
                .records()
                .map(|r| r.expect("a row").iter().map(str::to_owned).collect())
                .collect()
        };
        let (fr, en, both) = (rows(Lang::Fr), rows(Lang::En), rows(Lang::Both));
        assert_eq!((fr[0][2].as_str(), fr[1][2].as_str()), ("Transfert des ressources", "Seulement en français"));
        assert_eq!((en[0][2].as_str(), en[1][2].as_str()), ("Transfer of resources", "Seulement en français [FR]"));
        assert_eq!(both[0][2], "Transfer of resources / Transfert des ressources");
        assert_eq!(both[1][2], "Seulement en français [FR]");
        assert_eq!(&fr[0][3..], ["2", "simple", "10", "12", "3", "1", "16", "16", "20", "adopted", &"ab".repeat(32)]);
        let header = results_csv(&sample(), Lang::Fr).lines().next().map(str::to_owned);
        assert_eq!(
            header.as_deref(),
            Some("poll,draft,title,version,method,quorum,for,against,abstain,cast,cast_weight,eligible,outcome,digest")
        );
    }

    #[test]
    fn a_text_shows_the_language_asked_else_the_other_marked() {
        let both = json!({"en": "Hello", "fr": "Bonjour"});
        let fr_only = json!({"fr": "Bonjour", "en": ""});
        let shown =
            |v: &Value, lang| wordings(v, lang).iter().map(|w| (w.text.to_owned(), w.marker())).collect::<Vec<_>>();
        assert_eq!(shown(&both, Lang::Fr), [("Bonjour".into(), None)]);
        assert_eq!(shown(&both, Lang::En), [("Hello".into(), None)]);
        assert_eq!(shown(&both, Lang::Both), [("Hello".into(), None), ("Bonjour".into(), None)]);
        assert_eq!(shown(&fr_only, Lang::En), [("Bonjour".into(), Some("[FR]".into()))]);
        assert_eq!(shown(&fr_only, Lang::Both), [("Bonjour".into(), Some("[FR]".into()))]);
        assert_eq!(shown(&json!("Tanger"), Lang::Fr), [("Tanger".into(), None)], "a plain string: no marker");
        assert!(wordings(&Value::Null, Lang::Fr).is_empty());
        assert_eq!(plain(&both, Lang::Both), "Hello / Bonjour");
    }

    #[test]
    fn the_language_of_an_export_is_en_fr_or_both() {
        assert_eq!(Lang::parse(None), Ok(Lang::Both));
        assert_eq!(Lang::parse(Some("")), Ok(Lang::Both));
        assert_eq!(Lang::parse(Some("fr")), Ok(Lang::Fr));
        assert_eq!(Lang::parse(Some("en")), Ok(Lang::En));
        assert!(Lang::parse(Some("de")).is_err());
        assert!(Lang::parse(Some("FR")).is_err());
    }

    #[test]
    fn planned_times_are_read_in_utc_whatever_zone_they_name() {
        assert_eq!(civil(0), (1970, 1, 1));
        assert_eq!(civil(17_858), (2018, 11, 23));
        for days in [-800_000, -1, 0, 17_858, 60_000] {
            assert_eq!(days_from_civil(civil(days)), days);
        }
        let utc = |s| match planned(s) {
            Some(Planned::Utc(ms)) => Some(ms),
            _ => None,
        };
        assert_eq!(utc("2018-11-23T14:30:00Z"), Some(at(14, 30)));
        assert_eq!(utc("2018-11-23T15:30:00+01:00"), Some(at(14, 30)));
        assert_eq!(utc("2018-11-23T14:30:00.000Z"), Some(at(14, 30)));
        assert!(matches!(planned("2018-11-23T14:30"), Some(Planned::Local((2018, 11, 23), Some("14:30")))));
        assert!(planned("tomorrow").is_none());
        let session = json!({"starts_at": "2018-11-23T15:30:00+01:00", "ends_at": "2018-11-23T18:30:00+01:00"});
        assert_eq!(planned_times(&session, Lang::En).as_deref(), Some("14:30–17:30 UTC"));
        let moved = json!({"starts_at": "2018-11-23T14:30:00Z", "started_at": at(14, 30) + 86_400_000});
        assert_eq!(planned_times(&moved, Lang::Fr).as_deref(), Some("23 novembre 2018, 14:30 UTC"));
    }
}
