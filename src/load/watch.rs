//! Every participant's view, kept by one watcher task per socket, and the wait until all of them
//! show a goal. A phase says what a view is ([`Follow`]): the questions phase's upvote counts
//! ([`super::votes::View`]), the vote phase's tally ([`super::ballots::PollView`]).

use super::socket::{reply_of, Caller, EventHead, Frame, Pacer, Reply, StateHead, Welcome, Ws};
use anyhow::Context;
use futures_util::stream::SplitStream;
use futures_util::{future::join_all, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// What one client shows, folded from the frames it receives. Pure: time comes in as `at`.
pub trait Follow: Send + 'static {
    /// What every client should come to show.
    type Goal: Send + Sync + 'static;
    /// Folds a sequenced event; returns whether the view changed.
    fn on_event(&mut self, event: &EventHead, at: Instant) -> bool;
    /// Takes a (re)welcome's state; returns whether the view changed.
    fn on_state(&mut self, state: &StateHead, at: Instant) -> bool;
    /// Folds an unsequenced frame: `None` when it is not the phase's coalesced frame (`upvotes`,
    /// `tally`), else whether the view changed.
    fn on_frame(&mut self, frame: &Frame, at: Instant) -> Option<bool>;
    fn matches(&self, goal: &Self::Goal) -> bool;
}

/// A goal; `matched` counts the clients that show it.
pub struct Goal<G> {
    want: G,
    matched: AtomicUsize,
}

/// What one client saw, returned when its watcher stops.
pub struct Watched<V> {
    pub view: V,
    /// When the view last changed (so when it became what it ends as).
    pub last_change: Option<Instant>,
    /// The phase's coalesced frames received (`upvotes`, `tally`), and the first and last one's arrival.
    pub frames: u32,
    pub frames_span: Option<(Instant, Instant)>,
    pub gaps: u32,
    pub resyncs: u32,
    pub errors: u32,
    pub closed: bool,
    /// Kept open until every watcher is done.
    pub stream: SplitStream<Ws>,
}

/// What every watcher shares with the run.
struct Shared<G> {
    goal: watch::Receiver<Option<Arc<Goal<G>>>>,
    stop: watch::Receiver<bool>,
    closed: Arc<AtomicUsize>,
}

impl<G> Clone for Shared<G> {
    fn clone(&self) -> Self {
        Shared { goal: self.goal.clone(), stop: self.stop.clone(), closed: self.closed.clone() }
    }
}

/// Reads one participant's socket until told to stop: keeps its view, tells the current goal
/// whether the view matches it, and hands acks and refusals to its [`Caller`].
async fn watch_client<V: Follow>(
    stream: SplitStream<Ws>,
    seq: u64,
    view: V,
    replies: mpsc::UnboundedSender<Reply>,
    mut w: Shared<V::Goal>,
) -> Watched<V> {
    let mut out = Watched {
        view,
        last_change: None,
        frames: 0,
        frames_span: None,
        gaps: 0,
        resyncs: 0,
        errors: 0,
        closed: false,
        stream,
    };
    let (mut seq, mut goal, mut counted) = (seq, None::<Arc<Goal<V::Goal>>>, false);
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
fn recount<V: Follow>(view: &V, goal: Option<&Goal<V::Goal>>, counted: &mut bool) {
    let Some(goal) = goal else { return };
    let matches = view.matches(&goal.want);
    if matches != *counted {
        if matches {
            goal.matched.fetch_add(1, Ordering::Relaxed);
        } else {
            goal.matched.fetch_sub(1, Ordering::Relaxed);
        }
        *counted = matches;
    }
}

impl<V: Follow> Watched<V> {
    /// Folds one frame; returns whether the view changed.
    fn fold(&mut self, f: &Frame, seq: &mut u64, at: Instant, replies: &mpsc::UnboundedSender<Reply>) -> bool {
        match f.kind.as_ref() {
            "event" => {
                let s = f.seq.unwrap_or(0);
                self.gaps += u32::from(s != *seq + 1);
                *seq = (*seq).max(s);
                f.event.as_ref().is_some_and(|e| self.view.on_event(e, at))
            }
            "welcome" => {
                self.resyncs += 1;
                *seq = f.seq.unwrap_or(*seq);
                f.state.as_ref().is_some_and(|state| self.view.on_state(state, at))
            }
            "ack" | "error" => {
                if let Some(r) = reply_of(f, at) {
                    let _ = replies.send(r);
                } else {
                    self.errors += 1;
                }
                false
            }
            // presence, and the other phase's coalesced frames: nothing to keep
            _ => match self.view.on_frame(f, at) {
                Some(changed) => {
                    self.frames += 1;
                    self.frames_span = Some((self.frames_span.map_or(at, |(first, _)| first), at));
                    changed
                }
                None => false,
            },
        }
    }
}

/// The participants, ready: a caller and a watcher each.
pub struct Room<V: Follow> {
    pub callers: Vec<Caller>,
    pub watchers: Vec<JoinHandle<Watched<V>>>,
    goal: watch::Sender<Option<Arc<Goal<V::Goal>>>>,
    stop: watch::Sender<bool>,
    closed: Arc<AtomicUsize>,
}

impl<V: Follow> Room<V> {
    /// Splits every socket into a caller and a watcher whose view starts as `view(welcome)`.
    pub fn new(sockets: Vec<(Ws, Welcome)>, view: impl Fn(&Welcome) -> V) -> Self {
        let (goal, goal_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let closed = Arc::new(AtomicUsize::new(0));
        let w = Shared { goal: goal_rx, stop: stop_rx, closed: closed.clone() };
        let (mut callers, mut watchers) = (Vec::with_capacity(sockets.len()), Vec::with_capacity(sockets.len()));
        for (ws, welcome) in sockets {
            let (sink, stream) = ws.split();
            let (reply_tx, replies) = mpsc::unbounded_channel();
            let first = view(&welcome);
            watchers.push(tokio::spawn(watch_client(stream, welcome.seq, first, reply_tx, w.clone())));
            // The hello took a token of the server's bucket.
            callers.push(Caller { sink, replies, pacer: Pacer::new(1.0) });
        }
        Room { callers, watchers, goal, stop, closed }
    }

    /// Stops every watcher and returns what each saw.
    pub async fn stop(self) -> anyhow::Result<Vec<Watched<V>>> {
        let _ = self.stop.send(true);
        let mut watched = Vec::with_capacity(self.watchers.len());
        for w in join_all(self.watchers).await {
            watched.push(w.context("a participant watcher panicked")?);
        }
        Ok(watched)
    }

    /// Publishes `want` as the goal and waits until every live client shows it, at most
    /// `limit` (and the deadline). Returns whether they all did (and none was closed).
    pub async fn converge(&self, want: V::Goal, limit: Duration, deadline: Instant) -> bool {
        let goal = Arc::new(Goal { want, matched: AtomicUsize::new(0) });
        let _ = self.goal.send(Some(goal.clone()));
        let give_up = deadline.min(Instant::now() + limit);
        let clients = self.watchers.len();
        loop {
            let closed = self.closed.load(Ordering::Relaxed);
            if goal.matched.load(Ordering::Relaxed) + closed >= clients {
                return closed == 0;
            }
            if Instant::now() >= give_up {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
