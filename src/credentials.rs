//! Credentials: making keys, tokens and join codes, hashing them for storage, and checking
//! them in constant time; [`Secret`] for values that must never print. Nothing here logs a
//! credential.

use crate::domain::Role;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use subtle::ConstantTimeEq;

/// A value that must never reach a log: its `Debug` and `Display` show a placeholder.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

/// What a `hello` checks: the hashes of a session's keys (the keys themselves are handed out
/// once, at creation), and its join code, so a hello by session id needs no second read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    pub moderator: String,
    pub rapporteur: String,
    #[serde(default)]
    pub code: String,
    /// Random per session: with the server's ballot key, what ballots are keyed by (see
    /// [`voter_key`]).
    #[serde(default)]
    pub ballot_salt: String,
}

/// The server's ballot key (`PALABRE_BALLOT_KEY`), set once at start; kept out of the store so
/// that the store alone cannot tell whose ballot is whose.
static BALLOT_KEY: std::sync::OnceLock<Secret> = std::sync::OnceLock::new();

pub fn set_ballot_key(key: Secret) {
    let _ = BALLOT_KEY.set(key);
}

/// What a ballot is stored under: a keyed hash of the voter (a participant's or a roster
/// entry's id), never the voter's id or token itself.
pub fn voter_key(salt: &str, voter: &str) -> String {
    let key = BALLOT_KEY.get().map(Secret::expose).unwrap_or("");
    let digest =
        Sha256::new().chain_update(key).chain_update([0]).chain_update(salt).chain_update([0]).chain_update(voter);
    hex::encode(&digest.finalize()[..16])
}

/// A voter's receipt for one poll: `K7-PQ2M`, from the join-code alphabet.
pub fn new_receipt() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let mut pick = || CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char;
    let head: String = (0..2).map(|_| pick()).collect();
    let tail: String = (0..4).map(|_| pick()).collect();
    format!("{head}-{tail}")
}

/// A personal voting code: 8 characters of the join-code alphabet.
pub fn new_voting_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..8).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// A voting code as a person typed it: spaces and dashes dropped, upper-cased, checked.
pub fn normalise_voting_code(raw: &str) -> Option<String> {
    let code: String = raw.chars().filter(|c| !c.is_whitespace() && *c != '-').collect::<String>().to_ascii_uppercase();
    (code.len() == 8 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// 160 random bits, hex: keys and participant tokens.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Join codes: 6 characters without the look-alikes 0/O, 1/I/L.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

pub fn new_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..6).map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char).collect()
}

/// A code as a person typed it: trimmed, upper-cased, and checked against the alphabet.
pub fn normalise_code(raw: &str) -> Option<String> {
    let code = raw.trim().to_ascii_uppercase();
    (code.len() == 6 && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The role a session key grants, if any.
pub fn role_for_key(credentials: &Credentials, key: &str) -> Option<Role> {
    let h = hash(key);
    // Both comparisons always run, so timing does not tell which one matched.
    let moderator = same(&h, &credentials.moderator);
    let rapporteur = same(&h, &credentials.rapporteur);
    if moderator {
        Some(Role::Moderator)
    } else if rapporteur {
        Some(Role::Rapporteur)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_unambiguous_characters() {
        for _ in 0..200 {
            let c = new_code();
            assert_eq!(normalise_code(&c.to_ascii_lowercase()), Some(c));
        }
        assert_eq!(normalise_code("ABC1EF"), None);
        assert_eq!(normalise_code("ABCDE"), None);
    }

    #[test]
    fn a_key_grants_only_its_own_role() {
        let (m, r) = (new_secret(), new_secret());
        let creds =
            Credentials { moderator: hash(&m), rapporteur: hash(&r), code: String::new(), ballot_salt: String::new() };
        assert_eq!(role_for_key(&creds, &m), Some(Role::Moderator));
        assert_eq!(role_for_key(&creds, &r), Some(Role::Rapporteur));
        assert_eq!(role_for_key(&creds, &new_secret()), None);
        assert_eq!(m.len(), 40);
    }
}
