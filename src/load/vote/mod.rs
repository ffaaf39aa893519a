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

pub(super) use report::{close_problem, receipt_problems};

use super::ballots::{expected_receipts, expected_tally, plan, Choice, PollView, Receipts, Shape, Tally, Voter, Want};
use super::moderator::Moderator;
use super::socket::{connect_participants, Call, Caller, Keep};
use super::stats::Servers;
use super::storm::{Fate, Span};
use super::target::{get, Target};
use super::watch::Room;
use super::{call_limit, LoadArgs, Setup, CONVERGE_TIMEOUT};
use anyhow::{bail, Context};
use futures_util::future::join_all;
use report::Outcome;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Semaphore};

/// Opens a simple-majority poll on `draft`; returns its id and the command.
pub(super) async fn open_poll(
    moderator: &mut Caller,
    draft: &str,
    deadline: Instant,
) -> anyhow::Result<(String, Call)> {
    let call = moderator.call("poll.open", json!({"draft": draft, "method": "simple"}), call_limit(deadline)).await;
    let result = call.outcome.as_ref().map_err(|e| anyhow::anyhow!("poll.open on draft {draft}: {e}"))?;
    let poll = result.get("poll").and_then(Value::as_str).context("poll.open: an ack without result.poll")?;
    Ok((poll.to_owned(), call))
}

/// One participant's voting: what the server acknowledged, every ballot's fate.
pub(super) struct Driven {
    pub(super) voter: Voter,
    pub(super) casts: Vec<Fate>,
    /// Ballots not sent: the deadline came first.
    pub(super) unsent: usize,
    /// Acks whose poll or choice was not the ballot's, or without a receipt.
    pub(super) bad_acks: usize,
}

/// Casts one participant's ballots, each once the previous one is answered; returns its caller.
async fn drive(
    mut caller: Caller,
    ballots: Vec<Choice>,
    poll: Arc<str>,
    mut start: watch::Receiver<bool>,
    gate: Option<Arc<Semaphore>>,
    deadline: Instant,
) -> (Caller, Driven) {
    let _ = start.wait_for(|s| *s).await;
    // With `--in-flight`, a participant waits for its turn: the room does not all press at once.
    let _turn = match gate {
        Some(gate) => gate.acquire_owned().await.ok(),
        None => None,
    };
    let mut out = Driven { voter: Voter::default(), casts: Vec::new(), unsent: 0, bad_acks: 0 };
    for choice in ballots {
        if Instant::now() >= deadline {
            out.unsent += 1;
            continue;
        }
        let fields = json!({"poll": &*poll, "choice": choice.as_str()});
        let call = caller.call("vote.cast", fields, call_limit(deadline)).await;
        let fate = Fate::of(call, |result| {
            let field = |k: &str| result.get(k).and_then(Value::as_str);
            match field("receipt") {
                Some(receipt) if field("poll") == Some(&*poll) && field("choice") == Some(choice.as_str()) => {
                    // A receipt other than the voter's first is counted by the voter itself.
                    out.voter.acked(choice, receipt);
                }
                _ => out.bad_acks += 1,
            }
        });
        out.casts.push(fate);
    }
    (caller, out)
}

/// The voting's outcome.
pub(super) struct Voting {
    pub(super) driven: Vec<Driven>,
    pub(super) span: Span,
}

impl Voting {
    pub(super) fn fates(&self) -> impl Iterator<Item = &Fate> + Clone {
        self.driven.iter().flat_map(|d| &d.casts)
    }

    pub(super) fn unsent(&self) -> usize {
        self.driven.iter().map(|d| d.unsent).sum()
    }

    /// The tally the acknowledged ballots make, and their receipts with the final choices.
    pub(super) fn expected(&self) -> (Tally, Vec<(String, Choice)>) {
        let voters = || self.driven.iter().map(|d| &d.voter);
        (expected_tally(voters()), expected_receipts(voters()))
    }
}

