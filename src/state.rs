//! The shared handle every request and socket holds ([`AppState`]), and what it does on its
//! own: creating a session with fresh credentials, counting open sockets, the clock.

use crate::config::Config;
use crate::credentials::{self, Credentials};
use crate::domain::{Session, SessionDefinition};
use crate::live::hub::Hubs;
use crate::store::{Store, StoreError};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

pub use crate::time::{now_ms, stopping};

/// Cheap to clone: everything behind one `Arc`.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Arc<dyn Store>,
    pub config: Config,
    pub hubs: Arc<Hubs>,
    pub metrics: PrometheusHandle,
    /// Flips to `true` when the server is shutting down; every connection watches it.
    pub shutdown: watch::Receiver<bool>,
    /// How many WebSockets are open, so shutdown can wait for their goodbyes.
    pub sockets: watch::Sender<usize>,
    /// Limits per client address: open sockets, how fast they open, wrong keys and codes.
    pub limits: Arc<crate::limits::IpLimits>,
}

/// Counts one open WebSocket while it lives.
pub struct SocketGuard(watch::Sender<usize>);

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
        metrics::gauge!("palabre_connections").decrement(1.0);
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// The four links of a session, plus its QR code.
#[derive(Debug, Clone, Serialize)]
pub struct Links {
    pub moderator: String,
    pub rapporteur: String,
    pub participant: String,
    pub screen: String,
    pub qr: String,
}

/// What creating a session hands back, once: the keys are not kept in clear.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub id: String,
    pub code: String,
    pub moderator_key: String,
    pub rapporteur_key: String,
    pub links: Links,
}

/// The link a participant opens (and the QR code carries).
pub fn participant_link(base: &str, code: &str) -> String {
    format!("{base}/j/{code}")
}

pub fn links(base: &str, id: &str, code: &str, moderator_key: &str, rapporteur_key: &str) -> Links {
    Links {
        moderator: format!("{base}/m/{id}#key={moderator_key}"),
        rapporteur: format!("{base}/r/{id}#key={rapporteur_key}"),
        participant: participant_link(base, code),
        screen: format!("{base}/screen/{code}"),
        qr: format!("{base}/j/{code}/qr.svg"),
    }
}

fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
        })
        .clone()
}

impl AppState {
    /// The client's address: the peer's, or, when the peer is a trusted proxy, the last address
    /// in `X-Forwarded-For` that is not one (the one the outermost trusted proxy saw).
    pub fn client_ip(&self, peer: std::net::IpAddr, headers: &axum::http::HeaderMap) -> std::net::IpAddr {
        client_ip(&self.config.trusted_proxies, peer, headers)
    }

    /// Base of the links handed out: the public URL when set, else from the request's Host.
    pub fn base_url(&self, headers: &axum::http::HeaderMap) -> String {
        if let Some(url) = &self.config.public_url {
            return url.clone();
        }
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
            .unwrap_or("localhost");
        let scheme = match headers.get("x-forwarded-proto").and_then(|h| h.to_str().ok()) {
            Some("https") => "https",
            _ => "http",
        };
        format!("{scheme}://{host}")
    }

    /// Counts a new WebSocket until the guard drops.
    pub fn socket_opened(&self) -> SocketGuard {
        self.sockets.send_modify(|n| *n += 1);
        metrics::gauge!("palabre_connections").increment(1.0);
        SocketGuard(self.sockets.clone())
    }

    pub fn new(store: Arc<dyn Store>, config: Config, shutdown: watch::Receiver<bool>) -> Self {
        let hubs = Hubs::start(store.clone(), shutdown.clone());
        AppState(Arc::new(Inner {
            store,
            hubs,
            metrics: metrics_handle(),
            shutdown,
            sockets: watch::channel(0).0,
            limits: crate::limits::IpLimits::new(config.limits),
            config,
        }))
    }

    /// Creates a session from a valid definition, with a fresh id, code and keys.
    pub async fn create_session(&self, definition: SessionDefinition, base: &str) -> Result<Created, StoreError> {
        let moderator_key = credentials::new_secret();
        let rapporteur_key = credentials::new_secret();
        let id = uuid::Uuid::new_v4().simple().to_string();
        // 31^6 codes: a clash is rare, and a few tries make failure vanishingly unlikely.
        for _ in 0..16 {
            let code = credentials::new_code();
            let session = Session::new(id.clone(), code.clone(), &definition, now_ms());
            let credentials = Credentials {
                moderator: credentials::hash(&moderator_key),
                rapporteur: credentials::hash(&rapporteur_key),
                code: code.clone(),
                ballot_salt: credentials::new_secret(),
            };
            match self.store.create(&definition, &session, &credentials).await {
                Ok(()) => {
                    tracing::info!(session = %id, code = %code, "session created");
                    let links = links(base, &id, &code, &moderator_key, &rapporteur_key);
                    return Ok(Created { id, code, moderator_key, rapporteur_key, links });
                }
                Err(StoreError::CodeTaken) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::CodeTaken)
    }
}

fn client_ip(
    trusted: &[std::net::IpAddr],
    peer: std::net::IpAddr,
    headers: &axum::http::HeaderMap,
) -> std::net::IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|a| a.trim().parse::<std::net::IpAddr>())
        .collect::<Vec<_>>();
    let mut last = peer;
    for hop in hops.into_iter().rev() {
        // An unreadable entry was written by someone not trusted: stop at what is known.
        let Ok(hop) = hop else { return last };
        if !trusted.contains(&hop) {
            return hop;
        }
        last = hop;
    }
    last
}

#[cfg(test)]
mod client_ip_tests {
    use super::client_ip;
    use axum::http::HeaderMap;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().expect("header"));
        }
        h
    }

    #[test]
    fn the_forwarded_address_counts_only_behind_a_trusted_proxy() {
        let proxy: std::net::IpAddr = "10.0.0.1".parse().expect("ip");
        let other: std::net::IpAddr = "198.51.100.7".parse().expect("ip");
        let phone: std::net::IpAddr = "203.0.113.9".parse().expect("ip");
        // Not a trusted proxy: its header is anyone's word.
        assert_eq!(client_ip(&[proxy], other, &headers(&["203.0.113.9"])), other);
        // Behind the proxy: the address it saw (the rightmost), not what the client claimed.
        assert_eq!(client_ip(&[proxy], proxy, &headers(&["1.2.3.4, 203.0.113.9"])), phone);
        assert_eq!(client_ip(&[proxy], proxy, &headers(&["1.2.3.4", "203.0.113.9"])), phone);
        // Two trusted proxies in a row.
        let inner: std::net::IpAddr = "10.0.0.2".parse().expect("ip");
        assert_eq!(client_ip(&[proxy, inner], proxy, &headers(&["203.0.113.9, 10.0.0.2"])), phone);
        // No header, or garbage: the proxy itself.
        assert_eq!(client_ip(&[proxy], proxy, &headers(&[])), proxy);
        assert_eq!(client_ip(&[proxy], proxy, &headers(&["not an address"])), proxy);
    }
}
