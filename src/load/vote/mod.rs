//! The vote phase: the moderator opens a poll on a draft, every participant casts a ballot
//! (some change their mind and cast again), the moderator closes the poll, and the run checks
//! that the result and the published receipts are exactly what the acknowledged ballots make.
//!
//! Its steps, in order: [`run`] connects every participant (each with a watcher task, [`watch`],
//! that keeps its view of the tally) and the moderator; [`open_poll`]; every client is seen to
//! know the poll; [`vote`] (each participant casts its [`plan`], one ballot at a time);
//! every client's tally is awaited; [`close_poll`] and its `poll.closed` event, which every client
//! must also receive; [`fetch_receipts`] from every server; then [`Outcome::report`] prints the
//! figures and says whether the run passed.
//!
//! [`watch`]: super::watch
//! [`plan`]: super::ballots::plan

mod report;

use super::ballots::{expected_receipts, expected_tally, plan, Choice, PollView, Receipts, Shape, Tally, Voter, Want};
use super::socket::{connect_moderator, connect_participants, reply_reader, Caller, Endpoint, Heard, Join, Pacer};
use super::stats::{cpu_seconds, Servers};
use super::target::{get, Target};
use super::watch::Room;
use super::{LoadArgs, Setup};
use anyhow::{bail, Context};
use futures_util::{future::join_all, StreamExt};
use report::Outcome;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// One command must be answered within this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Every client must show what is expected (the poll, its final tally, its close) within this long.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the next command may wait for its answer: [`CALL_TIMEOUT`], less near the deadline.
fn call_limit(deadline: Instant) -> Duration {
    CALL_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
}

/// The moderator's socket: a caller, the events it hears, its reader stopping with `stop`.
struct Moderator {
    caller: Caller,
    events: mpsc::UnboundedReceiver<Heard>,
    stop: watch::Sender<bool>,
}

async fn moderator(endpoint: &Endpoint, hello: &str) -> anyhow::Result<Moderator> {
    let (ws, _) = connect_moderator(endpoint, hello).await?;
    let (sink, stream) = ws.split();
    let (stop, stop_rx) = watch::channel(false);
    let (reply_tx, replies) = mpsc::unbounded_channel();
    let (event_tx, events) = mpsc::unbounded_channel();
    tokio::spawn(reply_reader(stream, reply_tx, Some(event_tx), stop_rx));
    Ok(Moderator { caller: Caller { sink, replies, pacer: Pacer::new(1.0) }, events, stop })
}

/// Opens a simple-majority poll on `draft`; returns its id.
async fn open_poll(moderator: &mut Caller, draft: &str, deadline: Instant) -> anyhow::Result<String> {
    let call = moderator.call("poll.open", json!({"draft": draft, "method": "simple"}), call_limit(deadline)).await;
    let result = call.outcome.map_err(anyhow::Error::msg).with_context(|| format!("poll.open on draft {draft}"))?;
    let poll = result.get("poll").and_then(Value::as_str).context("poll.open: an ack without result.poll")?;
    Ok(poll.to_owned())
}

/// One ballot's fate.
struct Cast {
    latency_us: u64,
    at: Instant,
    outcome: Result<(), String>,
}

/// One participant's voting: its caller back, what the server acknowledged, every ballot's fate.
struct Driven {
    caller: Caller,
    voter: Voter,
    casts: Vec<Cast>,
    /// Ballots not sent: the deadline came first.
    unsent: usize,
    /// Acks whose poll or choice was not the ballot's, or without a receipt.
    bad_acks: usize,
}

