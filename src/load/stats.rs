//! Figures: quantiles of measured times, and the server processes' memory and CPU read from `/proc`.

use anyhow::bail;

/// Linux `USER_HZ`: the unit of the CPU times in `/proc/<pid>/stat`.
const CLOCK_TICKS: f64 = 100.0;

/// The server processes given with `--server-pid` (several instances are added up).
#[derive(Debug, Clone, Default)]
pub struct Servers {
    pub pids: Vec<u32>,
}

impl Servers {
    /// Fails when a pid names no readable process.
    pub fn check(pids: &[u32]) -> anyhow::Result<Self> {
        for &pid in pids {
            if vm_rss_kib(pid).is_none() {
                bail!("--server-pid {pid}: no such process (or /proc/{pid}/status is not readable)");
            }
        }
        Ok(Servers { pids: pids.to_vec() })
    }

    pub fn any(&self) -> bool {
        !self.pids.is_empty()
    }

    /// Total resident memory of the servers, `None` without pids or when one cannot be read.
    pub fn rss_kib(&self) -> Option<u64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|&p| vm_rss_kib(p)).sum()
    }

    /// Total CPU seconds of the servers, as [`Servers::rss_kib`].
    pub fn cpu_seconds(&self) -> Option<f64> {
        if self.pids.is_empty() {
            return None;
        }
        self.pids.iter().map(|p| cpu_seconds(&p.to_string())).sum()
    }
}

/// CPU seconds spent so far by the servers, the store (`--store-pid`) and this load process; or,
/// from [`Usage::since`], spent between two moments.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub server: Option<f64>,
    pub store: Option<f64>,
    pub own: Option<f64>,
}

impl Usage {
    pub fn now(servers: &Servers, store: &Servers) -> Self {
        Usage { server: servers.cpu_seconds(), store: store.cpu_seconds(), own: cpu_seconds("self") }
    }

    /// What was spent from `before` to `self`.
    pub fn since(&self, before: &Usage) -> Usage {
        let spent = |now: Option<f64>, then: Option<f64>| now.zip(then).map(|(a, b)| a - b);
        Usage {
            server: spent(self.server, before.server),
            store: spent(self.store, before.store),
            own: spent(self.own, before.own),
        }
    }
}

/// The server's resident memory, from `/proc/<pid>/status`.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.trim().trim_end_matches("kB").trim().parse().ok()
}

/// User + system CPU seconds of a process (`self` or a pid), from `/proc/<pid>/stat`.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}

/// Nearest-rank quantile of sorted microseconds, in milliseconds (NaN when empty).
pub fn quantile_ms(sorted: &[u64], p: f64) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        len => sorted[((len as f64 * p) as usize).min(len - 1)] as f64 / 1000.0,
    }
}

/// A figure for a `RESULT` line: `na` when it could not be measured.
pub fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "na".to_owned(), |v| v.to_string())
}

/// Two decimals, or `na`.
pub fn f2(v: Option<f64>) -> String {
    opt(v.map(|v| format!("{v:.2}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(quantile_ms(&v, 0.5), 51.0);
        assert_eq!(quantile_ms(&v, 0.99), 100.0);
        assert_eq!(quantile_ms(&v, 0.0), 1.0);
        assert_eq!(quantile_ms(&v, 1.0), 100.0);
        assert_eq!(quantile_ms(&[2500], 0.99), 2.5);
        assert!(quantile_ms(&[], 0.5).is_nan());
    }

    #[test]
    fn missing_figures_print_as_na() {
        assert_eq!(opt(None::<u64>), "na");
        assert_eq!(f2(Some(1.234)), "1.23");
        assert_eq!(f2(None), "na");
    }

    #[test]
    fn this_process_can_be_measured() {
        assert!(vm_rss_kib(std::process::id()).is_some_and(|kib| kib > 0));
        assert!(cpu_seconds("self").is_some());
        assert!(Servers::check(&[std::process::id()]).is_ok_and(|s| s.rss_kib().is_some()));
        assert_eq!(Servers::default().rss_kib(), None);
    }
}
