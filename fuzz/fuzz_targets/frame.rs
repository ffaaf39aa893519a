//! Any bytes as a client frame: `ClientMsg::parse` never panics, and what it accepts or refuses
//! is well-formed. The same bytes, when they are a JSON object, are also sent as the fields of
//! a `cmd` for every op, so the fuzzer reaches each op's field parsing without having to find
//! a valid command id first.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palabre::protocol::{ClientMsg, MAX_FRAME, OPS};
use serde_json::{json, Value};

/// A command id the parser accepts.
const ID: &str = "7d9f1c1e-2f7a-4c1e-9a51-0d6c9f8e0b11";

fn check(text: &str) {
    match ClientMsg::parse(text) {
        Ok(ClientMsg::Hello(_)) => {}
        Ok(ClientMsg::Cmd { id, command }) => {
            let uuid = uuid_like(&id);
            assert!(uuid, "an accepted command id is a hyphenated lower-case UUID: {id:?}");
            assert!(OPS.contains(&command.op()), "{} is not in OPS", command.op());
        }
        Err(refusal) => {
            if let Some(id) = &refusal.id {
                assert!(uuid_like(id), "a refusal names a command id that is not a UUID: {id:?}");
            }
            assert!(!refusal.message.is_empty(), "a refusal says why");
        }
    }
}

fn uuid_like(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.iter().map(|g| g.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
}

fuzz_target!(|data: &[u8]| {
    // The connection closes on frames over the limit before it parses them.
    if data.len() > MAX_FRAME {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else { return };
    check(text);
    if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(text) {
        for op in OPS {
            let mut frame = fields.clone();
            frame.insert("type".into(), json!("cmd"));
            frame.insert("id".into(), json!(ID));
            frame.insert("op".into(), json!(op));
            check(&Value::Object(frame).to_string());
        }
    }
});
