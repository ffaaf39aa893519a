//! The session phase's figures and verdict: the table, the `RESULT` line, the JSON, and whether
//! the run passed.

use super::view::SessionView;
use super::{Outcome, Stage};
use crate::load::ballots::shared_receipts;
use crate::load::fanout::{match_deliveries, Move};
use crate::load::report::{line, Anomalies};
use crate::load::stats::{f2, opt, quantile_ms};
use crate::load::storm::{Counted, Errors, Span};
use crate::load::vote::{close_problem, receipt_problems};
use crate::load::watch::Watched;
use crate::load::Setup;
use serde_json::{json, Value};
use std::time::Instant;

/// The fan-out of one stage: every delivery of its moderator commands' events to the clients
/// that stayed connected through it.
pub struct Fanout {
    /// Delivery latencies (from the command sent to the event received), sorted, µs.
    pub latencies: Vec<u64>,
    pub expected: u64,
    /// Moves and other commands acknowledged (each one event fanned out).
    pub moves: usize,
    pub commands: usize,
}

impl Fanout {
    pub fn lost(&self) -> u64 {
        self.expected.saturating_sub(self.latencies.len() as u64)
    }

    fn ms(&self) -> (f64, f64, f64) {
        (quantile_ms(&self.latencies, 0.5), quantile_ms(&self.latencies, 0.99), quantile_ms(&self.latencies, 1.0))
    }
}

/// Everything derived from an [`Outcome`].
pub struct Report {
    pub fanout: Vec<(Stage, Fanout)>,
    /// `agenda.moved` receptions no acknowledged move accounts for.
    pub unmatched: u64,
    pub rss_per_conn: Option<f64>,
    pub asks: Counted,
    pub storm: Option<Counted>,
    pub disagreed: usize,
    /// From the storm's last ack until every client showed the final counts (all, and p50), ms.
    pub upvote_ms: Option<f64>,
    pub upvote_p50_ms: f64,
    pub counts_wrong: usize,
    pub ballots: Counted,
    pub bad_acks: usize,
    pub receipt_changes: u32,
    pub tally_ms: Option<f64>,
    pub tally_p50_ms: f64,
    pub close_problem: Option<String>,
    pub receipt_problems: Vec<(String, Vec<String>)>,
    pub shared_receipts: usize,
    /// Clients not at the final state, with what differs (the first few).
    pub not_final: Vec<(usize, bool, Vec<String>)>,
    pub not_final_count: usize,
    pub anomalies: Anomalies,
    /// Of the clients that came back: their anomalies.
    pub back_anomalies: Anomalies,
    pub errors: Errors,
    pub ok: bool,
}

/// The latency of `at` after `from`, ms (0 when before).
fn after_ms(at: Instant, from: Instant) -> f64 {
    at.saturating_duration_since(from).as_secs_f64() * 1e3
}

/// Per-client times (µs) from `from` to `at(view)`, for the clients where `done(view)`, sorted.
fn per_client(
    watched: &[Watched<SessionView>],
    from: Instant,
    done: impl Fn(&SessionView) -> bool,
    at: impl Fn(&SessionView) -> Option<Instant>,
) -> Vec<u64> {
    let mut out: Vec<u64> = (watched.iter().filter(|w| done(&w.view)))
        .map(|w| at(&w.view).map_or(0, |t| t.saturating_duration_since(from).as_micros() as u64))
        .collect();
    out.sort_unstable();
    out
}

/// The fan-out of `stage` over the clients `counted` says to count.
fn fanout(o: &Outcome, stage: Stage, counted: impl Fn(&Watched<SessionView>) -> bool) -> (Fanout, u64) {
    let clients: Vec<&Watched<SessionView>> = o.watched.iter().filter(|w| counted(w)).collect();
    let matched = match_deliveries(&o.log.moves, clients.iter().map(|w| &w.view.moved[..]));
    let in_stage = |k: usize| o.log.move_stages[k] == stage;
    let mut latencies: Vec<u64> =
        (0..o.log.moves.len()).filter(|&k| in_stage(k)).flat_map(|k| matched.per_move[k].iter().copied()).collect();
    let moves = (0..o.log.moves.len()).filter(|&k| in_stage(k) && o.log.moves[k].seq().is_some()).count();
    let commands: Vec<_> = o.log.commands.iter().filter(|c| c.stage == stage && c.seq.is_some()).collect();
    for c in &commands {
        let seq = c.seq.unwrap_or_default();
        for w in &clients {
            let events = &w.view.events;
            if let Ok(i) = events.binary_search_by_key(&seq, |(s, _)| *s) {
                latencies.push(events[i].1.saturating_duration_since(c.sent).as_micros() as u64);
            }
        }
    }
    latencies.sort_unstable();
    let expected = ((moves + commands.len()) * clients.len()) as u64;
    (Fanout { latencies, expected, moves, commands: commands.len() }, matched.unmatched)
}