/// Casts one participant's ballots, each once the previous one is answered.
async fn drive(
    caller: Caller,
    ballots: Vec<Choice>,
    poll: Arc<str>,
    mut start: watch::Receiver<bool>,
    deadline: Instant,
) -> Driven {
    let _ = start.wait_for(|s| *s).await;
    let mut out = Driven { caller, voter: Voter::default(), casts: Vec::new(), unsent: 0, bad_acks: 0 };
    for choice in ballots {
        if Instant::now() >= deadline {
            out.unsent += 1;
            continue;
        }
        let fields = json!({"poll": &*poll, "choice": choice.as_str()});
        let call = out.caller.call("vote.cast", fields, call_limit(deadline)).await;
        let latency_us = call.latency_us();
        let outcome = call.outcome.map(|result| {
            let field = |k: &str| result.get(k).and_then(Value::as_str);
            match field("receipt") {
                Some(receipt) if field("poll") == Some(&*poll) && field("choice") == Some(choice.as_str()) => {
                    // A receipt other than the voter's first is counted by the voter itself.
                    out.voter.acked(choice, receipt);
                }
                _ => out.bad_acks += 1,
            }
        });
        out.casts.push(Cast { latency_us, at: call.at, outcome });
    }
    out
}

/// The voting's outcome.
struct Voting {
    driven: Vec<Driven>,
    started: Instant,
    /// The last ack's arrival (`started` when none came).
    last_ack: Instant,
    server_cpu: Option<f64>,
    store_cpu: Option<f64>,
    own_cpu: Option<f64>,
}

impl Voting {
    fn seconds(&self) -> f64 {
        self.last_ack.saturating_duration_since(self.started).as_secs_f64()
    }
}

/// Every participant casts its ballots at once.
async fn vote(callers: Vec<Caller>, poll: &str, shape: Shape, setup: &Setup) -> anyhow::Result<Voting> {
    let poll: Arc<str> = poll.into();
    let (start_tx, start) = watch::channel(false);
    let tasks: Vec<_> = (callers.into_iter().enumerate())
        .map(|(p, caller)| tokio::spawn(drive(caller, plan(p, shape), poll.clone(), start.clone(), setup.deadline)))
        .collect();
    let cpu0 = (setup.servers.cpu_seconds(), setup.store.cpu_seconds(), cpu_seconds("self"));
    let started = Instant::now();
    let _ = start_tx.send(true);
    let mut driven = Vec::with_capacity(tasks.len());
    for d in join_all(tasks).await {
        driven.push(d.context("a voting task panicked")?);
    }
    let last_ack =
        (driven.iter().flat_map(|d| &d.casts)).filter(|c| c.outcome.is_ok()).map(|c| c.at).max().unwrap_or(started);
    let spent = |now: Option<f64>, before: Option<f64>| now.zip(before).map(|(c1, c0)| c1 - c0);
    Ok(Voting {
        driven,
        started,
        last_ack,
        server_cpu: spent(setup.servers.cpu_seconds(), cpu0.0),
        store_cpu: spent(setup.store.cpu_seconds(), cpu0.1),
        own_cpu: spent(cpu_seconds("self"), cpu0.2),
    })
}

/// The poll's close, as the moderator saw it.
struct Closed {
    /// The figures of the `poll.closed` event.
    tally: Option<Tally>,
    outcome: String,
    rule: String,
    /// From `poll.close` sent to `poll.closed` received.
    seconds: f64,
}

/// Closes the poll and waits for its `poll.closed` event on the moderator's socket.
async fn close_poll(moderator: &mut Moderator, poll: &str, deadline: Instant) -> Result<Closed, String> {
    let t0 = Instant::now();
    let call = moderator.caller.call("poll.close", json!({"poll": poll}), call_limit(deadline)).await;
    call.outcome.map_err(|e| format!("poll.close: {e}"))?;
    let heard = async {
        while let Some((event, at)) = moderator.events.recv().await {
            let field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            if field("kind") == "poll.closed" && field("poll") == poll {
                let counts = serde_json::from_value(event["counts"].clone()).ok();
                let tally = Tally::of(counts.as_ref(), event.get("cast").and_then(Value::as_u64));
                let seconds = at.saturating_duration_since(t0).as_secs_f64();
                return Some(Closed { tally, outcome: field("outcome"), rule: field("rule"), seconds });
            }
        }
        None
    };
    match tokio::time::timeout(call_limit(deadline), heard).await {
        Ok(Some(closed)) => Ok(closed),
        Ok(None) => Err("the moderator socket closed before poll.closed".into()),
        Err(_) => Err("poll.closed did not come".into()),
    }
}

