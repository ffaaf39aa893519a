//! Palabre runs a live deliberative session: a moderator takes the room through its agenda,
//! participants follow (and later ask, upvote and vote) from their phones, a projector shows
//! the room where it stands, and a rapporteur keeps the record.
//!
//! Module map:
//! - [`domain`]: the rules, pure and synchronous (definition, session state, commands, events).
//! - [`protocol`]: the wire types of the WebSocket protocol and the per-role views.
//! - [`store`]: the [`store::Store`] trait and its Redis and in-memory implementations.
//! - [`live`]: per-session fan-out hubs and the WebSocket connection loop.
//! - [`http`]: routes, credentials, errors, embedded web pages.
//! - [`config`]: command line and environment.
//! - [`credentials`]: keys, tokens and join codes; [`credentials::Secret`].
//! - [`state`]: [`state::AppState`], the shared handle, and session creation.
//! - [`record`]: the session's record built from its state and audit trail; its digest.
//! - [`time`]: the clock and the shutdown signal.
//! - [`fixtures`]: the SOU 94 definition carried in the binary.
//! - [`app`]: wires it all into a router and serves it.
//! - [`load`]: `palabre load`, the load generator used for benchmarks.

pub mod app;
pub mod config;
pub mod credentials;
pub mod domain;
pub mod fixtures;
pub mod http;
pub mod limits;
pub mod live;
pub mod load;
pub mod protocol;
pub mod record;
pub mod record_text;
pub mod state;
pub mod store;
pub mod time;
