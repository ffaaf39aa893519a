//! The record's exports (`record.json`, `record.md`, `results.csv`, the printable minutes
//! `record.html`) and the audit trail (`events.jsonl`), for the moderator and the rapporteur.

use super::error::ApiError;
use super::sessions::session_role;
use crate::domain::Role;
use crate::record_text::{
    self, clock, date, decided_wording, duration, enum_words, num, rule_words, wordings, Lang, Wording,
};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::fmt::Write as _;

/// The moderator or the rapporteur: who keeps and reads the record.
pub async fn record_keeper(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Role, ApiError> {
    match session_role(state, id, headers).await? {
        role @ (Role::Moderator | Role::Rapporteur) => Ok(role),
        _ => Err(ApiError::Forbidden("the record is the moderator's and the rapporteur's".into())),
    }
}

/// `GET /api/sessions/{id}/events.jsonl`: every event in `seq` order, one JSON object a line,
/// with its time and the actor's role; each event as the reader's role may see it.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let role = record_keeper(&state, &id, &headers).await?;
    let trail = state.store.audit(&id).await?;
    let mut out = String::new();
    for a in trail {
        let event = a.event.for_role(role).map_or_else(|| json!({"kind": a.event.kind()}), |e| json!(e));
        out.push_str(&json!({"seq": a.seq, "at": a.at, "role": a.role, "event": event}).to_string());
        out.push('\n');
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], out)
        .into_response())
}

async fn built(state: &AppState, id: &str, headers: &HeaderMap) -> Result<serde_json::Value, ApiError> {
    record_keeper(state, id, headers).await?;
    let snapshot = state.store.snapshot(id, None).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let audit = state.store.audit(id).await?;
    Ok(crate::record::build(&snapshot, &audit))
}

/// `GET /api/sessions/{id}/record.json`: the complete record (with its digest once final).
pub async fn json_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = built(&state, &id, &headers).await?;
    let body = serde_json::to_string_pretty(&record).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(private("application/json; charset=utf-8", None, body))
}

/// An export of the record (in `lang`, for a text one): the keepers' only, so never cached.
fn private(content_type: &'static str, lang: Option<Lang>, body: String) -> Response {
    let mut response =
        ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-store")], body).into_response();
    if let Some(lang) = lang {
        response.headers_mut().insert(header::CONTENT_LANGUAGE, HeaderValue::from_static(content_language(lang)));
    }
    response
}

/// `?lang=en|fr` of the exports; without it, both languages.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LangQuery {
    lang: Option<String>,
}

impl LangQuery {
    fn lang(&self) -> Result<Lang, ApiError> {
        Lang::parse(self.lang.as_deref()).map_err(ApiError::Invalid)
    }
}

/// `Content-Language` of an export in `lang`.
fn content_language(lang: Lang) -> &'static str {
    match lang {
        Lang::En => "en",
        Lang::Fr => "fr",
        Lang::Both => "en, fr",
    }
}

/// `GET /api/sessions/{id}/record.md?lang=en|fr`: the minutes in Markdown.
pub async fn markdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let lang = query.lang()?;
    let record = built(&state, &id, &headers).await?;
    Ok(private("text/markdown; charset=utf-8", Some(lang), record_text::markdown(&record, lang)))
}

/// `GET /api/sessions/{id}/results.csv?lang=en|fr`: one row per poll.
pub async fn results(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let lang = query.lang()?;
    let record = built(&state, &id, &headers).await?;
    Ok(private("text/csv; charset=utf-8", Some(lang), record_text::results_csv(&record, lang)))
}

