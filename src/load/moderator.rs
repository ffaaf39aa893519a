//! The moderator's socket, as every phase drives it: a [`Caller`] for its commands, the events
//! it hears, and the reader task behind both.

use super::socket::{connect_moderator, reply_reader, Caller, Endpoint, Heard, Pacer};
use futures_util::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub struct Moderator {
    pub caller: Caller,
    /// The events the moderator's socket receives (when asked for at connection).
    pub events: mpsc::UnboundedReceiver<Heard>,
    stop: watch::Sender<bool>,
    reader: JoinHandle<()>,
}

impl Moderator {
    /// Opens a moderator socket on `endpoint`; with `hear`, its events are kept in `events`.
    pub async fn connect(endpoint: &Endpoint, hello: &str, hear: bool) -> anyhow::Result<Self> {
        let (ws, _) = connect_moderator(endpoint, hello).await?;
        let (sink, stream) = ws.split();
        let (stop, stop_rx) = watch::channel(false);
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let (event_tx, events) = mpsc::unbounded_channel();
        let reader = tokio::spawn(reply_reader(stream, reply_tx, hear.then_some(event_tx), stop_rx));
        // The hello took a token of the server's bucket.
        Ok(Moderator { caller: Caller { sink, replies, pacer: Pacer::new(1.0) }, events, stop, reader })
    }

    /// Stops the reader and waits for it (the socket closes when `self` is dropped).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.reader.await;
    }
}
