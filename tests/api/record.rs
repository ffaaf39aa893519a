//! The record: built from a session as it ran, finalised with a digest that any change breaks,
//! exported only to those who keep it.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores! {
    a_finalised_record_holds_the_votes_and_notes_and_its_digest_proves_the_copy,
    the_record_is_finalised_only_after_the_end_and_then_nothing_changes,
    the_exports_are_the_moderators_and_the_rapporteurs_only,
    every_version_of_a_text_is_kept_and_the_vote_names_the_version_it_adopted,
}

async fn get(app: &TestApp, created: &Value, path: &str, key: Option<&Value>) -> reqwest::Response {
    let id = created["id"].as_str().expect("id");
    let mut req = app.http.get(app.url(&format!("/api/sessions/{id}/{path}")));
    if let Some(k) = key.and_then(Value::as_str) {
        req = req.bearer_auth(k);
    }
    req.send().await.expect("request")
}

async fn rapporteur(app: &TestApp, created: &Value) -> Ws {
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "session": created["id"], "key": created["rapporteur_key"]})).await;
    assert_eq!(ws.recv_type("welcome").await["role"], "rapporteur");
    ws
}

async fn ok(ws: &mut Ws, op: &str, fields: Value) -> Value {
    let reply = ws.call(op, fields).await;
    assert_eq!(reply["type"], "ack", "{op}: {reply}");
    reply["result"].clone()
}

async fn a_finalised_record_holds_the_votes_and_notes_and_its_digest_proves_the_copy(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let (mut p, _) = hello_participant(&app, &created["code"]).await;
    let mut r = rapporteur(&app, &created).await;
    ok(&mut m, "agenda.goto", json!({"item": 6})).await;
    let q = ok(&mut p, "question.ask", json!({"text": "Quel budget pour les communes ?"})).await;
    ok(&mut m, "question.approve", json!({"question": q["question"]["id"]})).await;
    let poll = ok(&mut m, "poll.open", json!({"draft": "d1"})).await["poll"].clone();
    ok(&mut p, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    ok(&mut m, "poll.close", json!({"poll": poll})).await;
    ok(&mut m, "draft.adopt_by_consensus", json!({"draft": "d2"})).await;
    ok(&mut r, "record.note", json!({"text": "Séance ouverte à 14 h 30 par le président de l'AMM."})).await;
    ok(&mut m, "agenda.next", json!({})).await;
    ok(&mut m, "session.end", json!({})).await;
    ok(&mut r, "record.finalise", json!({})).await;

    let rapporteur_key = created["rapporteur_key"].clone();
    let record: Value = get(&app, &created, "record.json", Some(&rapporteur_key)).await.json().await.expect("json");
    assert_eq!(record["format"], palabre::record::FORMAT);
    let digest = palabre::record::verify(&record).expect("the original verifies");
    assert_eq!(digest.len(), 64);
    let closed = &record["polls"][0];
    assert_eq!(
        (&closed["counts"], closed["outcome"].as_str()),
        (&json!({"for": 1, "against": 0, "abstain": 0}), Some("adopted"))
    );
    assert_eq!(record["drafts"][1]["adopted_by"], "consensus");
    assert_eq!(record["notes"][0]["text"], "Séance ouverte à 14 h 30 par le président de l'AMM.");
    assert_eq!(record["questions"][0]["text"], "Quel budget pour les communes ?");
    assert!(record["agenda"][6]["held"].as_array().is_some_and(|h| !h.is_empty()), "the debate was held");

    // One figure, one word, changed in a copy: the digest no longer matches.
    let mut forged = record.clone();
    forged["polls"][0]["counts"]["for"] = json!(2);
    assert!(palabre::record::verify(&forged).is_err());
    let mut reworded = record.clone();
    reworded["notes"][0]["text"] = json!("Séance ouverte à 14 h 35 par le président de l'AMM.");
    assert!(palabre::record::verify(&reworded).is_err());

    // Every export carries the digest.
    let md = get(&app, &created, "record.md", Some(&rapporteur_key)).await.text().await.expect("md");
    assert!(md.contains(&digest) && md.contains("Transfer of competences and resources"), "{md}");
    let csv = get(&app, &created, "results.csv", Some(&created["moderator_key"])).await.text().await.expect("csv");
    assert!(csv.lines().nth(1).is_some_and(|row| row.contains(&digest) && row.contains("adopted")), "{csv}");
    let trail = get(&app, &created, "events.jsonl", Some(&rapporteur_key)).await.text().await.expect("jsonl");
    let lines: Vec<Value> = trail.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    assert!(lines.windows(2).all(|w| w[1]["seq"].as_u64() == w[0]["seq"].as_u64().map(|s| s + 1)), "in seq order");
    assert!(lines.iter().all(|l| l["at"].is_i64() && l["role"].is_string()), "time and role on every line");
    assert!(!trail.contains("\"choice\""), "no ballot in the trail");
}

async fn the_record_is_finalised_only_after_the_end_and_then_nothing_changes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let mut r = rapporteur(&app, &created).await;
    ok(&mut m, "agenda.next", json!({})).await;
    let early = r.call("record.finalise", json!({})).await;
    assert_eq!((early["type"].as_str(), early["code"].as_str()), (Some("error"), Some("conflict")), "{early}");
    let refused = m.call("record.note", json!({"text": "x"})).await;
    assert_eq!(refused["code"], "forbidden", "notes are the rapporteur's");
    ok(&mut m, "session.end", json!({})).await;
    ok(&mut r, "record.note", json!({"text": "Clôture à 17 h 30."})).await;
    ok(&mut r, "record.finalise", json!({})).await;
    for op in ["record.note", "record.finalise"] {
        let late = r.call(op, json!({"text": "after"})).await;
        assert_eq!(late["code"], "closed", "{op}: {late}");
    }
    let late = m.call("agenda.prev", json!({})).await;
    assert_eq!(late["code"], "closed", "{late}");
}

