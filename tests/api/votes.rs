//! Votes over the WebSocket, as the room lives them: the moderator puts a draft to the vote,
//! participants vote from their phones (in roster mode once they claimed their delegate's
//! personal voting code), the tally runs live, and the close decides by the written rule; the
//! roster and its printed cards over HTTP, and the receipts anyone may recount.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};

on_both_stores!(
    a_simple_majority_needs_more_for_than_against_and_a_tie_is_rejected,
    poll_closed_gives_every_role_the_counts_turnout_eligible_weight_outcome_and_rule,
    an_absolute_majority_needs_more_than_half_of_every_registered_participant,
    an_absolute_majority_in_roster_mode_needs_more_than_half_of_the_rosters_weight,
    two_thirds_are_reached_at_exactly_two_thirds_of_for_and_against,
    a_poll_below_its_quorum_decides_nothing_and_the_draft_can_be_voted_again,
    the_draft_follows_its_poll_through_opening_cancelling_and_adoption_by_consensus,
    each_role_may_only_do_its_own_part_in_a_vote,
    a_ballot_after_the_close_is_refused_as_closed_and_changes_nothing,
    in_roster_mode_only_a_participant_holding_a_claimed_entry_votes,
    a_voting_right_claimed_on_a_second_device_moves_there_with_its_one_ballot,
    bad_choices_methods_quorums_and_codes_are_refused_as_invalid,
    unknown_polls_and_drafts_are_not_found,
    a_poll_of_another_session_cannot_be_reached_from_this_one,
    a_draft_has_one_open_poll_at_a_time_and_a_decided_draft_no_more,
    wrong_voting_codes_are_not_found_until_the_session_has_had_fifty_in_a_minute,
    a_phone_that_tried_five_wrong_voting_codes_is_refused_further_tries,
    casting_again_replaces_the_choice_and_keeps_the_same_receipt,
    a_ballot_retried_with_the_same_id_counts_once_and_is_acked_alike,
    a_burst_of_ballots_reaches_each_client_as_a_few_coalesced_tally_frames,
    a_hidden_poll_shows_participants_and_the_screen_the_turnout_only_until_its_close,
    ballots_racing_a_close_are_counted_before_it_or_refused_as_closed,
    the_moderator_puts_the_roster_as_csv_and_nobody_else_may,
    the_voting_cards_print_one_card_per_delegate_with_its_code_and_qr_and_no_script,
    receipts_are_published_at_the_close_for_anyone_holding_the_join_code,
    a_secret_poll_shows_nobody_who_chose_what,
    the_server_log_never_names_a_voting_code_a_key_or_a_token,
);

// ---------------------------------------------------------------------------------------------
// Plumbing
// ---------------------------------------------------------------------------------------------

const CHOICES: [&str; 3] = ["for", "against", "abstain"];

/// Three delegates: weights 3, 2 and 1 (6 in all).
const ROSTER: &str = "name,organisation,weight\nAwa Diop,AMM Mali,3\nMoussa Traoré,ARM,2\nFatou Sow,,1\n";

/// The SOU 94 session (drafts d1 to d5) in `voting` mode (`open` or `roster`).
fn definition(voting: &str) -> Value {
    let mut d = sou94();
    d["settings"]["voting"] = json!(voting);
    d
}

/// A new session in `voting` mode, its moderator connected.
async fn session(app: &TestApp, voting: &str) -> (Value, Ws) {
    let created = app.create(&definition(voting)).await;
    let (moderator, _) = hello_moderator(app, &created).await;
    (created, moderator)
}

/// A participant's phone: its socket and token.
struct Person {
    ws: Ws,
    token: Value,
}

async fn person(app: &TestApp, created: &Value) -> Person {
    let (ws, welcome) = hello_participant(app, &created["code"]).await;
    Person { ws, token: welcome["participant"].clone() }
}

/// `n` participants, each registered in the session (so each counts as eligible in open mode).
async fn people(app: &TestApp, created: &Value, n: usize) -> Vec<Person> {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(person(app, created).await);
    }
    all
}

fn code(reply: &Value) -> &str {
    reply["code"].as_str().unwrap_or_else(|| panic!("an error code: {reply}"))
}

fn text<'a>(v: &'a Value, field: &str) -> &'a str {
    v[field].as_str().unwrap_or_else(|| panic!("{field} is a string: {v}"))
}

/// Opens a poll with `fields`; returns its id.
async fn open_poll(moderator: &mut Ws, fields: Value) -> String {
    let result = moderator.ok("poll.open", fields).await;
    text(&result, "poll").to_owned()
}

/// Casts `choice` in `poll`; returns the ack's result, checked to name the poll and choice.
async fn cast(ws: &mut Ws, poll: &str, choice: &str) -> Value {
    let result = ws.ok("vote.cast", json!({"poll": poll, "choice": choice})).await;
    assert_eq!((text(&result, "poll"), text(&result, "choice")), (poll, choice), "{result}");
    assert!(is_receipt(text(&result, "receipt")), "a receipt like K7-PQ2M: {result}");
    result
}

/// Closes `poll`; returns the `poll.closed` event as the moderator received it.
async fn close(moderator: &mut Ws, poll: &str) -> Value {
    moderator.ok("poll.close", json!({"poll": poll})).await;
    let e = event_where(moderator, "poll.closed", |e| e["poll"] == poll).await;
    e["event"].clone()
}

/// The next `event` of `kind` for which `pick` holds, skipping every other frame.
async fn event_where(ws: &mut Ws, kind: &str, pick: impl Fn(&Value) -> bool) -> Value {
    loop {
        let e = ws.event_of(kind).await;
        if pick(&e["event"]) {
            return e;
        }
    }
}

/// `K7-PQ2M`: two and four characters of the join-code alphabet.
fn is_receipt(r: &str) -> bool {
    let alphabet = palabre::credentials::CODE_ALPHABET;
    r.len() == 7 && r.bytes().enumerate().all(|(i, b)| if i == 2 { b == b'-' } else { alphabet.contains(&b) })
}

fn counts(f: u64, a: u64, ab: u64) -> Value {
    json!({"for": f, "against": a, "abstain": ab})
}

fn poll_in<'a>(state: &'a Value, id: &str) -> &'a Value {
    let polls = state["polls"].as_array().unwrap_or_else(|| panic!("polls in the view: {state}"));
    polls.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("poll {id} in the view: {state}"))
}

fn draft_in<'a>(state: &'a Value, id: &str) -> &'a Value {
    let drafts = state["drafts"].as_array().unwrap_or_else(|| panic!("drafts in the view: {state}"));
    drafts.iter().find(|d| d["id"] == id).unwrap_or_else(|| panic!("draft {id} in the view: {state}"))
}

/// A draft's `(status, adopted_by, poll)`.
fn standing(state: &Value, draft: &str) -> (Value, Value, Value) {
    let d = draft_in(state, draft);
    (d["status"].clone(), d["adopted_by"].clone(), d["poll"].clone())
}

async fn moderator_view(app: &TestApp, created: &Value) -> Value {
    hello_moderator(app, created).await.1["state"].clone()
}

async fn rapporteur_view(app: &TestApp, created: &Value) -> Value {
    hello_rapporteur(app, created).await.1["state"].clone()
}

async fn screen_view(app: &TestApp, created: &Value) -> Value {
    hello_screen(app, &created["code"]).await.1["state"].clone()
}

async fn view_of(app: &TestApp, created: &Value, token: &Value) -> Value {
    hello_again(app, &created["code"], token).await.1["state"].clone()
}

/// Puts `csv` as the roster with the moderator's key; returns the entries.
async fn put_roster(app: &TestApp, created: &Value, csv: &str) -> Vec<Value> {
    let res = roster_request(app, created, Some(text(created, "moderator_key")), csv).send().await.expect("request");
    assert_eq!(res.status(), 200, "putting the roster");
    let body: Value = res.json().await.expect("json");
    body["entries"].as_array().unwrap_or_else(|| panic!("entries: {body}")).clone()
}

fn roster_request(app: &TestApp, created: &Value, key: Option<&str>, csv: &str) -> reqwest::RequestBuilder {
    let url = app.url(&format!("/api/sessions/{}/roster", text(created, "id")));
    let req = app.http.put(url).header("content-type", "text/csv").body(csv.to_owned());
    match key {
        Some(k) => req.bearer_auth(k),
        None => req,
    }
}

/// Participants who each claimed one of `entries`, in their order.
async fn delegates(app: &TestApp, created: &Value, entries: &[Value]) -> Vec<Person> {
    let mut all = Vec::new();
    for e in entries {
        let mut p = person(app, created).await;
        let claimed = p.ws.ok("voter.claim", json!({"code": e["code"]})).await;
        assert_eq!(claimed["entry"], e["id"], "{claimed}");
        all.push(p);
    }
    all
}

