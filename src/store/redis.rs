//! The Redis store, for production and for several instances sharing one Redis. The only
//! module that speaks to Redis.
//!
//! Keys of one session share the hash tag `{id}`, so they sit on one Redis Cluster slot and a
//! script may touch them all (`palabre:{id}:…`):
//! - `def` the definition (JSON, written once), `core` the small part of the state (agenda,
//!   highlight, drafts' status: JSON), `floor` the list of speakers (JSON);
//! - `questions` (hash: id → JSON), `askers` (hash: participant → what they asked lately),
//!   `counts` (hash: open questions, in all and per participant), `upvotes` (hash: question →
//!   count), `up:<question>` (set of the participants who upvote it), `rate:<participant>`
//!   (upvotes in the current window, expiring);
//! - `polls` (hash: id → JSON), `tally:<poll>` (JSON), `ballots:<poll>` (hash: keyed hash of the
//!   voter → `choice|weight|receipt`), `roster` (hash: entry → JSON), `codes` (hash: voting
//!   code → entry), `claims` (hash: entry → who holds it), `bound` (hash: participant → entry),
//!   `claimfail` (wrong codes this minute);
//! - `seq` (the one counter every event takes its number from), `events` (a stream, entry id
//!   `<seq>-0`, trimmed to about [`EVENT_LOG_LEN`]), `audit` (the same events with their time and
//!   the actor's role, never trimmed), `cmd:<uuid>` (`<seq>|<reply>` a command was
//!   acknowledged with, expiring after [`CMD_ID_TTL_SECS`]);
//! - `auth`, `participants`, `presence`;
//! - `gate` and `qgate` (what ballots and upvotes may be cast on without reading `core`:
//!   `open` or not, written with `core`); `feed` is the session's pub/sub channel (sharded on a
//!   cluster).
//!
//! Outside the tag: `palabre:code:<code>` → id, and the set `palabre:sessions`.
//!
//! A command is applied by optimistic concurrency on the parts it touches: read them, let the
//! domain decide, then one script checks that each part is still as read, writes the changed
//! ones, takes the events' numbers from `seq`, logs, remembers the command id and publishes; if
//! a part moved meanwhile, read again and retry. Two questions asked at once touch different
//! parts and do not collide; an agenda move and an ask collide on `core` and one retries. An
//! upvote is one script of its own (set, count, rate window, publish), checked against the
//! question as read and the question gate: its cost does not grow with the number of questions
//! or upvoters. A ballot likewise. An instance remembers the questions it saw approved and the
//! polls it saw open, so most upvotes and ballots are that one script and no read.

use super::memory::retained_since;
use super::{Applied, Credentials, Feed, Participant, SessionSummary, Snapshot, Store, StoreError};
use super::{Audited, Ballot, MAX_CLAIM_FAILURES_PER_MINUTE};
use super::{CMD_ID_TTL_SECS, EVENT_LOG_LEN, FEED_CAPACITY, MAX_PARTICIPANTS, PRESENCE_TTL_MS};
use crate::credentials::{new_receipt, voter_key};
use crate::domain::agenda::Agenda;
use crate::domain::floor::Floor;
use crate::domain::questions::{Asker, Questions, MAX_OPEN_PER_PARTICIPANT, MAX_OPEN_QUESTIONS};
use crate::domain::questions::{MAX_UPVOTES_PER_WINDOW, UPVOTE_WINDOW_MS};
use crate::domain::record::RecordState;
use crate::domain::votes::{Claim, Poll, RosterEntry, Tally, VoteCommand, Votes};
use crate::domain::{Actor, Command, DomainError, DraftState, Event, Question, QuestionCommand, QuestionEvent};
use crate::domain::{Reply, Sequenced};
use crate::domain::{Role, RosterSummary, Session, SessionDefinition, Settings};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

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
    Revoked { s: String },
    Presence { s: String, c: u64, p: u64 },
    Up { s: String, q: String, n: u64 },
    Tally { s: String, p: String, c: Tally, e: u64, h: u8 },
}

/// The small part of a session kept in `core`: everything but the definition, the questions
/// and the list of speakers.
#[derive(Serialize, Deserialize)]
struct Core {
    id: String,
    code: String,
    created_at: i64,
    settings: Settings,
    agenda: Agenda,
    highlighted: Option<String>,
    drafts: Vec<DraftState>,
    #[serde(default)]
    roster: Option<RosterSummary>,
    #[serde(default)]
    record: RecordState,
    #[serde(default)]
    languages: Vec<String>,
}

impl Core {
    fn of(s: &Session) -> Self {
        Core {
            id: s.id.clone(),
            code: s.code.clone(),
            created_at: s.created_at,
            settings: s.settings,
            agenda: s.agenda.clone(),
            highlighted: s.questions.highlighted.clone(),
            drafts: s.drafts.clone(),
            roster: s.roster,
            record: s.record.clone(),
            languages: s.languages.clone(),
        }
    }

    fn into_session(self, seq: u64) -> Session {
        Session {
            id: self.id,
            code: self.code,
            created_at: self.created_at,
            settings: self.settings,
            seq,
            agenda: self.agenda,
            questions: Questions { highlighted: self.highlighted, ..Questions::default() },
            floor: Floor::default(),
            drafts: self.drafts,
            votes: Votes::default(),
            roster: self.roster,
            record: self.record,
            texts: BTreeMap::new(),
            languages: self.languages,
        }
    }
}

fn json<T: Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(corrupt)
}

fn parse<T: serde::de::DeserializeOwned>(raw: &str) -> Result<T, StoreError> {
    serde_json::from_str(raw).map_err(corrupt)
}

/// A command id's record: `<seq>|<reply JSON or nothing>`.
fn parse_done(raw: &str) -> Result<Applied, StoreError> {
    let (seq, reply) = raw.split_once('|').unwrap_or((raw, ""));
    let seq = seq.parse().map_err(|_| StoreError::Corrupt("a command record without its seq".into()))?;
    let reply = if reply.is_empty() { None } else { Some(parse(reply)?) };
    Ok(Applied::Duplicate { seq, reply })
}

/// One part of the state a command read, and what to write back.
struct Slot {
    key: String,
    /// A hash field, or empty for a plain key.
    field: String,
    read: Option<String>,
    write: Option<String>,
}

impl Slot {
    fn new(key: String, field: &str, read: Option<String>, now: Option<String>) -> Self {
        let write = if now == read { None } else { now };
        Slot { key, field: field.to_owned(), read, write }
    }
}

/// The parts a command touches, as read.
struct Loaded {
    core: String,
    /// The session's gate as read ([`gate`]).
    gate: Option<String>,
    /// The session's question gate as read ([`qgate`]).
    qgate: Option<String>,
    questions: BTreeMap<String, Option<String>>,
    asker: Option<(String, Option<String>)>,
    floor: Option<Option<String>>,
    open_total: i64,
    open_mine: Option<(String, i64)>,
    done: Option<String>,
    polls: BTreeMap<String, Option<String>>,
    tallies: BTreeMap<String, Option<String>>,
    participants: Option<u64>,
    /// A roster entry: (id, entry as read, its claim as read).
    entry: Option<(String, Option<String>, Option<String>)>,
    /// A participant's roster binding: (participant, entry as read).
    voter: Option<(String, Option<String>)>,
    texts: BTreeMap<String, Option<String>>,
}

/// Applies a decided command. KEYS: seq, events, cmd, counts, upvotes, audit, then one key per
/// slot, then (for a merge) the two upvoter sets. ARGV: cmd TTL, channel, session id, log
/// length, reply, slot count, counter count, event count, merge ('' or 1), the actor's role, the
/// time, then per slot (field, expected, new), per counter (field, delta, max), per event its
/// JSON, and for a merge (from, into). Events go to the bounded log (for resync) and to the
/// audit trail (kept whole, with time and role).
/// Expected is `-` (absent) or `=<raw>`; new is `` (unchanged), `=<raw>` or `x` (delete).
/// Every check comes before any write, so a refusal writes nothing.
const APPLY: &str = r#"
local done = redis.call('GET', KEYS[3])
if done then return {'dup', done} end
local ns, nc, ne = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local a = 12
local reads = {}
for i = 1, ns do
  local k, f, want = KEYS[6 + i], ARGV[a], ARGV[a + 1]
  local cur
  if f == '' then cur = redis.call('GET', k) else cur = redis.call('HGET', k, f) end
  if i == 1 and not cur then return {'missing'} end
  if want == '-' then
    if cur then return {'retry'} end
  elseif (not cur) or ('=' .. cur) ~= want then
    return {'retry'}
  end
  a = a + 3
end
local ca = a
for i = 1, nc do
  local delta, max = tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  if delta > 0 and max >= 0 then
    local cur = tonumber(redis.call('HGET', KEYS[4], ARGV[a]) or '0')
    if cur + delta > max then return {'full', ARGV[a]} end
  end
  a = a + 3
