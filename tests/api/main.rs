//! One integration-test binary: the app spoken to as its users do (HTTP, WebSocket), on a
//! real Redis and on the memory store.

mod helpers;
mod store_conformance;
