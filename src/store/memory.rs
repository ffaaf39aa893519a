//! The embedded store: everything in one process's memory, behind one std `Mutex` that is
//! never held across an `.await`. State is lost at exit; one instance only.

use super::{Applied, Audited, Ballot, Credentials, Feed, Participant, SessionSummary, Snapshot, Store, StoreError};
use super::{CMD_ID_TTL_SECS, EVENT_LOG_LEN, MAX_PARTICIPANTS, PRESENCE_TTL_MS};
use super::{FEED_CAPACITY, MAX_CLAIM_FAILURES_PER_MINUTE};
use crate::credentials::{new_receipt, voter_key};
use crate::domain::questions::{MAX_UPVOTES_PER_WINDOW, UPVOTE_WINDOW_MS};
use crate::domain::votes::{RosterEntry, VoteCommand};
use crate::domain::{Actor, Command, DomainError, Event, QuestionEvent, Reply, Sequenced, Session, SessionDefinition};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

struct Entry {
    definition: SessionDefinition,
    /// The whole session; its `seq` is the session's counter.
    session: Session,
    credentials: Credentials,
    events: VecDeque<Sequenced>,
    audit: Vec<Audited>,
    participants: HashMap<String, Participant>,
    /// Command id → (seq and reply it was acknowledged with).
    cmds: HashMap<String, (u64, Option<Reply>)>,
    /// Command ids in the order they may be forgotten, so forgetting costs nothing per command.
    cmd_expiry: VecDeque<(Instant, String)>,
    presence: HashMap<String, (u64, u64, i64)>,
    /// Question id → the participants who upvote it.
    upvoters: HashMap<String, HashSet<String>>,
    /// Participant id → (start of the current upvote window, upvotes in it).
    vote_windows: HashMap<String, (i64, u64)>,
    /// Poll → voter key → ballot.
    ballots: HashMap<String, HashMap<String, Ballot>>,
    /// Poll → the receipts given, so each is unique.
    receipts: HashMap<String, HashSet<String>>,
    /// Voting code → roster entry.
    codes: HashMap<String, String>,
    /// The roster in its order.
    roster_order: Vec<String>,
    /// (start of the current minute, wrong voting codes in it).
    claim_failures: (i64, u64),
}

impl Entry {
    /// Total eligible voting weight now.
    fn eligible(&self) -> u64 {
        match self.session.roster {
            Some(r) if self.session.roster_mode() => r.weight,
            _ if self.session.roster_mode() => 0,
            _ => self.participants.len() as u64,
        }
    }

    fn voter_key(&self, voter: &str) -> String {
        voter_key(&self.credentials.ballot_salt, voter)
    }

    /// Casts (or changes) a ballot and updates the poll's tally.
    fn cast(&mut self, actor: &Actor, command: &Command) -> Result<(Reply, Feed), StoreError> {
        let voter = self.session.voter(actor, command)?;
        let Some((poll, choice)) = command.ballot() else {
            return Err(DomainError::Invalid("not a ballot".into()).into());
        };
        let key = self.voter_key(&voter.id);
        let ballots = self.ballots.entry(poll.to_owned()).or_default();
        let tally = self.session.votes.tallies.entry(poll.to_owned()).or_default();
        let receipt = match ballots.get(&key) {
            Some(old) => {
                *weight_of(tally, old.choice) -= old.weight;
                old.receipt.clone()
            }
            None => {
                tally.cast += 1;
                tally.cast_weight += voter.weight;
                // Unique per poll, as the Redis store keeps them.
                let given = self.receipts.entry(poll.to_owned()).or_default();
                let mut receipt = new_receipt();
                while !given.insert(receipt.clone()) {
                    receipt = new_receipt();
                }
                receipt
            }
        };
        *weight_of(tally, choice) += voter.weight;
        ballots.insert(key, Ballot { choice, weight: voter.weight, receipt: receipt.clone() });
        let tally = *tally;
        let hidden = self.session.votes.polls.get(poll).is_some_and(|p| p.hidden);
        let feed = Feed::Tally {
            session: self.session.id.as_str().into(),
            poll: poll.into(),
            tally,
            eligible: self.eligible(),
            hidden,
        };
        Ok((Reply::Ballot { poll: poll.to_owned(), choice, receipt }, feed))
    }

