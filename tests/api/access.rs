//! Who may do what, as one table per surface: every HTTP route ([`ROUTES`]) and every live op
//! ([`OP_ROWS`]) tried by every role — admin, moderator, rapporteur, participant, unclaimed and
//! claimed voter (roster mode), screen — and by every kind of bad credential: none, a wrong
//! key, a key of another session, a revoked key. Each answer is held to the contract (401, 403,
//! `forbidden`, `unauthorized`, close 1008…). An op of `palabre::protocol::OPS` or a route of
//! the router without a row fails the test, so a new one cannot ship unchecked. And a
//! participant of one session can do nothing in another, not even by naming its ids.

use crate::helpers::*;
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr};

on_both_stores!(
    every_route_answers_every_role_as_the_contract_says,
    every_op_answers_every_role_as_the_contract_says,
    a_participant_of_one_session_can_do_nothing_in_another_even_naming_its_ids,
);

const ADMIN: &str = "access-matrix-admin-token";

/// Four delegates (weights 3, 2, 1, 1).
const ROSTER: &str =
    "name,organisation,weight\nAwa Diop,AMM Mali,3\nMoussa Traoré,ARM,2\nFatou Sow,,1\nJean Dupont,CGLU,1\n";

// ---------------------------------------------------------------------------------------------
// Who asks
// ---------------------------------------------------------------------------------------------

/// Everyone who may knock: the roles, and the credentials that open nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Who {
    Admin,
    Moderator,
    Rapporteur,
    Participant,
    /// A participant of a roster-mode session who has not claimed a voting code.
    Unclaimed,
    /// A participant holding a roster entry (claimed with its personal voting code).
    Claimed,
    Screen,
    /// No credential at all.
    Nobody,
    WrongKey,
    /// The moderator key of another session.
    OtherSession,
    /// The moderator key the admin has since replaced.
    Revoked,
}

use Who::*;

impl Who {
    const ALL: [Who; 11] = [
        Admin,
        Moderator,
        Rapporteur,
        Participant,
        Unclaimed,
        Claimed,
        Screen,
        Nobody,
        WrongKey,
        OtherSession,
        Revoked,
    ];

    fn name(self) -> &'static str {
        match self {
            Admin => "admin",
            Moderator => "moderator",
            Rapporteur => "rapporteur",
            Participant => "participant",
            Unclaimed => "unclaimed",
            Claimed => "claimed",
            Screen => "screen",
            Nobody => "nobody",
            WrongKey => "wrong_key",
            OtherSession => "other_session",
            Revoked => "revoked",
        }
    }

    /// Its own loopback address for HTTP, so that limits per address (on wrong keys, say) that
    /// one of them runs into do not turn away the others.
    fn source(self) -> IpAddr {
        let i = Who::ALL.iter().position(|w| *w == self).unwrap_or(0) as u8;
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2 + i))
    }
}

/// The roles that hold a socket in the session.
const IN_ROOM: [Who; 6] = [Moderator, Rapporteur, Participant, Unclaimed, Claimed, Screen];
/// Credentials with which `hello` must be refused (unauthorized, then close 1008).
const BAD_HELLOS: [Who; 4] = [Admin, WrongKey, OtherSession, Revoked];

// ---------------------------------------------------------------------------------------------
// The live ops
// ---------------------------------------------------------------------------------------------

const MODERATOR: &[Who] = &[Moderator];
const RAPPORTEUR: &[Who] = &[Rapporteur];
const TEXTS: &[Who] = &[Rapporteur, Moderator];
const PARTICIPANTS: &[Who] = &[Participant, Unclaimed, Claimed];
const VOTER: &[Who] = &[Claimed];

/// One op: who may send it, and sample fields that make it succeed at its turn. The rows run
/// in this order on one session, each leaving the state the next needs (the session ends and
/// its record is finalised last).
struct Op {
    op: &'static str,
    may: &'static [Who],
    /// JSON. A string `"$name"` becomes the value the test keeps under `name@<role>`, else
    /// `name`; `$who` in a string becomes the sender's role.
    fields: &'static str,
    /// A field of the ack's result kept (under `name` and `name@<role>`) for later rows.
    keeps: Option<&'static str>,
    /// Allowed roles that the state answers with this refusal instead of an ack.
    except: &'static [(Who, &'static str)],
}

const fn op(op: &'static str, may: &'static [Who], fields: &'static str) -> Op {
    Op { op, may, fields, keeps: None, except: &[] }
}

impl Op {
    const fn keeps(self, field: &'static str) -> Op {
        Op { keeps: Some(field), ..self }
    }

    const fn except(self, except: &'static [(Who, &'static str)]) -> Op {
        Op { except, ..self }
    }

    /// What `who` must be answered: `ack`, or an error code.
    fn expected(&self, who: Who) -> &'static str {
        if !self.may.contains(&who) {
            return "forbidden";
        }
        self.except.iter().find(|(w, _)| *w == who).map_or("ack", |(_, code)| code)
    }
}