async fn receipts(app: &TestApp, code: &str, poll: &str) -> reqwest::Response {
    app.http.get(app.url(&format!("/j/{code}/polls/{poll}/receipts.json"))).send().await.expect("request")
}

/// The receipts of a closed poll.
async fn fetch_receipts(app: &TestApp, created: &Value, poll: &str) -> Value {
    let res = receipts(app, text(created, "code"), poll).await;
    assert_eq!(res.status(), 200, "receipts of a closed poll");
    res.json().await.expect("json")
}

async fn error_of(res: reqwest::Response) -> (u16, String, String) {
    let status = res.status().as_u16();
    let body: Value = res.json().await.expect("a JSON error");
    (status, text(&body["error"], "code").to_owned(), text(&body["error"], "message").to_owned())
}

/// Reads `tally` frames of `poll` until `done` holds for the latest; returns it and how many
/// frames were read.
async fn tally_until(ws: &mut Ws, poll: &str, done: impl Fn(&Value) -> bool) -> (Value, usize) {
    let mut frames = 0;
    loop {
        let f = ws.recv_type("tally").await;
        if f["poll"] != poll {
            continue;
        }
        frames += 1;
        if done(&f) {
            return (f, frames);
        }
    }
}

/// Counts by choice of the final `choices`, each of weight one.
fn tally_of<'a>(choices: impl IntoIterator<Item = &'a str>) -> Value {
    let mut n: HashMap<&str, u64> = HashMap::new();
    for c in choices {
        *n.entry(c).or_default() += 1;
    }
    let get = |c: &str| n.get(c).copied().unwrap_or(0);
    counts(get("for"), get("against"), get("abstain"))
}

// ---------------------------------------------------------------------------------------------
// The rules, worked through
// ---------------------------------------------------------------------------------------------

async fn a_simple_majority_needs_more_for_than_against_and_a_tie_is_rejected(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 5).await;

    let tie = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    for (p, choice) in v.iter_mut().zip(["for", "for", "against", "against", "abstain"]) {
        cast(&mut p.ws, &tie, choice).await;
    }
    let closed = close(&mut moderator, &tie).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("rejected"), &counts(2, 2, 1)), "a tie: {closed}");
    assert!(text(&closed, "rule").starts_with("simple majority"), "{closed}");

    // Two for, one against, two abstentions: abstentions are not counted, so it is adopted.
    let won = open_poll(&mut moderator, json!({"draft": "d2", "method": "simple"})).await;
    for (p, choice) in v.iter_mut().zip(["for", "abstain", "against", "abstain", "for"]) {
        cast(&mut p.ws, &won, choice).await;
    }
    let closed = close(&mut moderator, &won).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("adopted"), &counts(2, 1, 2)), "{closed}");

    // Nothing but abstentions: no majority for.
    let blank = open_poll(&mut moderator, json!({"draft": "d3"})).await;
    for p in v.iter_mut().take(3) {
        cast(&mut p.ws, &blank, "abstain").await;
    }
    let closed = close(&mut moderator, &blank).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("rejected"), &counts(0, 0, 3)), "{closed}");

    let state = moderator_view(&app, &created).await;
    assert_eq!(standing(&state, "d1"), (json!("rejected"), Value::Null, json!(tie)));
    assert_eq!(standing(&state, "d2"), (json!("adopted"), json!("vote"), json!(won)));
    assert_eq!(standing(&state, "d3"), (json!("rejected"), Value::Null, json!(blank)));
    assert_eq!(standing(&state, "d4"), (json!("draft"), Value::Null, Value::Null));
}

async fn poll_closed_gives_every_role_the_counts_turnout_eligible_weight_outcome_and_rule(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 3).await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    cast(&mut v[0].ws, &poll, "for").await;
    cast(&mut v[1].ws, &poll, "abstain").await;
    // The third participant does not vote, and the second hangs up: both stay eligible.
    let gone = v.remove(1);
    gone.ws.close().await;

    moderator.ok("poll.close", json!({"poll": poll})).await;

    let seen = event_where(&mut moderator, "poll.closed", |e| e["poll"] == poll).await;
    let e = &seen["event"];
    let at = e["at"].as_i64().unwrap_or_else(|| panic!("at: {e}"));
    let rule = text(e, "rule").to_owned();
    assert_eq!(
        *e,
        json!({"kind": "poll.closed", "poll": poll, "at": at, "counts": counts(1, 0, 1), "cast": 2,
               "cast_weight": 2, "eligible": 3, "outcome": "adopted", "rule": rule})
    );
    assert!(rule.starts_with("simple majority") && rule.contains('1') && rule.contains('0'), "{rule}");
    let (voter, bystander) = v.split_at_mut(1);
    for ws in [&mut rapporteur, &mut screen, &mut voter[0].ws, &mut bystander[0].ws] {
        assert_eq!(event_where(ws, "poll.closed", |e| e["poll"] == poll).await, seen, "the same for everyone");
    }
    let views = [
        moderator_view(&app, &created).await,
        rapporteur_view(&app, &created).await,
        screen_view(&app, &created).await,
        view_of(&app, &created, &v[1].token).await,
    ];
    for state in &views {
        let p = poll_in(state, &poll);
        assert_eq!(
            (&p["status"], &p["closed_at"], &p["counts"], &p["cast"], &p["cast_weight"]),
            (&json!("closed"), &json!(at), &counts(1, 0, 1), &json!(2), &json!(2)),
            "{p}"
        );
        assert_eq!((&p["eligible"], &p["outcome"], &p["rule"]), (&json!(3), &json!("adopted"), &json!(rule)), "{p}");
        assert_eq!(standing(state, "d1"), (json!("adopted"), json!("vote"), json!(poll)));
    }
}

async fn an_absolute_majority_needs_more_than_half_of_every_registered_participant(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 6).await;

    // Three for and nobody against, but three of six is exactly half: rejected.
    let half = open_poll(&mut moderator, json!({"draft": "d1", "method": "absolute"})).await;
    for p in v.iter_mut().take(3) {
        cast(&mut p.ws, &half, "for").await;
    }
    let closed = close(&mut moderator, &half).await;
    assert_eq!(
        (&closed["outcome"], &closed["counts"], &closed["eligible"]),
        (&json!("rejected"), &counts(3, 0, 0), &json!(6)),
        "{closed}"
    );
    assert!(text(&closed, "rule").starts_with("absolute majority"), "{closed}");

    // Four of six, with the other two against: adopted.
    let more = open_poll(&mut moderator, json!({"draft": "d2", "method": "absolute"})).await;
    for (p, choice) in v.iter_mut().zip(["for", "for", "against", "for", "against", "for"]) {
        cast(&mut p.ws, &more, choice).await;
    }
    let closed = close(&mut moderator, &more).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("adopted"), &counts(4, 2, 0)), "{closed}");

    // Everyone registered counts, voting or not: four more join, and four for of ten is short.
    let _late = people(&app, &created, 4).await;
    let short = open_poll(&mut moderator, json!({"draft": "d3", "method": "absolute"})).await;
    for p in v.iter_mut().take(5) {
        cast(&mut p.ws, &short, "for").await;
    }
    let closed = close(&mut moderator, &short).await;
    assert_eq!(
        (&closed["outcome"], &closed["counts"], &closed["cast"], &closed["eligible"]),
        (&json!("rejected"), &counts(5, 0, 0), &json!(5), &json!(10)),
        "five of ten is half: {closed}"
    );
}

async fn an_absolute_majority_in_roster_mode_needs_more_than_half_of_the_rosters_weight(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    // Awa (3) and Fatou (1) hold their entries; Moussa (2) never claims his.
    let mut awa = delegates(&app, &created, &entries[0..1]).await.remove(0);
    let mut fatou = delegates(&app, &created, &entries[2..3]).await.remove(0);
    let _unclaimed = people(&app, &created, 3).await;

    let half = open_poll(&mut moderator, json!({"draft": "d1", "method": "absolute"})).await;
    cast(&mut awa.ws, &half, "for").await;
    let closed = close(&mut moderator, &half).await;
    assert_eq!(
        (&closed["outcome"], &closed["counts"], &closed["cast"], &closed["cast_weight"], &closed["eligible"]),
        (&json!("rejected"), &counts(3, 0, 0), &json!(1), &json!(3), &json!(6)),
        "3 of a roster weighing 6 is half: {closed}"
    );

    let more = open_poll(&mut moderator, json!({"draft": "d2", "method": "absolute"})).await;
    cast(&mut awa.ws, &more, "for").await;
    cast(&mut fatou.ws, &more, "for").await;
    let closed = close(&mut moderator, &more).await;
    assert_eq!(
        (&closed["outcome"], &closed["counts"], &closed["cast"], &closed["cast_weight"], &closed["eligible"]),
        (&json!("adopted"), &counts(4, 0, 0), &json!(2), &json!(4), &json!(6)),
        "{closed}"
    );
}

