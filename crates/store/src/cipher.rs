//! Authenticated encryption of secrets at rest (data source options).
//!
//! XChaCha20-Poly1305: its 24-byte nonces can be drawn at random for every message without any
//! realistic risk of reuse, so no nonce counter has to be kept in the database. The key is 32
//! bytes passed in by the caller, who derives it from `REDASH_SECRET_KEY` or a generated key file;
//! the store never sees where it came from.
//!
//! # Format
//! `b"c1" || nonce (24 bytes) || ciphertext+tag`. The two-byte prefix names the format so that a
//! later key rotation or cipher change can tell old values apart.

use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use rand::Rng;

use crate::error::StoreError;

const PREFIX: &[u8; 2] = b"c1";
const NONCE_LEN: usize = 24;

/// Encrypts and decrypts small secrets with one 32-byte key.
#[derive(Clone)]
pub struct Cipher {
    aead: XChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(..)")
    }
}

impl Cipher {
    /// A cipher with `key`.
    pub fn new(key: [u8; 32]) -> Self {
        Cipher {
            aead: XChaCha20Poly1305::new(&Key::from(key)),
        }
    }

    /// Encrypts `plaintext` under a fresh random nonce.
    pub fn encrypt(&self, plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .aead
            .encrypt(&XNonce::from(nonce), plaintext)
            .expect("XChaCha20-Poly1305 encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(PREFIX.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(PREFIX);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts what [`Cipher::encrypt`] produced; `what` names the secret in the error.
    ///
    /// # Errors
    /// [`StoreError::Decrypt`] when the key is wrong or the bytes were altered or truncated.
    pub fn decrypt(&self, sealed: &[u8], what: &'static str) -> Result<Vec<u8>, StoreError> {
        let rest = sealed
            .strip_prefix(PREFIX.as_slice())
            .ok_or(StoreError::Decrypt(what))?;
        if rest.len() < NONCE_LEN {
            return Err(StoreError::Decrypt(what));
        }
        let (nonce, body) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Decrypt(what))?;
        self.aead
            .decrypt(&XNonce::from(nonce), body)
            .map_err(|_| StoreError::Decrypt(what))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let c = Cipher::new([7; 32]);
        let sealed = c.encrypt(b"{\"password\":\"hunter2\"}");
        assert_eq!(
            c.decrypt(&sealed, "options").unwrap(),
            b"{\"password\":\"hunter2\"}"
        );
    }

    #[test]
    fn ciphertext_hides_the_plaintext_and_varies() {
        let c = Cipher::new([7; 32]);
        let a = c.encrypt(b"hunter2hunter2");
        let b = c.encrypt(b"hunter2hunter2");
        assert_ne!(a, b, "fresh nonce every time");
        assert!(!a.windows(7).any(|w| w == b"hunter2"));
    }

    #[test]
    fn wrong_key_fails_with_a_clear_error() {
        let sealed = Cipher::new([1; 32]).encrypt(b"secret");
        let err = Cipher::new([2; 32])
            .decrypt(&sealed, "data source options")
            .unwrap_err();
        assert!(matches!(err, StoreError::Decrypt("data source options")));
        assert!(err.to_string().contains("secret key differs"), "{err}");
    }

    #[test]
    fn tampered_or_truncated_data_fails() {
        let c = Cipher::new([1; 32]);
        let mut sealed = c.encrypt(b"secret");
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c.decrypt(&sealed, "x").is_err());
        assert!(c.decrypt(&sealed[..10], "x").is_err());
        assert!(c.decrypt(b"", "x").is_err());
    }
}
