//! A room in full storm, spread over several instances, and the check that what the store holds
//! afterwards is exactly what the clients were acknowledged.
//!
//! The room: SOU 94 at its debate (questions open), four approved questions to upvote, a poll
//! open on the first resolution. The storm: phones casting and changing their votes, asking
//! questions and upvoting or withdrawing upvotes, each with a few commands in flight; the
//! moderator approving questions as they come; the rapporteur taking notes. Every client sends
//! again what was not acknowledged when its connection is lost ([`crate::client`]), so once
//! the storm settles every command was answered — acknowledged, or, for a ballot sent after the
//! poll closed, refused — and the store must hold each acknowledged one exactly once.

use crate::client::{hello, Client, Dice, Hello, Pacer, PATIENCE};
use crate::procs::Instance;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinHandle;

pub fn sou94() -> Value {
    serde_json::from_str(include_str!("../../fixtures/sou94.json")).expect("the fixture is JSON")
}

/// The agenda item of SOU 94 where questions open.
const DEBATE: u64 = 6;
const CHOICES: [&str; 3] = ["for", "against", "abstain"];
const ORDINALS: [&str; 3] = ["first", "second", "third"];
const TOPICS: [&str; 6] = ["roads", "schools", "clinics", "water", "markets", "registry"];

pub struct Room {
    pub id: String,
    pub code: String,
    pub moderator_key: String,
    pub rapporteur_key: String,
    pub addrs: Vec<SocketAddr>,
    /// Approved questions, to upvote.
    pub seeds: Vec<String>,
    pub poll: String,
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} is a string in {v}")).to_owned()
}

impl Room {
    /// Creates the session on the first instance and brings it to the storm's start; returns
    /// the room and its moderator, connected to `instances[moderator_at]`.
    pub async fn open(instances: &[&Instance], moderator_at: usize) -> (Arc<Room>, Client) {
        let created = instances[0].create(&sou94()).await;
        let addrs: Vec<SocketAddr> = instances.iter().map(|i| i.addr).collect();
        let mut room = Room {
            id: text(&created, "id"),
            code: text(&created, "code"),
            moderator_key: text(&created, "moderator_key"),
            rapporteur_key: text(&created, "rapporteur_key"),
            addrs,
            seeds: Vec::new(),
            poll: String::new(),
        };
        let mut moderator = Client::join("moderator", &room.addrs, moderator_at, room.moderator_hello()).await;
        moderator.call("agenda.goto", json!({"item": DEBATE})).await;
        for s in 0..2 {
            let mut seeder = Client::join(format!("seeder {s}"), &room.addrs, s, room.phone_hello()).await;
            for k in 0..2 {
                let topic = TOPICS[(2 * s + k) % TOPICS.len()];
                let asked = seeder.call("question.ask", json!({"text": format!("Who pays for the {topic}?")})).await;
                let q = text(&asked["question"], "id");
                moderator.call("question.approve", json!({"question": q})).await;
                room.seeds.push(q);
            }
            seeder.leave().await;
        }
        let opened = moderator.call("poll.open", json!({"draft": "d1"})).await;
        room.poll = text(&opened, "poll");
        (Arc::new(room), moderator)
    }

    pub fn phone_hello(&self) -> Value {
        json!({"type": "hello", "code": self.code})
    }

    pub fn moderator_hello(&self) -> Value {
        json!({"type": "hello", "session": self.id, "key": self.moderator_key})
    }

    pub fn rapporteur_hello(&self) -> Value {
        json!({"type": "hello", "session": self.id, "key": self.rapporteur_key})
    }
}

/// How each phone storms.
#[derive(Clone, Copy)]
pub struct Plan {
    /// Commands a phone sends at most (it stops earlier when the storm is stopped).
    pub commands: usize,
    /// Commands a phone has in flight at most.
    pub window: usize,
    /// Questions a phone asks at most (the rules allow 3 a minute).
    pub asks: usize,
    /// Commands a second a phone sends at most.
    pub rate: f64,
}

