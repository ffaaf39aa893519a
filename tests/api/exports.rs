//! The record's exports in both languages: SOU 94 run from its fixture, a text amended in
//! French and in English before its vote, and the minutes (`record.md`, `record.html`) and
//! results (`results.csv`) giving each adopted text in the wording voted, in the language asked,
//! with its figures and the record's digest.

use crate::helpers::*;
use serde_json::{json, Value};

on_both_stores! {
    the_minutes_give_the_texts_adopted_in_the_wording_voted_in_french_and_in_english,
    an_export_in_a_language_the_record_has_no_labels_for_is_refused,
}

const AMENDED_FR: &str = "Les participants appellent l’État à achever d’ici 2020 le transfert effectif des \
                          compétences et des ressources aux collectivités territoriales, et à publier chaque année la \
                          part des recettes budgétaires qui leur est transférée.";
const AMENDED_EN: &str =
    "The participants call on the State to complete by 2020 the effective transfer of competences \
                          and resources to local authorities, and to publish each year the share of budget revenue \
                          transferred to them.";

async fn export(app: &TestApp, created: &Value, path: &str) -> reqwest::Response {
    let id = created["id"].as_str().expect("id");
    let key = created["rapporteur_key"].as_str().expect("rapporteur key");
    app.http.get(app.url(&format!("/api/sessions/{id}/{path}"))).bearer_auth(key).send().await.expect("request")
}