async fn two_thirds_are_reached_at_exactly_two_thirds_of_for_and_against(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 5).await;

    let exact = open_poll(&mut moderator, json!({"draft": "d1", "method": "two_thirds"})).await;
    for (p, choice) in v.iter_mut().zip(["for", "against", "for", "abstain", "abstain"]) {
        cast(&mut p.ws, &exact, choice).await;
    }
    let closed = close(&mut moderator, &exact).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("adopted"), &counts(2, 1, 2)), "2 of 3: {closed}");
    assert!(text(&closed, "rule").starts_with("two-thirds majority"), "{closed}");

    let short = open_poll(&mut moderator, json!({"draft": "d2", "method": "two_thirds"})).await;
    for (p, choice) in v.iter_mut().zip(["for", "against", "for", "against", "for"]) {
        cast(&mut p.ws, &short, choice).await;
    }
    let closed = close(&mut moderator, &short).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("rejected"), &counts(3, 2, 0)), "3 of 5: {closed}");

    let state = moderator_view(&app, &created).await;
    assert_eq!(poll_in(&state, &exact)["method"], "two_thirds");
    assert_eq!(standing(&state, "d1").0, "adopted");
    assert_eq!(standing(&state, "d2").0, "rejected");
}

async fn a_poll_below_its_quorum_decides_nothing_and_the_draft_can_be_voted_again(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 4).await;

    let first = open_poll(&mut moderator, json!({"draft": "d1", "quorum": 3})).await;
    cast(&mut v[0].ws, &first, "for").await;
    cast(&mut v[1].ws, &first, "for").await;
    let closed = close(&mut moderator, &first).await;
    assert_eq!(
        (&closed["outcome"], &closed["counts"], &closed["cast_weight"]),
        (&json!("no_quorum"), &counts(2, 0, 0), &json!(2)),
        "{closed}"
    );
    assert!(text(&closed, "rule").contains("quorum"), "{closed}");
    let state = moderator_view(&app, &created).await;
    assert_eq!(standing(&state, "d1"), (json!("draft"), Value::Null, Value::Null), "back to a draft");
    let p = poll_in(&state, &first);
    assert_eq!((&p["status"], &p["outcome"], &p["quorum"]), (&json!("closed"), &json!("no_quorum"), &json!(3)));

    // Put to the vote again: an abstention counts towards the quorum.
    let again = open_poll(&mut moderator, json!({"draft": "d1", "quorum": 3})).await;
    assert_ne!(again, first);
    for (p, choice) in v.iter_mut().zip(["for", "for", "abstain"]) {
        cast(&mut p.ws, &again, choice).await;
    }
    let closed = close(&mut moderator, &again).await;
    assert_eq!((&closed["outcome"], &closed["counts"]), (&json!("adopted"), &counts(2, 0, 1)), "{closed}");
    let state = screen_view(&app, &created).await;
    assert_eq!(standing(&state, "d1"), (json!("adopted"), json!("vote"), json!(again)));
    assert_eq!(poll_in(&state, &first)["outcome"], "no_quorum", "the first poll stays as it closed");
}

async fn the_draft_follows_its_poll_through_opening_cancelling_and_adoption_by_consensus(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;

    let poll = open_poll(&mut moderator, json!({"draft": "d1", "method": "two_thirds", "quorum": 2})).await;

    let opened = p.ws.event_of("poll.opened").await;
    let seen = &opened["event"]["poll"];
    assert_eq!(
        (&seen["id"], &seen["draft"], &seen["status"], &seen["method"], &seen["quorum"]),
        (&json!(poll), &json!("d1"), &json!("open"), &json!("two_thirds"), &json!(2)),
        "{opened}"
    );
    assert_eq!((&seen["secret"], &seen["hidden"], seen["opened_at"].is_i64()), (&json!(false), &json!(false), true));
    assert_eq!(screen.event_of("poll.opened").await, opened, "the same for the screen");
    let state = view_of(&app, &created, &p.token).await;
    assert_eq!(standing(&state, "d1"), (json!("voting"), Value::Null, json!(poll)));
    let view = poll_in(&state, &poll);
    assert_eq!(
        (&view["status"], &view["counts"], &view["cast"], &view["outcome"], &view["closed_at"]),
        (&json!("open"), &counts(0, 0, 0), &json!(0), &Value::Null, &Value::Null)
    );

    cast(&mut p.ws, &poll, "for").await;
    moderator.ok("poll.cancel", json!({"poll": poll})).await;

    let cancelled = screen.event_of("poll.cancelled").await;
    assert_eq!(cancelled["event"], json!({"kind": "poll.cancelled", "poll": poll}));
    let state = moderator_view(&app, &created).await;
    assert_eq!(standing(&state, "d1"), (json!("draft"), Value::Null, Value::Null));
    let view = poll_in(&state, &poll);
    assert_eq!((&view["status"], &view["outcome"]), (&json!("cancelled"), &Value::Null), "{view}");
    assert_eq!(code(&p.ws.refused("vote.cast", json!({"poll": poll, "choice": "against"})).await), "closed");

    moderator.ok("draft.adopt_by_consensus", json!({"draft": "d1"})).await;

    let adopted = screen.event_of("draft.adopted").await;
    assert_eq!(adopted["event"], json!({"kind": "draft.adopted", "draft": "d1", "by": "consensus"}));
    for state in [moderator_view(&app, &created).await, view_of(&app, &created, &p.token).await] {
        assert_eq!(standing(&state, "d1"), (json!("adopted"), json!("consensus"), Value::Null));
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------------------------

async fn each_role_may_only_do_its_own_part_in_a_vote(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    let seq = moderator_view(&app, &created).await["seq"].clone();

    let ballot = json!({"poll": poll, "choice": "for"});
    let staff_only = [
        ("poll.open", json!({"draft": "d2"})),
        ("poll.close", json!({"poll": poll})),
        ("poll.cancel", json!({"poll": poll})),
        ("draft.adopt_by_consensus", json!({"draft": "d2"})),
    ];
    for (op, fields) in &staff_only {
        for ws in [&mut p.ws, &mut screen] {
            assert_eq!(code(&ws.refused(op, fields.clone()).await), "forbidden", "{op}");
        }
    }
    for (op, fields) in [("poll.open", json!({"draft": "d2"})), ("poll.close", json!({"poll": poll}))] {
        assert_eq!(code(&rapporteur.refused(op, fields).await), "forbidden", "the rapporteur may not {op}");
    }
    for ws in [&mut moderator, &mut rapporteur, &mut screen] {
        assert_eq!(code(&ws.refused("vote.cast", ballot.clone()).await), "forbidden", "only participants vote");
        let claim = ws.refused("voter.claim", json!({"code": "ABCDEFGH"})).await;
        assert_eq!(code(&claim), "forbidden");
    }

    let state = moderator_view(&app, &created).await;
    assert_eq!(state["seq"], seq, "nothing happened");
    let view = poll_in(&state, &poll);
    assert_eq!((&view["status"], &view["cast"]), (&json!("open"), &json!(0)));
    assert_eq!(standing(&state, "d2").0, "draft");
    cast(&mut p.ws, &poll, "for").await;
}

async fn a_ballot_after_the_close_is_refused_as_closed_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 2).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    cast(&mut v[0].ws, &poll, "for").await;
    close(&mut moderator, &poll).await;

    for (p, choice) in v.iter_mut().zip(["against", "for"]) {
        let late = p.ws.refused("vote.cast", json!({"poll": poll, "choice": choice})).await;
        assert_eq!(code(&late), "closed", "{late}");
    }
    for op in ["poll.close", "poll.cancel"] {
        assert_eq!(code(&moderator.refused(op, json!({"poll": poll})).await), "closed", "{op} of a closed poll");
    }

    let p = poll_in(&moderator_view(&app, &created).await, &poll).clone();
    assert_eq!((&p["counts"], &p["cast"], &p["outcome"]), (&counts(1, 0, 0), &json!(1), &json!("adopted")), "{p}");
    let published = fetch_receipts(&app, &created, &poll).await;
    assert_eq!((published["receipts"].as_array().map(Vec::len), &published["counts"]), (Some(1), &counts(1, 0, 0)));

    // A session does not end with a vote left open; once it has ended, nothing more is put to
    // the vote.
    let open = open_poll(&mut moderator, json!({"draft": "d2"})).await;
    assert_eq!(code(&moderator.refused("session.end", json!({})).await), "conflict", "a vote is open");
    moderator.ok("poll.cancel", json!({"poll": open})).await;
    moderator.ok("session.end", json!({})).await;
    assert_eq!(code(&v[1].ws.refused("vote.cast", json!({"poll": open, "choice": "for"})).await), "closed");
    assert_eq!(code(&moderator.refused("poll.open", json!({"draft": "d3"})).await), "closed");
}

