//! Limits per client address. A venue's Wi-Fi often puts the whole room behind one address (a
//! NAT), so the defaults let 2,000 phones in at once through one address; they stop one
//! machine from holding thousands of sockets open, opening them faster than a room ever does,
//! or trying keys and voting codes by the thousand.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

/// Sockets one address may hold open at once, by default.
pub const SOCKETS_PER_IP: usize = 5_000;
/// Sockets one address may open per second, by default (sustained)…
pub const OPENS_PER_IP: u32 = 200;
/// …and at once, after a quiet spell (a whole room reconnecting after the Wi-Fi came back).
pub const OPENS_BURST: u32 = 2_500;
/// Wrong keys and voting codes one address may present per minute (bursts of twice that).
pub const FAILURES_PER_MINUTE: u32 = 120;
/// How long an address that tried too many is turned away.
pub const BLOCK_SECONDS: u64 = 60;

/// What the limits are set to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    pub sockets_per_ip: usize,
    pub opens_per_ip: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self { sockets_per_ip: SOCKETS_PER_IP, opens_per_ip: OPENS_PER_IP }
    }
}

/// Why a client is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// This address holds as many sockets as it may.
    TooMany,
    /// This address opens sockets too fast.
    TooFast,
}

pub struct IpLimits {
    settings: Settings,
    open: Mutex<HashMap<IpAddr, usize>>,
    opens: DefaultKeyedRateLimiter<IpAddr>,
    failures: DefaultKeyedRateLimiter<IpAddr>,
    blocked: Mutex<HashMap<IpAddr, std::time::Instant>>,
}

/// One socket counted against its address while it lives.
pub struct Slot {
    limits: Arc<IpLimits>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.limits.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

impl IpLimits {
    pub fn new(settings: Settings) -> Arc<Self> {
        let opens = Quota::per_second(nonzero(settings.opens_per_ip))
            .allow_burst(nonzero(OPENS_BURST.max(settings.opens_per_ip)));
        let failures = Quota::per_minute(nonzero(FAILURES_PER_MINUTE)).allow_burst(nonzero(FAILURES_PER_MINUTE * 2));
        Arc::new(Self {
            settings,
            open: Mutex::new(HashMap::new()),
            opens: RateLimiter::keyed(opens),
            failures: RateLimiter::keyed(failures),
            blocked: Mutex::new(HashMap::new()),
        })
    }

    /// Counts a new socket from `ip`, or says why not.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Slot, Refused> {
        if self.opens.check_key(&ip).is_err() {
            return Err(Refused::TooFast);
        }
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.settings.sockets_per_ip {
            return Err(Refused::TooMany);
        }
        *n += 1;
        drop(open);
        if self.opens.len() > 100_000 {
            self.opens.retain_recent();
        }
        Ok(Slot { limits: self.clone(), ip })
    }

    /// Records a wrong key or voting code from `ip`; false (and the address blocked for a
    /// while) once it has tried too many.
    pub fn failed(&self, ip: IpAddr) -> bool {
        if self.failures.len() > 100_000 {
            self.failures.retain_recent();
        }
        let ok = self.failures.check_key(&ip).is_ok();
        if !ok {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(BLOCK_SECONDS);
            self.blocked.lock().unwrap_or_else(|p| p.into_inner()).insert(ip, until);
        }
        ok
    }

    /// Whether `ip` tried too many wrong keys or codes lately: it is then turned away before
    /// anything it sends is checked, for [`BLOCK_SECONDS`].
    pub fn blocked(&self, ip: IpAddr) -> bool {
        let mut blocked = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        match blocked.get(&ip) {
            Some(until) if *until > std::time::Instant::now() => true,
            Some(_) => {
                blocked.remove(&ip);
                false
            }
            None => false,
        }
    }

    /// Sockets open from `ip` now.
    pub fn open(&self, ip: IpAddr) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).get(&ip).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_holds_at_most_its_sockets_and_frees_them_on_close() {
        let limits = IpLimits::new(Settings { sockets_per_ip: 2, opens_per_ip: 1000 });
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let a = limits.admit(ip).expect("first");
        let _b = limits.admit(ip).expect("second");
        assert_eq!(limits.admit(ip).err(), Some(Refused::TooMany));
        assert!(limits.admit("10.0.0.2".parse().expect("ip")).is_ok(), "another address is not affected");
        drop(a);
        assert_eq!(limits.open(ip), 1);
        assert!(limits.admit(ip).is_ok());
    }

    #[test]
    fn a_room_behind_one_address_gets_in_at_once_but_a_flood_does_not() {
        let limits = IpLimits::new(Settings { sockets_per_ip: 100_000, opens_per_ip: 200 });
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let slots: Vec<_> = (0..2_000).map(|_| limits.admit(ip).expect("a room of 2,000 phones")).collect();
        let refused = (0..1_000).filter(|_| limits.admit(ip).err() == Some(Refused::TooFast)).count();
        assert!(refused > 0, "opening thousands more at once is refused");
        drop(slots);
    }

    #[test]
    fn wrong_attempts_are_counted_per_address() {
        let limits = IpLimits::new(Settings::default());
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        let allowed = (0..1_000).take_while(|_| limits.failed(ip)).count();
        assert_eq!(allowed, (FAILURES_PER_MINUTE * 2) as usize);
        assert!(limits.blocked(ip), "the one too many turns the address away for a while");
        assert!(!limits.failed(ip));
        assert!(limits.failed("10.0.0.2".parse().expect("ip")));
        assert!(!limits.blocked("10.0.0.2".parse().expect("ip")));
    }
}
