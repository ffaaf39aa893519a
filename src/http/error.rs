//! The HTTP error type: every refusal is `{"error": {"code", "message"}}` with the fitting
//! status. Internal errors are logged once here and shown only as "internal".

use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Invalid(String),
    /// Bad input with a problem per field: each `(path, message)`, e.g. `("agenda[2].title", "is
    /// required")`.
    #[error("{}", .0.iter().map(|(p, m)| if p.is_empty() { m.clone() } else { format!("{p} {m}") }).collect::<Vec<_>>().join("; "))]
    InvalidFields(Vec<(String, String)>),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    RateLimited(String),
    #[error("the store is unavailable")]
    Unavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::Invalid(_) | ApiError::InvalidFields(_) => (StatusCode::BAD_REQUEST, "invalid"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => ApiError::NotFound("no such session".into()),
            StoreError::Domain(d) => ApiError::Conflict(d.to_string()),
            StoreError::CodeTaken | StoreError::Full => ApiError::Conflict(e.to_string()),
            StoreError::Contention => ApiError::Conflict(e.to_string()),
            StoreError::Unavailable(m) => ApiError::Unavailable(m),
            StoreError::Corrupt(m) => ApiError::Internal(m),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        match &self {
            ApiError::Internal(detail) | ApiError::Unavailable(detail) => {
                tracing::error!(code, detail = %detail, "request failed");
            }
            _ => {}
        }
        let mut error = json!({"code": code, "message": self.to_string()});
        if let ApiError::InvalidFields(fields) = &self {
            error["fields"] = fields.iter().map(|(path, message)| json!({"path": path, "message": message})).collect();
        }
        (status, Json(json!({ "error": error }))).into_response()
    }
}