async fn text_of(app: &TestApp, created: &Value, path: &str) -> String {
    let response = export(app, created, path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.expect("a text body")
}

/// `text` as the printable minutes escape it.
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Runs SOU 94 from its fixture to a finalised record: every item in turn, a question (with an
/// upvote and a duplicate merged into it), a turn from the floor, d1 amended in French then in
/// English and adopted by a vote of 2 for, 1 against, d2 adopted by consensus, a note.
async fn sou94_held_and_finalised(app: &TestApp) -> Value {
    let created = app.create(&sou94()).await;
    let (mut m, _) = hello_moderator(app, &created).await;
    let (mut r, _) = hello_rapporteur(app, &created).await;
    let (mut p1, _) = hello_participant(app, &created["code"]).await;
    let (mut p2, _) = hello_participant(app, &created["code"]).await;
    let (mut p3, _) = hello_participant(app, &created["code"]).await;

    // From the introduction to the debate (item 6), where questions open.
    for _ in 0..=6 {
        m.ok("agenda.next", json!({})).await;
    }

    let asked = p1.ok("question.ask", json!({"text": "Quel calendrier pour le transfert des ressources ?"})).await;
    let q = asked["question"]["id"].clone();
    m.ok("question.approve", json!({"question": q})).await;
    p2.ok("question.upvote", json!({"question": q})).await;
    let dup = p3.ok("question.ask", json!({"text": "Quand les ressources seront-elles transférées ?"})).await;
    m.ok("question.merge", json!({"question": dup["question"]["id"], "into": q})).await;
    m.ok("question.answer", json!({"question": q})).await;

    let request =
        p2.ok("floor.request", json!({"name": "Aminata Traoré", "organisation": "Commune de Tombouctou"})).await;
    m.ok("floor.grant", json!({"request": request["request"]})).await;
    m.ok("floor.end", json!({})).await;

    r.ok("draft.edit", json!({"draft": "d1", "text": AMENDED_FR, "lang": "fr"})).await;
    r.ok("draft.edit", json!({"draft": "d1", "text": AMENDED_EN, "lang": "en"})).await;
    r.ok("record.note", json!({"text": "Le texte d1 a été amendé en séance avant le vote."})).await;

    m.ok("agenda.next", json!({})).await;
    let poll = m.ok("poll.open", json!({"draft": "d1"})).await["poll"].clone();
    p1.ok("vote.cast", json!({"poll": poll, "choice": "for"})).await;
    p2.ok("vote.cast", json!({"poll": poll, "choice": "for"})).await;
    p3.ok("vote.cast", json!({"poll": poll, "choice": "against"})).await;
    m.ok("poll.close", json!({"poll": poll})).await;
    m.ok("draft.adopt_by_consensus", json!({"draft": "d2"})).await;
    m.ok("session.end", json!({})).await;
    r.ok("record.finalise", json!({})).await;
    created
}

async fn the_minutes_give_the_texts_adopted_in_the_wording_voted_in_french_and_in_english(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = sou94_held_and_finalised(&app).await;
    let fixture = sou94();
    let (d1, d2) = (&fixture["drafts"][0], &fixture["drafts"][1]);
    for lang in ["en", "fr"] {
        for what in [&d1["title"], &d1["text"], &d2["title"], &d2["text"], &fixture["title"]] {
            assert!(what[lang].as_str().is_some_and(|t| !t.is_empty()), "the fixture gives {what} in {lang}");
        }
    }
    let s = |v: &Value| v.as_str().expect("a text").to_owned();

    let record: Value = serde_json::from_str(&text_of(&app, &created, "record.json").await).expect("json");
    let digest = palabre::record::verify(&record).expect("a final record that verifies");
    let vote = &record["polls"][0];
    assert_eq!(
        (&vote["counts"], vote["outcome"].as_str()),
        (&json!({"for": 2, "against": 1, "abstain": 0}), Some("adopted"))
    );
    assert_eq!(vote["version"], 3, "the vote was on the text amended in both languages");
    let eligible = vote["eligible"].as_u64().expect("eligible");
    let figures = format!("| 2 | 1 | 0 | 3 | 3 | {eligible} |");

    // The French minutes: French labels, every text in French, the wording voted.
    let fr = text_of(&app, &created, "record.md?lang=fr").await;
    for expected in [
        format!("# {}\n", s(&fixture["title"]["fr"])),
        "## Ordre du jour tel que tenu".into(),
        format!("| 7 | {} |", s(&fixture["agenda"][6]["title"]["fr"])),
        "## Textes adoptés".into(),
        format!("### {}\n", s(&d1["title"]["fr"])),
        "*Résolution — texte adopté, version 3*".into(),
        format!("> {AMENDED_FR}\n"),
        "| Pour | Contre | Abstention | Bulletins | Poids exprimé | Inscrits |".into(),
        figures.clone(),
        "**ADOPTÉ** — majorité simple : pour 2 > contre 1".into(),
        format!("### {}\n", s(&d2["title"]["fr"])),
        format!("> {}\n", s(&d2["text"]["fr"])),
        "**ADOPTÉ PAR CONSENSUS**".into(),
        "1. Quel calendrier pour le transfert des ressources ?".into(),
        "- Question regroupée : Quand les ressources seront-elles transférées ?".into(),
        "| Aminata Traoré | Commune de Tombouctou |".into(),
        "1. Le texte d1 a été amendé en séance avant le vote.".into(),
        format!("Empreinte SHA-256 de record.json : `{digest}`"),
    ] {
        assert!(fr.contains(&expected), "{expected:?} in the French minutes:\n{fr}");
    }
    for absent in [s(&d1["text"]["fr"]), AMENDED_EN.into(), s(&d1["title"]["en"]), s(&d2["text"]["en"])] {
        assert!(!fr.contains(&absent), "{absent:?} in the French minutes:\n{fr}");
    }
    assert!(!fr.contains("[EN]"), "every text of SOU 94 is in French:\n{fr}");

    // The English minutes: the same in English.
    let en = text_of(&app, &created, "record.md?lang=en").await;
    for expected in [
        format!("# {}\n", s(&fixture["title"]["en"])),
        "## Agenda as held".into(),
        "## Texts adopted".into(),
        format!("### {}\n", s(&d1["title"]["en"])),
        "*Resolution — text adopted, version 3*".into(),
        format!("> {AMENDED_EN}\n"),
        figures.clone(),
        "**ADOPTED** — ".into(),
        format!("### {}\n", s(&d2["title"]["en"])),
        format!("> {}\n", s(&d2["text"]["en"])),
        "**ADOPTED BY CONSENSUS**".into(),
        format!("SHA-256 digest of record.json: `{digest}`"),
    ] {
        assert!(en.contains(&expected), "{expected:?} in the English minutes:\n{en}");
    }
    for absent in [s(&d1["text"]["en"]), AMENDED_FR.into(), s(&d1["title"]["fr"]), s(&d2["text"]["fr"])] {
        assert!(!en.contains(&absent), "{absent:?} in the English minutes:\n{en}");
    }
    assert!(!en.contains("[FR]"), "every text of SOU 94 is in English:\n{en}");

    // Without a language: both, one after the other.
    let both = text_of(&app, &created, "record.md").await;
    let (at_en, at_fr) = (both.find(AMENDED_EN), both.find(AMENDED_FR));
    assert!(at_en.is_some() && at_fr.is_some() && at_en < at_fr, "both wordings, English first:\n{both}");
    assert!(both.contains("## Texts adopted · Textes adoptés") && both.contains(&digest), "{both}");

    // The printable minutes: both wordings side by side, the figures, the digest.
    let html = text_of(&app, &created, "record.html").await;
    for expected in [
        format!("<div class=\"text\" lang=\"en\">{}</div>", html_escaped(AMENDED_EN)),
        format!("<div class=\"text\" lang=\"fr\">{}</div>", html_escaped(AMENDED_FR)),
        format!("<div class=\"text\" lang=\"en\">{}</div>", html_escaped(&s(&d2["text"]["en"]))),
        format!("<div class=\"text\" lang=\"fr\">{}</div>", html_escaped(&s(&d2["text"]["fr"]))),
        format!("<span lang=\"fr\">{}</span>", html_escaped(&s(&d1["title"]["fr"]))),
        format!("<span lang=\"en\">{}</span>", html_escaped(&s(&d1["title"]["en"]))),
        format!(
            "<td class=\"num\">2</td><td class=\"num\">1</td><td class=\"num\">0</td><td class=\"num\">3</td><td class=\"num\">{eligible}</td>"
        ),
        "Adopted by consensus".into(),
        digest.clone(),
    ] {
        assert!(html.contains(&expected), "{expected:?} in the printable minutes:\n{html}");
    }
    assert!(!html.contains(&html_escaped(&s(&d1["text"]["fr"]))), "the wording voted, not the first one");
    let html_fr = text_of(&app, &created, "record.html?lang=fr").await;
    assert!(html_fr.contains(&html_escaped(AMENDED_FR)) && !html_fr.contains(&html_escaped(AMENDED_EN)));
    assert!(html_fr.contains("Adopté par consensus") && html_fr.contains(&digest));

    // The results: the title in the language asked, or both.
    let csv_rows = |body: String| -> Vec<Vec<String>> {
        csv::Reader::from_reader(body.as_bytes())
            .records()
            .map(|r| r.expect("a CSV row").iter().map(str::to_owned).collect())
            .collect()
    };
    let both_rows = csv_rows(text_of(&app, &created, "results.csv").await);
    let fr_rows = csv_rows(text_of(&app, &created, "results.csv?lang=fr").await);
    let en_rows = csv_rows(text_of(&app, &created, "results.csv?lang=en").await);
    assert_eq!(both_rows.len(), 1, "one poll, one row");
    assert_eq!(both_rows[0][2], format!("{} / {}", s(&d1["title"]["en"]), s(&d1["title"]["fr"])));
    assert_eq!(fr_rows[0][2], s(&d1["title"]["fr"]));
    assert_eq!(en_rows[0][2], s(&d1["title"]["en"]));
    for row in [&both_rows[0], &fr_rows[0], &en_rows[0]] {
        let eligible = eligible.to_string();
        assert_eq!(&row[3..], ["3", "simple", "0", "2", "1", "0", "3", "3", &eligible, "adopted", &digest], "{row:?}");
    }
}

async fn an_export_in_a_language_the_record_has_no_labels_for_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let created = app.create(&sou94()).await;
    for path in ["record.md?lang=de", "record.html?lang=EN", "results.csv?lang=french"] {
        let response = export(&app, &created, path).await;
        assert_eq!(response.status(), 400, "{path}");
        let body: Value = response.json().await.expect("a JSON error");
        assert_eq!(body["error"]["code"], "invalid", "{path}: {body}");
    }
    for (path, language) in [("record.md?lang=fr", "fr"), ("record.html?lang=en", "en"), ("results.csv", "en, fr")] {
        let response = export(&app, &created, path).await;
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()["content-language"], language, "{path}");
    }
}
