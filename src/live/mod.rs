//! Live sync: one [`hub::Hub`] per active session fans events out to this instance's
//! sockets; [`connection`] runs one socket; [`welcome`] shares the bulk of the `welcome`
//! frames between the sockets of a session.

pub mod connection;
pub mod hub;
pub mod welcome;