end
local ea = a
a = 12
for i = 1, ns do
  local k, f, new = KEYS[6 + i], ARGV[a], ARGV[a + 2]
  if new ~= '' then
    if new == 'x' then
      if f == '' then redis.call('DEL', k) else redis.call('HDEL', k, f) end
    elseif f == '' then redis.call('SET', k, string.sub(new, 2))
    else redis.call('HSET', k, f, string.sub(new, 2)) end
  end
  a = a + 3
end
a = ca
for i = 1, nc do
  local n = redis.call('HINCRBY', KEYS[4], ARGV[a], ARGV[a + 1])
  if n == 0 then redis.call('HDEL', KEYS[4], ARGV[a]) end
  a = a + 3
end
a = ea
local entries = {}
local first, last = nil, nil
for i = 1, ne do
  last = redis.call('INCR', KEYS[1])
  if not first then first = last end
  local entry = '{"seq":' .. last .. ',"event":' .. ARGV[a] .. '}'
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], last .. '-0', 'e', entry)
  redis.call('XADD', KEYS[6], last .. '-0', 'e',
    '{"seq":' .. last .. ',"at":' .. ARGV[11] .. ',"role":"' .. ARGV[10] .. '","event":' .. ARGV[a] .. '}')
  entries[#entries + 1] = entry
  a = a + 1
end
if not last then
  last = tonumber(redis.call('GET', KEYS[1]) or '0')
  first = last + 1
end
if ARGV[9] ~= '' then
  local from, into = ARGV[a], ARGV[a + 1]
  local fk, ik = KEYS[#KEYS - 1], KEYS[#KEYS]
  redis.call('SUNIONSTORE', ik, ik, fk)
  redis.call('DEL', fk)
  redis.call('HDEL', KEYS[5], from)
  local n = redis.call('SCARD', ik)
  if n > 0 then redis.call('HSET', KEYS[5], into, n) end
  redis.call('PUBLISH', ARGV[2], '{"t":"up","s":"' .. ARGV[3] .. '","q":"' .. into .. '","n":' .. n .. '}')
end
redis.call('SET', KEYS[3], last .. '|' .. ARGV[5], 'EX', ARGV[1])
if ne > 0 then
  redis.call('PUBLISH', ARGV[2], '{"t":"events","s":"' .. ARGV[3] .. '","e":[' .. table.concat(entries, ',') .. ']}')
end
return {'ok', tostring(first), tostring(last)}
"#;

/// An upvote or unvote, checked against the state it was decided on. KEYS: seq, cmd, core,
/// questions, upvotes, the question's upvoter set, the participant's rate window, the session's
/// question gate. ARGV: cmd TTL, channel, session id, question id, participant id, core as read
/// ('' when the gate is checked instead), question as read, 1 (upvote) or 0, rate limit, rate
/// window (ms), the gate expected ('' to compare the core).
const VOTE: &str = r#"
local done = redis.call('GET', KEYS[2])
if done then return {'dup', done} end
if ARGV[11] ~= '' then
  if redis.call('GET', KEYS[8]) ~= ARGV[11] then return {'retry'} end
else
  local core = redis.call('GET', KEYS[3])
  if not core then return {'missing'} end
  if core ~= ARGV[6] then return {'retry'} end
end
if redis.call('HGET', KEYS[4], ARGV[4]) ~= ARGV[7] then return {'retry'} end
local used = redis.call('INCR', KEYS[7])
if used == 1 then redis.call('PEXPIRE', KEYS[7], ARGV[10]) end
if used > tonumber(ARGV[9]) then return {'rate'} end
local up = ARGV[8] == '1'
local changed
if up then changed = redis.call('SADD', KEYS[6], ARGV[5]) else changed = redis.call('SREM', KEYS[6], ARGV[5]) end
local n
if changed == 1 then
  n = redis.call('HINCRBY', KEYS[5], ARGV[4], up and 1 or -1)
else
  n = tonumber(redis.call('HGET', KEYS[5], ARGV[4]) or '0')
end
local seq = redis.call('GET', KEYS[1]) or '0'
local reply = '{"reply":"upvote","question":"' .. ARGV[4] .. '","upvotes":' .. n .. ',"upvoted":' .. (up and 'true' or 'false') .. '}'
redis.call('SET', KEYS[2], seq .. '|' .. reply, 'EX', ARGV[1])
if changed == 1 then
  redis.call('PUBLISH', ARGV[2], '{"t":"up","s":"' .. ARGV[3] .. '","q":"' .. ARGV[4] .. '","n":' .. n .. '}')
end
return {'ok', seq, reply}
"#;

/// A ballot, checked against the poll (and, in roster mode, the voter's claim) as read. KEYS:
/// seq, cmd, polls, the poll's ballots, its tally, participants, claims. ARGV: cmd TTL,
/// channel, session id, poll id, poll as read, voter key, choice, weight, fresh receipts (a few
/// candidates, space-separated; the first unused one is taken and marked `r:<receipt>` in the
/// ballots hash),
/// hidden (1/0), the roster's weight (-1: open mode, count participants), roster entry ('' in
/// open mode), its claim as read, then the gate expected ('' when not checked: the caller read
/// and checked the session itself). KEYS ends with the session's gate. The ballot is stored
/// under the voter key as `choice|weight|receipt`; changing one's choice keeps the receipt.
const CAST: &str = r#"
local done = redis.call('GET', KEYS[2])
if done then return {'dup', done} end
if ARGV[14] ~= '' and redis.call('GET', KEYS[8]) ~= ARGV[14] then return {'retry'} end
if redis.call('HGET', KEYS[3], ARGV[4]) ~= ARGV[5] then return {'retry'} end
if ARGV[12] ~= '' and redis.call('HGET', KEYS[7], ARGV[12]) ~= ARGV[13] then return {'retry'} end
local raw = redis.call('GET', KEYS[5])
local t = {['for'] = 0, against = 0, abstain = 0, cast = 0, cast_weight = 0}
if raw then
  local d = cjson.decode(raw)
  for k, _ in pairs(t) do t[k] = tonumber(d[k] or 0) end
end
local weight = tonumber(ARGV[8])
local receipt = nil
local old = redis.call('HGET', KEYS[4], ARGV[6])
if old then
  local c, w, r = string.match(old, '^([a-z]+)|(%d+)|(.+)$')
  t[c] = t[c] - tonumber(w)
  receipt = r
else
  -- The first candidate no other ballot of this poll holds: receipts are unique per poll.
  for cand in string.gmatch(ARGV[9], '%S+') do
    if redis.call('HSETNX', KEYS[4], 'r:' .. cand, '1') == 1 then receipt = cand break end
  end
  if not receipt then return {'retry'} end
  t.cast = t.cast + 1
  t.cast_weight = t.cast_weight + weight
end
t[ARGV[7]] = t[ARGV[7]] + weight
redis.call('HSET', KEYS[4], ARGV[6], ARGV[7] .. '|' .. ARGV[8] .. '|' .. receipt)
local tally = string.format('{"for":%d,"against":%d,"abstain":%d,"cast":%d,"cast_weight":%d}',
  t['for'], t.against, t.abstain, t.cast, t.cast_weight)
redis.call('SET', KEYS[5], tally)
local eligible = tonumber(ARGV[11])
if eligible < 0 then eligible = redis.call('HLEN', KEYS[6]) end
local seq = redis.call('GET', KEYS[1]) or '0'
local reply = '{"reply":"ballot","poll":"' .. ARGV[4] .. '","choice":"' .. ARGV[7] .. '","receipt":"' .. receipt .. '"}'
redis.call('SET', KEYS[2], seq .. '|' .. reply, 'EX', ARGV[1])
redis.call('PUBLISH', ARGV[2], '{"t":"tally","s":"' .. ARGV[3] .. '","p":"' .. ARGV[4] .. '","c":' .. tally ..
  ',"e":' .. eligible .. ',"h":' .. ARGV[10] .. '}')
return {'ok', seq, reply}
"#;

/// Replaces the roster. KEYS: core, seq, events, roster, codes, claims, bound, audit. ARGV:
/// core as read, core after, channel, session id, log length, the event JSON, the time, then per
/// entry: id, JSON, code.
const ROSTER: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'retry'} end
redis.call('DEL', KEYS[4], KEYS[5], KEYS[6], KEYS[7])
for i = 8, #ARGV, 3 do
  redis.call('HSET', KEYS[4], ARGV[i], ARGV[i + 1])
  redis.call('HSET', KEYS[5], ARGV[i + 2], ARGV[i])
end
redis.call('SET', KEYS[1], ARGV[2])
local seq = redis.call('INCR', KEYS[2])
local entry = '{"seq":' .. seq .. ',"event":' .. ARGV[6] .. '}'
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], seq .. '-0', 'e', entry)
redis.call('XADD', KEYS[8], seq .. '-0', 'e', '{"seq":' .. seq .. ',"at":' .. ARGV[7] .. ',"role":"moderator","event":' .. ARGV[6] .. '}')
redis.call('PUBLISH', ARGV[3], '{"t":"events","s":"' .. ARGV[4] .. '","e":[' .. entry .. ']}')
return {'ok', tostring(seq)}
"#;