/// A phone's account of its storm.
pub struct Phone {
    pub client: Client,
    pub home: usize,
    /// Ballots sent: command id and choice, in order.
    pub casts: Vec<(String, &'static str)>,
    /// Questions asked: command id and text.
    pub asks: Vec<(String, String)>,
    /// Upvotes (true) and withdrawn upvotes (false) sent: command id, question.
    pub upvotes: Vec<(String, String, bool)>,
}

impl Phone {
    /// The choice the store must hold for this phone: its last acknowledged ballot (ballots
    /// sent after the poll closed are refused).
    pub fn choice(&self) -> Option<&'static str> {
        self.casts.iter().rev().find(|(id, _)| self.client.acked.contains_key(id)).map(|(_, c)| *c)
    }

    /// The questions this phone upvotes in the end.
    pub fn upvoted(&self) -> HashSet<String> {
        let mut set = HashSet::new();
        for (_, q, up) in &self.upvotes {
            if *up {
                set.insert(q.clone());
            } else {
                set.remove(q);
            }
        }
        set
    }
}

/// The signals a storm's clients share with the test.
#[derive(Clone)]
struct Signals {
    /// Commands of the phones answered so far (acknowledged, or refused as the rules say).
    answered: Arc<AtomicUsize>,
    heard: Arc<Notify>,
    /// The first thing a client was refused, or saw out of order: the storm is then wrong.
    failed: Arc<std::sync::Mutex<Option<String>>>,
    stop: watch::Receiver<bool>,
    /// The last `seq`, once the poll is closed: every client reads until it holds it.
    last: watch::Receiver<Option<u64>>,
}

impl Signals {
    fn stopping(&self) -> bool {
        *self.stop.borrow()
    }
}

pub struct Storm {
    room: Arc<Room>,
    signals: Signals,
    stop: watch::Sender<bool>,
    last: watch::Sender<Option<u64>>,
    settled: mpsc::UnboundedReceiver<()>,
    phones: Vec<JoinHandle<Phone>>,
    chair: JoinHandle<(Client, Vec<String>)>,
    scribe: JoinHandle<(Client, Vec<(String, String)>)>,
    /// Asks the moderator to close the poll now; the close's `seq` comes back.
    close: mpsc::UnboundedSender<tokio::sync::oneshot::Sender<u64>>,
    closed_at: Option<u64>,
    /// Phones that have stopped and had every command answered.
    done: usize,
    pub started: Instant,
}

/// Everything the storm's clients did, once it is over.
pub struct Outcome {
    pub phones: Vec<Phone>,
    pub moderator: Client,
    pub rapporteur: Client,
    /// Questions the moderator's approval of was acknowledged.
    pub approved: Vec<String>,
    /// Notes taken: command id and text, in order.
    pub notes: Vec<(String, String)>,
    /// The `seq` of the poll's close.
    pub closed_at: u64,
    /// The last `seq` of the session, once the storm settled.
    pub last: u64,
    pub took: Duration,
}

impl Outcome {
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.phones.iter().map(|p| &p.client).chain([&self.moderator, &self.rapporteur])
    }
}

