//! The record: built from a session as it ran, finalised with a digest that any change breaks,
//! exported only to those who keep it.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores! {
    a_finalised_record_holds_the_votes_and_notes_and_its_digest_proves_the_copy,
    the_record_is_finalised_only_after_the_end_and_then_nothing_changes,
    the_exports_are_the_moderators_and_the_rapporteurs_only,
    every_version_of_a_text_is_kept_and_the_vote_names_the_version_it_adopted,
    a_plain_text_edited_in_one_language_becomes_texts_by_language,
    notes_are_edited_and_deleted_until_the_record_is_final,
    the_records_figures_are_those_of_the_trail_and_the_receipts,
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
    let amende = "Les participants appellent l'État à transférer compétences et ressources d'ici deux ans.";
    let before = ok(&mut r, "draft.edit", json!({"draft": "d1", "text": amended, "lang": "en"})).await;
    let _ = before;
    ok(&mut m, "draft.edit", json!({"draft": "d1", "text": amende, "lang": "fr"})).await;
    assert_eq!(p.call("draft.edit", json!({"draft": "d1", "text": "x", "lang": "en"})).await["code"], "forbidden");
    let same = r.call("draft.edit", json!({"draft": "d1", "text": amende, "lang": "fr"})).await;
    assert_eq!(same["code"], "conflict", "unchanged: {same}");
    let which = r.call("draft.edit", json!({"draft": "d1", "text": "Texte"})).await;
    assert_eq!(which["code"], "invalid", "a text by language needs lang: {which}");
    let foreign = r.call("draft.edit", json!({"draft": "d1", "text": "Text", "lang": "de"})).await;
    assert_eq!(foreign["code"], "invalid", "not a session language: {foreign}");

    let poll = ok(&mut m, "poll.open", json!({"draft": "d1"})).await["poll"].clone();
    let during = r.call("draft.edit", json!({"draft": "d1", "text": "changed during the vote", "lang": "en"})).await;
    assert_eq!(during["code"], "conflict", "a text being voted on is not edited: {during}");
    ok(&mut p, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    ok(&mut m, "poll.close", json!({"poll": poll})).await;
    let after = r.call("draft.edit", json!({"draft": "d1", "text": "changed after adoption", "lang": "en"})).await;
    assert_eq!(after["code"], "conflict", "{after}");

    let youth = json!({"en": "Youth", "fr": "Jeunesse"});
    let new = ok(
        &mut r,
        "draft.create",
        json!({"kind": "recommendation", "title": youth, "text": {"en": "Include youth councils."}}),
    )
    .await;
    assert!(new["draft"].as_str().is_some_and(|d| d.starts_with('d')), "the ack names the new draft: {new}");
    let german =
        r.call("draft.create", json!({"kind": "recommendation", "title": {"de": "Jugend"}, "text": "x"})).await;
    assert_eq!(german["code"], "invalid", "{german}");
    ok(&mut m, "draft.withdraw", json!({"draft": "d4"})).await;

    let rapporteur_key = created["rapporteur_key"].clone();
    let record: Value = get(&app, &created, "record.json", Some(&rapporteur_key)).await.json().await.expect("json");
    let d1 = &record["drafts"][0];
    assert_eq!((d1["version"].as_u64(), d1["status"].as_str()), (Some(3), Some("adopted")));
    assert_eq!(d1["versions"].as_array().map(Vec::len), Some(3), "every version kept: {d1}");
    assert_eq!((&d1["versions"][1]["role"], &d1["versions"][1]["lang"]), (&json!("rapporteur"), &json!("en")));
    assert_eq!((&d1["versions"][2]["role"], &d1["versions"][2]["lang"]), (&json!("moderator"), &json!("fr")));
    assert_eq!(d1["versions"][2]["text"], json!({"en": amended, "fr": amende}), "each version is the whole text");
    assert_eq!(d1["versions"][1]["text"]["fr"], d1["versions"][0]["text"]["fr"], "the other language kept");
    assert_eq!(record["polls"][0]["version"], 3, "the vote names the version it adopted");
    assert_eq!(record["drafts"][3]["status"], "withdrawn");
    let created_draft = record["drafts"].as_array().expect("drafts").iter().find(|d| d["id"] == new["draft"]).cloned();
    assert_eq!(
        created_draft.map(|d| (d["title"].clone(), d["text"].clone())),
        Some((youth, json!({"en": "Include youth councils."}))),
        "views carry what was given"
    );

    // Participants read the current wording, not the history.
    let (_, welcome) = hello_participant(&app, &created["code"]).await;
    assert_eq!(welcome["state"]["drafts"][0]["text"], json!({"en": amended, "fr": amende}));
    assert!(welcome["state"]["drafts"][0].get("versions").is_none());
}