/// Everything a view needs, read at one `seq`. KEYS: seq, core, def, floor, questions,
/// upvotes, polls, participants, claims, bound, roster, texts. ARGV: the viewing participant's id (''
/// for none), the prefix of upvoter sets, the prefix of tallies. Returns, after the upvotes:
/// polls, their tallies (in the same order), participants, claimed entries, the viewer's
/// roster entry, its claim and its roster record, and the drafts' texts.
const SNAPSHOT: &str = r#"
local core = redis.call('GET', KEYS[2])
if not core then return {} end
local qs = redis.call('HGETALL', KEYS[5])
local upvoted = {}
if ARGV[1] ~= '' then
  for i = 1, #qs, 2 do
    if redis.call('SISMEMBER', ARGV[2] .. qs[i], ARGV[1]) == 1 then upvoted[#upvoted + 1] = qs[i] end
  end
end
local polls = redis.call('HGETALL', KEYS[7])
local tallies = {}
for i = 1, #polls, 2 do tallies[#tallies + 1] = redis.call('GET', ARGV[3] .. polls[i]) or '' end
local entry, claim, record = '', '', ''
if ARGV[1] ~= '' then
  entry = redis.call('HGET', KEYS[10], ARGV[1]) or ''
  if entry ~= '' then
    claim = redis.call('HGET', KEYS[9], entry) or ''
    record = redis.call('HGET', KEYS[11], entry) or ''
  end
end
return {redis.call('GET', KEYS[1]) or '0', core, redis.call('GET', KEYS[3]) or '', redis.call('GET', KEYS[4]) or '',
        qs, redis.call('HGETALL', KEYS[6]), upvoted, polls, tallies, redis.call('HLEN', KEYS[8]),
        redis.call('HLEN', KEYS[9]), entry, claim, record, redis.call('HGETALL', KEYS[12])}
"#;

/// Replaces the credentials if they are still as read. KEYS: auth. ARGV: as read, new,
/// channel, the `revoked` message.
const SWAP_AUTH: &str = r#"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[4])
return 1
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
if ARGV[2] == '0' and ARGV[3] == '0' then
  redis.call('HDEL', KEYS[1], ARGV[1])
else
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3] .. ':' .. ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
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
    conn: Conn,
    /// `PUBLISH` on one Redis, `SPUBLISH` (sharded pub/sub) on a cluster.
    publish: &'static str,
    apply: Script,
    vote: Script,
    cast: Script,
    roster: Script,
    snapshot: Script,
    join: Script,
    presence: Script,
    swap_auth: Script,
    feed: broadcast::Sender<Feed>,
    /// The channels this instance follows, with how many hubs follow each.
    follows: Arc<tokio::sync::Mutex<(Listener, HashMap<String, usize>)>>,
    watchdog: tokio::task::JoinHandle<()>,
    /// Ballot salts by session, read once (a salt never changes).
    salts: std::sync::Mutex<HashMap<String, String>>,
    /// Polls last read open, by session and poll: a ballot on one is cast in one step.
    open_polls: std::sync::Mutex<HashMap<(String, String), OpenPoll>>,
    /// Questions last read approved while questions were open, by session and question (their
    /// JSON as read): an upvote on one is cast in one step.
    approved: std::sync::Mutex<HashMap<(String, String), String>>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.watchdog.abort();
    }
}

/// Where commands go: one Redis (a reconnecting multiplexed connection), or a Redis Cluster
/// (commands routed by their first key: every key of a session is on its slot).
#[derive(Clone)]
enum Route {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

/// The command connection, behind a breaker: while Redis does not answer the watchdog's pings
/// ([`PING_TIMEOUT`]), every command, new or waiting, fails at once with an error the store
/// reports as unavailable. So a storm may queue commands for long (a generous response
/// timeout), and an outage is still told in a second or two.
#[derive(Clone)]
struct Conn {
    route: Route,
    down: tokio::sync::watch::Receiver<bool>,
}

fn redis_down() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::Io, "redis does not answer"))
}

impl redis::aio::ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> redis::RedisFuture<'a, redis::Value> {
        let mut down = self.down.clone();
        let sent = match &mut self.route {
            Route::Single(c) => c.req_packed_command(cmd),
            Route::Cluster(c) => c.req_packed_command(cmd),
        };
        Box::pin(async move {
            tokio::select! {
                biased;
                Ok(_) = down.wait_for(|d| *d) => Err(redis_down()),
                r = sent => r,
            }
        })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> redis::RedisFuture<'a, Vec<redis::Value>> {
        let mut down = self.down.clone();
        let sent = match &mut self.route {
            Route::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Route::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        };
        Box::pin(async move {
            tokio::select! {
                biased;
                Ok(_) = down.wait_for(|d| *d) => Err(redis_down()),
                r = sent => r,
            }
        })
    }

    fn get_db(&self) -> i64 {
        match &self.route {
            Route::Single(c) => c.get_db(),
            Route::Cluster(c) => c.get_db(),
        }
    }
}

/// The RESP3 connection this instance's session channels are subscribed on; their messages
/// arrive as pushes ([`on_push`]). Both kinds subscribe again by themselves after a reconnect.
#[derive(Clone)]
enum Listener {
    Single(ConnectionManager),
    Cluster(redis::cluster_async::ClusterConnection),
}

impl Listener {
    async fn subscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        match self {
            Listener::Single(c) => c.subscribe(channel).await,
            Listener::Cluster(c) => c.ssubscribe(channel).await,
        }
    }

    async fn unsubscribe(&mut self, channel: &str) -> redis::RedisResult<()> {
        match self {
            Listener::Single(c) => c.unsubscribe(channel).await,
            Listener::Cluster(c) => c.sunsubscribe(channel).await,
        }
    }

    /// Pings every node, so that a connection lost while idle is made again (and its
    /// channels subscribed again) without waiting for a command.
    async fn ping(&mut self) -> redis::RedisResult<()> {
        use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
        match self {
            Listener::Single(c) => redis::cmd("PING").query_async(c).await,
            Listener::Cluster(c) => c
                .route_command(redis::cmd("PING"), RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)))
                .await
                .map(|_| ()),
        }
    }
}

/// The channel a session's live messages go over: under its hash tag, so that on a cluster it
/// is a sharded channel of the node holding the session.
fn channel(id: &str) -> String {
    key(id, "feed")
}

fn session_of(channel: &str) -> Option<&str> {
    channel.strip_prefix("palabre:{")?.strip_suffix("}:feed")
}

fn unavailable(e: redis::RedisError) -> StoreError {
    if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ResponseError) {
        // A script or command refused by Redis: a bug, not an outage.
        return StoreError::Corrupt(e.to_string());
    }
    StoreError::Unavailable(e.to_string())
}

fn corrupt(e: serde_json::Error) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

/// How long a subscription to a session's channel may take before the socket that needs it
/// is told the store is unavailable.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(5);
const PING_LISTENER_EVERY: Duration = Duration::from_secs(1);
/// A ping unanswered this long trips the breaker (see [`Conn`]).
const PING_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a command may wait for its answer while Redis does answer pings: a storm of
/// 10,000 phones queues commands for seconds, which is slow, not an outage.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);

