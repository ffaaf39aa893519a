//! Secrets never leak: the real binary, run as an operator would run it with every log line on
//! (`RUST_LOG=trace`), serves a whole session — created with the admin token, keys replaced
//! midway, questions, a list of speakers, a secret roster-mode vote claimed with personal
//! voting codes, every export — and afterwards no secret it handed out or was given (admin
//! token, moderator and rapporteur keys old and new, participant tokens, voting codes, the
//! ballot key) appears in its output, in its metrics, or in any error message it returned.

use crate::helpers::*;
use serde_json::{json, Value};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_stores!(no_secret_reaches_the_log_the_metrics_or_an_error_message);

/// How long the binary may take to start listening.
const STARTUP: Duration = Duration::from_secs(30);

/// `palabre serve` in a process of its own, its stdout and stderr captured line by line.
struct Server {
    child: Option<Child>,
    addr: SocketAddr,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
    http: reqwest::Client,
}

impl Server {
    async fn start(backend: Backend, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_palabre"));
        cmd.args(["serve", "--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "trace")
            .env("NO_COLOR", "1")
            .env_remove("PALABRE_ADDR")
            .env_remove("PALABRE_PUBLIC_URL")
            .env_remove("PALABRE_ALLOWED_ORIGINS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match backend {
            Backend::Memory => cmd.env_remove("REDIS_URL"),
            Backend::Redis => cmd.env("REDIS_URL", redis_url()),
        };
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the palabre binary starts");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut readers = Vec::new();
        let streams: [Box<dyn std::io::Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout is piped")),
            Box::new(child.stderr.take().expect("stderr is piped")),
        ];
        for stream in streams {
            let (output, lines_tx) = (output.clone(), lines_tx.clone());
            readers.push(std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut all = output.lock().unwrap_or_else(|p| p.into_inner());
                    all.push_str(&line);
                    all.push('\n');
                    drop(all);
                    let _ = lines_tx.send(line);
                }
            }));
        }
        drop(lines_tx);
        let addr = tokio::time::timeout(STARTUP, async {
            while let Some(line) = lines.recv().await {
                let line = strip_ansi(&line);
                if let Some(rest) = line.split("palabre listening").nth(1) {
                    let addr = rest.split_whitespace().find_map(|w| w.strip_prefix("addr="));
                    return addr.and_then(|a| a.trim_matches('"').parse::<SocketAddr>().ok());
                }
            }
            None
        })
        .await
        .ok()
        .flatten();
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            let written = output.lock().unwrap_or_else(|p| p.into_inner()).clone();
            panic!("the binary did not say where it listens:\n{written}");
        };
        Server { child: Some(child), addr, output, readers, http: reqwest::Client::new() }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    async fn ws(&self) -> Ws {
        Ws::connect(self.addr, None).await.expect("websocket connects")
    }

    fn output(&self) -> String {
        self.output.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Stops the process as an operator would (SIGTERM), and returns all it wrote.
    async fn stop(mut self) -> String {
        if let Some(mut child) = self.child.take() {
            let pid = child.id().to_string();
            let termed = Command::new("kill").args(["-TERM", &pid]).status().is_ok_and(|s| s.success());
            if !termed {
                // No `kill` to send SIGTERM with: what was written so far is all there is to read.
                let _ = child.kill();
            }
            let waited = tokio::task::spawn_blocking(move || child.wait());
            if !matches!(tokio::time::timeout(PATIENCE, waited).await, Ok(Ok(Ok(_)))) {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                panic!("the server did not stop within {PATIENCE:?} of SIGTERM");
            }
        }
        for r in std::mem::take(&mut self.readers) {
            let _ = r.join();
        }
        self.output()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `s` without terminal colour sequences (`ESC [ … letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every refusal the server sent back, HTTP bodies and WebSocket `error` frames alike.
#[derive(Default)]
struct Refusals(Vec<String>);

impl Refusals {
    /// Sends `req`; keeps the body of a refusal. Returns the status and the body.
    async fn send(&mut self, req: reqwest::RequestBuilder) -> (u16, String) {
        let res = req.send().await.expect("the request is answered");
        let status = res.status().as_u16();
        let body = res.text().await.unwrap_or_default();
        if status >= 400 {
            self.0.push(body.clone());
        }
        (status, body)
    }

    /// Sends a command; keeps the frame if it is refused. Returns the reply.
    async fn call(&mut self, ws: &mut Ws, op: &str, fields: Value) -> Value {
        let reply = ws.call(op, fields).await;
        if reply["type"] == "error" {
            self.0.push(reply.to_string());
        }
        reply
    }

    async fn ok(&mut self, ws: &mut Ws, op: &str, fields: Value) -> Value {
        let reply = self.call(ws, op, fields.clone()).await;
        assert_eq!(reply["type"], "ack", "{op} {fields}: {reply}");
        reply["result"].clone()
    }

    async fn refused(&mut self, ws: &mut Ws, op: &str, fields: Value) {
        let reply = self.call(ws, op, fields.clone()).await;
        assert_eq!(reply["type"], "error", "{op} {fields} is refused: {reply}");
    }
}

fn text(v: &Value, field: &str) -> String {
    v[field].as_str().unwrap_or_else(|| panic!("{field} is a string: {v}")).to_owned()
}

/// A random secret of `n` hex characters.
fn random_hex(n: usize) -> String {
    let mut s = String::new();
    while s.len() < n {
        s.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    s.truncate(n);
    s
}

/// The session's roster: three delegates.
const ROSTER: &str = "name,organisation,weight\nAwa Diop,AMM Mali,3\nMoussa Traoré,ARM,2\nFatou Sow,,1\n";

/// The ways a secret could show in a log: as is (any case), and as the hex of its bytes (a
/// frame dump); a voting code also as printed on its card or typed with a dash.
fn forms(secret: &str, voting_code: bool) -> Vec<String> {
    let mut forms = vec![secret.to_ascii_lowercase(), hex_of(secret)];
    if voting_code && secret.len() == 8 {
        forms.push(format!("{} {}", &secret[..4], &secret[4..]).to_ascii_lowercase());
        forms.push(format!("{}-{}", &secret[..4], &secret[4..]).to_ascii_lowercase());
    }
    forms
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Where each secret shows in `haystack`: `(what, where)` for each find, with the line.
fn leaks(haystack: &str, secrets: &[(String, String, bool)]) -> Vec<String> {
    let lower = haystack.to_ascii_lowercase();
    let mut found = Vec::new();
    for (what, secret, voting_code) in secrets {
        for form in forms(secret, *voting_code) {
            if let Some(at) = lower.find(&form) {
                let start = lower[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = lower[at..].find('\n').map_or(lower.len(), |i| at + i);
                let line: String = haystack[start..end].chars().take(300).collect();
                found.push(format!("{what} ({form}) in: {line}"));
            }
        }
    }
    found
}

async fn no_secret_reaches_the_log_the_metrics_or_an_error_message(backend: Backend) {
    let admin = random_hex(40);
    let ballot_key = random_hex(48);
    let server =
        Server::start(backend, &[("PALABRE_ADMIN_TOKEN", admin.as_str()), ("PALABRE_BALLOT_KEY", ballot_key.as_str())])
            .await;
    let http = server.http.clone();
    let mut refusals = Refusals::default();
    // (what, secret, whether it is a voting code)
    let mut secrets: Vec<(String, String, bool)> =
        vec![("the admin token".into(), admin.clone(), false), ("the ballot key".into(), ballot_key.clone(), false)];

    // Creating needs the admin token; a wrong one is refused.
    let mut definition = sou94();
    definition["settings"]["voting"] = json!("roster");
    let (status, _) = refusals.send(http.post(server.url("/api/sessions")).json(&definition)).await;
    assert_eq!(status, 401);
    let guess = random_hex(40);
    secrets.push(("a guessed admin token".into(), guess.clone(), false));
    let (status, _) = refusals.send(http.post(server.url("/api/sessions")).bearer_auth(&guess).json(&definition)).await;
    assert_eq!(status, 401);
    let (status, body) =
        refusals.send(http.post(server.url("/api/sessions")).bearer_auth(&admin).json(&definition)).await;
    assert_eq!(status, 201, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    let (id, code) = (text(&created, "id"), text(&created, "code"));
    let (moderator_key, rapporteur_key) = (text(&created, "moderator_key"), text(&created, "rapporteur_key"));
    secrets.push(("the first moderator key".into(), moderator_key.clone(), false));
    secrets.push(("the first rapporteur key".into(), rapporteur_key.clone(), false));
    let (status, body) = refusals.send(http.post(server.url("/api/sessions")).bearer_auth(&admin).json(&sou94())).await;
    assert_eq!(status, 201);
    let scratch: Value = serde_json::from_str(&body).expect("json");
    secrets.push(("a scratch session's moderator key".into(), text(&scratch, "moderator_key"), false));
    secrets.push(("a scratch session's rapporteur key".into(), text(&scratch, "rapporteur_key"), false));
    let (status, _) = refusals.send(http.get(server.url("/api/sessions")).bearer_auth(&admin)).await;
    assert_eq!(status, 200);

    // The links (keys in their fragments, which never reach the server) and the pages.
    for link in ["moderator", "rapporteur", "participant", "screen", "qr"] {
        let (status, _) = refusals.send(http.get(text(&created["links"], link))).await;
        assert_eq!(status, 200, "{link}");
    }
    for key in [&moderator_key, &rapporteur_key] {
        let (status, _) = refusals.send(http.get(server.url(&format!("/api/sessions/{id}"))).bearer_auth(key)).await;
        assert_eq!(status, 200);
    }

    // The roster, as JSON and again as CSV: every code handed out is a secret.
    let roster = |accept: &'static str| {
        http.put(server.url(&format!("/api/sessions/{id}/roster")))
            .bearer_auth(&moderator_key)
            .header("content-type", "text/csv")
            .header("accept", accept)
            .body(ROSTER)
    };
    let (status, body) = refusals.send(roster("text/csv")).await;
    assert_eq!(status, 200, "{body}");
    for row in body.lines().skip(1) {
        let code = row.rsplit(',').next().expect("a code column").trim().to_owned();
        secrets.push(("a voting code (CSV roster)".into(), code, true));
    }
    let (status, body) = refusals.send(roster("application/json")).await;
    assert_eq!(status, 200);
    let entries: Value = serde_json::from_str(&body).expect("json");
    let codes: Vec<String> = entries["entries"].as_array().expect("entries").iter().map(|e| text(e, "code")).collect();
    for c in &codes {
        secrets.push(("a voting code".into(), c.clone(), true));
    }

    // The room: moderator, rapporteur, screen, three phones.
    let mut moderator = server.ws().await;
    moderator.send(json!({"type": "hello", "session": id, "key": moderator_key})).await;
    assert_eq!(moderator.recv_type("welcome").await["role"], "moderator");
    let mut rapporteur = server.ws().await;
    rapporteur.send(json!({"type": "hello", "session": id, "key": rapporteur_key})).await;
    assert_eq!(rapporteur.recv_type("welcome").await["role"], "rapporteur");
    let mut screen = server.ws().await;
    screen.send(json!({"type": "hello", "code": code, "role": "screen"})).await;
    screen.recv_type("welcome").await;
    let mut phones = Vec::new();
    for _ in 0..3 {
        let mut ws = server.ws().await;
        ws.send(json!({"type": "hello", "code": code})).await;
        let welcome = ws.recv_type("welcome").await;
        let token = text(&welcome, "participant");
        secrets.push(("a participant token".into(), token.clone(), false));
        phones.push((ws, token));
    }
    // A phone comes back with its token.
    let token = phones[0].1.clone();
    let mut again = server.ws().await;
    again.send(json!({"type": "hello", "code": code, "participant": token, "since": 0})).await;
    assert_eq!(again.recv_type("welcome").await["participant"], token);
    phones[0].0 = again;

    // The debate.
    refusals.ok(&mut moderator, "agenda.next", json!({})).await;
    refusals.ok(&mut moderator, "agenda.goto", json!({"item": 6})).await;
    let asked = refusals.ok(&mut phones[0].0, "question.ask", json!({"text": "Who pays for the roads?"})).await;
    let question = text(&asked["question"], "id");
    refusals.ok(&mut phones[1].0, "question.ask", json!({"text": "And the schools?", "name": "Awa"})).await;
    refusals.ok(&mut moderator, "question.approve", json!({"question": question})).await;
    refusals.ok(&mut phones[1].0, "question.upvote", json!({"question": question})).await;
    refusals.ok(&mut moderator, "question.highlight", json!({"question": question})).await;
    let request = refusals.ok(&mut phones[2].0, "floor.request", json!({"name": "Fatou", "organisation": "X"})).await;
    refusals.ok(&mut moderator, "floor.grant", json!({"request": request["request"]})).await;
    refusals.ok(&mut moderator, "floor.end", json!({})).await;
    refusals.refused(&mut moderator, "question.ask", json!({"text": "Not mine to ask"})).await;

    // The vote: codes claimed (one typed in lower case with a dash), a wrong one, one moved.
    refusals.ok(&mut phones[0].0, "voter.claim", json!({"code": codes[0]})).await;
    let typed = format!("{}-{}", &codes[1][..4], &codes[1][4..]).to_ascii_lowercase();
    refusals.ok(&mut phones[1].0, "voter.claim", json!({"code": typed})).await;
    refusals.refused(&mut phones[2].0, "voter.claim", json!({"code": "ABCDEFGH"})).await;
    refusals.ok(&mut phones[2].0, "voter.claim", json!({"code": codes[2]})).await;
    let mut second_device = server.ws().await;
    second_device.send(json!({"type": "hello", "code": code})).await;
    secrets.push(("a participant token".into(), text(&second_device.recv_type("welcome").await, "participant"), false));
    refusals.ok(&mut second_device, "voter.claim", json!({"code": codes[2]})).await;
    let poll = refusals.ok(&mut moderator, "poll.open", json!({"draft": "d1", "secret": true})).await;
    let poll = text(&poll, "poll");
    for (i, choice) in [(0, "for"), (1, "against")] {
        refusals.ok(&mut phones[i].0, "vote.cast", json!({"poll": poll, "choice": choice})).await;
    }
    refusals.ok(&mut second_device, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    refusals.refused(&mut phones[2].0, "vote.cast", json!({"poll": poll, "choice": "for"})).await;
    let (status, _) = refusals.send(http.get(server.url(&format!("/j/{code}/polls/{poll}/receipts.json")))).await;
    assert_eq!(status, 409, "no receipts before the close");
    refusals.ok(&mut moderator, "poll.close", json!({"poll": poll})).await;
    let (status, _) = refusals.send(http.get(server.url(&format!("/j/{code}/polls/{poll}/receipts.json")))).await;
    assert_eq!(status, 200);

    // The record, before and after the keys are replaced.
    refusals.ok(&mut rapporteur, "draft.edit", json!({"draft": "d2", "text": "Amended.", "lang": "en"})).await;
    refusals.ok(&mut rapporteur, "record.note", json!({"text": "The room agreed."})).await;
    let (status, body) =
        refusals.send(http.post(server.url(&format!("/api/sessions/{id}/keys"))).bearer_auth(&admin)).await;
    assert_eq!(status, 200, "{body}");
    let fresh: Value = serde_json::from_str(&body).expect("json");
    let (new_moderator, new_rapporteur) = (text(&fresh, "moderator_key"), text(&fresh, "rapporteur_key"));
    secrets.push(("the new moderator key".into(), new_moderator.clone(), false));
    secrets.push(("the new rapporteur key".into(), new_rapporteur.clone(), false));
    assert_eq!(moderator.closed().await, Some(4401));
    assert_eq!(rapporteur.closed().await, Some(4401));
    for old in [&moderator_key, &rapporteur_key] {
        let (status, _) = refusals.send(http.get(server.url(&format!("/api/sessions/{id}"))).bearer_auth(old)).await;
        assert_eq!(status, 401, "an old key opens nothing");
        let mut ws = server.ws().await;
        ws.send(json!({"type": "hello", "session": id, "key": old})).await;
        let refusal = ws.recv().await;
        assert_eq!(refusal["type"], "error");
        refusals.0.push(refusal.to_string());
        assert_eq!(ws.closed().await, Some(1008));
    }
    let (status, _) =
        refusals.send(http.get(server.url(&format!("/api/sessions/{id}/record.json"))).bearer_auth(&phones[0].1)).await;
    assert_eq!(status, 401, "a participant token opens no export");
    let mut moderator = server.ws().await;
    moderator.send(json!({"type": "hello", "session": id, "key": new_moderator})).await;
    moderator.recv_type("welcome").await;
    let mut rapporteur = server.ws().await;
    rapporteur.send(json!({"type": "hello", "session": id, "key": new_rapporteur})).await;
    rapporteur.recv_type("welcome").await;
    refusals.refused(&mut rapporteur, "record.finalise", json!({})).await;
    refusals.ok(&mut moderator, "session.end", json!({})).await;
    refusals.ok(&mut rapporteur, "record.finalise", json!({})).await;

    // Every export, the roster cards, the definition.
    for export in ["record.json", "record.md", "record.html", "results.csv", "events.jsonl"] {
        for key in [&new_moderator, &new_rapporteur] {
            let url = server.url(&format!("/api/sessions/{id}/{export}"));
            let (status, _) = refusals.send(http.get(url).bearer_auth(key)).await;
            assert_eq!(status, 200, "{export}");
        }
    }
    for path in ["roster/cards.html", "definition"] {
        let url = server.url(&format!("/api/sessions/{id}/{path}"));
        let (status, _) = refusals.send(http.get(url).bearer_auth(&new_moderator)).await;
        assert_eq!(status, 200, "{path}");
        let (status, _) = refusals
            .send(http.get(server.url(&format!("/api/sessions/{id}/{path}"))).bearer_auth(&new_rapporteur))
            .await;
        assert_eq!(status, 403, "{path} is the moderator's");
    }
    let scratch_url = server.url(&format!("/api/sessions/{}", text(&scratch, "id")));
    let (status, _) = refusals.send(http.delete(&scratch_url).bearer_auth(text(&scratch, "moderator_key"))).await;
    assert_eq!(status, 401, "deleting needs the admin token");
    let (status, _) = refusals.send(http.delete(&scratch_url).bearer_auth(&admin)).await;
    assert_eq!(status, 204);
    let (status, _) = refusals.send(http.get(server.url("/healthz"))).await;
    assert_eq!(status, 200);
    let (status, metrics) = refusals.send(http.get(server.url("/metrics"))).await;
    assert_eq!(status, 200);
    assert!(metrics.contains("palabre_commands_total"), "the metrics count commands:\n{metrics}");

    for ws in [moderator, rapporteur, screen, second_device].into_iter().chain(phones.into_iter().map(|(ws, _)| ws)) {
        ws.close().await;
    }
    let output = strip_ansi(&server.stop().await);

    // The output is the one an operator reads at trace level: every request, by session.
    assert!(output.contains("palabre listening"), "the output is captured:\n{output}");
    assert!(output.contains(&format!("/api/sessions/{id}")), "requests are logged, with their session");
    let mut found = Vec::new();
    found.extend(leaks(&output, &secrets).into_iter().map(|l| format!("log: {l}")));
    found.extend(leaks(&metrics, &secrets).into_iter().map(|l| format!("metrics: {l}")));
    found.extend(leaks(&refusals.0.join("\n"), &secrets).into_iter().map(|l| format!("an error message: {l}")));
    assert!(
        found.is_empty(),
        "secrets leaked ({} finds; {} lines of output):\n{}",
        found.len(),
        output.lines().count(),
        found.iter().take(40).cloned().collect::<Vec<_>>().join("\n")
    );
}

#[test]
fn the_leak_finder_finds_a_secret_in_any_of_its_forms() {
    let key = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";
    let secrets = vec![("a key".to_owned(), key.to_owned(), false), ("a code".to_owned(), "K7PQ2MAB".to_owned(), true)];
    assert!(leaks("INFO palabre: request done status=200", &secrets).is_empty());
    assert_eq!(leaks(&format!("DEBUG hello key={}", key.to_ascii_uppercase()), &secrets).len(), 1);
    assert_eq!(leaks(&format!("TRACE payload: 0x{}", hex_of(key)), &secrets).len(), 1);
    assert_eq!(leaks("claim code=k7pq-2mab", &secrets).len(), 1);
    assert_eq!(leaks("card: K7PQ 2MAB", &secrets).len(), 1);
    assert_eq!(strip_ansi("\u{1b}[3maddr\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:80"), "addr=127.0.0.1:80");
}
