//! The questions phase's figures and verdict: what is printed, and whether the run passed.

use super::{Asked, Storm};
use crate::load::report::{line, print_anomalies, print_connect, print_frames, print_storm};
use crate::load::socket::Connect;
use crate::load::stats::{f2, quantile_ms};
use crate::load::storm::Counted;
use crate::load::votes::{differences, Shape, View};
use crate::load::watch;
use crate::load::Setup;
use crate::load::CONVERGE_TIMEOUT;
use std::collections::HashMap;

type Watched = watch::Watched<View>;

/// A server's URL and the counts a fresh moderator `welcome` showed there (or why none came).
pub(super) type Fresh = (String, Result<HashMap<String, u64>, String>);

/// Everything the questions phase measured.
pub(super) struct Outcome {
    pub(super) connect: Connect,
    pub(super) asked: Asked,
    /// Seconds until every client knew every question (`None`: not all did in time).
    pub(super) known: Option<f64>,
    pub(super) storm: Storm,
    pub(super) expected: HashMap<String, u64>,
    /// Whether every client showed the expected counts in time.
    pub(super) converged: bool,
    pub(super) watched: Vec<Watched>,
    pub(super) fresh: Vec<Fresh>,
}

/// Figures derived from an [`Outcome`].
struct Figures {
    counted: Counted,
    disagreed: usize,
    /// Sorted per-client times from the last ack to the view becoming final, µs.
    converge: Vec<u64>,
    /// Clients whose final view differs from the expected counts.
    mismatched: Vec<usize>,
    /// Fresh moderator states that differ (or could not be had).
    fresh_bad: usize,
}

impl Outcome {
    fn figures(&self) -> Figures {
        let last_ack = self.storm.span.last_ack;
        let mut converge: Vec<u64> = (self.watched.iter())
            .filter(|w| w.view.matches(&self.expected))
            .map(|w| w.last_change.map_or(0, |t| t.saturating_duration_since(last_ack).as_micros() as u64))
            .collect();
        converge.sort_unstable();
        Figures {
            counted: Counted::of(self.storm.fates(), self.storm.unsent()),
            disagreed: self.storm.driven.iter().map(|d| d.disagreed).sum(),
            converge,
            mismatched: (0..self.watched.len()).filter(|&k| !self.watched[k].view.matches(&self.expected)).collect(),
            fresh_bad: self
                .fresh
                .iter()
                .filter(|(_, s)| !s.as_ref().is_ok_and(|s| differences(&self.expected, s).is_empty()))
                .count(),
        }
    }

    /// Every vote acknowledged as booked, every client and every fresh state showing the expected counts.
    pub(super) fn ok(&self) -> bool {
        let f = self.figures();
        self.converged && f.counted.clean() && f.disagreed + f.mismatched.len() + f.fresh_bad == 0
    }
}

impl Outcome {
    /// Prints the readable report, the differences found, and the `RESULT` line.
    pub(super) fn report(&self, setup: &Setup, shape: Shape) {
        let f = self.figures();
        self.print_setup(setup, shape);
        self.print_storm(shape, &f);
        self.print_counts(&f);
        self.print_differences(&f);
        self.print_result(setup, shape, &f);
    }

    fn print_setup(&self, setup: &Setup, shape: Shape) {
        print_connect(&self.connect, setup.n);
        let known = self.known.map_or_else(
            || format!("NOT every client knew them within {CONVERGE_TIMEOUT:?}"),
            |s| format!("every client knew them {s:.2} s later"),
        );
        line(
            "questions",
            format!(
                "{} asked and approved{} in {:.2} s; {known}",
                shape.questions,
                if self.asked.moderated { " by the moderator" } else { " (unmoderated)" },
                self.asked.seconds,
            ),
        );
        if let Some(first) = self.asked.refused.first() {
            line("asks", format!("{} refused; first: {first}", self.asked.refused.len()));
        }
    }

