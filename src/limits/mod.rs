//! What one client may cost the server. Identities are free (anyone can drop a cookie), so
//! every limit that counts per session also counts per client address; and the expensive
//! operations (argon2, GIF decoding) run a few at a time whoever asks. In memory and per
//! process: behind a balancer each instance enforces its own share, which bounds abuse without
//! a shared store on the hot path.

mod bucket;
mod slots;

use std::{sync::Arc, time::Duration};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub use bucket::{Buckets, Rate};
pub use slots::{StreamSlot, StreamSlots};

use crate::{
    config::Config,
    domain::{ClientAddress, RoomId, UserId},
    error::ApiError,
    metrics::Metrics,
};

/// How long a request waits for an argon2 or GIF-decoding slot before it is told to come back.
const EXPENSIVE_WAIT: Duration = Duration::from_secs(10);
/// At most one "is typing" per member and room this often.
pub const TYPING_EVERY: Duration = Duration::from_secs(2);
/// argon2id with the default parameters takes ~19 MiB and ~50 ms of one core per hash.
const CONCURRENT_HASHES: usize = 2;
/// Decoding a worst-case GIF takes up to a second of one core.
const CONCURRENT_GIF_CHECKS: usize = 2;

pub struct Limits {
    writes_per_session: Buckets<UserId>,
    writes_per_address: Buckets<ClientAddress>,
    new_sessions: Buckets<ClientAddress>,
    password_failures: Buckets<(RoomId, ClientAddress)>,
    upload_bytes: Buckets<ClientAddress>,
    /// One "is typing" per member and room every [`TYPING_EVERY`]: the indicator lasts longer
    /// than that, so more would only multiply deliveries.
    typing: Buckets<(RoomId, UserId)>,
    pub streams: StreamSlots,
    hashing: Arc<Semaphore>,
    gif_checks: Arc<Semaphore>,
    /// Where turns at the expensive work are counted.
    metrics: Metrics,
}

impl Limits {
    pub fn new(config: &Config, metrics: Metrics) -> Self {
        let session = Rate::new(f64::from(config.rate_limit_burst), config.rate_limit_per_second);
        let factor = config.rate_limit_address_factor.max(1.0);
        let address = session.map(|rate| Rate { burst: rate.burst * factor, per_second: rate.per_second * factor });
        let failures = f64::from(config.password_failures_per_minute);
        let quota = config.upload_quota_per_hour as f64;
        Self {
            writes_per_session: Buckets::new(session),
            writes_per_address: Buckets::new(address),
            new_sessions: Buckets::new(Rate::new(f64::from(config.new_session_burst), config.new_sessions_per_second)),
            password_failures: Buckets::new(Rate::new(failures, failures / 60.0)),
            upload_bytes: Buckets::new(Rate::new(quota, quota / 3600.0)),
            typing: Buckets::new(Rate::new(1.0, 1.0 / TYPING_EVERY.as_secs_f64())),
            streams: StreamSlots::new(config.max_streams_per_address),
            hashing: Arc::new(Semaphore::new(CONCURRENT_HASHES)),
            gif_checks: Arc::new(Semaphore::new(CONCURRENT_GIF_CHECKS)),
            metrics,
        }
    }

    /// One write (a post, a join, an upload, a new room) by `user` from `address`. The session
    /// pays first: a session refused for flooding must not use up the budget of everyone else
    /// behind its address.
    pub fn write(&self, user: UserId, address: ClientAddress) -> Result<(), ApiError> {
        let throttled = |wait| ApiError::throttled("rate_limited", "too many requests", wait);
        self.writes_per_session.take(user, 1.0).map_err(throttled)?;
        self.writes_per_address.take(address, 1.0).map_err(|wait| {
            self.writes_per_session.refund(user, 1.0);
            throttled(wait)
        })
    }

    /// Whether `user`'s "is typing" in `room` goes out now; false while the last one is still
    /// fresh (the client is told nothing: it is still typing, and others still see it).
    pub fn typing(&self, room: RoomId, user: UserId) -> bool {
        self.typing.take((room, user), 1.0).is_ok()
    }

    /// One new session (anonymous identity) for `address`.
    pub fn new_session(&self, address: ClientAddress) -> Result<(), ApiError> {
        self.new_sessions
            .take(address, 1.0)
            .map_err(|wait| ApiError::throttled("too_many_sessions", "too many new sessions from your address", wait))
    }

    /// One more open event stream from `address`.
    pub fn stream(&self, address: ClientAddress) -> Result<StreamSlot, ApiError> {
        self.streams.acquire(address).ok_or_else(|| ApiError::TooManyRequests {
            code: "too_many_connections",
            message: format!("your address already has {} open event streams; close some first", self.streams.max()),
        })
    }

    /// A guess at this room's password from `address`, counted as wrong until it proves
    /// right: taken before any hashing, so guesses sent all at once are limited as well as
    /// guesses sent one after another.
    pub fn password_guess(&self, room: RoomId, address: ClientAddress) -> Result<(), ApiError> {
        self.password_failures.take((room, address), 1.0).map_err(too_many_attempts)
    }

    /// The guess was right: it does not count against the address.
    pub fn password_was_right(&self, room: RoomId, address: ClientAddress) {
        self.password_failures.refund((room, address), 1.0);
    }

    /// Whether `address` has quota left for an upload of about `bytes`, before a byte of it
    /// is read.
    pub fn may_upload(&self, address: ClientAddress, bytes: usize) -> Result<(), ApiError> {
        self.upload_bytes.check(address, bytes.max(1) as f64).map_err(upload_quota)
    }

    /// Counts `bytes` uploaded from `address` against its quota, or refuses them.
    pub fn uploaded(&self, address: ClientAddress, bytes: usize) -> Result<(), ApiError> {
        self.upload_bytes.take(address, bytes as f64).map_err(upload_quota)
    }

    /// An upload the server did not check after all (it was busy): its bytes do not count.
    pub fn upload_not_checked(&self, address: ClientAddress, bytes: usize) {
        self.upload_bytes.refund(address, bytes as f64);
    }

    /// A turn at hashing a password.
    pub async fn hashing(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let turn = turn(&self.hashing).await?;
        self.metrics.password_hashed();
        Ok(turn)
    }

    /// A turn at decoding a GIF.
    pub async fn gif_check(&self) -> Result<OwnedSemaphorePermit, ApiError> {
        let turn = turn(&self.gif_checks).await?;
        self.metrics.gif_checked();
        Ok(turn)
    }
}

fn upload_quota(wait: Duration) -> ApiError {
    ApiError::throttled("upload_quota", "your address has used its upload quota", wait)
}

fn too_many_attempts(wait: Duration) -> ApiError {
    ApiError::throttled("too_many_attempts", "too many wrong passwords for this room from your address", wait)
}

async fn turn(semaphore: &Arc<Semaphore>) -> Result<OwnedSemaphorePermit, ApiError> {
    match tokio::time::timeout(EXPENSIVE_WAIT, semaphore.clone().acquire_owned()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => Err(ApiError::Busy),
    }
}