/// `GET /api/sessions/{id}/record.html?lang=en|fr`: the printable minutes (A4), made from
/// `record.json`: the heading, the agenda as held, the texts with what was decided and by what
/// vote, the questions taken, the speakers from the floor, the rapporteur's notes; page numbers
/// and the digest in the footer of every printed page. Every text is escaped; the page carries
/// no script and allows only its own inline style.
pub async fn html_export(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<LangQuery>,
) -> Result<Response, ApiError> {
    let lang = query.lang()?;
    let record = built(&state, &id, &headers).await?;
    let html = minutes_html(&record, lang);
    let csp = HeaderValue::from_str(&super::document_csp(&html, "")).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut response = private("text/html; charset=utf-8", Some(lang), html);
    response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
    Ok(response)
}

/// Text for HTML content and attribute values.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Text for a CSS string (`content: "…"`): everything but plain letters, digits and spaces
/// as a hex escape, so no quote, backslash or `</style>` can end it; a line feed is a line
/// break where the box keeps white space.
fn css_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || c == ' ' {
            out.push(c);
        } else {
            // The space ends the escape (and is consumed with it).
            let _ = write!(out, "\\{:x} ", c as u32);
        }
    }
    out.push('"');
    out
}

/// A label in the minutes' language (or both, the second one marked as such).
fn label(lang: Lang, en: &str, fr: &str) -> String {
    match lang {
        Lang::En => esc(en),
        Lang::Fr => esc(fr),
        Lang::Both if en == fr => esc(en),
        Lang::Both => format!("{} <span class=\"alt\" lang=\"fr\">· {}</span>", esc(en), esc(fr)),
    }
}

/// The fallback badge of a wording shown in place of another language's: `[EN]`, with its
/// language and, in the minutes' language, what it means.
fn marker(w: &Wording<'_>, lang: Lang) -> String {
    match (w.marker(), w.lang) {
        (Some(m), Some(l)) => {
            let title = match l {
                "en" => lang.words(
                    "Not available in French — shown in English",
                    "Pas disponible en français — affiché en anglais",
                ),
                "fr" => lang.words(
                    "Not available in English — shown in French",
                    "Pas disponible en anglais — affiché en français",
                ),
                _ => lang.words("Shown in another language", "Affiché dans une autre langue"),
            };
            format!(
                " <span class=\"marker lang-fallback\" lang=\"{}\" title=\"{}\">{}</span>",
                esc(l),
                esc(&title),
                esc(&m)
            )
        }
        _ => String::new(),
    }
}

/// One wording, escaped, in an element naming its language when it has one.
fn wording_html(w: &Wording<'_>, lang: Lang) -> String {
    match w.lang {
        Some(l) => format!("<span lang=\"{}\">{}</span>{}", esc(l), esc(w.text), marker(w, lang)),
        None => esc(w.text),
    }
}

/// A text given as a string or by language (`{"fr": …, "en": …}`), escaped, in the minutes'
/// language: the other language with a marker when it is missing, both when the labels are.
fn loc(v: &Value, lang: Lang) -> String {
    wordings(v, lang).iter().map(|w| wording_html(w, lang)).collect::<Vec<_>>().join(" <span class=\"alt\">/</span> ")
}

/// A long text (a draft): side by side by language when it has several and both are shown.
fn loc_block(v: &Value, lang: Lang) -> String {
    let ws = wordings(v, lang);
    if ws.len() > 1 {
        let mut out = String::from("<div class=\"langs\">");
        for w in &ws {
            let _ = write!(out, "<div class=\"text\" lang=\"{}\">{}</div>", esc(w.lang.unwrap_or("")), esc(w.text));
        }
        out.push_str("</div>");
        return out;
    }
    match ws.first() {
        Some(w @ Wording { lang: Some(l), .. }) => {
            format!("<div class=\"text\" lang=\"{}\">{}{}</div>", esc(l), esc(w.text), marker(w, lang))
        }
        Some(w) => format!("<div class=\"text\">{}</div>", esc(w.text)),
        None => "<div class=\"text\"></div>".into(),
    }
}

fn enum_label(lang: Lang, v: &Value) -> String {
    let (en, fr) = enum_words(v.as_str().unwrap_or(""));
    label(lang, en, fr)
}

