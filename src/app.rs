//! Wires the pieces together: the router over [`AppState`], and [`serve`] (used by `main` and
//! by the tests alike). Imports point downwards only: nothing below imports this module.

use crate::config::Config;
use crate::state::AppState;
use crate::store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

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
///
/// Each connection gets hyper's server with a timer, so a client that does not finish sending
/// its request headers within [`Config::header_timeout`] is cut off (a slow-headers attack
/// cannot hold sockets open); an upgraded WebSocket then lives under its own rules.
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    let header_timeout = config.header_timeout.unwrap_or(HEADER_TIMEOUT);
    let (tx, rx) = watch::channel(false);
    let state = AppState::new(store, config, rx);
    let mut sockets = state.sockets.subscribe();
    let live = axum::Router::new().route("/ws", axum::routing::get(crate::live::connection::upgrade));
    let hubs = state.hubs.clone();
    let app = crate::http::router(state, live);
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(header_timeout);
    builder.http2().timer(TokioTimer::new());
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, most likely: let some close before accepting more.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Events are small frames that must leave at once: no Nagle delay. And a bounded send
        // buffer: a phone on a bad link then falls behind its hub soon and is sent a fresh
        // snapshot, instead of the kernel queueing megabytes of stale events for it.
        let _ = tcp.set_nodelay(true);
        let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(SEND_BUFFER);
        let service = tower_http::add_extension::AddExtension::new(app.clone(), axum::extract::ConnectInfo(remote));
        let service = hyper_util::service::TowerToHyperService::new(service);
        let connection = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    let _ = tx.send(true);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, sockets.wait_for(|n| *n == 0)).await.is_ok();
    if !drained {
        tracing::warn!(open = *sockets.borrow(), "some sockets were still closing at shutdown");
    }
    hubs.stopped().await;
    Ok(())
}

/// How long a client has to send its request headers, by default.
pub const HEADER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Kernel send buffer per socket (Linux doubles it): room for a large `welcome` and a few
/// hundred events.
const SEND_BUFFER: usize = 64 * 1024;

/// How long a stopping server waits for its sockets to close.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);
