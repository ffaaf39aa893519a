//! The questions phase: questions asked and approved, then a storm of upvotes, and the check
//! that every client ends up showing the counts the acknowledged votes make.
//!
//! Its steps, in order: [`run`] connects every participant (each with a watcher task, [`super::watch`],
//! that keeps its view of the counts) and the moderator; [`open_debate`]; [`ask_and_approve`];
//! [`converge`] until every client knows the questions; [`storm`]; [`converge`] on the
//! expected counts; [`fresh_states`] (a new moderator `hello` on every server); then
//! [`Outcome::report`] prints the figures and says whether the run passed.

mod report;

use super::moderator::Moderator;
use super::socket::{connect_moderator, connect_participants, Call, Caller, Endpoint, Keep};
use super::storm::{Fate, Span};
use super::votes::{expected_counts, plan, Ballot, Shape, View, VoteOp};
use super::watch::Room;
use super::{call_limit, LoadArgs, Setup, CONVERGE_TIMEOUT};
use anyhow::{bail, Context};
use futures_util::future::join_all;
use report::Outcome;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{watch, Semaphore};

/// Publishes `counts` as the goal and waits until every live client shows them, at most
/// [`CONVERGE_TIMEOUT`] (and the deadline). Returns whether they all did.
async fn converge(room: &Room<View>, counts: HashMap<String, u64>, deadline: Instant) -> bool {
    room.converge(counts, CONVERGE_TIMEOUT, deadline).await
}

/// The first agenda item of kind `kind` in a session definition.
pub(super) fn item_of_kind(definition: &[u8], kind: &str) -> Option<usize> {
    let def: Value = serde_json::from_slice(definition).ok()?;
    def.get("agenda")?.as_array()?.iter().position(|item| item.get("kind").and_then(Value::as_str) == Some(kind))
}

/// Moves the agenda to the first debate item (which starts the session and opens Q&A), and
/// opens Q&A if that did not (a session without a debate item, or with Q&A closed by hand).
/// Returns the item now current and the moderator's commands.
pub(super) async fn open_debate(
    moderator: &mut Caller,
    definition: &[u8],
    deadline: Instant,
) -> anyhow::Result<(usize, Vec<Call>)> {
    let item = item_of_kind(definition, "debate").unwrap_or(0);
    let goto = moderator.call("agenda.goto", json!({"item": item}), call_limit(deadline)).await;
    match &goto.outcome {
        Ok(_) => {}
        // Already there.
        Err(e) if e.starts_with("conflict") => {}
        Err(e) => bail!("agenda.goto {item}: {e}"),
    }
    let open = moderator.call("qa.open", json!({}), call_limit(deadline)).await;
    match &open.outcome {
        Ok(_) => Ok((item, vec![goto, open])),
        // Already open: entering the debate did it.
        Err(e) if e.starts_with("conflict") => Ok((item, vec![goto])),
        Err(e) => bail!("qa.open: {e}"),
    }
}

/// The questions, asked and approved.
#[derive(Default)]
pub(super) struct Asked {
    /// Approved questions' ids, in the order they were asked.
    pub(super) ids: Vec<String>,
    /// Asks and approvals refused (`op: code: message`).
    pub(super) refused: Vec<String>,
    /// Whether the questions came in pending (the moderator approved them).
    pub(super) moderated: bool,
    pub(super) seconds: f64,
    /// Every ask's and approval's fate.
    pub(super) fates: Vec<Fate>,
    /// The approvals, as the moderators sent them.
    pub(super) approvals: Vec<Call>,
}

/// Each asker asks one question (`label` and its number make the text); the moderators approve
/// each one that comes in pending, sharing them out (each socket has its own frame limit).
pub(super) async fn ask_and_approve(
    askers: &mut [Caller],
    mut moderators: Vec<&mut Caller>,
    label: &str,
    deadline: Instant,
) -> Asked {
    let t0 = Instant::now();
    let count = askers.len();
    let asks = askers.iter_mut().enumerate().map(|(k, c)| {
        let text = format!("{label} {k}: how will the summit follow up on proposal number {k}?");
        c.call("question.ask", json!({"text": text, "name": format!("Participant {k}")}), call_limit(deadline))
    });
    let mut out = Asked::default();
    let mut asked: Vec<Option<String>> = Vec::with_capacity(count);
    let mut shares: Vec<Vec<(usize, String)>> = (0..moderators.len().max(1)).map(|_| Vec::new()).collect();
    for (k, call) in join_all(asks).await.into_iter().enumerate() {
        let mut question = Value::Null;
        let fate = Fate::of(call, |result| question = result.get("question").cloned().unwrap_or_default());
        if let Err(e) = &fate.outcome {
            out.refused.push(format!("question.ask: {e}"));
        }
        out.fates.push(fate);
        let id = question.get("id").and_then(Value::as_str).map(str::to_owned);
        if id.is_none() && !question.is_null() {
            out.refused.push("question.ask: an ack without result.question.id".into());
        }
        match id {
            Some(id) if question.get("status").and_then(Value::as_str) == Some("pending") => {
                out.moderated = true;
                let share = k % shares.len();
                shares[share].push((k, id));
                asked.push(None);
            }
            other => asked.push(other),
        }
    }
    let approvals = moderators.iter_mut().zip(shares).map(|(moderator, share)| async move {
        let mut done = Vec::with_capacity(share.len());
        for (k, id) in share {
            let call = moderator.call("question.approve", json!({"question": id}), call_limit(deadline)).await;
            done.push((k, id, call));
        }
        done
    });
    for (k, id, call) in join_all(approvals).await.into_iter().flatten() {
        match &call.outcome {
            Ok(_) => asked[k] = Some(id),
            Err(e) => out.refused.push(format!("question.approve: {e}")),
        }
        out.approvals.push(call);
    }
    out.fates.extend(out.approvals.iter().map(|c| Fate {
        latency_us: c.latency_us(),
        at: c.at,
        outcome: c.outcome.as_ref().map(|_| ()).map_err(Clone::clone),
    }));
    out.ids = asked.into_iter().flatten().collect();
    out.seconds = t0.elapsed().as_secs_f64();
    out
}

