//! Password hashes: argon2id for new passwords; Redash's sha512-crypt (`$6$rounds=656000$...`)
//! still verifies, so users migrated from Redash keep their passwords.
//!
//! Hashing is deliberately slow, so the async wrappers run it on the blocking pool.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha_crypt::ShaCrypt;

/// Hashes `password` with argon2id and a random salt, in PHC string form.
///
/// # Errors
/// Only when the system random source fails.
pub fn hash(password: &str) -> Result<String, String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| e.to_string())?;
    Ok(hash.to_string())
}

/// Whether `password` matches `stored` (argon2 PHC or sha512-crypt). A malformed hash matches
/// nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    if stored.starts_with("$6$") {
        return ShaCrypt::default()
            .verify_password(password.as_bytes(), stored)
            .is_ok();
    }
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// [`hash`] on the blocking pool.
///
/// # Errors
/// As [`hash`], or when the blocking pool is gone.
pub async fn hash_async(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| e.to_string())?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_hashes_verify_and_reject() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong", &h));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn redash_sha512_crypt_hashes_verify() {
        // The reference vector of the SHA-crypt specification.
        let h = "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1";
        assert!(verify("Hello world!", h));
        assert!(!verify("Hello world", h));
    }
}
