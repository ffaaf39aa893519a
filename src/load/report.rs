//! The lines every phase's report shares: the connect phase, a storm's figures, the coalesced
//! frames, the anomalies the clients saw.

use super::socket::Connect;
use super::stats::Usage;
use super::storm::{Counted, Span};
use super::watch::Watched;

/// One line of a report: a label, then the figures.
pub fn line(label: &str, text: impl std::fmt::Display) {
    println!("  {label:<18} {text}");
}

/// The connect phase: how many of `n` came in, and how fast.
pub fn print_connect(c: &Connect, n: usize) {
    println!();
    line("participants", format!("{} of {n} ({} failed, {} not tried)", c.connected, c.failed, c.skipped));
    line(
        "connect time",
        format!("{:.3} s (all welcomes): {:.0} sockets a second", c.seconds, c.connected as f64 / c.seconds.max(1e-9)),
    );
}

/// A storm's rate, ack latency, CPU (per acknowledged command) and first refusal; `what` names
/// one command (`command`, `ballot`).
pub fn print_storm(c: &Counted, span: &Span, what: &str) {
    line(
        "acked per second",
        format!("{:.0} (acks received / time from the first {what} to the last ack)", c.per_second(span)),
    );
    let (p50, p99, max) = c.ack_ms();
    line("ack latency", format!("p50 {p50:.2} ms   p99 {p99:.2} ms   max {max:.2} ms"));
    print_cpu(&span.usage, c.acked, &format!("acked {what}"));
    if let Some(first) = &c.first_refusal {
        line("first refusal", first);
    }
}

/// CPU time spent, and per `per` (`count` of them) for the servers and the store.
pub fn print_cpu(usage: &Usage, count: usize, per: &str) {
    let each = |cpu: f64| cpu * 1e6 / count.max(1) as f64;
    if let Some(cpu) = usage.server {
        line("server CPU", format!("{cpu:.2} s: {:.1} µs per {per}", each(cpu)));
    }
    if let Some(cpu) = usage.store {
        line("store CPU", format!("{cpu:.2} s: {:.1} µs per {per}", each(cpu)));
    }
    if let Some(cpu) = usage.own {
        line("client CPU", format!("{cpu:.2} s (this load process)"));
    }
}

/// How many coalesced frames (`upvotes`, `tally`) each client received, and the fastest rate
/// seen among the clients that received at least `min` (a rate from two frames says little: a
/// frame held behind the client's own command arrives late, close to the next one).
pub fn print_frames<V>(label: &str, watched: &[Watched<V>], min: u32) {
    let mut frames: Vec<u32> = watched.iter().map(|w| w.frames).collect();
    frames.sort_unstable();
    let fastest = watched.iter().filter_map(|w| {
        let (first, last) = w.frames_span?;
        let span = last.saturating_duration_since(first).as_secs_f64();
        (w.frames >= min && w.frames > 1 && span > 0.0).then(|| f64::from(w.frames - 1) / span)
    });
    let fastest = fastest.fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    line(
        label,
        format!(
            "{} per client (median){}",
            frames.get(frames.len() / 2).copied().unwrap_or(0),
            fastest.map_or_else(String::new, |r| format!(", at most {r:.1} a second (clients with {min} or more)"))
        ),
    );
}

/// What went wrong on the clients' side, summed: gaps, doubled events, resyncs, unreadable
/// frames, closed sockets; `more` is appended.
pub fn print_anomalies<V>(watched: &[Watched<V>], more: &str) {
    let a = Anomalies::of(watched);
    line(
        "anomalies",
        format!(
            "{} seq gaps, {} doubled, {} resyncs, {} errors, {} closed{more}",
            a.gaps, a.doubled, a.resyncs, a.errors, a.closed
        ),
    );
}

/// The clients' anomalies, summed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Anomalies {
    pub gaps: u64,
    pub doubled: u64,
    pub resyncs: u64,
    pub errors: u64,
    pub closed: u64,
}

impl Anomalies {
    pub fn of<V>(watched: &[Watched<V>]) -> Self {
        let sum = |g: fn(&Watched<V>) -> u32| watched.iter().map(|w| u64::from(g(w))).sum::<u64>();
        Anomalies {
            gaps: sum(|w| w.gaps),
            doubled: sum(|w| w.doubled),
            resyncs: sum(|w| w.resyncs),
            errors: sum(|w| w.errors),
            closed: sum(|w| u32::from(w.closed)),
        }
    }
}
