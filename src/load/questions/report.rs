//! The questions phase's figures and verdict: what is printed, and whether the run passed.

use super::{Asked, Storm, CONVERGE_TIMEOUT};
use crate::load::socket::Connect;
use crate::load::stats::{f2, quantile_ms};
use crate::load::votes::{differences, Shape, View};
use crate::load::watch;
use crate::load::Setup;
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
    sent: usize,
    acked: usize,
    refused: usize,
    /// Timed out or lost with the socket: applied or not, nobody knows.
    unanswered: usize,
    unsent: usize,
    disagreed: usize,
    /// Sorted ack latencies, µs.
    latencies: Vec<u64>,
    /// Sorted per-client times from the last ack to the view becoming final, µs.
    converge: Vec<u64>,
    /// Clients whose final view differs from the expected counts.
    mismatched: Vec<usize>,
    /// Fresh moderator states that differ (or could not be had).
    fresh_bad: usize,
    first_refusal: Option<String>,
}

impl Outcome {
    fn figures(&self) -> Figures {
        let votes = || self.storm.driven.iter().flat_map(|d| &d.votes);
        let unknown = |e: &str| e == "timeout" || e == "socket closed" || e.starts_with("send:");
        let mut latencies: Vec<u64> = votes().filter(|v| v.outcome.is_ok()).map(|v| v.latency_us).collect();
        latencies.sort_unstable();
        let mut converge: Vec<u64> = (self.watched.iter())
            .filter(|w| w.view.matches(&self.expected))
            .map(|w| w.last_change.map_or(0, |t| t.saturating_duration_since(self.storm.last_ack).as_micros() as u64))
            .collect();
        converge.sort_unstable();
        let errors = || votes().filter_map(|v| v.outcome.as_ref().err());
        Figures {
            sent: votes().count(),
            acked: latencies.len(),
            refused: errors().filter(|e| !unknown(e)).count(),
            unanswered: errors().filter(|e| unknown(e)).count(),
            unsent: self.storm.driven.iter().map(|d| d.unsent).sum(),
            disagreed: self.storm.driven.iter().map(|d| d.disagreed).sum(),
            latencies,
            converge,
            mismatched: (0..self.watched.len()).filter(|&k| !self.watched[k].view.matches(&self.expected)).collect(),
            fresh_bad: self
                .fresh
                .iter()
                .filter(|(_, s)| !s.as_ref().is_ok_and(|s| differences(&self.expected, s).is_empty()))
                .count(),
            first_refusal: errors().next().cloned(),
        }
    }

    /// Every vote acknowledged as booked, every client and every fresh state showing the expected counts.
    pub(super) fn ok(&self) -> bool {
        let f = self.figures();
        self.converged && f.refused + f.unanswered + f.unsent + f.disagreed + f.mismatched.len() + f.fresh_bad == 0
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
        let c = &self.connect;
        println!();
        println!(
            "  {:<18} {} of {} ({} failed, {} not tried)",
            "participants", c.connected, setup.n, c.failed, c.skipped
        );
        println!("  {:<18} {:.3} s (all welcomes)", "connect time", c.seconds);
        let known = self.known.map_or_else(
            || format!("NOT every client knew them within {CONVERGE_TIMEOUT:?}"),
            |s| format!("every client knew them {s:.2} s later"),
        );
        println!(
            "  {:<18} {} asked and approved{} in {:.2} s; {known}",
            "questions",
            shape.questions,
            if self.asked.moderated { " by the moderator" } else { " (unmoderated)" },
            self.asked.seconds,
        );
        if let Some(first) = self.asked.refused.first() {
            println!("  {:<18} {} refused; first: {first}", "asks", self.asked.refused.len());
        }
    }

