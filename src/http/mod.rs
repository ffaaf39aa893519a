//! HTTP: the contract's routes, credentials, errors and the embedded web pages.

pub mod auth;
pub mod error;
pub mod pages;
pub mod record;
pub mod sessions;
pub mod votes;

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::routing::get;
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;

/// Session definitions are at most 1 MiB.
pub const MAX_BODY: usize = 1024 * 1024;

pub(crate) const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The Content-Security-Policy of a generated document whose only style is its one `<style>`
/// element: that style is allowed by its hash, and nothing else runs or loads (`extra` adds
/// sources, e.g. `img-src data:`).
pub fn document_csp(html: &str, extra: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let style = html.split_once("<style>").and_then(|(_, rest)| rest.split_once("</style>")).map_or("", |(css, _)| css);
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    format!("default-src 'none'; style-src 'sha256-{hash}'; {extra}frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
}

/// Counts the wrong keys an address presents (a request with `Authorization` answered 401) and
/// turns the address away for a while once it presented too many.
async fn wrong_keys(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let ip = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| state.client_ip(c.0.ip(), req.headers()));
    let keyed = req.headers().contains_key(header::AUTHORIZATION);
    let Some(ip) = ip.filter(|_| keyed) else {
        return next.run(req).await;
    };
    if state.limits.blocked(ip) {
        return error::ApiError::RateLimited("too many wrong keys from this address: wait a minute".into())
            .into_response();
    }
    let response = next.run(req).await;
    if response.status() == axum::http::StatusCode::UNAUTHORIZED {
        state.limits.failed(ip);
    }
    response
}

/// The policy and referrer headers on every answer that may be shown as a document (pages,
/// exports, API answers and errors), but not on the static scripts, styles and dictionaries
/// under `/assets/`: they govern documents, and on a phone's first load they would add about
/// 1.8 KB for nothing.
async fn document_headers(req: axum::extract::Request, next: axum::middleware::Next) -> axum::response::Response {
    let asset = req.uri().path().starts_with("/assets/");
    let mut response = next.run(req).await;
    if !asset || !response.status().is_success() {
        let headers = response.headers_mut();
        headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
        headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    }
    response
}

/// The HTTP routes with `live` (the WebSocket route, given by the caller so that `http` does
/// not depend on `live`), their headers and the state.
pub fn router(state: AppState, live: Router<AppState>) -> Router {
    Router::new()
        .route("/api/sessions", get(sessions::list).post(sessions::create))
        .route("/api/sessions/{id}", get(sessions::get).delete(sessions::delete))
        .route("/api/sessions/{id}/events.jsonl", get(record::events))
        .route("/api/sessions/{id}/record.json", get(record::json_export))
        .route("/api/sessions/{id}/record.md", get(record::markdown))
        .route("/api/sessions/{id}/record.html", get(record::html_export))
        .route("/api/sessions/{id}/results.csv", get(record::results))
        .route("/api/sessions/{id}/roster", axum::routing::put(votes::put_roster))
        .route("/api/sessions/{id}/definition", get(sessions::definition))
        .route("/api/sessions/{id}/keys", axum::routing::post(sessions::rotate_keys))
        .route("/api/definitions/check", axum::routing::post(sessions::check_definition))
        .route("/api/roster/check", axum::routing::post(votes::check_roster))
        .route("/api/sessions/{id}/roster/cards.html", get(votes::cards))
        .route("/j/{code}/polls/{poll}/receipts.json", get(votes::receipts))
        .route("/healthz", get(sessions::healthz))
        .route("/metrics", get(sessions::metrics))
        .merge(live)
        .merge(pages::routes())
        .layer(axum::middleware::from_fn_with_state(state.clone(), wrong_keys))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .layer(axum::middleware::from_fn(document_headers))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
