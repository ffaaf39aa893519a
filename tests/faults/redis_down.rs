//! Redis unreachable: killed (and started again on the same port and data, as an operator's
//! Redis restarts), or hung (SIGSTOP, then SIGCONT, as a Redis frozen by its machine).
//!
//! On a Redis Cluster the test starts a 3-master cluster of its own and does the same to all
//! three masters (the cluster named by `PALABRE_TEST_REDIS_CLUSTER_URL` is shared by the
//! other tests and is left alone).

use crate::client::{hello, Client, Hello, Raw};
use crate::procs::{Instance, RedisCluster, RedisServer};
use crate::storm::{verify, Plan, Room, Storm};
use crate::target::Target;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

on_each_redis!(
    when_redis_is_killed_commands_fail_fast_and_the_service_comes_back,
    when_redis_hangs_commands_fail_fast_and_the_service_comes_back,
);

/// How long a command, a `hello` or `/healthz` may take to be refused while Redis is out. The
/// store gives up on a connection attempt or an answer after 5 s; this leaves room for a
/// busy machine, and fails a server that waits on Redis without end.
const BOUND: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Outage {
    /// SIGKILL, then a new `redis-server` on the same port and append-only file.
    Killed,
    /// SIGSTOP, then SIGCONT.
    Hung,
}

enum OwnRedis {
    One(RedisServer),
    Cluster(RedisCluster),
}

impl OwnRedis {
    fn start(target: &Target) -> OwnRedis {
        match target {
            Target::Single => OwnRedis::One(RedisServer::start(true)),
            Target::Cluster(_) => OwnRedis::Cluster(RedisCluster::start()),
        }
    }

    fn url(&self) -> String {
        match self {
            OwnRedis::One(r) => r.url(),
            OwnRedis::Cluster(c) => c.url(),
        }
    }

    fn nodes(&mut self) -> Vec<&mut RedisServer> {
        match self {
            OwnRedis::One(r) => vec![r],
            OwnRedis::Cluster(c) => c.nodes.iter_mut().collect(),
        }
    }

    fn break_down(&mut self, outage: Outage) {
        for n in self.nodes() {
            match outage {
                Outage::Killed => n.kill(),
                Outage::Hung => n.freeze(),
            }
        }
    }

    fn mend(&mut self, outage: Outage) {
        for n in self.nodes() {
            match outage {
                Outage::Killed => n.restart(),
                Outage::Hung => n.thaw(),
            }
        }
        if let OwnRedis::Cluster(c) = self {
            c.wait_ok();
        }
    }
}

async fn when_redis_is_killed_commands_fail_fast_and_the_service_comes_back(target: Target) {
    outage(target, Outage::Killed).await
}

async fn when_redis_hangs_commands_fail_fast_and_the_service_comes_back(target: Target) {
    outage(target, Outage::Hung).await
}

/// What became of a command sent while Redis was out.
#[derive(Debug)]
enum Fate {
    /// Acknowledged: a false ack, since nothing could be stored.
    Acked(Value),
    /// Refused with an `error` frame naming it.
    Refused(Value),
    /// The socket was closed (with this code).
    Closed(Option<u16>),
    /// Nothing within [`BOUND`].
    Silent,
}

/// Reads `c`'s frames until the command `id` is answered or the socket closes.
async fn fate(c: &mut Client, id: &str) -> (Fate, Duration) {
    let started = Instant::now();
    loop {
        let left = BOUND.saturating_sub(started.elapsed());
        let fate = match c.raw(left).await {
            Raw::Frame(v) if v["type"] == "ack" && v["id"] == id => Fate::Acked(v),
            Raw::Frame(v) if v["type"] == "error" && v["id"] == id => Fate::Refused(v),
            Raw::Frame(_) => continue,
            Raw::Closed(code) => Fate::Closed(code),
            Raw::Silent => Fate::Silent,
        };
        return (fate, started.elapsed());
    }
}