async fn in_roster_mode_only_a_participant_holding_a_claimed_entry_votes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let mut awa = person(&app, &created).await;
    let mut stranger = person(&app, &created).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;

    let unclaimed = awa.ws.refused("vote.cast", json!({"poll": poll, "choice": "for"})).await;
    assert_eq!(code(&unclaimed), "forbidden", "{unclaimed}");

    // The code as a person types it: lower case, with a space.
    let typed = text(&entries[0], "code").to_lowercase();
    let claimed = awa.ws.ok("voter.claim", json!({"code": format!(" {} {} ", &typed[..4], &typed[4..])})).await;
    assert_eq!(
        (&claimed["entry"], &claimed["name"], &claimed["organisation"], &claimed["weight"], &claimed["claim"]),
        (&entries[0]["id"], &json!("Awa Diop"), &json!("AMM Mali"), &json!(3), &json!(1)),
        "{claimed}"
    );
    let ballot = cast(&mut awa.ws, &poll, "against").await;
    assert_eq!(code(&stranger.ws.refused("vote.cast", json!({"poll": poll, "choice": "for"})).await), "forbidden");
    let again = awa.ws.refused("voter.claim", json!({"code": entries[0]["code"]})).await;
    assert_eq!(code(&again), "conflict", "this device already holds it: {again}");

    let mine = view_of(&app, &created, &awa.token).await;
    let voter = &mine["voter"];
    assert_eq!(
        (&voter["entry"], &voter["name"], &voter["organisation"], &voter["weight"], &voter["claim"]),
        (&entries[0]["id"], &json!("Awa Diop"), &json!("AMM Mali"), &json!(3), &json!(1)),
        "{voter}"
    );
    assert_eq!(mine["ballots"], json!({poll.clone(): {"choice": "against", "receipt": ballot["receipt"]}}));
    let theirs = view_of(&app, &created, &stranger.token).await;
    assert_eq!((&theirs["voter"], &theirs["ballots"]), (&Value::Null, &json!({})), "no voting right, no ballot");
    let state = moderator_view(&app, &created).await;
    let p = poll_in(&state, &poll);
    assert_eq!(
        (&p["counts"], &p["cast"], &p["cast_weight"], &p["eligible"]),
        (&counts(0, 3, 0), &json!(1), &json!(3), &json!(6)),
        "{p}"
    );
    assert_eq!(state["roster"], json!({"entries": 3, "weight": 6, "claimed": 1}));
}

async fn a_voting_right_claimed_on_a_second_device_moves_there_with_its_one_ballot(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let (entry, code_of_awa) = (entries[0]["id"].clone(), entries[0]["code"].clone());
    let mut phone = delegates(&app, &created, &entries[0..1]).await.remove(0);
    let first_claim = event_where(&mut moderator, "voter.claimed", |e| e["claim"] == 1).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    let receipt = cast(&mut phone.ws, &poll, "for").await["receipt"].clone();

    let mut laptop = person(&app, &created).await;
    let claimed = laptop.ws.ok("voter.claim", json!({"code": code_of_awa})).await;

    assert_eq!((&claimed["entry"], &claimed["claim"], &claimed["weight"]), (&entry, &json!(2), &json!(3)));
    let told = event_where(&mut phone.ws, "voter.claimed", |e| e["claim"] == 2).await;
    assert_eq!(told["event"], json!({"kind": "voter.claimed", "entry": entry, "claim": 2}), "no one's id");
    let seen = event_where(&mut moderator, "voter.claimed", |e| e["claim"] == 2).await;
    let (before, after) = (text(&first_claim["event"], "participant"), text(&seen["event"], "participant"));
    assert!(!after.is_empty() && before != after, "the moderator sees the right change hands: {seen}");
    let moved = phone.ws.refused("vote.cast", json!({"poll": poll, "choice": "against"})).await;
    assert_eq!(code(&moved), "forbidden", "{moved}");
    let p = poll_in(&moderator_view(&app, &created).await, &poll).clone();
    assert_eq!((&p["counts"], &p["cast"]), (&counts(3, 0, 0), &json!(1)), "the earlier ballot stays, once: {p}");
    let held = view_of(&app, &created, &laptop.token).await;
    assert_eq!((&held["voter"]["entry"], &held["voter"]["claim"]), (&entry, &json!(2)));
    assert_eq!(held["ballots"], json!({poll.clone(): {"choice": "for", "receipt": receipt}}), "the entry's ballot");

    // One ballot per roster entry: the new holder's choice replaces it, under the same receipt.
    let replaced = cast(&mut laptop.ws, &poll, "against").await;
    assert_eq!(replaced["receipt"], receipt);
    let lost = view_of(&app, &created, &phone.token).await;
    assert_eq!(lost["ballots"], json!({}), "the old device no longer shows the entry's ballot");
    assert_eq!(lost["voter"]["entry"], entry);
    let closed = close(&mut moderator, &poll).await;
    assert_eq!(
        (&closed["counts"], &closed["cast"], &closed["cast_weight"], &closed["eligible"]),
        (&counts(0, 3, 0), &json!(1), &json!(3), &json!(6)),
        "{closed}"
    );
    let published = fetch_receipts(&app, &created, &poll).await;
    assert_eq!(published["receipts"], json!([{"receipt": receipt, "choice": "against", "weight": 3}]));
}

async fn bad_choices_methods_quorums_and_codes_are_refused_as_invalid(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;

    for fields in [
        json!({"draft": "d1", "method": "unanimous"}),
        json!({"draft": "d1", "method": 2}),
        json!({"draft": "d1", "quorum": -1}),
        json!({"draft": "d1", "quorum": "3"}),
        json!({"draft": "d1", "quorum": 1.5}),
        json!({"draft": "d1", "secret": "yes"}),
        json!({"draft": "d1", "hidden": 1}),
        json!({"method": "simple"}),
        json!({"draft": ""}),
        json!({"draft": "d".repeat(65)}),
    ] {
        assert_eq!(code(&moderator.refused("poll.open", fields.clone()).await), "invalid", "poll.open {fields}");
    }
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    for fields in [
        json!({"poll": poll, "choice": "yes"}),
        json!({"poll": poll, "choice": "FOR"}),
        json!({"poll": poll, "choice": null}),
        json!({"poll": poll, "choice": 1}),
        json!({"poll": poll}),
        json!({"choice": "for"}),
        json!({"poll": "p".repeat(65), "choice": "for"}),
    ] {
        assert_eq!(code(&p.ws.refused("vote.cast", fields.clone()).await), "invalid", "vote.cast {fields}");
    }
    for fields in [json!({"code": "ABC"}), json!({"code": "IL0O1IL0"}), json!({"code": 12345678}), json!({})] {
        assert_eq!(code(&p.ws.refused("voter.claim", fields.clone()).await), "invalid", "voter.claim {fields}");
    }
    for op in ["poll.close", "poll.cancel"] {
        assert_eq!(code(&moderator.refused(op, json!({})).await), "invalid", "{op} without a poll");
    }
    let open_mode = p.ws.refused("voter.claim", json!({"code": "ABCDEFGH"})).await;
    assert_eq!(code(&open_mode), "conflict", "no roster in open mode: {open_mode}");

    let state = moderator_view(&app, &created).await;
    assert_eq!(state["polls"].as_array().map(Vec::len), Some(1), "only the valid poll was opened");
    assert_eq!(poll_in(&state, &poll)["cast"], 0);
    assert_eq!(poll_in(&state, &poll)["method"], "simple", "the default method");
}

async fn unknown_polls_and_drafts_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;

    let ghost = "p0123456789ab";
    assert_eq!(code(&p.ws.refused("vote.cast", json!({"poll": ghost, "choice": "for"})).await), "not_found");
    for op in ["poll.close", "poll.cancel"] {
        assert_eq!(code(&moderator.refused(op, json!({"poll": ghost})).await), "not_found", "{op}");
    }
    for op in ["poll.open", "draft.adopt_by_consensus"] {
        assert_eq!(code(&moderator.refused(op, json!({"draft": "d99"})).await), "not_found", "{op}");
    }
    let res = receipts(&app, text(&created, "code"), ghost).await;
    assert_eq!(error_of(res).await.0, 404);
    assert_eq!(moderator_view(&app, &created).await["polls"], json!([]));
}

