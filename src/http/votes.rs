//! The voting routes: the roster (uploaded as CSV, with each delegate's personal voting code),
//! the printable voting cards, and a closed poll's receipts, which anyone with the join code
//! may read to find their ballot and recount.

use super::error::ApiError;
use super::sessions::session_role;
use crate::credentials::{self, normalise_code};
use crate::domain::votes::{PollStatus, RosterEntry};
use crate::domain::Role;
use crate::state::{now_ms, participant_link, AppState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Rows a roster holds at most.
pub const MAX_ROSTER: usize = 5000;
/// A delegate's weight at most.
pub const MAX_WEIGHT: u64 = 1_000_000;

async fn moderator(state: &AppState, id: &str, headers: &HeaderMap) -> Result<(), ApiError> {
    match session_role(state, id, headers).await? {
        Role::Moderator => Ok(()),
        _ => Err(ApiError::Forbidden("only the moderator manages the roster".into())),
    }
}

/// Parses `name,organisation,weight` rows (with that header) into roster entries with fresh
/// codes; every problem is reported with its line.
pub fn parse_roster(body: &[u8]) -> Result<Vec<RosterEntry>, ApiError> {
    let mut reader = csv::ReaderBuilder::new().trim(csv::Trim::All).flexible(true).from_reader(body);
    let line_one = |m: String| ApiError::InvalidFields(vec![("line 1".into(), m)]);
    let headers = reader.headers().map_err(|e| line_one(e.to_string()))?.clone();
    let column = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let name_at = column("name").ok_or_else(|| line_one("the header needs a name column".into()))?;
    let (org_at, weight_at) = (column("organisation"), column("weight"));
    let mut entries = Vec::new();
    let mut problems = Vec::new();
    for (i, row) in reader.records().enumerate() {
        let line = i + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("line {line}: {e}"));
                continue;
            }
        };
        let field = |at: Option<usize>| at.and_then(|a| row.get(a)).unwrap_or("");
        let name = crate::domain::text::parse(field(Some(name_at)), "the name", 120, false);
        let organisation = crate::domain::text::parse_optional(Some(field(org_at)), "the organisation", 200);
        let weight = match field(weight_at) {
            "" => Some(1),
            w => w.parse::<u64>().ok().filter(|w| (1..=MAX_WEIGHT).contains(w)),
        };
        match (name, organisation, weight) {
            (Ok(name), Ok(organisation), Some(weight)) => entries.push(RosterEntry {
                id: format!("v{}", entries.len() + 1),
                name,
                organisation: organisation.unwrap_or_default(),
                weight,
                code: credentials::new_voting_code(),
            }),
            (Err(e), _, _) | (_, Err(e), _) => problems.push(format!("line {line}: {e}")),
            (_, _, None) => {
                problems.push(format!("line {line}: the weight must be a whole number from 1 to {MAX_WEIGHT}"))
            }
        }
        if entries.len() + problems.len() > MAX_ROSTER {
            return Err(ApiError::TooLarge(format!("a roster holds at most {MAX_ROSTER} rows")));
        }
    }
    if !problems.is_empty() {
        let fields = problems
            .into_iter()
            .take(50)
            .map(|p| match p.split_once(": ") {
                Some((line, m)) => (line.to_owned(), m.to_owned()),
                None => (String::new(), p),
            })
            .collect();
        return Err(ApiError::InvalidFields(fields));
    }
    if entries.is_empty() {
        return Err(ApiError::Invalid("the roster is empty".into()));
    }
    Ok(entries)
}

fn wants_csv(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/csv"))
}

fn roster_csv(entries: &[RosterEntry]) -> Result<Response, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.to_string());
    out.write_record(["id", "name", "organisation", "weight", "code"]).map_err(internal)?;
    for e in entries {
        let (name, organisation) =
            (crate::record_text::csv_cell(&e.name), crate::record_text::csv_cell(&e.organisation));
        out.write_record([&e.id, &name, &organisation, &e.weight.to_string(), &e.code]).map_err(internal)?;
    }
    let body = out.into_inner().map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body).into_response())
}

