//! The audience's questions over the WebSocket, as the room lives them: asked from phones,
//! moderated, upvoted, highlighted on the screen, answered, merged, and every refusal.

use crate::helpers::*;
use palabre::domain::text::QuestionText;
use palabre::domain::{Actor, Command, QuestionCommand};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};

on_both_stores!(
    a_pending_question_is_seen_by_the_moderator_and_its_asker_only,
    an_approved_question_reaches_everyone_without_its_askers_id,
    a_session_without_moderation_shows_each_question_to_everyone_at_once,
    a_session_without_anonymous_questions_refuses_a_question_without_a_name,
    each_role_may_only_do_its_own_part_with_questions,
    questions_are_closed_outside_the_debate_and_after_the_session_ends,
    bad_question_text_and_fields_are_refused_as_invalid,
    unknown_questions_are_not_found,
    someone_elses_pending_question_is_not_found_as_if_it_did_not_exist,
    moderation_refuses_what_a_questions_status_does_not_allow,
    the_same_question_twice_from_one_participant_is_a_conflict,
    a_fourth_question_within_a_minute_is_rate_limited,
    a_sixth_open_question_is_a_conflict_until_one_is_closed,
    more_than_thirty_upvotes_in_ten_seconds_are_rate_limited,
    an_ask_retried_with_the_same_id_is_applied_once_and_acked_alike,
    an_upvote_retried_with_the_same_id_is_counted_once_and_acked_alike,
    a_participant_upvotes_a_question_once_and_may_take_it_back,
    upvote_counts_reach_every_client_as_upvotes_frames,
    a_burst_of_upvotes_reaches_each_client_as_a_few_coalesced_frames,
    only_approved_questions_may_be_upvoted,
    merging_unites_the_upvoters_and_counts_each_once,
    a_merged_question_disappears_from_every_view_but_its_askers,
    the_highlight_is_set_replaced_and_cleared_by_answering_rejecting_or_merging,
    answered_questions_stay_in_the_room_and_rejected_ones_with_their_asker_only,
    hostile_text_is_stored_and_sent_back_verbatim_as_json_strings,
    malformed_and_oversized_question_frames_are_refused_and_the_socket_kept,
    a_question_frame_over_64_kib_closes_the_connection_with_1009,
    a_flood_of_frames_closes_the_connection_with_4429,
    a_flood_from_some_clients_does_not_stop_the_others,
    questions_of_one_session_cannot_be_reached_from_another,
);

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

/// The SOU 94 session in its debate (questions open), with a moderator, an asker, another
/// participant and the screen, each connected once questions were open (welcome at seq 3).
struct Debate {
    created: Value,
    moderator: Ws,
    asker: Ws,
    asker_token: Value,
    other: Ws,
    screen: Ws,
}

/// The seq once the debate is open: session.started, agenda.moved, qa.opened.
const OPEN_SEQ: u64 = 3;

async fn debate(app: &TestApp) -> Debate {
    debate_of(app, &sou94()).await
}

async fn debate_of(app: &TestApp, definition: &Value) -> Debate {
    let (created, moderator) = open_debate(app, definition).await;
    let (asker, welcome) = hello_participant(app, &created["code"]).await;
    assert_eq!((welcome["seq"].as_u64(), &welcome["state"]["qa_open"]), (Some(OPEN_SEQ), &json!(true)));
    let asker_token = welcome["participant"].clone();
    let (other, _) = hello_participant(app, &created["code"]).await;
    let (screen, _) = hello_screen(app, &created["code"]).await;
    Debate { created, moderator, asker, asker_token, other, screen }
}

/// Asks `text` as `ws`; returns the new question's id.
async fn ask(ws: &mut Ws, text: &str) -> String {
    let result = ws.ok("question.ask", json!({"text": text})).await;
    result["question"]["id"].as_str().unwrap_or_else(|| panic!("the ack names the question: {result}")).to_owned()
}

/// Asks `text` as `asker` and has the moderator approve it; returns its id.
async fn approved(moderator: &mut Ws, asker: &mut Ws, text: &str) -> String {
    let id = ask(asker, text).await;
    moderator.ok("question.approve", json!({"question": id})).await;
    id
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or_else(|| panic!("an error code: {reply}"))
}

/// The question ids a state view shows.
fn ids(state: &Value) -> HashSet<String> {
    state["questions"].as_array().expect("questions").iter().map(|q| q["id"].as_str().expect("id").to_owned()).collect()
}

fn set(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

/// A fresh moderator's view of the session.
async fn moderator_view(app: &TestApp, created: &Value) -> Value {
    hello_moderator(app, created).await.1["state"].clone()
}

async fn screen_view(app: &TestApp, created: &Value) -> Value {
    hello_screen(app, &created["code"]).await.1["state"].clone()
}

/// A participant who never asked nor upvoted anything.
async fn newcomer_view(app: &TestApp, created: &Value) -> Value {
    hello_participant(app, &created["code"]).await.1["state"].clone()
}

async fn view_of(app: &TestApp, created: &Value, token: &Value) -> Value {
    hello_again(app, &created["code"], token).await.1["state"].clone()
}

fn upvotes_of(state: &Value, id: &str) -> u64 {
    question_in(state, id).unwrap_or_else(|| panic!("{id} in the view"))["upvotes"].as_u64().expect("upvotes")
}

/// Participants who joined the debate, with their tokens.
async fn participants(app: &TestApp, created: &Value, n: usize) -> Vec<(Ws, Value)> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        let (ws, welcome) = hello_participant(app, &created["code"]).await;
        all.push((ws, welcome["participant"].clone()));
    }
    all
}

// ---------------------------------------------------------------------------------------------
// Who sees what
// ---------------------------------------------------------------------------------------------

