//! Wires the pieces together: [`AppState`] (the shared handle), [`router`], and [`serve`]
//! (used by `main` and by the tests alike).

use crate::config::Config;
use crate::domain::{Session, SessionDefinition};
use crate::http::auth;
use crate::live::hub::Hubs;
use crate::store::{Credentials, Store, StoreError};
use axum::serve::ListenerExt;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

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

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
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
            config,
            hubs,
            metrics: metrics_handle(),
            shutdown,
            sockets: watch::channel(0).0,
        }))
    }

    /// Creates a session from a valid definition, with a fresh id, code and keys.
    pub async fn create_session(&self, definition: SessionDefinition, base: &str) -> Result<Created, StoreError> {
        let moderator_key = auth::new_secret();
        let rapporteur_key = auth::new_secret();
        let id = uuid::Uuid::new_v4().simple().to_string();
        // 31^6 codes: a clash is rare, and a few tries make failure vanishingly unlikely.
        for _ in 0..16 {
            let code = auth::new_code();
            let session = Session::new(id.clone(), code.clone(), &definition, now_ms());
            let credentials = Credentials {
                moderator: auth::hash(&moderator_key),
                rapporteur: auth::hash(&rapporteur_key),
                code: code.clone(),
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

/// A listener with a deep accept backlog: a room of phones joining at once overflows the
/// default 128 and the kernel drops their SYNs.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// Serves until `shutdown` completes, then tells every connection to go away (1001) so
/// clients reconnect to another instance, and waits (a few seconds at most) for them to have
/// said so.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    let state = AppState::new(store, config, rx);
    let mut sockets = state.sockets.subscribe();
    let app = crate::http::router(state);
    // Events are small frames that must leave at once: no Nagle delay. And a bounded send
    // buffer: a phone on a bad link then falls behind its hub soon and is sent a fresh
    // snapshot, instead of the kernel queueing megabytes of stale events for it.
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&*tcp).set_send_buffer_size(SEND_BUFFER);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = tx.send(true);
        })
        .await?;
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, sockets.wait_for(|n| *n == 0)).await.is_ok();
    if !drained {
        tracing::warn!(open = *sockets.borrow(), "some sockets were still closing at shutdown");
    }
    Ok(())
}

/// Kernel send buffer per socket (Linux doubles it): room for a large `welcome` and a few
/// hundred events.
const SEND_BUFFER: usize = 64 * 1024;

/// How long a stopping server waits for its sockets to close.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Completes when the server starts shutting down (or its state is gone).
pub async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}