    /// Finds the roster entry a voting code names, within the session's limit on wrong codes.
    fn resolve_claim(&mut self, actor: &Actor, command: &Command, now: i64) -> Result<Command, StoreError> {
        let Command::Vote(VoteCommand::Claim { code, .. }) = command else { return Ok(command.clone()) };
        if actor.role != crate::domain::Role::Participant {
            // Refused by the rules; it must not use up the session's budget of wrong codes.
            return Ok(command.clone());
        }
        if now - self.claim_failures.0 >= 60_000 {
            self.claim_failures = (now, 0);
        }
        if self.claim_failures.1 >= MAX_CLAIM_FAILURES_PER_MINUTE {
            return Err(DomainError::RateLimited("too many wrong voting codes; wait a minute".into()).into());
        }
        let entry = self.codes.get(code).cloned();
        if entry.is_none() {
            self.claim_failures.1 += 1;
        }
        Ok(Command::Vote(VoteCommand::Claim { code: code.clone(), entry }))
    }

    fn remember(&mut self, cmd_id: &str, seq: u64, reply: Option<Reply>, until: Instant) {
        self.cmds.insert(cmd_id.to_owned(), (seq, reply));
        self.cmd_expiry.push_back((until, cmd_id.to_owned()));
    }

    fn count(&self, question: &str) -> u64 {
        self.upvoters.get(question).map_or(0, |u| u.len() as u64)
    }

    /// The per-participant upvote rate limit: a fixed window, as the Redis store keeps it.
    fn take_vote(&mut self, participant: &str, now: i64) -> Result<(), DomainError> {
        let window = self.vote_windows.entry(participant.to_owned()).or_insert((now, 0));
        if now - window.0 >= UPVOTE_WINDOW_MS as i64 {
            *window = (now, 0);
        }
        window.1 += 1;
        if window.1 > MAX_UPVOTES_PER_WINDOW {
            return Err(DomainError::RateLimited("too many upvotes; wait a few seconds".into()));
        }
        Ok(())
    }
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, Entry>,
    codes: HashMap<String, String>,
}