async fn the_exports_are_the_moderators_and_the_rapporteurs_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    for path in ["record.json", "record.md", "results.csv", "events.jsonl"] {
        assert_eq!(get(&app, &created, path, None).await.status(), 401, "{path} without a key");
        assert_eq!(get(&app, &created, path, Some(&json!("not-a-key"))).await.status(), 401, "{path}, wrong key");
        for key in ["moderator_key", "rapporteur_key"] {
            assert_eq!(get(&app, &created, path, Some(&created[key])).await.status(), 200, "{path} with the {key}");
        }
    }
}

async fn every_version_of_a_text_is_kept_and_the_vote_names_the_version_it_adopted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let (mut p, _) = hello_participant(&app, &created["code"]).await;
    let mut r = rapporteur(&app, &created).await;
    ok(&mut m, "agenda.next", json!({})).await;

    let amended = "The participants call on the State to transfer competences and resources within two years.";
    ok(&mut r, "draft.edit", json!({"draft": "d1", "text": amended})).await;
    ok(&mut m, "draft.edit", json!({"draft": "d1", "text": format!("{amended} Each year.")})).await;
    assert_eq!(p.call("draft.edit", json!({"draft": "d1", "text": "x"})).await["code"], "forbidden");
    let same = r.call("draft.edit", json!({"draft": "d1", "text": format!("{amended} Each year.")})).await;
    assert_eq!(same["code"], "conflict", "unchanged: {same}");
    let lang = r.call("draft.edit", json!({"draft": "d1", "text": "Texte", "lang": "fr"})).await;
    assert_eq!(lang["code"], "invalid", "{lang}");

    let poll = ok(&mut m, "poll.open", json!({"draft": "d1"})).await["poll"].clone();
    let during = r.call("draft.edit", json!({"draft": "d1", "text": "changed during the vote"})).await;
    assert_eq!(during["code"], "conflict", "a text being voted on is not edited: {during}");
    ok(&mut p, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    ok(&mut m, "poll.close", json!({"poll": poll})).await;
    let after = r.call("draft.edit", json!({"draft": "d1", "text": "changed after adoption"})).await;
    assert_eq!(after["code"], "conflict", "{after}");

    let new = ok(
        &mut r,
        "draft.create",
        json!({"kind": "recommendation", "title": "Youth", "text": "Include youth councils."}),
    )
    .await;
    let _ = new;
    ok(&mut m, "draft.withdraw", json!({"draft": "d4"})).await;

    let rapporteur_key = created["rapporteur_key"].clone();
    let record: Value = get(&app, &created, "record.json", Some(&rapporteur_key)).await.json().await.expect("json");
    let d1 = &record["drafts"][0];
    assert_eq!((d1["version"].as_u64(), d1["status"].as_str()), (Some(3), Some("adopted")));
    assert_eq!(d1["versions"].as_array().map(Vec::len), Some(3), "every version kept: {d1}");
    assert_eq!(d1["versions"][1]["role"], "rapporteur");
    assert_eq!(d1["versions"][2]["role"], "moderator");
    assert_eq!(record["polls"][0]["version"], 3, "the vote names the version it adopted");
    assert_eq!(record["drafts"][3]["status"], "withdrawn");
    let created_draft = record["drafts"].as_array().expect("drafts").iter().find(|d| d["title"] == "Youth").cloned();
    assert_eq!(created_draft.map(|d| d["text"].clone()), Some(json!("Include youth councils.")));

    // Participants read the current wording, not the history.
    let (_, welcome) = hello_participant(&app, &created["code"]).await;
    assert_eq!(welcome["state"]["drafts"][0]["text"], format!("{amended} Each year."));
    assert!(welcome["state"]["drafts"][0].get("versions").is_none());
}
