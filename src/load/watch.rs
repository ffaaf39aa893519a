//! Every participant's view, kept by one watcher task per socket, and the wait until all of them
//! show a goal. A phase says what a view is ([`Follow`]): the questions phase's upvote counts
//! ([`super::votes::View`]), the vote phase's tally ([`super::ballots::PollView`]), the whole
//! session's ([`super::session`]). A client can be taken off its socket and put back on a new one
//! ([`Room::detach`], [`Room::attach`]): its view and figures carry over.

use super::socket::{reply_of, Caller, EventHead, Frame, Pacer, Reply, StateHead, Welcome, Ws};
use anyhow::Context;
use futures_util::stream::SplitStream;
use futures_util::{future::join_all, StreamExt};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

/// What one client shows, folded from the frames it receives. Pure: time comes in as `at`.
pub trait Follow: Send + 'static {
    /// What every client should come to show.
    type Goal: Send + Sync + 'static;
    /// Folds the sequenced event `seq`; returns whether the view changed.
    fn on_event(&mut self, seq: u64, event: &EventHead, at: Instant) -> bool;
    /// Takes a (re)welcome: the client now holds `seq`, and the whole state when there is one.
    /// Returns whether the view changed.
    fn on_welcome(&mut self, seq: u64, state: Option<&StateHead>, at: Instant) -> bool;
    /// Folds an unsequenced frame: `None` when it is not the phase's coalesced frame (`upvotes`,
    /// `tally`), else whether the view changed.
    fn on_frame(&mut self, frame: &Frame, at: Instant) -> Option<bool>;
    fn matches(&self, goal: &Self::Goal) -> bool;
}

/// A goal; `matched` counts the clients that show it, `last` is when the latest of them came to.
pub struct Goal<G> {
    want: G,
    matched: AtomicUsize,
    last: Mutex<Option<Instant>>,
}

/// What one client saw, returned when its watcher stops.
pub struct Watched<V> {
    pub view: V,
    /// The last `seq` received.
    pub seq: u64,
    /// When the view last changed (so when it became what it ends as).
    pub last_change: Option<Instant>,
    /// The phase's coalesced frames received (`upvotes`, `tally`), and the first and last one's arrival.
    pub frames: u32,
    pub frames_span: Option<(Instant, Instant)>,
    /// Events whose `seq` skipped some (a gap: events missed).
    pub gaps: u32,
    /// Events at or below the `seq` already held (received twice).
    pub doubled: u32,
    /// Welcomes after the first one: the server sent the whole state again.
    pub resyncs: u32,
    /// Times the client was put on a new socket ([`Room::attach`]).
    pub reconnects: u32,
    pub errors: u32,
    pub closed: bool,
    /// Kept open until every watcher is done.
    pub stream: Option<SplitStream<Ws>>,
}