/// Every participant casts its ballots at once. Returns the callers, in their order.
pub(super) async fn vote(
    callers: Vec<Caller>,
    poll: &str,
    shape: Shape,
    setup: &Setup,
) -> anyhow::Result<(Vec<Caller>, Voting)> {
    let poll: Arc<str> = poll.into();
    let (start_tx, start) = watch::channel(false);
    let gate = setup.gate();
    let tasks: Vec<_> = (callers.into_iter().enumerate())
        .map(|(p, caller)| {
            tokio::spawn(drive(caller, plan(p, shape), poll.clone(), start.clone(), gate.clone(), setup.deadline))
        })
        .collect();
    let usage = setup.usage();
    let started = Instant::now();
    let _ = start_tx.send(true);
    let (mut callers, mut driven) = (Vec::with_capacity(tasks.len()), Vec::with_capacity(tasks.len()));
    for d in join_all(tasks).await {
        let (caller, d) = d.context("a voting task panicked")?;
        callers.push(caller);
        driven.push(d);
    }
    let span = Span::of(started, driven.iter().flat_map(|d| &d.casts), setup.usage().since(&usage));
    Ok((callers, Voting { driven, span }))
}

/// The poll's close, as the moderator saw it.
pub(super) struct Closed {
    /// The figures of the `poll.closed` event.
    pub(super) tally: Option<Tally>,
    pub(super) outcome: String,
    pub(super) rule: String,
    /// From `poll.close` sent to `poll.closed` received.
    pub(super) seconds: f64,
    /// When `poll.close` was sent, and the `seq` it was acknowledged with.
    pub(super) sent: Instant,
    pub(super) seq: Option<u64>,
}

/// Closes the poll and waits for its `poll.closed` event on the moderator's socket (connected
/// with its events heard).
pub(super) async fn close_poll(moderator: &mut Moderator, poll: &str, deadline: Instant) -> Result<Closed, String> {
    let t0 = Instant::now();
    let call = moderator.caller.call("poll.close", json!({"poll": poll}), call_limit(deadline)).await;
    let (sent, seq) = (call.sent, call.seq());
    call.outcome.map_err(|e| format!("poll.close: {e}"))?;
    let heard = async {
        while let Some((event, at)) = moderator.events.recv().await {
            let field = |k: &str| event.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
            if field("kind") == "poll.closed" && field("poll") == poll {
                let counts = serde_json::from_value(event["counts"].clone()).ok();
                let tally = Tally::of(counts.as_ref(), event.get("cast").and_then(Value::as_u64));
                let seconds = at.saturating_duration_since(t0).as_secs_f64();
                return Some(Closed { tally, outcome: field("outcome"), rule: field("rule"), seconds, sent, seq });
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
pub(super) type Published = (String, Result<Receipts, String>);

/// `GET /j/{code}/polls/{poll}/receipts.json` from every server.
pub(super) async fn fetch_receipts(targets: &[Target], code: &str, poll: &str) -> Vec<Published> {
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
    setup.print_header(&format!(
        "a poll on {}, one ballot each, {} % cast {} more",
        args.draft, shape.change_percent, shape.recasts
    ));
    let joined = connect_participants(setup.join(Keep::NoQuestions), setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    if connect.connected == 0 {
        bail!("no participant could connect ({} failed)", connect.failed);
    }
    let mut moderator = Moderator::connect(&setup.endpoints[0], &setup.moderator_hello(), true).await?;
    let mut room = Room::new(joined.sockets, |_| PollView::default());
    let (poll, _) = open_poll(&mut moderator.caller, &args.draft, setup.deadline).await?;
    let t0 = Instant::now();
    let known = room.converge(Want::Tally(Tally::default()), CONVERGE_TIMEOUT, setup.deadline).await;
    let known = known.then(|| t0.elapsed().as_secs_f64());

    let (_callers, voting) = vote(std::mem::take(&mut room.callers), &poll, shape, &setup).await?;
    let (expected, receipts) = voting.expected();
    let converged = room.converge(Want::Tally(expected), CONVERGE_TIMEOUT, setup.deadline).await;
    let closed = close_poll(&mut moderator, &poll, setup.deadline).await;
    let closed_seen = closed.is_ok() && room.converge(Want::Closed(expected), CONVERGE_TIMEOUT, setup.deadline).await;
    let watched = room.stop().await?;
    let published = fetch_receipts(&setup.targets, &setup.session.code, &poll).await;
    moderator.stop().await;
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

/// The store's process (`--store-pid`), or none.
pub fn store_servers(pid: Option<u32>) -> anyhow::Result<Servers> {
    Servers::check(pid.as_slice()).context("--store-pid")
}
