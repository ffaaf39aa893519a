//! The agenda changed while the session runs: items inserted, updated, moved and removed by the
//! moderator under stable ids, followed by every client (one offline during a move too), and
//! the record's agenda as planned and as held. Also the editor's checks of a definition and a
//! roster, and the definition handed back for a template.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores! {
    live_agenda_changes_reach_every_client_and_an_offline_phone_catches_up,
    held_items_stay_and_only_the_moderator_changes_the_agenda,
    the_record_shows_the_agenda_as_planned_and_as_held,
    a_definition_is_checked_field_by_field_without_creating_anything,
    a_roster_is_previewed_with_its_errors_by_line,
    the_moderator_gets_the_definition_back_as_it_now_stands,
}

fn ids(state: &Value) -> Vec<String> {
    state["agenda"]["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn welcome_state(app: &TestApp, code: &Value) -> Value {
    hello_participant(app, code).await.1["state"].clone()
}

async fn live_agenda_changes_reach_every_client_and_an_offline_phone_catches_up(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let (mut phone, welcome) = hello_participant(&app, &created["code"]).await;
    let token = welcome["participant"].clone();
    let mut screen = app.ws().await;
    screen.send(json!({"type": "hello", "code": created["code"], "role": "screen"})).await;
    screen.recv_type("welcome").await;
    assert_eq!(ids(&welcome["state"]), ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8"]);

    m.ok("agenda.next", json!({})).await;
    m.ok("agenda.next", json!({})).await;
    let item = json!({"title": {"en": "Word from the mayor of Gao", "fr": "Mot du maire de Gao"}, "kind": "other", "minutes": 5});
    let ack = m.ok("agenda.insert", json!({"at": 2, "item": item})).await;
    for ws in [&mut phone, &mut screen] {
        let e = ws.event_of("agenda.item_inserted").await;
        assert_eq!((&e["event"]["at"], &e["event"]["item"]["title"]["fr"]), (&json!(2), &json!("Mot du maire de Gao")));
        assert_eq!(e["seq"], ack["seq"]);
    }
    let inserted =
        welcome_state(&app, &created["code"]).await["agenda"]["items"][2]["id"].as_str().expect("id").to_owned();
    assert!(inserted.starts_with('i'), "an inserted item has an id of its own: {inserted}");
    assert_eq!(ack["item"], inserted.as_str(), "the ack names it");

    // The phone drops off; meanwhile an item moves, another is removed, one is renamed.
    let last_seen = ack["seq"].as_u64().expect("seq");
    phone.close().await;
    m.ok("agenda.move", json!({"item": "a6", "to": 2})).await;
    m.ok("agenda.remove", json!({"item": "a5"})).await;
    m.ok("agenda.update", json!({"item": inserted, "minutes": 8, "speakers": ["Maire de Gao"]})).await;
    let last = m.ok("agenda.next", json!({})).await["seq"].as_u64().expect("seq");

    let mut back = app.ws().await;
    back.send(json!({"type": "hello", "code": created["code"], "participant": token, "since": last_seen})).await;
    let resumed = back.recv_type("welcome").await;
    assert!(resumed.get("state").is_none(), "a recent since gets the missed events only: {resumed}");
    let mut kinds = Vec::new();
    for _ in last_seen..last {
        let e = back.event().await;
        kinds.push(e["event"]["kind"].as_str().expect("kind").to_owned());
    }
    assert_eq!(
        kinds,
        ["agenda.item_moved", "agenda.item_removed", "agenda.item_updated", "agenda.moved"],
        "the missed changes, by id, in order"
    );
    let fresh = welcome_state(&app, &created["code"]).await;
    assert_eq!(ids(&fresh), ["a1", "a2", "a6", inserted.as_str(), "a3", "a4", "a7", "a8"]);
    assert_eq!(fresh["agenda"]["current"], 2, "next after a2 is now a6, moved up to follow it");
    assert_eq!(fresh["agenda"]["items"][3]["minutes"], 8);
    assert_eq!(fresh["agenda"]["items"][1]["held"], true);
    assert_eq!(fresh["agenda"]["items"][3]["held"], false, "the inserted item is still to come");
}

async fn held_items_stay_and_only_the_moderator_changes_the_agenda(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    let (mut p, _) = hello_participant(&app, &created["code"]).await;
    let mut r = app.ws().await;
    r.send(json!({"type": "hello", "session": created["id"], "key": created["rapporteur_key"]})).await;
    r.recv_type("welcome").await;
    m.ok("agenda.next", json!({})).await;
    m.ok("agenda.next", json!({})).await;
    for (op, fields) in [
        ("agenda.move", json!({"item": "a1", "to": 5})),
        ("agenda.remove", json!({"item": "a2"})),
        ("agenda.move", json!({"item": "a2", "to": 0})),
    ] {
        let refused = m.refused(op, fields).await;
        assert_eq!(refused["code"], "conflict", "{op}: {refused}");
        assert!(refused["message"].as_str().is_some_and(|t| t.contains("held")), "{refused}");
    }
    m.ok("agenda.update", json!({"item": "a1", "title": {"en": "Opening", "fr": "Ouverture"}})).await;
    for ws in [&mut p, &mut r] {
        let refused = ws.refused("agenda.insert", json!({"at": 0, "item": {"title": "x"}})).await;
        assert_eq!(refused["code"], "forbidden");
    }
    for (fields, what) in [
        (json!({"at": 0, "item": {"title": ""}}), "item.title"),
        (json!({"at": 0, "item": {"title": "x", "kind": "party"}}), "item.kind"),
        (json!({"at": 99, "item": {"title": "x"}}), "at"),
        (json!({"at": 0, "item": {"title": {"de": "Neu"}}}), "de"),
        (json!({"at": 0}), "item"),
    ] {
        let refused = m.refused("agenda.insert", fields.clone()).await;
        assert_eq!(refused["code"], "invalid", "{fields}: {refused}");
        assert!(refused["message"].as_str().is_some_and(|t| t.contains(what)), "{what}: {refused}");
    }
    assert_eq!(m.refused("agenda.update", json!({"item": "a3", "colour": "red"})).await["code"], "invalid");
    assert_eq!(m.refused("agenda.update", json!({"item": "a3"})).await["code"], "conflict", "nothing changes");
    assert_eq!(m.refused("agenda.remove", json!({"item": "zz"})).await["code"], "not_found");
    assert_eq!(m.refused("agenda.move", json!({"item": "a3", "to": 8})).await["code"], "invalid");
}

async fn the_record_shows_the_agenda_as_planned_and_as_held(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(&app, &created).await;
    m.ok("agenda.next", json!({})).await;
    m.ok("agenda.insert", json!({"at": 1, "item": {"title": "Minute of silence", "minutes": 1}})).await;
    m.ok("agenda.remove", json!({"item": "a4"})).await;
    m.ok("agenda.next", json!({})).await;
    m.ok("agenda.next", json!({})).await;
    m.ok("session.end", json!({})).await;
    let id = created["id"].as_str().expect("id");
    let record: Value = app
        .http
        .get(app.url(&format!("/api/sessions/{id}/record.json")))
        .bearer_auth(created["moderator_key"].as_str().expect("key"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let held: Vec<(&str, bool, usize)> = record["agenda"]
        .as_array()
        .expect("agenda")
        .iter()
        .map(|i| {
            (i["title"].as_str().unwrap_or("by language"), i["added"] == true, i["held"].as_array().map_or(0, Vec::len))
        })
        .collect();
    assert_eq!(held.len(), 8);
    assert_eq!(held[1], ("Minute of silence", true, 1), "the added item, held once");
    assert_eq!((held[0].2, held[2].2, held[3].2), (1, 1, 0));
    let planned = record["agenda_planned"].as_array().expect("planned");
    assert_eq!(planned.len(), 8, "the plan as the organiser made it");
    assert_eq!((&planned[3]["id"], &planned[3]["removed"]), (&json!("a4"), &json!(true)));
    assert!(planned.iter().filter(|p| p["removed"] == true).count() == 1);
}

async fn a_definition_is_checked_field_by_field_without_creating_anything(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let check = |body: Value| {
        let req = app.http.post(app.url("/api/definitions/check")).json(&body).send();
        async move {
            let res = req.await.expect("request");
            (res.status().as_u16(), res.json::<Value>().await.expect("json"))
        }
    };
    let (status, ok) = check(sou94()).await;
    assert_eq!(status, 200, "{ok}");
    assert_eq!(ok["planned_minutes"], 180);
    assert_eq!(ok["definition"]["agenda"][0]["title"], sou94()["agenda"][0]["title"], "texts as given");

    let mut bad = sou94();
    bad["agenda"][2]["title"] = json!("");
    bad["agenda"][0]["title"]["fr"] = json!("x".repeat(201));
    bad["drafts"][1]["kind"] = json!("law");
    bad["agenda"][3]["speakers"][0] = json!({"de": "Agentur"});
    let (status, err) = check(bad).await;
    assert_eq!(status, 400);
    let fields: Vec<(String, String)> = err["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .map(|f| (f["path"].as_str().unwrap_or("").to_owned(), f["message"].as_str().unwrap_or("").to_owned()))
        .collect();
    let paths: Vec<&str> = fields.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["agenda[0].title.fr", "agenda[2].title", "agenda[3].speakers[0]", "drafts[1].kind"], "{err}");
    assert!(fields[1].1.contains("required") && fields[0].1.contains("longer than 200"), "{fields:?}");
    let (status, err) = check(json!([1, 2])).await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid")));
}

async fn a_roster_is_previewed_with_its_errors_by_line(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let post = |body: &'static str| {
        let req = app.http.post(app.url("/api/roster/check")).body(body).send();
        async move {
            let res = req.await.expect("request");
            (res.status().as_u16(), res.json::<Value>().await.expect("json"))
        }
    };
    let roster = include_str!("../../fixtures/sou94-roster.csv");
    let (status, ok) = post(roster).await;
    assert_eq!(status, 200, "{ok}");
    let rows = ok["entries"].as_array().expect("entries");
    assert_eq!(rows.len(), roster.lines().count() - 1);
    assert!(rows.iter().all(|r| r.get("code").is_none()), "a preview makes no codes");
    assert_eq!(ok["weight"].as_u64(), Some(rows.iter().filter_map(|r| r["weight"].as_u64()).sum()));
    let (status, err) = post("name,organisation,weight\nAwa,AMM,2\n,ARM,1\nBo,X,heavy\n").await;
    assert_eq!(status, 400);
    let lines: Vec<&str> =
        err["error"]["fields"].as_array().expect("fields").iter().filter_map(|f| f["path"].as_str()).collect();
    assert_eq!(lines, ["line 3", "line 4"], "{err}");
}

async fn the_moderator_gets_the_definition_back_as_it_now_stands(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let id = created["id"].as_str().expect("id");
    let get = |key: Option<&Value>| {
        let mut req = app.http.get(app.url(&format!("/api/sessions/{id}/definition")));
        if let Some(k) = key.and_then(Value::as_str) {
            req = req.bearer_auth(k);
        }
        req.send()
    };
    assert_eq!(get(None).await.expect("request").status(), 401);
    assert_eq!(get(Some(&created["rapporteur_key"])).await.expect("request").status(), 403);
    let original: Value = get(Some(&created["moderator_key"])).await.expect("request").json().await.expect("json");
    let again = app.create(&original).await;
    let copy: Value = app
        .http
        .get(app.url(&format!("/api/sessions/{}/definition", again["id"].as_str().expect("id"))))
        .bearer_auth(again["moderator_key"].as_str().expect("key"))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(copy, original, "a definition makes the same session again (a template)");
    for (k, v) in sou94().as_object().expect("object").iter().filter(|(k, _)| *k != "settings") {
        assert_eq!(&original[k], v, "{k} as given");
    }
    assert_eq!(original["settings"]["turn_seconds"], 180, "defaults filled in");

    let (mut m, _) = hello_moderator(&app, &created).await;
    m.ok("agenda.insert", json!({"at": 8, "item": {"title": "Closing", "kind": "other", "minutes": 5}})).await;
    let now: Value = get(Some(&created["moderator_key"])).await.expect("request").json().await.expect("json");
    assert_eq!(now["agenda"].as_array().map(Vec::len), Some(9));
    assert_eq!(now["agenda"][8]["title"], "Closing");
}
