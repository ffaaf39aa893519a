//! The Redis store, for production and for several instances sharing one Redis. The only
//! module that speaks to Redis.
//!
//! Keys of one session share the hash tag `{id}`, so they sit on one Redis Cluster slot and a
//! script may touch them all: `palabre:{id}:state` (the session, JSON), `:seq` (its last
//! `seq`, read by the apply script), `:events` (a stream, entry id `<seq>-0`, trimmed to
//! about [`EVENT_LOG_LEN`]), `:auth`, `:participants`, `:presence`, and `:cmd:<uuid>` (the
//! `seq` a command was acknowledged with, expiring after [`CMD_ID_TTL_SECS`]). Outside the
//! tag: `palabre:code:<code>` → id, and the set `palabre:sessions`.
//!
//! A command is applied by optimistic concurrency: read the state, let the domain decide,
//! then a script writes state, seq, events and command id and publishes, only if `seq` has
//! not moved meanwhile; otherwise read again and retry. Two instances racing on one session
//! therefore never lose an update, and the order of events is the order of `seq`.

use super::memory::retained_since;
use super::{Applied, Credentials, Feed, Participant, SessionSummary, Store, StoreError};
use super::{CMD_ID_TTL_SECS, EVENT_LOG_LEN, FEED_CAPACITY, MAX_PARTICIPANTS, PRESENCE_TTL_MS};
use crate::domain::session::Sequenced;
use crate::domain::{Command, Role, Session};
use async_trait::async_trait;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

const CHANNEL: &str = "palabre:feed";
const SESSIONS: &str = "palabre:sessions";
const MAX_ATTEMPTS: usize = 64;

fn key(id: &str, part: &str) -> String {
    format!("palabre:{{{id}}}:{part}")
}

fn code_key(code: &str) -> String {
    format!("palabre:code:{code}")
}

/// What goes over the pub/sub channel.
#[derive(Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
enum Wire {
    Events { s: String, e: Vec<Sequenced> },
    Deleted { s: String },
    Presence { s: String, c: u64, p: u64 },
}

const APPLY: &str = r#"
local cur = redis.call('GET', KEYS[1])
if not cur then return {'missing'} end
local done = redis.call('GET', KEYS[4])
if done then return {'dup', done} end
if cur ~= ARGV[1] then return {'retry'} end
redis.call('SET', KEYS[2], ARGV[2])
redis.call('SET', KEYS[1], ARGV[3])
for i = 8, #ARGV, 2 do
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], ARGV[i] .. '-0', 'e', ARGV[i + 1])
end
redis.call('SET', KEYS[4], ARGV[3], 'EX', ARGV[4])
if #ARGV >= 8 then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
return {'ok'}
"#;

