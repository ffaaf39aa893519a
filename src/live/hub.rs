//! Per-session fan-out. [`Hubs`] reads the store's feed (Redis pub/sub, or the memory
//! store's channel) and hands each session's events to its [`Hub`], which serialises every
//! event once per role and broadcasts the same bytes to every local socket.
//!
//! Upvote counts change too often to be events: the hub keeps the latest count of each
//! question that changed and sends them all as one `upvotes` frame every [`UPVOTE_FLUSH`],
//! the same bytes to every socket, whatever the rate of upvotes.
//!
//! Overflow policy: a hub's broadcast channel holds [`HUB_CAPACITY`] messages; a socket that
//! falls further behind gets `Lagged` and is sent a fresh snapshot by its connection (never
//! left silently deaf). When the feed itself may have lost messages ([`Feed::Gap`]: a Redis
//! reconnect, or this reader lagging), every hub compares its `seq` with the store and
//! replays what it missed, or tells its sockets to resync.

use crate::domain::votes::Tally;
use crate::domain::{Role, Sequenced};
use crate::protocol::{event_frame, tally_frame, upvotes_frame, ServerMsg};
use crate::store::{Feed, Store};
use axum::extract::ws::Utf8Bytes;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;
use tokio::sync::{broadcast, watch};

pub const HUB_CAPACITY: usize = 256;
/// How often presence counts are reported when they changed, and refreshed when they did not.
const PRESENCE_TICK: Duration = Duration::from_secs(1);
const PRESENCE_REFRESH: Duration = Duration::from_secs(10);
/// How often changed upvote counts are sent: a few frames a second per session at most.
pub const UPVOTE_FLUSH: Duration = Duration::from_millis(250);

/// What a hub sends its sockets.
#[derive(Debug, Clone)]
pub enum Outbound {
    /// One event, already serialised for each role (indexed by [`Role::index`]).
    Event { seq: u64, frames: Arc<[Utf8Bytes; 4]> },
    /// Messages were lost: send a fresh snapshot.
    Resync,
    /// The session was deleted: close.
    Deleted,
    /// The moderator's and rapporteur's keys were replaced: their sockets close.
    Revoked,
    /// A frame that is the same for everyone and outside the `seq` order (presence, upvotes).
    Frame(Utf8Bytes),
    /// A frame outside the `seq` order, serialised for each role (tallies).
    Frames(Arc<[Utf8Bytes; 4]>),
}

pub struct Hub {
    pub session: Arc<str>,
    /// Set once the store's feed carries this session ([`Store::follow`]); undone on drop.
    followed: tokio::sync::OnceCell<()>,
    store: Arc<dyn Store>,
    tx: broadcast::Sender<Outbound>,
    /// The last `seq` this hub passed on; `None` until the first event or snapshot.
    last_seq: Mutex<Option<u64>>,
    connected: AtomicU64,
    participants: AtomicU64,
    /// Upvote counts heard since the last `upvotes` frame.
    upvotes: Mutex<BTreeMap<String, u64>>,
    /// Tallies heard since the last flush, by poll: the latest, its eligible weight, hidden.
    tallies: Mutex<BTreeMap<String, (Tally, u64, bool)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Outbound> {
        self.tx.subscribe()
    }

    /// A connection read the store at `seq`. A hub that has passed nothing on yet starts
    /// from there; one that has keeps its own count, or its other sockets would miss what
    /// lies between.
    pub fn saw(&self, seq: u64) {
        lock(&self.last_seq).get_or_insert(seq);
    }

    /// The hub gives up replaying: its sockets resync to the store's `seq`.
    fn skip_to(&self, seq: u64) {
        let mut last = lock(&self.last_seq);
        if last.is_none_or(|l| l < seq) {
            *last = Some(seq);
        }
    }

    pub fn counts(&self) -> (u64, u64) {
        (self.connected.load(Ordering::Relaxed), self.participants.load(Ordering::Relaxed))
    }

    fn send(&self, msg: Outbound) {
        // No receiver means no socket left: nothing to do.
        let _ = self.tx.send(msg);
    }

