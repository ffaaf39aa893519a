//! The record's exports (`record.json`, `record.md`, `results.csv`) and the audit trail
//! (`events.jsonl`), for the moderator and the rapporteur.

use super::error::ApiError;
use super::sessions::session_role;
use crate::domain::Role;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use serde_json::json;

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
    Ok(([(header::CONTENT_TYPE, "application/json; charset=utf-8"), (header::CACHE_CONTROL, "no-store")], body)
        .into_response())
}

/// `GET /api/sessions/{id}/record.md`: readable minutes.
pub async fn markdown(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = built(&state, &id, &headers).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/markdown; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        crate::record::markdown(&record),
    )
        .into_response())
}

/// `GET /api/sessions/{id}/results.csv`: one row per poll.
pub async fn results(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let record = built(&state, &id, &headers).await?;
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        crate::record::results_csv(&record),
    )
        .into_response())
}
