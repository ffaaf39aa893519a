//! The vote phase's figures and verdict: what is printed, and whether the run passed.

use super::{Closed, Published, Voting, CONVERGE_TIMEOUT};
use crate::load::ballots::{check_receipts, shared_receipts, Choice, PollView, Shape, Tally};
use crate::load::socket::Connect;
use crate::load::stats::{f2, quantile_ms};
use crate::load::watch::Watched;
use crate::load::Setup;

/// Everything the vote phase measured.
pub(super) struct Outcome {
    pub(super) connect: Connect,
    pub(super) poll: String,
    /// Seconds until every client knew the poll (`None`: not all did in time).
    pub(super) known: Option<f64>,
    pub(super) voting: Voting,
    /// The tally the acknowledged ballots make, and their receipts with the final choices.
    pub(super) expected: Tally,
    pub(super) receipts: Vec<(String, Choice)>,
    /// Whether every client's tally showed `expected` in time.
    pub(super) converged: bool,
    pub(super) closed: Result<Closed, String>,
    /// Whether every client received `poll.closed` with the expected figures in time.
    pub(super) closed_seen: bool,
    pub(super) watched: Vec<Watched<PollView>>,
    pub(super) published: Vec<Published>,
}

/// Figures derived from an [`Outcome`].
struct Figures {
    sent: usize,
    acked: usize,
    refused: usize,
    /// Timed out or lost with the socket: applied or not, nobody knows.
    unanswered: usize,
    unsent: usize,
    bad_acks: usize,
    receipt_changes: u32,
    /// Voters who cast more than one ballot.
    changers: usize,
    /// Sorted ack latencies, µs.
    latencies: Vec<u64>,
    /// Sorted per-client times from the last ack to the tally becoming final, µs.
    converge: Vec<u64>,
    /// Clients whose last tally differs from the expected one.
    mismatched: Vec<usize>,
    /// Clients that did not receive `poll.closed` with the expected figures.
    unclosed: usize,
    /// What is wrong with the close event (`None`: it is exactly the expected tally).
    close_problem: Option<String>,
    /// What is wrong with each server's published receipts.
    receipt_problems: Vec<(String, Vec<String>)>,
    shared: usize,
    first_refusal: Option<String>,
}

impl Outcome {
    fn figures(&self) -> Figures {
        let casts = || self.voting.driven.iter().flat_map(|d| &d.casts);
        let unknown = |e: &str| e == "timeout" || e == "socket closed" || e.starts_with("send:");
        let mut latencies: Vec<u64> = casts().filter(|c| c.outcome.is_ok()).map(|c| c.latency_us).collect();
        latencies.sort_unstable();
        let final_tally = |w: &Watched<PollView>| w.view.tally == Some(self.expected);
        let mut converge: Vec<u64> = (self.watched.iter().filter(|w| final_tally(w)))
            .map(|w| {
                w.view.tally_at.map_or(0, |t| t.saturating_duration_since(self.voting.last_ack).as_micros() as u64)
            })
            .collect();
        converge.sort_unstable();
        let errors = || casts().filter_map(|c| c.outcome.as_ref().err());
        let close_problem = match &self.closed {
            Err(e) => Some(e.clone()),
            Ok(c) if c.tally != Some(self.expected) => Some(format!(
                "poll.closed says {}, the acknowledged ballots make {}",
                c.tally.map_or("no counts".into(), |t| t.to_string()),
                self.expected
            )),
            Ok(_) => None,
        };
        let receipt_problems = (self.published.iter())
            .map(|(url, doc)| {
                let problems = match doc {
                    Ok(doc) => check_receipts(doc, &self.poll, &self.receipts, self.expected),
                    Err(e) => vec![e.clone()],
                };
                (url.clone(), problems)
            })
            .collect();
        Figures {
            sent: casts().count(),
            acked: latencies.len(),
            refused: errors().filter(|e| !unknown(e)).count(),
            unanswered: errors().filter(|e| unknown(e)).count(),
            unsent: self.voting.driven.iter().map(|d| d.unsent).sum(),
            bad_acks: self.voting.driven.iter().map(|d| d.bad_acks).sum(),
            receipt_changes: self.voting.driven.iter().map(|d| d.voter.receipt_changes).sum(),
            changers: self.voting.driven.iter().filter(|d| d.casts.len() > 1).count(),
            latencies,
            converge,
            mismatched: (0..self.watched.len()).filter(|&k| !final_tally(&self.watched[k])).collect(),
            unclosed: self.watched.iter().filter(|w| w.view.closed != Some(self.expected)).count(),
            close_problem,
            receipt_problems,
            shared: shared_receipts(&self.receipts),
            first_refusal: errors().next().cloned(),
        }
    }