pub struct MemoryStore {
    inner: Mutex<Inner>,
    feed: broadcast::Sender<Feed>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    pub fn new() -> Self {
        Self { inner: Mutex::new(Inner::default()), feed: broadcast::channel(FEED_CAPACITY).0 }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave a half-applied command: state is only
        // replaced whole. So a poisoned lock is still safe to use.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn publish(&self, msg: Feed) {
        // No receiver is fine: no instance is listening yet.
        let _ = self.feed.send(msg);
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn create(
        &self,
        definition: &SessionDefinition,
        session: &Session,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if inner.codes.contains_key(&session.code) {
            return Err(StoreError::CodeTaken);
        }
        inner.codes.insert(session.code.clone(), session.id.clone());
        inner.sessions.insert(
            session.id.clone(),
            Entry {
                definition: definition.clone(),
                session: session.clone(),
                credentials: credentials.clone(),
                events: VecDeque::new(),
                audit: Vec::new(),
                participants: HashMap::new(),
                cmds: HashMap::new(),
                cmd_expiry: VecDeque::new(),
                presence: HashMap::new(),
                upvoters: HashMap::new(),
                vote_windows: HashMap::new(),
                ballots: HashMap::new(),
                receipts: HashMap::new(),
                codes: HashMap::new(),
                roster_order: Vec::new(),
                claim_failures: (0, 0),
            },
        );
        Ok(())
    }

    async fn snapshot(&self, id: &str, viewer: Option<&str>) -> Result<Option<Snapshot>, StoreError> {
        let inner = self.lock();
        let Some(e) = inner.sessions.get(id) else { return Ok(None) };
        let mut session = e.session.clone();
        session.questions.askers.clear();
        session.questions.open_by.clear();
        session.votes.eligible = e.eligible();
        session.votes.roster.clear();
        session.votes.claims.clear();
        session.votes.bound.clear();
        let mut ballots = BTreeMap::new();
        if let Some(p) = viewer {
            let voter = if e.session.roster_mode() {
                let entry = e.session.votes.bound.get(p).cloned();
                if let Some(entry) = &entry {
                    session.votes.bound.insert(p.to_owned(), entry.clone());
                    if let Some(c) = e.session.votes.claims.get(entry) {
                        session.votes.claims.insert(entry.clone(), c.clone());
                    }
                    if let Some(r) = e.session.votes.roster.get(entry) {
                        session.votes.roster.insert(entry.clone(), r.clone());
                    }
                }
                entry.filter(|entry| e.session.votes.claims.get(entry).is_some_and(|c| c.participant == p))
            } else {
                Some(p.to_owned())
            };
            if let Some(voter) = voter {
                let key = e.voter_key(&voter);
                for (poll, by_voter) in &e.ballots {
                    if let Some(b) = by_voter.get(&key) {
                        ballots.insert(poll.clone(), b.clone());
                    }
                }
            }
        }
        let claimed = e.session.votes.claims.len() as u64;
        let upvotes = e.upvoters.iter().map(|(q, u)| (q.clone(), u.len() as u64)).collect();
        let upvoted = match viewer {
            Some(p) => e.upvoters.iter().filter(|(_, u)| u.contains(p)).map(|(q, _)| q.clone()).collect(),
            None => HashSet::new(),
        };
        Ok(Some(Snapshot { definition: e.definition.clone(), session, upvotes, upvoted, ballots, claimed }))
    }

    async fn seq(&self, id: &str) -> Result<Option<u64>, StoreError> {
        Ok(self.lock().sessions.get(id).map(|e| e.session.seq))
    }

    async fn upvote_counts(&self, id: &str) -> Result<HashMap<String, u64>, StoreError> {
        let inner = self.lock();
        let e = inner.sessions.get(id).ok_or(StoreError::NotFound)?;
        Ok(e.upvoters.iter().map(|(q, u)| (q.clone(), u.len() as u64)).collect())
    }

    async fn credentials(&self, id: &str) -> Result<Option<Credentials>, StoreError> {
        Ok(self.lock().sessions.get(id).map(|e| e.credentials.clone()))
    }

    async fn resolve_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        Ok(self.lock().codes.get(code).cloned())
    }

