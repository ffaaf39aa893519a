//! Wires the pieces together: the router over [`AppState`], and [`serve`] (used by `main` and
//! by the tests alike). Imports point downwards only: nothing below imports this module.

use crate::config::Config;
use crate::state::AppState;
use crate::store::Store;
use axum::serve::ListenerExt;
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
pub async fn serve(
    listener: TcpListener,
    store: Arc<dyn Store>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (tx, rx) = watch::channel(false);
    let state = AppState::new(store, config, rx);
    let mut sockets = state.sockets.subscribe();
    let live = axum::Router::new().route("/ws", axum::routing::get(crate::live::connection::upgrade));
    let app = crate::http::router(state, live);
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
