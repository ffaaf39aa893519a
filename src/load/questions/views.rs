//! Every participant's view of the counts, kept by one watcher task per socket, and the wait
//! until all of them show a goal (the questions, then the final counts).

use super::CONVERGE_TIMEOUT;
use crate::load::socket::{reply_of, Caller, Frame, Pacer, Reply, Welcome, Ws};
use crate::load::votes::View;
use anyhow::Context;
use futures_util::stream::SplitStream;
use futures_util::{future::join_all, StreamExt};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// Counts every client should show; `matched` counts the clients that show them.
pub(super) struct Goal {
    counts: HashMap<String, u64>,
    matched: AtomicUsize,
}

/// What one client saw, returned when its watcher stops.
pub(super) struct Watched {
    pub(super) view: View,
    /// When the view last changed (so when it became what it ends as).
    pub(super) last_change: Option<Instant>,
    /// `upvotes` frames received, and the first and last one's arrival.
    pub(super) upvotes_frames: u32,
    pub(super) upvotes_span: Option<(Instant, Instant)>,
    pub(super) gaps: u32,
    pub(super) resyncs: u32,
    pub(super) errors: u32,
    pub(super) closed: bool,
    /// Kept open until every watcher is done.
    pub(super) stream: SplitStream<Ws>,
}

/// What every watcher shares with the run.
#[derive(Clone)]
struct Watch {
    goal: watch::Receiver<Option<Arc<Goal>>>,
    stop: watch::Receiver<bool>,
    closed: Arc<AtomicUsize>,
}

/// Reads one participant's socket until told to stop: keeps its view of the counts, tells the
/// current goal whether the view matches it, and hands acks and refusals to its [`Caller`].
async fn watch_client(
    stream: SplitStream<Ws>,
    seq: u64,
    view: View,
    replies: mpsc::UnboundedSender<Reply>,
    mut w: Watch,
) -> Watched {
    let mut out = Watched {
        view,
        last_change: None,
        upvotes_frames: 0,
        upvotes_span: None,
        gaps: 0,
        resyncs: 0,
        errors: 0,
        closed: false,
        stream,
    };
    let (mut seq, mut goal, mut counted) = (seq, None::<Arc<Goal>>, false);
    loop {
        let msg = tokio::select! {
            msg = out.stream.next() => msg,
            Ok(()) = w.goal.changed() => {
                (goal, counted) = (w.goal.borrow_and_update().clone(), false);
                recount(&out.view, goal.as_deref(), &mut counted);
                continue;
            }
            _ = w.stop.wait_for(|s| *s) => break,
        };
        let at = Instant::now();
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                out.closed = true;
                w.closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
            Some(Ok(_)) => continue,
        };
        let Ok(f) = serde_json::from_str::<Frame>(text.as_str()) else {
            out.errors += 1;
            continue;
        };
        if out.fold(&f, &mut seq, at, &replies) {
            out.last_change = Some(at);
            recount(&out.view, goal.as_deref(), &mut counted);
        }
    }
    out
}

/// Keeps `goal.matched` right as `view` changes: `counted` says whether this client is in it.
fn recount(view: &View, goal: Option<&Goal>, counted: &mut bool) {
    let Some(goal) = goal else { return };
    let matches = view.matches(&goal.counts);
    if matches != *counted {
        if matches {
            goal.matched.fetch_add(1, Ordering::Relaxed);
        } else {
            goal.matched.fetch_sub(1, Ordering::Relaxed);
        }
        *counted = matches;
    }
}

impl Watched {
    /// Folds one frame; returns whether the view changed.
    fn fold(&mut self, f: &Frame, seq: &mut u64, at: Instant, replies: &mpsc::UnboundedSender<Reply>) -> bool {
        match f.kind.as_ref() {
            "event" => {
                let s = f.seq.unwrap_or(0);
                self.gaps += u32::from(s != *seq + 1);
                *seq = (*seq).max(s);
                f.event.as_ref().is_some_and(|e| self.view.on_event(e))
            }
            "upvotes" => {
                self.upvotes_frames += 1;
                self.upvotes_span = Some((self.upvotes_span.map_or(at, |(first, _)| first), at));
                f.counts.as_ref().is_some_and(|c| self.view.on_upvotes(c))
            }
            "welcome" => {
                self.resyncs += 1;
                *seq = f.seq.unwrap_or(*seq);
                let Some(state) = &f.state else { return false };
                let fresh = View::from_questions(&state.questions);
                let changed = fresh != self.view;
                self.view = fresh;
                changed
            }
            "ack" | "error" => {
                if let Some(r) = reply_of(f, at) {
                    let _ = replies.send(r);
                } else {
                    self.errors += 1;
                }
                false
            }
            // presence, tally: nothing to keep
            _ => false,
        }
    }
}

/// The participants, ready: a caller and a watcher each.
pub(super) struct Room {
    pub(super) callers: Vec<Caller>,
    pub(super) watchers: Vec<JoinHandle<Watched>>,
    pub(super) goal: watch::Sender<Option<Arc<Goal>>>,
    pub(super) stop: watch::Sender<bool>,
    pub(super) closed: Arc<AtomicUsize>,
}

impl Room {
    pub(super) fn new(sockets: Vec<(Ws, Welcome)>) -> Self {
        let (goal, goal_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let closed = Arc::new(AtomicUsize::new(0));
        let w = Watch { goal: goal_rx, stop: stop_rx, closed: closed.clone() };
        let (mut callers, mut watchers) = (Vec::with_capacity(sockets.len()), Vec::with_capacity(sockets.len()));
        for (ws, welcome) in sockets {
            let (sink, stream) = ws.split();
            let (reply_tx, replies) = mpsc::unbounded_channel();
            let view = View::from_questions(welcome.questions.as_deref().unwrap_or_default());
            watchers.push(tokio::spawn(watch_client(stream, welcome.seq, view, reply_tx, w.clone())));
            // The hello took a token of the server's bucket.
            callers.push(Caller { sink, replies, pacer: Pacer::new(1.0) });
        }
        Room { callers, watchers, goal, stop, closed }
    }

    /// Stops every watcher and returns what each saw.
    pub(super) async fn stop(self) -> anyhow::Result<Vec<Watched>> {
        let _ = self.stop.send(true);
        let mut watched = Vec::with_capacity(self.watchers.len());
        for w in join_all(self.watchers).await {
            watched.push(w.context("a participant watcher panicked")?);
        }
        Ok(watched)
    }
}

/// Publishes `counts` as the goal and waits until every live client shows them, at most
/// [`CONVERGE_TIMEOUT`] (and the deadline). Returns whether they all did.
pub(super) async fn converge(room: &Room, counts: HashMap<String, u64>, deadline: Instant) -> bool {
    let goal = Arc::new(Goal { counts, matched: AtomicUsize::new(0) });
    let _ = room.goal.send(Some(goal.clone()));
    let give_up = deadline.min(Instant::now() + CONVERGE_TIMEOUT);
    let clients = room.watchers.len();
    loop {
        let closed = room.closed.load(Ordering::Relaxed);
        if goal.matched.load(Ordering::Relaxed) + closed >= clients {
            return closed == 0;
        }
        if Instant::now() >= give_up {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}
