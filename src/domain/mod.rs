//! The rules of a session, pure and synchronous: a definition is parsed into valid types,
//! a command is decided into events, and events are folded into the state. No I/O, no clock,
//! no randomness: the caller passes the time and the ids in.

pub mod definition;
pub mod session;

pub use definition::{
    AgendaItemDef, DefinitionError, DraftDef, DraftKind, ItemKind, SessionDefinition, Settings, VotingMode,
};
pub use session::{Command, DomainError, Event, Phase, Role, Session};

/// Milliseconds since the Unix epoch, as handed in by the caller.
pub type Millis = i64;
