//! The list of speakers over the WebSocket: participants ask for the floor from their phones,
//! the moderator orders the list, gives the floor, skips and ends each timed turn.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores!(
    a_request_to_speak_joins_the_list_and_everyone_sees_it,
    the_moderator_orders_the_list_of_speakers,
    giving_the_floor_ends_the_turn_under_way_first,
    the_moderator_ends_a_turn_only_when_someone_speaks,
    a_turn_lasts_the_items_speaking_time_else_the_sessions,
    a_participant_withdraws_only_its_own_request_and_the_moderator_skips_any,
    a_participant_holds_one_open_request_at_a_time,
    a_request_retried_with_the_same_id_is_applied_once_and_acked_alike,
    ending_the_session_ends_the_turn_and_closes_the_list,
    each_role_may_only_do_its_own_part_with_the_list_of_speakers,
    asking_for_the_floor_is_closed_outside_the_debate,
    bad_requests_to_speak_are_refused_as_invalid,
    unknown_requests_are_not_found,
    hostile_names_are_stored_and_sent_back_verbatim,
    a_forged_command_id_cannot_give_a_second_request_the_speakers_id,
);

/// The SOU 94 session in its debate, a moderator and the screen connected (welcome at seq 3).
struct Debate {
    created: Value,
    moderator: Ws,
    screen: Ws,
}

const OPEN_SEQ: u64 = 3;

async fn debate(app: &TestApp) -> Debate {
    debate_of(app, &sou94()).await
}

async fn debate_of(app: &TestApp, definition: &Value) -> Debate {
    let (created, moderator) = open_debate(app, definition).await;
    let (screen, welcome) = hello_screen(app, &created["code"]).await;
    assert_eq!(welcome["seq"], OPEN_SEQ);
    Debate { created, moderator, screen }
}

/// A participant in the room: its socket and token.
struct Person {
    ws: Ws,
    token: Value,
}

async fn person(app: &TestApp, created: &Value) -> Person {
    let (ws, welcome) = hello_participant(app, &created["code"]).await;
    Person { ws, token: welcome["participant"].clone() }
}

/// Asks for the floor as `name`; returns the request's id.
async fn request(p: &mut Person, name: &str) -> String {
    let result = p.ws.ok("floor.request", json!({"name": name, "organisation": "AMM"})).await;
    result["request"].as_str().unwrap_or_else(|| panic!("the ack names the request: {result}")).to_owned()
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or_else(|| panic!("an error code: {reply}"))
}

/// The ids in the list of speakers of a state view, in speaking order.
fn queue(state: &Value) -> Vec<String> {
    state["floor"]["queue"]
        .as_array()
        .expect("queue")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

async fn moderator_view(app: &TestApp, created: &Value) -> Value {
    hello_moderator(app, created).await.1["state"].clone()
}

async fn screen_view(app: &TestApp, created: &Value) -> Value {
    hello_screen(app, &created["code"]).await.1["state"].clone()
}

// ---------------------------------------------------------------------------------------------

async fn a_request_to_speak_joins_the_list_and_everyone_sees_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let mut other = person(&app, &d.created).await;

    let result = awa.ws.ok("floor.request", json!({"name": "Awa Diop", "organisation": "AMM, Mali"})).await;

    let id = result["request"].as_str().expect("request id").to_owned();
    assert_eq!(result["seq"], OPEN_SEQ + 1);
    let e = d.moderator.event_of("floor.requested").await;
    let r = &e["event"]["request"];
    assert_eq!((&r["id"], &r["name"], &r["organisation"]), (&json!(id), &json!("Awa Diop"), &json!("AMM, Mali")));
    assert!(r["at"].is_i64(), "{e}");
    let by = r["by"].as_str().expect("the moderator sees who asked").to_owned();
    for ws in [&mut d.screen, &mut other.ws] {
        let e = ws.event_of("floor.requested").await;
        assert_eq!(e["seq"], OPEN_SEQ + 1);
        assert_eq!((&e["event"]["request"]["id"], e["event"]["request"].get("by")), (&json!(id), None), "{e}");
    }

    let (_, mine) = hello_again(&app, &d.created["code"], &awa.token).await;
    let floor = &mine["state"]["floor"];
    assert_eq!((&floor["speaking"], &floor["turn_seconds"]), (&Value::Null, &json!(180)));
    let own = &floor["queue"][0];
    assert_eq!(
        (&own["id"], &own["name"], &own["mine"], own.get("by")),
        (&json!(id), &json!("Awa Diop"), &json!(true), None)
    );
    let (_, theirs) = hello_again(&app, &d.created["code"], &other.token).await;
    let seen = &theirs["state"]["floor"]["queue"][0];
    assert_eq!((&seen["id"], seen.get("mine"), seen.get("by")), (&json!(id), None, None));
    let moderator = moderator_view(&app, &d.created).await;
    let seen = &moderator["floor"]["queue"][0];
    assert_eq!((&seen["by"], seen.get("mine")), (&json!(by), None));
    let screen = screen_view(&app, &d.created).await;
    assert_eq!(queue(&screen), [id.as_str()]);
    assert_eq!(screen["floor"]["queue"][0].get("by"), None);
    // Without an organisation, the request still stands.
    let result = other.ws.ok("floor.request", json!({"name": "Moussa"})).await;
    assert_eq!(queue(&screen_view(&app, &d.created).await), [id, result["request"].as_str().expect("id").to_owned()]);
}

