//! Credentials: making keys and tokens, hashing them for storage, and checking them in
//! constant time. Nothing here logs a credential.

use crate::config::Secret;
use crate::domain::Role;
use crate::store::Credentials;
use axum::http::HeaderMap;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

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

fn same(a: &str, b: &str) -> bool {
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

pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
}

/// Whether the request carries the admin token (always true when none is configured).
pub fn is_admin(configured: Option<&Secret>, headers: &HeaderMap) -> bool {
    match configured {
        None => true,
        Some(token) => bearer(headers).is_some_and(|given| same(given, token.expose())),
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
        let creds = Credentials { moderator: hash(&m), rapporteur: hash(&r), code: String::new() };
        assert_eq!(role_for_key(&creds, &m), Some(Role::Moderator));
        assert_eq!(role_for_key(&creds, &r), Some(Role::Rapporteur));
        assert_eq!(role_for_key(&creds, &new_secret()), None);
        assert_eq!(m.len(), 40);
    }
}