/// One participant's storm: what the server acknowledged, every command's fate.
pub(super) struct Driven {
    pub(super) ballot: Ballot,
    pub(super) votes: Vec<Fate>,
    /// Commands not sent: the deadline came first.
    pub(super) unsent: usize,
    /// Acks whose `upvoted` said otherwise than the bookkeeping.
    pub(super) disagreed: usize,
}

/// Sends one participant's votes, each once the previous one is answered; returns its caller.
async fn drive(
    mut caller: Caller,
    ops: Vec<VoteOp>,
    ids: Arc<Vec<String>>,
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
    let mut out = Driven { ballot: Ballot::default(), votes: Vec::new(), unsent: 0, disagreed: 0 };
    for op in ops {
        if Instant::now() >= deadline {
            out.unsent += 1;
            continue;
        }
        let call = caller.call(op.vote.op(), json!({"question": ids[op.question]}), call_limit(deadline)).await;
        let fate = Fate::of(call, |result| {
            let upvoted = out.ballot.apply(op);
            out.disagreed += usize::from(result.get("upvoted").and_then(Value::as_bool) != Some(upvoted));
        });
        out.votes.push(fate);
    }
    (caller, out)
}

/// The storm's outcome.
pub(super) struct Storm {
    pub(super) driven: Vec<Driven>,
    pub(super) span: Span,
}

impl Storm {
    pub(super) fn fates(&self) -> impl Iterator<Item = &Fate> + Clone {
        self.driven.iter().flat_map(|d| &d.votes)
    }

    pub(super) fn unsent(&self) -> usize {
        self.driven.iter().map(|d| d.unsent).sum()
    }

    /// The counts the acknowledged votes make, `ids[k]` being question `k`'s id.
    pub(super) fn expected(&self, ids: &[String]) -> HashMap<String, u64> {
        expected_counts(self.driven.iter().map(|d| &d.ballot), ids)
    }
}

/// Every participant sends its plan at once: the storm. Returns the callers, in their order.
pub(in crate::load) async fn storm(
    callers: Vec<Caller>,
    ids: &[String],
    shape: Shape,
    setup: &Setup,
) -> anyhow::Result<(Vec<Caller>, Storm)> {
    let ids = Arc::new(ids.to_vec());
    let (start_tx, start) = watch::channel(false);
    let gate = setup.gate();
    let tasks: Vec<_> = (callers.into_iter().enumerate())
        .map(|(p, caller)| {
            tokio::spawn(drive(caller, plan(p, shape), ids.clone(), start.clone(), gate.clone(), setup.deadline))
        })
        .collect();
    let usage = setup.usage();
    let started = Instant::now();
    let _ = start_tx.send(true);
    let (mut callers, mut driven) = (Vec::with_capacity(tasks.len()), Vec::with_capacity(tasks.len()));
    for d in join_all(tasks).await {
        let (caller, d) = d.context("a storm task panicked")?;
        callers.push(caller);
        driven.push(d);
    }
    let span = Span::of(started, driven.iter().flat_map(|d| &d.votes), setup.usage().since(&usage));
    Ok((callers, Storm { driven, span }))
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
    setup.print_header(&format!(
        "{} questions, then {} upvotes and {} unvotes per participant",
        shape.questions, shape.upvotes, shape.unvotes
    ));
    let joined = connect_participants(setup.join(Keep::All), setup.n, args.batch, setup.deadline).await;
    let connect = joined.figures();
    if connect.connected < shape.questions {
        bail!(
            "{} participants connected ({} failed): fewer than --questions {}",
            connect.connected,
            connect.failed,
            shape.questions
        );
    }
    let mut moderator = Moderator::connect(&setup.endpoints[0], &setup.moderator_hello(), false).await?;
    let mut room = Room::new(joined.sockets, |w| {
        View::from_questions(w.state.as_ref().map_or(&[][..], |s| s.questions.as_slice()))
    });
    open_debate(&mut moderator.caller, &setup.definition, setup.deadline).await?;
    let askers = &mut room.callers[..shape.questions];
    let asked = ask_and_approve(askers, vec![&mut moderator.caller], "Load question", setup.deadline).await;
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

    let (_callers, storm) = storm(std::mem::take(&mut room.callers), &asked.ids, shape, &setup).await?;
    let expected = storm.expected(&asked.ids);
    let converged = converge(&room, expected.clone(), setup.deadline).await;
    let watched = room.stop().await?;
    let fresh = fresh_states(&setup.endpoints, &setup.moderator_hello()).await;
    moderator.stop().await;
    let outcome =
        Outcome { connect, asked, known: known.then_some(known_s), storm, expected, converged, watched, fresh };
    outcome.report(&setup, shape);
    if !outcome.ok() {
        bail!("the questions phase found differences (see above)");
    }
    Ok(())
}
