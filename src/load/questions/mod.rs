//! The questions phase: questions asked and approved, then a storm of upvotes, and the check
//! that every client ends up showing the counts the acknowledged votes make.
//!
//! Its steps, in order: [`run`] connects every participant (each with a watcher task, [`super::watch`],
//! that keeps its view of the counts) and the moderator; [`open_debate`]; [`ask_and_approve`];
//! [`converge`] until every client knows the questions; [`storm`]; [`converge`] on the
//! expected counts; [`fresh_states`] (a new moderator `hello` on every server); then
//! [`Outcome::report`] prints the figures and says whether the run passed.

mod report;

use super::socket::{connect_moderator, connect_participants, reply_reader, Call, Caller, Endpoint, Join, Pacer};
use super::stats::cpu_seconds;
use super::votes::{expected_counts, plan, Ballot, Shape, View, VoteOp};
use super::watch::Room;
use super::{LoadArgs, Setup};
use anyhow::{bail, Context};
use futures_util::{future::join_all, StreamExt};
use report::Outcome;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};

/// One command must be answered within this long.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How long the next command may wait for its answer: [`CALL_TIMEOUT`], less near the deadline.
fn call_limit(deadline: Instant) -> Duration {
    CALL_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()))
}
/// Every client must show what is expected (the questions, then the final counts) within this long.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(15);

/// Publishes `counts` as the goal and waits until every live client shows them, at most
/// [`CONVERGE_TIMEOUT`] (and the deadline). Returns whether they all did.
async fn converge(room: &Room<View>, counts: HashMap<String, u64>, deadline: Instant) -> bool {
    room.converge(counts, CONVERGE_TIMEOUT, deadline).await
}

/// The moderator's socket: a caller, its reader stopping with `stop`.
struct Moderator {
    caller: Caller,
    stop: watch::Sender<bool>,
}

async fn moderator(endpoint: &Endpoint, hello: &str) -> anyhow::Result<Moderator> {
    let (ws, _) = connect_moderator(endpoint, hello).await?;
    let (sink, stream) = ws.split();
    let (stop, stop_rx) = watch::channel(false);
    let (reply_tx, replies) = mpsc::unbounded_channel();
    tokio::spawn(reply_reader(stream, reply_tx, None, stop_rx));
    Ok(Moderator { caller: Caller { sink, replies, pacer: Pacer::new(1.0) }, stop })
}

/// The first agenda item of kind `debate` in a session definition.
fn debate_item(definition: &[u8]) -> Option<usize> {
    let def: Value = serde_json::from_slice(definition).ok()?;
    def.get("agenda")?.as_array()?.iter().position(|item| item.get("kind").and_then(Value::as_str) == Some("debate"))
}

/// Moves the agenda to the first debate item (which starts the session and opens Q&A), and
/// opens Q&A if that did not (a session without a debate item, or with Q&A closed by hand).
async fn open_debate(moderator: &mut Caller, definition: &[u8], deadline: Instant) -> anyhow::Result<()> {
    let item = debate_item(definition).unwrap_or(0);
    let goto = moderator.call("agenda.goto", json!({"item": item}), call_limit(deadline)).await;
    goto.outcome.map_err(anyhow::Error::msg).with_context(|| format!("agenda.goto {item}"))?;
    let open = moderator.call("qa.open", json!({}), call_limit(deadline)).await;
    match open.outcome {
        Ok(_) => Ok(()),
        // Already open: entering the debate did it.
        Err(e) if e.starts_with("conflict") => Ok(()),
        Err(e) => bail!("qa.open: {e}"),
    }
}

/// The questions, asked and approved.
#[derive(Default)]
struct Asked {
    /// Approved questions' ids, in the order they were asked.
    ids: Vec<String>,
    /// Asks and approvals refused (`op: code: message`).
    refused: Vec<String>,
    /// Whether the questions came in pending (the moderator approved them).
    moderated: bool,
    seconds: f64,
}

