//! Several instances on one Redis: one room, whichever instance each client reaches; an
//! instance that dies loses nothing.

use crate::helpers::*;
use palabre::domain::{Actor, AgendaCommand, Command, Role};
use serde_json::json;

#[tokio::test]
async fn a_command_on_one_instance_reaches_a_client_on_another() {
    let a = TestApp::spawn(Backend::Redis).await;
    let b = TestApp::spawn(Backend::Redis).await;
    let created = a.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&a, &created).await;
    let (mut participant, welcome) = hello_participant(&b, &created["code"]).await;
    assert_eq!(welcome["state"]["title"], sou94()["title"]);
    assert_eq!(moderator.call("agenda.next", json!({})).await["type"], "ack");
    assert_eq!(participant.event().await["seq"], 1);
    assert_eq!(participant.event().await["event"]["current"], 0);
    // And back: the moderator on B, a screen on A.
    let (mut moderator_b, _) = hello_moderator(&b, &created).await;
    let mut screen = a.ws().await;
    screen.send(json!({"type": "hello", "code": created["code"], "role": "screen"})).await;
    assert_eq!(screen.recv().await["seq"], 2);
    assert_eq!(moderator_b.call("agenda.next", json!({})).await["type"], "ack");
    assert_eq!(screen.event().await["event"]["current"], 1);
    assert_eq!(participant.event().await["event"]["current"], 1);
}