impl Report {
    pub fn of(o: &Outcome, setup: &Setup) -> Self {
        let came_back = |w: &Watched<SessionView>| w.reconnects > 0;
        let mut unmatched = 0;
        let fanout = (Stage::ALL.iter())
            .map(|&stage| {
                // The clients away during the reconnect stage receive its events again, later.
                let (f, u) = if stage == Stage::Reconnect {
                    fanout(o, stage, |w| !came_back(w))
                } else {
                    fanout(o, stage, |_| true)
                };
                if stage == Stage::Agenda {
                    unmatched = u;
                }
                (stage, f)
            })
            .collect();
        let q = &o.questions;
        let storm = q.storm.as_ref().map(|s| Counted::of(s.fates(), s.unsent()));
        let last_upvote = q.storm.as_ref().map(|s| s.span.last_ack);
        let upvote_ms = q.counted_at.zip(last_upvote).map(|(at, from)| after_ms(at, from));
        let upvote_p50 = last_upvote.map_or(Vec::new(), |from| {
            per_client(&o.watched, from, |v| v.upvotes.matches(&q.expected), |v| v.counts_at)
        });
        let v = &o.vote;
        let last_ballot = v.voting.span.last_ack;
        let tally_p50 = per_client(&o.watched, last_ballot, |w| w.poll.tally == Some(v.expected), |w| w.poll.tally_at);
        let mut not_final: Vec<(usize, bool, Vec<String>)> = Vec::new();
        let mut not_final_count = 0;
        for (k, w) in o.watched.iter().enumerate() {
            let diff = w.view.differences(&o.last);
            if !diff.is_empty() {
                not_final_count += 1;
                if not_final.len() < 5 {
                    not_final.push((k, came_back(w), diff));
                }
            }
        }
        let back: Vec<&Watched<SessionView>> = o.watched.iter().filter(|w| came_back(w)).collect();
        let back_anomalies = Anomalies {
            gaps: back.iter().map(|w| u64::from(w.gaps)).sum(),
            doubled: back.iter().map(|w| u64::from(w.doubled)).sum(),
            resyncs: back.iter().map(|w| u64::from(w.resyncs)).sum(),
            errors: back.iter().map(|w| u64::from(w.errors)).sum(),
            closed: back.iter().filter(|w| w.closed).count() as u64,
        };
        let asks = Counted::of(o.preloaded.asked.fates.iter().chain(&q.asked.fates), 0);
        let ballots = Counted::of(v.voting.fates(), v.voting.unsent());
        let anomalies = Anomalies::of(&o.watched);
        let mut errors = o.log.errors.clone();
        errors.merge(&asks.errors);
        if let Some(s) = &storm {
            errors.merge(&s.errors);
        }
        errors.merge(&ballots.errors);
        for _ in &o.reconnect.failures {
            errors.add("reconnect_failed: ");
        }
        for _ in 0..anomalies.errors {
            errors.add("unreadable_frame: ");
        }
        let rss_per_conn = o
            .rss_idle
            .zip(o.rss_before)
            .map(|(idle, before)| (idle as f64 - before as f64) / o.connect.connected.max(1) as f64);
        let mut r = Report {
            fanout,
            unmatched,
            rss_per_conn,
            asks,
            storm,
            disagreed: q.storm.as_ref().map_or(0, |s| s.driven.iter().map(|d| d.disagreed).sum()),
            upvote_ms,
            upvote_p50_ms: quantile_ms(&upvote_p50, 0.5),
            counts_wrong: o.watched.iter().filter(|w| !w.view.upvotes.matches(&q.expected)).count(),
            ballots,
            bad_acks: v.voting.driven.iter().map(|d| d.bad_acks).sum(),
            receipt_changes: v.voting.driven.iter().map(|d| d.voter.receipt_changes).sum(),
            tally_ms: v.tallied_at.map(|at| after_ms(at, last_ballot)),
            tally_p50_ms: quantile_ms(&tally_p50, 0.5),
            close_problem: close_problem(&v.closed, v.expected),
            receipt_problems: receipt_problems(&v.published, &v.poll, &v.receipts, v.expected),
            shared_receipts: shared_receipts(&v.receipts),
            not_final,
            not_final_count,
            anomalies,
            back_anomalies,
            errors,
            ok: false,
        };
        r.ok = r.passed(o, setup);
        r
    }