async fn a_plain_text_edited_in_one_language_becomes_texts_by_language(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut def = sou94();
    def["drafts"][0]["text"] = json!("The participants call for resources.");
    let created = app.create(&def).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let mut r = rapporteur(&app, &created).await;
    ok(&mut m, "agenda.next", json!({})).await;
    ok(
        &mut r,
        "draft.edit",
        json!({"draft": "d1", "text": "Les participants demandent des ressources.", "lang": "fr"}),
    )
    .await;
    let edited = m.event_of("draft.edited").await;
    assert_eq!(
        edited["event"]["text"],
        json!({"en": "The participants call for resources.", "fr": "Les participants demandent des ressources."}),
        "the plain text counts as the first language: {edited}"
    );
    assert_eq!(edited["event"]["lang"], "fr");

    // A session without languages takes no lang and no texts by language.
    let mut plain = sou94();
    plain.as_object_mut().expect("object").remove("languages");
    let by_lang = app.http.post(app.url("/api/sessions")).json(&plain).send().await.expect("request");
    assert_eq!(by_lang.status(), 400, "texts by language need the session's languages");
    let body: Value = by_lang.json().await.expect("json");
    assert!(body["error"]["message"].as_str().is_some_and(|m| m.contains("title")), "{body}");
}

async fn notes_are_edited_and_deleted_until_the_record_is_final(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let mut r = rapporteur(&app, &created).await;
    let (mut p, _) = hello_participant(&app, &created["code"]).await;
    ok(&mut m, "agenda.next", json!({})).await;
    let first = ok(&mut r, "record.note", json!({"text": "Séance ouverte à 14 h 30."})).await["note"].clone();
    let second = ok(&mut r, "record.note", json!({"text": "Le maire de Gao excusé."})).await["note"].clone();
    let third = ok(&mut r, "record.note", json!({"text": "Une erreur."})).await["note"].clone();
    ok(&mut r, "record.note", json!({"note": first, "text": "Séance ouverte à 14 h 35."})).await;
    ok(&mut r, "record.note_delete", json!({"note": third})).await;
    let gone = r.call("record.note", json!({"note": third, "text": "again"})).await;
    assert_eq!(gone["code"], "not_found", "a deleted note is gone: {gone}");
    assert_eq!(r.call("record.note_delete", json!({"note": "n0"})).await["code"], "not_found");
    assert_eq!(m.call("record.note_delete", json!({"note": second})).await["code"], "forbidden");
    assert_eq!(p.call("record.note", json!({"note": second, "text": "x"})).await["code"], "forbidden");

    let key = created["rapporteur_key"].clone();
    let record: Value = get(&app, &created, "record.json", Some(&key)).await.json().await.expect("json");
    let notes: Vec<(&str, bool)> = record["notes"]
        .as_array()
        .expect("notes")
        .iter()
        .map(|n| (n["text"].as_str().unwrap_or(""), n["edited_at"].is_i64()))
        .collect();
    assert_eq!(notes, [("Séance ouverte à 14 h 35.", true), ("Le maire de Gao excusé.", false)]);

    ok(&mut m, "session.end", json!({})).await;
    ok(&mut r, "record.finalise", json!({})).await;
    let late_edit = r.call("record.note", json!({"note": second, "text": "after"})).await;
    assert_eq!(late_edit["code"], "closed", "{late_edit}");
    assert_eq!(r.call("record.note_delete", json!({"note": second})).await["code"], "closed");
    // The room never sees the notes.
    let (_, welcome) = hello_participant(&app, &created["code"]).await;
    assert!(!welcome.to_string().contains("Gao"), "{welcome}");
}