const JOIN: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 0 then return {'missing'} end
local have = redis.call('HGET', KEYS[2], ARGV[1])
if have then return {'ok', have} end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[3]) then return {'full'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {'ok', ARGV[2]}
"#;

const PRESENCE: &str = r#"
if redis.call('EXISTS', KEYS[2]) == 0 then return {-1, -1} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
local all = redis.call('HGETALL', KEYS[1])
local c, p = 0, 0
for i = 1, #all, 2 do
  local a, b, at = string.match(all[i + 1], '(%d+):(%d+):(%d+)')
  if at and tonumber(ARGV[4]) - tonumber(at) < tonumber(ARGV[5]) then
    c = c + tonumber(a); p = p + tonumber(b)
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
redis.call('PUBLISH', ARGV[6], cjson.encode({t = 'presence', s = ARGV[7], c = c, p = p}))
return {c, p}
"#;

pub struct RedisStore {
    conn: ConnectionManager,
    apply: Script,
    join: Script,
    presence: Script,
    feed: broadcast::Sender<Feed>,
    subscriber: tokio::task::JoinHandle<()>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

fn unavailable(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

impl RedisStore {
    /// Connects to Redis and starts listening to the feed. Fails when Redis cannot be reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_number_of_retries(3)
            .set_max_delay(Duration::from_secs(2));
        let mut conn = client.get_connection_manager_with_config(config).await.map_err(unavailable)?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(unavailable)?;
        let feed = broadcast::channel(FEED_CAPACITY).0;
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let subscriber = tokio::spawn(listen(client, feed.clone(), ready_tx));
        // Serve nothing before the feed is live: an event published in between would be
        // missed by this instance's hubs.
        if tokio::time::timeout(Duration::from_secs(10), ready_rx).await.is_err() {
            subscriber.abort();
            return Err(StoreError::Unavailable("could not subscribe to the feed channel".into()));
        }
        Ok(Self {
            conn,
            apply: Script::new(APPLY),
            join: Script::new(JOIN),
            presence: Script::new(PRESENCE),
            feed,
            subscriber,
        })
    }

    fn conn(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// Reads the pub/sub channel for as long as the store lives, reconnecting with backoff.
/// After every (re)subscription it announces [`Feed::Gap`]: messages published while it was
/// away are lost, so hubs compare their `seq` with the store.
async fn listen(client: redis::Client, feed: broadcast::Sender<Feed>, ready: tokio::sync::oneshot::Sender<()>) {
    let mut delay = Duration::from_millis(100);
    let mut first = true;
    let mut ready = Some(ready);
    loop {
        match client.get_async_pubsub().await {
            Ok(mut pubsub) => match pubsub.subscribe(CHANNEL).await {
                Ok(()) => {
                    delay = Duration::from_millis(100);
                    if !first {
                        tracing::info!("redis feed resubscribed");
                    }
                    first = false;
                    let _ = feed.send(Feed::Gap);
                    if let Some(r) = ready.take() {
                        let _ = r.send(());
                    }
                    let mut messages = pubsub.on_message();
                    while let Some(msg) = messages.next().await {
                        let Ok(payload) = msg.get_payload::<String>() else {
                            continue;
                        };
                        match serde_json::from_str::<Wire>(&payload) {
                            Ok(Wire::Events { s, e }) => {
                                let _ = feed.send(Feed::Events { session: s.into(), events: Arc::new(e) });
                            }
                            Ok(Wire::Deleted { s }) => {
                                let _ = feed.send(Feed::Deleted { session: s.into() });
                            }
                            Ok(Wire::Presence { s, c, p }) => {
                                let _ = feed.send(Feed::Presence { session: s.into(), connected: c, participants: p });
                            }
                            Err(e) => tracing::warn!(error = %e, "unreadable message on the feed channel"),
                        }
                    }
                    tracing::warn!("redis feed connection lost; reconnecting");
                }
                Err(e) => tracing::warn!(error = %e, "redis feed subscribe failed"),
            },
            Err(e) => tracing::warn!(error = %e, "redis feed connection failed"),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn create(&self, session: &Session, credentials: &Credentials) -> Result<(), StoreError> {
        let mut c = self.conn();
        let reserved: bool = redis::cmd("SET")
            .arg(code_key(&session.code))
            .arg(&session.id)
            .arg("NX")
            .query_async::<Option<String>>(&mut c)
            .await
            .map_err(unavailable)?
            .is_some();
        if !reserved {
            return Err(StoreError::CodeTaken);
        }
        let state = serde_json::to_string(session).map_err(corrupt)?;
        let auth = serde_json::to_string(credentials).map_err(corrupt)?;
        redis::pipe()
            .atomic()
            .set(key(&session.id, "state"), state)
            .set(key(&session.id, "seq"), session.seq)
            .set(key(&session.id, "auth"), auth)
            .sadd(SESSIONS, &session.id)
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn load(&self, id: &str) -> Result<Option<Session>, StoreError> {
        let raw: Option<String> = self.conn().get(key(id, "state")).await.map_err(unavailable)?;
        raw.map(|r| serde_json::from_str(&r).map_err(corrupt)).transpose()
    }

    async fn credentials(&self, id: &str) -> Result<Option<Credentials>, StoreError> {
        let raw: Option<String> = self.conn().get(key(id, "auth")).await.map_err(unavailable)?;
        raw.map(|r| serde_json::from_str(&r).map_err(corrupt)).transpose()
    }

    async fn resolve_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        self.conn().get(code_key(code)).await.map_err(unavailable)
    }

    async fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut c = self.conn();
        let ids: Vec<String> = c.smembers(SESSIONS).await.map_err(unavailable)?;
        let mut all = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(s) = self.load(&id).await? {
                all.push(SessionSummary::from(&s));
            }
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(all)
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let Some(session) = self.load(id).await? else {
            return Ok(false);
        };
        let wire = serde_json::to_string(&Wire::Deleted { s: id.to_owned() }).map_err(corrupt)?;
        let mut c = self.conn();
        let parts = ["state", "seq", "events", "auth", "participants", "presence"];
        redis::pipe()
            .atomic()
            .del(parts.iter().map(|p| key(id, p)).collect::<Vec<_>>())
            .srem(SESSIONS, id)
            .query_async::<()>(&mut c)
            .await
            .map_err(unavailable)?;
        // The code is released only if it still points here.
        let owner: Option<String> = c.get(code_key(&session.code)).await.map_err(unavailable)?;
        if owner.as_deref() == Some(id) {
            let _: () = c.del(code_key(&session.code)).await.map_err(unavailable)?;
        }
        let _: () = c.publish(CHANNEL, wire).await.map_err(unavailable)?;
        Ok(true)
    }

    async fn apply(
        &self,
        id: &str,
        cmd_id: &str,
        role: Role,
        command: &Command,
        now: i64,
    ) -> Result<Applied, StoreError> {
        let mut c = self.conn();
        let cmd_key = key(id, &format!("cmd:{cmd_id}"));
        for attempt in 0..MAX_ATTEMPTS {
            let (state, done): (Option<String>, Option<u64>) =
                redis::pipe().get(key(id, "state")).get(&cmd_key).query_async(&mut c).await.map_err(unavailable)?;
            // A deleted session answers NotFound even to a retry of a command it once applied.
            let state = state.ok_or(StoreError::NotFound)?;
            if let Some(seq) = done {
                return Ok(Applied::Duplicate { seq });
            }
            let mut session: Session = serde_json::from_str(&state).map_err(corrupt)?;
            let expected = session.seq;
            let events = session.handle(role, command, now)?;
            let wire = Wire::Events { s: id.to_owned(), e: events };
            let message = serde_json::to_string(&wire).map_err(corrupt)?;
            let Wire::Events { e: events, .. } = wire else { unreachable!("built above") };
            let mut inv = self.apply.prepare_invoke();
            inv.key(key(id, "seq"))
                .key(key(id, "state"))
                .key(key(id, "events"))
                .key(&cmd_key)
                .arg(expected.to_string())
                .arg(serde_json::to_string(&session).map_err(corrupt)?)
                .arg(session.seq.to_string())
                .arg(CMD_ID_TTL_SECS)
                .arg(CHANNEL)
                .arg(message)
                .arg(EVENT_LOG_LEN);
            for e in &events {
                inv.arg(e.seq).arg(serde_json::to_string(e).map_err(corrupt)?);
            }
            let reply: Vec<String> = inv.invoke_async(&mut c).await.map_err(unavailable)?;
            match reply.first().map(String::as_str) {
                Some("ok") => return Ok(Applied::New { seq: session.seq, events }),
                Some("dup") => {
                    let seq = reply.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    return Ok(Applied::Duplicate { seq });
                }
                Some("missing") => return Err(StoreError::NotFound),
                _ => {
                    // Someone else moved the session on: read it again. A short random pause
                    // keeps racing instances from colliding in lockstep.
                    let pause = rand::random_range(0..=(attempt as u64).min(20));
                    tokio::time::sleep(Duration::from_millis(pause)).await;
                }
            }
        }
        Err(StoreError::Contention)
    }

    async fn events_since(&self, id: &str, since: u64) -> Result<Option<Vec<Sequenced>>, StoreError> {
        let mut c = self.conn();
        let (last, entries): (Option<u64>, Vec<(String, Vec<(String, String)>)>) = redis::pipe()
            .atomic()
            .get(key(id, "seq"))
            .xrange(key(id, "events"), format!("{}-0", since.saturating_add(1)), "+")
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        let last = last.ok_or(StoreError::NotFound)?;
        let mut events = Vec::with_capacity(entries.len());
        for (_, fields) in entries {
            for (_, json) in fields {
                events.push(serde_json::from_str::<Sequenced>(&json).map_err(corrupt)?);
            }
        }
        Ok(retained_since(events.iter(), last, since))
    }

    async fn participant(&self, id: &str, token_hash: &str, fresh: &Participant) -> Result<Participant, StoreError> {
        let reply: Vec<String> = self
            .join
            .key(key(id, "seq"))
            .key(key(id, "participants"))
            .arg(token_hash)
            .arg(serde_json::to_string(fresh).map_err(corrupt)?)
            .arg(MAX_PARTICIPANTS)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        match (reply.first().map(String::as_str), reply.get(1)) {
            (Some("ok"), Some(raw)) => serde_json::from_str(raw).map_err(corrupt),
            (Some("full"), _) => Err(StoreError::Full),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn find_participant(&self, id: &str, token_hash: &str) -> Result<Option<Participant>, StoreError> {
        let (exists, raw): (bool, Option<String>) = redis::pipe()
            .exists(key(id, "seq"))
            .hget(key(id, "participants"), token_hash)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if !exists {
            return Err(StoreError::NotFound);
        }
        raw.map(|r| serde_json::from_str(&r).map_err(corrupt)).transpose()
    }

    async fn report_presence(
        &self,
        id: &str,
        instance: &str,
        connected: u64,
        participants: u64,
        now: i64,
    ) -> Result<(u64, u64), StoreError> {
        let mut c = self.conn();
        let (total_c, total_p): (i64, i64) = self
            .presence
            .key(key(id, "presence"))
            .key(key(id, "seq"))
            .arg(instance)
            .arg(connected)
            .arg(participants)
            .arg(now)
            .arg(PRESENCE_TTL_MS)
            .arg(CHANNEL)
            .arg(id)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        match (u64::try_from(total_c), u64::try_from(total_p)) {
            (Ok(c), Ok(p)) => Ok((c, p)),
            _ => Err(StoreError::NotFound),
        }
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _: String = redis::cmd("PING").query_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(())
    }

    fn feed(&self) -> broadcast::Receiver<Feed> {
        self.feed.subscribe()
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