    fn print_storm(&self, shape: Shape, f: &Figures) {
        let c = &f.counted;
        line(
            "storm",
            format!(
                "{} × ({} upvotes + {} unvotes): {} sent, {} acked, {} refused, {} unanswered, {} not sent; {:.2} s",
                self.storm.driven.len(),
                shape.upvotes,
                shape.unvotes,
                c.sent,
                c.acked,
                c.refused,
                c.unanswered,
                c.unsent,
                self.storm.span.seconds()
            ),
        );
        print_storm(c, &self.storm.span, "command");
    }

    fn print_counts(&self, f: &Figures) {
        let converge = if self.converged {
            format!(
                "every client showed the final counts {:.0} ms after the last ack (p50 {:.0} ms)",
                quantile_ms(&f.converge, 1.0),
                quantile_ms(&f.converge, 0.5)
            )
        } else {
            format!(
                "{} clients did NOT show the final counts within {CONVERGE_TIMEOUT:?} of the last ack",
                f.mismatched.len()
            )
        };
        line("convergence", converge);
        print_frames("upvotes frames", &self.watched, 2);
        let total: u64 = self.expected.values().sum();
        let fresh_ok = self.fresh.len() - f.fresh_bad;
        line(
            "counts",
            format!(
                "{} of {} clients show the expected counts ({total} upvotes over {} questions); \
                 a fresh moderator welcome matches on {fresh_ok} of {} servers",
                self.watched.len() - f.mismatched.len(),
                self.watched.len(),
                self.expected.len(),
                self.fresh.len()
            ),
        );
        print_anomalies(&self.watched, &format!(", {} acks disagreeing on `upvoted`", f.disagreed));
    }

    /// The first few differences, so that a failed run says what was wrong.
    fn print_differences(&self, f: &Figures) {
        for &k in f.mismatched.iter().take(3) {
            let w = &self.watched[k];
            let diff = differences(&self.expected, &w.view.counts);
            let shown: Vec<String> = diff
                .iter()
                .take(4)
                .map(|(id, want, got)| {
                    format!("{id} expected {want}, shows {}", got.map_or("nothing".into(), |g| g.to_string()))
                })
                .collect();
            println!("  client {k}{}: {}", if w.closed { " (closed)" } else { "" }, shown.join("; "));
        }
        for (url, state) in &self.fresh {
            match state {
                Err(e) => println!("  fresh moderator welcome on {url}: {e}"),
                Ok(s) => {
                    for (id, want, got) in differences(&self.expected, s).iter().take(4) {
                        println!("  fresh moderator welcome on {url}: {id} expected {want}, shows {got:?}");
                    }
                }
            }
        }
        println!();
    }

    fn print_result(&self, setup: &Setup, shape: Shape, f: &Figures) {
        let c = &f.counted;
        let span = &self.storm.span;
        let converge = |p| if self.converged { format!("{:.0}", quantile_ms(&f.converge, p)) } else { "na".into() };
        let (p50, p99, max) = c.ack_ms();
        println!(
            "RESULT phase=questions clients={} connected={} failed={} questions={} upvotes={} unvotes={} sent={} \
             acked={} refused={} unanswered={} unsent={} storm_s={:.3} acked_per_s={:.0} ack_p50_ms={p50:.2} \
             ack_p99_ms={p99:.2} ack_max_ms={max:.2} converge_ms={} converge_p50_ms={} mismatched={} fresh_bad={} \
             disagreed={} server_cpu_s={} client_cpu_s={} us_per_cmd={} servers={} ok={}",
            setup.n,
            self.connect.connected,
            self.connect.failed,
            shape.questions,
            shape.upvotes,
            shape.unvotes,
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
            f.fresh_bad,
            f.disagreed,
            f2(span.usage.server),
            f2(span.usage.own),
            f2(span.usage.server.map(|s| s * 1e6 / c.acked.max(1) as f64)),
            setup.endpoints.len(),
            self.ok(),
        );
    }
}