/// The nodes `url` names when it names a Redis Cluster: `redis+cluster://h1:p1,h2:p2,…` or a
/// comma list of `redis://` URLs; `None` for one Redis.
pub fn cluster_nodes(url: &str) -> Option<Vec<String>> {
    if let Some(rest) = url.strip_prefix("redis+cluster://") {
        let (auth, hosts) = match rest.rsplit_once('@') {
            Some((auth, hosts)) => (format!("{auth}@"), hosts),
            None => (String::new(), rest),
        };
        let hosts = hosts.split(['/', '?']).next().unwrap_or_default();
        return Some(hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{auth}{h}")).collect());
    }
    url.contains(',').then(|| url.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect())
}

/// A script as this store runs it: on a cluster, its messages go over sharded channels.
fn script(source: &str, publish: &str) -> Script {
    Script::new(&source.replace("'PUBLISH'", &format!("'{publish}'")))
}

impl RedisStore {
    /// Connects to Redis (one, or a cluster: see [`cluster_nodes`]). Fails when Redis cannot be
    /// reached.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        use redis::IntoConnectionInfo;
        let feed = broadcast::channel(FEED_CAPACITY).0;
        let seen = Arc::new(std::sync::Mutex::new(HashSet::new()));
        let on_push = {
            let (feed, seen) = (feed.clone(), seen.clone());
            move |push: redis::PushInfo| -> Result<(), std::convert::Infallible> {
                on_push(push, &feed, &seen);
                Ok(())
            }
        };
        let (conn, listener, publish) = match cluster_nodes(url) {
            None => {
                let client = redis::Client::open(url).map_err(unavailable)?;
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(2)))
                    .set_response_timeout(Some(RESPONSE_TIMEOUT))
                    .set_number_of_retries(2)
                    .set_max_delay(Duration::from_secs(1));
                let conn = client.get_connection_manager_with_config(config.clone()).await.map_err(unavailable)?;
                let info = url.into_connection_info().map_err(unavailable)?;
                let resp3 = info.redis_settings().clone().set_protocol(redis::ProtocolVersion::RESP3);
                let client = redis::Client::open(info.set_redis_settings(resp3)).map_err(unavailable)?;
                let config = config.set_push_sender(on_push).set_automatic_resubscription();
                let listener = client.get_connection_manager_with_config(config).await.map_err(unavailable)?;
                (Route::Single(conn), Listener::Single(listener), "PUBLISH")
            }
            Some(nodes) => {
                let builder = || {
                    redis::cluster::ClusterClientBuilder::new(nodes.clone())
                        .connection_timeout(Duration::from_secs(2))
                        .response_timeout(RESPONSE_TIMEOUT)
                        .retries(2)
                };
                let client = builder().build().map_err(unavailable)?;
                let conn = client.get_async_connection().await.map_err(unavailable)?;
                let client = builder()
                    .use_protocol(redis::ProtocolVersion::RESP3)
                    .push_sender(on_push)
                    .build()
                    .map_err(unavailable)?;
                let listener = client.get_async_connection().await.map_err(unavailable)?;
                (Route::Cluster(conn), Listener::Cluster(listener), "SPUBLISH")
            }
        };
        let (breaker, down) = tokio::sync::watch::channel(false);
        let conn = Conn { route: conn, down };
        let mut c = conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await.map_err(unavailable)?;
        // Pings Redis on the listener's connection (apart from the commands' queue, so a storm
        // does not look like an outage): it keeps that connection alive and drives the breaker.
        let watchdog = tokio::spawn({
            let mut listener = listener.clone();
            let feed = feed.clone();
            async move {
                let mut tick = tokio::time::interval(PING_LISTENER_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let answered = match tokio::time::timeout(PING_TIMEOUT, listener.ping()).await {
                        Ok(Ok(())) => true,
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "redis ping failed");
                            false
                        }
                        Err(_) => false,
                    };
                    let changed = breaker.send_if_modified(|down| {
                        let changed = *down == answered;
                        *down = !answered;
                        changed
                    });
                    if changed && answered {
                        // Messages may have been missed meanwhile, and a hub's check made while
                        // the breaker was open failed: every hub checks again now.
                        tracing::info!("redis answers again");
                        let _ = feed.send(Feed::Gap);
                    } else if changed {
                        tracing::warn!("redis does not answer: commands fail until it does");
                    }
                }
            }
        });
        let store = Self {
            conn,
            publish,
            apply: script(APPLY, publish),
            vote: script(VOTE, publish),
            cast: script(CAST, publish),
            roster: script(ROSTER, publish),
            snapshot: script(SNAPSHOT, publish),
            join: script(JOIN, publish),
            presence: script(PRESENCE, publish),
            swap_auth: script(SWAP_AUTH, publish),
            feed,
            follows: Arc::new(tokio::sync::Mutex::new((listener, HashMap::new()))),
            watchdog,
            salts: std::sync::Mutex::new(HashMap::new()),
            open_polls: std::sync::Mutex::new(HashMap::new()),
            approved: std::sync::Mutex::new(HashMap::new()),
        };
        // Loaded now, so the first commands of a busy room do not each fail with NOSCRIPT and
        // load them again.
        for script in [
            &store.apply,
            &store.vote,
            &store.cast,
            &store.roster,
            &store.snapshot,
            &store.join,
            &store.presence,
            &store.swap_auth,
        ] {
            script.prepare_invoke().load_async(&mut c).await.map_err(unavailable)?;
        }
        Ok(store)
    }

    fn conn(&self) -> Conn {
        self.conn.clone()
    }

    /// Publishes one message on the session's channel.
    async fn publish(&self, id: &str, wire: &Wire) -> Result<(), StoreError> {
        let _: () = redis::cmd(self.publish)
            .arg(channel(id))
            .arg(json(wire)?)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// One push from the listener connection: a message on a session's channel goes on the feed;
/// a channel subscribed again (after Redis came back) makes its session's hub check what it
/// missed meanwhile.
fn on_push(push: redis::PushInfo, feed: &broadcast::Sender<Feed>, seen: &std::sync::Mutex<HashSet<String>>) {
    use redis::PushKind;
    let text = |i: usize| push.data.get(i).and_then(|v| redis::from_redis_value::<String>(v.clone()).ok());
    match push.kind {
        PushKind::Message | PushKind::SMessage => {
            let Some(payload) = text(1) else { return };
            let msg = match serde_json::from_str::<Wire>(&payload) {
                Ok(Wire::Events { s, e }) => Feed::Events { session: s.into(), events: Arc::new(e) },
                Ok(Wire::Deleted { s }) => Feed::Deleted { session: s.into() },
                Ok(Wire::Revoked { s }) => Feed::Revoked { session: s.into() },
                Ok(Wire::Presence { s, c, p }) => Feed::Presence { session: s.into(), connected: c, participants: p },
                Ok(Wire::Tally { s, p, c, e, h }) => {
                    Feed::Tally { session: s.into(), poll: p.into(), tally: c, eligible: e, hidden: h == 1 }
                }
                Ok(Wire::Up { s, q, n }) => Feed::Upvotes { session: s.into(), question: q.into(), count: n },
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable message on a session channel");
                    return;
                }
            };
            let _ = feed.send(msg);
        }
        PushKind::Subscribe | PushKind::SSubscribe => {
            let Some(ch) = text(0) else { return };
            let again = !seen.lock().unwrap_or_else(|p| p.into_inner()).insert(ch.clone());
            if again {
                if let Some(session) = session_of(&ch) {
                    tracing::info!(session, "session channel subscribed again");
                    let _ = feed.send(Feed::Stale { session: session.into() });
                }
            }
        }
        PushKind::Unsubscribe | PushKind::SUnsubscribe => {
            if let Some(ch) = text(0) {
                seen.lock().unwrap_or_else(|p| p.into_inner()).remove(&ch);
            }
        }
        PushKind::Disconnection => tracing::warn!("redis feed connection lost; reconnecting"),
        _ => {}
    }
}

