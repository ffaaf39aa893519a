//! The record's plain-text forms: the readable minutes in Markdown (`record.md`) and one row
//! per poll (`results.csv`), both made from `record.json`.

use serde_json::Value;

/// One row per poll: draft, version, method, quorum, figures, outcome.
pub fn results_csv(record: &Value) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record([
        "poll",
        "draft",
        "title",
        "version",
        "method",
        "quorum",
        "for",
        "against",
        "abstain",
        "cast",
        "cast_weight",
        "eligible",
        "outcome",
        "digest",
    ]);
    let drafts = record["drafts"].as_array().cloned().unwrap_or_default();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    for p in record["polls"].as_array().into_iter().flatten() {
        let draft = drafts.iter().find(|d| d["id"] == p["draft"]).cloned().unwrap_or(Value::Null);
        let _ = out.write_record([
            text(&p["id"]),
            text(&p["draft"]),
            text(&draft["title"]),
            text(&p["version"]),
            text(&p["method"]),
            text(&p["quorum"]),
            text(&p["counts"]["for"]),
            text(&p["counts"]["against"]),
            text(&p["counts"]["abstain"]),
            text(&p["cast"]),
            text(&p["cast_weight"]),
            text(&p["eligible"]),
            text(&p["outcome"]),
            text(&record["digest"]),
        ]);
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// Readable minutes in Markdown.
pub fn markdown(record: &Value) -> String {
    let s = &record["session"];
    let text = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut md = format!("# {}\n\n", text(&s["title"]));
    if let Some(r) = s["reference"].as_str() {
        md.push_str(&format!("**{r}**"));
        if let Some(v) = s["venue"].as_str() {
            md.push_str(&format!(" · {v}"));
        }
        md.push_str("\n\n");
    }
    md.push_str("## Agenda as held\n\n| # | Item | Planned | Held |\n| --- | --- | --- | --- |\n");
    for it in record["agenda"].as_array().into_iter().flatten() {
        let secs = it["seconds"].as_u64().unwrap_or(0);
        md.push_str(&format!(
            "| {} | {} | {} min | {} min {:02} s |\n",
            it["index"].as_u64().unwrap_or(0) + 1,
            text(&it["title"]).replace('|', "\\|"),
            it["planned_minutes"],
            secs / 60,
            secs % 60
        ));
    }
    md.push_str("\n## Texts and votes\n\n");
    for d in record["drafts"].as_array().into_iter().flatten() {
        md.push_str(&format!("### {} ({}, version {})\n\n", text(&d["title"]), text(&d["kind"]), d["version"]));
        md.push_str(&format!("> {}\n\n", text(&d["text"]).replace('\n', "\n> ")));
        let status = text(&d["status"]);
        let polls = record["polls"].as_array().cloned().unwrap_or_default();
        for p in polls.iter().filter(|p| p["draft"] == d["id"] && p["status"] == "closed") {
            let c = &p["counts"];
            md.push_str(&format!(
                "Vote on version {} ({}, quorum {}): for {}, against {}, abstain {}; {} ballots, weight {} of {} eligible. **{}** — {}.\n\n",
                p["version"],
                text(&p["method"]),
                p["quorum"],
                c["for"],
                c["against"],
                c["abstain"],
                p["cast"],
                p["cast_weight"],
                p["eligible"],
                text(&p["outcome"]).to_uppercase(),
                text(&p["rule"])
            ));
        }
        if d["adopted_by"] == "consensus" {
            md.push_str("**ADOPTED by consensus.**\n\n");
        } else if status == "draft" || status == "withdrawn" {
            md.push_str(&format!("Status: {status}.\n\n"));
        }
    }
    md.push_str("## Questions taken\n\n");
    for q in record["questions"].as_array().into_iter().flatten() {
        let who = q["name"].as_str().unwrap_or("anonymous");
        md.push_str(&format!(
            "- {} — {} ({} upvotes, {})\n",
            text(&q["text"]).replace('\n', " "),
            who,
            q["upvotes"],
            text(&q["status"])
        ));
    }
    md.push_str("\n## Speakers from the floor\n\n");
    for f in record["floor"].as_array().into_iter().flatten() {
        let secs = f["seconds"].as_u64().unwrap_or(0);
        md.push_str(&format!(
            "- {}, {} — {} min {:02} s\n",
            text(&f["name"]),
            text(&f["organisation"]),
            secs / 60,
            secs % 60
        ));
    }
    let notes = record["notes"].as_array().cloned().unwrap_or_default();
    if !notes.is_empty() {
        md.push_str("\n## Rapporteur's notes\n\n");
        for n in notes {
            md.push_str(&format!("- {}\n", text(&n["text"]).replace('\n', " ")));
        }
    }
    match record["digest"].as_str() {
        Some(d) => md.push_str(&format!("\n---\nFinal record. SHA-256 digest of `record.json`: `{d}`\n")),
        None => md.push_str("\n---\nDraft record: not finalised yet.\n"),
    }
    md
}