async fn the_moderator_orders_the_list_of_speakers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut ids = Vec::new();
    for name in ["Awa", "Moussa", "Fatou"] {
        ids.push(request(&mut person(&app, &d.created).await, name).await);
    }
    let (f1, f2, f3) = (ids[0].clone(), ids[1].clone(), ids[2].clone());

    d.moderator.ok("floor.move", json!({"request": f3, "position": 0})).await;
    let moved = d.screen.event_of("floor.moved").await;
    assert_eq!(moved["event"], json!({"kind": "floor.moved", "request": f3, "position": 0}));
    assert_eq!(queue(&screen_view(&app, &d.created).await), [f3.as_str(), f1.as_str(), f2.as_str()]);
    // A position past the end is the end.
    d.moderator.ok("floor.move", json!({"request": f1, "position": 99})).await;
    let moved = d.screen.event_of("floor.moved").await;
    assert_eq!(moved["event"], json!({"kind": "floor.moved", "request": f1, "position": 2}));
    assert_eq!(queue(&moderator_view(&app, &d.created).await), [f3.as_str(), f2.as_str(), f1.as_str()]);
    let in_place = d.moderator.refused("floor.move", json!({"request": f2, "position": 1})).await;
    assert_eq!(code(&in_place), "conflict");
    assert_eq!(queue(&screen_view(&app, &d.created).await), [f3.as_str(), f2.as_str(), f1.as_str()]);
}

async fn giving_the_floor_ends_the_turn_under_way_first(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;
    let f2 = request(&mut person(&app, &d.created).await, "Moussa").await;

    let granted = d.moderator.ok("floor.grant", json!({"request": f1})).await;

    let e = d.screen.event_of("floor.granted").await;
    assert_eq!(e["seq"], granted["seq"]);
    let at = e["event"]["at"].as_i64().expect("at");
    assert_eq!(e["event"], json!({"kind": "floor.granted", "request": f1, "at": at, "limit_seconds": 180}));
    let state = screen_view(&app, &d.created).await;
    let speaking = &state["floor"]["speaking"];
    assert_eq!(
        (&speaking["id"], &speaking["name"], &speaking["organisation"], &speaking["since"], &speaking["limit_seconds"]),
        (&json!(f1), &json!("Awa"), &json!("AMM"), &json!(at), &json!(180))
    );
    assert_eq!(queue(&state), [f2.as_str()]);
    let (_, mine) = hello_again(&app, &d.created["code"], &awa.token).await;
    assert_eq!(mine["state"]["floor"]["speaking"]["mine"], true);

    let granted = d.moderator.ok("floor.grant", json!({"request": f2})).await;

    let ended = d.screen.event().await;
    let next = d.screen.event().await;
    assert_eq!(ended["event"]["kind"], "floor.ended", "{ended}");
    assert_eq!((&ended["event"]["request"], ended["event"]["seconds"].is_u64()), (&json!(f1), true), "{ended}");
    assert!(ended["event"]["at"].as_i64().expect("at") >= at);
    assert_eq!((&next["event"]["kind"], &next["event"]["request"]), (&json!("floor.granted"), &json!(f2)));
    assert_eq!(
        (ended["seq"].as_u64(), next["seq"].as_u64()),
        (granted["seq"].as_u64().map(|s| s - 1), granted["seq"].as_u64())
    );
    let state = moderator_view(&app, &d.created).await;
    assert_eq!((&state["floor"]["speaking"]["id"], queue(&state).len()), (&json!(f2), 0));
}

