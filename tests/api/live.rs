//! The WebSocket protocol as a client lives it: hello, welcome, events in order, commands
//! applied once, resync, and every refusal.

use crate::helpers::*;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

on_both_stores!(
    nothing_but_hello_is_accepted_first_and_the_socket_stays_usable,
    the_welcome_carries_the_roles_view_and_a_participant_token,
    a_returning_participant_keeps_its_identity,
    the_moderator_moves_the_room_and_everyone_follows_in_seq_order,
    entering_the_debate_opens_questions_for_everyone,
    a_command_retried_with_the_same_id_is_applied_once,
    a_client_that_reconnects_with_since_gets_only_what_it_missed,
    a_since_the_server_cannot_serve_gets_the_full_state,
    refused_commands_say_why_and_change_nothing,
    malformed_frames_are_answered_and_the_connection_kept,
    a_frame_over_64_kib_closes_the_connection_with_1009,
    bad_credentials_are_refused,
    the_screen_follows_but_may_not_command,
    a_foreign_origin_may_not_open_a_socket,
    the_moderator_sees_how_many_are_connected,
    a_stopping_server_tells_its_clients_to_go_away,
);

async fn nothing_but_hello_is_accepted_first_and_the_socket_stays_usable(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let mut ws = app.ws().await;
    let id = ws.cmd("agenda.next", json!({})).await;
    let err = ws.recv().await;
    assert_eq!(
        (err["type"].as_str(), err["code"].as_str(), err["id"].as_str()),
        (Some("error"), Some("invalid"), Some(id.as_str()))
    );
    ws.send(json!({"type": "nonsense"})).await;
    assert_eq!(ws.recv().await["code"], "invalid");
    ws.send(json!({"type": "hello", "session": created["id"], "key": created["moderator_key"]})).await;
    assert_eq!(ws.recv().await["type"], "welcome");
}

async fn the_welcome_carries_the_roles_view_and_a_participant_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (_p, welcome) = hello_participant(&app, &created["code"]).await;
    assert_eq!(welcome["role"], "participant");
    assert_eq!(welcome["session"], created["id"]);
    assert_eq!(welcome["seq"], 0);
    assert!(welcome["participant"].as_str().expect("token").len() >= 32);
    let state = &welcome["state"];
    assert_eq!(state["code"], created["code"]);
    assert_eq!(state["participant_url"], created["links"]["participant"]);
    assert_eq!(state["phase"], "pending");
    assert_eq!(state["agenda"]["items"][6]["kind"], "debate");
    let (_m, welcome) = hello_moderator(&app, &created).await;
    assert_eq!(welcome["role"], "moderator");
    assert!(welcome.get("participant").is_none());
    let mut r = app.ws().await;
    r.send(json!({"type": "hello", "session": created["id"], "key": created["rapporteur_key"]})).await;
    assert_eq!(r.recv().await["role"], "rapporteur");
}

async fn a_returning_participant_keeps_its_identity(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (first, welcome) = hello_participant(&app, &created["code"]).await;
    let token = welcome["participant"].clone();
    first.close().await;
    let mut again = app.ws().await;
    again.send(json!({"type": "hello", "code": created["code"], "participant": token})).await;
    assert_eq!(again.recv().await["participant"], token);
    let mut stranger = app.ws().await;
    stranger.send(json!({"type": "hello", "code": created["code"], "participant": "forged-token"})).await;
    let other = stranger.recv().await["participant"].clone();
    assert_ne!(other, token);
    assert_ne!(other, "forged-token");
}

async fn the_moderator_moves_the_room_and_everyone_follows_in_seq_order(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let ack = room.moderator.call("agenda.next", json!({})).await;
    assert_eq!(ack["type"], "ack");
    assert_eq!(ack["result"]["seq"], 2);
    let e1 = room.participant.event().await;
    assert_eq!((e1["seq"].as_u64(), e1["event"]["kind"].as_str()), (Some(1), Some("session.started")));
    let e2 = room.participant.event().await;
    assert_eq!(e2["seq"], 2);
    assert_eq!(e2["event"]["kind"], "agenda.moved");
    assert_eq!(e2["event"]["current"], 0);
    assert_eq!(room.moderator.call("agenda.goto", json!({"item": 3})).await["type"], "ack");
    let e3 = room.participant.event().await;
    assert_eq!(e3["seq"], 3);
    assert_eq!((e3["event"]["current"].as_u64(), e3["event"]["previous"].as_u64()), (Some(3), Some(0)));
    assert_eq!(room.moderator.call("agenda.prev", json!({})).await["type"], "ack");
    assert_eq!(room.participant.event().await["event"]["current"], 2);
}