    /// Nothing lost, nothing doubled, nothing refused, every figure as the acks make it.
    fn passed(&self, o: &Outcome, setup: &Setup) -> bool {
        let c = &o.connect;
        let a = &self.anomalies;
        c.connected == setup.n
            && o.stages.iter().all(|s| s.delivered)
            && self.fanout.iter().all(|(_, f)| f.lost() == 0)
            && self.unmatched == 0
            && a.gaps + a.doubled + a.closed == 0
            && self.errors.total() == 0
            && self.asks.clean()
            && o.questions.known.is_some()
            && o.questions.asked.refused.is_empty()
            && (!o.questions.planned || self.storm.as_ref().is_some_and(Counted::clean) && self.upvote_ms.is_some())
            && self.disagreed == 0
            && self.counts_wrong == 0
            && o.vote.known
            && self.ballots.clean()
            && self.bad_acks == 0
            && self.receipt_changes == 0
            && self.shared_receipts == 0
            && self.tally_ms.is_some()
            && self.close_problem.is_none()
            && o.vote.closed_seen
            && self.receipt_problems.iter().all(|(_, p)| p.is_empty())
            && o.reconnect.failures.is_empty()
            && o.reconnect.back == o.reconnect.dropped.len()
            && o.ended
            && self.not_final_count == 0
    }

    fn stage(&self, stage: Stage) -> &Fanout {
        let k = Stage::ALL.iter().position(|s| *s == stage).unwrap_or(0);
        &self.fanout[k].1
    }

    /// Server CPU per delivery in the agenda stage (moves only: nothing else happens then), µs.
    fn us_per_delivery(&self, o: &Outcome) -> Option<f64> {
        let agenda = o.stages.iter().find(|s| s.stage == Stage::Agenda)?;
        let received = self.stage(Stage::Agenda).latencies.len();
        Some(agenda.usage.server? * 1e6 / received.max(1) as f64)
    }

    pub fn print(&self, o: &Outcome, setup: &Setup) {
        let c = &o.connect;
        let kib = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{:.1} MiB", v as f64 / 1024.0));
        println!();
        line(
            "questions ahead",
            format!(
                "{} asked and approved before the join in {:.2} s (every welcome carries them)",
                o.preloaded.asked.ids.len(),
                o.preloaded.asked.seconds
            ),
        );
        line(
            "join",
            format!(
                "{} of {} in {:.3} s: {:.0} sockets a second ({} failed, {} not tried)",
                c.connected,
                setup.n,
                c.seconds,
                c.connected as f64 / c.seconds.max(1e-9),
                c.failed,
                c.skipped
            ),
        );
        if setup.servers.any() {
            line(
                "server RSS",
                format!(
                    "{} before the questions and the join, {} idle after it, {} at the end: {} KiB per idle connection",
                    kib(o.rss_before),
                    kib(o.rss_idle),
                    kib(o.rss_end),
                    self.rss_per_conn.map_or("-".into(), |v| format!("{v:.2}"))
                ),
            );
        }
        println!();
        println!(
            "  {:<10} {:>7}  {:<44} {:>29}  {:>11}  {:>5}  {:>11}",
            "stage", "time", "commands", "fan-out p50 / p99 / max (ms)", "deliveries", "lost", "server CPU"
        );
        for s in &o.stages {
            let f = self.stage(s.stage);
            let (p50, p99, max) = f.ms();
            println!(
                "  {:<10} {:>6.1}s  {:<44} {:>9.1} / {:>7.1} / {:>7.1}  {:>11}  {:>5}  {:>10}",
                s.stage.name(),
                s.seconds,
                self.commands(o, s.stage),
                p50,
                p99,
                max,
                f.latencies.len(),
                f.lost(),
                s.usage.server.map_or("-".into(), |c| format!("{c:.2} s")),
            );
        }
        println!();
        if let Some(us) = self.us_per_delivery(o) {
            line("CPU per delivery", format!("{us:.1} µs of server CPU per agenda.moved delivered"));
        }
        let cpu = |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{s:.1} s"));
        line(
            "CPU, whole run",
            format!(
                "server {}, store {}, this load process {}",
                cpu(o.usage.server),
                cpu(o.usage.store),
                cpu(o.usage.own)
            ),
        );
        self.print_questions(o);
        self.print_vote(o);
        self.print_reconnect(o);
        let a = &self.anomalies;
        line(
            "anomalies",
            format!(
                "{} seq gaps, {} doubled, {} resyncs, {} unreadable frames, {} closed; {} agenda.moved unmatched",
                a.gaps, a.doubled, a.resyncs, a.errors, a.closed, self.unmatched
            ),
        );
        line("errors by code", self.errors.summary());
        if let Some(first) = &o.log.first_refusal {
            line("first refusal", first);
        }
        let end = if o.ended {
            format!("every client holds seq {} and the same state", o.last.seq)
        } else {
            format!("{} clients are NOT at seq {} with the final state", self.not_final_count, o.last.seq)
        };
        line("final", end);
        for (k, back, diff) in &self.not_final {
            println!("    client {k}{}: {}", if *back { " (came back)" } else { "" }, diff.join("; "));
        }
        println!();
        self.print_result(o, setup);
    }