async fn a_pending_question_is_seen_by_the_moderator_and_its_asker_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &d.created).await;

    let text = "Quel budget pour les régions ?";
    let result = d.asker.ok("question.ask", json!({"text": text, "name": "Awa Diop"})).await;

    assert_eq!(result["seq"], OPEN_SEQ + 1);
    let mine = &result["question"];
    let id = mine["id"].as_str().expect("id");
    assert_eq!(
        (&mine["text"], &mine["name"], &mine["status"], &mine["upvotes"], &mine["mine"]),
        (&json!(text), &json!("Awa Diop"), &json!("pending"), &json!(0), &json!(true)),
        "{mine}"
    );
    assert!(mine["at"].is_i64() && mine["answered_at"].is_null() && mine["merged_into"].is_null(), "{mine}");
    assert!(mine.get("by").is_none(), "the asker's own id is the moderator's to see: {mine}");

    let seen = d.moderator.event_of("question.asked").await;
    assert_eq!(seen["seq"], OPEN_SEQ + 1);
    let q = &seen["event"]["question"];
    assert_eq!((&q["id"], &q["text"], &q["status"]), (&json!(id), &json!(text), &json!("pending")));
    let by = q["by"].as_str().expect("the moderator sees who asked").to_owned();
    assert!(!by.is_empty());
    let seen = rapporteur.event_of("question.asked").await;
    assert_eq!((&seen["event"]["question"]["id"], seen["event"]["question"].get("by")), (&json!(id), None));
    // Everyone else learns only that something happened, so their seq still rises by one.
    let bare = json!({"type": "event", "seq": OPEN_SEQ + 1, "event": {"kind": "question.asked"}});
    assert_eq!(d.other.event().await, bare);
    assert_eq!(d.screen.event().await, bare);

    let asker = view_of(&app, &d.created, &d.asker_token).await;
    let own = question_in(&asker, id).expect("the asker sees its pending question");
    assert_eq!((&own["status"], &own["mine"], &own["upvoted"]), (&json!("pending"), &json!(true), &json!(false)));
    assert!(own.get("by").is_none());
    assert_eq!(ids(&newcomer_view(&app, &d.created).await), set(&[]));
    assert_eq!(ids(&screen_view(&app, &d.created).await), set(&[]));
    let moderator = moderator_view(&app, &d.created).await;
    let q = question_in(&moderator, id).expect("the moderator sees it");
    assert_eq!((&q["status"], &q["by"], q.get("mine")), (&json!("pending"), &json!(by), None));
    let (_, welcome) = hello_rapporteur(&app, &d.created).await;
    let q = question_in(&welcome["state"], id).expect("the rapporteur sees it");
    assert_eq!((&q["status"], q.get("by")), (&json!("pending"), None));
}

async fn an_approved_question_reaches_everyone_without_its_askers_id(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let text = "Comment les communes lèvent-elles l'impôt ?";
    let id = ask(&mut d.asker, text).await;

    let ack = d.moderator.ok("question.approve", json!({"question": id})).await;
    assert_eq!(ack, json!({"seq": OPEN_SEQ + 2}));

    for ws in [&mut d.other, &mut d.screen] {
        let e = ws.event_of("question.approved").await;
        assert_eq!(e["seq"], OPEN_SEQ + 2);
        let q = &e["event"]["question"];
        assert_eq!((&q["id"], &q["text"], &q["status"]), (&json!(id), &json!(text), &json!("approved")), "{e}");
        assert!(q.get("by").is_none(), "no asker id outside the moderator's desk: {e}");
    }
    let e = d.moderator.event_of("question.approved").await;
    assert!(e["event"]["question"]["by"].as_str().is_some_and(|b| !b.is_empty()), "{e}");

    let other = newcomer_view(&app, &d.created).await;
    let q = question_in(&other, &id).expect("approved: every participant sees it");
    assert_eq!((&q["status"], &q["upvotes"], &q["upvoted"]), (&json!("approved"), &json!(0), &json!(false)));
    assert_eq!((q.get("by"), q.get("mine")), (None, None), "{q}");
    let screen = screen_view(&app, &d.created).await;
    let q = question_in(&screen, &id).expect("the screen shows it");
    assert_eq!((q.get("by"), q.get("mine"), q.get("upvoted")), (None, None, None), "{q}");
    let asker = view_of(&app, &d.created, &d.asker_token).await;
    assert_eq!(question_in(&asker, &id).expect("own")["mine"], true);
    let moderator = moderator_view(&app, &d.created).await;
    assert!(question_in(&moderator, &id).expect("moderator")["by"].is_string());
}

async fn a_session_without_moderation_shows_each_question_to_everyone_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut definition = sou94();
    definition["settings"]["moderate_questions"] = json!(false);
    let mut d = debate_of(&app, &definition).await;

    let result = d.asker.ok("question.ask", json!({"text": "Et la sécurité ?"})).await;

    assert_eq!((&result["question"]["status"], &result["question"]["name"]), (&json!("approved"), &Value::Null));
    let id = result["question"]["id"].clone();
    for ws in [&mut d.other, &mut d.screen] {
        let e = ws.event().await;
        assert_eq!((e["seq"].as_u64(), &e["event"]["kind"]), (Some(OPEN_SEQ + 1), &json!("question.asked")));
        let q = &e["event"]["question"];
        assert_eq!((&q["id"], &q["text"], &q["status"]), (&id, &json!("Et la sécurité ?"), &json!("approved")));
        assert!(q.get("by").is_none(), "{e}");
    }
    let e = d.moderator.event_of("question.asked").await;
    assert!(e["event"]["question"]["by"].is_string(), "{e}");
    assert!(question_in(&screen_view(&app, &d.created).await, id.as_str().expect("id")).is_some());
}

async fn a_session_without_anonymous_questions_refuses_a_question_without_a_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut definition = sou94();
    definition["settings"]["anonymous_questions"] = json!(false);
    let mut d = debate_of(&app, &definition).await;

    for fields in [json!({"text": "Anonyme ?"}), json!({"text": "Anonyme ?", "name": "   "})] {
        assert_eq!(code(&d.asker.refused("question.ask", fields).await), "invalid");
    }
    let named = d.asker.ok("question.ask", json!({"text": "Anonyme ?", "name": "Moussa"})).await;
    assert_eq!(named["question"]["name"], "Moussa");
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

async fn each_role_may_only_do_its_own_part_with_questions(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.asker, "Qui finance ?").await;
    let other = ask(&mut d.other, "Quand ?").await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &d.created).await;
    let every_op = [
        ("question.ask", json!({"text": "Puis-je ?"})),
        ("question.upvote", json!({"question": q})),
        ("question.unvote", json!({"question": q})),
        ("question.approve", json!({"question": other})),
        ("question.reject", json!({"question": q})),
        ("question.answer", json!({"question": q})),
        ("question.highlight", json!({"question": q})),
        ("question.merge", json!({"question": other, "into": q})),
    ];

    for (op, fields) in &every_op[3..] {
        assert_eq!(code(&d.asker.refused(op, fields.clone()).await), "forbidden", "participant {op}");
    }
    for (op, fields) in &every_op[..3] {
        assert_eq!(code(&d.moderator.refused(op, fields.clone()).await), "forbidden", "moderator {op}");
    }
    for (op, fields) in &every_op {
        assert_eq!(code(&d.screen.refused(op, fields.clone()).await), "forbidden", "screen {op}");
        assert_eq!(code(&rapporteur.refused(op, fields.clone()).await), "forbidden", "rapporteur {op}");
    }

    let state = moderator_view(&app, &d.created).await;
    assert_eq!(state["seq"], OPEN_SEQ + 3, "nothing was applied");
    assert_eq!(ids(&state), set(&[&q, &other]));
    assert_eq!((upvotes_of(&state, &q), &state["highlighted"]), (0, &Value::Null));
    assert_eq!(question_in(&state, &other).expect("other")["status"], "pending");
}