    fn broadcast_event(&self, e: &Sequenced) {
        let frames: [Utf8Bytes; 4] = if e.event.same_for_all() {
            let one = Utf8Bytes::from(event_frame(e, Role::Moderator));
            [one.clone(), one.clone(), one.clone(), one]
        } else {
            Role::ALL.map(|r| Utf8Bytes::from(event_frame(e, r)))
        };
        metrics::counter!("palabre_events_fanned_out_total").increment(self.tx.receiver_count() as u64);
        self.send(Outbound::Event { seq: e.seq, frames: Arc::new(frames) });
    }

    fn heard_upvotes(&self, counts: impl IntoIterator<Item = (String, u64)>) {
        lock(&self.upvotes).extend(counts);
    }

    /// Sends the upvote counts and the tallies heard since the last flush, if any.
    fn flush_upvotes(&self) {
        let counts = std::mem::take(&mut *lock(&self.upvotes));
        if !counts.is_empty() {
            self.send(Outbound::Frame(upvotes_frame(&counts).into()));
        }
        let tallies = std::mem::take(&mut *lock(&self.tallies));
        for (poll, (tally, eligible, hidden)) in tallies {
            let frames = Role::ALL.map(|r| Utf8Bytes::from(tally_frame(&poll, &tally, eligible, hidden, r)));
            self.send(Outbound::Frames(Arc::new(frames)));
        }
    }

    /// Passes on the events that follow what the hub has passed on. Returns the `seq` after
    /// which something is missing, when there is a gap.
    fn deliver(&self, events: &[Sequenced]) -> Option<u64> {
        let mut last = lock(&self.last_seq);
        for e in events {
            match *last {
                Some(l) if e.seq <= l => continue,
                Some(l) if e.seq > l + 1 => return Some(l),
                _ => {
                    self.broadcast_event(e);
                    *last = Some(e.seq);
                }
            }
        }
        None
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        if self.followed.initialized() {
            self.store.unfollow(&self.session);
        }
    }
}

/// Guard for one socket on a hub: counts it while it lives.
pub struct Membership {
    pub hub: Arc<Hub>,
    participant: bool,
}