async fn a_poll_of_another_session_cannot_be_reached_from_this_one(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (ours, mut our_moderator) = session(&app, "open").await;
    let (theirs, mut their_moderator) = session(&app, "open").await;
    let mut outsider = person(&app, &theirs).await;
    let mut insider = person(&app, &ours).await;
    let poll = open_poll(&mut our_moderator, json!({"draft": "d1"})).await;

    let reach = outsider.ws.refused("vote.cast", json!({"poll": poll, "choice": "for"})).await;
    assert_eq!(code(&reach), "not_found", "{reach}");
    for op in ["poll.close", "poll.cancel"] {
        assert_eq!(code(&their_moderator.refused(op, json!({"poll": poll})).await), "not_found", "{op}");
    }
    assert_eq!(poll_in(&moderator_view(&app, &ours).await, &poll)["cast"], 0);
    assert_eq!(standing(&moderator_view(&app, &theirs).await, "d1").0, "draft", "their d1 is their own");

    cast(&mut insider.ws, &poll, "for").await;
    close(&mut our_moderator, &poll).await;
    let res = receipts(&app, text(&theirs, "code"), &poll).await;
    assert_eq!(error_of(res).await.0, 404, "their join code does not reach our receipts");
    assert_eq!(fetch_receipts(&app, &ours, &poll).await["receipts"].as_array().map(Vec::len), Some(1));
}

async fn a_draft_has_one_open_poll_at_a_time_and_a_decided_draft_no_more(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;

    assert_eq!(code(&moderator.refused("poll.open", json!({"draft": "d1"})).await), "conflict", "one at a time");
    let busy = moderator.refused("draft.adopt_by_consensus", json!({"draft": "d1"})).await;
    assert_eq!(code(&busy), "conflict", "not while being voted on");
    // Another draft may be voted on meanwhile.
    let other = open_poll(&mut moderator, json!({"draft": "d2"})).await;
    cast(&mut p.ws, &poll, "for").await;
    close(&mut moderator, &poll).await;
    close(&mut moderator, &other).await;
    moderator.ok("draft.adopt_by_consensus", json!({"draft": "d3"})).await;

    for (draft, status) in [("d1", "adopted"), ("d2", "rejected"), ("d3", "adopted")] {
        for op in ["poll.open", "draft.adopt_by_consensus"] {
            let refused = moderator.refused(op, json!({"draft": draft})).await;
            assert_eq!(code(&refused), "conflict", "{op} on a draft {status}: {refused}");
        }
    }
    let state = moderator_view(&app, &created).await;
    assert_eq!(state["polls"].as_array().map(Vec::len), Some(2));
    assert_eq!(standing(&state, "d1"), (json!("adopted"), json!("vote"), json!(poll)));
}

async fn wrong_voting_codes_are_not_found_until_the_session_has_had_fifty_in_a_minute(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, _moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let real: HashSet<&str> = entries.iter().map(|e| text(e, "code")).collect();
    let wrong = || loop {
        let c = palabre::credentials::new_voting_code();
        if !real.contains(c.as_str()) {
            return c;
        }
    };

    // Fifty wrong codes, five from each of ten phones.
    for _ in 0..10 {
        let mut p = person(&app, &created).await;
        for _ in 0..5 {
            let refused = p.ws.refused("voter.claim", json!({"code": wrong()})).await;
            assert_eq!(code(&refused), "not_found", "{refused}");
        }
    }

    let mut late = person(&app, &created).await;
    let limited = late.ws.refused("voter.claim", json!({"code": entries[0]["code"]})).await;
    assert_eq!(code(&limited), "rate_limited", "even the right code waits: {limited}");
    assert_eq!(code(&late.ws.refused("voter.claim", json!({"code": wrong()})).await), "rate_limited");
    assert_eq!(moderator_view(&app, &created).await["roster"]["claimed"], 0);
}

/// The voting protocol: "too many wrong voting codes: 5 per socket, 50 per minute per session".
async fn a_phone_that_tried_five_wrong_voting_codes_is_refused_further_tries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, _moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let real: HashSet<&str> = entries.iter().map(|e| text(e, "code")).collect();
    let mut guesser = person(&app, &created).await;
    let mut tried = 0;
    while tried < 5 {
        let c = palabre::credentials::new_voting_code();
        if real.contains(c.as_str()) {
            continue;
        }
        assert_eq!(code(&guesser.ws.refused("voter.claim", json!({"code": c})).await), "not_found");
        tried += 1;
    }

    let sixth = guesser.ws.refused("voter.claim", json!({"code": entries[0]["code"]})).await;

    assert_eq!(code(&sixth), "rate_limited", "a sixth try from the same socket: {sixth}");
    // Another phone is not held to this one's tries.
    let mut other = person(&app, &created).await;
    other.ws.ok("voter.claim", json!({"code": entries[1]["code"]})).await;
}

// ---------------------------------------------------------------------------------------------
// Ballots
// ---------------------------------------------------------------------------------------------

async fn casting_again_replaces_the_choice_and_keeps_the_same_receipt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 3).await;
    let opened = moderator.ok("poll.open", json!({"draft": "d1"})).await;
    let poll = text(&opened, "poll").to_owned();

    let first = cast(&mut v[0].ws, &poll, "for").await;
    let receipt = first["receipt"].clone();
    assert_eq!(first["seq"], opened["seq"], "a ballot takes no seq: {first}");
    for choice in ["against", "abstain"] {
        assert_eq!(cast(&mut v[0].ws, &poll, choice).await["receipt"], receipt, "the same receipt");
    }
    let other = cast(&mut v[1].ws, &poll, "for").await;
    assert_ne!(other["receipt"], receipt, "each voter has a receipt of their own");

    let state = moderator_view(&app, &created).await;
    let p = poll_in(&state, &poll);
    assert_eq!((&p["counts"], &p["cast"], &p["cast_weight"]), (&counts(1, 0, 1), &json!(2), &json!(2)), "{p}");
    assert_eq!(state["seq"], opened["seq"]);
    let mine = view_of(&app, &created, &v[0].token).await;
    assert_eq!(mine["ballots"], json!({poll.clone(): {"choice": "abstain", "receipt": receipt}}));
    let voter = &mine["voter"];
    assert_eq!(
        (&voter["entry"], &voter["name"], &voter["organisation"], &voter["weight"], &voter["claim"]),
        (&Value::Null, &Value::Null, &Value::Null, &json!(1), &json!(0)),
        "open mode: {voter}"
    );
    let theirs = view_of(&app, &created, &v[1].token).await;
    assert_eq!(theirs["ballots"], json!({poll.clone(): {"choice": "for", "receipt": other["receipt"]}}));
    let abstainer = view_of(&app, &created, &v[2].token).await;
    assert_eq!((&abstainer["ballots"], &abstainer["voter"]["weight"]), (&json!({}), &json!(1)));
    for view in [state, screen_view(&app, &created).await, rapporteur_view(&app, &created).await] {
        assert_eq!((view.get("ballots"), view.get("voter")), (None, None), "a participant's own only");
    }
}