async fn questions_are_closed_outside_the_debate_and_after_the_session_ends(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut moderator, _) = hello_moderator(&app, &created).await;
    let (mut p, _) = hello_participant(&app, &created["code"]).await;
    assert_eq!(code(&p.refused("question.ask", json!({"text": "Avant le début ?"})).await), "closed");
    moderator.ok("agenda.next", json!({})).await;
    assert_eq!(code(&p.refused("question.ask", json!({"text": "Pendant l'intro ?"})).await), "closed");

    // Opened by hand, then closed again: upvotes close with the questions.
    moderator.ok("qa.open", json!({})).await;
    let q = approved(&mut moderator, &mut p, "Maintenant ?").await;
    let pending = ask(&mut p, "Et celle-ci ?").await;
    moderator.ok("qa.close", json!({})).await;
    assert_eq!(code(&p.refused("question.ask", json!({"text": "Encore ?"})).await), "closed");
    assert_eq!(code(&p.refused("question.upvote", json!({"question": q})).await), "closed");
    assert_eq!(code(&p.refused("question.unvote", json!({"question": q})).await), "closed");

    // The debate opens them again; the end of the session closes everything for good.
    moderator.ok("agenda.goto", json!({"item": 6})).await;
    assert_eq!(p.ok("question.upvote", json!({"question": q})).await["upvotes"], 1);
    moderator.ok("session.end", json!({})).await;
    assert_eq!(code(&p.refused("question.ask", json!({"text": "Après la fin ?"})).await), "closed");
    assert_eq!(code(&p.refused("question.unvote", json!({"question": q})).await), "closed");
    assert_eq!(code(&moderator.refused("question.approve", json!({"question": pending})).await), "closed");
    assert_eq!(code(&moderator.refused("question.answer", json!({"question": q})).await), "closed");

    let state = moderator_view(&app, &created).await;
    assert_eq!((upvotes_of(&state, &q), ids(&state)), (1, set(&[&q, &pending])));
    assert_eq!(question_in(&state, &pending).expect("pending")["status"], "pending");
}

async fn bad_question_text_and_fields_are_refused_as_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Une vraie question ?").await;
    let participant_cases = [
        ("question.ask", json!({"text": ""})),
        ("question.ask", json!({"text": "  \n\t "})),
        ("question.ask", json!({"text": "é".repeat(501)})),
        ("question.ask", json!({"text": "Une cloche \u{0007} ?"})),
        ("question.ask", json!({"text": "Un caractère nul \u{0000} ?"})),
        ("question.ask", json!({"text": "txt.exe\u{202E}gpj.pdf"})),
        ("question.ask", json!({"text": "isolé \u{2066}caché\u{2069}"})),
        ("question.ask", json!({"text": 42})),
        ("question.ask", json!({"text": ["Une", "liste"]})),
        ("question.ask", json!({})),
        ("question.ask", json!({"text": "Bon texte", "name": "n".repeat(81)})),
        ("question.ask", json!({"text": "Bon texte", "name": 7})),
        ("question.ask", json!({"text": "Bon texte", "name": "Awa\nDiop"})),
        ("question.upvote", json!({})),
        ("question.upvote", json!({"question": 5})),
        ("question.upvote", json!({"question": ""})),
        ("question.upvote", json!({"question": "q".repeat(65)})),
        ("question.unvote", json!({"question": null})),
    ];
    for (op, fields) in participant_cases {
        let reply = d.asker.refused(op, fields.clone()).await;
        assert_eq!(code(&reply), "invalid", "{op} {fields}: {reply}");
    }
    let moderator_cases = [
        ("question.approve", json!({})),
        ("question.reject", json!({"question": {"id": q}})),
        ("question.answer", json!({"question": true})),
        ("question.highlight", json!({"question": 5})),
        ("question.merge", json!({"question": q})),
        ("question.merge", json!({"into": q})),
    ];
    for (op, fields) in moderator_cases {
        let reply = d.moderator.refused(op, fields.clone()).await;
        assert_eq!(code(&reply), "invalid", "{op} {fields}: {reply}");
    }

    // At the limits, and a line break inside a question, all fine.
    let longest = d.asker.ok("question.ask", json!({"text": "é".repeat(500), "name": "n".repeat(80)})).await;
    assert_eq!(longest["question"]["text"].as_str().map(|t| t.chars().count()), Some(500));
    let lines = d.asker.ok("question.ask", json!({"text": "  Première ligne\r\nseconde ligne  "})).await;
    assert_eq!(lines["question"]["text"], "Première ligne\nseconde ligne", "trimmed, line ends made \\n");
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(state["questions"].as_array().map(Vec::len), Some(3), "nothing refused was stored");
    assert_eq!(upvotes_of(&state, &q), 0);
}

async fn unknown_questions_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.asker, "Existe-t-elle ?").await;
    let unknown = "q0123456789ab";
    for op in ["question.upvote", "question.unvote"] {
        assert_eq!(code(&d.other.refused(op, json!({"question": unknown})).await), "not_found", "{op}");
    }
    for (op, fields) in [
        ("question.approve", json!({"question": unknown})),
        ("question.reject", json!({"question": unknown})),
        ("question.answer", json!({"question": unknown})),
        ("question.highlight", json!({"question": unknown})),
        ("question.merge", json!({"question": unknown, "into": q})),
        ("question.merge", json!({"question": q, "into": unknown})),
    ] {
        assert_eq!(code(&d.moderator.refused(op, fields.clone()).await), "not_found", "{op} {fields}");
    }
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(question_in(&state, &q).expect("q")["status"], "approved");
}

async fn someone_elses_pending_question_is_not_found_as_if_it_did_not_exist(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let pending = ask(&mut d.asker, "Une question en attente ?").await;
    let unknown = "q0123456789ab";

    let hidden = d.other.refused("question.upvote", json!({"question": pending})).await;
    let missing = d.other.refused("question.upvote", json!({"question": unknown})).await;

    assert_eq!(code(&hidden), "not_found", "{hidden}");
    let anonymised = |reply: &Value, id: &str| reply["message"].as_str().expect("message").replace(id, "<id>");
    assert_eq!(anonymised(&hidden, &pending), anonymised(&missing, unknown), "the refusal tells nothing more");
    assert_eq!(code(&d.other.refused("question.unvote", json!({"question": pending})).await), "not_found");
    // Its asker sees it, so is told why instead.
    assert_eq!(code(&d.asker.refused("question.upvote", json!({"question": pending})).await), "conflict");
    // Rejected, it stays hidden from others.
    d.moderator.ok("question.reject", json!({"question": pending})).await;
    assert_eq!(code(&d.other.refused("question.upvote", json!({"question": pending})).await), "not_found");
    assert_eq!(code(&d.asker.refused("question.upvote", json!({"question": pending})).await), "conflict");
}

