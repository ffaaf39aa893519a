//! The HTTP routes of the contract, including their refusals.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores!(
    creating_a_session_returns_its_code_keys_and_four_links,
    a_bad_definition_is_refused_with_what_to_fix,
    a_body_over_one_mebibyte_is_refused_as_too_large,
    the_state_is_shown_to_a_key_of_the_session_only,
    deleting_a_session_removes_it,
    health_checks_the_store,
);

async fn creating_a_session_returns_its_code_keys_and_four_links(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let code = created["code"].as_str().expect("code");
    assert_eq!(code.len(), 6);
    assert!(code.chars().all(|c| "ABCDEFGHJKMNPQRSTUVWXYZ23456789".contains(c)), "{code}");
    for key in ["moderator_key", "rapporteur_key"] {
        assert!(created[key].as_str().expect("key").len() >= 32, "{key} has at least 128 bits");
    }
    assert_ne!(created["moderator_key"], created["rapporteur_key"]);
    let id = created["id"].as_str().expect("id");
    let links = &created["links"];
    assert_eq!(links["participant"], app.url(&format!("/j/{code}")));
    assert_eq!(links["screen"], app.url(&format!("/screen/{code}")));
    assert_eq!(links["moderator"], app.url(&format!("/m/{id}#key={}", created["moderator_key"].as_str().expect("k"))));
    assert!(links["rapporteur"].as_str().expect("link").contains("#key="));
    let qr = app.http.get(links["qr"].as_str().expect("qr")).send().await.expect("qr");
    assert_eq!(qr.status(), 200);
    assert_eq!(qr.headers()["content-type"], "image/svg+xml");
    assert!(qr.text().await.expect("svg").contains("<svg"));
    let list: Value = app.http.get(app.url("/api/sessions")).send().await.expect("list").json().await.expect("json");
    assert!(list["sessions"].as_array().expect("array").iter().any(|s| s["id"] == id));
}

async fn a_bad_definition_is_refused_with_what_to_fix(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let cases = [
        ("not json".to_owned(), "not valid"),
        (json!({"agenda": [{"title": "x"}]}).to_string(), "title is required"),
        (json!({"title": "T", "agenda": []}).to_string(), "at least one item"),
        (json!({"title": "T", "agenda": [{"title": "x", "kind": "party"}]}).to_string(), "agenda[0].kind"),
        (json!({"title": "x".repeat(201), "agenda": [{"title": "x"}]}).to_string(), "longer than 200"),
        (json!({"title": "T", "agenda": [{"title": "x"}], "bogus": 1}).to_string(), "unknown field"),
    ];
    for (body, needle) in cases {
        let res = app
            .http
            .post(app.url("/api/sessions"))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .expect("request");
        assert_eq!(res.status(), 400, "{body}");
        let err: Value = res.json().await.expect("json");
        assert_eq!(err["error"]["code"], "invalid");
        let message = err["error"]["message"].as_str().expect("message");
        assert!(message.contains(needle), "{message:?} should mention {needle:?}");
    }
}

async fn a_body_over_one_mebibyte_is_refused_as_too_large(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let body = json!({"title": "T", "agenda": [{"title": "x"}], "venue": "v".repeat(1024 * 1024)}).to_string();
    let res = app.http.post(app.url("/api/sessions")).body(body).send().await.expect("request");
    assert_eq!(res.status(), 413);
    let err: Value = res.json().await.expect("json");
    assert_eq!(err["error"]["code"], "too_large");
}

async fn the_state_is_shown_to_a_key_of_the_session_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let url = app.url(&format!("/api/sessions/{}", created["id"].as_str().expect("id")));
    for key in ["moderator_key", "rapporteur_key"] {
        let res = app.http.get(&url).bearer_auth(created[key].as_str().expect("key")).send().await.expect("get");
        assert_eq!(res.status(), 200);
        let state: Value = res.json().await.expect("json");
        assert_eq!(state["phase"], "pending");
        assert_eq!(state["participant_url"], created["links"]["participant"]);
        assert_eq!(state["agenda"]["current"], Value::Null);
        assert_eq!(state["agenda"]["items"].as_array().expect("items").len(), 8);
        assert_eq!(state["drafts"].as_array().expect("drafts").len(), 5);
        for field in ["id", "code", "title", "qa_open", "highlighted", "floor", "questions", "polls"] {
            assert!(state.get(field).is_some(), "state has {field}");
        }
    }
    assert_eq!(app.http.get(&url).send().await.expect("get").status(), 401);
    assert_eq!(app.http.get(&url).bearer_auth("wrong").send().await.expect("get").status(), 401);
    let missing = app.url("/api/sessions/nope");
    assert_eq!(app.http.get(&missing).bearer_auth("x").send().await.expect("get").status(), 404);
}