async fn entering_the_debate_opens_questions_for_everyone(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    assert_eq!(room.moderator.call("agenda.goto", json!({"item": 6})).await["type"], "ack");
    let kinds: Vec<Value> =
        [room.participant.event().await, room.participant.event().await, room.participant.event().await]
            .iter()
            .map(|e| e["event"]["kind"].clone())
            .collect();
    assert_eq!(kinds, [json!("session.started"), json!("agenda.moved"), json!("qa.opened")]);
    assert_eq!(room.moderator.call("agenda.next", json!({})).await["type"], "ack");
    assert_eq!(room.participant.event().await["event"]["kind"], "qa.closed");
    let (_late, welcome) = hello_participant(&app, &room.created["code"]).await;
    assert_eq!(welcome["state"]["qa_open"], false);
    assert_eq!(welcome["state"]["agenda"]["current"], 7);
}

async fn a_command_retried_with_the_same_id_is_applied_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let id = uuid::Uuid::new_v4().to_string();
    room.moderator.cmd_with_id(&id, "agenda.next", json!({})).await;
    let first = room.moderator.reply_to(&id).await;
    // The retry comes on a new connection, as after a network drop.
    let (mut again, _) = hello_moderator(&app, &room.created).await;
    again.cmd_with_id(&id, "agenda.next", json!({})).await;
    let second = again.reply_to(&id).await;
    assert_eq!(first["type"], "ack");
    assert_eq!(second["type"], "ack");
    assert_eq!(first["result"], second["result"]);
    let (_check, welcome) = hello_participant(&app, &room.created["code"]).await;
    assert_eq!(welcome["seq"], 2);
    assert_eq!(welcome["state"]["agenda"]["current"], 0);
}

async fn a_client_that_reconnects_with_since_gets_only_what_it_missed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    room.moderator.call("agenda.next", json!({})).await;
    assert_eq!(room.participant.event().await["seq"], 1);
    assert_eq!(room.participant.event().await["seq"], 2);
    let token = {
        room.participant.close().await;
        // Token from a fresh hello of the same device is not needed: resync is by seq.
        Value::Null
    };
    room.moderator.call("agenda.next", json!({})).await;
    room.moderator.call("agenda.next", json!({})).await;
    let mut back = app.ws().await;
    back.send(json!({"type": "hello", "code": room.created["code"], "participant": token, "since": 2})).await;
    let welcome = back.recv().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["seq"], 2);
    assert!(welcome.get("state").is_none(), "no state when the events are replayed: {welcome}");
    let e3 = back.event().await;
    let e4 = back.event().await;
    assert_eq!((e3["seq"].as_u64(), e4["seq"].as_u64()), (Some(3), Some(4)));
    assert_eq!(e4["event"]["current"], 2);
    // Up to date already: nothing to replay, and live events follow.
    let mut current = app.ws().await;
    current.send(json!({"type": "hello", "code": room.created["code"], "since": 4})).await;
    let w = current.recv().await;
    assert_eq!((w["seq"].as_u64(), w.get("state").is_none()), (Some(4), true));
    room.moderator.call("agenda.next", json!({})).await;
    assert_eq!(current.event().await["seq"], 5);
}

async fn a_since_the_server_cannot_serve_gets_the_full_state(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    room.moderator.call("agenda.next", json!({})).await;
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": room.created["code"], "since": 999})).await;
    let welcome = ws.recv().await;
    assert_eq!(welcome["seq"], 2);
    assert_eq!(welcome["state"]["agenda"]["current"], 0);
}

async fn refused_commands_say_why_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let cases = [
        (true, "agenda.next", json!({}), "forbidden"),
        (false, "agenda.prev", json!({}), "conflict"),
        (false, "agenda.goto", json!({"item": 8}), "not_found"),
        (false, "agenda.goto", json!({"item": "two"}), "invalid"),
        (false, "qa.close", json!({}), "conflict"),
        (false, "poll.dance", json!({}), "invalid"),
    ];
    for (as_participant, op, fields, code) in cases {
        let ws = if as_participant { &mut room.participant } else { &mut room.moderator };
        let reply = ws.call(op, fields.clone()).await;
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("error"), Some(code)),
            "{op} {fields}: {reply}"
        );
        assert!(!reply["message"].as_str().expect("message").is_empty());
    }
    room.moderator.call("agenda.goto", json!({"item": 7})).await;
    assert_eq!(room.moderator.call("session.end", json!({})).await["type"], "ack");
    let reply = room.moderator.call("agenda.prev", json!({})).await;
    assert_eq!(reply["code"], "closed");
    let (_p, welcome) = hello_participant(&app, &room.created["code"]).await;
    assert_eq!(welcome["state"]["phase"], "ended");
    assert_eq!(welcome["seq"], 3);
}

