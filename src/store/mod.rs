//! Where sessions live: the [`Store`] trait and its two implementations, Redis (production,
//! shared by several instances) and memory (one process, the embedded default).
//!
//! A store applies a command atomically: it loads the parts of the session the command touches
//! ([`crate::domain::Footprint`]), lets the domain decide, and writes the changed parts, the
//! events (numbered from the session's one `seq` counter, kept in a bounded log for resync) and
//! the command id with its reply (kept [`CMD_ID_TTL_SECS`] for retries) together, or not at all.
//! Every applied batch of events is published on the store's [`Feed`], which every instance
//! reads.
//!
//! Upvotes are not events: each question's upvoters are a set of their own, changed with the
//! count in one step whose cost does not depend on the room, and the new count is published on
//! the feed for the hubs to coalesce.

pub mod memory;
pub mod redis;

use crate::domain::votes::{Choice, RosterEntry, Tally};
use crate::domain::{Actor, Command, DomainError, Reply, Sequenced, Session, SessionDefinition};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::broadcast;

/// How long a command id is remembered, so a retry (even on another instance) is applied once.
pub const CMD_ID_TTL_SECS: u64 = 600;
/// How many events per session are kept for `since` resync; older ones get the full state.
pub const EVENT_LOG_LEN: usize = 1000;
/// Capacity of the feed; a reader that falls further behind is told [`Feed::Lagged`].
pub const FEED_CAPACITY: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no such session")]
    NotFound,
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("the session code is taken")]
    CodeTaken,
    #[error("the session has reached its {MAX_PARTICIPANTS} participants")]
    Full,
    #[error("too much contention on the session; try again")]
    Contention,
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub use crate::credentials::Credentials;

/// A participant's record, found by the hash of its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Public id, safe to show to others (questions, floor requests).
    pub id: String,
    pub joined_at: i64,
}

/// The outcome of applying a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Applied now; these are its events (possibly none).
    New { seq: u64, events: Vec<Sequenced>, reply: Option<Reply> },
    /// The id was applied before; `seq` and `reply` are what it was acknowledged with.
    Duplicate { seq: u64, reply: Option<Reply> },
}

impl Applied {
    pub fn seq(&self) -> u64 {
        match self {
            Applied::New { seq, .. } | Applied::Duplicate { seq, .. } => *seq,
        }
    }

    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Applied::New { reply, .. } | Applied::Duplicate { reply, .. } => reply.as_ref(),
        }
    }
}

/// Everything a view of the session is made from, read at one `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub definition: SessionDefinition,
    /// The whole session, with every question (askers' records and counters left out).
    pub session: Session,
    /// Upvotes per question.
    pub upvotes: HashMap<String, u64>,
    /// The questions the viewing participant upvoted (empty for other viewers).
    pub upvoted: HashSet<String>,
    /// The viewing participant's own ballots, by poll.
    pub ballots: BTreeMap<String, Ballot>,
    /// Roster entries claimed by a device.
    pub claimed: u64,
}

/// One ballot as the store keeps it (under a keyed hash of its voter).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ballot {
    pub choice: Choice,
    pub weight: u64,
    pub receipt: String,
}

impl Ballot {
    /// `choice|weight|receipt`, the form the Redis script reads and writes.
    pub fn encode(&self) -> String {
        format!("{}|{}|{}", self.choice.as_str(), self.weight, self.receipt)
    }

    pub fn decode(raw: &str) -> Option<Ballot> {
        let mut parts = raw.splitn(3, '|');
        let choice = Choice::parse(parts.next()?)?;
        let weight = parts.next()?.parse().ok()?;
        Some(Ballot { choice, weight, receipt: parts.next()?.to_owned() })
    }
}

/// One entry of a session's audit trail: an event with its time and the role that caused it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Audited {
    pub seq: u64,
    pub at: i64,
    pub role: crate::domain::Role,
    pub event: crate::domain::Event,
}

/// Wrong voting codes one session accepts per minute before refusing every claim for a while.
pub const MAX_CLAIM_FAILURES_PER_MINUTE: u64 = 50;