async fn a_ballot_retried_with_the_same_id_counts_once_and_is_acked_alike(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut p = person(&app, &created).await;
    let mut other = person(&app, &created).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    let id = uuid::Uuid::new_v4().to_string();
    p.ws.cmd_with_id(&id, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    let first = p.ws.reply_to(&id).await;
    assert_eq!(first["type"], "ack", "{first}");
    assert_eq!((&first["result"]["choice"], &first["result"]["poll"]), (&json!("for"), &json!(poll)));
    cast(&mut other.ws, &poll, "against").await;

    // The retry comes on a new connection, as after a network drop; even a changed body names
    // the ballot already cast.
    let (mut again, _) = hello_again(&app, &created["code"], &p.token).await;
    again.cmd_with_id(&id, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    assert_eq!(again.reply_to(&id).await, first);
    again.cmd_with_id(&id, "vote.cast", json!({"poll": poll, "choice": "against"})).await;
    assert_eq!(again.reply_to(&id).await, first);
    let p_view = poll_in(&moderator_view(&app, &created).await, &poll).clone();
    assert_eq!((&p_view["counts"], &p_view["cast"]), (&counts(1, 1, 0), &json!(2)), "{p_view}");

    // Changed since, then the old ballot retried: it is not cast again.
    let changed = cast(&mut again, &poll, "abstain").await;
    assert_eq!(changed["receipt"], first["result"]["receipt"]);
    p.ws.cmd_with_id(&id, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    assert_eq!(p.ws.reply_to(&id).await, first);
    let closed = close(&mut moderator, &poll).await;
    assert_eq!((&closed["counts"], &closed["cast"]), (&counts(0, 1, 1), &json!(2)), "{closed}");
}

// ---------------------------------------------------------------------------------------------
// Tallies
// ---------------------------------------------------------------------------------------------

async fn a_burst_of_ballots_reaches_each_client_as_a_few_coalesced_tally_frames(backend: Backend) {
    const VOTERS: usize = 24;
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut voters = people(&app, &created, VOTERS).await;
    let mut watcher = person(&app, &created).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;

    let mut sent = Vec::new();
    for (i, p) in voters.iter_mut().enumerate() {
        sent.push(p.ws.cmd("vote.cast", json!({"poll": poll, "choice": CHOICES[i % 3]})).await);
    }
    for (p, id) in voters.iter_mut().zip(&sent) {
        assert_eq!(p.ws.reply_to(id).await["type"], "ack");
    }

    let expected = counts(8, 8, 8);
    let all_in = |t: &Value| t["cast"] == VOTERS && t["counts"] == expected;
    for ws in [&mut moderator, &mut screen, &mut rapporteur, &mut watcher.ws, &mut voters[5].ws] {
        let (last, frames) = tally_until(ws, &poll, all_in).await;
        assert!(frames <= VOTERS / 4, "{VOTERS} ballots came as {frames} tally frames: not coalesced");
        assert_eq!(
            last,
            json!({"type": "tally", "poll": poll, "counts": expected, "cast": VOTERS, "cast_weight": VOTERS,
                   "eligible": VOTERS + 1}),
            "the latest figures, the voters and the watcher eligible"
        );
    }
}

async fn a_hidden_poll_shows_participants_and_the_screen_the_turnout_only_until_its_close(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let mut v = people(&app, &created, 3).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1", "hidden": true})).await;
    assert_eq!(screen.event_of("poll.opened").await["event"]["poll"]["hidden"], true);

    cast(&mut v[0].ws, &poll, "for").await;
    cast(&mut v[1].ws, &poll, "against").await;
    cast(&mut v[2].ws, &poll, "for").await;

    let turnout = |t: &Value| t["cast"] == 3;
    for ws in [&mut screen, &mut v[2].ws] {
        let (last, _) = tally_until(ws, &poll, turnout).await;
        assert_eq!(last, json!({"type": "tally", "poll": poll, "cast": 3, "cast_weight": 3, "eligible": 3}));
    }
    for ws in [&mut moderator, &mut rapporteur] {
        let (last, _) = tally_until(ws, &poll, turnout).await;
        assert_eq!(last["counts"], counts(2, 1, 0), "the staff see the counts: {last}");
    }
    for state in [screen_view(&app, &created).await, view_of(&app, &created, &v[0].token).await] {
        let p = poll_in(&state, &poll);
        assert_eq!((&p["counts"], &p["cast"], &p["hidden"]), (&Value::Null, &json!(3), &json!(true)), "{p}");
    }
    for state in [moderator_view(&app, &created).await, rapporteur_view(&app, &created).await] {
        assert_eq!(poll_in(&state, &poll)["counts"], counts(2, 1, 0));
    }

    close(&mut moderator, &poll).await;

    for ws in [&mut screen, &mut v[1].ws] {
        let closed = event_where(ws, "poll.closed", |e| e["poll"] == poll).await;
        assert_eq!((&closed["event"]["counts"], &closed["event"]["outcome"]), (&counts(2, 1, 0), &json!("adopted")));
    }
    for state in [screen_view(&app, &created).await, view_of(&app, &created, &v[1].token).await] {
        assert_eq!(poll_in(&state, &poll)["counts"], counts(2, 1, 0), "shown to all once closed");
    }
}

// ---------------------------------------------------------------------------------------------
// Races
// ---------------------------------------------------------------------------------------------

async fn ballots_racing_a_close_are_counted_before_it_or_refused_as_closed(backend: Backend) {
    const VOTERS: usize = 30;
    const CASTS: usize = 20;
    let a = TestApp::spawn(backend).await;
    // On Redis, the voters are spread over two instances.
    let b = match backend {
        Backend::Redis => Some(TestApp::spawn(backend).await),
        Backend::Memory => None,
    };
    let (created, mut moderator) = session(&a, "open").await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let app = b.as_ref().filter(|_| i % 2 == 1).unwrap_or(&a);
        voters.push(hello_participant(app, &created["code"]).await.0);
    }
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    // Each voter says when a ballot of theirs is acknowledged; the close is sent once every
    // voter has one and sixty more came, in the middle of the stream.
    let (acked_tx, mut acked) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (go_tx, go) = tokio::sync::watch::channel(false);

    let tasks: Vec<_> = voters
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            let (poll, acked, mut go) = (poll.clone(), acked_tx.clone(), go.clone());
            tokio::spawn(async move {
                // The last choice acknowledged, and how many were refused as closed.
                let (mut last, mut refused) = (None, 0);
                for k in 0..CASTS {
                    let choice = CHOICES[(i + k) % 3];
                    let reply = ws.call("vote.cast", json!({"poll": poll, "choice": choice})).await;
                    match (reply["type"].as_str(), reply["code"].as_str()) {
                        (Some("ack"), _) => {
                            assert_eq!(refused, 0, "voter {i}: a ballot acked after one was refused as closed");
                            last = Some(choice);
                            let _ = acked.send(k);
                        }
                        (Some("error"), Some("closed")) => refused += 1,
                        _ => panic!("voter {i}: {reply}"),
                    }
                    if k == 0 {
                        go.wait_for(|go| *go).await.expect("the test says go");
                    }
                }
                (last, refused)
            })
        })
        .collect();
    for _ in 0..VOTERS {
        assert_eq!(acked.recv().await, Some(0), "every voter has a first ballot acknowledged");
    }
    go_tx.send(true).expect("voters listen");
    for _ in 0..60 {
        acked.recv().await.expect("more ballots");
    }
    let closed = close(&mut moderator, &poll).await;

    let mut last = Vec::new();
    let mut refused = 0;
    for t in tasks {
        let (choice, n) = t.await.expect("voter");
        last.push(choice.expect("every voter had a ballot acknowledged before the close"));
        refused += n;
    }
    assert_eq!(
        (&closed["counts"], &closed["cast"]),
        (&tally_of(last.iter().copied()), &json!(VOTERS)),
        "counted exactly the last ballot each voter had acknowledged ({refused} refused as closed): {closed}"
    );
    let published = fetch_receipts(&a, &created, &poll).await;
    assert_eq!(published["counts"], closed["counts"]);
    let listed = published["receipts"].as_array().expect("receipts");
    assert_eq!(tally_of(listed.iter().map(|r| text(r, "choice"))), closed["counts"], "the receipts recount alike");
}

/// Sixty voters over two instances, half of them changing their minds, then every ballot sent
/// again with the same ids from the other instance: each counted once, the figures exact.
#[tokio::test]
async fn sixty_voters_over_two_instances_are_counted_exactly_and_a_retry_storm_counts_once() {
    const VOTERS: usize = 60;
    let a = TestApp::spawn(Backend::Redis).await;
    let b = TestApp::spawn(Backend::Redis).await;
    let (created, mut moderator) = session(&a, "open").await;
    let (mut watcher, _) = hello_moderator(&b, &created).await;
    let mut voters = Vec::new();
    for i in 0..VOTERS {
        let app = if i % 2 == 0 { &a } else { &b };
        voters.push(person(app, &created).await);
    }
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    let first = |i: usize| CHOICES[i % 3];
    let second = |i: usize| (i % 2 == 0).then(|| CHOICES[(i + 1) % 3]);
    let last = |i: usize| second(i).unwrap_or(first(i));
    let expected = tally_of((0..VOTERS).map(last));

    let tasks: Vec<_> = voters
        .into_iter()
        .enumerate()
        .map(|(i, mut p)| {
            let poll = poll.clone();
            tokio::spawn(async move {
                let mut sent = Vec::new();
                for choice in [Some(first(i)), second(i)].into_iter().flatten() {
                    let id = uuid::Uuid::new_v4().to_string();
                    p.ws.cmd_with_id(&id, "vote.cast", json!({"poll": poll, "choice": choice})).await;
                    let ack = p.ws.reply_to(&id).await;
                    assert_eq!((&ack["type"], &ack["result"]["choice"]), (&json!("ack"), &json!(choice)), "{ack}");
                    sent.push((id, ack));
                }
                (p, sent)
            })
        })
        .collect();
    let mut voted = Vec::new();
    for t in tasks {
        voted.push(t.await.expect("voter"));
    }
    for (p, sent) in &voted {
        assert!(sent.iter().all(|(_, ack)| ack["result"]["receipt"] == sent[0].1["result"]["receipt"]), "{sent:?}");
        assert!(!p.token.is_null());
    }

    // The retry storm: every ballot sent three more times from the other instance, at once.
    let mut storm = Vec::new();
    for (i, (p, sent)) in voted.iter().enumerate() {
        let other = if i % 2 == 0 { &b } else { &a };
        let (mut ws, _) = hello_again(other, &created["code"], &p.token).await;
        let (poll, sent) = (poll.clone(), sent.clone());
        storm.push(tokio::spawn(async move {
            for _ in 0..3 {
                for (id, ack) in &sent {
                    let choice = &ack["result"]["choice"];
                    ws.cmd_with_id(id, "vote.cast", json!({"poll": poll, "choice": choice})).await;
                    assert_eq!(ws.reply_to(id).await, *ack, "a retry is acked as the first time");
                }
            }
        }));
    }
    for t in storm {
        t.await.expect("retries");
    }

    let (tally, _) = tally_until(&mut watcher, &poll, |t| t["cast"] == VOTERS && t["counts"] == expected).await;
    assert_eq!((&tally["cast_weight"], &tally["eligible"]), (&json!(VOTERS), &json!(VOTERS)), "{tally}");
    let closed = close(&mut moderator, &poll).await;
    assert_eq!(
        (&closed["counts"], &closed["cast"], &closed["cast_weight"], &closed["eligible"]),
        (&expected, &json!(VOTERS), &json!(VOTERS), &json!(VOTERS)),
        "{closed}"
    );
    let elsewhere = event_where(&mut watcher, "poll.closed", |e| e["poll"] == poll).await;
    assert_eq!(elsewhere["event"], closed, "the other instance tells the same");
    let published = fetch_receipts(&b, &created, &poll).await;
    let listed: BTreeMap<String, String> = published["receipts"]
        .as_array()
        .expect("receipts")
        .iter()
        .map(|r| (text(r, "receipt").to_owned(), text(r, "choice").to_owned()))
        .collect();
    assert_eq!(listed.len(), VOTERS, "one receipt per voter");
    for (i, (_, sent)) in voted.iter().enumerate() {
        let receipt = text(&sent[0].1["result"], "receipt");
        assert_eq!(listed.get(receipt).map(String::as_str), Some(last(i)), "voter {i}'s receipt and final choice");
    }
}

