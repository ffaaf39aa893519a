//! The contract fixture: one debate run through the server, recorded per viewer (the state
//! each was welcomed with, every frame it then received, and the state a fresh welcome gives
//! at the end), written to `target/contract-fixture.json`. The page client's test
//! (`tests/e2e/client.test.mjs`) folds the frames with `applyEvent` / `applyAck` /
//! `applyUpvotes` and must reach the same end state, so the client's copy of the rules cannot
//! drift from the server's.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::HashMap;

/// One connected viewer and what it received.
struct Recorder {
    name: &'static str,
    ws: Ws,
    hello: Value,
    before: Value,
    frames: Vec<Value>,
    /// Command id → op, so the fixture can say which command each ack answers.
    sent: HashMap<String, String>,
}

impl Recorder {
    async fn join(app: &TestApp, name: &'static str, hello: Value) -> Recorder {
        let mut ws = app.ws().await;
        ws.send(hello.clone()).await;
        let welcome = ws.recv().await;
        assert_eq!(welcome["type"], "welcome", "{welcome}");
        let mut hello = hello;
        if let Some(token) = welcome["participant"].as_str() {
            hello["participant"] = json!(token);
        }
        Recorder { name, ws, hello, before: welcome["state"].clone(), frames: vec![], sent: HashMap::new() }
    }

    fn keep(&mut self, mut frame: Value) {
        if frame["type"] == "presence" {
            return;
        }
        if frame["type"] == "ack" || frame["type"] == "error" {
            if let Some(op) = frame["id"].as_str().and_then(|id| self.sent.get(id)) {
                frame["op"] = json!(op);
            }
        }
        self.frames.push(frame);
    }

    /// Sends a command and records everything up to its answer, which must be an ack.
    async fn ok(&mut self, op: &str, fields: Value) -> Value {
        let id = self.ws.cmd(op, fields).await;
        self.sent.insert(id.clone(), op.to_owned());
        loop {
            let frame = self.ws.recv_any().await;
            let answer = frame["id"] == id.as_str();
            self.keep(frame.clone());
            if answer {
                assert_eq!(frame["type"], "ack", "{op}: {frame}");
                return frame["result"].clone();
            }
        }
    }

    fn last_seq(&self) -> u64 {
        let events = self.frames.iter().filter(|f| f["type"] == "event");
        events.filter_map(|f| f["seq"].as_u64()).max().unwrap_or_else(|| self.before["seq"].as_u64().unwrap_or(0))
    }

    /// The upvote counts this viewer holds: its welcome's, then the `upvotes` frames'.
    fn counts(&self) -> HashMap<String, u64> {
        let mut counts: HashMap<String, u64> = HashMap::new();
        for q in self.before["questions"].as_array().into_iter().flatten() {
            counts.insert(q["id"].as_str().unwrap_or_default().into(), q["upvotes"].as_u64().unwrap_or(0));
        }
        for f in self.frames.iter().filter(|f| f["type"] == "upvotes") {
            for (q, n) in f["counts"].as_object().into_iter().flatten() {
                counts.insert(q.clone(), n.as_u64().unwrap_or(0));
            }
        }
        counts
    }

    /// The `cast` of each poll as this viewer's `tally` frames left it.
    fn casts(&self) -> HashMap<String, u64> {
        let tallies = self.frames.iter().filter(|f| f["type"] == "tally");
        tallies.map(|f| (f["poll"].as_str().unwrap_or_default().to_owned(), f["cast"].as_u64().unwrap_or(0))).collect()
    }

    /// Reads until this viewer holds `seq`, the upvote counts and the polls' turnout of `after`.
    async fn settle(&mut self, seq: u64, after: &Value) {
        let settled = |r: &Recorder| {
            let counts = r.counts();
            let casts = r.casts();
            let polls_settled = after["polls"].as_array().into_iter().flatten().all(|p| {
                let cast = p["cast"].as_u64().unwrap_or(0);
                p["status"] == "closed" || cast == 0 || casts.get(p["id"].as_str().unwrap_or_default()) == Some(&cast)
            });
            r.last_seq() >= seq
                && polls_settled
                && after["questions"].as_array().into_iter().flatten().all(|q| {
                    let id = q["id"].as_str().unwrap_or_default();
                    counts.get(id).copied().unwrap_or(0) == q["upvotes"].as_u64().unwrap_or(0)
                })
        };
        while !settled(self) {
            let frame = self.ws.recv_any().await;
            self.keep(frame);
        }
    }