/// What every instance hears of every session.
#[derive(Debug, Clone)]
pub enum Feed {
    Events {
        session: Arc<str>,
        events: Arc<Vec<Sequenced>>,
    },
    Deleted {
        session: Arc<str>,
    },
    /// The session's moderator and rapporteur keys were replaced: sockets opened with the old
    /// ones close.
    Revoked {
        session: Arc<str>,
    },
    Presence {
        session: Arc<str>,
        connected: u64,
        participants: u64,
    },
    /// A question's upvote count changed; hubs coalesce these into `upvotes` frames.
    Upvotes {
        session: Arc<str>,
        question: Arc<str>,
        count: u64,
    },
    /// A poll's tally changed; hubs coalesce these into `tally` frames.
    Tally {
        session: Arc<str>,
        poll: Arc<str>,
        tally: Tally,
        eligible: u64,
        hidden: bool,
    },
    /// The feed may have missed messages (reconnect to Redis, or the reader lagged): every
    /// hub must check its `seq` against the store.
    Gap,
    /// The feed may have missed messages of one session (its channel was subscribed again
    /// after Redis came back): that session's hub checks its `seq` against the store.
    Stale {
        session: Arc<str>,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SessionSummary {
    pub id: String,
    pub code: String,
    pub title: crate::domain::Localized,
    pub phase: crate::domain::Phase,
    pub created_at: i64,
    pub seq: u64,
}

impl SessionSummary {
    pub fn new(s: &Session, definition: &SessionDefinition) -> Self {
        Self {
            id: s.id.clone(),
            code: s.code.clone(),
            title: definition.title.clone(),
            phase: s.agenda.phase,
            created_at: s.created_at,
            seq: s.seq,
        }
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a new session; [`StoreError::CodeTaken`] when its code is in use.
    async fn create(
        &self,
        definition: &SessionDefinition,
        session: &Session,
        credentials: &Credentials,
    ) -> Result<(), StoreError>;
    /// Everything a view needs, at one `seq`; `viewer` is a participant's public id (for the
    /// questions they upvoted).
    async fn snapshot(&self, id: &str, viewer: Option<&str>) -> Result<Option<Snapshot>, StoreError>;
    /// The session's last `seq`, or `None` when there is no such session.
    async fn seq(&self, id: &str) -> Result<Option<u64>, StoreError>;
    /// Every question's upvote count (for hubs that may have missed some).
    async fn upvote_counts(&self, id: &str) -> Result<HashMap<String, u64>, StoreError>;
    async fn credentials(&self, id: &str) -> Result<Option<Credentials>, StoreError>;
    async fn resolve_code(&self, code: &str) -> Result<Option<String>, StoreError>;
    async fn list(&self) -> Result<Vec<SessionSummary>, StoreError>;
    /// Replaces the moderator's and rapporteur's key hashes (the join code and ballot salt
    /// stay) and announces it on the feed; false when there is no such session.
    async fn replace_keys(&self, id: &str, moderator: String, rapporteur: String) -> Result<bool, StoreError>;
    /// Deletes the session and all its keys; false when there was none.
    async fn delete(&self, id: &str) -> Result<bool, StoreError>;
    /// Replaces the roster (roster mode, no vote open); returns the event recording it.
    async fn replace_roster(&self, id: &str, entries: &[RosterEntry], now: i64) -> Result<Vec<Sequenced>, StoreError>;
    /// Every event of the session, in `seq` order, with its time and actor's role (kept whole,
    /// unlike the bounded log used for resync).
    async fn audit(&self, id: &str) -> Result<Vec<Audited>, StoreError>;
    /// The roster, in its order.
    async fn roster(&self, id: &str) -> Result<Vec<RosterEntry>, StoreError>;
    /// Every ballot of a poll (receipt, choice, weight), sorted by receipt; no voter is named.
    async fn ballots(&self, id: &str, poll: &str) -> Result<Vec<Ballot>, StoreError>;
    /// Applies `command` once per `cmd_id`, atomically, and publishes its events (or, for an
    /// upvote, the new count).
    async fn apply(
        &self,
        id: &str,
        cmd_id: &str,
        actor: &Actor,
        command: &Command,
        now: i64,
    ) -> Result<Applied, StoreError>;
    /// The events after `since`, or `None` when some of them are no longer kept.
    async fn events_since(&self, id: &str, since: u64) -> Result<Option<Vec<Sequenced>>, StoreError>;
    /// The participant with this token hash, registering `fresh` under it if there is none.
    async fn participant(&self, id: &str, token_hash: &str, fresh: &Participant) -> Result<Participant, StoreError>;
    /// Looks a participant up without registering one.
    async fn find_participant(&self, id: &str, token_hash: &str) -> Result<Option<Participant>, StoreError>;
    /// Records this instance's live connection counts for a session and returns the totals
    /// over every instance that reported recently; the totals are published on the feed.
    async fn report_presence(
        &self,
        id: &str,
        instance: &str,
        connected: u64,
        participants: u64,
        now: i64,
    ) -> Result<(u64, u64), StoreError>;
    async fn ping(&self) -> Result<(), StoreError>;
    fn feed(&self) -> broadcast::Receiver<Feed>;
    /// Makes [`Store::feed`] carry the session's messages from now on; returns once it does.
    /// An instance follows only the sessions its sockets are in (one Redis channel each).
    async fn follow(&self, _session: &str) -> Result<(), StoreError> {
        Ok(())
    }
    /// Undoes one [`Store::follow`] of the session (the feed stops carrying it after the last).
    fn unfollow(&self, _session: &str) {}
    fn name(&self) -> &'static str;
}

/// Participants one session registers at most: a bound on what a flood of anonymous
/// `hello`s can make the store keep.
pub const MAX_PARTICIPANTS: usize = 50_000;

/// How long an instance's presence report counts.
pub const PRESENCE_TTL_MS: i64 = 30_000;