async fn the_moderator_ends_a_turn_only_when_someone_speaks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let f1 = request(&mut person(&app, &d.created).await, "Awa").await;
    let f2 = request(&mut person(&app, &d.created).await, "Moussa").await;
    assert_eq!(code(&d.moderator.refused("floor.end", json!({})).await), "conflict", "nobody speaks");
    d.moderator.ok("floor.grant", json!({"request": f1})).await;

    let wrong = d.moderator.refused("floor.end", json!({"request": f2})).await;
    assert_eq!(code(&wrong), "conflict", "f2 does not have the floor");
    let ended = d.moderator.ok("floor.end", json!({"request": f1})).await;

    let e = d.screen.event_of("floor.ended").await;
    assert_eq!((&e["seq"], &e["event"]["request"]), (&ended["seq"], &json!(f1)));
    assert_eq!(screen_view(&app, &d.created).await["floor"]["speaking"], Value::Null);
    assert_eq!(code(&d.moderator.refused("floor.end", json!({})).await), "conflict", "ended already");
    // Without a request, whoever speaks.
    d.moderator.ok("floor.grant", json!({"request": f2})).await;
    d.moderator.ok("floor.end", json!({})).await;
    let e = d.screen.event_of("floor.ended").await;
    assert_eq!(e["event"]["request"], json!(f2));
    let state = moderator_view(&app, &d.created).await;
    assert_eq!((&state["floor"]["speaking"], queue(&state).len()), (&Value::Null, 0));
}

async fn a_turn_lasts_the_items_speaking_time_else_the_sessions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let definition = json!({
        "title": "Deux débats",
        "agenda": [
            {"title": "Ouverture", "kind": "intro", "minutes": 5},
            {"title": "Débat court", "kind": "debate", "minutes": 20, "turn_seconds": 90},
            {"title": "Débat", "kind": "debate", "minutes": 20}
        ],
        "settings": {"turn_seconds": 120}
    });
    let mut d = debate_of(&app, &definition).await;
    let f1 = request(&mut person(&app, &d.created).await, "Awa").await;
    let f2 = request(&mut person(&app, &d.created).await, "Moussa").await;
    let state = screen_view(&app, &d.created).await;
    assert_eq!((&state["floor"]["turn_seconds"], &state["settings"]["turn_seconds"]), (&json!(90), &json!(120)));
    assert_eq!(
        (&state["agenda"]["items"][1]["turn_seconds"], state["agenda"]["items"][2].get("turn_seconds")),
        (&json!(90), None)
    );

    d.moderator.ok("floor.grant", json!({"request": f1})).await;
    assert_eq!(d.screen.event_of("floor.granted").await["event"]["limit_seconds"], 90);
    d.moderator.ok("agenda.next", json!({})).await;
    d.moderator.ok("floor.grant", json!({"request": f2})).await;

    assert_eq!(d.screen.event_of("floor.granted").await["event"]["limit_seconds"], 120);
    let state = screen_view(&app, &d.created).await;
    assert_eq!((&state["qa_open"], &state["floor"]["turn_seconds"]), (&json!(true), &json!(120)));
    assert_eq!(state["floor"]["speaking"]["limit_seconds"], 120);
}