/// Every figure of the record again, from the audit trail and the published receipts alone.
async fn the_records_figures_are_those_of_the_trail_and_the_receipts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let mut r = rapporteur(&app, &created).await;
    let mut phones = Vec::new();
    for _ in 0..5 {
        phones.push(hello_participant(&app, &created["code"]).await.0);
    }
    for _ in 0..8 {
        ok(&mut m, "agenda.next", json!({})).await;
    }
    ok(&mut m, "agenda.prev", json!({})).await;
    ok(&mut m, "agenda.next", json!({})).await;
    let plan = [("d1", false, ["for", "for", "against", "abstain", "for"]), ("d2", true, ["against"; 5])];
    for (draft, secret, choices) in plan {
        let poll = ok(&mut m, "poll.open", json!({"draft": draft, "secret": secret})).await["poll"].clone();
        for (phone, choice) in phones.iter_mut().zip(choices) {
            ok(phone, "vote.cast", json!({"poll": poll, "choice": choice})).await;
        }
        ok(&mut phones[0], "vote.cast", json!({"poll": poll, "choice": "against"})).await;
        ok(&mut m, "poll.close", json!({"poll": poll})).await;
    }
    ok(&mut m, "draft.adopt_by_consensus", json!({"draft": "d3"})).await;
    let note = ok(&mut r, "record.note", json!({"text": "Adoptée."})).await["note"].clone();
    ok(&mut r, "record.note", json!({"note": note, "text": "Adoptée à la majorité."})).await;
    ok(&mut m, "session.end", json!({})).await;
    ok(&mut r, "record.finalise", json!({})).await;

    let key = created["rapporteur_key"].clone();
    let record: Value = get(&app, &created, "record.json", Some(&key)).await.json().await.expect("json");
    palabre::record::verify(&record).expect("the original verifies");
    let trail = get(&app, &created, "events.jsonl", Some(&key)).await.text().await.expect("jsonl");
    let trail: Vec<Value> = trail.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
    let events = || trail.iter().map(|l| &l["event"]);

    // Each poll: the figures the trail closed it with, the receipts' recount, the record's.
    let polls = record["polls"].as_array().expect("polls");
    assert_eq!(polls.len(), 2);
    for p in polls {
        let closed =
            events().find(|e| e["kind"] == "poll.closed" && e["poll"] == p["id"]).expect("closed in the trail");
        let opened = events().find(|e| e["kind"] == "poll.opened" && e["poll"]["id"] == p["id"]).expect("opened");
        let receipts: Value = app
            .http
            .get(app.url(&format!(
                "/j/{}/polls/{}/receipts.json",
                created["code"].as_str().expect("code"),
                p["id"].as_str().expect("id")
            )))
            .send()
            .await
            .expect("request")
            .json()
            .await
            .expect("json");
        let mut recount = json!({"for": 0, "against": 0, "abstain": 0});
        let mut weight = 0;
        let list = receipts["receipts"].as_array().expect("receipts");
        for b in list {
            let w = b["weight"].as_u64().unwrap_or(1);
            let c = b["choice"].as_str().expect("choice");
            recount[c] = json!(recount[c].as_u64().expect("count") + w);
            weight += w;
        }
        assert_eq!((&p["counts"], &closed["counts"]), (&recount, &recount), "poll {}", p["id"]);
        assert_eq!((p["cast"].as_u64(), closed["cast"].as_u64()), (Some(list.len() as u64), Some(list.len() as u64)));
        assert_eq!(p["cast_weight"].as_u64(), Some(weight));
        assert_eq!((&p["outcome"], &p["eligible"]), (&closed["outcome"], &closed["eligible"]));
        assert_eq!(p["version"], opened["poll"]["version"]);
        let (yes, no) = (recount["for"].as_u64().unwrap_or(0), recount["against"].as_u64().unwrap_or(0));
        assert_eq!(p["outcome"], if yes > no { "adopted" } else { "rejected" }, "simple majority");
    }
    assert_eq!(polls[0]["counts"], json!({"for": 2, "against": 2, "abstain": 1}), "the last choice counts");

    // Each draft's status: what the trail decided last.
    for d in record["drafts"].as_array().expect("drafts") {
        let mut status = "draft";
        for e in events() {
            match e["kind"].as_str() {
                Some("poll.closed") if polls.iter().any(|p| p["id"] == e["poll"] && p["draft"] == d["id"]) => {
                    status = e["outcome"].as_str().filter(|o| *o != "no_quorum").unwrap_or("draft");
                }
                Some("draft.adopted") if e["draft"] == d["id"] => status = "adopted",
                Some("draft.withdrawn") if e["draft"] == d["id"] => status = "withdrawn",
                _ => {}
            }
        }
        assert_eq!(d["status"], status, "draft {}", d["id"]);
    }

    // The agenda as held: each stint from one move to the next; the time the trail reported.
    let mut held: Vec<Vec<(i64, i64)>> = vec![Vec::new(); 8];
    let mut spent = [0_u64; 8];
    let mut current: Option<(usize, i64)> = None;
    for e in events() {
        let at = e["at"].as_i64().unwrap_or(0);
        if e["kind"] == "agenda.moved" || e["kind"] == "session.ended" {
            if let Some((i, from)) = current.take() {
                held[i].push((from, at));
            }
            if let (Some(prev), Some(s)) = (e["previous"].as_u64(), e["previous_spent_seconds"].as_u64()) {
                spent[prev as usize] = s;
            }
            if let (Some(item), Some(s)) = (e["item"].as_u64(), e["item_spent_seconds"].as_u64()) {
                spent[item as usize] = s;
            }
            if let Some(to) = e["current"].as_u64() {
                current = Some((to as usize, at));
            }
        }
    }
    for (i, it) in record["agenda"].as_array().expect("agenda").iter().enumerate() {
        let stints: Vec<(i64, i64)> = it["held"]
            .as_array()
            .expect("held")
            .iter()
            .map(|h| (h["from"].as_i64().unwrap_or(-1), h["to"].as_i64().unwrap_or(-1)))
            .collect();
        assert_eq!(stints, held[i], "item {i}");
        assert_eq!(it["seconds"].as_u64(), Some(spent[i]), "item {i}");
    }
    assert_eq!(held[7].len(), 2, "the adoption item was held twice");

    // The notes: the trail's, each in its last wording.
    let last = events().rfind(|e| e["note"] == note).expect("note events");
    assert_eq!((&record["notes"][0]["text"], &last["text"]), (&json!("Adoptée à la majorité."), &last["text"]));
    // The trail never says who cast which secret ballot.
    let secret = &polls[1]["id"];
    assert!(events().all(|e| !(e["kind"] == "vote.cast" && e["poll"] == *secret && e.get("choice").is_some())));
}