/// A server's URL and the receipts it published (or why none could be read).
type Published = (String, Result<Receipts, String>);

/// `GET /j/{code}/polls/{poll}/receipts.json` from every server.
async fn fetch_receipts(targets: &[Target], code: &str, poll: &str) -> Vec<Published> {
    let mut out = Vec::with_capacity(targets.len());
    for t in targets {
        let path = format!("{}/j/{code}/polls/{poll}/receipts.json", t.base_path);
        let doc = match get(t, &path).await {
            Ok((200, body)) => serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}")),
            Ok((status, body)) => Err(format!(
                "GET {path}: {status} {}",
                String::from_utf8_lossy(&body).chars().take(200).collect::<String>()
            )),
            Err(e) => Err(format!("{e:#}")),
        };
        out.push((format!("http://{}{}", t.authority, t.base_path), doc));
    }
    out
}

pub async fn run(args: &LoadArgs, setup: Setup) -> anyhow::Result<()> {
    let shape = Shape::from_args(args.change_percent, args.recasts)?;
    print_header(&setup, shape, &args.draft);
    let join =
        Arc::new(Join { endpoints: setup.endpoints.clone(), hello: setup.participant_hello(), sources: setup.sources });
    let joined = connect_participants(join, setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    if connect.connected == 0 {
        bail!("no participant could connect ({} failed)", connect.failed);
    }
    let mut moderator = moderator(&setup.endpoints[0], &setup.moderator_hello()).await?;
    let mut room = Room::new(joined.sockets, |_| PollView::default());
    let poll = open_poll(&mut moderator.caller, &args.draft, setup.deadline).await?;
    let t0 = Instant::now();
    let known = room.converge(Want::Tally(Tally::default()), CONVERGE_TIMEOUT, setup.deadline).await;
    let known = known.then(|| t0.elapsed().as_secs_f64());

    let voting = vote(std::mem::take(&mut room.callers), &poll, shape, &setup).await?;
    let voters = || voting.driven.iter().map(|d| &d.voter);
    let (expected, receipts) = (expected_tally(voters()), expected_receipts(voters()));
    let converged = room.converge(Want::Tally(expected), CONVERGE_TIMEOUT, setup.deadline).await;
    let closed = close_poll(&mut moderator, &poll, setup.deadline).await;
    let closed_seen = closed.is_ok() && room.converge(Want::Closed(expected), CONVERGE_TIMEOUT, setup.deadline).await;
    let watched = room.stop().await?;
    let published = fetch_receipts(&setup.targets, &setup.session.code, &poll).await;
    let _ = moderator.stop.send(true);
    let outcome = Outcome {
        connect,
        poll,
        known,
        voting,
        expected,
        receipts,
        converged,
        closed,
        closed_seen,
        watched,
        published,
    };
    outcome.report(&setup, shape);
    if !outcome.ok() {
        bail!("the vote phase found differences (see above)");
    }
    Ok(())
}

fn print_header(setup: &Setup, shape: Shape, draft: &str) {
    println!(
        "palabre load: {} participants on {} (session {}, code {}), from {} source address{}; a poll on {draft}, \
         one ballot each, {} % cast {} more; deadline {:.0} s",
        setup.n,
        setup.ws_urls(),
        setup.session.id,
        setup.session.code,
        setup.sources,
        if setup.sources == 1 { "" } else { "es" },
        shape.change_percent,
        shape.recasts,
        setup.budget.as_secs_f64()
    );
}

/// The store's process (`--store-pid`), or none.
pub fn store_servers(pid: Option<u32>) -> anyhow::Result<Servers> {
    Servers::check(pid.as_slice()).context("--store-pid")
}