/// The rule applied, in words: the record's own (English) words, or the same in French.
fn rule_text(lang: Lang, p: &Value) -> String {
    let (en, fr) = rule_words(p);
    match lang {
        Lang::En => esc(&en),
        Lang::Fr => esc(&fr),
        Lang::Both => format!("{} <span class=\"alt\" lang=\"fr\">· {}</span>", esc(&en), esc(&fr)),
    }
}

const MINUTES_CSS: &str = r#"
@page { size: A4; margin: 18mm 16mm 20mm; }
* { box-sizing: border-box; }
html { color: #111; background: #fff; }
body { margin: 0; font: 10.5pt/1.42 "DejaVu Sans", "Noto Sans", Arial, sans-serif; }
@media screen { body { max-width: 190mm; margin: 0 auto; padding: 10mm 8mm 16mm; } }
header.head { border-bottom: 2px solid #17233f; padding-bottom: 4mm; margin-bottom: 5mm; }
.ref { font-weight: 700; letter-spacing: .04em; color: #17233f; margin: 0 0 1mm; font-size: 10pt; }
h1 { font-size: 17pt; line-height: 1.2; margin: 0 0 2mm; }
.meta { margin: 0; color: #333; }
.state { display: inline-block; margin-top: 2.5mm; padding: .6mm 2.5mm; border: 1px solid #8f4c00; color: #8f4c00; border-radius: 1mm; font-size: 8.5pt; font-weight: 700; text-transform: uppercase; letter-spacing: .05em; }
.state.final { border-color: #14703f; color: #14703f; }
h2 { font-size: 12.5pt; margin: 7mm 0 2.5mm; padding-bottom: 1mm; border-bottom: 1px solid #999; break-after: avoid; page-break-after: avoid; color: #17233f; }
h3 { font-size: 11pt; margin: 0 0 1mm; break-after: avoid; page-break-after: avoid; }
.alt { color: #555; font-weight: normal; }
h2 .alt, h3 .alt { font-weight: normal; }
.marker { color: #8f4c00; font-size: 8pt; }
table { width: 100%; border-collapse: collapse; font-size: 9.5pt; }
thead { display: table-header-group; }
tr, td, th { break-inside: avoid; page-break-inside: avoid; }
th, td { text-align: left; vertical-align: top; padding: 1.3mm 1.6mm; border-bottom: .6pt solid #bbb; }
thead th { font-size: 8pt; text-transform: uppercase; letter-spacing: .04em; color: #444; border-bottom: 1pt solid #555; }
thead th .alt { display: block; text-transform: none; letter-spacing: 0; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot th, tfoot td { font-weight: 700; border-bottom: 0; border-top: 1pt solid #555; }
.sub { display: block; color: #444; font-size: 8.5pt; }
.over { color: #8f4c00; }
.draft { margin: 0 0 5mm; break-inside: avoid; page-break-inside: avoid; }
.draft-head { break-inside: avoid; page-break-inside: avoid; }
.kind { font-size: 8pt; text-transform: uppercase; letter-spacing: .05em; color: #444; margin: 0; }
.text { white-space: pre-wrap; margin: 1.5mm 0 2mm; padding: 2mm 3mm; border-left: 2.5pt solid #c9ced8; background: #f6f7f9; orphans: 3; widows: 3; }
.langs { display: grid; grid-template-columns: 1fr 1fr; gap: 3mm; }
.langs .text { margin: 1.5mm 0 2mm; }
.decision { break-inside: avoid; page-break-inside: avoid; margin: 1.5mm 0 0; padding: 2mm 3mm; border: .8pt solid #bbb; border-radius: 1mm; }
.decision p { margin: 0 0 1mm; }
.decision p:last-child { margin-bottom: 0; }
.decision table { margin: 1.5mm 0; }
.decision td, .decision th { border-bottom: .6pt solid #ddd; }
.outcome { font-weight: 700; text-transform: uppercase; letter-spacing: .03em; }
.outcome.adopted { color: #14703f; }
.outcome.rejected, .outcome.no_quorum { color: #b3261e; }
.rule { color: #333; font-size: 9pt; }
ol.questions, ul.notes { margin: 0; padding-left: 6mm; }
ol.questions li, ul.notes li { margin: 0 0 2mm; break-inside: avoid; page-break-inside: avoid; }
.q-text, .n-text { white-space: pre-wrap; }
.none { color: #555; font-style: italic; margin: 0; }
.seal { margin-top: 8mm; padding: 3mm; border: 1pt solid #17233f; border-radius: 1mm; break-inside: avoid; page-break-inside: avoid; font-size: 9pt; }
.seal p { margin: 0 0 1mm; }
.digest { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; overflow-wrap: anywhere; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; }
"#;

/// The printable minutes of `record` (see [`html_export`]).
pub fn minutes_html(record: &Value, lang: Lang) -> String {
    let s = &record["session"];
    let l = |en: &str, fr: &str| label(lang, en, fr);
    let html_lang = if lang == Lang::Fr { "fr" } else { "en" };
    let digest = record["digest"].as_str();
    let reference = s["reference"].as_str().unwrap_or("");
    // The page's title and running head: the title in one language.
    let title_text = record_text::plain(&s["title"], if lang == Lang::Fr { Lang::Fr } else { Lang::En });

    // The footer of every printed page: the reference, the seal, the page number; the header
    // of the pages after the first: the reference and the title (shortened).
    let state_words = match digest {
        Some(_) => lang.words("Final record", "Compte rendu définitif"),
        None => lang.words("Draft record, not finalised", "Projet de compte rendu, non définitif"),
    };
    let mut foot_left =
        [reference, &state_words].iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>().join(" · ");
    if let Some(d) = digest {
        foot_left.push_str(&format!("\nSHA-256 {d}"));
    }
    let short_title: String = if title_text.chars().count() > 70 {
        format!("{}…", title_text.chars().take(69).collect::<String>().trim_end())
    } else {
        title_text.clone()
    };
    let head_right =
        [reference, short_title.as_str()].iter().filter(|x| !x.is_empty()).copied().collect::<Vec<_>>().join(" · ");
    let page_word = lang.words("Page", "Page");
    let mut css = String::from(MINUTES_CSS);
    let _ = write!(
        css,
        "@page {{ @bottom-left {{ content: {}; white-space: pre-wrap; font: 7pt/1.35 \"DejaVu Sans\", sans-serif; color: #444; vertical-align: top; padding-top: 4mm; }} \
         @bottom-right {{ content: {} \" \" counter(page) \" / \" counter(pages); font: 8pt \"DejaVu Sans\", sans-serif; color: #444; vertical-align: top; padding-top: 4mm; white-space: nowrap; }} \
         @top-right {{ content: {}; white-space: nowrap; font: 7.5pt \"DejaVu Sans\", sans-serif; color: #666; vertical-align: bottom; padding-bottom: 4mm; }} }}\n\
         @page :first {{ @top-right {{ content: none; }} }}\n",
        css_string(&foot_left),
        css_string(&page_word),
        css_string(&head_right),
    );

    let mut h = format!(
        "<!doctype html><html lang=\"{html_lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{} · {}</title><style>{css}</style></head><body>",
        esc(&lang.words("Minutes", "Procès-verbal")),
        esc(if reference.is_empty() { &title_text } else { reference }),
    );

    // ---- heading
    h.push_str("<header class=\"head\">");
    let mut line = Vec::new();
    if !reference.is_empty() {
        line.push(esc(reference));
    }
    line.push(l("Minutes", "Procès-verbal"));
    let _ = write!(h, "<p class=\"ref\">{}</p><h1>{}</h1>", line.join(" · "), loc(&s["title"], lang));
    // French puts a space before the colon.
    let colon = if lang == Lang::Fr { " :" } else { ":" };
    let mut meta = Vec::new();
    let venue = loc(&s["venue"], lang);
    if !venue.is_empty() {
        meta.push(venue);
    }
    if let Some(day) = record_text::session_day(s) {
        meta.push(esc(&date(lang, day)));
    }
    h.push_str("<p class=\"meta\">");
    h.push_str(&meta.join(" · "));
    h.push_str("</p><p class=\"meta\">");
    if let Some(times) = record_text::planned_times(s, lang) {
        let _ = write!(h, "{}{colon} {}</p><p class=\"meta\">", l("Planned", "Prévu"), esc(&times));
    }
    if s["started_at"].is_i64() {
        let _ = write!(h, "{}{colon} {}–{} UTC", l("Held", "Tenue"), clock(&s["started_at"]), clock(&s["ended_at"]));
    } else {
        h.push_str(&l("Not held yet", "Pas encore tenue"));
    }
    h.push_str("</p>");
    let _ = match digest {
        Some(_) => write!(h, "<p class=\"state final\">{}</p>", l("Final record", "Compte rendu définitif")),
        None => write!(h, "<p class=\"state\">{}</p>", l("Draft record — not finalised", "Projet — non définitif")),
    };
    h.push_str("</header><main>");

    // ---- agenda as held
    let _ = write!(h, "<section><h2>{}</h2>", l("Agenda as held", "Ordre du jour tel que tenu"));
    let _ = write!(
        h,
        "<table><thead><tr><th class=\"num\">#</th><th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
        l("Item", "Point"),
        l("Time (UTC)", "Heure (UTC)"),
        l("Planned", "Prévu"),
        l("Held", "Tenu"),
    );
    let (mut planned_total, mut held_total) = (0u64, 0u64);
    for it in record["agenda"].as_array().into_iter().flatten() {
        let planned = num(&it["planned_minutes"]) * 60;
        let secs = num(&it["seconds"]);
        planned_total += planned;
        held_total += secs;
        let held: Vec<String> = it["held"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|st| {
                format!("{}–{}", clock(&st["from"]), if st["to"].is_null() { "…".into() } else { clock(&st["to"]) })
            })
            .collect();
        let speakers: Vec<String> = it["speakers"].as_array().into_iter().flatten().map(|sp| loc(sp, lang)).collect();
        let mut sub = enum_label(lang, &it["kind"]);
        if !speakers.is_empty() {
            sub.push_str(" · ");
            sub.push_str(&speakers.join(" · "));
        }
        let over = planned > 0 && secs > planned + 60;
        let _ = write!(
            h,
            "<tr><td class=\"num\">{}</td><td>{}<span class=\"sub\">{sub}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num{}\">{}</td></tr>",
            num(&it["index"]) + 1,
            loc(&it["title"], lang),
            if held.is_empty() { "—".into() } else { held.join("<br>") },
            if planned > 0 { duration(planned) } else { "—".into() },
            if over { " over" } else { "" },
            if held.is_empty() { l("not held", "non tenu") } else { duration(secs) },
        );
    }
    let _ = write!(
        h,
        "</tbody><tfoot><tr><th colspan=\"3\">{}</th><td class=\"num\">{}</td><td class=\"num\">{}</td></tr></tfoot></table></section>",
        l("Total", "Total"),
        duration(planned_total),
        duration(held_total)
    );

    // ---- texts and their adoption
    let _ = write!(h, "<section><h2>{}</h2>", l("Texts and decisions", "Textes et décisions"));
    let drafts = record["drafts"].as_array().cloned().unwrap_or_default();
    if drafts.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l("No texts.", "Aucun texte."));
    }
    for d in &drafts {
        let status = d["status"].as_str().unwrap_or("");
        // The wording decided upon: the version the deciding vote was on.
        let (version, wording) = decided_wording(record, d);
        let current = num(&d["version"]);
        let later = if current != version {
            format!(
                " ({})",
                esc(&lang.words(
                    &format!("since amended: version {current}"),
                    &format!("modifié depuis : version {current}")
                ))
            )
        } else {
            String::new()
        };
        let _ = write!(
            h,
            "<article class=\"draft\"><div class=\"draft-head\"><p class=\"kind\">{} · {} {version}{later}</p><h3>{}</h3></div>{}",
            enum_label(lang, &d["kind"]),
            l("version", "version"),
            loc(&d["title"], lang),
            loc_block(wording, lang),
        );
        for p in record_text::closed_polls(record, d) {
            let c = &p["counts"];
            let outcome = p["outcome"].as_str().unwrap_or("");
            let mut how = vec![enum_label(lang, &p["method"])];
            let quorum = num(&p["quorum"]);
            how.push(if quorum > 0 {
                format!("{} {quorum}", l("quorum", "quorum"))
            } else {
                l("no quorum set", "sans quorum")
            });
            if p["secret"] == true {
                how.push(l("secret ballot", "scrutin secret"));
            }
            let weighted = num(&p["cast_weight"]) != num(&p["cast"]);
            let _ = write!(
                h,
                "<div class=\"decision\"><p><strong>{}</strong> · {} – {} UTC · {}</p>\
                 <table><thead><tr><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead>\
                 <tbody><tr><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}{}</td><td class=\"num\">{}</td></tr></tbody></table>\
                 <p><span class=\"outcome {}\">{}</span> <span class=\"rule\">— {}</span></p></div>",
                l("Vote", "Vote"),
                clock(&p["opened_at"]),
                clock(&p["closed_at"]),
                how.join(" · "),
                l("For", "Pour"),
                l("Against", "Contre"),
                l("Abstain", "Abstention"),
                l("Ballots", "Bulletins"),
                l("Eligible", "Inscrits"),
                num(&c["for"]),
                num(&c["against"]),
                num(&c["abstain"]),
                num(&p["cast"]),
                if weighted { format!(" ({} {})", l("weight", "poids"), num(&p["cast_weight"])) } else { String::new() },
                num(&p["eligible"]),
                esc(outcome),
                enum_label(lang, &p["outcome"]),
                rule_text(lang, p),
            );
        }
        if d["adopted_by"] == "consensus" {
            let _ = write!(
                h,
                "<div class=\"decision\"><p><span class=\"outcome adopted\">{}</span></p></div>",
                l("Adopted by consensus", "Adopté par consensus")
            );
        } else if matches!(status, "draft" | "withdrawn" | "voting") {
            let _ = write!(h, "<div class=\"decision\"><p>{}</p></div>", enum_label(lang, &d["status"]));
        }
        h.push_str("</article>");
    }
    h.push_str("</section>");

    // ---- questions taken
    let _ = write!(h, "<section><h2>{}</h2>", l("Questions taken", "Questions traitées"));
    let questions = record["questions"].as_array().cloned().unwrap_or_default();
    if questions.is_empty() {
        let _ =
            write!(h, "<p class=\"none\">{}</p>", l("No questions were taken.", "Aucune question n’a été traitée."));
    } else {
        h.push_str("<ol class=\"questions\">");
        for q in &questions {
            let who = match q["name"].as_str().filter(|n| !n.is_empty()) {
                Some(n) => esc(n),
                None => l("anonymous", "anonyme"),
            };
            let merged = q["merged"].as_array().map_or(0, Vec::len);
            let mut sub = vec![
                who,
                format!("{} {}", num(&q["upvotes"]), l("upvotes", "soutiens")),
                enum_label(lang, &q["status"]),
            ];
            if merged > 0 {
                sub.push(format!("{merged} {}", l("similar merged in", "similaires regroupées")));
            }
            sub.push(format!("{} UTC", clock(&q["asked_at"])));
            let _ = write!(
                h,
                "<li><span class=\"q-text\">{}</span><span class=\"sub\">{}</span></li>",
                esc(q["text"].as_str().unwrap_or("")),
                sub.join(" · ")
            );
        }
        h.push_str("</ol>");
    }
    h.push_str("</section>");

    // ---- speakers from the floor
    let _ = write!(h, "<section><h2>{}</h2>", l("Speakers from the floor", "Interventions de la salle"));
    let floor = record["floor"].as_array().cloned().unwrap_or_default();
    if floor.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l("Nobody took the floor.", "Personne n’a pris la parole."));
    } else {
        let _ = write!(
            h,
            "<table><thead><tr><th>{}</th><th>{}</th><th class=\"num\">{}</th><th class=\"num\">{}</th></tr></thead><tbody>",
            l("Name", "Nom"),
            l("Organisation", "Organisation"),
            l("Time (UTC)", "Heure (UTC)"),
            l("Spoke for", "Durée"),
        );
        for f in &floor {
            let _ = write!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(f["name"].as_str().unwrap_or("")),
                esc(f["organisation"].as_str().unwrap_or("")),
                clock(&f["started"]),
                duration(num(&f["seconds"])),
            );
        }
        h.push_str("</tbody></table>");
    }
    h.push_str("</section>");

    // ---- notes
    let notes = record["notes"].as_array().cloned().unwrap_or_default();
    let _ = write!(h, "<section><h2>{}</h2>", l("Rapporteur’s notes", "Notes du rapporteur"));
    if notes.is_empty() {
        let _ = write!(h, "<p class=\"none\">{}</p>", l("No notes.", "Aucune note."));
    } else {
        h.push_str("<ul class=\"notes\">");
        for n in &notes {
            let _ = write!(
                h,
                "<li><span class=\"n-text\">{}</span><span class=\"sub\">{} UTC</span></li>",
                esc(n["text"].as_str().unwrap_or("")),
                clock(&n["at"])
            );
        }
        h.push_str("</ul>");
    }
    h.push_str("</section>");

    // ---- the seal
    h.push_str("<section class=\"seal\">");
    match digest {
        Some(d) => {
            let _ = write!(
                h,
                "<p><strong>{}</strong> · {} {} UTC</p><p>{}</p><p class=\"digest\">{}</p><p>{} <code>palabre verify record.json</code></p>",
                l("Final record", "Compte rendu définitif"),
                l("finalised at", "arrêté à"),
                clock(&record["finalised"]["at"]),
                l("SHA-256 digest of record.json:", "Empreinte SHA-256 de record.json :"),
                esc(d),
                l("To check a copy:", "Pour vérifier une copie :"),
            );
        }
        None => {
            let _ = write!(
                h,
                "<p><strong>{}</strong></p><p>{}</p>",
                l("Draft record", "Projet de compte rendu"),
                l(
                    "Not finalised: the rapporteur finalises the record after the session ends; it then carries its digest.",
                    "Non définitif : le rapporteur arrête le compte rendu après la séance ; il porte alors son empreinte."
                ),
            );
        }
    }
    h.push_str("</section></main></body></html>");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_minutes_escape_every_text_and_carry_the_digest() {
        let record = json!({
            "format": crate::record::FORMAT,
            "session": {"title": "<script>alert(1)</script>", "reference": "SOU \"94\" </style>", "venue": "Tanger & co",
                        "starts_at": "2018-11-23T14:30:00Z", "started_at": 1_543_000_000_000_i64, "ended_at": 1_543_003_600_000_i64},
            "agenda": [{"index": 0, "title": {"en": "Opening", "fr": "Ouverture"}, "kind": "intro", "planned_minutes": 10,
                        "speakers": ["<b>Ana</b>"], "held": [{"from": 1_543_000_000_000_i64, "to": 1_543_000_600_000_i64}], "seconds": 600}],
            "drafts": [{"id": "d1", "kind": "resolution", "title": "T<1>", "text": "a\nb", "status": "adopted", "version": 1}],
            "polls": [{"id": "p1", "draft": "d1", "status": "closed", "method": "simple", "quorum": 0, "counts": {"for": 2, "against": 0, "abstain": 0},
                       "cast": 2, "cast_weight": 2, "eligible": 3, "outcome": "adopted", "rule": "simple majority: for 2 > against 0"}],
            "questions": [{"text": "<img src=x onerror=alert(1)>", "name": null, "upvotes": 1, "status": "answered", "merged": []}],
            "floor": [], "notes": [{"text": "</li><script>", "at": 1_543_000_000_000_i64}],
            "digest": "ab".repeat(32), "finalised": {"at": 1_543_003_700_000_i64},
        });
        for lang in [Lang::En, Lang::Fr, Lang::Both] {
            let html = minutes_html(&record, lang);
            assert!(!html.contains("<script>") && !html.contains("<img") && !html.contains("<b>"), "{html}");
            // Only the page's own style element: the reference in the footer cannot end it.
            assert_eq!(html.matches("</style>").count(), 1);
            assert!(html.contains(&"ab".repeat(32)));
            assert!(html.contains("counter(pages)"));
        }
        assert!(minutes_html(&record, Lang::Fr).contains("Ouverture"));
        assert!(minutes_html(&record, Lang::Fr).contains("majorité simple : pour 2 &gt; contre 0"));
        assert!(minutes_html(&record, Lang::En).contains("Opening"));
    }

    #[test]
    fn the_minutes_show_each_text_in_the_language_asked_as_voted_and_mark_a_fallback() {
        let record = crate::record_text::tests::sample();
        let fr = minutes_html(&record, Lang::Fr);
        for expected in [
            "<html lang=\"fr\">",
            "<h1><span lang=\"fr\">Décentralisation et paix</span></h1>",
            "Tanger · 23 novembre 2018",
            "Prévu : 14:30–17:30 UTC",
            "<span lang=\"fr\">La présidence</span>",
            "<span lang=\"en\">Debate | exchanges</span> <span class=\"marker lang-fallback\" lang=\"en\" title=\"Pas disponible en français — affiché en anglais\">[EN]",
            "<h3><span lang=\"fr\">Transfert des ressources</span></h3>",
            "<div class=\"text\" lang=\"fr\">L’État transfère les ressources chaque année.</div>",
            "<div class=\"text\" lang=\"fr\">Texte mis aux voix.</div>",
            "version 1 (modifié depuis : version 2)",
            "Adopté par consensus",
        ] {
            assert!(fr.contains(expected), "{expected:?} in:\n{fr}");
        }
        assert!(!fr.contains("Texte modifié après le vote"), "the rejected text as it was voted on");
        assert!(!fr.contains("The chair") && !fr.contains("The State shall"), "no English where French is given");

        let en = minutes_html(&record, Lang::En);
        for expected in [
            "<h1><span lang=\"en\">Devolution and peacebuilding</span></h1>",
            "<span lang=\"en\">The chair</span>",
            "<div class=\"text\" lang=\"en\">The State shall transfer resources.</div>",
            "<h3><span lang=\"fr\">Seulement en français</span> <span class=\"marker lang-fallback\" lang=\"fr\"",
            ">[FR]</span>",
        ] {
            assert!(en.contains(expected), "{expected:?} in:\n{en}");
        }
        assert!(!en.contains("La présidence") && !en.contains("Transfert des ressources"));

        let both = minutes_html(&record, Lang::Both);
        for expected in [
            "<span lang=\"en\">Devolution and peacebuilding</span> <span class=\"alt\">/</span> <span lang=\"fr\">Décentralisation et paix</span>",
            "<span lang=\"en\">The chair</span> <span class=\"alt\">/</span> <span lang=\"fr\">La présidence</span>",
            "<div class=\"langs\"><div class=\"text\" lang=\"en\">The State shall transfer resources.</div><div class=\"text\" lang=\"fr\">L’État transfère les ressources chaque année.</div></div>",
            "<div class=\"text\">Set up a network.\n\nReport each year.</div>",
        ] {
            assert!(both.contains(expected), "{expected:?} in:\n{both}");
        }
    }
}