/// `POST /api/roster/check` (anyone): a roster CSV read as `PUT …/roster` reads it, without
/// storing anything or making codes: the rows and their total weight, or 400 with a problem
/// per line (`error.fields: [{path: "line 3", message}]`). The editor's preview.
pub async fn check_roster(body: axum::body::Bytes) -> Result<Response, ApiError> {
    let entries = parse_roster(&body)?;
    let weight: u64 = entries.iter().map(|e| e.weight).sum();
    let rows: Vec<_> = entries
        .iter()
        .map(|e| serde_json::json!({"name": e.name, "organisation": e.organisation, "weight": e.weight}))
        .collect();
    Ok(axum::Json(serde_json::json!({"entries": rows, "weight": weight})).into_response())
}

/// `PUT /api/sessions/{id}/roster`: replaces the roster.
pub async fn put_roster(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    moderator(&state, &id, &headers).await?;
    let entries = parse_roster(&body)?;
    state.store.replace_roster(&id, &entries, now_ms()).await?;
    tracing::info!(session = %id, entries = entries.len(), "roster replaced");
    if wants_csv(&headers) {
        return roster_csv(&entries);
    }
    let list: Vec<_> = entries
        .iter()
        .map(
            |e| json!({"id": e.id, "name": e.name, "organisation": e.organisation, "weight": e.weight, "code": e.code}),
        )
        .collect();
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(json!({ "entries": list }))).into_response())
}

/// `GET /api/sessions/{id}/roster/cards.html`: one printable card per delegate.
pub async fn cards(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    moderator(&state, &id, &headers).await?;
    let snapshot =
        state.store.snapshot(&id, None).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let entries = state.store.roster(&id).await?;
    let link = participant_link(&state.base_url(&headers), &snapshot.session.code);
    let title = &snapshot.definition.title.joined(" · ");
    let mut html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Voting cards · {}</title>\
         <style>{CARDS_CSS}</style></head><body><main>",
        escape(title)
    );
    for e in &entries {
        let url = format!("{link}#claim={}", e.code);
        let qr = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| ApiError::Internal(e.to_string()))?
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(140, 140)
            .quiet_zone(false)
            .build();
        let code = format!("{} {}", &e.code[..4], &e.code[4..]);
        html.push_str(&format!(
            "<section class=\"card\"><p class=\"session\">{}</p><h1>{}</h1><p class=\"org\">{}</p>\
             <p class=\"weight\">Weight / Poids : {}</p><div class=\"qr\">{qr}</div>\
             <p class=\"label\">Personal voting code · Code de vote personnel</p><p class=\"code\">{}</p>\
             <p class=\"how\">Scan, or open {} and enter the code. Keep it to yourself.<br>\
             Scannez, ou ouvrez {} et saisissez le code. Ne le communiquez à personne.</p></section>",
            escape(title),
            escape(&e.name),
            escape(&e.organisation),
            e.weight,
            escape(&code),
            escape(&link),
            escape(&link),
        ));
    }
    html.push_str("</main></body></html>");
    let csp = super::document_csp(&html, "img-src data:; ");
    Ok((
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (header::CONTENT_SECURITY_POLICY, csp),
        ],
        html,
    )
        .into_response())
}