async fn moderation_refuses_what_a_questions_status_does_not_allow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q1 = ask(&mut d.asker, "Première ?").await;
    let q2 = ask(&mut d.other, "Deuxième ?").await;
    let m = &mut d.moderator;
    let refused = |reply: Value| code(&reply).to_owned();

    assert_eq!(refused(m.refused("question.answer", json!({"question": q1})).await), "conflict", "answer pending");
    assert_eq!(refused(m.refused("question.highlight", json!({"question": q1})).await), "conflict", "show pending");
    m.ok("question.approve", json!({"question": q1})).await;
    assert_eq!(refused(m.refused("question.approve", json!({"question": q1})).await), "conflict", "approve twice");
    // A request that no state could make valid: refused as invalid (see the report).
    let into_itself = m.refused("question.merge", json!({"question": q1, "into": q1})).await;
    assert_eq!(refused(into_itself), "invalid", "merge into itself");
    let up_into_pending = m.refused("question.merge", json!({"question": q1, "into": q2})).await;
    assert_eq!(refused(up_into_pending), "conflict", "an approved question into a pending one");
    assert_eq!(refused(m.refused("question.highlight", json!({"question": null})).await), "conflict", "no highlight");
    m.ok("question.highlight", json!({"question": q1})).await;
    assert_eq!(refused(m.refused("question.highlight", json!({"question": q1})).await), "conflict", "shown twice");
    m.ok("question.answer", json!({"question": q1})).await;
    for (op, fields) in [
        ("question.answer", json!({"question": q1})),
        ("question.approve", json!({"question": q1})),
        ("question.reject", json!({"question": q1})),
        ("question.highlight", json!({"question": q1})),
        ("question.merge", json!({"question": q1, "into": q2})),
    ] {
        assert_eq!(refused(m.refused(op, fields.clone()).await), "conflict", "{op} an answered question");
    }
    m.ok("question.reject", json!({"question": q2})).await;
    for (op, fields) in [
        ("question.reject", json!({"question": q2})),
        ("question.answer", json!({"question": q2})),
        ("question.highlight", json!({"question": q2})),
        ("question.merge", json!({"question": q2, "into": q1})),
    ] {
        assert_eq!(refused(m.refused(op, fields.clone()).await), "conflict", "{op} a rejected question");
    }
    // A rejection by mistake is not final: a rejected question may be approved after all.
    m.ok("question.approve", json!({"question": q2})).await;

    let state = moderator_view(&app, &d.created).await;
    assert_eq!(
        state["seq"],
        OPEN_SEQ + 8,
        "two asks, approve, highlight, answer (+ highlight cleared), reject, approve"
    );
    let status = |id: &str| question_in(&state, id).expect("shown")["status"].clone();
    assert_eq!((status(&q1), status(&q2), &state["highlighted"]), (json!("answered"), json!("approved"), &Value::Null));
}

async fn the_same_question_twice_from_one_participant_is_a_conflict(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let first = ask(&mut d.asker, "Quel budget pour les régions ?").await;

    for again in
        ["  quel BUDGET, pour les REGIONS  ", "Quel budget pour les regions?", "Quel  budget pour les Régions !"]
    {
        let reply = d.asker.refused("question.ask", json!({"text": again})).await;
        assert_eq!(code(&reply), "conflict", "{again:?}: {reply}");
    }
    // Another participant may ask the same; the asker may ask something else.
    ask(&mut d.other, "Quel budget pour les régions ?").await;
    ask(&mut d.asker, "Quel calendrier pour les régions ?").await;
    // Even once rejected, the same question is not asked again.
    d.moderator.ok("question.reject", json!({"question": first})).await;
    let reply = d.asker.refused("question.ask", json!({"text": "QUEL budget pour les régions"})).await;
    assert_eq!(code(&reply), "conflict");

    let state = moderator_view(&app, &d.created).await;
    assert_eq!(state["questions"].as_array().map(Vec::len), Some(3));
}

async fn a_fourth_question_within_a_minute_is_rate_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    for text in ["Un ?", "Deux ?", "Trois ?"] {
        ask(&mut d.asker, text).await;
    }

    let fourth = d.asker.refused("question.ask", json!({"text": "Quatre ?"})).await;

    assert_eq!(code(&fourth), "rate_limited", "{fourth}");
    ask(&mut d.other, "Quatre ?").await;
    let asker = view_of(&app, &d.created, &d.asker_token).await;
    let texts: HashSet<&str> =
        asker["questions"].as_array().expect("questions").iter().filter_map(|q| q["text"].as_str()).collect();
    assert_eq!(texts, ["Un ?", "Deux ?", "Trois ?"].into_iter().collect());
}

async fn a_sixth_open_question_is_a_conflict_until_one_is_closed(backend: Backend) {
    // Three asks a minute at most: the test asks four of the five over the past minutes
    // through the store it shares with the app, then asks the sixth over the socket.
    let (app, store) = TestApp::spawn_sharing(backend).await;
    let mut d = debate(&app).await;
    let first = d.asker.ok("question.ask", json!({"text": "Première ?"})).await;
    let first_id = first["question"]["id"].as_str().expect("id").to_owned();
    let asked_at = first["question"]["at"].as_i64().expect("at");
    let by = d.moderator.event_of("question.asked").await["event"]["question"]["by"]
        .as_str()
        .expect("the moderator sees who asked")
        .to_owned();
    let session = d.created["id"].as_str().expect("id");
    let t0 = asked_at - 200_000;
    for (i, at) in [t0, t0 + 1, t0 + 60_001, t0 + 60_002].into_iter().enumerate() {
        let ask = Command::Question(QuestionCommand::Ask {
            id: format!("qseeded{i}"),
            text: QuestionText::parse(&format!("Question d'avant numéro {i} ?")).expect("text"),
            name: None,
        });
        store
            .apply(session, &uuid::Uuid::new_v4().to_string(), &Actor::participant(by.clone()), &ask, at)
            .await
            .unwrap_or_else(|e| panic!("seeding ask {i}: {e}"));
    }

    let sixth = d.asker.refused("question.ask", json!({"text": "Sixième ?"})).await;

    assert_eq!(code(&sixth), "conflict", "{sixth}");
    ask(&mut d.other, "Une autre personne peut demander ?").await;
    d.moderator.ok("question.reject", json!({"question": first_id})).await;
    ask(&mut d.asker, "Sixième ?").await;
    let seventh = d.asker.refused("question.ask", json!({"text": "Septième ?"})).await;
    assert_eq!(code(&seventh), "conflict", "{seventh}");
    let state = moderator_view(&app, &d.created).await;
    let open = state["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .filter(|q| q["by"] == by.as_str() && q["status"] == "pending")
        .count();
    assert_eq!(open, 5);
}

async fn more_than_thirty_upvotes_in_ten_seconds_are_rate_limited(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Populaire ?").await;
    // Thirty upvotes and unvotes, over two sockets of the same participant (each socket has
    // its own frame budget, and the limit is the participant's).
    let (mut second, _) = hello_again(&app, &d.created["code"], &d.asker_token).await;
    for i in 0..30 {
        let ws = if i < 15 { &mut d.asker } else { &mut second };
        let op = if i % 2 == 0 { "question.upvote" } else { "question.unvote" };
        assert_eq!(ws.ok(op, json!({"question": q})).await["upvoted"], i % 2 == 0, "vote {i}");
    }

    let over = second.refused("question.upvote", json!({"question": q})).await;

    assert_eq!(code(&over), "rate_limited", "{over}");
    // The limit is per participant: the others still vote.
    assert_eq!(d.other.ok("question.upvote", json!({"question": q})).await["upvotes"], 1);
    assert_eq!(upvotes_of(&moderator_view(&app, &d.created).await, &q), 1, "the refused upvote was not counted");
}

// ---------------------------------------------------------------------------------------------
// Retries
// ---------------------------------------------------------------------------------------------

async fn an_ask_retried_with_the_same_id_is_applied_once_and_acked_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let id = uuid::Uuid::new_v4().to_string();
    d.asker.cmd_with_id(&id, "question.ask", json!({"text": "Une seule fois ?"})).await;
    let first = d.asker.reply_to(&id).await;
    assert_eq!(first["type"], "ack", "{first}");

    // The retry comes on a new connection, as after a network drop; even a changed body
    // names the command already applied.
    let (mut again, _) = hello_again(&app, &d.created["code"], &d.asker_token).await;
    again.cmd_with_id(&id, "question.ask", json!({"text": "Une seule fois ?"})).await;
    let second = again.reply_to(&id).await;
    again.cmd_with_id(&id, "question.ask", json!({"text": "Autre chose ?"})).await;
    let third = again.reply_to(&id).await;

    assert_eq!(second, first);
    assert_eq!(third, first);
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(state["seq"], OPEN_SEQ + 1);
    assert_eq!(ids(&state), set(&[first["result"]["question"]["id"].as_str().expect("id")]));
    // The retries did not use up the asker's three questions a minute.
    ask(&mut again, "Deuxième ?").await;
    ask(&mut again, "Troisième ?").await;
}