    /// Every participant connected and knew the poll, every ballot acknowledged as cast, with one
    /// receipt per voter; every client's tally, the close and every server's receipts exactly as
    /// expected.
    pub(super) fn ok(&self) -> bool {
        let f = self.figures();
        let c = &self.connect;
        self.known.is_some()
            && self.converged
            && self.closed_seen
            && f.close_problem.is_none()
            && f.receipt_problems.iter().all(|(_, p)| p.is_empty())
            && c.failed + c.skipped + f.refused + f.unanswered + f.unsent + f.bad_acks + f.mismatched.len() + f.unclosed
                == 0
            && f.receipt_changes == 0
    }

    pub(super) fn report(&self, setup: &Setup, shape: Shape) {
        let f = self.figures();
        self.print_setup(setup);
        self.print_voting(shape, &f);
        self.print_checks(&f);
        if !self.ok() {
            self.print_differences(&f);
        }
        self.print_result(setup, shape, &f);
    }

    fn print_setup(&self, setup: &Setup) {
        let c = &self.connect;
        println!();
        println!(
            "  {:<18} {} of {} ({} failed, {} not tried)",
            "participants", c.connected, setup.n, c.failed, c.skipped
        );
        println!("  {:<18} {:.3} s (all welcomes)", "connect time", c.seconds);
        let known = self.known.map_or_else(
            || format!("NOT every client knew it within {CONVERGE_TIMEOUT:?}"),
            |s| format!("every client knew it {s:.2} s after the ack"),
        );
        println!("  {:<18} {} opened; {known}", "poll", self.poll);
    }

    fn print_voting(&self, shape: Shape, f: &Figures) {
        let secs = self.voting.seconds();
        println!(
            "  {:<18} {} voters, {} of them casting {} more: {} sent, {} acked, {} refused, {} unanswered, {} not sent; {secs:.2} s",
            "ballots", self.voting.driven.len(), f.changers, shape.recasts, f.sent, f.acked, f.refused, f.unanswered, f.unsent
        );
        println!(
            "  {:<18} {:.0} (acks received / time from the first ballot to the last ack)",
            "votes per second",
            f.acked as f64 / secs.max(1e-9)
        );
        let (p50, p99, max) =
            (quantile_ms(&f.latencies, 0.5), quantile_ms(&f.latencies, 0.99), quantile_ms(&f.latencies, 1.0));
        println!("  {:<18} p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms", "ack latency");
        let per = |cpu: f64| cpu * 1e6 / f.acked.max(1) as f64;
        if let Some(cpu) = self.voting.server_cpu {
            println!("  {:<18} {cpu:.2} s while voting: {:.1} µs per acked ballot", "server CPU", per(cpu));
        }
        if let Some(cpu) = self.voting.store_cpu {
            println!("  {:<18} {cpu:.2} s while voting: {:.1} µs per acked ballot", "store CPU", per(cpu));
        }
        if let Some(cpu) = self.voting.own_cpu {
            println!("  {:<18} {cpu:.2} s while voting (this load process)", "client CPU");
        }
        if let Some(first) = &f.first_refusal {
            println!("  {:<18} {first}", "first refusal");
        }
    }