async fn deleting_a_session_removes_it(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    let (mut participant, _) = hello_participant(&app, &created["code"]).await;
    let url = app.url(&format!("/api/sessions/{}", created["id"].as_str().expect("id")));
    assert_eq!(app.http.delete(&url).send().await.expect("delete").status(), 204);
    let farewell = participant.recv().await;
    assert_eq!(farewell["code"], "not_found");
    assert_eq!(participant.closed().await, Some(4404));
    assert_eq!(app.http.delete(&url).send().await.expect("delete").status(), 404);
    let mut late = app.ws().await;
    late.send(json!({"type": "hello", "code": created["code"]})).await;
    assert_eq!(late.recv().await["code"], "not_found");
}

async fn health_checks_the_store(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app.http.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["store"], if backend == Backend::Redis { "redis" } else { "memory" });
}

#[tokio::test]
async fn with_an_admin_token_only_its_bearer_creates_lists_and_deletes() {
    let app = TestApp::spawn_with(Backend::Memory, admin_config("s3cret-admin")).await;
    let post = |token: Option<&str>| {
        let mut req = app.http.post(app.url("/api/sessions")).json(&sou94());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(post(None).await.expect("post").status(), 401);
    assert_eq!(post(Some("guess")).await.expect("post").status(), 401);
    let res = post(Some("s3cret-admin")).await.expect("post");
    assert_eq!(res.status(), 201);
    let created: Value = res.json().await.expect("json");
    assert_eq!(app.http.get(app.url("/api/sessions")).send().await.expect("list").status(), 401);
    let list = app.http.get(app.url("/api/sessions")).bearer_auth("s3cret-admin").send().await.expect("list");
    assert_eq!(list.status(), 200);
    let del = app.url(&format!("/api/sessions/{}", created["id"].as_str().expect("id")));
    assert_eq!(app.http.delete(&del).send().await.expect("delete").status(), 401);
    assert_eq!(app.http.delete(&del).bearer_auth("s3cret-admin").send().await.expect("delete").status(), 204);
}

#[tokio::test]
async fn metrics_count_commands_by_op_and_result() {
    let app = TestApp::spawn(Backend::Memory).await;
    let mut room = room(&app).await;
    assert_eq!(room.moderator.call("agenda.next", json!({})).await["type"], "ack");
    assert_eq!(room.participant.call("agenda.next", json!({})).await["type"], "error");
    let text = app.http.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(text.contains(r#"palabre_commands_total{op="agenda.next",result="applied"}"#), "{text}");
    assert!(text.contains(r#"palabre_commands_total{op="agenda.next",result="refused"}"#), "{text}");
    assert!(text.contains("palabre_connections"), "{text}");
}

#[tokio::test]
async fn pages_are_served_with_a_policy_that_forbids_inline_scripts() {
    let app = TestApp::spawn(Backend::Memory).await;
    for path in ["/", "/j/ABCDEF", "/screen/ABCDEF", "/m/some-id", "/r/some-id", "/new"] {
        let res = app.http.get(app.url(path)).send().await.expect("page");
        assert_eq!(res.status(), 200, "{path}");
        let csp = res.headers()["content-security-policy"].to_str().expect("csp").to_owned();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("style-src 'self'"), "no inline style either: {csp}");
        // Only the projector view may be embedded (an event's site, a streaming overlay).
        let framing = if path.starts_with("/screen/") { "frame-ancestors *" } else { "frame-ancestors 'none'" };
        assert!(csp.contains(framing), "{path}: {csp}");
        assert!(res.text().await.expect("html").contains("<html"), "{path}");
    }
    // Every answer that may be shown as a document, API and errors included, says no sniffing
    // and no referrer (so a key in a fragment never leaves in a Referer either), with the policy.
    for path in ["/", "/healthz", "/api/sessions/nope", "/api/sessions", "/nowhere", "/assets/nope.js"] {
        let res = app.http.get(app.url(path)).send().await.expect("answer");
        assert_eq!(res.headers()["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(res.headers()["referrer-policy"], "no-referrer", "{path}");
        assert!(res.headers().contains_key("content-security-policy"), "{path}");
    }
    // A static script or style is never a document: no sniffing, and nothing more to carry.
    let res = app.http.get(app.url("/assets/client.js")).send().await.expect("asset");
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert!(!res.headers().contains_key("content-security-policy"));
    assert_eq!(app.http.get(app.url("/assets/nope.js")).send().await.expect("asset").status(), 404);
    assert_eq!(app.http.get(app.url("/j/AB/qr.svg")).send().await.expect("qr").status(), 404);
}

/// A client that starts a request and never finishes its headers is cut off (a slow-headers
/// attack cannot hold sockets open), while a normal request still goes through.
#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = palabre::config::Config {
        header_timeout: Some(std::time::Duration::from_millis(300)),
        ..palabre::config::Config::default()
    };
    let app = TestApp::spawn_with(Backend::Memory, config).await;
    let mut slow = tokio::net::TcpStream::connect(app.addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: palabre\r\nX-Slow: 1\r\n").await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), slow.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server closed the connection");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "no answer but a timeout: {text}");
    let ok = app.http.get(app.url("/healthz")).send().await.expect("healthz");
    assert_eq!(ok.status(), 200);
}