impl RedisStore {
    /// Reads the parts `command` touches (and whether its id was applied already).
    async fn load_parts(
        &self,
        id: &str,
        cmd_key: &str,
        actor: &Actor,
        command: &Command,
    ) -> Result<Loaded, StoreError> {
        let footprint = command.footprint(actor);
        let mut pipe = redis::pipe();
        pipe.get(cmd_key)
            .get(key(id, "core"))
            .get(key(id, "gate"))
            .get(key(id, "qgate"))
            .hget(key(id, "counts"), "open");
        for q in &footprint.questions {
            pipe.hget(key(id, "questions"), q);
        }
        if let Some(p) = &footprint.asker {
            pipe.hget(key(id, "askers"), p).hget(key(id, "counts"), format!("open:{p}"));
        }
        if footprint.floor {
            pipe.get(key(id, "floor"));
        }
        for p in &footprint.polls {
            pipe.hget(key(id, "polls"), p);
        }
        for p in &footprint.tallies {
            pipe.get(key(id, &format!("tally:{p}")));
        }
        if footprint.eligible {
            pipe.hlen(key(id, "participants"));
        }
        if let Some(e) = &footprint.entry {
            pipe.hget(key(id, "roster"), e).hget(key(id, "claims"), e);
        }
        if let Some(p) = &footprint.voter {
            pipe.hget(key(id, "bound"), p);
        }
        for t in &footprint.texts {
            pipe.hget(key(id, "texts"), t);
        }
        let mut values: std::vec::IntoIter<redis::Value> =
            pipe.query_async::<Vec<redis::Value>>(&mut self.conn()).await.map_err(unavailable)?.into_iter();
        let mut next = || -> Result<Option<String>, StoreError> {
            let v = values.next().ok_or_else(|| StoreError::Corrupt("a short reply".into()))?;
            redis::from_redis_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let done = next()?;
        let core = next()?;
        let gate = next()?;
        let qgate = next()?;
        let open_total = next()?.and_then(|n| n.parse().ok()).unwrap_or(0);
        let mut questions = BTreeMap::new();
        for q in &footprint.questions {
            questions.insert(q.clone(), next()?);
        }
        let (asker, open_mine) = match &footprint.asker {
            Some(p) => {
                let raw = next()?;
                let open = next()?.and_then(|n| n.parse().ok()).unwrap_or(0);
                (Some((p.clone(), raw)), Some((p.clone(), open)))
            }
            None => (None, None),
        };
        let floor = if footprint.floor { Some(next()?) } else { None };
        let mut polls = BTreeMap::new();
        for p in &footprint.polls {
            polls.insert(p.clone(), next()?);
        }
        let mut tallies = BTreeMap::new();
        for p in &footprint.tallies {
            tallies.insert(p.clone(), next()?);
        }
        let participants = if footprint.eligible { next()?.and_then(|n| n.parse().ok()) } else { None };
        let entry = match &footprint.entry {
            Some(e) => Some((e.clone(), next()?, next()?)),
            None => None,
        };
        let voter = match &footprint.voter {
            Some(p) => Some((p.clone(), next()?)),
            None => None,
        };
        let mut texts = BTreeMap::new();
        for t in &footprint.texts {
            texts.insert(t.clone(), next()?);
        }
        let core = match (core, &done) {
            (Some(c), _) => c,
            // A deleted session answers NotFound even to a retry of a command it once applied.
            (None, _) => return Err(StoreError::NotFound),
        };
        Ok(Loaded {
            core,
            gate,
            qgate,
            questions,
            asker,
            floor,
            open_total,
            open_mine,
            done,
            polls,
            tallies,
            participants,
            entry,
            voter,
            texts,
        })
    }

    /// The session the loaded parts make up.
    fn assemble(loaded: &Loaded) -> Result<Session, StoreError> {
        let mut session = parse::<Core>(&loaded.core)?.into_session(0);
        for (id, raw) in &loaded.questions {
            if let Some(raw) = raw {
                session.questions.items.insert(id.clone(), parse::<Question>(raw)?);
            }
        }
        if let Some((p, raw)) = &loaded.asker {
            let asker = raw.as_deref().map(parse::<Asker>).transpose()?.unwrap_or_default();
            session.questions.askers.insert(p.clone(), asker);
        }
        if let Some(Some(raw)) = &loaded.floor {
            session.floor = parse(raw)?;
        }
        for (p, raw) in &loaded.polls {
            if let Some(raw) = raw {
                session.votes.polls.insert(p.clone(), parse::<Poll>(raw)?);
            }
        }
        for (p, raw) in &loaded.tallies {
            if let Some(raw) = raw {
                session.votes.tallies.insert(p.clone(), parse::<Tally>(raw)?);
            }
        }
        session.votes.eligible = match session.roster {
            Some(r) if session.roster_mode() => r.weight,
            _ => loaded.participants.unwrap_or(0),
        };
        if let Some((e, roster, claim)) = &loaded.entry {
            if let Some(raw) = roster {
                session.votes.roster.insert(e.clone(), parse::<RosterEntry>(raw)?);
            }
            if let Some(raw) = claim {
                session.votes.claims.insert(e.clone(), parse::<Claim>(raw)?);
            }
        }
        if let Some((p, Some(e))) = &loaded.voter {
            session.votes.bound.insert(p.clone(), e.clone());
        }
        for (t, raw) in &loaded.texts {
            if let Some(raw) = raw {
                session.texts.insert(t.clone(), parse(raw)?);
            }
        }
        session.questions.open_total = loaded.open_total;
        if let Some((p, n)) = &loaded.open_mine {
            session.questions.open_by.insert(p.clone(), *n);
        }
        Ok(session)
    }

    /// The parts to check and write back after the domain changed `after`.
    fn slots(id: &str, loaded: &Loaded, after: &Session) -> Result<Vec<Slot>, StoreError> {
        let mut slots = vec![
            Slot::new(key(id, "core"), "", Some(loaded.core.clone()), Some(json(&Core::of(after))?)),
            Slot::new(key(id, "gate"), "", loaded.gate.clone(), Some(gate(after).to_owned())),
            Slot::new(key(id, "qgate"), "", loaded.qgate.clone(), Some(qgate(after).to_owned())),
        ];
        for (q, read) in &loaded.questions {
            let now = after.questions.items.get(q).map(json).transpose()?;
            slots.push(Slot::new(key(id, "questions"), q, read.clone(), now));
        }
        if let Some((p, read)) = &loaded.asker {
            let now = after.questions.askers.get(p).map(json).transpose()?;
            slots.push(Slot::new(key(id, "askers"), p, read.clone(), now));
        }
        if let Some(read) = &loaded.floor {
            slots.push(Slot::new(key(id, "floor"), "", read.clone(), Some(json(&after.floor)?)));
        }
        for (p, read) in &loaded.polls {
            let now = after.votes.polls.get(p).map(json).transpose()?;
            slots.push(Slot::new(key(id, "polls"), p, read.clone(), now));
        }
        for (p, read) in &loaded.tallies {
            // Read to decide the outcome, never written here: a ballot landing meanwhile makes
            // the close read again, so the outcome is decided on exactly the ballots before it.
            slots.push(Slot::new(key(id, &format!("tally:{p}")), "", read.clone(), read.clone()));
        }
        if let Some((e, roster, claim)) = &loaded.entry {
            slots.push(Slot::new(key(id, "roster"), e, roster.clone(), roster.clone()));
            let now = after.votes.claims.get(e).map(json).transpose()?;
            slots.push(Slot::new(key(id, "claims"), e, claim.clone(), now));
        }
        if let Some((p, read)) = &loaded.voter {
            slots.push(Slot::new(key(id, "bound"), p, read.clone(), after.votes.bound.get(p).cloned()));
        }
        for (t, read) in &loaded.texts {
            let now = after.texts.get(t).map(json).transpose()?;
            slots.push(Slot::new(key(id, "texts"), t, read.clone(), now));
        }
        Ok(slots)
    }

    /// Changes of the open-question counters, with the cap each may not pass (for an ask; a
    /// moderator who approves a rejected question after all is not held to it, as in the rules).
    fn counters(command: &Command, before: &Session, after: &Session) -> Vec<(String, i64, i64)> {
        let asking = matches!(command, Command::Question(QuestionCommand::Ask { .. }));
        let cap = |max: i64| if asking { max } else { -1 };
        let mut out = Vec::new();
        let total = after.questions.open_total - before.questions.open_total;
        if total != 0 {
            out.push(("open".to_owned(), total, cap(MAX_OPEN_QUESTIONS)));
        }
        let people: HashSet<&String> = before.questions.open_by.keys().chain(after.questions.open_by.keys()).collect();
        for p in people {
            let delta = after.questions.open_by.get(p).copied().unwrap_or(0)
                - before.questions.open_by.get(p).copied().unwrap_or(0);
            if delta != 0 {
                out.push((format!("open:{p}"), delta, cap(MAX_OPEN_PER_PARTICIPANT)));
            }
        }
        out
    }

    async fn apply_vote(
        &self,
        id: &str,
        cmd_key: &str,
        actor: &Actor,
        command: &Command,
        question: &str,
        up: bool,
    ) -> Result<Applied, StoreError> {
        let participant = actor.participant.clone().unwrap_or_default();
        // A question this instance saw approved while questions were open is upvoted in one
        // step: the script checks the question is still as seen and the question gate `open`.
        let remembered =
            self.approved.lock().unwrap_or_else(|p| p.into_inner()).get(&(id.into(), question.into())).cloned();
        let mut fast = remembered.filter(|_| actor.participant.is_some() && command.allows(actor.role));
        for attempt in 0..MAX_ATTEMPTS {
            let (read, core, gate) = match fast.take() {
                Some(read) => (read, String::new(), "open"),
                None => {
                    self.approved.lock().unwrap_or_else(|p| p.into_inner()).remove(&(id.into(), question.into()));
                    let loaded = self.load_parts(id, cmd_key, actor, command).await?;
                    if let Some(done) = &loaded.done {
                        return parse_done(done);
                    }
                    let session = Self::assemble(&loaded)?;
                    session.check_vote(actor, command)?;
                    let read = loaded.questions.get(question).cloned().flatten().unwrap_or_default();
                    if loaded.qgate.as_deref() == Some("open") && qgate(&session) == "open" {
                        let mut approved = self.approved.lock().unwrap_or_else(|p| p.into_inner());
                        if approved.len() >= APPROVED_KEPT {
                            approved.clear();
                        }
                        approved.insert((id.into(), question.into()), read.clone());
                        (read, String::new(), "open")
                    } else {
                        (read, loaded.core, "")
                    }
                }
            };
            let reply: Vec<String> = self
                .vote
                .key(key(id, "seq"))
                .key(cmd_key)
                .key(key(id, "core"))
                .key(key(id, "questions"))
                .key(key(id, "upvotes"))
                .key(key(id, &format!("up:{question}")))
                .key(key(id, &format!("rate:{participant}")))
                .key(key(id, "qgate"))
                .arg(CMD_ID_TTL_SECS)
                .arg(channel(id))
                .arg(id)
                .arg(question)
                .arg(&participant)
                .arg(&core)
                .arg(read)
                .arg(if up { "1" } else { "0" })
                .arg(MAX_UPVOTES_PER_WINDOW)
                .arg(UPVOTE_WINDOW_MS)
                .arg(gate)
                .invoke_async(&mut self.conn())
                .await
                .map_err(unavailable)?;
            match reply.first().map(String::as_str) {
                Some("ok") => return script_applied(&reply),
                Some("dup") => return parse_done(reply.get(1).map_or("", String::as_str)),
                Some("rate") => {
                    return Err(DomainError::RateLimited("too many upvotes; wait a few seconds".into()).into())
                }
                Some("missing") => return Err(StoreError::NotFound),
                _ => pause(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }
}

impl RedisStore {
    /// The session's ballot salt: it never changes, so it is read once per process.
    async fn salt(&self, id: &str) -> Result<String, StoreError> {
        if let Some(salt) = self.salts.lock().unwrap_or_else(|p| p.into_inner()).get(id) {
            return Ok(salt.clone());
        }
        let salt = self.credentials(id).await?.ok_or(StoreError::NotFound)?.ballot_salt;
        self.salts.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), salt.clone());
        Ok(salt)
    }

    /// The viewer's own ballot in each poll.
    async fn own_ballots(
        &self,
        id: &str,
        session: &Session,
        voter: &str,
    ) -> Result<BTreeMap<String, Ballot>, StoreError> {
        let vk = voter_key(&self.salt(id).await?, voter);
        let polls: Vec<&String> = session.votes.polls.keys().collect();
        let mut pipe = redis::pipe();
        for p in &polls {
            pipe.hget(key(id, &format!("ballots:{p}")), &vk);
        }
        let raw: Vec<Option<String>> = pipe.query_async(&mut self.conn()).await.map_err(unavailable)?;
        Ok(polls.into_iter().zip(raw).filter_map(|(p, b)| Some((p.clone(), Ballot::decode(&b?)?))).collect())
    }

    /// The roster entry a voting code names, within the session's limit on wrong codes.
    async fn resolve_claim(&self, id: &str, actor: &Actor, command: &Command) -> Result<Command, StoreError> {
        let Command::Vote(VoteCommand::Claim { code, .. }) = command else { return Ok(command.clone()) };
        if actor.role != Role::Participant {
            // Refused by the rules; it must not use up the session's budget of wrong codes.
            return Ok(command.clone());
        }
        let failures = key(id, "claimfail");
        let (entry, failed): (Option<String>, Option<u64>) = redis::pipe()
            .hget(key(id, "codes"), code)
            .get(&failures)
            .query_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if failed.unwrap_or(0) >= MAX_CLAIM_FAILURES_PER_MINUTE {
            return Err(DomainError::RateLimited("too many wrong voting codes; wait a minute".into()).into());
        }
        if entry.is_none() {
            // A fixed window from the first wrong code, as the memory store keeps it.
            let n: u64 = self.conn().incr(&failures, 1).await.map_err(unavailable)?;
            if n == 1 {
                let _: () = self.conn().expire(&failures, 60).await.map_err(unavailable)?;
            }
        }
        Ok(Command::Vote(VoteCommand::Claim { code: code.clone(), entry }))
    }

    async fn apply_ballot(
        &self,
        id: &str,
        cmd_key: &str,
        actor: &Actor,
        command: &Command,
    ) -> Result<Applied, StoreError> {
        let Some((poll, choice)) = command.ballot() else {
            return Err(DomainError::Invalid("not a ballot".into()).into());
        };
        let salt = self.salt(id).await?;
        // In open voting, a ballot on a poll this instance saw open is cast in one step: the
        // script checks the poll is still as seen and the session's gate still `open`.
        let remembered =
            self.open_polls.lock().unwrap_or_else(|p| p.into_inner()).get(&(id.into(), poll.into())).cloned();
        if let (Some(open), Some(participant)) = (remembered, &actor.participant) {
            if command.allows(actor.role) {
                let cast = Cast { id, cmd_key, poll, choice: choice.as_str(), gate: "open" };
                let voter = crate::domain::votes::Voter { id: participant.clone(), weight: 1 };
                match self.cast(&cast, &open, &voter_key(&salt, &voter.id), &voter, -1, "", "").await? {
                    Some(applied) => return Ok(applied),
                    None => {
                        self.open_polls.lock().unwrap_or_else(|p| p.into_inner()).remove(&(id.into(), poll.into()));
                    }
                }
            }
        }
        for attempt in 0..MAX_ATTEMPTS {
            let mut loaded = self.load_parts(id, cmd_key, actor, command).await?;
            if let Some(done) = &loaded.done {
                return parse_done(done);
            }
            // In roster mode, the entry this participant is bound to, and who holds it now.
            if let Some((_, Some(entry))) = &loaded.voter {
                let (record, claim): (Option<String>, Option<String>) = redis::pipe()
                    .hget(key(id, "roster"), entry)
                    .hget(key(id, "claims"), entry)
                    .query_async(&mut self.conn())
                    .await
                    .map_err(unavailable)?;
                loaded.entry = Some((entry.clone(), record, claim));
            }
            let session = Self::assemble(&loaded)?;
            let voter = session.voter(actor, command)?;
            let hidden = session.votes.polls.get(poll).is_some_and(|p| p.hidden);
            let roster_weight = match session.roster {
                Some(r) if session.roster_mode() => r.weight as i64,
                _ if session.roster_mode() => 0,
                _ => -1,
            };
            let (entry, claim) = match &loaded.entry {
                Some((e, _, c)) if session.roster_mode() => (e.clone(), c.clone().unwrap_or_default()),
                _ => (String::new(), String::new()),
            };
            let open = OpenPoll { raw: loaded.polls.get(poll).cloned().flatten().unwrap_or_default(), hidden };
            if gate(&session) == "open" && loaded.gate.as_deref() == Some("open") {
                let mut polls = self.open_polls.lock().unwrap_or_else(|p| p.into_inner());
                if polls.len() >= OPEN_POLLS_KEPT {
                    polls.clear();
                }
                polls.insert((id.into(), poll.into()), open.clone());
            }
            let cast = Cast { id, cmd_key, poll, choice: choice.as_str(), gate: "" };
            match self.cast(&cast, &open, &voter_key(&salt, &voter.id), &voter, roster_weight, &entry, &claim).await? {
                Some(applied) => return Ok(applied),
                None => pause(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }

    /// Runs the ballot script; `None` when what it was decided on moved (read again).
    #[allow(clippy::too_many_arguments)]
    async fn cast(
        &self,
        cast: &Cast<'_>,
        open: &OpenPoll,
        voter_key: &str,
        voter: &crate::domain::votes::Voter,
        roster_weight: i64,
        entry: &str,
        claim: &str,
    ) -> Result<Option<Applied>, StoreError> {
        let Cast { id, cmd_key, poll, choice, gate } = *cast;
        let reply: Vec<String> = self
            .cast
            .key(key(id, "seq"))
            .key(cmd_key)
            .key(key(id, "polls"))
            .key(key(id, &format!("ballots:{poll}")))
            .key(key(id, &format!("tally:{poll}")))
            .key(key(id, "participants"))
            .key(key(id, "claims"))
            .key(key(id, "gate"))
            .arg(CMD_ID_TTL_SECS)
            .arg(channel(id))
            .arg(id)
            .arg(poll)
            .arg(&open.raw)
            .arg(voter_key)
            .arg(choice)
            .arg(voter.weight)
            .arg((0..3).map(|_| new_receipt()).collect::<Vec<_>>().join(" "))
            .arg(if open.hidden { "1" } else { "0" })
            .arg(roster_weight)
            .arg(entry)
            .arg(claim)
            .arg(gate)
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        match reply.first().map(String::as_str) {
            Some("ok") => script_applied(&reply).map(Some),
            Some("dup") => parse_done(reply.get(1).map_or("", String::as_str)).map(Some),
            _ => Ok(None),
        }
    }
}

/// Which ballot [`RedisStore::cast`] casts: the session, command, poll, choice and the gate it
/// must find ('' when the caller checked the session itself).
#[derive(Clone, Copy)]
struct Cast<'a> {
    id: &'a str,
    cmd_key: &'a str,
    poll: &'a str,
    choice: &'a str,
    gate: &'a str,
}

/// What a ballot may be cast on without reading the session: `open` while the session takes
/// ballots from anyone in the room (open voting, not ended, record not final); `roster` or
/// `closed` otherwise. Kept in the session's `gate` key beside `core`, written with it.
fn gate(s: &Session) -> &'static str {
    if s.record.finalised.is_some() || s.phase() == crate::domain::Phase::Ended {
        "closed"
    } else if s.roster_mode() {
        "roster"
    } else {
        "open"
    }
}

/// What an upvote may be cast on without reading the session: `open` while questions are open
/// and the session takes them (not ended, record not final), else `closed`. Kept in the
/// session's `qgate` key beside `core`, written with it.
fn qgate(s: &Session) -> &'static str {
    if s.record.finalised.is_some() || s.phase() == crate::domain::Phase::Ended || !s.agenda.qa_open {
        "closed"
    } else {
        "open"
    }
}

/// A poll last read open, as the one-step ballot path checks it: its JSON and whether its
/// tally is hidden.
#[derive(Clone)]
struct OpenPoll {
    raw: String,
    hidden: bool,
}

/// How many questions the one-step upvote path remembers (of every session) before it forgets them.
const APPROVED_KEPT: usize = 8192;

/// How many polls the one-step ballot path remembers (of every session) before it forgets them.
const OPEN_POLLS_KEPT: usize = 1024;

/// The command a vote or ballot script applied: `{'ok', seq, reply}`. Such a command makes no
/// event (its counts go out coalesced).
fn script_applied(reply: &[String]) -> Result<Applied, StoreError> {
    let seq = reply.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let reply = reply.get(2).map(|r| parse::<Reply>(r)).transpose()?;
    Ok(Applied::New { seq, events: vec![], reply })
}

/// A short random pause before reading again, so racing instances do not collide in lockstep.
async fn pause(attempt: usize) {
    let ms = rand::random_range(0..=(attempt as u64).min(20));
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

#[async_trait]
impl Store for RedisStore {
    async fn create(
        &self,
        definition: &SessionDefinition,
        session: &Session,
        credentials: &Credentials,
    ) -> Result<(), StoreError> {
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
        let texts =
            session.texts.iter().map(|(k, t)| Ok((k.clone(), json(t)?))).collect::<Result<Vec<_>, StoreError>>()?;
        let mut pipe = redis::pipe();
        pipe.atomic()
            .set(key(&session.id, "def"), json(definition)?)
            .set(key(&session.id, "core"), json(&Core::of(session))?)
            .set(key(&session.id, "floor"), json(&session.floor)?)
            .set(key(&session.id, "seq"), session.seq)
            .set(key(&session.id, "auth"), json(credentials)?)
            .set(key(&session.id, "gate"), gate(session))
            .set(key(&session.id, "qgate"), qgate(session));
        if !texts.is_empty() {
            pipe.hset_multiple(key(&session.id, "texts"), &texts);
        }
        // The session's keys at once (one slot), then the index (its own slot on a cluster).
        pipe.query_async::<()>(&mut c).await.map_err(unavailable)?;
        c.sadd(SESSIONS, &session.id).await.map_err(unavailable)
    }

    async fn snapshot(&self, id: &str, viewer: Option<&str>) -> Result<Option<Snapshot>, StoreError> {
        let raw: Vec<redis::Value> = self
            .snapshot
            .key(key(id, "seq"))
            .key(key(id, "core"))
            .key(key(id, "def"))
            .key(key(id, "floor"))
            .key(key(id, "questions"))
            .key(key(id, "upvotes"))
            .key(key(id, "polls"))
            .key(key(id, "participants"))
            .key(key(id, "claims"))
            .key(key(id, "bound"))
            .key(key(id, "roster"))
            .key(key(id, "texts"))
            .arg(viewer.unwrap_or(""))
            .arg(key(id, "up:"))
            .arg(key(id, "tally:"))
            .invoke_async(&mut self.conn())
            .await
            .map_err(unavailable)?;
        if raw.is_empty() {
            return Ok(None);
        }
        let mut values = raw.into_iter();
        let mut next = || values.next().ok_or_else(|| StoreError::Corrupt("a short snapshot".into()));
        let read = |v: redis::Value| -> Result<String, StoreError> {
            redis::from_redis_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let pairs = |v: redis::Value| -> Result<Vec<(String, String)>, StoreError> {
            redis::from_redis_value(v).map_err(|e| StoreError::Corrupt(e.to_string()))
        };
        let seq: u64 = read(next()?)?.parse().unwrap_or(0);
        let mut session = parse::<Core>(&read(next()?)?)?.into_session(seq);
        let definition = parse(&read(next()?)?)?;
        let floor = read(next()?)?;
        if !floor.is_empty() {
            session.floor = parse(&floor)?;
        }
        for (qid, q) in pairs(next()?)? {
            session.questions.items.insert(qid, parse(&q)?);
        }
        let upvotes = pairs(next()?)?.into_iter().map(|(q, n)| (q, n.parse().unwrap_or(0))).collect();
        let upvoted: Vec<String> = redis::from_redis_value(next()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let polls = pairs(next()?)?;
        let tallies: Vec<String> = redis::from_redis_value(next()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        for ((pid, poll), tally) in polls.into_iter().zip(tallies) {
            if !tally.is_empty() {
                session.votes.tallies.insert(pid.clone(), parse(&tally)?);
            }
            session.votes.polls.insert(pid, parse(&poll)?);
        }
        let participants: u64 = redis::from_redis_value(next()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let claimed: u64 = redis::from_redis_value(next()?).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let (entry, claim, record) = (read(next()?)?, read(next()?)?, read(next()?)?);
        for (t, raw) in pairs(next()?)? {
            session.texts.insert(t, parse(&raw)?);
        }
        session.votes.eligible = match session.roster {
            Some(r) if session.roster_mode() => r.weight,
            _ if session.roster_mode() => 0,
            _ => participants,
        };
        let mut ballots = BTreeMap::new();
        if let Some(p) = viewer {
            let mut voter = (!session.roster_mode()).then(|| p.to_owned());
            if !entry.is_empty() {
                session.votes.bound.insert(p.to_owned(), entry.clone());
                if !claim.is_empty() {
                    let claim: Claim = parse(&claim)?;
                    if claim.participant == p {
                        voter = Some(entry.clone());
                    }
                    session.votes.claims.insert(entry.clone(), claim);
                }
                if !record.is_empty() {
                    session.votes.roster.insert(entry.clone(), parse(&record)?);
                }
            }
            if let (Some(voter), false) = (voter, session.votes.polls.is_empty()) {
                ballots = self.own_ballots(id, &session, &voter).await?;
            }
        }
        Ok(Some(Snapshot { definition, session, upvotes, upvoted: upvoted.into_iter().collect(), ballots, claimed }))
    }

    async fn seq(&self, id: &str) -> Result<Option<u64>, StoreError> {
        self.conn().get(key(id, "seq")).await.map_err(unavailable)
    }

    async fn upvote_counts(&self, id: &str) -> Result<HashMap<String, u64>, StoreError> {
        self.conn().hgetall(key(id, "upvotes")).await.map_err(unavailable)
    }

    async fn credentials(&self, id: &str) -> Result<Option<Credentials>, StoreError> {
        let raw: Option<String> = self.conn().get(key(id, "auth")).await.map_err(unavailable)?;
        raw.map(|r| parse(&r)).transpose()
    }

    async fn resolve_code(&self, code: &str) -> Result<Option<String>, StoreError> {
        self.conn().get(code_key(code)).await.map_err(unavailable)
    }

    async fn list(&self) -> Result<Vec<SessionSummary>, StoreError> {
        let mut c = self.conn();
        let ids: Vec<String> = c.smembers(SESSIONS).await.map_err(unavailable)?;
        let mut all = Vec::with_capacity(ids.len());
        for id in ids {
            let (core, def, seq): (Option<String>, Option<String>, Option<u64>) = redis::pipe()
                .get(key(&id, "core"))
                .get(key(&id, "def"))
                .get(key(&id, "seq"))
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            if let (Some(core), Some(def)) = (core, def) {
                // One session this version cannot read (written by an older one) does not hide
                // the others.
                match (parse::<Core>(&core), parse(&def)) {
                    (Ok(core), Ok(def)) => all.push(SessionSummary::new(&core.into_session(seq.unwrap_or(0)), &def)),
                    (Err(e), _) | (_, Err(e)) => {
                        tracing::warn!(session = %id, error = %e, "a stored session is unreadable")
                    }
                }
            }
        }
        all.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        Ok(all)
    }

    async fn replace_keys(&self, id: &str, moderator: String, rapporteur: String) -> Result<bool, StoreError> {
        let mut c = self.conn();
        let auth = key(id, "auth");
        // Compare and swap, so two rotations at once cannot mix their keys.
        loop {
            let raw: Option<String> = c.get(&auth).await.map_err(unavailable)?;
            let Some(raw) = raw else {
                return Ok(false);
            };
            let mut credentials: Credentials = parse(&raw)?;
            credentials.moderator = moderator.clone();
            credentials.rapporteur = rapporteur.clone();
            let swapped: bool = self
                .swap_auth
                .key(&auth)
                .arg(&raw)
                .arg(json(&credentials)?)
                .arg(channel(id))
                .arg(json(&Wire::Revoked { s: id.to_owned() })?)
                .invoke_async(&mut c)
                .await
                .map_err(unavailable)?;
            if swapped {
                return Ok(true);
            }
        }
    }

    async fn delete(&self, id: &str) -> Result<bool, StoreError> {
        let mut c = self.conn();
        let core: Option<String> = c.get(key(id, "core")).await.map_err(unavailable)?;
        let Some(core) = core else {
            return Ok(false);
        };
        // Only the code is read, so that a session an older version wrote can still be deleted.
        let code = parse::<serde_json::Value>(&core)?
            .get("code")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let questions: Vec<String> = c.hkeys(key(id, "questions")).await.map_err(unavailable)?;
        let polls: Vec<String> = c.hkeys(key(id, "polls")).await.map_err(unavailable)?;
        let wire = Wire::Deleted { s: id.to_owned() };
        let parts = [
            "def",
            "core",
            "gate",
            "qgate",
            "floor",
            "seq",
            "events",
            "auth",
            "participants",
            "presence",
            "questions",
            "askers",
            "counts",
            "upvotes",
            "polls",
            "roster",
            "codes",
            "claims",
            "bound",
            "claimfail",
        ];
        let keys: Vec<String> = parts
            .iter()
            .map(|p| key(id, p))
            .chain(questions.iter().map(|q| key(id, &format!("up:{q}"))))
            .chain(polls.iter().flat_map(|p| [key(id, &format!("tally:{p}")), key(id, &format!("ballots:{p}"))]))
            .collect();
        // The session's keys in one step (one slot), then the index and the code (each its own).
        let _: () = c.del(keys).await.map_err(unavailable)?;
        let _: () = c.srem(SESSIONS, id).await.map_err(unavailable)?;
        // The code is released only if it still points here.
        let owner: Option<String> = c.get(code_key(&code)).await.map_err(unavailable)?;
        if owner.as_deref() == Some(id) {
            let _: () = c.del(code_key(&code)).await.map_err(unavailable)?;
        }
        self.publish(id, &wire).await?;
        Ok(true)
    }

    async fn apply(
        &self,
        id: &str,
        cmd_id: &str,
        actor: &Actor,
        command: &Command,
        now: i64,
    ) -> Result<Applied, StoreError> {
        let cmd_key = key(id, &format!("cmd:{cmd_id}"));
        if let Some((question, up)) = command.vote() {
            return self.apply_vote(id, &cmd_key, actor, command, question, up).await;
        }
        if command.ballot().is_some() {
            return self.apply_ballot(id, &cmd_key, actor, command).await;
        }
        let resolved = self.resolve_claim(id, actor, command).await?;
        let command = &resolved;
        for attempt in 0..MAX_ATTEMPTS {
            let loaded = self.load_parts(id, &cmd_key, actor, command).await?;
            if let Some(done) = &loaded.done {
                return parse_done(done);
            }
            let before = Self::assemble(&loaded)?;
            let mut after = before.clone();
            let decision = after.handle(actor, command, now)?;
            let slots = Self::slots(id, &loaded, &after)?;
            let counters = Self::counters(command, &before, &after);
            let merge = decision.events.iter().find_map(|e| match e {
                Event::Question(QuestionEvent::Merged { question, into }) => Some((question.clone(), into.clone())),
                _ => None,
            });
            let mut inv = self.apply.prepare_invoke();
            inv.key(key(id, "seq"))
                .key(key(id, "events"))
                .key(&cmd_key)
                .key(key(id, "counts"))
                .key(key(id, "upvotes"))
                .key(key(id, "audit"));
            for slot in &slots {
                inv.key(&slot.key);
            }
            if let Some((from, into)) = &merge {
                inv.key(key(id, &format!("up:{from}"))).key(key(id, &format!("up:{into}")));
            }
            inv.arg(CMD_ID_TTL_SECS)
                .arg(channel(id))
                .arg(id)
                .arg(EVENT_LOG_LEN)
                .arg(decision.reply.as_ref().map(json).transpose()?.unwrap_or_default())
                .arg(slots.len())
                .arg(counters.len())
                .arg(decision.events.len())
                .arg(if merge.is_some() { "1" } else { "" })
                .arg(actor.role.as_str())
                .arg(now);
            for slot in &slots {
                let expected = slot.read.as_ref().map_or_else(|| "-".to_owned(), |r| format!("={r}"));
                let write = match (&slot.write, &slot.read) {
                    (Some(w), _) => format!("={w}"),
                    (None, _) => String::new(),
                };
                inv.arg(&slot.field).arg(expected).arg(write);
            }
            for (field, delta, max) in &counters {
                inv.arg(field).arg(delta).arg(max);
            }
            for e in &decision.events {
                inv.arg(json(e)?);
            }
            if let Some((from, into)) = &merge {
                inv.arg(from).arg(into);
            }
            let reply: Vec<String> = inv.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
            match reply.first().map(String::as_str) {
                Some("ok") => {
                    let first: u64 = reply.get(1).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let last: u64 = reply.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
                    let events = (first..).zip(decision.events).map(|(seq, event)| Sequenced { seq, event }).collect();
                    return Ok(Applied::New { seq: last, events, reply: decision.reply });
                }
                Some("dup") => return parse_done(reply.get(1).map_or("", String::as_str)),
                Some("missing") => return Err(StoreError::NotFound),
                Some("full") => {
                    let msg = "too many open questions; wait until some are answered";
                    return Err(DomainError::Conflict(msg.into()).into());
                }
                _ => pause(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }

    async fn replace_roster(&self, id: &str, entries: &[RosterEntry], now: i64) -> Result<Vec<Sequenced>, StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            let core: Option<String> = self.conn().get(key(id, "core")).await.map_err(unavailable)?;
            let core = core.ok_or(StoreError::NotFound)?;
            let mut session = parse::<Core>(&core)?.into_session(0);
            let event = session.replace_roster(entries)?;
            let mut inv = self.roster.prepare_invoke();
            for part in ["core", "seq", "events", "roster", "codes", "claims", "bound", "audit"] {
                inv.key(key(id, part));
            }
            inv.arg(&core)
                .arg(json(&Core::of(&session))?)
                .arg(channel(id))
                .arg(id)
                .arg(EVENT_LOG_LEN)
                .arg(json(&event)?)
                .arg(now);
            for e in entries {
                inv.arg(&e.id).arg(json(e)?).arg(&e.code);
            }
            let reply: Vec<String> = inv.invoke_async(&mut self.conn()).await.map_err(unavailable)?;
            match (reply.first().map(String::as_str), reply.get(1).and_then(|s| s.parse().ok())) {
                (Some("ok"), Some(seq)) => return Ok(vec![Sequenced { seq, event }]),
                _ => pause(attempt).await,
            }
        }
        Err(StoreError::Contention)
    }

    async fn audit(&self, id: &str) -> Result<Vec<Audited>, StoreError> {
        let mut c = self.conn();
        let mut all = Vec::new();
        let mut from = "-".to_owned();
        // Read in pages, so a long session does not make one huge reply.
        loop {
            let page: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                .arg(key(id, "audit"))
                .arg(&from)
                .arg("+")
                .arg("COUNT")
                .arg(1000)
                .query_async(&mut c)
                .await
                .map_err(unavailable)?;
            let Some((last, _)) = page.last().cloned() else { break };
            for (_, fields) in &page {
                for (_, entry) in fields {
                    all.push(parse::<Audited>(entry)?);
                }
            }
            if page.len() < 1000 {
                break;
            }
            from = format!("({last}");
        }
        Ok(all)
    }

    async fn roster(&self, id: &str) -> Result<Vec<RosterEntry>, StoreError> {
        let raw: HashMap<String, String> = self.conn().hgetall(key(id, "roster")).await.map_err(unavailable)?;
        let mut all = raw.values().map(|r| parse::<RosterEntry>(r)).collect::<Result<Vec<_>, _>>()?;
        // Entry ids are v1, v2, …: the roster's order.
        all.sort_by_key(|e| e.id.trim_start_matches('v').parse::<u64>().unwrap_or(u64::MAX));
        Ok(all)
    }

    async fn ballots(&self, id: &str, poll: &str) -> Result<Vec<Ballot>, StoreError> {
        let raw: Vec<String> = self.conn().hvals(key(id, &format!("ballots:{poll}"))).await.map_err(unavailable)?;
        let mut all: Vec<Ballot> = raw.iter().filter_map(|b| Ballot::decode(b)).collect();
        all.sort_by(|a, b| a.receipt.cmp(&b.receipt));
        Ok(all)
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
            .arg(channel(id))
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

    async fn follow(&self, session: &str) -> Result<(), StoreError> {
        let ch = channel(session);
        let mut follows = self.follows.lock().await;
        let (listener, counts) = &mut *follows;
        if let Some(n) = counts.get_mut(&ch) {
            *n += 1;
            return Ok(());
        }
        match tokio::time::timeout(FOLLOW_TIMEOUT, listener.subscribe(&ch)).await {
            Ok(Ok(())) => {
                counts.insert(ch, 1);
                Ok(())
            }
            Ok(Err(e)) => Err(unavailable(e)),
            Err(_) => Err(StoreError::Unavailable(format!("no answer to the subscription of {ch}"))),
        }
    }

    fn unfollow(&self, session: &str) {
        let ch = channel(session);
        let follows = self.follows.clone();
        // A hub dropped as the runtime stops has nothing left to unsubscribe from.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        runtime.spawn(async move {
            let mut follows = follows.lock().await;
            let (listener, counts) = &mut *follows;
            match counts.get_mut(&ch) {
                Some(n) if *n > 1 => *n -= 1,
                Some(_) => {
                    counts.remove(&ch);
                    if let Err(e) = listener.unsubscribe(&ch).await {
                        tracing::debug!(error = %e, channel = %ch, "unsubscribe failed");
                    }
                }
                None => {}
            }
        });
    }

    fn name(&self) -> &'static str {
        "redis"
    }
}
