//! A rolling restart (SIGTERM one instance, start it again, then the other) during a vote.

use crate::client::Client;
use crate::procs::Instance;
use crate::storm::{verify, Plan, Room, Storm};
use crate::target::Target;
use std::time::Duration;

on_each_redis!(a_rolling_restart_mid_vote_loses_nothing, a_stopped_instance_leaves_no_phantom_sockets_in_presence);

/// The moderator on A, the rapporteur on B, phones on both, storming without end. A is
/// stopped (SIGTERM) and started again on its address, then B; the storm goes on a while after
/// each. Every client was told to go away (1001), got back in on the other instance and sent
/// again what was not acknowledged; in the end nothing is lost and every client ends on the
/// last `seq` with the final tally.
async fn a_rolling_restart_mid_vote_loses_nothing(target: Target) {
    let _one = crate::serial().await;
    let redis = target.redis();
    let mut a = Instance::start("A", &redis.url()).await;
    let mut b = Instance::start("B", &redis.url()).await;
    let (room, moderator) = Room::open(&[&a, &b], 0).await;
    let plan = Plan { commands: usize::MAX, window: 2, asks: 3, rate: 5.0 };
    let phones = 40;
    let storm = Storm::start(&room, moderator, phones, plan, 1).await;
    let step = 150;

    storm.until(step).await;
    let mut figures = Vec::new();
    for instance in [&mut a, &mut b] {
        let acks = storm.acks();
        let stopped = instance.terminate().await;
        instance.restart().await;
        let healthy = instance.health_becomes(200, Duration::from_secs(20)).await;
        figures.push(format!(
            "{} stopped in {stopped:?}, healthy again {healthy:?} after its restart at {acks} acks",
            instance.name
        ));
        storm.until(storm.acks() + step).await;
    }
    let out = storm.finish().await;
    let verified = verify(&room, &out, &a).await;

    // Every client was on a restarted instance at some point: each was told to go away with
    // 1001, never cut off, and got back in.
    for c in out.clients() {
        assert!(!c.closes.is_empty(), "{} was on a restarted instance", c.name);
        assert!(c.closes.iter().all(|code| *code == Some(1001)), "{} was told to go away: {:?}", c.name, c.closes);
        assert_eq!(c.outages.len(), c.closes.len(), "{} got back in each time", c.name);
    }
    println!("rolling restart ({}): {}; the storm took {:?}: {verified}", target.label(), figures.join("; "), out.took);
}

/// How long presence may take to count the sockets as they are: it is reported within a second
/// of a change and refreshed every 10 s, so this leaves a margin over one refresh.
const PRESENCE_SETTLES: Duration = Duration::from_secs(15);

/// Reads `c`'s frames until a `presence` frame counts `sockets`; returns the counts seen on the
/// way. Fails after `within`.
async fn presence_reaches(c: &mut Client, sockets: u64, within: Duration) -> Vec<u64> {
    let started = std::time::Instant::now();
    let mut seen = Vec::new();
    loop {
        let v = c.next().await;
        if v["type"] == "presence" {
            let n = v["connected"].as_u64().expect("presence.connected");
            if seen.last() != Some(&n) {
                seen.push(n);
            }
            if n == sockets {
                return seen;
            }
        }
        assert!(
            started.elapsed() < within,
            "presence still counted {seen:?} sockets {within:?} on, where there are {sockets}",
        );
    }
}

/// Ten phones on A, the moderator on B. A is stopped (SIGTERM): its phones move to B. The
/// presence every client is sent must then count the sockets there are, not also the ones A
/// reported before it stopped.
async fn a_stopped_instance_leaves_no_phantom_sockets_in_presence(target: Target) {
    let _one = crate::serial().await;
    let redis = target.redis();
    let mut a = Instance::start("A", &redis.url()).await;
    let b = Instance::start("B", &redis.url()).await;
    let (room, mut moderator) = Room::open(&[&a, &b], 1).await;
    let mut phones = Vec::new();
    for i in 0..10 {
        phones.push(Client::join(format!("phone {i}"), &room.addrs, 0, room.phone_hello()).await);
    }
    let sockets = phones.len() as u64 + 1;
    // A has reported its phones: the moderator, on B, is told of them.
    let before = presence_reaches(&mut moderator, sockets, PRESENCE_SETTLES).await;
    let stopped = a.terminate().await;
    for p in &mut phones {
        while p.outages.is_empty() {
            p.next().await;
        }
        assert_eq!(p.at, 1, "{} moved to B", p.name);
    }
    let moved = std::time::Instant::now();
    let after = presence_reaches(&mut moderator, sockets, PRESENCE_SETTLES).await;
    println!(
        "presence ({}): {sockets} sockets; counted {before:?} before A stopped (in {stopped:?}), then {after:?}, \
         right {:?} after its phones were back on B",
        target.label(),
        moved.elapsed()
    );
}