/// Each asker asks one question; the moderator approves each one that comes in pending.
async fn ask_and_approve(askers: &mut [Caller], moderator: &mut Caller, deadline: Instant) -> Asked {
    let t0 = Instant::now();
    let asks = askers.iter_mut().enumerate().map(|(k, c)| {
        let text = format!("Load question {k}: how will the summit follow up on proposal number {k}?");
        c.call("question.ask", json!({"text": text, "name": format!("Participant {k}")}), call_limit(deadline))
    });
    let mut out = Asked::default();
    for call in join_all(asks).await {
        let question = match call.outcome {
            Ok(result) => result.get("question").cloned().unwrap_or_default(),
            Err(e) => {
                out.refused.push(format!("question.ask: {e}"));
                continue;
            }
        };
        let Some(id) = question.get("id").and_then(Value::as_str).map(str::to_owned) else {
            out.refused.push("question.ask: an ack without result.question.id".into());
            continue;
        };
        if question.get("status").and_then(Value::as_str) == Some("pending") {
            out.moderated = true;
            let approve = moderator.call("question.approve", json!({"question": id}), call_limit(deadline)).await;
            if let Err(e) = approve.outcome {
                out.refused.push(format!("question.approve: {e}"));
                continue;
            }
        }
        out.ids.push(id);
    }
    out.seconds = t0.elapsed().as_secs_f64();
    out
}

/// One storm command's fate.
struct Voted {
    latency_us: u64,
    at: Instant,
    outcome: Result<(), String>,
}

/// One participant's storm: its caller back, what the server acknowledged, every command's fate.
struct Driven {
    caller: Caller,
    ballot: Ballot,
    votes: Vec<Voted>,
    /// Commands not sent: the deadline came first.
    unsent: usize,
    /// Acks whose `upvoted` said otherwise than the bookkeeping.
    disagreed: usize,
}

/// Sends one participant's votes, each once the previous one is answered.
async fn drive(
    caller: Caller,
    ops: Vec<VoteOp>,
    ids: Arc<Vec<String>>,
    mut start: watch::Receiver<bool>,
    deadline: Instant,
) -> Driven {
    let _ = start.wait_for(|s| *s).await;
    let mut out = Driven { caller, ballot: Ballot::default(), votes: Vec::new(), unsent: 0, disagreed: 0 };
    for op in ops {
        let now = Instant::now();
        if now >= deadline {
            out.unsent += 1;
            continue;
        }
        let limit = call_limit(deadline);
        let call: Call = out.caller.call(op.vote.op(), json!({"question": ids[op.question]}), limit).await;
        let latency_us = call.latency_us();
        let outcome = call.outcome.map(|result| {
            let upvoted = out.ballot.apply(op);
            out.disagreed += usize::from(result.get("upvoted").and_then(Value::as_bool) != Some(upvoted));
        });
        out.votes.push(Voted { latency_us, at: call.at, outcome });
    }
    out
}

/// The storm's outcome.
struct Storm {
    driven: Vec<Driven>,
    started: Instant,
    /// The last ack's arrival (`started` when none came).
    last_ack: Instant,
    server_cpu: Option<f64>,
    own_cpu: Option<f64>,
}

impl Storm {
    fn seconds(&self) -> f64 {
        self.last_ack.saturating_duration_since(self.started).as_secs_f64()
    }
}

/// Every participant sends its plan at once: the storm.
async fn storm(callers: Vec<Caller>, ids: &[String], shape: Shape, setup: &Setup) -> anyhow::Result<Storm> {
    let ids = Arc::new(ids.to_vec());
    let (start_tx, start) = watch::channel(false);
    let tasks: Vec<_> = (callers.into_iter().enumerate())
        .map(|(p, caller)| tokio::spawn(drive(caller, plan(p, shape), ids.clone(), start.clone(), setup.deadline)))
        .collect();
    let (cpu0, own0) = (setup.servers.cpu_seconds(), cpu_seconds("self"));
    let started = Instant::now();
    let _ = start_tx.send(true);
    let mut driven = Vec::with_capacity(tasks.len());
    for d in join_all(tasks).await {
        driven.push(d.context("a storm task panicked")?);
    }
    let last_ack =
        (driven.iter().flat_map(|d| &d.votes)).filter(|v| v.outcome.is_ok()).map(|v| v.at).max().unwrap_or(started);
    let server_cpu = setup.servers.cpu_seconds().zip(cpu0).map(|(c1, c0)| c1 - c0);
    let own_cpu = cpu_seconds("self").zip(own0).map(|(c1, c0)| c1 - c0);
    Ok(Storm { driven, started, last_ack, server_cpu, own_cpu })
}