    fn question(&self, text: &str, after: &Value) -> Value {
        let all = after["questions"].as_array().cloned().unwrap_or_default();
        all.into_iter().find(|q| q["text"] == text).unwrap_or_else(|| panic!("{}: no question {text}", self.name))
    }
}

#[tokio::test]
async fn a_recorded_debate_is_written_for_the_page_clients_fold() {
    let app = TestApp::spawn(Backend::Memory).await;
    let created = app.create(&sou94()).await;
    let (id, code) = (created["id"].clone(), created["code"].clone());
    let moderator = json!({"type": "hello", "session": id, "key": created["moderator_key"]});
    let mut m = Recorder::join(&app, "moderator", moderator).await;
    let rapporteur = json!({"type": "hello", "session": id, "key": created["rapporteur_key"]});
    let mut r = Recorder::join(&app, "rapporteur", rapporteur).await;
    let s = Recorder::join(&app, "screen", json!({"type": "hello", "code": code, "role": "screen"})).await;
    let mut a = Recorder::join(&app, "asker", json!({"type": "hello", "code": code})).await;
    let mut b = Recorder::join(&app, "participant", json!({"type": "hello", "code": code})).await;

    m.ok("agenda.goto", json!({"item": 6})).await;
    let q1 = a.ok("question.ask", json!({"text": "Quel budget pour les communes ?", "name": "Awa"})).await;
    let q2 = a.ok("question.ask", json!({"text": "Who funds the regions? <img src=x onerror=alert(1)>"})).await;
    let q3 = b.ok("question.ask", json!({"text": "Quel budget pour les communes en 2026 ?"})).await;
    let q4 = b.ok("question.ask", json!({"text": "Et la sécurité ?"})).await;
    let [q1, q2, q3, q4] = [&q1, &q2, &q3, &q4].map(|r| r["question"]["id"].clone());
    for q in [&q1, &q2, &q4] {
        m.ok("question.approve", json!({"question": q})).await;
    }
    b.ok("question.upvote", json!({"question": q1})).await;
    b.ok("question.upvote", json!({"question": q2})).await;
    a.ok("question.upvote", json!({"question": q2})).await;
    a.ok("question.upvote", json!({"question": q4})).await;
    a.ok("question.unvote", json!({"question": q4})).await;
    m.ok("question.merge", json!({"question": q3, "into": q1})).await;
    m.ok("question.highlight", json!({"question": q1})).await;
    m.ok("question.answer", json!({"question": q1})).await;
    m.ok("question.highlight", json!({"question": q4})).await;
    m.ok("question.reject", json!({"question": q2})).await;
    let fa = a.ok("floor.request", json!({"name": "Awa Diop", "organisation": "AMM"})).await;
    let fb = b.ok("floor.request", json!({"name": "Moussa Traoré", "organisation": "ARM"})).await;
    m.ok("floor.move", json!({"request": fb["request"], "position": 0})).await;
    m.ok("floor.grant", json!({"request": fb["request"]})).await;
    m.ok("floor.grant", json!({"request": fa["request"]})).await;
    m.ok("floor.end", json!({})).await;
    b.ok("floor.request", json!({"name": "Moussa Traoré", "organisation": "ARM"})).await;
    m.ok("agenda.next", json!({})).await;
    m.ok("agenda.prev", json!({})).await;
    // The agenda changed live: an item inserted before the current one, one updated, one
    // moved, one removed.
    let inserted = json!({"title": {"en": "Word from the mayor of Gao", "fr": "Mot du maire de Gao"}, "kind": "other", "minutes": 5});
    m.ok("agenda.insert", json!({"at": 2, "item": inserted})).await;
    m.ok("agenda.update", json!({"item": "a8", "minutes": 40, "speakers": ["Bureau"]})).await;
    m.ok("agenda.insert", json!({"at": 9, "item": {"title": "Closing", "kind": "other"}})).await;
    m.ok("agenda.move", json!({"item": "a1", "to": 3})).await;
    m.ok("agenda.remove", json!({"item": 0})).await;
    let p1 = m.ok("poll.open", json!({"draft": "d1"})).await["poll"].clone();
    a.ok("vote.cast", json!({"poll": p1, "choice": "for"})).await;
    b.ok("vote.cast", json!({"poll": p1, "choice": "against"})).await;
    a.ok("vote.cast", json!({"poll": p1, "choice": "abstain"})).await;
    m.ok("poll.close", json!({"poll": p1})).await;
    m.ok("draft.adopt_by_consensus", json!({"draft": "d2"})).await;
    r.ok(
        "draft.edit",
        json!({"draft": "d4", "lang": "en", "text": "Associations should hold inter-community meetings every year."}),
    )
    .await;
    m.ok(
        "draft.edit",
        json!({"draft": "d4", "lang": "fr", "text": "Les associations tiennent chaque année des rencontres intercommunautaires."}),
    )
    .await;
    m.ok("draft.create", json!({"kind": "recommendation", "title": "Youth", "text": "Include youth councils."})).await;
    let youth = json!({"en": "Youth councils", "fr": "Conseils de jeunes"});
    r.ok("draft.create", json!({"kind": "recommendation", "title": youth, "text": {"fr": "Associer les jeunes."}}))
        .await;
    let note = r.ok("record.note", json!({"text": "Séance ouverte."})).await;
    let _ = note;
    r.ok("draft.withdraw", json!({"draft": "d5"})).await;
    let p2 = m.ok("poll.open", json!({"draft": "d3", "method": "two_thirds", "hidden": true})).await["poll"].clone();
    b.ok("vote.cast", json!({"poll": p2, "choice": "for"})).await;
    let last = m.ok("poll.cancel", json!({"poll": p2})).await["seq"].as_u64().expect("seq");

    let mut clients = Vec::new();
    for mut rec in [m, r, s, a, b] {
        let mut fresh = app.ws().await;
        fresh.send(rec.hello.clone()).await;
        let welcome = fresh.recv_type("welcome").await;
        let after = welcome["state"].clone();
        assert_eq!(after["seq"], last, "{}", rec.name);
        rec.settle(last, &after).await;
        clients.push((rec, after));
    }

    // What the record says, checked here so the fixture is known to be right.
    let (_, mod_after) = &clients[0];
    let answered = clients[0].0.question("Quel budget pour les communes ?", mod_after);
    assert_eq!((answered["status"].as_str(), answered["upvotes"].as_u64()), (Some("answered"), Some(1)));
    assert!(mod_after["questions"].as_array().expect("questions").iter().all(|q| q["id"] != q3), "merged: gone");
    assert_eq!(mod_after["highlighted"], q4);
    let (screen, screen_after) = &clients[2];
    let shown: Vec<&Value> = screen_after["questions"].as_array().expect("questions").iter().collect();
    assert_eq!(shown.iter().map(|q| &q["id"]).collect::<Vec<_>>(), [&q4], "{}: approved only", screen.name);
    let (asker, asker_after) = &clients[3];
    let rejected = asker.question("Who funds the regions? <img src=x onerror=alert(1)>", asker_after);
    assert_eq!((rejected["status"].as_str(), rejected["mine"].as_bool()), (Some("rejected"), Some(true)));
    let (other, other_after) = &clients[4];
    let merged = other.question("Quel budget pour les communes en 2026 ?", other_after);
    assert_eq!((merged["status"].as_str(), &merged["merged_into"]), (Some("merged"), &q1));
    assert_eq!(other_after["floor"]["queue"][0]["mine"], true);
    let closed = &mod_after["polls"].as_array().expect("polls").iter().find(|p| p["id"] == p1).expect("p1").clone();
    assert_eq!(
        (&closed["counts"], closed["outcome"].as_str()),
        (&json!({"for": 0, "against": 1, "abstain": 1}), Some("rejected"))
    );
    assert_eq!(mod_after["drafts"][1]["adopted_by"], "consensus");
    assert_eq!(asker_after["ballots"][p1.as_str().expect("id")]["choice"], "abstain");

    let fixture = json!({
        "about": "Written by tests/api/contract_fixture.rs; folded by tests/e2e/client.test.mjs.",
        "clients": clients.iter().map(|(rec, after)| json!({
            "name": rec.name, "role": after["role"], "before": rec.before, "frames": rec.frames, "after": after,
        })).collect::<Vec<_>>(),
    });
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("contract-fixture.json");
    std::fs::create_dir_all(path.parent().expect("dir")).expect("target dir");
    std::fs::write(&path, serde_json::to_string_pretty(&fixture).expect("json")).expect("write the fixture");
}
