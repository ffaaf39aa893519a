//! Any bytes as a session definition: JSON → `RawDefinition` → `SessionDefinition::parse` never
//! panics; a definition it accepts, written out and read again, is the same definition (so a
//! session used as a template is the session), and makes a session. The same bytes are also read
//! as one agenda item, as `agenda.insert` reads it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use palabre::domain::definition::{AgendaItemDef, RawDefinition, RawItem};
use palabre::domain::{Session, SessionDefinition};

fuzz_target!(|data: &[u8]| {
    if let Ok(raw) = serde_json::from_slice::<RawDefinition>(data) {
        if let Ok(definition) = SessionDefinition::parse(raw) {
            let written = serde_json::to_value(&definition).expect("a definition serialises");
            let raw: RawDefinition = serde_json::from_value(written.clone())
                .unwrap_or_else(|e| panic!("a written definition reads back as raw: {e}\n{written}"));
            let again = SessionDefinition::parse(raw)
                .unwrap_or_else(|e| panic!("a written definition parses again: {e}\n{written}"));
            assert_eq!(again, definition, "a written definition parses as itself");
            let session = Session::new("s".into(), "ABCDEF".into(), &definition, 0);
            assert_eq!(session.agenda.items.len(), definition.agenda.len());
            assert_eq!(session.drafts.len(), definition.drafts.len());
        }
    }
    if let Ok(raw) = serde_json::from_slice::<RawItem>(data) {
        if let Ok(item) = AgendaItemDef::parse(raw) {
            let written = serde_json::to_value(&item).expect("an item serialises");
            let raw: RawItem = serde_json::from_value(written.clone())
                .unwrap_or_else(|e| panic!("a written item reads back as raw: {e}\n{written}"));
            let again = AgendaItemDef::parse(raw).unwrap_or_else(|e| panic!("a written item parses again: {e}"));
            assert_eq!(again, item, "a written item parses as itself");
        }
    }
});