impl Storm {
    /// Connects `phones` phones (phone `i` to instance `i % instances`), the rapporteur (to
    /// `scribe_at`), and starts them all with the moderator.
    pub async fn start(room: &Arc<Room>, moderator: Client, phones: usize, plan: Plan, scribe_at: usize) -> Storm {
        let (stop_tx, stop) = watch::channel(false);
        let (last_tx, last) = watch::channel(None);
        let (settled_tx, settled) = mpsc::unbounded_channel();
        let signals = Signals {
            answered: Arc::new(AtomicUsize::new(0)),
            heard: Arc::new(Notify::new()),
            failed: Arc::new(std::sync::Mutex::new(None)),
            stop,
            last,
        };
        let mut clients = Vec::new();
        for i in 0..phones {
            let home = i % room.addrs.len();
            clients.push((i, home, Client::join(format!("phone {i}"), &room.addrs, home, room.phone_hello()).await));
        }
        let rapporteur = Client::join("rapporteur", &room.addrs, scribe_at, room.rapporteur_hello()).await;
        let started = Instant::now();
        let phones = clients
            .into_iter()
            .map(|(i, home, c)| {
                tokio::spawn(phone(c, i, home, room.clone(), plan, signals.clone(), settled_tx.clone()))
            })
            .collect();
        let (close, close_rx) = mpsc::unbounded_channel();
        let chair = tokio::spawn(chair(moderator, room.poll.clone(), room.seeds.clone(), close_rx, signals.clone()));
        let scribe = tokio::spawn(scribe(rapporteur, signals.clone()));
        Storm {
            room: room.clone(),
            signals,
            stop: stop_tx,
            last: last_tx,
            settled,
            phones,
            chair,
            scribe,
            close,
            closed_at: None,
            done: 0,
            started,
        }
    }

    /// The moderator closes the poll now, while the storm goes on; returns the close's `seq`.
    /// Ballots sent after it are refused (`closed`), and the phones stop voting.
    pub async fn close_poll(&mut self) -> u64 {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.close.send(tx).expect("the moderator's task runs");
        let seq = tokio::time::timeout(PATIENCE, rx).await.expect("the poll closes in time").expect("the close's seq");
        self.closed_at = Some(seq);
        seq
    }

    /// Commands of the phones answered so far.
    pub fn acks(&self) -> usize {
        self.signals.answered.load(Ordering::Relaxed)
    }

    /// Waits until `n` commands of the phones have been answered in all.
    pub async fn until(&self, n: usize) {
        loop {
            let heard = self.signals.heard.notified();
            tokio::pin!(heard);
            heard.as_mut().enable();
            if let Some(why) = self.signals.failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                panic!("{why}");
            }
            if self.acks() >= n {
                return;
            }
            let more = tokio::time::timeout(PATIENCE, heard).await;
            assert!(more.is_ok(), "the storm stalled at {} answers, waiting for {n}", self.acks());
        }
    }

    /// Waits until every phone has sent all its plan's commands and had them answered.
    pub async fn plans_done(&mut self) {
        while self.done < self.phones.len() {
            let settled = tokio::time::timeout(PATIENCE * 3, self.settled.recv()).await;
            assert!(matches!(settled, Ok(Some(()))), "a phone's commands were never all answered");
            self.done += 1;
        }
    }

    /// Stops the storm, lets every command be acknowledged, closes the poll, and lets every
    /// client read up to the close.
    pub async fn finish(mut self) -> Outcome {
        let _ = self.stop.send(true);
        self.plans_done().await;
        if let Some(why) = self.signals.failed.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            panic!("{why}");
        }
        let (mut moderator, approved) = self.chair.await.expect("the moderator's task");
        let (mut rapporteur, notes) = self.scribe.await.expect("the rapporteur's task");
        let closed_at = match self.closed_at {
            Some(seq) => seq,
            None => moderator.call("poll.close", json!({"poll": self.room.poll})).await["seq"].as_u64().expect("seq"),
        };
        // Nothing changes the session now: its last seq is what a client arriving now is given.
        let Hello::Welcome(_, now) = hello(self.room.addrs[moderator.at], &self.room.moderator_hello(), PATIENCE).await
        else {
            panic!("a moderator gets in once the storm is over")
        };
        let last = now["seq"].as_u64().expect("seq");
        let _ = self.last.send(Some(last));
        let mut phones = Vec::new();
        for p in self.phones {
            phones.push(p.await.expect("a phone's task"));
        }
        moderator.reach(last).await;
        rapporteur.reach(last).await;
        Outcome { phones, moderator, rapporteur, approved, notes, closed_at, last, took: self.started.elapsed() }
    }
}

enum Step {
    Read,
    Send,
    Signal,
    /// The test asks the moderator to close the poll now.
    Close(tokio::sync::oneshot::Sender<u64>),
}