/// A refusal that tells the client what happened: an `error` for the command with code
/// `unavailable` (the socket kept), or the close code 1011 ("store unavailable: reconnect and
/// send it again").
fn assert_clear(what: &str, fate: &Fate) {
    match fate {
        Fate::Refused(e) if e["code"] == "unavailable" => {}
        Fate::Closed(Some(1011)) => {}
        Fate::Acked(ack) => panic!("{what} while Redis is out was acknowledged: {ack}"),
        other => panic!("{what} while Redis is out: expected a refusal (`unavailable`, or close 1011), got {other:?}"),
    }
}

/// A refusal of a `hello` while Redis is out must say the same: close 1011.
fn assert_hello_refused(got: &Hello) {
    match got {
        Hello::Refused(_, Some(1011)) => {}
        Hello::Refused(e, code) => {
            panic!("a hello while Redis is out: refused with {e:?}, close {code:?} (expected 1011)")
        }
        Hello::Welcome(_, w) => panic!("a hello while Redis is out was welcomed: {w}"),
        Hello::Silent => panic!("a hello while Redis is out was not answered within {BOUND:?}"),
    }
}

/// Two instances; a storm (phones voting, asking and upvoting, the moderator approving, the
/// rapporteur noting) runs through the outage. While Redis is out, a command from each
/// instance (two phones asking for the floor, a moderator highlighting a question) must be
/// refused within [`BOUND`] and not acknowledged, as must a new `hello` and an HTTP request,
/// and `/healthz` must answer 503. Once Redis is back, `/healthz` answers 200 again, the
/// refused commands sent again with the same ids are acknowledged, the storm goes on, and
/// the store holds exactly what was acknowledged.
async fn outage(target: Target, outage: Outage) {
    let _one = crate::serial().await;
    let mut redis = OwnRedis::start(&target);
    let a = Instance::start("A", &redis.url()).await;
    let b = Instance::start("B", &redis.url()).await;
    let (room, moderator) = Room::open(&[&a, &b], 0).await;
    let mut on_a = Client::join("phone on A", &room.addrs, 0, room.phone_hello()).await;
    let mut on_b = Client::join("phone on B", &room.addrs, 1, room.phone_hello()).await;
    let mut chair = Client::join("moderator on B", &room.addrs, 1, room.moderator_hello()).await;
    let plan = Plan { commands: usize::MAX, window: 2, asks: 2, rate: 4.0 };
    let storm = Storm::start(&room, moderator, 20, plan, 0).await;
    storm.until(100).await;
    let acks_before = storm.acks();

    redis.break_down(outage);
    let broke = Instant::now();
    let floor = |name: &str| json!({"name": name, "organisation": "Commune de Tanger"});
    let on_a_cmd = on_a.submit("floor.request", floor("Awa")).await;
    let on_b_cmd = on_b.submit("floor.request", floor("Karim")).await;
    let chair_cmd = chair.submit("question.highlight", json!({"question": room.seeds[0]})).await;
    let http_get = async {
        let started = Instant::now();
        let res = a.http.get(a.url(&format!("/api/sessions/{}", room.id))).bearer_auth(&room.moderator_key).send();
        let res = tokio::time::timeout(BOUND, res)
            .await
            .expect("GET /api/sessions/{id} answered in time")
            .expect("an answer");
        let status = res.status().as_u16();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        (status, body, started.elapsed())
    };
    let new_hello = async {
        let started = Instant::now();
        let got = hello(b.addr, &room.phone_hello(), BOUND).await;
        (got, started.elapsed())
    };
    let (fate_a, fate_b, fate_chair, down_a, down_b, (http_status, http_body, http_took), (greeted, hello_took)) = tokio::join!(
        fate(&mut on_a, &on_a_cmd),
        fate(&mut on_b, &on_b_cmd),
        fate(&mut chair, &chair_cmd),
        a.health_becomes(503, BOUND),
        b.health_becomes(503, BOUND),
        http_get,
        new_hello,
    );
    assert_clear("a phone's command on A", &fate_a.0);
    assert_clear("a phone's command on B", &fate_b.0);
    assert_clear("the moderator's command on B", &fate_chair.0);
    assert_hello_refused(&greeted);
    assert_eq!(http_status, 503, "the HTTP API says the store is unavailable: {http_body}");
    assert_eq!(http_body["error"]["code"], "unavailable", "{http_body}");
    let acks_during = storm.acks() - acks_before;

    redis.mend(outage);
    let mended = Instant::now();
    let (up_a, up_b) =
        tokio::join!(a.health_becomes(200, Duration::from_secs(30)), b.health_becomes(200, Duration::from_secs(30)));

    // The refused commands, sent again with the same ids (on a new connection when the old one
    // was closed), are acknowledged; the storm goes on; everyone ends on the last seq.
    for c in [&mut on_a, &mut on_b, &mut chair] {
        if c.connected() {
            c.resend().await;
        }
    }
    on_a.wait_ack(&on_a_cmd).await;
    on_b.wait_ack(&on_b_cmd).await;
    chair.wait_ack(&chair_cmd).await;
    let back = mended.elapsed();
    storm.until(storm.acks() + 100).await;
    let out = storm.finish().await;
    let figures = verify(&room, &out, &a).await;
    for c in [&mut on_a, &mut on_b, &mut chair] {
        c.reach(out.last).await;
        assert!(c.anomalies.is_empty(), "{}: {:?}", c.name, c.anomalies);
        assert!(c.refused.is_empty(), "{}: {:?}", c.name, c.refused);
    }
    // The commands refused during the outage took effect once each.
    let Hello::Welcome(_, fresh) = hello(a.addr, &room.moderator_hello(), BOUND).await else {
        panic!("a moderator gets in after the outage")
    };
    let queue: Vec<&Value> =
        fresh["state"]["floor"]["queue"].as_array().expect("the list of speakers").iter().collect();
    let names: Vec<&str> = queue.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names.len(), 2, "two requests to speak, once each: {names:?}");
    assert!(names.contains(&"Awa") && names.contains(&"Karim"), "{names:?}");
    assert_eq!(fresh["state"]["highlighted"], room.seeds[0].as_str());

    let refused_phones = out.clients().filter(|c| c.closes.contains(&Some(1011))).count();
    let duplicates = a.metric("palabre_commands_total", &["result=\"duplicate\""]).await
        + b.metric("palabre_commands_total", &["result=\"duplicate\""]).await;
    let how = |f: &Fate| match f {
        Fate::Refused(e) => format!("error {}", e["code"]),
        Fate::Closed(code) => format!("close {code:?}"),
        other => format!("{other:?}"),
    };
    let hello_refusal = match &greeted {
        Hello::Refused(Some(e), code) => {
            format!("error {} \"{}\", close {code:?}", e["code"], e["message"].as_str().unwrap_or(""))
        }
        Hello::Refused(None, code) => format!("close {code:?}"),
        _ => String::new(),
    };
    println!(
        "Redis {} ({}, {}):\n  /healthz 503 after {down_a:?} (A) and {down_b:?} (B); commands refused in {:?}, {:?}, {:?} \
         ({}, {}, {}); a new hello refused in {hello_took:?} ({hello_refusal}); HTTP 503 `unavailable` in {http_took:?}; \
         {acks_during} storm commands acknowledged meanwhile, {refused_phones} storm clients closed with 1011\n  \
         mended after {:?}: /healthz 200 after {up_a:?} (A) and {up_b:?} (B); the refused commands acknowledged {back:?} \
         after; {duplicates} commands answered as already applied\n  storm: {figures}",
        match outage {
            Outage::Killed => "killed and restarted on its port and append-only file",
            Outage::Hung => "hung (SIGSTOP) and continued (SIGCONT)",
        },
        target.label(),
        match redis {
            OwnRedis::One(_) => "one redis-server",
            OwnRedis::Cluster(_) => "all three masters of a cluster of the test's own",
        },
        fate_a.1,
        fate_b.1,
        fate_chair.1,
        how(&fate_a.0),
        how(&fate_b.0),
        how(&fate_chair.0),
        mended - broke,
    );
}