/// Every op of the contract. The session starts at agenda item 5 (just before the debate,
/// questions closed) with seeded questions (`qup` approved; `qa`, `qb`, `qc` pending), three
/// requests to speak (`fa`, `fb`, `fc`) and a poll open on d2 (`cancel_poll`).
static OP_ROWS: &[Op] = &[
    op("agenda.update", MODERATOR, r#"{"item": 0, "title": "Opening (as held)"}"#),
    op("agenda.insert", MODERATOR, r#"{"at": 8, "item": {"title": "Closing words", "kind": "other", "minutes": 5}}"#),
    op("agenda.move", MODERATOR, r#"{"item": 8, "to": 7}"#),
    op("agenda.remove", MODERATOR, r#"{"item": 7}"#),
    op("agenda.next", MODERATOR, "{}"),
    op("agenda.prev", MODERATOR, "{}"),
    op("agenda.goto", MODERATOR, r#"{"item": 6}"#),
    op("qa.close", MODERATOR, "{}"),
    op("qa.open", MODERATOR, "{}"),
    op("question.ask", PARTICIPANTS, r#"{"text": "What does the $who make of the budget?"}"#),
    op("question.upvote", PARTICIPANTS, r#"{"question": "$qup"}"#),
    op("question.unvote", PARTICIPANTS, r#"{"question": "$qup"}"#),
    op("question.approve", MODERATOR, r#"{"question": "$qa"}"#),
    op("question.reject", MODERATOR, r#"{"question": "$qb"}"#),
    op("question.answer", MODERATOR, r#"{"question": "$qa"}"#),
    op("question.highlight", MODERATOR, r#"{"question": "$qup"}"#),
    op("question.merge", MODERATOR, r#"{"question": "$qc", "into": "$qup"}"#),
    op("floor.request", PARTICIPANTS, r#"{"name": "The $who", "organisation": "AMM"}"#),
    op("floor.withdraw", PARTICIPANTS, "{}"),
    op("floor.grant", MODERATOR, r#"{"request": "$fa"}"#),
    op("floor.move", MODERATOR, r#"{"request": "$fc", "position": 0}"#),
    op("floor.skip", MODERATOR, r#"{"request": "$fb"}"#),
    op("floor.end", MODERATOR, "{}"),
    op("poll.open", MODERATOR, r#"{"draft": "d1"}"#).keeps("poll"),
    op("vote.cast", VOTER, r#"{"poll": "$poll", "choice": "for"}"#),
    op("poll.close", MODERATOR, r#"{"poll": "$poll"}"#),
    op("poll.cancel", MODERATOR, r#"{"poll": "$cancel_poll"}"#),
    op("draft.adopt_by_consensus", MODERATOR, r#"{"draft": "d3"}"#),
    op("draft.edit", TEXTS, r#"{"draft": "d4", "text": "As amended by the $who.", "lang": "en"}"#),
    op("draft.create", TEXTS, r#"{"kind": "recommendation", "title": "From the $who", "text": "Text."}"#)
        .keeps("draft"),
    op("draft.withdraw", TEXTS, r#"{"draft": "$draft"}"#),
    op("record.note", RAPPORTEUR, r#"{"text": "The room agreed."}"#).keeps("note"),
    op("record.note_delete", RAPPORTEUR, r#"{"note": "$note"}"#),
    // The claimed voter already holds its entry: claiming it again changes nothing.
    op("voter.claim", PARTICIPANTS, r#"{"code": "$code"}"#).except(&[(Claimed, "conflict")]),
    op("session.end", MODERATOR, "{}"),
    op("record.finalise", RAPPORTEUR, "{}"),
];

/// Values the rows name (`$name`), per role where they differ.
#[derive(Default)]
struct Kept(HashMap<String, String>);

impl Kept {
    fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.insert(name.to_owned(), value.into());
    }

    fn get(&self, name: &str, who: Who) -> Option<&String> {
        self.0.get(&format!("{name}@{}", who.name())).or_else(|| self.0.get(name))
    }

    /// `fields` with its names filled in for `who`; a name not (yet) kept stays as written
    /// when `strict` is false, and fails the test when it is true.
    fn fields(&self, fields: &str, who: Who, strict: bool) -> Value {
        let mut v: Value = serde_json::from_str(fields).unwrap_or_else(|e| panic!("row fields {fields}: {e}"));
        self.fill(&mut v, who, strict);
        v
    }

    fn fill(&self, v: &mut Value, who: Who, strict: bool) {
        match v {
            Value::String(s) => {
                *s = s.replace("$who", who.name());
                if let Some(name) = s.strip_prefix('$') {
                    match self.get(name, who) {
                        Some(value) => *s = value.clone(),
                        None => assert!(!strict, "no value kept for ${name} (for the {})", who.name()),
                    }
                }
            }
            Value::Object(m) => m.values_mut().for_each(|x| self.fill(x, who, strict)),
            Value::Array(a) => a.iter_mut().for_each(|x| self.fill(x, who, strict)),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP routes
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Anyone,
    /// The admin token.
    Admin,
    /// The session's moderator key (or the admin token, which counts as the moderator's).
    Moderator,
    /// A key of the session: moderator or rapporteur (or the admin token).
    Keys,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Body {
    Empty,
    Definition,
    Roster,
    /// The headers of a WebSocket upgrade.
    Upgrade,
}

/// One route: who may call it, and the status a sample request gets when allowed.
struct Route {
    method: &'static str,
    /// As the router spells it; `{id}`, `{code}`, `{poll}` and `{*path}` are filled in.
    path: &'static str,
    access: Access,
    body: Body,
    ok: u16,
    /// Allowed callers act on a session of their own (the call would end the shared one).
    scratch: bool,
}

const fn route(method: &'static str, path: &'static str, access: Access, ok: u16) -> Route {
    Route { method, path, access, body: Body::Empty, ok, scratch: false }
}

impl Route {
    const fn body(self, body: Body) -> Route {
        Route { body, ..self }
    }

    const fn scratch(self) -> Route {
        Route { scratch: true, ..self }
    }

    fn key(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// The status `who` must get.
    fn expected(&self, who: Who) -> u16 {
        let allowed = match self.access {
            Access::Anyone => true,
            Access::Admin => who == Admin,
            Access::Moderator => matches!(who, Admin | Moderator),
            Access::Keys => matches!(who, Admin | Moderator | Rapporteur),
        };
        match (allowed, who) {
            (true, _) => self.ok,
            // A key of the session, but not the role the route is for.
            (false, Rapporteur) if self.access == Access::Moderator => 403,
            // Everything else is no credential, or one that does not open the route.
            (false, _) => 401,
        }
    }
}

/// Every route of the router.
static ROUTES: &[Route] = &[
    route("POST", "/api/sessions", Access::Admin, 201).body(Body::Definition),
    route("GET", "/api/sessions", Access::Admin, 200),
    route("GET", "/api/sessions/{id}", Access::Keys, 200),
    route("DELETE", "/api/sessions/{id}", Access::Admin, 204).scratch(),
    route("POST", "/api/sessions/{id}/keys", Access::Admin, 200).scratch(),
    route("GET", "/api/sessions/{id}/events.jsonl", Access::Keys, 200),
    route("GET", "/api/sessions/{id}/record.json", Access::Keys, 200),
    route("GET", "/api/sessions/{id}/record.md", Access::Keys, 200),
    route("GET", "/api/sessions/{id}/record.html", Access::Keys, 200),
    route("GET", "/api/sessions/{id}/results.csv", Access::Keys, 200),
    route("PUT", "/api/sessions/{id}/roster", Access::Moderator, 200).body(Body::Roster),
    route("GET", "/api/sessions/{id}/roster/cards.html", Access::Moderator, 200),
    route("GET", "/api/sessions/{id}/definition", Access::Moderator, 200),
    route("POST", "/api/definitions/check", Access::Anyone, 200).body(Body::Definition),
    route("POST", "/api/roster/check", Access::Anyone, 200).body(Body::Roster),
    route("GET", "/j/{code}/polls/{poll}/receipts.json", Access::Anyone, 200),
    route("GET", "/healthz", Access::Anyone, 200),
    route("GET", "/metrics", Access::Anyone, 200),
    route("GET", "/ws", Access::Anyone, 101).body(Body::Upgrade),
    route("GET", "/", Access::Anyone, 200),
    route("GET", "/j/{code}", Access::Anyone, 200),
    route("GET", "/j/{code}/qr.svg", Access::Anyone, 200),
    route("GET", "/screen/{code}", Access::Anyone, 200),
    route("GET", "/m/{id}", Access::Anyone, 200),
    route("GET", "/r/{id}", Access::Anyone, 200),
    route("GET", "/new", Access::Anyone, 200),
    route("GET", "/assets/{*path}", Access::Anyone, 200),
    route("GET", "/examples/sou94.json", Access::Anyone, 200),
];

/// The files that route, read as the compiler reads them.
const ROUTING_SOURCES: [(&str, &str); 3] = [
    ("src/http/mod.rs", include_str!("../../src/http/mod.rs")),
    ("src/http/pages.rs", include_str!("../../src/http/pages.rs")),
    ("src/app.rs", include_str!("../../src/app.rs")),
];

/// `METHOD path` of every `.route("path", …)` in `source`.
fn routes_in(source: &str) -> Vec<String> {
    const OPEN: &str = ".route(\"";
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(OPEN) {
        rest = &rest[at + OPEN.len()..];
        let end = rest.find('"').expect("the route's path ends");
        let path = &rest[..end];
        let call = call_arguments(&rest[end + 1..]);
        let methods = methods_in(call);
        assert!(!methods.is_empty(), "cannot read the methods of route {path}: {call}");
        found.extend(methods.into_iter().map(|m| format!("{m} {path}")));
        rest = &rest[end + 1..];
    }
    found
}

/// The text up to the parenthesis that closes the call `s` is inside of (strings skipped).
fn call_arguments(s: &str) -> &str {
    let (mut depth, mut in_string, mut escaped) = (1usize, false, false);
    for (i, c) in s.char_indices() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') => in_string = false,
            (true, _) => {}
            (false, '"') => in_string = true,
            (false, '(') => depth += 1,
            (false, ')') => {
                depth -= 1;
                if depth == 0 {
                    return &s[..i];
                }
            }
            _ => {}
        }
    }
    panic!("a .route( call that never closes")
}

/// The HTTP methods a method router names: `get(…)`, `.post(…)`, `routing::put(…)`, …
fn methods_in(call: &str) -> Vec<String> {
    let mut methods = Vec::new();
    for m in ["get", "post", "put", "delete", "patch", "head", "options", "trace", "any"] {
        let needle = format!("{m}(");
        let mut from = 0;
        while let Some(at) = call[from..].find(&needle) {
            let at = from + at;
            let before = call[..at].chars().next_back();
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
                methods.push(m.to_ascii_uppercase());
            }
            from = at + needle.len();
        }
    }
    methods
}

#[test]
fn every_op_and_every_route_has_a_row_in_the_access_tables() {
    let ops: BTreeSet<&str> = palabre::protocol::OPS.iter().copied().collect();
    let rows: BTreeSet<&str> = OP_ROWS.iter().map(|r| r.op).collect();
    assert_eq!(rows.len(), OP_ROWS.len(), "one row per op");
    let missing: Vec<_> = ops.difference(&rows).collect();
    assert!(missing.is_empty(), "ops without a row in OP_ROWS (who may send them?): {missing:?}");
    let stale: Vec<_> = rows.difference(&ops).collect();
    assert!(stale.is_empty(), "rows for ops the protocol does not know: {stale:?}");

    let mut routed = BTreeSet::new();
    for (file, source) in ROUTING_SOURCES {
        for r in routes_in(source) {
            assert!(routed.insert(r.clone()), "{r} is routed twice ({file})");
        }
    }
    assert!(routed.contains("GET /ws") && routed.contains("POST /api/sessions"), "the reader finds routes: {routed:?}");
    let table: BTreeSet<String> = ROUTES.iter().map(Route::key).collect();
    assert_eq!(table.len(), ROUTES.len(), "one row per route");
    let missing: Vec<_> = routed.difference(&table).collect();
    assert!(missing.is_empty(), "routes without a row in ROUTES (who may call them?): {missing:?}");
    let stale: Vec<_> = table.difference(&routed).collect();
    assert!(stale.is_empty(), "rows for routes the router does not have: {stale:?}");

    // A route added in another file would escape the reader: routing stays in these files.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pending = vec![root.join("src")];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable") {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            let relative = path.strip_prefix(root).expect("under the crate").to_string_lossy().replace('\\', "/");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if text.contains(".route(\"") || text.contains(".nest(\"") || text.contains(".route_service(") {
                assert!(
                    ROUTING_SOURCES.iter().any(|(file, _)| *file == relative),
                    "{relative} routes: add it to ROUTING_SOURCES and its routes to ROUTES"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The sessions the matrix runs on
// ---------------------------------------------------------------------------------------------

fn roster_definition() -> Value {
    let mut d = sou94();
    d["settings"]["voting"] = json!("roster");
    d
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} is a string: {v}")).to_owned()
}

async fn create(app: &TestApp, definition: &Value) -> Value {
    let res = app.http.post(app.url("/api/sessions")).bearer_auth(ADMIN).json(definition).send().await.expect("post");
    assert_eq!(res.status(), 201, "the admin creates a session");
    res.json().await.expect("json")
}

async fn put_roster(app: &TestApp, id: &str, key: &str) -> Vec<Value> {
    let res = app
        .http
        .put(app.url(&format!("/api/sessions/{id}/roster")))
        .bearer_auth(key)
        .header("content-type", "text/csv")
        .body(ROSTER)
        .send()
        .await
        .expect("put");
    assert_eq!(res.status(), 200, "the moderator puts the roster");
    let body: Value = res.json().await.expect("json");
    body["entries"].as_array().unwrap_or_else(|| panic!("entries: {body}")).clone()
}

async fn state_of(app: &TestApp, id: &str, key: &str) -> Value {
    let res = app.http.get(app.url(&format!("/api/sessions/{id}"))).bearer_auth(key).send().await.expect("get");
    assert_eq!(res.status(), 200, "the state for a key of the session");
    res.json().await.expect("json")
}

async fn events_of(app: &TestApp, id: &str, key: &str) -> String {
    let res =
        app.http.get(app.url(&format!("/api/sessions/{id}/events.jsonl"))).bearer_auth(key).send().await.expect("get");
    assert_eq!(res.status(), 200);
    res.text().await.expect("text")
}

/// A session in roster mode whose keys the admin has replaced (`revoked` holds the old
/// moderator key), with its roster put and one entry claimed; and another session, `other`.
struct World {
    id: String,
    code: String,
    moderator_key: String,
    rapporteur_key: String,
    revoked: String,
    other: Value,
    entries: Vec<Value>,
    /// Participant tokens: Participant, Unclaimed, Claimed.
    tokens: HashMap<Who, String>,
}

impl World {
    async fn new(app: &TestApp) -> World {
        let s = create(app, &roster_definition()).await;
        let other = create(app, &roster_definition()).await;
        let (id, code) = (text(&s, "id"), text(&s, "code"));

        // The old keys stop at once: their socket closes with 4401.
        let (mut old_moderator, _) = hello_moderator(app, &s).await;
        let res = app.http.post(app.url(&format!("/api/sessions/{id}/keys"))).bearer_auth(ADMIN).send().await;
        let fresh: Value = res.expect("post").json().await.expect("json");
        assert_eq!(old_moderator.closed().await, Some(4401), "a socket of a revoked key closes with 4401");
        let (moderator_key, rapporteur_key) = (text(&fresh, "moderator_key"), text(&fresh, "rapporteur_key"));

        let entries = put_roster(app, &id, &moderator_key).await;
        let mut tokens = HashMap::new();
        for who in [Participant, Unclaimed, Claimed] {
            let (mut ws, welcome) = hello_participant(app, &json!(code)).await;
            if who == Claimed {
                let claimed = ws.call("voter.claim", json!({"code": entries[0]["code"]})).await;
                assert_eq!(claimed["type"], "ack", "{claimed}");
            }
            tokens.insert(who, text(&welcome, "participant"));
        }
        World { revoked: text(&s, "moderator_key"), id, code, moderator_key, rapporteur_key, other, entries, tokens }
    }

    /// The `hello` with which `who` (a role of the room) opens a socket.
    fn hello(&self, who: Who) -> Value {
        match who {
            Moderator => json!({"type": "hello", "session": self.id, "key": self.moderator_key}),
            Rapporteur => json!({"type": "hello", "session": self.id, "key": self.rapporteur_key}),
            Participant | Unclaimed | Claimed => {
                json!({"type": "hello", "code": self.code, "participant": self.tokens[&who]})
            }
            Screen => json!({"type": "hello", "code": self.code, "role": "screen"}),
            Admin => json!({"type": "hello", "session": self.id, "key": ADMIN}),
            WrongKey => json!({"type": "hello", "session": self.id, "key": "0123456789abcdef0123456789abcdef01234567"}),
            OtherSession => json!({"type": "hello", "session": self.id, "key": self.other["moderator_key"]}),
            Revoked => json!({"type": "hello", "session": self.id, "key": self.revoked}),
            // Claims the moderator's role without its key.
            Nobody => json!({"type": "hello", "session": self.id, "role": "moderator"}),
        }
    }

    /// What `who` puts in `Authorization: Bearer` over HTTP, if anything.
    fn bearer(&self, who: Who) -> Option<String> {
        match who {
            Admin => Some(ADMIN.to_owned()),
            Moderator => Some(self.moderator_key.clone()),
            Rapporteur => Some(self.rapporteur_key.clone()),
            Participant | Unclaimed | Claimed => Some(self.tokens[&who].clone()),
            // A screen holds nothing but the join code.
            Screen => Some(self.code.clone()),
            Nobody => None,
            WrongKey => Some("0123456789abcdef0123456789abcdef01234567".to_owned()),
            OtherSession => Some(text(&self.other, "moderator_key")),
            Revoked => Some(self.revoked.clone()),
        }
    }
}

/// A socket of one role that reconnects (as the same role, the same participant) before it
/// would send faster than a client may.
struct Client {
    hello: Value,
    ws: Ws,
    sent: usize,
}

/// Commands per socket before it is replaced (the server allows bursts of 30 frames).
const FRAMES_PER_SOCKET: usize = 20;

impl Client {
    async fn open(app: &TestApp, hello: Value) -> Client {
        let mut ws = app.ws().await;
        ws.send(hello.clone()).await;
        let welcome = ws.recv().await;
        assert_eq!(welcome["type"], "welcome", "{hello} is welcome: {welcome}");
        Client { hello, ws, sent: 0 }
    }

    async fn call(&mut self, app: &TestApp, op: &str, fields: Value) -> Value {
        if self.sent >= FRAMES_PER_SOCKET {
            *self = Client::open(app, self.hello.clone()).await;
        }
        self.sent += 1;
        self.ws.call(op, fields).await
    }

    async fn ok(&mut self, app: &TestApp, op: &str, fields: Value) -> Value {
        let reply = self.call(app, op, fields.clone()).await;
        assert_eq!(reply["type"], "ack", "{op} {fields}: {reply}");
        reply["result"].clone()
    }
}

/// The answer as the matrix names it: `ack`, or the error's code.
fn answer(reply: &Value) -> String {
    match reply["type"].as_str() {
        Some("ack") => "ack".to_owned(),
        Some("error") => reply["code"].as_str().unwrap_or("error without a code").to_owned(),
        _ => format!("{reply}"),
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

async fn every_route_answers_every_role_as_the_contract_says(backend: Backend) {
    let app = TestApp::spawn_with(backend, admin_config(ADMIN)).await;
    let world = World::new(&app).await;
    // A closed poll, for the receipts.
    let mut moderator = Client::open(&app, world.hello(Moderator)).await;
    let poll = text(&moderator.ok(&app, "poll.open", json!({"draft": "d5"})).await, "poll");
    let mut voter = Client::open(&app, world.hello(Claimed)).await;
    voter.ok(&app, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    moderator.ok(&app, "poll.close", json!({"poll": poll})).await;

    let clients: HashMap<Who, reqwest::Client> = Who::ALL
        .iter()
        .map(|w| (*w, reqwest::Client::builder().local_address(w.source()).build().expect("a client")))
        .collect();
    let mut wrong = Vec::new();
    for row in ROUTES {
        for who in Who::ALL {
            let expected = row.expected(who);
            let allowed = expected == row.ok;
            // An allowed call that would end the shared session acts on a session of its own.
            let scratch = if row.scratch && allowed { Some(create(&app, &sou94()).await) } else { None };
            let id = scratch.as_ref().map_or(world.id.clone(), |s| text(s, "id"));
            let path = row
                .path
                .replace("{id}", &id)
                .replace("{code}", &world.code)
                .replace("{poll}", &poll)
                .replace("{*path}", "style.css");
            let method = reqwest::Method::from_bytes(row.method.as_bytes()).expect("a method");
            let mut req = clients[&who].request(method, app.url(&path));
            if let Some(token) = world.bearer(who) {
                req = req.bearer_auth(token);
            }
            req = match row.body {
                Body::Empty => req,
                Body::Definition => req.json(&sou94()),
                Body::Roster => req.header("content-type", "text/csv").body(ROSTER),
                Body::Upgrade => req
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .header("sec-websocket-version", "13")
                    .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
            };
            let res = req.send().await.expect("the request is answered");
            let status = res.status().as_u16();
            let body = if status == 101 { String::new() } else { res.text().await.unwrap_or_default() };
            let mut problem = (status != expected).then(|| format!("status {status}, expected {expected}"));
            if problem.is_none() && matches!(status, 401 | 403) {
                // Refusals are JSON with the code that goes with the status.
                let code = if status == 401 { "unauthorized" } else { "forbidden" };
                let err: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                if err["error"]["code"] != code || err["error"]["message"].as_str().is_none_or(str::is_empty) {
                    problem = Some(format!("a {status} without {{\"error\": {{\"code\": \"{code}\", \"message\"}}}}"));
                }
            }
            if let Some(p) = problem {
                wrong.push(format!("{} {} as {}: {p}: {}", row.method, row.path, who.name(), truncate(&body)));
            }
            if let Some(s) = scratch {
                after_scratch(&app, row, &s).await;
            }
        }
    }
    assert!(wrong.is_empty(), "answers that differ from the contract:\n{}", wrong.join("\n"));

    // Nothing refused touched the shared session: it is there, with the same keys.
    for key in [&world.moderator_key, &world.rapporteur_key] {
        state_of(&app, &world.id, key).await;
    }
}

/// After an allowed call on a scratch session: a deleted session is gone, replaced keys are dead.
async fn after_scratch(app: &TestApp, row: &Route, s: &Value) {
    let res = app
        .http
        .get(app.url(&format!("/api/sessions/{}", text(s, "id"))))
        .bearer_auth(text(s, "moderator_key"))
        .send()
        .await
        .expect("get");
    let expected = if row.method == "DELETE" { 404 } else { 401 };
    assert_eq!(res.status(), expected, "after {} {} the session's old key opens nothing", row.method, row.path);
}

fn truncate(s: &str) -> String {
    s.chars().take(160).collect()
}

// ---------------------------------------------------------------------------------------------
// WebSocket
// ---------------------------------------------------------------------------------------------

async fn every_op_answers_every_role_as_the_contract_says(backend: Backend) {
    let app = TestApp::spawn_with(backend, admin_config(ADMIN)).await;
    let world = World::new(&app).await;
    let mut kept = Kept::default();
    let mut clients = HashMap::new();
    for who in IN_ROOM {
        clients.insert(who, Client::open(&app, world.hello(who)).await);
    }
    let _seeds = seed(&app, &world, &mut clients, &mut kept).await;
    let seq = state_of(&app, &world.id, &world.moderator_key).await["seq"].clone();

    // Bad credentials (and the moderator's role claimed without its key): `hello` is refused
    // and the socket closed, whatever commands follow it.
    for who in BAD_HELLOS.into_iter().chain([Nobody]) {
        let mut ws = app.ws().await;
        ws.send(world.hello(who)).await;
        for row in OP_ROWS {
            ws.cmd(row.op, kept.fields(row.fields, Moderator, false)).await;
        }
        let refusal = ws.recv().await;
        assert_eq!(
            (refusal["type"].as_str(), refusal["code"].as_str()),
            (Some("error"), Some("unauthorized")),
            "hello as {}: {refusal}",
            who.name()
        );
        assert_eq!(ws.closed().await, Some(1008), "hello as {} is closed with 1008", who.name());
    }
    // No credential at all: nothing before `hello`.
    for chunk in OP_ROWS.chunks(FRAMES_PER_SOCKET) {
        let mut ws = app.ws().await;
        for row in chunk {
            let id = ws.cmd(row.op, kept.fields(row.fields, Participant, false)).await;
            let reply = ws.reply_to(&id).await;
            assert_eq!(answer(&reply), "invalid", "{} before hello: {reply}", row.op);
        }
    }
    let mut empty = app.ws().await;
    empty.send(json!({"type": "hello"})).await;
    assert_eq!(answer(&empty.recv().await), "invalid", "a hello without code or session");
    assert_eq!(empty.closed().await, Some(1008));
    let after = state_of(&app, &world.id, &world.moderator_key).await;
    assert_eq!(after["seq"], seq, "no command from a refused socket was applied");

    // Every role, every op, in the table's order.
    let mut wrong = Vec::new();
    for row in OP_ROWS {
        let denied = IN_ROOM.iter().filter(|w| !row.may.contains(w));
        for who in denied.chain(row.may.iter()) {
            let fields = kept.fields(row.fields, *who, true);
            let client = clients.get_mut(who).expect("a socket per role");
            let reply = client.call(&app, row.op, fields.clone()).await;
            let (got, expected) = (answer(&reply), row.expected(*who));
            if got != expected {
                wrong.push(format!("{} {fields} as {}: {reply}, expected {expected}", row.op, who.name()));
            }
            if let (Some(field), "ack") = (row.keeps, got.as_str()) {
                let value = text(&reply["result"], field);
                kept.set(&format!("{field}@{}", who.name()), value.clone());
                kept.set(field, value);
            }
        }
    }
    assert!(wrong.is_empty(), "answers that differ from the contract:\n{}", wrong.join("\n"));
    let end = state_of(&app, &world.id, &world.moderator_key).await;
    assert_eq!(end["phase"], "ended", "the rows ran to the end of the session");
}

/// The state the rows start from (see [`OP_ROWS`]); returns the sockets of the participants who
/// seeded it, for the caller to keep open.
async fn seed(app: &TestApp, world: &World, clients: &mut HashMap<Who, Client>, kept: &mut Kept) -> Vec<Ws> {
    let moderator = clients.get_mut(&Moderator).expect("moderator");
    moderator.ok(app, "agenda.goto", json!({"item": 6})).await;
    let mut seeds = Vec::new();
    for _ in 0..3 {
        seeds.push(hello_participant(app, &json!(world.code)).await.0);
    }
    let asks = [("qup", 0, "Who pays for the roads?"), ("qa", 0, "When is the next summit?"), ("qb", 0, "Why now?")];
    for (name, seed, question) in asks.into_iter().chain([("qc", 1, "Who pays for the roads, again?")]) {
        let result = seeds[seed].ok("question.ask", json!({"text": question})).await;
        kept.set(name, text(&result["question"], "id"));
    }
    for (name, seed) in [("fa", 0), ("fb", 1), ("fc", 2)] {
        let result = seeds[seed].ok("floor.request", json!({"name": format!("Seed {name}")})).await;
        kept.set(name, text(&result, "request"));
    }
    let moderator = clients.get_mut(&Moderator).expect("moderator");
    moderator.ok(app, "question.approve", json!({"question": kept.get("qup", Moderator).expect("qup")})).await;
    let cancel = moderator.ok(app, "poll.open", json!({"draft": "d2"})).await;
    kept.set("cancel_poll", text(&cancel, "poll"));
    moderator.ok(app, "agenda.goto", json!({"item": 5})).await;
    for (who, entry) in [(Claimed, 0), (Participant, 1), (Unclaimed, 2), (Moderator, 3)] {
        kept.set(&format!("code@{}", who.name()), text(&world.entries[entry], "code"));
    }
    kept.set("code", text(&world.entries[3], "code"));
    seeds
}

// ---------------------------------------------------------------------------------------------
// One session cannot reach another
// ---------------------------------------------------------------------------------------------

/// An op sent in session A naming what exists only in session B.
struct Cross {
    who: Who,
    op: &'static str,
    fields: &'static str,
    code: &'static str,
}

const fn cross(who: Who, op: &'static str, fields: &'static str) -> Cross {
    Cross { who, op, fields, code: "not_found" }
}

/// `$b_…`: B's ids (see [`a_participant_of_one_session_can_do_nothing_in_another_even_naming_its_ids`]).
static CROSS: &[Cross] = &[
    cross(Claimed, "vote.cast", r#"{"poll": "$b_poll", "choice": "against"}"#),
    cross(Participant, "vote.cast", r#"{"poll": "$b_poll", "choice": "against"}"#),
    cross(Participant, "question.upvote", r#"{"question": "$b_approved"}"#),
    cross(Participant, "question.unvote", r#"{"question": "$b_upvoted"}"#),
    cross(Participant, "floor.withdraw", r#"{"request": "$b_queued"}"#),
    cross(Participant, "voter.claim", r#"{"code": "$b_code"}"#),
    cross(Moderator, "question.approve", r#"{"question": "$b_pending"}"#),
    cross(Moderator, "question.reject", r#"{"question": "$b_approved"}"#),
    cross(Moderator, "question.answer", r#"{"question": "$b_approved"}"#),
    cross(Moderator, "question.highlight", r#"{"question": "$b_approved"}"#),
    cross(Moderator, "question.merge", r#"{"question": "$b_pending", "into": "$b_approved"}"#),
    cross(Moderator, "floor.grant", r#"{"request": "$b_queued"}"#),
    cross(Moderator, "floor.skip", r#"{"request": "$b_queued"}"#),
    cross(Moderator, "floor.move", r#"{"request": "$b_queued", "position": 0}"#),
    // Nobody has the floor in A: that, not B's turn, is the answer.
    Cross { who: Moderator, op: "floor.end", fields: r#"{"request": "$b_speaking"}"#, code: "conflict" },
    cross(Moderator, "poll.close", r#"{"poll": "$b_poll"}"#),
    cross(Moderator, "poll.cancel", r#"{"poll": "$b_poll"}"#),
    cross(Moderator, "poll.open", r#"{"draft": "$b_draft"}"#),
    cross(Moderator, "draft.adopt_by_consensus", r#"{"draft": "$b_draft"}"#),
    cross(Moderator, "draft.edit", r#"{"draft": "$b_draft", "text": "Hijacked.", "lang": "en"}"#),
    cross(Rapporteur, "draft.withdraw", r#"{"draft": "$b_draft"}"#),
    cross(Moderator, "agenda.update", r#"{"item": "$b_item", "title": "Hijacked"}"#),
    cross(Moderator, "agenda.move", r#"{"item": "$b_item", "to": 0}"#),
    cross(Moderator, "agenda.remove", r#"{"item": "$b_item"}"#),
    cross(Rapporteur, "record.note", r#"{"note": "$b_note", "text": "Hijacked."}"#),
    cross(Rapporteur, "record.note_delete", r#"{"note": "$b_note"}"#),
];

async fn a_participant_of_one_session_can_do_nothing_in_another_even_naming_its_ids(backend: Backend) {
    let app = TestApp::spawn_with(backend, admin_config(ADMIN)).await;
    // Session A: its roles, a claimed voter, and the debate open.
    let world = World::new(&app).await;
    let mut a: HashMap<Who, Client> = HashMap::new();
    for who in [Moderator, Rapporteur, Participant, Claimed] {
        a.insert(who, Client::open(&app, world.hello(who)).await);
    }
    a.get_mut(&Moderator).expect("moderator").ok(&app, "agenda.goto", json!({"item": 6})).await;
    let a_poll = a.get_mut(&Moderator).expect("moderator").ok(&app, "poll.open", json!({"draft": "d2"})).await;

    // Session B, with something of every kind: questions (pending, approved and upvoted), a
    // turn and a request in the list of speakers, an open poll with a ballot, a draft, an
    // inserted agenda item and a note; and a voting code nobody claimed.
    let b = create(&app, &roster_definition()).await;
    let (b_id, b_key) = (text(&b, "id"), text(&b, "moderator_key"));
    let b_entries = put_roster(&app, &b_id, &b_key).await;
    let (mut bm, _) = hello_moderator(&app, &b).await;
    let (mut br, _) = hello_rapporteur(&app, &b).await;
    let (mut bp, _) = hello_participant(&app, &b["code"]).await;
    let (mut bq, _) = hello_participant(&app, &b["code"]).await;
    let mut kept = Kept::default();
    bm.ok("agenda.goto", json!({"item": 6})).await;
    let pending = bp.ok("question.ask", json!({"text": "Is B's budget public?"})).await;
    let approved = bp.ok("question.ask", json!({"text": "Who chairs B?"})).await;
    let (pending, approved) = (text(&pending["question"], "id"), text(&approved["question"], "id"));
    bm.ok("question.approve", json!({"question": approved})).await;
    bq.ok("question.upvote", json!({"question": approved})).await;
    let speaking = text(&bp.ok("floor.request", json!({"name": "B one"})).await, "request");
    let queued = text(&bq.ok("floor.request", json!({"name": "B two"})).await, "request");
    bm.ok("floor.grant", json!({"request": speaking})).await;
    bp.ok("voter.claim", json!({"code": b_entries[0]["code"]})).await;
    let b_poll = text(&bm.ok("poll.open", json!({"draft": "d1"})).await, "poll");
    bp.ok("vote.cast", json!({"poll": b_poll, "choice": "for"})).await;
    let draft =
        text(&br.ok("draft.create", json!({"kind": "resolution", "title": "B's own", "text": "B."})).await, "draft");
    let note = text(&br.ok("record.note", json!({"text": "B's note"})).await, "note");
    let item = json!({"title": "B's extra item", "kind": "other", "minutes": 5});
    bm.ok("agenda.insert", json!({"at": 8, "item": item})).await;
    let b_state = state_of(&app, &b_id, &b_key).await;
    let items = b_state["agenda"]["items"].as_array().expect("items");
    let inserted = items.iter().find(|i| i["title"] == "B's extra item").expect("the inserted item");
    for (name, value) in [
        ("b_pending", pending),
        ("b_approved", approved.clone()),
        ("b_upvoted", approved),
        ("b_speaking", speaking),
        ("b_queued", queued),
        ("b_poll", b_poll.clone()),
        ("b_draft", draft),
        ("b_note", note),
        ("b_item", text(inserted, "id")),
        ("b_code", text(&b_entries[1], "code")),
    ] {
        kept.set(name, value);
    }
    let b_events = events_of(&app, &b_id, &b_key).await;
    let a_seq = state_of(&app, &world.id, &world.moderator_key).await["seq"].clone();

    let mut wrong = Vec::new();
    for row in CROSS {
        let fields = kept.fields(row.fields, row.who, true);
        let reply = a.get_mut(&row.who).expect("a socket in A").call(&app, row.op, fields.clone()).await;
        if answer(&reply) != row.code {
            wrong.push(format!("{} {fields} in A as {}: {reply}, expected {}", row.op, row.who.name(), row.code));
        }
    }
    // Nor over HTTP: A's join code does not open B's receipts.
    let receipts = app.url(&format!("/j/{}/polls/{b_poll}/receipts.json", world.code));
    let res = app.http.get(receipts).send().await.expect("get");
    if res.status() != 404 {
        wrong.push(format!("B's receipts under A's code: {}", res.status()));
    }
    assert!(wrong.is_empty(), "A reached into B:\n{}", wrong.join("\n"));

    assert_eq!(state_of(&app, &b_id, &b_key).await, b_state, "B's state is unchanged");
    assert_eq!(events_of(&app, &b_id, &b_key).await, b_events, "B's events are unchanged");
    assert_eq!(state_of(&app, &world.id, &world.moderator_key).await["seq"], a_seq, "nothing happened in A either");
    // A's own poll is still A's to run.
    let a_poll = text(&a_poll, "poll");
    a.get_mut(&Claimed).expect("voter").ok(&app, "vote.cast", json!({"poll": a_poll, "choice": "for"})).await;
}