    async fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut all: Vec<SessionSummary> =
            self.lock().sessions.values().map(|e| SessionSummary::new(&e.session, &e.definition)).collect();
        all.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(all)
    }

    async fn replace_keys(&self, id: &str, moderator: String, rapporteur: String) -> Result<bool, StoreError> {
        let replaced = match self.lock().sessions.get_mut(id) {
            Some(e) => {
                e.credentials.moderator = moderator;
                e.credentials.rapporteur = rapporteur;
                true
            }
            None => false,
        };
        if replaced {
            self.publish(Feed::Revoked { session: id.into() });
        }
        Ok(replaced)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let removed = {
            let mut inner = self.lock();
            let removed = inner.sessions.remove(id);
            if let Some(e) = &removed {
                inner.codes.remove(&e.session.code);
            }
            removed.is_some()
        };
        if removed {
            self.publish(Feed::Deleted { session: id.into() });
        }
        Ok(removed)
    }

    async fn apply(
        &self,
        id: &str,
        cmd_id: &str,
        actor: &Actor,
        command: &Command,
        now: i64,
    ) -> Result<Applied, StoreError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(id).ok_or(StoreError::NotFound)?;
        let clock = Instant::now();
        while entry.cmd_expiry.front().is_some_and(|(until, _)| *until <= clock) {
            if let Some((_, id)) = entry.cmd_expiry.pop_front() {
                entry.cmds.remove(&id);
            }
        }
        if let Some((seq, reply)) = entry.cmds.get(cmd_id) {
            return Ok(Applied::Duplicate { seq: *seq, reply: reply.clone() });
        }
        let forget_at = clock + Duration::from_secs(CMD_ID_TTL_SECS);
        if let Some((question, up)) = command.vote() {
            entry.session.check_vote(actor, command)?;
            let participant = actor.participant.clone().unwrap_or_default();
            entry.take_vote(&participant, now)?;
            let voters = entry.upvoters.entry(question.to_owned()).or_default();
            let changed = if up { voters.insert(participant) } else { voters.remove(&participant) };
            let count = entry.count(question);
            let seq = entry.session.seq;
            let reply = Some(Reply::Upvote { question: question.to_owned(), upvotes: count, upvoted: up });
            entry.remember(cmd_id, seq, reply.clone(), forget_at);
            if changed {
                self.publish(Feed::Upvotes { session: id.into(), question: question.into(), count });
            }
            return Ok(Applied::New { seq, events: vec![], reply });
        }
        if command.ballot().is_some() {
            let seq = entry.session.seq;
            let (reply, feed) = entry.cast(actor, command)?;
            entry.remember(cmd_id, seq, Some(reply.clone()), forget_at);
            self.publish(feed);
            return Ok(Applied::New { seq, events: vec![], reply: Some(reply) });
        }
        let command = &entry.resolve_claim(actor, command, now)?;
        entry.session.votes.eligible = entry.eligible();
        // The rules change nothing when they refuse, so the session is decided in place.
        let decision = entry.session.handle(actor, command, now)?;
        let mut events = Vec::with_capacity(decision.events.len());
        for event in decision.events {
            if let Event::Question(QuestionEvent::Merged { question, into }) = &event {
                let moved = entry.upvoters.remove(question).unwrap_or_default();
                entry.upvoters.entry(into.clone()).or_default().extend(moved);
                let count = entry.count(into);
                self.publish(Feed::Upvotes { session: id.into(), question: into.as_str().into(), count });
            }
            entry.session.seq += 1;
            let e = Sequenced { seq: entry.session.seq, event };
            if entry.events.len() == EVENT_LOG_LEN {
                entry.events.pop_front();
            }
            entry.events.push_back(e.clone());
            entry.audit.push(Audited { seq: e.seq, at: now, role: actor.role, event: e.event.clone() });
            events.push(e);
        }
        let seq = entry.session.seq;
        entry.remember(cmd_id, seq, decision.reply.clone(), forget_at);
        // Published under the lock, so the feed carries every session's events in order.
        if !events.is_empty() {
            self.publish(Feed::Events { session: id.into(), events: Arc::new(events.clone()) });
        }
        Ok(Applied::New { seq, events, reply: decision.reply })
    }

    async fn replace_roster(&self, id: &str, entries: &[RosterEntry], now: i64) -> Result<Vec<Sequenced>, StoreError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(id).ok_or(StoreError::NotFound)?;
        let event = entry.session.replace_roster(entries)?;
        entry.codes = entries.iter().map(|e| (e.code.clone(), e.id.clone())).collect();
        entry.roster_order = entries.iter().map(|e| e.id.clone()).collect();
        entry.session.seq += 1;
        let e = Sequenced { seq: entry.session.seq, event };
        if entry.events.len() == EVENT_LOG_LEN {
            entry.events.pop_front();
        }
        entry.events.push_back(e.clone());
        entry.audit.push(Audited { seq: e.seq, at: now, role: crate::domain::Role::Moderator, event: e.event.clone() });
        self.publish(Feed::Events { session: id.into(), events: Arc::new(vec![e.clone()]) });
        Ok(vec![e])
    }

    async fn audit(&self, id: &str) -> Result<Vec<Audited>, StoreError> {
        Ok(self.lock().sessions.get(id).ok_or(StoreError::NotFound)?.audit.clone())
    }

    async fn roster(&self, id: &str) -> Result<Vec<RosterEntry>, StoreError> {
        let inner = self.lock();
        let e = inner.sessions.get(id).ok_or(StoreError::NotFound)?;
        Ok(e.roster_order.iter().filter_map(|r| e.session.votes.roster.get(r).cloned()).collect())
    }

    async fn ballots(&self, id: &str, poll: &str) -> Result<Vec<Ballot>, StoreError> {
        let inner = self.lock();
        let e = inner.sessions.get(id).ok_or(StoreError::NotFound)?;
        let mut all: Vec<Ballot> = e.ballots.get(poll).map(|b| b.values().cloned().collect()).unwrap_or_default();
        all.sort_by(|a, b| a.receipt.cmp(&b.receipt));
        Ok(all)
    }

    async fn events_since(&self, id: &str, since: u64) -> Result<Option<Vec<Sequenced>>, StoreError> {
        let inner = self.lock();
        let entry = inner.sessions.get(id).ok_or(StoreError::NotFound)?;
        Ok(retained_since(entry.events.iter(), entry.session.seq, since))
    }

    async fn participant(&self, id: &str, token_hash: &str, fresh: &Participant) -> Result<Participant, StoreError> {
        let mut inner = self.lock();
        let entry = inner.sessions.get_mut(id).ok_or(StoreError::NotFound)?;
        if let Some(p) = entry.participants.get(token_hash) {
            return Ok(p.clone());
        }
        if entry.participants.len() >= MAX_PARTICIPANTS {
            return Err(StoreError::Full);
        }
        entry.participants.insert(token_hash.to_owned(), fresh.clone());
        Ok(fresh.clone())
    }

    async fn find_participant(&self, id: &str, token_hash: &str) -> Result<Option<Participant>, StoreError> {
        let inner = self.lock();
        let entry = inner.sessions.get(id).ok_or(StoreError::NotFound)?;
        Ok(entry.participants.get(token_hash).cloned())
    }

    async fn report_presence(
        &self,
        id: &str,
        instance: &str,
        connected: u64,
        participants: u64,
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let totals = {
            let mut inner = self.lock();
            let entry = inner.sessions.get_mut(id).ok_or(StoreError::NotFound)?;
            if (connected, participants) == (0, 0) {
                entry.presence.remove(instance);
            } else {
                entry.presence.insert(instance.to_owned(), (connected, participants, now));
            }
            entry.presence.retain(|_, (_, _, at)| now - *at < PRESENCE_TTL_MS);
            entry.presence.values().fold((0, 0), |(c, p), (c2, p2, _)| (c + c2, p + p2))
        };
        self.publish(Feed::Presence { session: id.into(), connected: totals.0, participants: totals.1 });
        Ok(totals)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn feed(&self) -> broadcast::Receiver<Feed> {
        self.feed.subscribe()
    }

    fn name(&self) -> &'static str {
        "memory"
    }
}

/// The events after `since` from a log that ends at `last`, or `None` when the log no
/// longer reaches back that far (or `since` is from the future: the client holds a state
/// this store never had).
pub(crate) fn retained_since<'a>(
    log: impl Iterator<Item = &'a Sequenced>,
    last: u64,
    since: u64,
) -> Option<Vec<Sequenced>> {
    if since > last {
        return None;
    }
    let events: Vec<Sequenced> = log.filter(|e| e.seq > since).cloned().collect();
    let complete = events.len() as u64 == last - since && events.first().is_none_or(|e| e.seq == since + 1);
    complete.then_some(events)
}

fn weight_of(tally: &mut crate::domain::votes::Tally, choice: crate::domain::Choice) -> &mut u64 {
    match choice {
        crate::domain::Choice::For => &mut tally.for_,
        crate::domain::Choice::Against => &mut tally.against,
        crate::domain::Choice::Abstain => &mut tally.abstain,
    }
}
