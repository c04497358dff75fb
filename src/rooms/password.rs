//! Room passwords: argon2id hashes, computed and checked off the async runtime because each
//! takes tens of milliseconds of CPU (and ~19 MiB) on purpose; and only with a `turn` (see
//! `limits`), so a crowd of guesses queues instead of taking every core and hundreds of MiB.

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use tokio::sync::OwnedSemaphorePermit;

use crate::{domain::RoomPassword, error::ApiError};

pub async fn hash(password: RoomPassword, turn: OwnedSemaphorePermit) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|err| anyhow::anyhow!("hashing a room password: {err}"))
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(ApiError::Internal)
}

/// The comparison happens inside argon2's verifier, in constant time.
pub async fn matches(password: RoomPassword, hash: String, turn: OwnedSemaphorePermit) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let _turn = turn;
        let hash = PasswordHash::new(&hash).map_err(|err| anyhow::anyhow!("stored hash is unreadable: {err}"))?;
        Ok(Argon2::default().verify_password(password.expose().as_bytes(), &hash).is_ok())
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(ApiError::Internal)
}