#[tokio::test]
async fn commands_racing_on_two_instances_are_all_applied_in_one_order() {
    let a = TestApp::spawn(Backend::Redis).await;
    let b = TestApp::spawn(Backend::Redis).await;
    let mut definition = sou94();
    definition["agenda"] = json!((0..60).map(|i| json!({"title": format!("Item {i}")})).collect::<Vec<_>>());
    let created = a.create(&definition).await;
    let (mut watcher, _) = hello_participant(&b, &created["code"]).await;
    let mut tasks = Vec::new();
    for app in [&a, &b] {
        for _ in 0..2 {
            let (mut m, _) = hello_moderator(app, &created).await;
            tasks.push(tokio::spawn(async move {
                for _ in 0..10 {
                    let reply = m.call("agenda.next", json!({})).await;
                    assert_eq!(reply["type"], "ack", "{reply}");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("moderator task");
    }
    // 40 moves and the start: seq 1..=41 arrive in order, none missing, none twice.
    for expected in 1..=41u64 {
        assert_eq!(watcher.event().await["seq"], expected);
    }
    let (_late, welcome) = hello_participant(&a, &created["code"]).await;
    assert_eq!(welcome["seq"], 41);
    assert_eq!(welcome["state"]["agenda"]["current"], 39);
}

#[tokio::test]
async fn an_instance_that_dies_loses_nothing() {
    let a = TestApp::spawn(Backend::Redis).await;
    let created = a.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&a, &created).await;
    for _ in 0..3 {
        assert_eq!(moderator.call("agenda.next", json!({})).await["type"], "ack");
    }
    let (_p, welcome) = hello_participant(&a, &created["code"]).await;
    let token = welcome["participant"].clone();
    a.kill();
    let b = TestApp::spawn(Backend::Redis).await;
    let (mut moderator, welcome) = hello_moderator(&b, &created).await;
    assert_eq!(welcome["seq"], 4);
    assert_eq!(welcome["state"]["agenda"]["current"], 2);
    assert_eq!(welcome["state"]["phase"], "running");
    assert_eq!(moderator.call("agenda.next", json!({})).await["result"]["seq"], 5);
    let mut p = b.ws().await;
    p.send(json!({"type": "hello", "code": created["code"], "participant": token, "since": 2})).await;
    let w = p.recv().await;
    assert_eq!(w["participant"], token, "the participant keeps its identity across instances");
    assert_eq!(p.event().await["seq"], 3);
}

#[tokio::test]
async fn a_hub_that_lost_its_feed_catches_up_after_resubscribing() {
    let a = TestApp::spawn(Backend::Redis).await;
    let b = TestApp::spawn(Backend::Redis).await;
    let created = a.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&a, &created).await;
    let (mut participant, _) = hello_participant(&b, &created["code"]).await;
    // Cut every pub/sub connection on the Redis (on each node of a cluster): both instances
    // lose their feed for a moment.
    let url = redis_url();
    for node in palabre::store::redis::cluster_nodes(&url).unwrap_or_else(|| vec![url.clone()]) {
        let client = redis::Client::open(node).expect("url");
        let mut conn = client.get_multiplexed_async_connection().await.expect("redis");
        let _: i64 =
            redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut conn).await.expect("kill");
    }
    for _ in 0..3 {
        assert_eq!(moderator.call("agenda.next", json!({})).await["type"], "ack");
    }
    // Whether the events came live or by the gap check, the participant ends at seq 4 in order
    // (or with a fresh snapshot at 4).
    participant.follow(0, 4).await;
}

/// Polls `/healthz` until it answers `status`: the store's reconnection has no event to wait on.
async fn health_becomes(app: &TestApp, status: u16) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let got = app.http.get(app.url("/healthz")).send().await.expect("healthz").status();
        if got == status {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "healthz stayed {got}, expected {status}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn when_redis_dies_and_restarts_nothing_is_lost_and_clients_resume() {
    let mut redis = OwnRedis::start();
    let app = TestApp::spawn_on(Some(redis.url()), Default::default()).await;
    let created = app.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&app, &created).await;
    assert_eq!(moderator.call("agenda.next", json!({})).await["type"], "ack");
    let (mut participant, _) = hello_participant(&app, &created["code"]).await;

    redis.kill();
    health_becomes(&app, 503).await;
    // A command that cannot be stored is not acknowledged: the socket closes with 1011 so the
    // page reconnects and sends it again.
    let id = moderator.cmd("agenda.next", json!({})).await;
    assert_eq!(moderator.closed().await, Some(1011));

    redis.restart();
    health_becomes(&app, 200).await;
    let (mut moderator, welcome) = hello_moderator(&app, &created).await;
    assert_eq!(welcome["seq"], 2, "what was acknowledged before the crash is still there");
    moderator.cmd_with_id(&id, "agenda.next", json!({})).await;
    assert_eq!(moderator.reply_to(&id).await["result"]["seq"], 3);
    // The participant that stayed connected hears it: the feed resubscribed and caught up.
    participant.follow(2, 3).await;
}

#[tokio::test]
async fn a_phone_that_stops_reading_is_sent_a_fresh_snapshot_not_left_behind() {
    let app = TestApp::spawn(Backend::Redis).await;
    let created = app.create(&sou94()).await;
    let id = created["id"].as_str().expect("id").to_owned();
    // A phone on a bad link: a tiny receive window, and it reads nothing for a while.
    let mut slow = Ws::connect_slow(app.addr).await;
    slow.send(json!({"type": "hello", "code": created["code"]})).await;
    assert_eq!(slow.recv().await["type"], "welcome");
    // Far more events than the hub keeps and the socket buffers hold, applied through the
    // store by another "instance".
    let store = store(Backend::Redis).await;
    let moderator = &Actor::new(Role::Moderator);
    let mut last = 0;
    for i in 0..3000 {
        let command =
            if i % 2 == 0 { Command::Agenda(AgendaCommand::QaOpen) } else { Command::Agenda(AgendaCommand::QaClose) };
        let applied = store.apply(&id, &uuid::Uuid::new_v4().to_string(), moderator, &command, 0).await.expect("apply");
        last = applied.seq();
    }
    // Now it reads: it must reach the last seq, by a snapshot somewhere along the way.
    let snapshots = slow.follow(0, last).await;
    assert!(snapshots >= 1, "the socket fell behind the hub and was resynced");
}