async fn an_upvote_retried_with_the_same_id_is_counted_once_and_acked_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Une voix ?").await;
    let id = uuid::Uuid::new_v4().to_string();
    d.asker.cmd_with_id(&id, "question.upvote", json!({"question": q})).await;
    let first = d.asker.reply_to(&id).await;
    assert_eq!(first["result"], json!({"seq": OPEN_SEQ + 2, "question": q, "upvotes": 1, "upvoted": true}), "{first}");
    assert_eq!(d.other.ok("question.upvote", json!({"question": q})).await["upvotes"], 2);

    let (mut again, _) = hello_again(&app, &d.created["code"], &d.asker_token).await;
    again.cmd_with_id(&id, "question.upvote", json!({"question": q})).await;
    assert_eq!(again.reply_to(&id).await, first, "acked as the first time");
    assert_eq!(upvotes_of(&moderator_view(&app, &d.created).await, &q), 2);

    // Taken back, then the old upvote retried: it is not applied again.
    assert_eq!(again.ok("question.unvote", json!({"question": q})).await["upvotes"], 1);
    again.cmd_with_id(&id, "question.upvote", json!({"question": q})).await;
    assert_eq!(again.reply_to(&id).await, first);
    assert_eq!(upvotes_of(&moderator_view(&app, &d.created).await, &q), 1);
    assert_eq!(question_in(&view_of(&app, &d.created, &d.asker_token).await, &q).expect("q")["upvoted"], false);
}

// ---------------------------------------------------------------------------------------------
// Upvotes
// ---------------------------------------------------------------------------------------------

async fn a_participant_upvotes_a_question_once_and_may_take_it_back(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Pour ou contre ?").await;
    let vote = |upvotes: u64, upvoted: bool| (json!(q.clone()), json!(upvotes), json!(upvoted));
    let got = |r: Value| (r["question"].clone(), r["upvotes"].clone(), r["upvoted"].clone());

    assert_eq!(got(d.asker.ok("question.upvote", json!({"question": q})).await), vote(1, true));
    assert_eq!(got(d.asker.ok("question.upvote", json!({"question": q})).await), vote(1, true), "once only");
    assert_eq!(got(d.other.ok("question.upvote", json!({"question": q})).await), vote(2, true));

    let mine = view_of(&app, &d.created, &d.asker_token).await;
    let seen = question_in(&mine, &q).expect("q");
    assert_eq!((&seen["upvotes"], &seen["upvoted"]), (&json!(2), &json!(true)));
    let stranger = newcomer_view(&app, &d.created).await;
    let seen = question_in(&stranger, &q).expect("q");
    assert_eq!((&seen["upvotes"], &seen["upvoted"]), (&json!(2), &json!(false)));

    assert_eq!(got(d.asker.ok("question.unvote", json!({"question": q})).await), vote(1, false));
    assert_eq!(got(d.asker.ok("question.unvote", json!({"question": q})).await), vote(1, false), "nothing to undo");
    let mine = view_of(&app, &d.created, &d.asker_token).await;
    let seen = question_in(&mine, &q).expect("q");
    assert_eq!((&seen["upvotes"], &seen["upvoted"]), (&json!(1), &json!(false)));
    assert_eq!(upvotes_of(&screen_view(&app, &d.created).await, &q), 1);
}

async fn upvote_counts_reach_every_client_as_upvotes_frames(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q1 = approved(&mut d.moderator, &mut d.asker, "Première ?").await;
    let q2 = approved(&mut d.moderator, &mut d.asker, "Deuxième ?").await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &d.created).await;
    let (mut watcher, _) = hello_moderator(&app, &d.created).await;
    let mut voters = participants(&app, &d.created, 3).await;

    for (ws, _) in voters.iter_mut() {
        ws.ok("question.upvote", json!({"question": q1})).await;
    }
    voters[0].0.ok("question.upvote", json!({"question": q2})).await;

    let expected: HashMap<String, u64> = [(q1.clone(), 3), (q2.clone(), 1)].into_iter().collect();
    for ws in [&mut watcher, &mut d.other, &mut d.screen, &mut rapporteur, &mut voters[2].0] {
        let mut counts = HashMap::new();
        ws.fold_upvotes_until(&mut counts, |c| *c == expected).await;
    }
    // The frame carries only its type and the counts: not sequenced.
    voters[1].0.ok("question.unvote", json!({"question": q1})).await;
    let frame = d.screen.recv_type("upvotes").await;
    assert_eq!(frame, json!({"type": "upvotes", "counts": {q1.clone(): 2}}));
}

async fn a_burst_of_upvotes_reaches_each_client_as_a_few_coalesced_frames(backend: Backend) {
    const VOTERS: usize = 20;
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let mut questions = Vec::new();
    for text in ["Un ?", "Deux ?", "Trois ?"] {
        questions.push(approved(&mut d.moderator, &mut d.asker, text).await);
    }
    let mut voters = participants(&app, &d.created, VOTERS).await;

    let mut sent = Vec::new();
    for (ws, _) in voters.iter_mut() {
        let mut ids = Vec::new();
        for q in &questions {
            ids.push(ws.cmd("question.upvote", json!({"question": q})).await);
        }
        sent.push(ids);
    }
    for ((ws, _), ids) in voters.iter_mut().zip(&sent) {
        for id in ids {
            assert_eq!(ws.reply_to(id).await["type"], "ack");
        }
    }

    let upvotes = VOTERS * questions.len();
    let expected: HashMap<String, u64> = questions.iter().map(|q| (q.clone(), VOTERS as u64)).collect();
    for ws in [&mut d.screen, &mut d.other, &mut d.moderator] {
        let mut counts = HashMap::new();
        let frames = ws.fold_upvotes_until(&mut counts, |c| *c == expected).await;
        assert!(frames <= upvotes / 4, "{upvotes} upvotes came as {frames} frames: not coalesced");
    }
}