async fn malformed_frames_are_answered_and_the_connection_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let ws = &mut room.moderator;
    for junk in
        ["{", "[1,2]", "\"hello\"", r#"{"type":"cmd"}"#, r#"{"type":"cmd","id":"not-a-uuid","op":"agenda.next"}"#]
    {
        ws.send_raw(Message::Text(junk.into())).await;
        let reply = ws.recv().await;
        assert_eq!((reply["type"].as_str(), reply["code"].as_str()), (Some("error"), Some("invalid")), "{junk}");
    }
    ws.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(ws.recv().await["code"], "invalid");
    ws.send(json!({"type": "hello", "code": "AAAAAA"})).await;
    assert_eq!(ws.recv().await["code"], "invalid");
    assert_eq!(ws.call("agenda.next", json!({})).await["type"], "ack");
}

async fn a_frame_over_64_kib_closes_the_connection_with_1009(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let big = json!({"type": "cmd", "id": uuid::Uuid::new_v4(), "op": "agenda.next", "pad": "x".repeat(65 * 1024)});
    room.moderator.send(big).await;
    assert_eq!(room.moderator.closed().await, Some(1009));
    // Everyone else is unaffected.
    let (mut m, _) = hello_moderator(&app, &room.created).await;
    assert_eq!(m.call("agenda.next", json!({})).await["type"], "ack");
}

async fn bad_credentials_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "session": created["id"], "key": "0".repeat(40)})).await;
    assert_eq!(ws.recv().await["code"], "unauthorized");
    assert_eq!(ws.closed().await, Some(1008));
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": created["code"], "role": "moderator"})).await;
    assert_eq!(ws.recv().await["code"], "unauthorized");
    let mut ws = app.ws().await;
    ws.send(json!({"type": "hello", "code": "ZZZZZZ"})).await;
    assert_eq!(ws.recv().await["code"], "not_found");
    assert_eq!(ws.closed().await, Some(4404));
}

async fn the_screen_follows_but_may_not_command(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let mut screen = app.ws().await;
    screen.send(json!({"type": "hello", "code": room.created["code"], "role": "screen"})).await;
    let welcome = screen.recv().await;
    assert_eq!(welcome["role"], "screen");
    assert!(welcome.get("participant").is_none());
    room.moderator.call("agenda.next", json!({})).await;
    assert_eq!(screen.event().await["seq"], 1);
    assert_eq!(screen.call("agenda.next", json!({})).await["code"], "forbidden");
}

async fn a_foreign_origin_may_not_open_a_socket(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let own = format!("http://{}", app.addr);
    assert!(Ws::connect(app.addr, Some(&own)).await.is_ok());
    let err = Ws::connect(app.addr, Some("https://evil.example")).await.err().expect("refused");
    assert!(err.to_string().contains("403"), "{err}");
}

async fn the_moderator_sees_how_many_are_connected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let (_p2, _) = hello_participant(&app, &room.created["code"]).await;
    // Presence is reported about once a second; wait for the count that includes everyone.
    let everyone = async {
        loop {
            let p = room.moderator.recv_type("presence").await;
            if p["connected"] == 3 && p["participants"] == 2 {
                break;
            }
        }
    };
    tokio::time::timeout(PATIENCE, everyone).await.expect("the moderator is told 3 connected, 2 participants");
}

async fn a_stopping_server_tells_its_clients_to_go_away(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut room = room(&app).await;
    let stopper = tokio::task::spawn_blocking(move || app.stop());
    assert_eq!(room.participant.closed().await, Some(1001));
    stopper.await.expect("stopped");
}

#[tokio::test]
async fn with_allowed_origins_only_those_pages_may_open_a_socket() {
    let config =
        palabre::config::Config { allowed_origins: vec!["https://palabre.example.org".into()], ..Default::default() };
    let app = TestApp::spawn_with(Backend::Memory, config).await;
    assert!(Ws::connect(app.addr, Some("https://palabre.example.org")).await.is_ok());
    let err = Ws::connect(app.addr, Some("https://elsewhere.example.org")).await.err().expect("refused");
    assert!(err.to_string().contains("403"), "{err}");
}