    fn print_storm(&self, shape: Shape, f: &Figures) {
        let secs = self.storm.seconds();
        println!(
            "  {:<18} {} × ({} upvotes + {} unvotes): {} sent, {} acked, {} refused, {} unanswered, {} not sent; {secs:.2} s",
            "storm", self.storm.driven.len(), shape.upvotes, shape.unvotes, f.sent, f.acked, f.refused, f.unanswered, f.unsent
        );
        println!(
            "  {:<18} {:.0} (acks received / time from the first command to the last ack)",
            "acked per second",
            f.acked as f64 / secs.max(1e-9)
        );
        let (p50, p99, max) =
            (quantile_ms(&f.latencies, 0.5), quantile_ms(&f.latencies, 0.99), quantile_ms(&f.latencies, 1.0));
        println!("  {:<18} p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms", "ack latency");
        if let Some(cpu) = self.storm.server_cpu {
            println!(
                "  {:<18} {cpu:.2} s during the storm: {:.1} µs per acked command",
                "server CPU",
                cpu * 1e6 / f.acked.max(1) as f64
            );
        }
        if let Some(cpu) = self.storm.own_cpu {
            println!("  {:<18} {cpu:.2} s during the storm (this load process)", "client CPU");
        }
        if let Some(first) = &f.first_refusal {
            println!("  {:<18} {first}", "first refusal");
        }
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
        println!("  {:<18} {converge}", "convergence");
        let mut frames: Vec<u32> = self.watched.iter().map(|w| w.frames).collect();
        frames.sort_unstable();
        let fastest = self.watched.iter().filter_map(|w| {
            let (first, last) = w.frames_span?;
            let span = last.saturating_duration_since(first).as_secs_f64();
            (w.frames > 1 && span > 0.0).then(|| f64::from(w.frames - 1) / span)
        });
        println!(
            "  {:<18} {} per client (median), at most {:.1} a second",
            "upvotes frames",
            frames.get(frames.len() / 2).copied().unwrap_or(0),
            fastest.fold(0.0, f64::max)
        );
        let total: u64 = self.expected.values().sum();
        let fresh_ok = self.fresh.len() - f.fresh_bad;
        println!(
            "  {:<18} {} of {} clients show the expected counts ({total} upvotes over {} questions); a fresh moderator welcome matches on {fresh_ok} of {} servers",
            "counts", self.watched.len() - f.mismatched.len(), self.watched.len(), self.expected.len(), self.fresh.len()
        );
        let sum = |g: fn(&Watched) -> u32| self.watched.iter().map(g).sum::<u32>();
        println!(
            "  {:<18} {} seq gaps, {} resyncs, {} errors, {} closed, {} acks disagreeing on `upvoted`",
            "anomalies",
            sum(|w| w.gaps),
            sum(|w| w.resyncs),
            sum(|w| w.errors),
            sum(|w| u32::from(w.closed)),
            f.disagreed
        );
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
        let secs = self.storm.seconds();
        let converge = |p| if self.converged { format!("{:.0}", quantile_ms(&f.converge, p)) } else { "na".into() };
        println!(
            "RESULT phase=questions clients={} connected={} failed={} questions={} upvotes={} unvotes={} sent={} \
             acked={} refused={} unanswered={} unsent={} storm_s={secs:.3} acked_per_s={:.0} ack_p50_ms={:.2} \
             ack_p99_ms={:.2} ack_max_ms={:.2} converge_ms={} converge_p50_ms={} mismatched={} fresh_bad={} \
             disagreed={} server_cpu_s={} client_cpu_s={} us_per_cmd={} servers={} ok={}",
            setup.n,
            self.connect.connected,
            self.connect.failed,
            shape.questions,
            shape.upvotes,
            shape.unvotes,
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
            f.fresh_bad,
            f.disagreed,
            f2(self.storm.server_cpu),
            f2(self.storm.own_cpu),
            f2(self.storm.server_cpu.map(|c| c * 1e6 / f.acked.max(1) as f64)),
            setup.endpoints.len(),
            self.ok(),
        );
    }
}