/// One phone: ballots, questions and upvotes at its pace until the storm stops or its plan is
/// done; then everything acknowledged; then reading until the last `seq`.
async fn phone(
    mut c: Client,
    i: usize,
    home: usize,
    room: Arc<Room>,
    plan: Plan,
    mut signals: Signals,
    settled: mpsc::UnboundedSender<()>,
) -> Phone {
    let mut dice = Dice::new(i as u64 + 1);
    let mut pacer = Pacer::new(plan.rate, 8.0);
    let (mut casts, mut asks, mut upvotes) = (Vec::new(), Vec::new(), Vec::new());
    let mut upvoted: HashSet<String> = HashSet::new();
    let mut sent = 0;
    // Set once a ballot is refused because the poll closed: the phone votes no more.
    let mut closed = false;
    loop {
        let stopping = signals.stopping() || sent >= plan.commands;
        if stopping {
            break;
        }
        let want = c.connected() && c.in_flight() < plan.window;
        let answered = c.acked.len() + c.refused.len();
        let step = tokio::select! {
            _ = c.next() => Step::Read,
            _ = pacer.take(), if want => Step::Send,
            _ = signals.stop.changed() => Step::Signal,
        };
        count_answers(&signals, c.acked.len() + c.refused.len() - answered);
        closed |= check(&signals, &c, &casts);
        if !matches!(step, Step::Send) {
            continue;
        }
        sent += 1;
        let roll = dice.roll(10);
        if roll < 2 && asks.len() < plan.asks {
            let k = asks.len();
            let topic = TOPICS[dice.roll(TOPICS.len())];
            let question = format!("Phone {i} asks a {} time: when will the {topic} reach the districts?", ORDINALS[k]);
            let id = c.submit("question.ask", json!({"text": question})).await;
            asks.push((id, question));
        } else if roll < 4 {
            let q = room.seeds[dice.roll(room.seeds.len())].clone();
            let up = !upvoted.contains(&q);
            let op = if up { "question.upvote" } else { "question.unvote" };
            let id = c.submit(op, json!({"question": q})).await;
            if up {
                upvoted.insert(q.clone());
            } else {
                upvoted.remove(&q);
            }
            upvotes.push((id, q, up));
        } else if !closed {
            let choice = CHOICES[dice.roll(CHOICES.len())];
            let id = c.submit("vote.cast", json!({"poll": room.poll, "choice": choice})).await;
            casts.push((id, choice));
        }
    }
    while c.in_flight() > 0 {
        let answered = c.acked.len() + c.refused.len();
        c.next().await;
        count_answers(&signals, c.acked.len() + c.refused.len() - answered);
        check(&signals, &c, &casts);
    }
    let _ = settled.send(());
    loop {
        let last = *signals.last.borrow();
        if last.is_some_and(|l| c.seq >= l) {
            break;
        }
        tokio::select! {
            _ = c.next() => {}
            _ = signals.last.changed() => {}
        }
    }
    Phone { client: c, home, casts, asks, upvotes }
}