/// The counts a fresh moderator `welcome` shows on each server, or why none came.
async fn fresh_states(endpoints: &[Endpoint], hello: &str) -> Vec<report::Fresh> {
    let mut out = Vec::with_capacity(endpoints.len());
    for endpoint in endpoints {
        let state = match connect_moderator(endpoint, hello).await {
            Ok((_, welcome)) => welcome
                .state
                .map(|s| s.questions.into_iter().map(|q| (q.id, q.upvotes.unwrap_or(0))).collect())
                .ok_or_else(|| "a welcome without state".to_owned()),
            Err(e) => Err(format!("{e:#}")),
        };
        out.push((endpoint.ws_url.clone(), state));
    }
    out
}

pub async fn run(args: &LoadArgs, setup: Setup) -> anyhow::Result<()> {
    let shape = Shape::from_args(args.questions, args.upvotes, args.unvotes)?;
    print_header(&setup, shape);
    let join =
        Arc::new(Join { endpoints: setup.endpoints.clone(), hello: setup.participant_hello(), sources: setup.sources });
    let joined = connect_participants(join, setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    if connect.connected < shape.questions {
        bail!(
            "{} participants connected ({} failed): fewer than --questions {}",
            connect.connected,
            connect.failed,
            shape.questions
        );
    }
    let mut moderator = moderator(&setup.endpoints[0], &setup.moderator_hello()).await?;
    let mut room = Room::new(joined.sockets, |w| {
        View::from_questions(w.state.as_ref().map_or(&[][..], |s| s.questions.as_slice()))
    });
    open_debate(&mut moderator.caller, &setup.definition, setup.deadline).await?;
    let asked = ask_and_approve(&mut room.callers[..shape.questions], &mut moderator.caller, setup.deadline).await;
    if asked.ids.len() < shape.upvotes {
        bail!(
            "only {} questions were approved, fewer than --upvotes {}: {}",
            asked.ids.len(),
            shape.upvotes,
            asked.refused.first().map_or("no refusal", String::as_str)
        );
    }
    let shape = Shape { questions: asked.ids.len(), ..shape };
    let t0 = Instant::now();
    let known = converge(&room, asked.ids.iter().map(|id| (id.clone(), 0)).collect(), setup.deadline).await;
    let known_s = t0.elapsed().as_secs_f64();

    let storm = storm(std::mem::take(&mut room.callers), &asked.ids, shape, &setup).await?;
    let expected = expected_counts(storm.driven.iter().map(|d| &d.ballot), &asked.ids);
    let converged = converge(&room, expected.clone(), setup.deadline).await;
    let watched = room.stop().await?;
    let fresh = fresh_states(&setup.endpoints, &setup.moderator_hello()).await;
    let _ = moderator.stop.send(true);
    let outcome =
        Outcome { connect, asked, known: known.then_some(known_s), storm, expected, converged, watched, fresh };
    outcome.report(&setup, shape);
    if !outcome.ok() {
        bail!("the questions phase found differences (see above)");
    }
    Ok(())
}

fn print_header(setup: &Setup, shape: Shape) {
    println!(
        "palabre load: {} participants on {} (session {}, code {}), from {} source address{}, \
         {} questions, then {} upvotes and {} unvotes per participant; deadline {:.0} s",
        setup.n,
        setup.ws_urls(),
        setup.session.id,
        setup.session.code,
        setup.sources,
        if setup.sources == 1 { "" } else { "es" },
        shape.questions,
        shape.upvotes,
        shape.unvotes,
        setup.budget.as_secs_f64()
    );
}
