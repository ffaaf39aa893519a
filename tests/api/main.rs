//! One integration-test binary: the app spoken to as its users do (HTTP, WebSocket), on a
//! real Redis and on the memory store.

/// Runs each listed `async fn name(backend)` once per store: `memory::name` and `redis::name`.
macro_rules! on_both_stores {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $( #[tokio::test] async fn $name() { super::$name(crate::helpers::Backend::Memory).await } )*
        }
        mod redis {
            $( #[tokio::test] async fn $name() { super::$name(crate::helpers::Backend::Redis).await } )*
        }
    };
}

mod access;
mod agenda;
mod contract_fixture;
mod exports;
mod floor;
mod helpers;
mod http;
mod keys;
mod live;
mod multi_instance;
mod questions;
mod record;
mod secrets;
mod store_conformance;
mod votes;