/// Whether `e` refuses a ballot because the poll is closed: the one refusal a storm expects.
fn refused_as_closed(e: &Value, casts: &[(String, &'static str)]) -> bool {
    e["code"] == "closed" && casts.iter().any(|(id, _)| e["id"] == id.as_str())
}

/// Reports the first unexpected refusal or anomaly a storm client met, and wakes the test.
/// Returns whether a ballot was refused because the poll closed.
fn check(signals: &Signals, c: &Client, casts: &[(String, &'static str)]) -> bool {
    let unexpected = c.refused.values().find(|e| !refused_as_closed(e, casts));
    let why = match (unexpected, c.anomalies.first()) {
        (Some(e), _) => format!("{} was refused a command: {e}", c.name),
        (None, Some(a)) => format!("{}: {a}", c.name),
        (None, None) => return !c.refused.is_empty(),
    };
    signals.failed.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(why);
    signals.heard.notify_waiters();
    true
}

fn count_answers(signals: &Signals, n: usize) {
    if n > 0 {
        signals.answered.fetch_add(n, Ordering::Relaxed);
        signals.heard.notify_waiters();
    }
}

/// The moderator approves every question it hears of (but the seeds, approved already: their
/// `question.asked` may still be waiting to be read), at a moderator's pace, until the storm
/// stops; returns the questions whose approval was acknowledged.
async fn chair(
    mut m: Client,
    poll: String,
    seeds: Vec<String>,
    mut close: mpsc::UnboundedReceiver<tokio::sync::oneshot::Sender<u64>>,
    mut signals: Signals,
) -> (Client, Vec<String>) {
    let mut pacer = Pacer::new(6.0, 8.0);
    let mut known: HashSet<String> = seeds.into_iter().collect();
    let mut queue: VecDeque<String> = VecDeque::new();
    let mut approvals: Vec<(String, String)> = Vec::new();
    while !signals.stopping() {
        let want = m.connected() && !queue.is_empty() && m.in_flight() < 3;
        let step = tokio::select! {
            v = m.next() => {
                learn(&v, &mut known, &mut queue);
                Step::Read
            }
            _ = pacer.take(), if want => Step::Send,
            _ = signals.stop.changed() => Step::Signal,
            asked = close.recv() => match asked {
                Some(reply) => Step::Close(reply),
                None => Step::Signal,
            },
        };
        if let Step::Close(reply) = step {
            let closed = m.call("poll.close", json!({"poll": poll})).await;
            let _ = reply.send(closed["seq"].as_u64().expect("seq"));
            continue;
        }
        if matches!(step, Step::Send) {
            if let Some(q) = queue.pop_front() {
                let id = m.submit("question.approve", json!({"question": q})).await;
                approvals.push((id, q));
            }
        }
    }
    m.settle().await;
    let approved = approvals.into_iter().filter(|(id, _)| m.acked.contains_key(id)).map(|(_, q)| q).collect();
    (m, approved)
}

/// Pending questions the moderator hears of: asked events, and those a fresh state holds.
fn learn(v: &Value, known: &mut HashSet<String>, queue: &mut VecDeque<String>) {
    let mut found = Vec::new();
    if v["type"] == "event" && v["event"]["kind"] == "question.asked" {
        found.push(&v["event"]["question"]);
    }
    if v["type"] == "welcome" {
        found.extend(v["state"]["questions"].as_array().into_iter().flatten());
    }
    for q in found {
        if q["status"] == "pending" {
            if let Some(id) = q["id"].as_str() {
                if known.insert(id.to_owned()) {
                    queue.push_back(id.to_owned());
                }
            }
        }
    }
}

/// The rapporteur takes a note twice a second until the storm stops.
async fn scribe(mut r: Client, mut signals: Signals) -> (Client, Vec<(String, String)>) {
    let mut pacer = Pacer::new(2.0, 2.0);
    let mut notes = Vec::new();
    while !signals.stopping() {
        let want = r.connected() && r.in_flight() < 2;
        let step = tokio::select! {
            _ = r.next() => Step::Read,
            _ = pacer.take(), if want => Step::Send,
            _ = signals.stop.changed() => Step::Signal,
        };
        if matches!(step, Step::Send) {
            let note = format!("Note {}: the floor was given to delegation {}.", notes.len() + 1, notes.len() * 7 % 31);
            let id = r.submit("record.note", json!({"text": note})).await;
            notes.push((id, note));
        }
    }
    r.settle().await;
    (r, notes)
}

/// What a storm's figures were, for the test to print.
pub struct Figures {
    pub acks: usize,
    pub resent: usize,
    pub busy: usize,
    pub reconnections: usize,
    pub resyncs: usize,
    pub slowest_return: Duration,
    pub voters: usize,
    /// Ballots refused because the poll had closed.
    pub late_ballots: usize,
    pub questions: usize,
    pub notes: usize,
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} commands acknowledged, {} sent again after a lost connection, {} again after `busy`; \
             {} reconnections (slowest back in {:?}), {} resyncs by snapshot; {} voters",
            self.acks, self.resent, self.busy, self.reconnections, self.slowest_return, self.resyncs, self.voters
        )?;
        if self.late_ballots > 0 {
            write!(f, " ({} ballots refused, sent after the close)", self.late_ballots)?;
        }
        write!(f, ", {} questions asked, {} notes", self.questions, self.notes)
    }
}

/// The result `c` was acknowledged command `id` with.
fn acked<'a>(c: &'a Client, id: &str) -> &'a Value {
    c.acked.get(id).unwrap_or_else(|| panic!("{}: command {id} was sent and never acknowledged", c.name))
}