    fn print_checks(&self, f: &Figures) {
        let converge = if self.converged {
            format!(
                "every client's last tally showed {} {:.0} ms after the last ack (p50 {:.0} ms)",
                self.expected,
                quantile_ms(&f.converge, 1.0),
                quantile_ms(&f.converge, 0.5)
            )
        } else {
            format!(
                "{} clients did NOT show the final tally within {CONVERGE_TIMEOUT:?} of the last ack",
                f.mismatched.len()
            )
        };
        println!("  {:<18} {converge}", "convergence");
        let mut frames: Vec<u32> = self.watched.iter().map(|w| w.frames).collect();
        frames.sort_unstable();
        // A rate from two frames says little (a frame held behind the client's own command
        // arrives late, close to the next one): only clients that received three or more.
        let fastest = self.watched.iter().filter_map(|w| {
            let (first, last) = w.frames_span?;
            let span = last.saturating_duration_since(first).as_secs_f64();
            (w.frames > 2 && span > 0.0).then(|| f64::from(w.frames - 1) / span)
        });
        let fastest = fastest.fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
        println!(
            "  {:<18} {} per client (median){}",
            "tally frames",
            frames.get(frames.len() / 2).copied().unwrap_or(0),
            fastest.map_or_else(String::new, |r| format!(", at most {r:.1} a second (clients with 3 or more)"))
        );
        match &self.closed {
            Ok(c) => println!(
                "  {:<18} {} ({}: {}) {:.0} ms after poll.close; {} of {} clients received it as expected",
                "poll.closed",
                c.tally.map_or("no counts".into(), |t| t.to_string()),
                c.outcome,
                c.rule,
                c.seconds * 1e3,
                self.watched.len() - f.unclosed,
                self.watched.len()
            ),
            Err(e) => println!("  {:<18} {e}", "poll.closed"),
        }
        let good = f.receipt_problems.iter().filter(|(_, p)| p.is_empty()).count();
        println!(
            "  {:<18} {} voters, {} receipts changed for a voter, {} shared by two voters; \
             receipts.json lists exactly them on {good} of {} servers",
            "receipts",
            self.receipts.len(),
            f.receipt_changes,
            f.shared,
            f.receipt_problems.len()
        );
        let sum = |g: fn(&Watched<PollView>) -> u32| self.watched.iter().map(g).sum::<u32>();
        println!(
            "  {:<18} {} seq gaps, {} resyncs, {} errors, {} closed, {} acks not matching their ballot",
            "anomalies",
            sum(|w| w.gaps),
            sum(|w| w.resyncs),
            sum(|w| w.errors),
            sum(|w| u32::from(w.closed)),
            f.bad_acks
        );
    }

    /// The first few differences, so that a failed run says what was wrong.
    fn print_differences(&self, f: &Figures) {
        for &k in f.mismatched.iter().take(3) {
            let w = &self.watched[k];
            let shown = w.view.tally.map_or("no tally".into(), |t| t.to_string());
            println!(
                "  client {k}{}: shows {shown}, expected {}",
                if w.closed { " (closed)" } else { "" },
                self.expected
            );
        }
        if let Some(p) = &f.close_problem {
            println!("  close: {p}");
        }
        for (url, problems) in &f.receipt_problems {
            for p in problems.iter().take(4) {
                println!("  receipts.json on {url}: {p}");
            }
        }
        println!();
    }

    fn print_result(&self, setup: &Setup, shape: Shape, f: &Figures) {
        let secs = self.voting.seconds();
        let converge = |p| if self.converged { format!("{:.0}", quantile_ms(&f.converge, p)) } else { "na".into() };
        let per = |cpu: Option<f64>| f2(cpu.map(|c| c * 1e6 / f.acked.max(1) as f64));
        println!(
            "RESULT phase=vote clients={} connected={} failed={} change_percent={} recasts={} changers={} sent={} \
             acked={} refused={} unanswered={} unsent={} vote_s={secs:.3} votes_per_s={:.0} ack_p50_ms={:.2} \
             ack_p99_ms={:.2} ack_max_ms={:.2} converge_ms={} converge_p50_ms={} mismatched={} unclosed={} \
             close_ok={} receipts_ok={} receipt_changes={} shared_receipts={} bad_acks={} server_cpu_s={} \
             store_cpu_s={} client_cpu_s={} us_per_cmd={} store_us_per_cmd={} servers={} ok={}",
            setup.n,
            self.connect.connected,
            self.connect.failed,
            shape.change_percent,
            shape.recasts,
            f.changers,
            f.sent,
            f.acked,
            f.refused,
            f.unanswered,
            f.unsent,
            f.acked as f64 / secs.max(1e-9),
            quantile_ms(&f.latencies, 0.5),
            quantile_ms(&f.latencies, 0.99),
            quantile_ms(&f.latencies, 1.0),
            converge(1.0),
            converge(0.5),
            f.mismatched.len(),
            f.unclosed,
            f.close_problem.is_none(),
            f.receipt_problems.iter().all(|(_, p)| p.is_empty()),
            f.receipt_changes,
            f.shared,
            f.bad_acks,
            f2(self.voting.server_cpu),
            f2(self.voting.store_cpu),
            f2(self.voting.own_cpu),
            per(self.voting.server_cpu),
            per(self.voting.store_cpu),
            setup.endpoints.len(),
            self.ok(),
        );
    }
}