    fn commands(&self, o: &Outcome, stage: Stage) -> String {
        let f = self.stage(stage);
        let q = &o.questions;
        match stage {
            Stage::Agenda => format!("{} moves", f.moves),
            Stage::Questions => format!(
                "{} asks, {} approvals, {} upvotes/unvotes",
                q.asked.fates.len() - q.asked.approvals.len(),
                q.asked.approvals.len(),
                self.storm.as_ref().map_or(0, |s| s.sent)
            ),
            Stage::Vote => format!("{} ballots, poll opened and closed", self.ballots.sent),
            Stage::Reconnect => format!(
                "{} dropped, {} back in {:.2} s; {} moves",
                o.reconnect.dropped.len(),
                o.reconnect.back,
                o.reconnect.seconds,
                f.moves
            ),
        }
    }

    fn print_questions(&self, o: &Outcome) {
        let q = &o.questions;
        if !q.planned {
            line("upvote storm", "none (--asks 0)");
            return;
        }
        let (Some(storm), Some(span)) = (&self.storm, q.storm.as_ref().map(|s| s.span)) else {
            line(
                "upvote storm",
                format!("not run: {}", q.asked.refused.first().map_or("too few questions", String::as_str)),
            );
            return;
        };
        storm_line("upvote storm", storm, &span);
        line(
            "upvote counts",
            match self.upvote_ms {
                Some(ms) => format!(
                    "every client showed the final counts {ms:.0} ms after the last ack (p50 {:.0} ms)",
                    self.upvote_p50_ms
                ),
                None => format!("{} clients did NOT show the final counts", self.counts_wrong),
            },
        );
    }

    fn print_vote(&self, o: &Outcome) {
        let v = &o.vote;
        storm_line("vote storm", &self.ballots, &v.voting.span);
        line(
            "tally",
            match self.tally_ms {
                Some(ms) => format!(
                    "every client's tally included the last ballot {ms:.0} ms after its ack (p50 {:.0} ms): {}",
                    self.tally_p50_ms, v.expected
                ),
                None => "NOT every client's tally came to include the last ballot".into(),
            },
        );
        let close = match (&v.closed, &self.close_problem) {
            (Ok(c), None) => format!("{} as the acks make it ({})", v.expected, c.outcome),
            (_, Some(p)) => p.clone(),
            (Err(e), None) => e.clone(),
        };
        let good = self.receipt_problems.iter().filter(|(_, p)| p.is_empty()).count();
        line(
            "poll closed",
            format!(
                "{close}; receipts.json lists exactly the acks on {good} of {} servers",
                self.receipt_problems.len()
            ),
        );
        for (url, problems) in &self.receipt_problems {
            for p in problems.iter().take(3) {
                println!("    receipts.json on {url}: {p}");
            }
        }
    }