async fn a_participant_withdraws_only_its_own_request_and_the_moderator_skips_any(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let mut moussa = person(&app, &d.created).await;
    let mut fatou = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;
    let f2 = request(&mut moussa, "Moussa").await;
    let f3 = request(&mut fatou, "Fatou").await;

    assert_eq!(code(&awa.ws.refused("floor.withdraw", json!({"request": f2})).await), "not_found", "not hers");
    let withdrawn = awa.ws.ok("floor.withdraw", json!({})).await;
    let e = d.screen.event_of("floor.withdrawn").await;
    assert_eq!((&e["seq"], &e["event"]), (&withdrawn["seq"], &json!({"kind": "floor.withdrawn", "request": f1})));
    assert_eq!(code(&awa.ws.refused("floor.withdraw", json!({})).await), "not_found", "nothing left to withdraw");

    let skipped = d.moderator.ok("floor.skip", json!({"request": f2})).await;
    let e = d.screen.event_of("floor.skipped").await;
    assert_eq!((&e["seq"], &e["event"]), (&skipped["seq"], &json!({"kind": "floor.skipped", "request": f2})));
    assert_eq!(code(&moussa.ws.refused("floor.withdraw", json!({})).await), "not_found", "skipped already");
    assert_eq!(queue(&screen_view(&app, &d.created).await), [f3.as_str()]);

    fatou.ws.ok("floor.withdraw", json!({"request": f3})).await;
    assert_eq!(queue(&moderator_view(&app, &d.created).await).len(), 0);
}

async fn a_participant_holds_one_open_request_at_a_time(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;

    let twice = awa.ws.refused("floor.request", json!({"name": "Awa again"})).await;
    assert_eq!(code(&twice), "conflict", "already in the list");
    d.moderator.ok("floor.grant", json!({"request": f1})).await;
    let speaking = awa.ws.refused("floor.request", json!({"name": "Awa"})).await;
    assert_eq!(code(&speaking), "conflict", "she has the floor");
    d.moderator.ok("floor.end", json!({})).await;
    let f2 = request(&mut awa, "Awa").await;
    awa.ws.ok("floor.withdraw", json!({})).await;
    let f3 = request(&mut awa, "Awa").await;

    assert!(f1 != f2 && f2 != f3 && f1 != f3, "each request has its own id");
    assert_eq!(queue(&moderator_view(&app, &d.created).await), [f3]);
}

async fn a_request_retried_with_the_same_id_is_applied_once_and_acked_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let id = uuid::Uuid::new_v4().to_string();
    awa.ws.cmd_with_id(&id, "floor.request", json!({"name": "Awa", "organisation": "AMM"})).await;
    let first = awa.ws.reply_to(&id).await;
    assert_eq!(first["type"], "ack", "{first}");

    let (mut again, _) = hello_again(&app, &d.created["code"], &awa.token).await;
    again.cmd_with_id(&id, "floor.request", json!({"name": "Awa", "organisation": "AMM"})).await;
    assert_eq!(again.reply_to(&id).await, first);
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(
        (queue(&state), &state["seq"]),
        (vec![first["result"]["request"].as_str().expect("id").to_owned()], &json!(OPEN_SEQ + 1))
    );

    // Withdrawn, then the old request retried: it does not come back.
    again.ok("floor.withdraw", json!({})).await;
    again.cmd_with_id(&id, "floor.request", json!({"name": "Awa", "organisation": "AMM"})).await;
    assert_eq!(again.reply_to(&id).await, first);
    assert_eq!(queue(&moderator_view(&app, &d.created).await).len(), 0);
}

async fn ending_the_session_ends_the_turn_and_closes_the_list(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let mut moussa = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;
    let f2 = request(&mut moussa, "Moussa").await;
    d.moderator.ok("floor.grant", json!({"request": f1})).await;

    let end = d.moderator.ok("session.end", json!({})).await;

    let mut kinds = Vec::new();
    for e in [d.screen.event_of("floor.ended").await, d.screen.event().await, d.screen.event().await] {
        kinds.push((e["seq"].as_u64().expect("seq"), e["event"]["kind"].clone()));
    }
    let last = end["seq"].as_u64().expect("seq");
    assert_eq!(
        kinds,
        [(last - 2, json!("floor.ended")), (last - 1, json!("qa.closed")), (last, json!("session.ended"))]
    );
    let state = screen_view(&app, &d.created).await;
    assert_eq!((&state["phase"], &state["floor"]["speaking"]), (&json!("ended"), &Value::Null));
    assert_eq!(code(&moussa.ws.refused("floor.withdraw", json!({})).await), "closed");
    assert_eq!(
        code(&person(&app, &d.created).await.ws.refused("floor.request", json!({"name": "Fatou"})).await),
        "closed"
    );
    for (op, fields) in [
        ("floor.grant", json!({"request": f2})),
        ("floor.skip", json!({"request": f2})),
        ("floor.move", json!({"request": f2, "position": 0})),
        ("floor.end", json!({})),
    ] {
        assert_eq!(code(&d.moderator.refused(op, fields).await), "closed", "{op}");
    }
}