async fn get(at: &Instance, path: &str, key: Option<&str>) -> reqwest::Response {
    let mut req = at.http.get(at.url(path));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(res.status(), 200, "GET {path}");
    res
}

/// Checks that the store holds exactly what the clients were acknowledged, and that every
/// client ends on the last `seq` with the final tally. `at`: a live instance to ask.
pub async fn verify(room: &Room, out: &Outcome, at: &Instance) -> Figures {
    // Every client: nothing refused, nothing out of order, on the last seq with the result.
    let voters: Vec<&Phone> = out.phones.iter().filter(|p| p.choice().is_some()).collect();
    let mut expected: BTreeMap<&str, u64> = CHOICES.iter().map(|c| (*c, 0)).collect();
    for p in &voters {
        *expected.entry(p.choice().expect("a voter")).or_default() += 1;
    }
    let tally = json!({"counts": expected, "cast": voters.len()});
    for c in out.clients() {
        assert!(c.anomalies.is_empty(), "{}: {:?}", c.name, c.anomalies);
        let casts = out.phones.iter().find(|p| p.client.name == c.name).map_or(&[][..], |p| &p.casts[..]);
        let refused: Vec<&Value> = c.refused.values().filter(|e| !refused_as_closed(e, casts)).collect();
        assert!(refused.is_empty(), "{}: commands refused: {refused:?}", c.name);
        assert_eq!(c.in_flight(), 0, "{}: commands never acknowledged", c.name);
        assert_eq!(c.seq, out.last, "{} ends on the last seq", c.name);
    }
    for p in &out.phones {
        assert_eq!(p.client.polls.get(&room.poll), Some(&tally), "{} ends with the final tally", p.client.name);
        // A ballot is acknowledged before the close, or refused after it.
        for (id, _) in &p.casts {
            if let Some(ack) = p.client.acked.get(id) {
                let seq = ack["seq"].as_u64().expect("seq");
                assert!(
                    seq < out.closed_at,
                    "{}: a ballot acknowledged at {seq}, after the close at {}",
                    p.client.name,
                    out.closed_at
                );
            }
        }
    }

    // The state as a moderator arriving now sees it.
    let Hello::Welcome(ws, welcome) = hello(at.addr, &room.moderator_hello(), PATIENCE).await else {
        panic!("a moderator gets in on {}", at.name)
    };
    drop(ws);
    let state = &welcome["state"];
    assert_eq!(welcome["seq"], out.last, "the session ends where the clients do");
    let poll = state["polls"].as_array().and_then(|ps| ps.iter().find(|p| p["id"] == room.poll.as_str()));
    let poll = poll.expect("the poll is in the state");
    assert_eq!(poll["status"], "closed");
    assert_eq!(
        json!({"counts": poll["counts"], "cast": poll["cast"]}),
        tally,
        "the tally is the last ballot of each voter"
    );

    // Questions: the seeds and every acknowledged ask, once each, as asked; approved when the
    // moderator's approval was acknowledged; upvoted by exactly the phones whose last word on
    // it was an upvote.
    let questions: HashMap<String, &Value> = state["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| (q["id"].as_str().expect("id").to_owned(), q))
        .collect();
    let approved: HashSet<&String> = out.approved.iter().collect();
    let mut asked = 0;
    for p in &out.phones {
        for (id, question) in &p.asks {
            let qid = text(&acked(&p.client, id)["question"], "id");
            let q = questions
                .get(&qid)
                .unwrap_or_else(|| panic!("{}'s acknowledged question {qid} is kept", p.client.name));
            assert_eq!(q["text"], question.as_str());
            let status = if approved.contains(&qid) { "approved" } else { "pending" };
            assert_eq!(q["status"], status, "{qid}: {q}");
            assert_eq!(q["upvotes"], 0, "{qid}");
            asked += 1;
        }
    }
    assert_eq!(questions.len(), room.seeds.len() + asked, "no question but the seeds and the acknowledged asks");
    for s in &room.seeds {
        let upvoters = out.phones.iter().filter(|p| p.upvoted().contains(s)).count();
        assert_eq!(questions[s]["status"], "approved");
        assert_eq!(questions[s]["upvotes"], upvoters, "upvotes of {s}");
    }

    // Ballots: one receipt per voter, whatever number of times it changed its choice,
    // recording its last choice.
    let receipts: Value =
        get(at, &format!("/j/{}/polls/{}/receipts.json", room.code, room.poll), None).await.json().await.expect("json");
    let by_receipt: HashMap<String, String> = receipts["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .map(|r| (text(r, "receipt"), text(r, "choice")))
        .collect();
    assert_eq!(by_receipt.len(), voters.len(), "one ballot per voter");
    for p in &voters {
        let mine: HashSet<String> =
            p.casts.iter().filter_map(|(id, _)| p.client.acked.get(id)).map(|ack| text(ack, "receipt")).collect();
        assert_eq!(mine.len(), 1, "{}: one receipt for all its ballots", p.client.name);
        let r = mine.iter().next().expect("a receipt");
        assert_eq!(by_receipt.get(r).map(String::as_str), p.choice(), "{}'s ballot", p.client.name);
    }

    // Notes: each acknowledged note once, in order.
    let record: Value = get(at, &format!("/api/sessions/{}/record.json", room.id), Some(&room.rapporteur_key))
        .await
        .json()
        .await
        .expect("json");
    let kept: Vec<&str> =
        record["notes"].as_array().expect("notes").iter().map(|n| n["text"].as_str().expect("text")).collect();
    let taken: Vec<&str> = out.notes.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(kept, taken, "the notes are the acknowledged ones, each once, in order");

    // The audit trail: every seq once, in order; every question asked once.
    let trail = get(at, &format!("/api/sessions/{}/events.jsonl", room.id), Some(&room.moderator_key))
        .await
        .text()
        .await
        .expect("text");
    let mut asked_events: HashMap<String, usize> = HashMap::new();
    let mut seq = 0;
    for line in trail.lines() {
        let e: Value = serde_json::from_str(line).expect("a JSON line");
        seq += 1;
        assert_eq!(e["seq"], seq, "the audit trail holds every seq once, in order");
        if e["event"]["kind"] == "question.asked" {
            *asked_events.entry(text(&e["event"]["question"], "id")).or_default() += 1;
        }
    }
    assert_eq!(seq, out.last);
    assert!(asked_events.values().all(|n| *n == 1), "a question asked twice: {asked_events:?}");
    assert_eq!(asked_events.len(), room.seeds.len() + asked);

    let clients: Vec<&Client> = out.clients().collect();
    Figures {
        acks: clients.iter().map(|c| c.acked.len()).sum(),
        resent: clients.iter().map(|c| c.resent).sum(),
        busy: clients.iter().map(|c| c.busy).sum(),
        reconnections: clients.iter().map(|c| c.outages.len()).sum(),
        resyncs: clients.iter().map(|c| c.snapshots).sum(),
        slowest_return: clients
            .iter()
            .flat_map(|c| &c.outages)
            .map(|(lost, back)| *back - *lost)
            .max()
            .unwrap_or_default(),
        voters: voters.len(),
        late_ballots: out.phones.iter().map(|p| p.client.refused.len()).sum(),
        questions: asked,
        notes: out.notes.len(),
    }
}