    fn print_reconnect(&self, o: &Outcome) {
        let r = &o.reconnect;
        let b = &self.back_anomalies;
        line(
            "reconnect",
            format!(
                "{} of {} back with `since` in {:.2} s ({} given the whole state); since: {} gaps, {} doubled",
                r.back,
                r.dropped.len(),
                r.seconds,
                r.full_welcomes,
                b.gaps,
                b.doubled
            ),
        );
        for f in r.failures.iter().take(3) {
            println!("    {f}");
        }
    }

    fn print_result(&self, o: &Outcome, setup: &Setup) {
        let c = &o.connect;
        let ms = |stage: Stage| self.stage(stage).ms();
        let (a50, a99, amax) = ms(Stage::Agenda);
        let storm_span = o.questions.storm.as_ref().map(|s| s.span);
        let upvotes_per_s = self.storm.as_ref().zip(storm_span).map(|(c, s)| format!("{:.0}", c.per_second(&s)));
        let (_, upvote_ack_p99, _) = self.storm.as_ref().map_or((f64::NAN, f64::NAN, f64::NAN), Counted::ack_ms);
        let (_, ballot_ack_p99, _) = self.ballots.ack_ms();
        let lost: u64 = self.fanout.iter().map(|(_, f)| f.lost()).sum();
        println!(
            "RESULT phase=session clients={} connected={} failed={} connect_s={:.3} connect_per_s={:.0} \
             questions_ahead={} rss_before_kib={} rss_idle_kib={} rss_end_kib={} rss_per_conn_kib={} \
             agenda_p50_ms={a50:.2} agenda_p99_ms={a99:.2} agenda_max_ms={amax:.2} questions_p99_ms={:.2} \
             vote_p99_ms={:.2} reconnect_p99_ms={:.2} lost={lost} upvotes_per_s={} upvote_ack_p99_ms={upvote_ack_p99:.2} \
             upvote_latency_ms={} votes_per_s={:.0} vote_ack_p99_ms={ballot_ack_p99:.2} tally_latency_ms={} \
             reconnect_s={:.3} dropped={} back={} doubled={} gaps={} resyncs={} errors={} us_per_delivery={} \
             server_cpu_s={} store_cpu_s={} client_cpu_s={} final_ok={} servers={} ok={}",
            setup.n,
            c.connected,
            c.failed,
            c.seconds,
            c.connected as f64 / c.seconds.max(1e-9),
            o.preloaded.asked.ids.len(),
            opt(o.rss_before),
            opt(o.rss_idle),
            opt(o.rss_end),
            f2(self.rss_per_conn),
            ms(Stage::Questions).1,
            ms(Stage::Vote).1,
            ms(Stage::Reconnect).1,
            opt(upvotes_per_s),
            f2(self.upvote_ms),
            self.ballots.per_second(&o.vote.voting.span),
            f2(self.tally_ms),
            o.reconnect.seconds,
            o.reconnect.dropped.len(),
            o.reconnect.back,
            self.anomalies.doubled,
            self.anomalies.gaps,
            self.anomalies.resyncs,
            self.errors.total(),
            f2(self.us_per_delivery(o)),
            f2(o.usage.server),
            f2(o.usage.store),
            f2(o.usage.own),
            o.ended && self.not_final_count == 0,
            setup.endpoints.len(),
            self.ok,
        );
    }