impl<V> Watched<V> {
    fn new(view: V, seq: u64) -> Self {
        Watched {
            view,
            seq,
            last_change: None,
            frames: 0,
            frames_span: None,
            gaps: 0,
            doubled: 0,
            resyncs: 0,
            reconnects: 0,
            errors: 0,
            closed: false,
            stream: None,
        }
    }
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

/// Reads one participant's socket until told to stop (or to let go of it, `detach`): keeps its
/// view, tells the current goal whether the view matches it, and hands acks and refusals to its
/// [`Caller`].
async fn watch_client<V: Follow>(
    mut out: Watched<V>,
    replies: mpsc::UnboundedSender<Reply>,
    mut detach: oneshot::Receiver<()>,
    mut w: Shared<V::Goal>,
) -> Watched<V> {
    let Some(mut stream) = out.stream.take() else { return out };
    let mut goal = w.goal.borrow_and_update().clone();
    let mut counted = false;
    recount(&out.view, goal.as_deref(), &mut counted, Instant::now());
    loop {
        let msg = tokio::select! {
            msg = stream.next() => msg,
            Ok(()) = w.goal.changed() => {
                uncount(goal.as_deref(), &mut counted);
                goal = w.goal.borrow_and_update().clone();
                recount(&out.view, goal.as_deref(), &mut counted, Instant::now());
                continue;
            }
            Ok(()) = &mut detach => break,
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
        if out.fold(&f, at, &replies) {
            out.last_change = Some(at);
            recount(&out.view, goal.as_deref(), &mut counted, at);
        }
    }
    // A client that leaves the goal (closed, detached) is no longer counted in it.
    uncount(goal.as_deref(), &mut counted);
    out.stream = Some(stream);
    out
}

/// Keeps `goal.matched` right as `view` changes at `at`: `counted` says whether this client is in it.
fn recount<V: Follow>(view: &V, goal: Option<&Goal<V::Goal>>, counted: &mut bool, at: Instant) {
    let Some(goal) = goal else { return };
    let matches = view.matches(&goal.want);
    if matches != *counted {
        if matches {
            if let Ok(mut last) = goal.last.lock() {
                *last = Some(last.map_or(at, |l| l.max(at)));
            }
            goal.matched.fetch_add(1, Ordering::Relaxed);
        } else {
            goal.matched.fetch_sub(1, Ordering::Relaxed);
        }
        *counted = matches;
    }
}

/// Takes this client out of `goal`'s count.
fn uncount<G>(goal: Option<&Goal<G>>, counted: &mut bool) {
    if let (Some(goal), true) = (goal, *counted) {
        goal.matched.fetch_sub(1, Ordering::Relaxed);
    }
    *counted = false;
}

impl<V: Follow> Watched<V> {
    /// Folds one frame; returns whether the view changed.
    fn fold(&mut self, f: &Frame, at: Instant, replies: &mpsc::UnboundedSender<Reply>) -> bool {
        match f.kind.as_ref() {
            "event" => {
                let s = f.seq.unwrap_or(0);
                if s <= self.seq {
                    self.doubled += 1;
                    return false;
                }
                self.gaps += u32::from(s != self.seq + 1);
                self.seq = s;
                f.event.as_ref().is_some_and(|e| self.view.on_event(s, e, at))
            }
            "welcome" => {
                self.resyncs += 1;
                self.seq = f.seq.unwrap_or(self.seq);
                self.view.on_welcome(self.seq, f.state.as_ref(), at)
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

/// A watcher running: its task, and what tells it to let go of its socket.
struct Running<V> {
    task: JoinHandle<Watched<V>>,
    detach: oneshot::Sender<()>,
}

/// The participants, ready: a caller and a watcher each.
pub struct Room<V: Follow> {
    pub callers: Vec<Caller>,
    watchers: Vec<Option<Running<V>>>,
    shared: Shared<V::Goal>,
    goal: watch::Sender<Option<Arc<Goal<V::Goal>>>>,
    stop: watch::Sender<bool>,
}

impl<V: Follow> Room<V> {
    /// Splits every socket into a caller and a watcher whose view starts as `view(welcome)`.
    pub fn new(sockets: Vec<(Ws, Welcome)>, view: impl Fn(&Welcome) -> V) -> Self {
        let (goal, goal_rx) = watch::channel(None);
        let (stop, stop_rx) = watch::channel(false);
        let shared = Shared { goal: goal_rx, stop: stop_rx, closed: Arc::new(AtomicUsize::new(0)) };
        let mut room = Room {
            callers: Vec::with_capacity(sockets.len()),
            watchers: Vec::with_capacity(sockets.len()),
            shared,
            goal,
            stop,
        };
        for (ws, welcome) in sockets {
            let first = view(&welcome);
            let (caller, running) = room.spawn(ws, Watched::new(first, welcome.seq));
            room.callers.push(caller);
            room.watchers.push(Some(running));
        }
        room
    }

    /// Starts a watcher on `ws` that goes on from `watched`; returns the caller of that socket.
    fn spawn(&self, ws: Ws, mut watched: Watched<V>) -> (Caller, Running<V>) {
        let (sink, stream) = ws.split();
        watched.stream = Some(stream);
        let (reply_tx, replies) = mpsc::unbounded_channel();
        let (detach, detach_rx) = oneshot::channel();
        let task = tokio::spawn(watch_client(watched, reply_tx, detach_rx, self.shared.clone()));
        // The hello took a token of the server's bucket.
        (Caller { sink, replies, pacer: Pacer::new(1.0) }, Running { task, detach })
    }

    /// Takes client `k` off its socket: its watcher stops and hands back what it saw (its socket
    /// still open: drop it, with the caller's half, to close it). `None` when it is already
    /// detached or its watcher failed.
    pub async fn detach(&mut self, k: usize) -> Option<Watched<V>> {
        let running = self.watchers.get_mut(k)?.take()?;
        let _ = running.detach.send(());
        running.task.await.ok()
    }

    /// Puts client `k` on a new socket, greeted with `welcome`, going on from what it saw;
    /// returns the caller of the new socket.
    pub fn attach(&mut self, k: usize, ws: Ws, welcome: &Welcome, mut watched: Watched<V>) -> Caller {
        watched.reconnects += 1;
        watched.seq = welcome.seq;
        if watched.view.on_welcome(welcome.seq, welcome.state.as_ref(), Instant::now()) {
            watched.last_change = Some(Instant::now());
        }
        let (caller, running) = self.spawn(ws, watched);
        self.watchers[k] = Some(running);
        caller
    }

    /// Stops every watcher and returns what each saw (a client left detached is not returned).
    pub async fn stop(self) -> anyhow::Result<Vec<Watched<V>>> {
        let _ = self.stop.send(true);
        let tasks: Vec<_> = self.watchers.into_iter().flatten().map(|r| r.task).collect();
        let mut watched = Vec::with_capacity(tasks.len());
        for w in join_all(tasks).await {
            watched.push(w.context("a participant watcher panicked")?);
        }
        Ok(watched)
    }

    /// Publishes `want` as the goal and waits until every live client shows it, at most
    /// `limit` (and the deadline). Returns whether they all did (and none was closed).
    pub async fn converge(&self, want: V::Goal, limit: Duration, deadline: Instant) -> bool {
        self.converge_at(want, limit, deadline).await.is_some()
    }

    /// As [`Room::converge`]; returns, when every client came to show `want`, when the last one
    /// did (a client that showed it already when the goal was set counts from then).
    pub async fn converge_at(&self, want: V::Goal, limit: Duration, deadline: Instant) -> Option<Instant> {
        let goal = Arc::new(Goal { want, matched: AtomicUsize::new(0), last: Mutex::new(None) });
        let _ = self.goal.send(Some(goal.clone()));
        let give_up = deadline.min(Instant::now() + limit);
        let clients = self.watchers.iter().flatten().count();
        loop {
            let closed = self.shared.closed.load(Ordering::Relaxed);
            if goal.matched.load(Ordering::Relaxed) + closed >= clients {
                let last = goal.last.lock().ok().and_then(|l| *l).unwrap_or_else(Instant::now);
                return (closed == 0).then_some(last);
            }
            if Instant::now() >= give_up {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}