async fn each_role_may_only_do_its_own_part_with_the_list_of_speakers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &d.created).await;
    let every_op = [
        ("floor.request", json!({"name": "Quelqu'un"})),
        ("floor.withdraw", json!({"request": f1})),
        ("floor.grant", json!({"request": f1})),
        ("floor.skip", json!({"request": f1})),
        ("floor.move", json!({"request": f1, "position": 0})),
        ("floor.end", json!({})),
    ];

    for (op, fields) in &every_op[2..] {
        assert_eq!(code(&awa.ws.refused(op, fields.clone()).await), "forbidden", "participant {op}");
    }
    for (op, fields) in &every_op[..2] {
        assert_eq!(code(&d.moderator.refused(op, fields.clone()).await), "forbidden", "moderator {op}");
    }
    for (op, fields) in &every_op {
        assert_eq!(code(&d.screen.refused(op, fields.clone()).await), "forbidden", "screen {op}");
        assert_eq!(code(&rapporteur.refused(op, fields.clone()).await), "forbidden", "rapporteur {op}");
    }

    let state = moderator_view(&app, &d.created).await;
    assert_eq!(
        (queue(&state), &state["floor"]["speaking"], &state["seq"]),
        (vec![f1], &Value::Null, &json!(OPEN_SEQ + 1))
    );
}

async fn asking_for_the_floor_is_closed_outside_the_debate(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&app, &created).await;
    let mut awa = person(&app, &created).await;
    assert_eq!(code(&awa.ws.refused("floor.request", json!({"name": "Awa"})).await), "closed", "not started");
    moderator.ok("agenda.next", json!({})).await;
    assert_eq!(code(&awa.ws.refused("floor.request", json!({"name": "Awa"})).await), "closed", "a presentation");
    moderator.ok("qa.open", json!({})).await;
    let f1 = request(&mut awa, "Awa").await;

    moderator.ok("qa.close", json!({})).await;

    let mut moussa = person(&app, &created).await;
    assert_eq!(code(&moussa.ws.refused("floor.request", json!({"name": "Moussa"})).await), "closed");
    // Those already in the list may still be given the floor.
    moderator.ok("floor.grant", json!({"request": f1})).await;
    let state = moderator_view(&app, &created).await;
    assert_eq!((&state["floor"]["speaking"]["id"], queue(&state).len()), (&json!(f1), 0));
}

async fn bad_requests_to_speak_are_refused_as_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let f = request(&mut person(&app, &d.created).await, "Moussa").await;
    let participant_cases = [
        json!({}),
        json!({"name": ""}),
        json!({"name": "   "}),
        json!({"name": "n".repeat(81)}),
        json!({"name": 5}),
        json!({"name": ["Awa"]}),
        json!({"name": "Awa\nDiop"}),
        json!({"name": "Awa\u{202E}Diop"}),
        json!({"name": "Awa \u{0007}"}),
        json!({"name": "Awa", "organisation": "o".repeat(121)}),
        json!({"name": "Awa", "organisation": 7}),
        json!({"name": "Awa", "organisation": "AMM\u{0000}"}),
    ];
    for fields in participant_cases {
        let reply = awa.ws.refused("floor.request", fields.clone()).await;
        assert_eq!(code(&reply), "invalid", "{fields}: {reply}");
    }
    assert_eq!(code(&awa.ws.refused("floor.withdraw", json!({"request": 5})).await), "invalid");
    let moderator_cases = [
        ("floor.grant", json!({})),
        ("floor.grant", json!({"request": 7})),
        ("floor.skip", json!({"request": ""})),
        ("floor.move", json!({"request": f})),
        ("floor.move", json!({"request": f, "position": -1})),
        ("floor.move", json!({"request": f, "position": "0"})),
        ("floor.move", json!({"request": f, "position": 0.5})),
        ("floor.end", json!({"request": 3})),
    ];
    for (op, fields) in moderator_cases {
        let reply = d.moderator.refused(op, fields.clone()).await;
        assert_eq!(code(&reply), "invalid", "{op} {fields}: {reply}");
    }

    // At the limits, fine; the name and organisation are trimmed.
    let longest = awa
        .ws
        .ok("floor.request", json!({"name": format!(" {} ", "n".repeat(80)), "organisation": "o".repeat(120)}))
        .await;
    let id = longest["request"].as_str().expect("id");
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(queue(&state), [f.as_str(), id]);
    assert_eq!(
        (&state["floor"]["queue"][1]["name"], &state["floor"]["queue"][1]["organisation"]),
        (&json!("n".repeat(80)), &json!("o".repeat(120)))
    );
}

