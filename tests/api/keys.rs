//! Key rotation: the admin replaces a session's moderator and rapporteur keys; the old ones stop
//! working at once, on every instance, and their sockets close with 4401; participants stay.

use crate::helpers::*;
use serde_json::{json, Value};

const ADMIN: &str = "rotation-admin-token";

on_both_stores! {
    new_keys_replace_the_old_ones_everywhere_at_once,
}

async fn new_keys_replace_the_old_ones_everywhere_at_once(backend: Backend) {
    let url = (backend == Backend::Redis).then(redis_url);
    let first = TestApp::spawn_on(url.clone(), admin_config(ADMIN)).await;
    // On Redis a second instance serves the same sessions; on memory, the one instance does.
    let second = match &url {
        Some(_) => Some(TestApp::spawn_on(url.clone(), admin_config(ADMIN)).await),
        None => None,
    };
    let other = second.as_ref().unwrap_or(&first);
    let res = first.http.post(first.url("/api/sessions")).bearer_auth(ADMIN).json(&sou94()).send().await.expect("post");
    let created: Value = res.json().await.expect("json");
    let id = created["id"].as_str().expect("id").to_owned();

    let (mut moderator, _) = hello_moderator(&first, &created).await;
    let mut rapporteur = other.ws().await;
    rapporteur.send(json!({"type": "hello", "session": id, "key": created["rapporteur_key"]})).await;
    rapporteur.recv_type("welcome").await;
    let (mut phone, _) = hello_participant(other, &created["code"]).await;

    let rotate = |token: Option<&'static str>| {
        let mut req = first.http.post(first.url(&format!("/api/sessions/{id}/keys")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    assert_eq!(rotate(None).await.expect("post").status(), 401);
    assert_eq!(rotate(Some("guess")).await.expect("post").status(), 401);
    let fresh: Value = rotate(Some(ADMIN)).await.expect("post").json().await.expect("json");
    let new_moderator = fresh["moderator_key"].as_str().expect("key").to_owned();
    assert_ne!(fresh["moderator_key"], created["moderator_key"]);
    assert!(fresh["links"]["moderator"].as_str().is_some_and(|l| l.ends_with(&format!("#key={new_moderator}"))));

    // The sockets opened with the old keys close, on both instances; the phone stays.
    assert_eq!(moderator.closed().await, Some(4401));
    assert_eq!(rapporteur.closed().await, Some(4401));
    assert_eq!(phone.call("question.ask", json!({"text": "Still here?"})).await["code"], "closed", "still connected");

    for app in [&first, other] {
        let get = |key: &Value| {
            app.http.get(app.url(&format!("/api/sessions/{id}"))).bearer_auth(key.as_str().expect("key")).send()
        };
        assert_eq!(get(&created["moderator_key"]).await.expect("get").status(), 401, "the old key is dead");
        assert_eq!(get(&created["rapporteur_key"]).await.expect("get").status(), 401);
        assert_eq!(get(&fresh["moderator_key"]).await.expect("get").status(), 200);
        let mut old = app.ws().await;
        old.send(json!({"type": "hello", "session": id, "key": created["moderator_key"]})).await;
        assert_eq!(old.closed().await, Some(1008), "an old key opens nothing");
        let mut new = app.ws().await;
        new.send(json!({"type": "hello", "session": id, "key": fresh["rapporteur_key"]})).await;
        assert_eq!(new.recv_type("welcome").await["role"], "rapporteur");
    }
    let missing = first.http.post(first.url("/api/sessions/nope/keys")).bearer_auth(ADMIN).send().await.expect("post");
    assert_eq!(missing.status(), 404);
}