async fn only_approved_questions_may_be_upvoted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let own_pending = ask(&mut d.asker, "La mienne ?").await;
    assert_eq!(code(&d.asker.refused("question.upvote", json!({"question": own_pending})).await), "conflict");
    let q = approved(&mut d.moderator, &mut d.other, "Répondue bientôt ?").await;
    assert_eq!(d.asker.ok("question.upvote", json!({"question": q})).await["upvotes"], 1);

    d.moderator.ok("question.answer", json!({"question": q})).await;

    assert_eq!(code(&d.other.refused("question.upvote", json!({"question": q})).await), "conflict");
    assert_eq!(code(&d.asker.refused("question.unvote", json!({"question": q})).await), "conflict");
    d.moderator.ok("question.reject", json!({"question": own_pending})).await;
    assert_eq!(code(&d.asker.refused("question.upvote", json!({"question": own_pending})).await), "conflict");
    let state = view_of(&app, &d.created, &d.asker_token).await;
    let answered = question_in(&state, &q).expect("answered questions stay");
    assert_eq!(
        (&answered["status"], &answered["upvotes"], &answered["upvoted"]),
        (&json!("answered"), &json!(1), &json!(true))
    );
}

async fn merging_unites_the_upvoters_and_counts_each_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q1 = approved(&mut d.moderator, &mut d.asker, "Quel budget ?").await;
    let q2 = approved(&mut d.moderator, &mut d.other, "Combien d'argent ?").await;
    let mut voters = participants(&app, &d.created, 3).await;
    // p0 upvotes both; p1 only the first; p2 only the duplicate.
    for (i, targets) in [vec![&q1, &q2], vec![&q1], vec![&q2]].into_iter().enumerate() {
        for q in targets {
            voters[i].0.ok("question.upvote", json!({"question": q})).await;
        }
    }
    let mut counts = HashMap::new();
    d.screen.fold_upvotes_until(&mut counts, |c| c.get(&q1) == Some(&2) && c.get(&q2) == Some(&2)).await;

    d.moderator.ok("question.merge", json!({"question": q2, "into": q1})).await;

    d.screen.fold_upvotes_until(&mut counts, |c| c.get(&q1) == Some(&3)).await;
    let state = moderator_view(&app, &d.created).await;
    assert_eq!((upvotes_of(&state, &q1), question_in(&state, &q2).is_none()), (3, true));
    for (_, token) in &voters {
        let view = view_of(&app, &d.created, token).await;
        assert_eq!(question_in(&view, &q1).expect("q1")["upvoted"], true, "every upvoter of either upvotes the target");
    }
    // Counted once: p0 upvoting again changes nothing; p2 taking its upvote back does.
    assert_eq!(voters[0].0.ok("question.upvote", json!({"question": q1})).await["upvotes"], 3);
    assert_eq!(voters[2].0.ok("question.unvote", json!({"question": q1})).await["upvotes"], 2);
    assert_eq!(code(&voters[1].0.refused("question.upvote", json!({"question": q2})).await), "not_found");
    d.screen.fold_upvotes_until(&mut counts, |c| c.get(&q1) == Some(&2)).await;
}

// ---------------------------------------------------------------------------------------------
// The moderator's desk
// ---------------------------------------------------------------------------------------------

async fn a_merged_question_disappears_from_every_view_but_its_askers(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let (mut b, welcome) = hello_participant(&app, &d.created["code"]).await;
    let b_token = welcome["participant"].clone();
    let target = approved(&mut d.moderator, &mut d.asker, "Quel budget ?").await;
    let duplicate = ask(&mut b, "Combien d'argent ?").await;

    let ack = d.moderator.ok("question.merge", json!({"question": duplicate, "into": target})).await;

    for ws in [&mut d.other, &mut d.screen] {
        let e = ws.event_of("question.merged").await;
        assert_eq!(
            e,
            json!({"type": "event", "seq": ack["seq"], "event": {"kind": "question.merged", "question": duplicate, "into": target}})
        );
    }
    let (_, rapporteur) = hello_rapporteur(&app, &d.created).await;
    for (who, state) in [
        ("moderator", moderator_view(&app, &d.created).await),
        ("rapporteur", rapporteur["state"].clone()),
        ("screen", screen_view(&app, &d.created).await),
        ("another participant", newcomer_view(&app, &d.created).await),
        ("the target's asker", view_of(&app, &d.created, &d.asker_token).await),
    ] {
        assert_eq!(ids(&state), set(&[&target]), "{who}");
    }
    let mine = view_of(&app, &d.created, &b_token).await;
    let merged = question_in(&mine, &duplicate).expect("its asker still sees it");
    assert_eq!(
        (&merged["status"], &merged["merged_into"], &merged["mine"]),
        (&json!("merged"), &json!(target), &json!(true))
    );
    // No longer open: it no longer counts against its asker, and may not be merged again.
    assert_eq!(code(&d.moderator.refused("question.approve", json!({"question": duplicate})).await), "conflict");
}

async fn the_highlight_is_set_replaced_and_cleared_by_answering_rejecting_or_merging(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q1 = approved(&mut d.moderator, &mut d.asker, "Un ?").await;
    let q2 = approved(&mut d.moderator, &mut d.asker, "Deux ?").await;
    let q3 = approved(&mut d.moderator, &mut d.other, "Trois ?").await;
    let q4 = approved(&mut d.moderator, &mut d.other, "Quatre ?").await;
    let screen = &mut d.screen;
    let m = &mut d.moderator;
    let highlighted = |e: &Value| e["event"]["question"].clone();

    m.ok("question.highlight", json!({"question": q1})).await;
    assert_eq!(highlighted(&screen.event_of("question.highlighted").await), json!(q1));
    assert_eq!(screen_view(&app, &d.created).await["highlighted"], json!(q1));
    assert_eq!(newcomer_view(&app, &d.created).await["highlighted"], json!(q1));
    m.ok("question.highlight", json!({"question": q2})).await;
    assert_eq!(highlighted(&screen.event_of("question.highlighted").await), json!(q2), "replaced");

    // Answering, rejecting or merging the highlighted question takes it off the screen: the
    // event that does it is followed at once by the highlight's.
    let cases = [
        ("question.answer", json!({"question": q2}), "question.answered", &q2),
        ("question.reject", json!({"question": q3}), "question.rejected", &q3),
        ("question.merge", json!({"question": q4, "into": q1}), "question.merged", &q4),
    ];
    for (op, fields, kind, id) in cases {
        if id != &q2 {
            m.ok("question.highlight", json!({"question": id})).await;
            assert_eq!(highlighted(&screen.event_of("question.highlighted").await), json!(id));
        }
        let ack = m.ok(op, fields).await;
        let done = screen.event_of(kind).await;
        let cleared = screen.event().await;
        assert_eq!(
            (cleared["seq"].as_u64(), &cleared["event"]),
            (done["seq"].as_u64().map(|s| s + 1), &json!({"kind": "question.highlighted", "question": null})),
            "{op}"
        );
        assert_eq!(ack["seq"], cleared["seq"], "{op} is acknowledged at its last event");
        assert_eq!(moderator_view(&app, &d.created).await["highlighted"], Value::Null, "{op}");
    }
    // The target of a merge keeps the highlight; clearing it by hand works too.
    m.ok("question.highlight", json!({"question": q1})).await;
    assert_eq!(highlighted(&screen.event_of("question.highlighted").await), json!(q1));
    m.ok("question.highlight", json!({"question": null})).await;
    assert_eq!(highlighted(&screen.event_of("question.highlighted").await), Value::Null);
    assert_eq!(screen_view(&app, &d.created).await["highlighted"], Value::Null);
}