    /// The whole report as JSON (`--json`).
    pub fn json(&self, o: &Outcome, setup: &Setup) -> Value {
        let c = &o.connect;
        let ms3 = |(p50, p99, max): (f64, f64, f64)| json!({"p50": num(p50), "p99": num(p99), "max": num(max)});
        let stages: Vec<Value> = (o.stages.iter())
            .map(|s| {
                let f = self.stage(s.stage);
                json!({
                    "stage": s.stage.name(),
                    "seconds": s.seconds,
                    "moves": f.moves,
                    "commands": f.commands,
                    "deliveries": f.latencies.len(),
                    "expected": f.expected,
                    "lost": f.lost(),
                    "fanout_ms": ms3(f.ms()),
                    "server_cpu_s": s.usage.server,
                    "store_cpu_s": s.usage.store,
                    "delivered": s.delivered,
                })
            })
            .collect();
        let moves: Vec<Value> = (o.log.moves.iter().zip(&o.log.move_stages))
            .map(|(m, stage): (&Move, &Stage)| {
                json!({"stage": stage.name(), "item": m.item, "sent_ms": m.sent_ms, "seq": m.seq(), "acked": m.seq().is_some()})
            })
            .collect();
        let storm = |counted: &Counted, span: &Span| {
            json!({
                "sent": counted.sent,
                "acked": counted.acked,
                "refused": counted.refused,
                "unanswered": counted.unanswered,
                "acked_per_s": counted.per_second(span),
                "ack_ms": ms3(counted.ack_ms()),
                "server_cpu_s": span.usage.server,
                "store_cpu_s": span.usage.store,
            })
        };
        let v = &o.vote;
        let t = v.expected;
        let q = &o.questions;
        json!({
            "phase": "session",
            "session": {"id": setup.session.id, "code": setup.session.code},
            "servers": setup.endpoints.iter().map(|e| e.ws_url.clone()).collect::<Vec<_>>(),
            "clients": setup.n,
            "connect": {
                "connected": c.connected, "failed": c.failed, "skipped": c.skipped, "seconds": c.seconds,
                "per_second": c.connected as f64 / c.seconds.max(1e-9),
            },
            "questions_ahead": o.preloaded.asked.ids.len(),
            "rss_kib": {"before": o.rss_before, "idle": o.rss_idle, "end": o.rss_end},
            "rss_per_idle_connection_kib": self.rss_per_conn,
            "us_per_delivery": self.us_per_delivery(o),
            "stages": stages,
            "moves": moves,
            "questions": {
                "asked": q.asked.fates.len() - q.asked.approvals.len(),
                "approved": q.asked.ids.len(),
                "storm": self.storm.as_ref().zip(q.storm.as_ref()).map(|(c, s)| storm(c, &s.span)),
                "upvote_latency_ms": {"every_client": self.upvote_ms, "p50": num(self.upvote_p50_ms)},
                "counts": q.expected,
                "clients_with_other_counts": self.counts_wrong,
            },
            "vote": {
                "poll": v.poll,
                "storm": storm(&self.ballots, &v.voting.span),
                "tally_latency_ms": {"every_client": self.tally_ms, "p50": num(self.tally_p50_ms)},
                "tally": {"for": t.for_, "against": t.against, "abstain": t.abstain, "cast": t.cast},
                "outcome": v.closed.as_ref().ok().map(|c| c.outcome.clone()),
                "close_problem": self.close_problem,
                "receipt_problems": self.receipt_problems.iter().map(|(u, p)| json!({"server": u, "problems": p})).collect::<Vec<_>>(),
            },
            "reconnect": {
                "dropped": o.reconnect.dropped.len(),
                "back": o.reconnect.back,
                "seconds": o.reconnect.seconds,
                "full_welcomes": o.reconnect.full_welcomes,
                "gaps": self.back_anomalies.gaps,
                "doubled": self.back_anomalies.doubled,
                "failures": o.reconnect.failures.iter().take(10).collect::<Vec<_>>(),
            },
            "final": {"seq": o.last.seq, "item": o.last.current, "ok": o.ended && self.not_final_count == 0, "clients_elsewhere": self.not_final_count},
            "anomalies": {
                "gaps": self.anomalies.gaps, "doubled": self.anomalies.doubled, "resyncs": self.anomalies.resyncs,
                "unreadable": self.anomalies.errors, "closed": self.anomalies.closed, "unmatched_moves": self.unmatched,
            },
            "errors": self.errors.0,
            "server_cpu_s": o.usage.server,
            "store_cpu_s": o.usage.store,
            "client_cpu_s": o.usage.own,
            "ok": self.ok,
        })
    }
}

/// A figure for JSON: `null` when it could not be measured.
fn num(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        Value::Null
    }
}

fn storm_line(label: &str, c: &Counted, span: &Span) {
    let (p50, p99, max) = c.ack_ms();
    line(
        label,
        format!(
            "{} sent, {} acked ({:.0} a second), {} refused, {} unanswered, {} not sent; ack p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms{}",
            c.sent,
            c.acked,
            c.per_second(span),
            c.refused,
            c.unanswered,
            c.unsent,
            span.usage.server.map_or(String::new(), |s| format!("; server CPU {:.1} µs per ack", s * 1e6 / c.acked.max(1) as f64))
        ),
    );
}
