//! The session routes: create, list, delete, get as a role; and the operational ones,
//! `/healthz` and `/metrics`.

use super::auth;
use super::error::ApiError;
use crate::credentials;
use crate::domain::definition::RawDefinition;
use crate::domain::{Role, SessionDefinition};
use crate::protocol::{state_view, Viewer};
use crate::state::{AppState, Created};
use crate::store::SessionSummary;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

/// The base of the links handed out: the configured public URL, else this request's host.
fn require_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if auth::is_admin(state.config.admin_token.as_ref(), headers) {
        Ok(())
    } else {
        Err(ApiError::Unauthorized("this needs the admin token: Authorization: Bearer <token>".into()))
    }
}

/// Parses a session definition body, with a message that says what to fix.
pub fn parse_definition(body: &[u8]) -> Result<SessionDefinition, ApiError> {
    let raw: RawDefinition = serde_json::from_slice(body)
        .map_err(|e| ApiError::Invalid(format!("the session definition is not valid: {e}")))?;
    SessionDefinition::parse(raw).map_err(|e| ApiError::InvalidFields(e.fields()))
}

/// `POST /api/definitions/check` (anyone): a definition read as the server reads it, without
/// creating anything: 200 with the definition as it would be stored and its planned length,
/// or 400 with a problem per field (`error.fields: [{path, message}]`). The session editor
/// checks as the organiser types.
pub async fn check_definition(body: Result<Bytes, BytesRejection>) -> Result<Json<Value>, ApiError> {
    let body = body.map_err(|r| ApiError::TooLarge(r.body_text()))?;
    let definition = parse_definition(&body)?;
    let minutes: u32 = definition.agenda.iter().map(|i| i.minutes).sum();
    Ok(Json(json!({"definition": definition, "planned_minutes": minutes})))
}

/// `GET /api/sessions/{id}/definition` (moderator, or the admin token): the session's
/// definition with its agenda as it now stands, to keep or to start another session from.
pub async fn definition(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if session_role(&state, &id, &headers).await? != Role::Moderator {
        return Err(ApiError::Forbidden("the definition is the moderator's".into()));
    }
    let snapshot =
        state.store.snapshot(&id, None).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let mut definition = snapshot.definition;
    definition.agenda = snapshot.session.agenda.items.into_iter().map(|i| i.def).collect();
    Ok(Json(serde_json::to_value(&definition).map_err(|e| ApiError::Internal(e.to_string()))?))
}

pub async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Created>), ApiError> {
    require_admin(&state, &headers)?;
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::TooLarge(format!("a session definition is at most {} bytes", super::MAX_BODY))
        } else {
            ApiError::Invalid(r.body_text())
        }
    })?;
    let definition = parse_definition(&body)?;
    let created = state.create_session(definition, &state.base_url(&headers)).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

pub async fn list(State(state): State<AppState>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let sessions: Vec<SessionSummary> = state.store.list().await?;
    Ok(Json(json!({ "sessions": sessions })))
}

pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    require_admin(&state, &headers)?;
    if state.store.delete(&id).await? {
        tracing::info!(session = %id, "session deleted");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("no such session".into()))
    }
}

/// `POST /api/sessions/{id}/keys` (admin): new moderator and rapporteur keys. The old ones stop
/// working at once, on every instance, and the sockets opened with them close with 4401.
pub async fn rotate_keys(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    require_admin(&state, &headers)?;
    let (moderator_key, rapporteur_key) = (credentials::new_secret(), credentials::new_secret());
    let replaced =
        state.store.replace_keys(&id, credentials::hash(&moderator_key), credentials::hash(&rapporteur_key)).await?;
    if !replaced {
        return Err(ApiError::NotFound("no such session".into()));
    }
    let code = state.store.credentials(&id).await?.map(|c| c.code).unwrap_or_default();
    tracing::info!(session = %id, "session keys replaced");
    let links = crate::state::links(&state.base_url(&headers), &id, &code, &moderator_key, &rapporteur_key);
    Ok(Json(json!({"moderator_key": moderator_key, "rapporteur_key": rapporteur_key, "links": links})))
}

/// The state as the presented key's role sees it. The admin token sees the moderator's view.
pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let role = session_role(&state, &id, &headers).await?;
    let snapshot =
        state.store.snapshot(&id, None).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    let mut view = state_view(&snapshot, &Viewer { role, participant: None, upvoted: &snapshot.upvoted });
    view.participant_url = Some(crate::state::participant_link(&state.base_url(&headers), &snapshot.session.code));
    Ok(Json(serde_json::to_value(&view).map_err(|e| ApiError::Internal(e.to_string()))?))
}

/// The role the request's key gives in session `id` (the admin token counts as the moderator's).
pub async fn session_role(state: &AppState, id: &str, headers: &HeaderMap) -> Result<Role, ApiError> {
    let given = auth::bearer(headers)
        .ok_or_else(|| ApiError::Unauthorized("this needs a key of the session: Authorization: Bearer <key>".into()))?;
    let credentials = state.store.credentials(id).await?.ok_or_else(|| ApiError::NotFound("no such session".into()))?;
    Ok(match credentials::role_for_key(&credentials, given) {
        Some(role) => role,
        None if state.config.admin_token.is_some() && auth::is_admin(state.config.admin_token.as_ref(), headers) => {
            Role::Moderator
        }
        None => return Err(ApiError::Unauthorized("that key does not open this session".into())),
    })
}

pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    match state.store.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({"status": "ok", "store": state.store.name()}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "unavailable", "store": state.store.name()})))
        }
    }
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