impl Drop for Membership {
    fn drop(&mut self) {
        self.hub.connected.fetch_sub(1, Ordering::Relaxed);
        if self.participant {
            self.hub.participants.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// The hubs of this instance, by session id.
pub struct Hubs {
    map: Mutex<HashMap<Arc<str>, Weak<Hub>>>,
    store: Arc<dyn Store>,
    instance: String,
    /// Set when the feed may have lost messages: presence totals are then published again at
    /// the next tick rather than at the next refresh.
    presence_stale: std::sync::atomic::AtomicBool,
    /// The presence reporter, awaited at shutdown so this instance's counts leave the totals.
    presence: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Hubs {
    /// Starts reading the store's feed (the receiver is taken now, so nothing published
    /// after this returns is missed) and the presence reporter.
    pub fn start(store: Arc<dyn Store>, shutdown: watch::Receiver<bool>) -> Arc<Self> {
        let feed = store.feed();
        let hubs = Arc::new(Hubs {
            map: Mutex::new(HashMap::new()),
            store,
            instance: uuid::Uuid::new_v4().simple().to_string(),
            presence_stale: std::sync::atomic::AtomicBool::new(false),
            presence: Mutex::new(None),
        });
        tokio::spawn(dispatch(Arc::downgrade(&hubs), feed, shutdown.clone()));
        let presence = tokio::spawn(report_presence(Arc::downgrade(&hubs), shutdown.clone()));
        *lock(&hubs.presence) = Some(presence);
        tokio::spawn(flush_upvotes(Arc::downgrade(&hubs), shutdown));
        hubs
    }

    /// Waits (a moment at most) for the presence reporter to have withdrawn this instance's
    /// counts, once shutdown was signalled.
    pub async fn stopped(&self) {
        let task = lock(&self.presence).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(PRESENCE_TICK * 2, task).await;
        }
    }

    fn get(&self, session: &str) -> Option<Arc<Hub>> {
        lock(&self.map).get(session).and_then(Weak::upgrade)
    }

    fn live(&self) -> Vec<Arc<Hub>> {
        let mut map = lock(&self.map);
        map.retain(|_, w| w.strong_count() > 0);
        map.values().filter_map(Weak::upgrade).collect()
    }

    /// Joins a socket to its session's hub, creating the hub if it is the first, and returns
    /// once this instance's feed carries the session (so an event published after this returns
    /// reaches the socket).
    pub async fn join(&self, session: &str, participant: bool) -> Result<Membership, crate::store::StoreError> {
        let hub = self.hub(session);
        hub.followed.get_or_try_init(|| self.store.follow(&hub.session)).await?;
        hub.connected.fetch_add(1, Ordering::Relaxed);
        if participant {
            hub.participants.fetch_add(1, Ordering::Relaxed);
        }
        Ok(Membership { hub, participant })
    }

    fn hub(&self, session: &str) -> Arc<Hub> {
        let mut map = lock(&self.map);
        match map.get(session).and_then(Weak::upgrade) {
            Some(hub) => hub,
            None => {
                let hub = Arc::new(Hub {
                    session: session.into(),
                    followed: tokio::sync::OnceCell::new(),
                    store: self.store.clone(),
                    tx: broadcast::channel(HUB_CAPACITY).0,
                    last_seq: Mutex::new(None),
                    connected: AtomicU64::new(0),
                    participants: AtomicU64::new(0),
                    upvotes: Mutex::new(BTreeMap::new()),
                    tallies: Mutex::new(BTreeMap::new()),
                });
                map.insert(session.into(), Arc::downgrade(&hub));
                hub
            }
        }
    }

    /// Brings a hub up to the store: replays what it missed, or has its sockets resync.
    async fn catch_up(&self, hub: &Hub, mut gap_after: u64) {
        for _ in 0..3 {
            match self.store.events_since(&hub.session, gap_after).await {
                Ok(Some(events)) => match hub.deliver(&events) {
                    None => return,
                    Some(again) => gap_after = again,
                },
                Ok(None) => break,
                Err(crate::store::StoreError::NotFound) => {
                    hub.send(Outbound::Deleted);
                    return;
                }
                Err(e) => {
                    tracing::warn!(session = %hub.session, error = %e, "catch-up failed; sockets will resync");
                    break;
                }
            }
        }
        if let Ok(Some(seq)) = self.store.seq(&hub.session).await {
            hub.skip_to(seq);
        }
        hub.send(Outbound::Resync);
    }

    /// After the feed may have lost messages: catches up on events, and sends every upvote
    /// count and open poll's tally again (one may have been missed).
    async fn check(&self, hub: &Hub) {
        let last = *lock(&hub.last_seq);
        match self.store.upvote_counts(&hub.session).await {
            Ok(counts) => hub.heard_upvotes(counts),
            Err(e) => tracing::warn!(session = %hub.session, error = %e, "upvote recount failed"),
        }
        // Open polls' tallies too: a ballot's tally may have been missed.
        if let Ok(Some(s)) = self.store.snapshot(&hub.session, None).await {
            let votes = &s.session.votes;
            let open = votes.polls.values().filter(|p| p.status == crate::domain::votes::PollStatus::Open);
            let mut tallies = lock(&hub.tallies);
            for p in open {
                let tally = votes.tallies.get(&p.id).copied().unwrap_or_default();
                tallies.insert(p.id.clone(), (tally, votes.eligible, p.hidden));
            }
        }
        match (last, self.store.seq(&hub.session).await) {
            (_, Ok(None)) => hub.send(Outbound::Deleted),
            (Some(l), Ok(Some(seq))) if seq > l => self.catch_up(hub, l).await,
            // Up to date; or nothing passed on yet, and every socket reads the store itself
            // when it joins.
            (_, Ok(Some(_))) => {}
            (_, Err(e)) => tracing::warn!(session = %hub.session, error = %e, "gap check failed"),
        }
    }
}

async fn dispatch(hubs: Weak<Hubs>, mut feed: broadcast::Receiver<Feed>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let msg = tokio::select! {
            msg = feed.recv() => msg,
            _ = crate::time::stopping(&mut shutdown) => return,
        };
        let Some(hubs) = hubs.upgrade() else { return };
        match msg {
            Ok(Feed::Events { session, events }) => {
                if let Some(hub) = hubs.get(&session) {
                    if let Some(after) = hub.deliver(&events) {
                        hubs.catch_up(&hub, after).await;
                    }
                }
            }
            Ok(Feed::Deleted { session }) => {
                if let Some(hub) = hubs.get(&session) {
                    hub.send(Outbound::Deleted);
                }
            }
            Ok(Feed::Revoked { session }) => {
                if let Some(hub) = hubs.get(&session) {
                    hub.send(Outbound::Revoked);
                }
            }
            Ok(Feed::Presence { session, connected, participants }) => {
                if let Some(hub) = hubs.get(&session) {
                    let frame = ServerMsg::Presence { connected, participants }.to_json();
                    hub.send(Outbound::Frame(frame.into()));
                }
            }
            Ok(Feed::Tally { session, poll, tally, eligible, hidden }) => {
                if let Some(hub) = hubs.get(&session) {
                    lock(&hub.tallies).insert(poll.to_string(), (tally, eligible, hidden));
                }
            }
            Ok(Feed::Upvotes { session, question, count }) => {
                if let Some(hub) = hubs.get(&session) {
                    hub.heard_upvotes([(question.to_string(), count)]);
                }
            }
            Ok(Feed::Stale { session }) => {
                hubs.presence_stale.store(true, Ordering::Relaxed);
                if let Some(hub) = hubs.get(&session) {
                    hubs.check(&hub).await;
                }
            }
            Ok(Feed::Gap) | Err(broadcast::error::RecvError::Lagged(_)) => {
                hubs.presence_stale.store(true, Ordering::Relaxed);
                for hub in hubs.live() {
                    hubs.check(&hub).await;
                }
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Reports this instance's connection counts per session: soon after they change, and
/// every [`PRESENCE_REFRESH`] so other instances' totals do not expire them. A session whose
/// hub is gone is reported once more at zero.
async fn report_presence(hubs: Weak<Hubs>, mut shutdown: watch::Receiver<bool>) {
    let mut reported: HashMap<Arc<str>, ((u64, u64), tokio::time::Instant)> = HashMap::new();
    let mut tick = tokio::time::interval(PRESENCE_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::time::stopping(&mut shutdown) => {
                // This instance's sockets are closing: its counts leave the totals now, not
                // when they expire (a restarted instance reports under a new id).
                if let Some(hubs) = hubs.upgrade() {
                    let at = crate::time::now_ms();
                    let zeros = reported.keys().map(|s| hubs.store.report_presence(s, &hubs.instance, 0, 0, at));
                    let _ = tokio::time::timeout(PRESENCE_TICK, futures_util::future::join_all(zeros)).await;
                }
                return;
            }
        }
        let Some(hubs) = hubs.upgrade() else { return };
        let stale = hubs.presence_stale.swap(false, Ordering::Relaxed);
        let now = tokio::time::Instant::now();
        let mut current: HashMap<Arc<str>, (u64, u64)> =
            hubs.live().iter().map(|h| (h.session.clone(), h.counts())).collect();
        for (session, _) in reported.iter() {
            current.entry(session.clone()).or_insert((0, 0));
        }
        for (session, counts) in current {
            let due = match reported.get(&session) {
                Some((last, at)) => stale || *last != counts || now.duration_since(*at) >= PRESENCE_REFRESH,
                None => true,
            };
            if !due {
                continue;
            }
            let at = crate::time::now_ms();
            match hubs.store.report_presence(&session, &hubs.instance, counts.0, counts.1, at).await {
                Ok(_) if counts == (0, 0) => {
                    reported.remove(&session);
                }
                Ok(_) => {
                    reported.insert(session, (counts, now));
                }
                Err(crate::store::StoreError::NotFound) => {
                    reported.remove(&session);
                }
                Err(e) => tracing::debug!(error = %e, "presence report failed"),
            }
        }
    }
}

/// Sends each hub's changed upvote counts and tallies every [`UPVOTE_FLUSH`].
async fn flush_upvotes(hubs: Weak<Hubs>, mut shutdown: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(UPVOTE_FLUSH);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = crate::time::stopping(&mut shutdown) => return,
        }
        let Some(hubs) = hubs.upgrade() else { return };
        for hub in hubs.live() {
            hub.flush_upvotes();
        }
    }
}
