//! One of two instances killed (SIGKILL) in the middle of a vote storm and a question storm.

use crate::procs::Instance;
use crate::storm::{verify, Plan, Room, Storm};
use crate::target::Target;
use std::time::Instant;

on_each_redis!(an_instance_killed_mid_storm_loses_nothing_and_doubles_nothing);

/// Phones on both instances; the rapporteur on A, the moderator on B. When two fifths of the
/// phones' commands are answered, A is killed: its phones and the rapporteur get back in on B
/// and send again what A had not acknowledged (A may or may not have applied it: the same id
/// settles it). At seven tenths the moderator closes the poll while ballots still come. The
/// store must then hold exactly the acknowledged commands, each once: the tally is each
/// voter's last ballot acknowledged (before the close), and a ballot sent after the close is
/// refused.
async fn an_instance_killed_mid_storm_loses_nothing_and_doubles_nothing(target: Target) {
    let _one = crate::serial().await;
    let redis = target.redis();
    let mut a = Instance::start("A", &redis.url()).await;
    let b = Instance::start("B", &redis.url()).await;
    let (room, moderator) = Room::open(&[&a, &b], 1).await;
    let plan = Plan { commands: 24, window: 3, asks: 2, rate: 6.0 };
    let phones = 40;
    let mut storm = Storm::start(&room, moderator, phones, plan, 0).await;

    storm.until(phones * plan.commands * 2 / 5).await;
    let (at, started) = (storm.acks(), storm.started);
    a.kill();
    let killed = Instant::now();
    let duplicates_before = b.metric("palabre_commands_total", &["result=\"duplicate\""]).await;
    // The phones go on, A's through B; the moderator closes the poll while ballots still
    // come (some sent again after the kill); the phones go on to the end of their plans.
    storm.until(phones * plan.commands * 7 / 10).await;
    let closed_at = storm.close_poll().await;
    storm.plans_done().await;
    let out = storm.finish().await;
    let figures = verify(&room, &out, &b).await;

    // A's clients came back on B, once; B's never lost their connection.
    for p in &out.phones {
        let c = &p.client;
        if p.home == 0 {
            assert_eq!(c.outages.len(), 1, "{} got back in once", c.name);
            assert_eq!(c.at, 1, "{} is on B", c.name);
        } else {
            assert!(c.closes.is_empty(), "{} (on B) kept its connection: {:?}", c.name, c.closes);
        }
    }
    assert_eq!(out.rapporteur.outages.len(), 1, "the rapporteur got back in on B");
    assert!(out.moderator.closes.is_empty(), "the moderator (on B) kept its connection");
    let resent_by_a_clients: usize =
        out.phones.iter().filter(|p| p.home == 0).map(|p| p.client.resent).sum::<usize>() + out.rapporteur.resent;
    let duplicates = b.metric("palabre_commands_total", &["result=\"duplicate\""]).await - duplicates_before;
    println!(
        "instance killed ({}) after {at} acks, {:?} into the storm; {resent_by_a_clients} commands in flight on it were \
         sent again to B, {duplicates} of them already applied (answered as duplicates); the poll closed at seq \
         {closed_at} mid-storm; the storm took {:?}: {figures}",
        target.label(),
        killed - started,
        out.took,
    );
}