// ---------------------------------------------------------------------------------------------
// The roster, the cards, the receipts
// ---------------------------------------------------------------------------------------------

async fn the_moderator_puts_the_roster_as_csv_and_nobody_else_may(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;

    let res = roster_request(&app, &created, None, ROSTER).send().await.expect("request");
    assert_eq!(error_of(res).await.0, 401, "no key");
    let res = roster_request(&app, &created, Some("not-a-key"), ROSTER).send().await.expect("request");
    assert_eq!(error_of(res).await.0, 401, "a wrong key");
    let res = roster_request(&app, &created, Some(text(&created, "rapporteur_key")), ROSTER).send().await;
    assert_eq!(error_of(res.expect("request")).await.0, 403, "the rapporteur's key");
    let bad = "name,organisation,weight\nAwa Diop,AMM,2\n,ARM,1\nFatou Sow,X,zero\nMoussa,Y,0\nIdrissa,Z,\n";
    let res = roster_request(&app, &created, Some(text(&created, "moderator_key")), bad).send().await;
    let (status, error, message) = error_of(res.expect("request")).await;
    assert_eq!((status, error.as_str()), (400, "invalid"), "{message}");
    for line in ["line 3", "line 4", "line 5"] {
        assert!(message.contains(line), "{line} is named: {message}");
    }
    assert!(!message.contains("line 2") && !message.contains("line 6"), "only the bad lines: {message}");
    assert_eq!(moderator_view(&app, &created).await["roster"], json!({"entries": 0, "weight": 0, "claimed": 0}));

    let entries = put_roster(&app, &created, "name,organisation,weight\nAwa Diop,AMM Mali,3\nFatou Sow,,\n").await;

    assert_eq!(entries.len(), 2);
    let first = &entries[0];
    assert_eq!(
        (&first["name"], &first["organisation"], &first["weight"], &entries[1]["weight"]),
        (&json!("Awa Diop"), &json!("AMM Mali"), &json!(3), &json!(1)),
        "a missing weight is 1: {entries:?}"
    );
    let codes: HashSet<&str> = entries.iter().map(|e| text(e, "code")).collect();
    let alphabet = palabre::credentials::CODE_ALPHABET;
    assert!(codes.iter().all(|c| c.len() == 8 && c.bytes().all(|b| alphabet.contains(&b))), "{codes:?}");
    assert_eq!(codes.len(), 2);
    let replaced = rapporteur.event_of("roster.replaced").await;
    assert_eq!(replaced["event"], json!({"kind": "roster.replaced", "entries": 2, "weight": 4}));

    // The same as CSV, which replaces the roster again, with fresh codes.
    let res = roster_request(&app, &created, Some(text(&created, "moderator_key")), ROSTER)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert_eq!(res.status(), 200);
    let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(kind.starts_with("text/csv"), "{kind}");
    let table = res.text().await.expect("body");
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(rows.len(), 4, "{table}");
    assert_eq!(rows[0], "id,name,organisation,weight,code");
    assert!(rows[2].starts_with("v2,Moussa Traoré,ARM,2,"), "{table}");
    let fresh: Vec<String> = rows[1..].iter().map(|r| r.rsplit(',').next().unwrap_or("").to_owned()).collect();
    assert!(fresh.iter().all(|c| !codes.contains(c.as_str())), "fresh codes");
    let state = moderator_view(&app, &created).await;
    assert_eq!(state["roster"], json!({"entries": 3, "weight": 6, "claimed": 0}));
    let mut awa = person(&app, &created).await;
    assert_eq!(code(&awa.ws.refused("voter.claim", json!({"code": entries[0]["code"]})).await), "not_found");
    awa.ws.ok("voter.claim", json!({"code": fresh[0]})).await;
    assert_eq!(moderator_view(&app, &created).await["roster"]["claimed"], 1);
    assert_eq!(view_of(&app, &created, &awa.token).await.get("roster"), None, "the staff's to see");

    // Not while a poll is open; afterwards, a new roster voids every claim.
    let poll = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    let res = roster_request(&app, &created, Some(text(&created, "moderator_key")), ROSTER).send().await;
    assert_eq!(error_of(res.expect("request")).await.0, 409, "a poll is open");
    close(&mut moderator, &poll).await;
    let again = put_roster(&app, &created, ROSTER).await;
    let next = open_poll(&mut moderator, json!({"draft": "d2"})).await;
    let void = awa.ws.refused("vote.cast", json!({"poll": next, "choice": "for"})).await;
    assert_eq!(code(&void), "forbidden", "the claim went with the old roster: {void}");
    awa.ws.ok("voter.claim", json!({"code": again[0]["code"]})).await;
    cast(&mut awa.ws, &next, "for").await;

    let (open_session, _) = session(&app, "open").await;
    let res = roster_request(&app, &open_session, Some(text(&open_session, "moderator_key")), ROSTER).send().await;
    assert_eq!(error_of(res.expect("request")).await.0, 409, "no roster in open mode");
}

async fn the_voting_cards_print_one_card_per_delegate_with_its_code_and_qr_and_no_script(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, _moderator) = session(&app, "roster").await;
    let csv = "name,organisation,weight\n\"Awa <b>Diop</b> & Co\",AMM,3\nMoussa Traoré,ARM,2\nFatou Sow,,1\n";
    let entries = put_roster(&app, &created, csv).await;
    let url = app.url(&format!("/api/sessions/{}/roster/cards.html", text(&created, "id")));

    let res = app.http.get(&url).send().await.expect("request");
    assert_eq!(res.status(), 401, "no key");
    let res = app.http.get(&url).bearer_auth(text(&created, "rapporteur_key")).send().await.expect("request");
    assert_eq!(res.status(), 403, "the rapporteur's key");
    let res = app.http.get(&url).bearer_auth(text(&created, "moderator_key")).send().await.expect("request");

    assert_eq!(res.status(), 200);
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = res.text().await.expect("body");
    let style = html.split_once("<style>").and_then(|(_, r)| r.split_once("</style>")).map(|(c, _)| c).expect("style");
    use base64::Engine;
    use sha2::Digest;
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "the one style is allowed by its hash: {csp}");
    assert_eq!(html.matches("class=\"card\"").count(), 3, "one card per delegate");
    assert_eq!(html.matches("<svg").count(), 3, "one inline QR code per card");
    for e in &entries {
        let c = text(e, "code");
        assert!(html.contains(&format!("{} {}", &c[..4], &c[4..])), "the code {c} is printed");
    }
    assert!(html.contains("Awa &lt;b&gt;Diop&lt;/b&gt; &amp; Co") && !html.contains("<b>Diop"), "names escaped");
    assert!(html.contains("Moussa Traoré"));
    assert!(!html.to_ascii_lowercase().contains("<script"), "no script in a printable page");
}