async fn answered_questions_stay_in_the_room_and_rejected_ones_with_their_asker_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let answered = approved(&mut d.moderator, &mut d.asker, "Répondue ?").await;
    let rejected_pending = ask(&mut d.asker, "Refusée d'emblée ?").await;
    let rejected_later = approved(&mut d.moderator, &mut d.asker, "Refusée ensuite ?").await;

    d.moderator.ok("question.answer", json!({"question": answered})).await;
    d.moderator.ok("question.reject", json!({"question": rejected_pending})).await;
    d.moderator.ok("question.reject", json!({"question": rejected_later})).await;

    let e = d.other.event_of("question.answered").await;
    assert_eq!(e["event"]["question"], json!(answered));
    let at = e["event"]["at"].as_i64().expect("answered at");
    for id in [&rejected_pending, &rejected_later] {
        assert_eq!(d.other.event_of("question.rejected").await["event"]["question"], json!(id));
    }
    let other = newcomer_view(&app, &d.created).await;
    assert_eq!(ids(&other), set(&[&answered]));
    let q = question_in(&other, &answered).expect("answered");
    assert_eq!((&q["status"], &q["answered_at"]), (&json!("answered"), &json!(at)));
    assert_eq!(ids(&screen_view(&app, &d.created).await), set(&[]), "the screen shows what is still to answer");
    let asker = view_of(&app, &d.created, &d.asker_token).await;
    assert_eq!(ids(&asker), set(&[&answered, &rejected_pending, &rejected_later]));
    assert_eq!(question_in(&asker, &rejected_pending).expect("own")["status"], "rejected");
    assert_eq!(question_in(&asker, &rejected_later).expect("own")["status"], "rejected");
    let moderator = moderator_view(&app, &d.created).await;
    assert_eq!(ids(&moderator), set(&[&answered, &rejected_pending, &rejected_later]));
}

// ---------------------------------------------------------------------------------------------
// Hostile clients
// ---------------------------------------------------------------------------------------------

async fn hostile_text_is_stored_and_sent_back_verbatim_as_json_strings(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let name = "<b onmouseover=alert(1)>Awa</b>";
    let texts = [
        "<img src=x onerror=alert(1)>",
        "</script><script>alert(\"x\")</script>",
        "'); DROP TABLE questions; -- \\\" {{7*7}} ${7*7}",
        "{\"type\":\"welcome\",\"seq\":0} 👍🏽 مرحبا\u{2028}Ω",
    ];
    let mut asked = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let ws = if i < 3 { &mut d.asker } else { &mut d.other };
        let result = ws.ok("question.ask", json!({"text": text, "name": name})).await;
        assert_eq!(
            (result["question"]["text"].as_str(), result["question"]["name"].as_str()),
            (Some(*text), Some(name))
        );
        let id = result["question"]["id"].as_str().expect("id").to_owned();
        let seen = d.moderator.event_of("question.asked").await;
        assert_eq!(seen["event"]["question"]["text"].as_str(), Some(*text));
        d.moderator.ok("question.approve", json!({"question": id})).await;
        asked.push(id);
    }

    for (id, text) in asked.iter().zip(texts) {
        let e = d.screen.event_of("question.approved").await;
        assert_eq!(
            (e["event"]["question"]["id"].as_str(), e["event"]["question"]["text"].as_str()),
            (Some(id.as_str()), Some(text))
        );
    }
    let screen = screen_view(&app, &d.created).await;
    for (id, text) in asked.iter().zip(texts) {
        let q = question_in(&screen, id).expect("shown");
        assert_eq!((q["text"].as_str(), q["name"].as_str()), (Some(text), Some(name)));
    }
}

async fn malformed_and_oversized_question_frames_are_refused_and_the_socket_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let id = uuid::Uuid::new_v4();
    let frames = [
        // A lone surrogate is not valid JSON text.
        format!(r#"{{"type":"cmd","id":"{id}","op":"question.ask","text":"\ud800"}}"#),
        // Nested far deeper than any parser should follow.
        format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)),
        format!(r#"{{"type":"cmd","id":"{id}","op":"question.ask","text":"{}"}}"#, "a".repeat(60_000)),
        format!(r#"{{"type":"cmd","id":"{id}","op":"question.ask","text":"ok","text":{{"a":1}}}}"#),
    ];
    for frame in frames {
        d.asker.send_raw(tokio_tungstenite::tungstenite::Message::Text(frame.clone().into())).await;
        let reply = d.asker.recv().await;
        assert_eq!(
            (reply["type"].as_str(), code(&reply)),
            (Some("error"), "invalid"),
            "{}…",
            &frame[..60.min(frame.len())]
        );
    }
    ask(&mut d.asker, "Toujours là ?").await;
    assert_eq!(moderator_view(&app, &d.created).await["questions"].as_array().map(Vec::len), Some(1));
}

async fn a_question_frame_over_64_kib_closes_the_connection_with_1009(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;

    d.asker
        .send(json!({"type": "cmd", "id": uuid::Uuid::new_v4(), "op": "question.ask", "text": "?".repeat(65 * 1024)}))
        .await;

    assert_eq!(d.asker.closed().await, Some(1009));
    ask(&mut d.other, "Les autres continuent ?").await;
    let state = moderator_view(&app, &d.created).await;
    assert_eq!(state["questions"].as_array().map(Vec::len), Some(1));
}

