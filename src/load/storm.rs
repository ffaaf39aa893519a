//! What every storm shares (the upvotes, the ballots): each command's fate, the storm's span and
//! CPU time, and its commands counted (acknowledged, refused by code, unanswered, not sent).

use super::socket::Call;
use super::stats::{quantile_ms, Usage};
use std::collections::BTreeMap;
use std::time::Instant;

/// One command's fate.
pub struct Fate {
    pub latency_us: u64,
    pub at: Instant,
    pub outcome: Result<(), String>,
}

impl Fate {
    /// The fate of `call`, its ack's result read by `acked`.
    pub fn of(call: Call, acked: impl FnOnce(serde_json::Value)) -> Self {
        let latency_us = call.latency_us();
        Fate { latency_us, at: call.at, outcome: call.outcome.map(acked) }
    }
}

/// When a storm ran and what it cost.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    pub started: Instant,
    /// The last ack's arrival (`started` when none came).
    pub last_ack: Instant,
    /// CPU time spent from the start to the last answer.
    pub usage: Usage,
}

impl Span {
    /// From the start to the last ack, `fates` being every command's.
    pub fn of<'a>(started: Instant, fates: impl Iterator<Item = &'a Fate>, usage: Usage) -> Self {
        let last_ack = fates.filter(|f| f.outcome.is_ok()).map(|f| f.at).max().unwrap_or(started);
        Span { started, last_ack, usage }
    }

    pub fn seconds(&self) -> f64 {
        self.last_ack.saturating_duration_since(self.started).as_secs_f64()
    }
}

/// Whether a failed command may have been applied: no answer came (a timeout, a closed socket,
/// a send that failed), so nobody knows.
pub fn is_unknown(e: &str) -> bool {
    e == "timeout" || e == "socket closed" || e.starts_with("send:")
}

/// The error code of a refusal (`code: message`), or what became of an unanswered command.
pub fn code_of(e: &str) -> &str {
    if e.starts_with("send:") {
        "send_failed"
    } else if e == "socket closed" {
        "socket_closed"
    } else {
        e.split(':').next().unwrap_or(e)
    }
}

/// Refusals and unanswered commands, counted by code.
#[derive(Debug, Clone, Default)]
pub struct Errors(pub BTreeMap<String, usize>);

impl Errors {
    pub fn add(&mut self, e: &str) {
        *self.0.entry(code_of(e).to_owned()).or_default() += 1;
    }

    pub fn merge(&mut self, other: &Errors) {
        for (code, n) in &other.0 {
            *self.0.entry(code.clone()).or_default() += n;
        }
    }

    pub fn total(&self) -> usize {
        self.0.values().sum()
    }

    /// `code ×n, …`, or `none`.
    pub fn summary(&self) -> String {
        if self.0.is_empty() {
            return "none".into();
        }
        self.0.iter().map(|(c, n)| format!("{c} ×{n}")).collect::<Vec<_>>().join(", ")
    }
}

/// A storm's commands, counted.
pub struct Counted {
    pub sent: usize,
    pub acked: usize,
    pub refused: usize,
    /// Timed out or lost with the socket: applied or not, nobody knows.
    pub unanswered: usize,
    pub unsent: usize,
    /// Sorted ack latencies, µs.
    pub latencies: Vec<u64>,
    pub errors: Errors,
    pub first_refusal: Option<String>,
}

impl Counted {
    pub fn of<'a>(fates: impl Iterator<Item = &'a Fate> + Clone, unsent: usize) -> Self {
        let mut latencies: Vec<u64> = fates.clone().filter(|f| f.outcome.is_ok()).map(|f| f.latency_us).collect();
        latencies.sort_unstable();
        let failures = || fates.clone().filter_map(|f| f.outcome.as_ref().err());
        let mut errors = Errors::default();
        failures().for_each(|e| errors.add(e));
        Counted {
            sent: fates.clone().count(),
            acked: latencies.len(),
            refused: failures().filter(|e| !is_unknown(e)).count(),
            unanswered: failures().filter(|e| is_unknown(e)).count(),
            unsent,
            latencies,
            errors,
            first_refusal: failures().next().cloned(),
        }
    }

    /// Acknowledged commands per second over `span`.
    pub fn per_second(&self, span: &Span) -> f64 {
        self.acked as f64 / span.seconds().max(1e-9)
    }

    /// Ack latency p50, p99 and max, in ms.
    pub fn ack_ms(&self) -> (f64, f64, f64) {
        (quantile_ms(&self.latencies, 0.5), quantile_ms(&self.latencies, 0.99), quantile_ms(&self.latencies, 1.0))
    }

    /// Every command sent and acknowledged.
    pub fn clean(&self) -> bool {
        self.refused + self.unanswered + self.unsent == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_counted_by_code_and_unanswered_apart() {
        let t0 = Instant::now();
        let fate = |outcome: Result<(), &str>| Fate { latency_us: 5, at: t0, outcome: outcome.map_err(str::to_owned) };
        let fates = [
            fate(Ok(())),
            fate(Err("rate_limited: slow down")),
            fate(Err("rate_limited: slow down")),
            fate(Err("timeout")),
            fate(Err("send: broken pipe")),
        ];
        let c = Counted::of(fates.iter(), 1);
        assert_eq!((c.sent, c.acked, c.refused, c.unanswered, c.unsent), (5, 1, 2, 2, 1));
        assert_eq!(c.errors.summary(), "rate_limited ×2, send_failed ×1, timeout ×1");
        assert_eq!(c.first_refusal.as_deref(), Some("rate_limited: slow down"));
        assert!(!c.clean());
        assert_eq!(Errors::default().summary(), "none");
    }
}
