//! Credentials as HTTP carries them: the bearer token, and the admin check.

use crate::config::Secret;
use crate::credentials::same;
use axum::http::HeaderMap;

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Whether the request carries the admin token (always true when none is configured).
pub fn is_admin(configured: Option<&Secret>, headers: &HeaderMap) -> bool {
    match configured {
        None => true,
        Some(token) => bearer(headers).is_some_and(|given| same(given, token.expose())),
    }
}
