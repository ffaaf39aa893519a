//! The web pages, embedded in the binary from `web/` so the one binary is the whole product,
//! and the QR code of a session's participant link.

use super::error::ApiError;
use crate::credentials::normalise_code;
use crate::fixtures::SOU94;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use rust_embed::RustEmbed;
use tower_http::compression::CompressionLayer;

#[derive(RustEmbed)]
#[folder = "web/"]
#[exclude = "README.md"]
struct Assets;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|h: HeaderMap| async move { asset("index.html", &h) }))
        .route("/j/{code}", get(|h: HeaderMap| async move { asset("participant.html", &h) }))
        .route("/j/{code}/qr.svg", get(qr))
        .route("/screen/{code}", get(|h: HeaderMap| async move { embeddable(asset("screen.html", &h)) }))
        .route("/m/{id}", get(|h: HeaderMap| async move { asset("moderator.html", &h) }))
        .route("/r/{id}", get(|h: HeaderMap| async move { asset("rapporteur.html", &h) }))
        .route("/new", get(|h: HeaderMap| async move { asset("editor.html", &h) }))
        .route("/assets/{*path}", get(|Path(p): Path<String>, h: HeaderMap| async move { asset(&p, &h) }))
        .route("/examples/sou94.json", get(|| async { ([(header::CONTENT_TYPE, "application/json")], SOU94) }))
        .layer(CompressionLayer::new())
}

/// One embedded file, with an ETag so a phone that reconnects does not download it again.
/// The projector view may be embedded in any page (an event's web site, a streaming overlay):
/// it is read-only and public to whoever holds the join code. Every other page refuses frames.
fn embeddable(mut response: Response) -> Response {
    let csp = super::CSP.replace("frame-ancestors 'none'", "frame-ancestors *");
    if let Ok(v) = HeaderValue::from_str(&csp) {
        response.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

fn asset(path: &str, headers: &HeaderMap) -> Response {
    let Some(file) = Assets::get(path) else {
        return ApiError::NotFound("no such file".into()).into_response();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..12]));
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let mut response = file.data.into_owned().into_response();
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(mime.essence_str()) {
        h.insert(header::CONTENT_TYPE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

/// The QR code of the participant link, as SVG.
async fn qr(State(state): State<AppState>, headers: HeaderMap, Path(code): Path<String>) -> Result<Response, ApiError> {
    let code = normalise_code(&code).ok_or_else(|| ApiError::NotFound("no such session code".into()))?;
    let url = crate::state::participant_link(&state.base_url(&headers), &code);
    let svg = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(256, 256)
        .quiet_zone(true)
        .build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=3600")], svg)
        .into_response())
}
