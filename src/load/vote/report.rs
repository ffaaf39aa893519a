//! The vote phase's figures and verdict: what is printed, and whether the run passed.

use super::{Closed, Published, Voting};
use crate::load::ballots::{check_receipts, shared_receipts, Choice, PollView, Shape, Tally};
use crate::load::report::{line, print_anomalies, print_connect, print_frames, print_storm};
use crate::load::socket::Connect;
use crate::load::stats::{f2, quantile_ms};
use crate::load::storm::Counted;
use crate::load::watch::Watched;
use crate::load::{Setup, CONVERGE_TIMEOUT};

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
    counted: Counted,
    bad_acks: usize,
    receipt_changes: u32,
    /// Voters who cast more than one ballot.
    changers: usize,
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
}

/// What is wrong with a poll's close (`None`: it carries exactly `expected`).
pub fn close_problem(closed: &Result<Closed, String>, expected: Tally) -> Option<String> {
    match closed {
        Err(e) => Some(e.clone()),
        Ok(c) if c.tally != Some(expected) => Some(format!(
            "poll.closed says {}, the acknowledged ballots make {expected}",
            c.tally.map_or("no counts".into(), |t| t.to_string()),
        )),
        Ok(_) => None,
    }
}

/// What is wrong with each server's published receipts (empty lists: nothing).
pub fn receipt_problems(
    published: &[Published],
    poll: &str,
    receipts: &[(String, Choice)],
    expected: Tally,
) -> Vec<(String, Vec<String>)> {
    (published.iter())
        .map(|(url, doc)| {
            let problems = match doc {
                Ok(doc) => check_receipts(doc, poll, receipts, expected),
                Err(e) => vec![e.clone()],
            };
            (url.clone(), problems)
        })
        .collect()
}

impl Outcome {
    fn figures(&self) -> Figures {
        let final_tally = |w: &Watched<PollView>| w.view.tally == Some(self.expected);
        let mut converge: Vec<u64> = (self.watched.iter().filter(|w| final_tally(w)))
            .map(|w| {
                w.view.tally_at.map_or(0, |t| t.saturating_duration_since(self.voting.span.last_ack).as_micros() as u64)
            })
            .collect();
        converge.sort_unstable();
        Figures {
            counted: Counted::of(self.voting.fates(), self.voting.unsent()),
            bad_acks: self.voting.driven.iter().map(|d| d.bad_acks).sum(),
            receipt_changes: self.voting.driven.iter().map(|d| d.voter.receipt_changes).sum(),
            changers: self.voting.driven.iter().filter(|d| d.casts.len() > 1).count(),
            converge,
            mismatched: (0..self.watched.len()).filter(|&k| !final_tally(&self.watched[k])).collect(),
            unclosed: self.watched.iter().filter(|w| w.view.closed != Some(self.expected)).count(),
            close_problem: close_problem(&self.closed, self.expected),
            receipt_problems: receipt_problems(&self.published, &self.poll, &self.receipts, self.expected),
            shared: shared_receipts(&self.receipts),
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
            && f.counted.clean()
            && c.failed + c.skipped + f.bad_acks + f.mismatched.len() + f.unclosed == 0
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
        print_connect(&self.connect, setup.n);
        let known = self.known.map_or_else(
            || format!("NOT every client knew it within {CONVERGE_TIMEOUT:?}"),
            |s| format!("every client knew it {s:.2} s after the ack"),
        );
        line("poll", format!("{} opened; {known}", self.poll));
    }

    fn print_voting(&self, shape: Shape, f: &Figures) {
        let c = &f.counted;
        line(
            "ballots",
            format!(
                "{} voters, {} of them casting {} more: {} sent, {} acked, {} refused, {} unanswered, {} not sent; {:.2} s",
                self.voting.driven.len(),
                f.changers,
                shape.recasts,
                c.sent,
                c.acked,
                c.refused,
                c.unanswered,
                c.unsent,
                self.voting.span.seconds()
            ),
        );
        print_storm(c, &self.voting.span, "ballot");
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
        line("convergence", converge);
        print_frames("tally frames", &self.watched, 3);
        match &self.closed {
            Ok(c) => line(
                "poll.closed",
                format!(
                    "{} ({}: {}) {:.0} ms after poll.close; {} of {} clients received it as expected",
                    c.tally.map_or("no counts".into(), |t| t.to_string()),
                    c.outcome,
                    c.rule,
                    c.seconds * 1e3,
                    self.watched.len() - f.unclosed,
                    self.watched.len()
                ),
            ),
            Err(e) => line("poll.closed", e),
        }
        let good = f.receipt_problems.iter().filter(|(_, p)| p.is_empty()).count();
        line(
            "receipts",
            format!(
                "{} voters, {} receipts changed for a voter, {} shared by two voters; \
                 receipts.json lists exactly them on {good} of {} servers",
                self.receipts.len(),
                f.receipt_changes,
                f.shared,
                f.receipt_problems.len()
            ),
        );
        print_anomalies(&self.watched, &format!(", {} acks not matching their ballot", f.bad_acks));
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
        let c = &f.counted;
        let span = &self.voting.span;
        let converge = |p| if self.converged { format!("{:.0}", quantile_ms(&f.converge, p)) } else { "na".into() };
        let per = |cpu: Option<f64>| f2(cpu.map(|s| s * 1e6 / c.acked.max(1) as f64));
        let (p50, p99, max) = c.ack_ms();
        println!(
            "RESULT phase=vote clients={} connected={} failed={} change_percent={} recasts={} changers={} sent={} \
             acked={} refused={} unanswered={} unsent={} vote_s={:.3} votes_per_s={:.0} ack_p50_ms={p50:.2} \
             ack_p99_ms={p99:.2} ack_max_ms={max:.2} converge_ms={} converge_p50_ms={} mismatched={} unclosed={} \
             close_ok={} receipts_ok={} receipt_changes={} shared_receipts={} bad_acks={} server_cpu_s={} \
             store_cpu_s={} client_cpu_s={} us_per_cmd={} store_us_per_cmd={} servers={} ok={}",
            setup.n,
            self.connect.connected,
            self.connect.failed,
            shape.change_percent,
            shape.recasts,
            f.changers,
            c.sent,
            c.acked,
            c.refused,
            c.unanswered,
            c.unsent,
            span.seconds(),
            c.per_second(span),
            converge(1.0),
            converge(0.5),
            f.mismatched.len(),
            f.unclosed,
            f.close_problem.is_none(),
            f.receipt_problems.iter().all(|(_, p)| p.is_empty()),
            f.receipt_changes,
            f.shared,
            f.bad_acks,
            f2(span.usage.server),
            f2(span.usage.store),
            f2(span.usage.own),
            per(span.usage.server),
            per(span.usage.store),
            setup.endpoints.len(),
            self.ok(),
        );
    }
}