async fn unknown_requests_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let f1 = request(&mut awa, "Awa").await;
    let unknown = "f0123456789ab";
    for (op, fields) in [
        ("floor.grant", json!({"request": unknown})),
        ("floor.skip", json!({"request": unknown})),
        ("floor.move", json!({"request": unknown, "position": 0})),
    ] {
        assert_eq!(code(&d.moderator.refused(op, fields.clone()).await), "not_found", "{op}");
    }
    assert_eq!(code(&awa.ws.refused("floor.withdraw", json!({"request": unknown})).await), "not_found");
    // Once speaking, a request is no longer in the list.
    d.moderator.ok("floor.grant", json!({"request": f1})).await;
    for (op, fields) in [("floor.grant", json!({"request": f1})), ("floor.skip", json!({"request": f1}))] {
        assert_eq!(code(&d.moderator.refused(op, fields.clone()).await), "not_found", "{op} the speaker");
    }
    assert_eq!(code(&awa.ws.refused("floor.withdraw", json!({})).await), "not_found");
    assert_eq!(moderator_view(&app, &d.created).await["floor"]["speaking"]["id"], json!(f1));
}

async fn hostile_names_are_stored_and_sent_back_verbatim(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let name = "<img src=x onerror=alert(1)>";
    let organisation = "</script><script>alert(\"x\")</script> & Cie";
    let mut awa = person(&app, &d.created).await;

    let id = awa.ws.ok("floor.request", json!({"name": name, "organisation": organisation})).await["request"].clone();

    let e = d.screen.event_of("floor.requested").await;
    let r = &e["event"]["request"];
    assert_eq!((&r["id"], r["name"].as_str(), r["organisation"].as_str()), (&id, Some(name), Some(organisation)));
    d.moderator.ok("floor.grant", json!({"request": id})).await;
    let state = screen_view(&app, &d.created).await;
    let speaking = &state["floor"]["speaking"];
    assert_eq!((speaking["name"].as_str(), speaking["organisation"].as_str()), (Some(name), Some(organisation)));
}

async fn a_forged_command_id_cannot_give_a_second_request_the_speakers_id(backend: Backend) {
    // A request's id is made from its command id, which the client chooses; request ids are
    // shown to everyone. A hostile client that reuses the start of the speaker's id must not
    // get a second request under that same id.
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut awa = person(&app, &d.created).await;
    let mut mallory = person(&app, &d.created).await;
    let awa_cmd = uuid::Uuid::new_v4().to_string();
    awa.ws.cmd_with_id(&awa_cmd, "floor.request", json!({"name": "Awa"})).await;
    let f1 = awa.ws.reply_to(&awa_cmd).await["result"]["request"].as_str().expect("id").to_owned();
    d.moderator.ok("floor.grant", json!({"request": f1})).await;
    // Same first twelve hex digits as Awa's command id, another command.
    let forged = format!("{}-4000-8000-000000000000", &awa_cmd[..13]);
    assert_ne!(forged, awa_cmd);

    mallory.ws.cmd_with_id(&forged, "floor.request", json!({"name": "Mallory"})).await;
    let reply = mallory.ws.reply_to(&forged).await;

    match reply["type"].as_str() {
        Some("ack") => assert_ne!(reply["result"]["request"], json!(f1), "two requests under one id: {reply}"),
        _ => assert_eq!(code(&reply), "conflict", "{reply}"),
    }
    let state = moderator_view(&app, &d.created).await;
    let speaking = &state["floor"]["speaking"];
    assert_eq!((&speaking["id"], &speaking["name"]), (&json!(f1), &json!("Awa")));
    assert!(!queue(&state).contains(&f1), "the speaker's id is not in the list as well: {}", state["floor"]);
}
