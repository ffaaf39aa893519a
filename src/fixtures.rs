//! Session definitions carried in the binary.

/// The SOU 94 session (a real programme of a pan-African summit of local governments): the
/// demo session, and the example the landing page offers.
pub const SOU94: &str = include_str!("../fixtures/sou94.json");