async fn a_flood_of_frames_closes_the_connection_with_4429(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Inondée ?").await;
    let upvote = json!({"type": "cmd", "id": uuid::Uuid::new_v4(), "op": "question.upvote", "question": q}).to_string();

    d.asker.flood(&upvote, 400).await;

    assert_eq!(d.asker.closed().await, Some(4429), "too many frames: reconnect after a pause, not 1008");
    // Before hello too.
    let mut early = app.ws().await;
    early.flood("{}", 200).await;
    assert_eq!(early.closed().await, Some(4429));
    // The flooder's one command id was applied once; the room goes on.
    assert_eq!(d.other.ok("question.upvote", json!({"question": q})).await["upvotes"], 2);
}

async fn questions_of_one_session_cannot_be_reached_from_another(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut a = debate(&app).await;
    let mut b = debate(&app).await;
    let theirs = approved(&mut a.moderator, &mut a.asker, "Chez eux ?").await;
    let ours = approved(&mut b.moderator, &mut b.asker, "Chez nous ?").await;

    assert_eq!(code(&b.other.refused("question.upvote", json!({"question": theirs})).await), "not_found");
    for (op, fields) in [
        ("question.answer", json!({"question": theirs})),
        ("question.highlight", json!({"question": theirs})),
        ("question.reject", json!({"question": theirs})),
        ("question.merge", json!({"question": ours, "into": theirs})),
    ] {
        assert_eq!(code(&b.moderator.refused(op, fields.clone()).await), "not_found", "{op}");
    }
    let state = moderator_view(&app, &a.created).await;
    let q = question_in(&state, &theirs).expect("theirs");
    assert_eq!((&q["status"], &q["upvotes"], &state["highlighted"]), (&json!("approved"), &json!(0), &Value::Null));
    assert!(question_in(&moderator_view(&app, &b.created).await, &theirs).is_none());
}

// ---------------------------------------------------------------------------------------------
// Several instances
// ---------------------------------------------------------------------------------------------

/// Forty participants over two instances upvote three questions at once, some take theirs
/// back: the counts are exact in the store and in what every client was last told.
#[tokio::test]
async fn upvotes_racing_on_two_instances_are_counted_exactly() {
    const VOTERS: usize = 40;
    let a = TestApp::spawn(Backend::Redis).await;
    let b = TestApp::spawn(Backend::Redis).await;
    let mut d = debate(&a).await;
    let mut questions = Vec::new();
    for text in ["Un ?", "Deux ?", "Trois ?"] {
        questions.push(approved(&mut d.moderator, &mut d.asker, text).await);
    }
    // Voters 0..10 take back their upvote of the first question, 10..15 that of the second.
    let takes_back = |i: usize| match i {
        0..=9 => Some(0),
        10..=14 => Some(1),
        _ => None,
    };
    let expected: HashMap<String, u64> =
        [(questions[0].clone(), 30), (questions[1].clone(), 35), (questions[2].clone(), 40)].into_iter().collect();
    let (mut watcher_b, _) = hello_moderator(&b, &d.created).await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let app = if i % 2 == 0 { &a } else { &b };
        voters.push(hello_participant(app, &d.created["code"]).await.0);
    }

    let tasks: Vec<_> = voters
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let (questions, expected) = (questions.clone(), expected.clone());
            tokio::spawn(async move {
                let mut counts = HashMap::new();
                let mut pending: Vec<String> = Vec::new();
                for q in &questions {
                    pending.push(ws.cmd("question.upvote", json!({"question": q})).await);
                }
                await_acks(&mut ws, pending, &mut counts).await;
                if let Some(k) = takes_back(i) {
                    let id = ws.cmd("question.unvote", json!({"question": questions[k]})).await;
                    await_acks(&mut ws, vec![id], &mut counts).await;
                }
                ws.fold_upvotes_until(&mut counts, |c| *c == expected).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("every voter was acknowledged and told the exact counts");
    }

    for ws in [&mut watcher_b, &mut d.screen, &mut d.other] {
        let mut counts = HashMap::new();
        ws.fold_upvotes_until(&mut counts, |c| *c == expected).await;
    }
    for app in [&a, &b] {
        let state = moderator_view(app, &d.created).await;
        let got: HashMap<String, u64> = questions.iter().map(|q| (q.clone(), upvotes_of(&state, q))).collect();
        assert_eq!(got, expected);
    }
}

/// Reads until every command in `ids` is acknowledged, folding the `upvotes` frames heard
/// meanwhile into `counts` (a frame skipped would be a count never heard again).
async fn await_acks(ws: &mut Ws, mut ids: Vec<String>, counts: &mut HashMap<String, u64>) {
    while !ids.is_empty() {
        let f = ws.recv().await;
        match f["type"].as_str() {
            Some("upvotes") => fold_upvotes(counts, &f),
            Some("ack") => ids.retain(|id| f["id"] != id.as_str()),
            Some("error") => panic!("refused: {f}"),
            _ => {}
        }
    }
}

/// Flooders connect, flood until closed and come back, while the moderator goes on working:
/// every command of the moderator is answered during the flood; the round trips, with and
/// without the flood, are printed for the record (speed is measured by the benchmarks).
async fn a_flood_from_some_clients_does_not_stop_the_others(backend: Backend) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let app = TestApp::spawn(backend).await;
    let mut d = debate(&app).await;
    let q = approved(&mut d.moderator, &mut d.other, "Tiendra-t-on ?").await;
    round_trips(&mut d.moderator, &json!(q), "quiet").await;

    let stop = Arc::new(AtomicBool::new(false));
    let floods = Arc::new(AtomicUsize::new(0));
    let (started_tx, mut started) = tokio::sync::mpsc::channel::<()>(8);
    let mut flooders = Vec::new();
    for _ in 0..4 {
        let (stop, floods, addr, started_tx) = (stop.clone(), floods.clone(), app.addr, started_tx.clone());
        let junk =
            json!({"type": "cmd", "id": uuid::Uuid::new_v4(), "op": "question.upvote", "question": q}).to_string();
        flooders.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let Ok(mut ws) = Ws::connect(addr, None).await else { continue };
                ws.flood(&junk, 200).await;
                let _ = started_tx.try_send(());
                ws.flood(&junk, 1_800).await;
                floods.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for _ in 0..4 {
        started.recv().await.expect("a flooder started");
    }
    round_trips(&mut d.moderator, &json!(q), "flooded").await;
    let finished = floods.load(Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    for f in flooders {
        let _ = f.await;
    }
    eprintln!("floods of 2,000 frames finished while the moderator worked: {finished}");
    // The room is whole: another participant still upvotes.
    assert_eq!(d.other.ok("question.upvote", json!({"question": q})).await["question"], q);
}

/// 12 highlight commands in a row from `m` (within its rate limit); prints the median and
/// slowest round trip.
async fn round_trips(m: &mut Ws, q: &Value, label: &str) {
    let mut times = Vec::new();
    for i in 0..12 {
        let started = std::time::Instant::now();
        let target = if i % 2 == 0 { q.clone() } else { Value::Null };
        m.ok("question.highlight", json!({"question": target})).await;
        times.push(started.elapsed());
    }
    times.sort();
    eprintln!("{label}: moderator round trip median {:?}, max {:?}", times[times.len() / 2], times[times.len() - 1]);
}