async fn receipts_are_published_at_the_close_for_anyone_holding_the_join_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let mut d = delegates(&app, &created, &entries).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d2", "method": "two_thirds"})).await;
    let mut mine = Vec::new();
    for (p, choice) in d.iter_mut().zip(["for", "against", "against"]) {
        mine.push(text(&cast(&mut p.ws, &poll, choice).await, "receipt").to_owned());
    }
    cast(&mut d[2].ws, &poll, "for").await;

    let (status, error, _) = error_of(receipts(&app, text(&created, "code"), &poll).await).await;
    assert_eq!((status, error.as_str()), (409, "conflict"), "not while open");

    let closed = close(&mut moderator, &poll).await;

    // Anyone with the join code, as typed (lower case), and nothing else.
    let res = receipts(&app, &text(&created, "code").to_lowercase(), &poll).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(
        (&body["poll"], &body["draft"], &body["method"], &body["secret"], &body["counts"]),
        (&json!(poll), &json!("d2"), &json!("two_thirds"), &json!(false), &counts(4, 2, 0)),
        "{body}"
    );
    assert_eq!((&body["counts"], &body["outcome"]), (&closed["counts"], &json!("adopted")));
    let listed = body["receipts"].as_array().expect("receipts");
    let mut expected: Vec<Value> = mine
        .iter()
        .zip([("for", 3), ("against", 2), ("for", 1)])
        .map(|(r, (c, w))| json!({"receipt": r, "choice": c, "weight": w}))
        .collect();
    expected.sort_by(|x, y| text(x, "receipt").cmp(text(y, "receipt")));
    assert_eq!(*listed, expected, "every receipt with its final choice and weight, sorted by receipt");
    let mut recount: HashMap<&str, u64> = HashMap::new();
    for r in listed {
        *recount.entry(text(r, "choice")).or_default() += r["weight"].as_u64().expect("weight");
    }
    let recount = counts(recount["for"], recount["against"], recount.get("abstain").copied().unwrap_or(0));
    assert_eq!(recount, body["counts"], "the receipts add up to the counts");

    assert_eq!(error_of(receipts(&app, "ZZZZZZ", &poll).await).await.0, 404, "a wrong join code");
    let cancelled = open_poll(&mut moderator, json!({"draft": "d1"})).await;
    cast(&mut d[0].ws, &cancelled, "for").await;
    moderator.ok("poll.cancel", json!({"poll": cancelled})).await;
    let (status, error, _) = error_of(receipts(&app, text(&created, "code"), &cancelled).await).await;
    assert_eq!((status, error.as_str()), (409, "conflict"), "a cancelled poll counted nothing");
}

// ---------------------------------------------------------------------------------------------
// Secrecy
// ---------------------------------------------------------------------------------------------

/// Reads frames until the `poll.closed` of `poll`; returns them all as sent.
async fn frames_until_closed(ws: &mut Ws, poll: &str) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let f = ws.recv_any().await;
        let done = f["type"] == "event" && f["event"]["kind"] == "poll.closed" && f["event"]["poll"] == poll;
        all.push(f);
        if done {
            return all;
        }
    }
}

/// Whether `v` holds, at any depth, an object with a `choice`.
fn has_choice(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.contains_key("choice") || m.values().any(has_choice),
        Value::Array(a) => a.iter().any(has_choice),
        _ => false,
    }
}

async fn a_secret_poll_shows_nobody_who_chose_what(backend: Backend) {
    let (app, store) = TestApp::spawn_sharing(backend).await;
    let (created, mut moderator) = session(&app, "open").await;
    let id = text(&created, "id").to_owned();
    let mut v = people(&app, &created, 3).await;
    let mut ids = Vec::new();
    for p in &v {
        let token = p.token.as_str().expect("token");
        let found = store.find_participant(&id, &palabre::credentials::hash(token)).await.expect("lookup");
        ids.push(found.expect("registered").id);
    }
    let (mut rapporteur, _) = hello_rapporteur(&app, &created).await;
    let (mut screen, _) = hello_screen(&app, &created["code"]).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1", "secret": true})).await;

    let mut receipts_of = Vec::new();
    for (p, choice) in v.iter_mut().zip(["for", "against", "abstain"]) {
        receipts_of.push(text(&cast(&mut p.ws, &poll, choice).await, "receipt").to_owned());
    }
    cast(&mut v[1].ws, &poll, "for").await;
    moderator.ok("poll.close", json!({"poll": poll})).await;

    // What the others were sent while the vote ran, and what they see of it afterwards.
    let mut seen: Vec<(&str, Value)> = Vec::new();
    for (who, ws) in [("moderator", &mut moderator), ("rapporteur", &mut rapporteur), ("screen", &mut screen)] {
        seen.extend(frames_until_closed(ws, &poll).await.into_iter().map(|f| (who, f)));
    }
    seen.extend(frames_until_closed(&mut v[2].ws, &poll).await.into_iter().map(|f| ("another voter", f)));
    seen.push(("moderator", moderator_view(&app, &created).await));
    seen.push(("rapporteur", rapporteur_view(&app, &created).await));
    seen.push(("screen", screen_view(&app, &created).await));
    let res = app.http.get(app.url(&format!("/api/sessions/{id}"))).bearer_auth(text(&created, "moderator_key"));
    seen.push(("moderator over HTTP", res.send().await.expect("request").json().await.expect("json")));
    let mut others = view_of(&app, &created, &v[2].token).await;
    assert_eq!(others["ballots"][&poll]["receipt"], json!(receipts_of[2]), "their own ballot only");
    others["ballots"] = json!({});
    seen.push(("another voter", others));

    for (who, frame) in &seen {
        let raw = frame.to_string();
        for (i, (pid, p)) in ids.iter().zip(&v).enumerate() {
            let token = p.token.as_str().expect("token");
            assert!(!raw.contains(pid.as_str()) && !raw.contains(token), "the {who} was sent voter {i}: {raw}");
        }
        for (i, r) in receipts_of.iter().enumerate().take(2) {
            assert!(!raw.contains(r.as_str()), "the {who} was sent voter {i}'s receipt: {raw}");
        }
        assert!(!has_choice(frame), "the {who} was sent a choice: {raw}");
    }
    let closed = seen.iter().find(|(_, f)| f["event"]["kind"] == "poll.closed").map(|(_, f)| &f["event"]);
    assert_eq!(closed.map(|e| &e["counts"]), Some(&counts(2, 0, 1)));
    let published = fetch_receipts(&app, &created, &poll).await;
    assert_eq!(published["secret"], true);
    for r in published["receipts"].as_array().expect("receipts") {
        let keys: HashSet<&str> = r.as_object().expect("object").keys().map(String::as_str).collect();
        // Not even a weight: a weight of its own would name its delegate.
        assert_eq!(keys, HashSet::from(["receipt", "choice"]), "no one named: {r}");
    }
    let raw = published.to_string();
    assert!(ids.iter().all(|pid| !raw.contains(pid.as_str())), "{raw}");
}

async fn the_server_log_never_names_a_voting_code_a_key_or_a_token(backend: Backend) {
    let Some(log) = server_log() else {
        eprintln!("another tracing subscriber is installed: the server log cannot be read here");
        return;
    };
    let app = TestApp::spawn(backend).await;
    let (created, mut moderator) = session(&app, "roster").await;
    let entries = put_roster(&app, &created, ROSTER).await;
    let mut d = delegates(&app, &created, &entries).await;
    let mut intruder = person(&app, &created).await;
    intruder.ws.refused("voter.claim", json!({"code": "ABCDEFGH"})).await;
    let poll = open_poll(&mut moderator, json!({"draft": "d1", "secret": true})).await;
    let mut receipts_of = Vec::new();
    for (p, choice) in d.iter_mut().zip(CHOICES) {
        receipts_of.push(text(&cast(&mut p.ws, &poll, choice).await, "receipt").to_owned());
    }
    close(&mut moderator, &poll).await;
    fetch_receipts(&app, &created, &poll).await;
    let cards = app.url(&format!("/api/sessions/{}/roster/cards.html", text(&created, "id")));
    let res = app.http.get(cards).bearer_auth(text(&created, "moderator_key")).send().await.expect("request");
    assert_eq!(res.status(), 200);

    let written = log.text();
    assert!(written.contains(text(&created, "id")), "the session's doings are logged");
    let mut secrets: Vec<(&str, String)> = vec![
        ("the moderator key", text(&created, "moderator_key").to_owned()),
        ("the rapporteur key", text(&created, "rapporteur_key").to_owned()),
    ];
    secrets.extend(entries.iter().map(|e| ("a voting code", text(e, "code").to_owned())));
    secrets.extend(
        d.iter().chain([&intruder]).map(|p| ("a participant token", p.token.as_str().expect("token").to_owned())),
    );
    for (what, secret) in secrets {
        assert!(!written.contains(&secret), "the log names {what}");
    }
}