const CARDS_CSS: &str = "@page{size:A4;margin:10mm}body{font-family:'DejaVu Sans',Arial,sans-serif;margin:0;color:#17233f}\
main{display:grid;grid-template-columns:1fr 1fr;gap:6mm}\
.card{border:1px dashed #8a94a8;border-radius:3mm;padding:5mm;break-inside:avoid;text-align:center;height:128mm;box-sizing:border-box}\
.session{font-size:8pt;color:#566079;margin:0 0 2mm}h1{font-size:15pt;margin:0}.org{margin:1mm 0;font-size:10pt}\
.weight{font-size:9pt;color:#566079;margin:1mm 0 3mm}.qr svg{width:40mm;height:40mm}\
.label{font-size:8pt;text-transform:uppercase;letter-spacing:.05em;margin:3mm 0 1mm;color:#566079}\
.code{font:700 22pt 'DejaVu Sans Mono',monospace;letter-spacing:.1em;margin:0}.how{font-size:7.5pt;color:#566079;margin-top:3mm}";

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// `GET /j/{code}/polls/{poll}/receipts.json`: a closed poll's receipts, for anyone to find
/// their ballot and recount; no voter is named.
pub async fn receipts(
    State(state): State<AppState>,
    Path((code, poll)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let code = normalise_code(&code).ok_or_else(|| ApiError::NotFound("no such session code".into()))?;
    let id = state.store.resolve_code(&code).await?.ok_or_else(|| ApiError::NotFound("no such session code".into()))?;
    let snapshot =
        state.store.snapshot(&id, None).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let p = snapshot.session.votes.polls.get(&poll).ok_or_else(|| ApiError::NotFound("no such poll".into()))?;
    let result = match (&p.status, &p.result) {
        (PollStatus::Closed, Some(r)) => r,
        (PollStatus::Cancelled, _) => {
            return Err(ApiError::Conflict("this vote was cancelled: no ballot counted".into()))
        }
        _ => return Err(ApiError::Conflict("the vote is still open: receipts are published at its close".into())),
    };
    let ballots = state.store.ballots(&id, &poll).await?;
    // In a secret poll a weight of its own would name its delegate: weights are left out, and
    // the number of ballots by choice is given for the recount.
    let receipts: Vec<_> = ballots
        .iter()
        .map(|b| match p.secret {
            true => json!({"receipt": b.receipt, "choice": b.choice}),
            false => json!({"receipt": b.receipt, "choice": b.choice, "weight": b.weight}),
        })
        .collect();
    let by_choice = |c: crate::domain::Choice| ballots.iter().filter(|b| b.choice == c).count();
    let numbers = json!({"for": by_choice(crate::domain::Choice::For), "against": by_choice(crate::domain::Choice::Against),
                         "abstain": by_choice(crate::domain::Choice::Abstain)});
    let body = json!({
        "poll": p.id, "draft": p.draft, "method": p.method, "quorum": p.quorum, "secret": p.secret,
        "counts": result.counts, "cast": result.cast, "cast_weight": result.cast_weight,
        "eligible": result.eligible, "outcome": result.outcome, "rule": result.rule,
        "ballots": numbers, "receipts": receipts,
    });
    Ok(([(header::CACHE_CONTROL, "public, max-age=60")], Json(body)).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_roster_is_read_with_its_weights_and_every_bad_line_is_named() {
        let ok =
            parse_roster(b"name,organisation,weight\nAwa Diop,AMM,3\n  Moussa Traor\xc3\xa9 , ARM ,\n").expect("valid");
        assert_eq!(
            ok.iter().map(|e| (e.name.as_str(), e.weight)).collect::<Vec<_>>(),
            [("Awa Diop", 3), ("Moussa Traoré", 1)]
        );
        assert_ne!(ok[0].code, ok[1].code);
        let err = parse_roster(b"name,organisation,weight\n,AMM,1\nB,X,zero\nC,Y,0\n").expect_err("invalid");
        let ApiError::InvalidFields(fields) = err else { panic!("{err:?}") };
        let lines: Vec<&str> = fields.iter().map(|(line, _)| line.as_str()).collect();
        assert_eq!(lines, ["line 2", "line 3", "line 4"], "every bad line is named");
        assert!(parse_roster(b"who,weight\nA,1\n").is_err(), "a name column is needed");
    }
}
