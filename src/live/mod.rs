//! Live sync: one [`hub::Hub`] per active session fans events out to this instance's
//! sockets; [`connection`] runs one socket.

pub mod connection;
pub mod hub;
