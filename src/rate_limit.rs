//! Write and join limits: a token bucket per session and one per client address, so one bad
//! client cannot flood a room or the database. Refusals are 429 with `Retry-After`. In memory
//! and per process: behind a balancer each instance enforces its own share, which bounds
//! abuse without a shared store on the hot path.

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{demo::client_address, identity::Identity, state::AppState};

/// A bucket's shape: `burst` requests at once, refilled at `per_second`.
#[derive(Clone, Copy, Debug)]
pub struct Rate {
    pub burst: f64,
    pub per_second: f64,
}

struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Buckets by key; idle ones are forgotten so the map cannot grow without bound.
struct Buckets<K> {
    rate: Rate,
    map: HashMap<K, Bucket>,
    swept: Instant,
}

impl<K: std::hash::Hash + Eq> Buckets<K> {
    fn new(rate: Rate) -> Self {
        Self { rate, map: HashMap::new(), swept: Instant::now() }
    }

    /// Takes a token, or says how long until one is available.
    fn take(&mut self, key: K, now: Instant) -> Result<(), Duration> {
        let rate = self.rate;
        if now.duration_since(self.swept) > Duration::from_secs(60) {
            // A bucket idle long enough to be full again holds no information.
            let full_after = rate.burst / rate.per_second;
            self.map.retain(|_, b| now.duration_since(b.updated).as_secs_f64() < full_after);
            self.swept = now;
        }
        let bucket = self.map.entry(key).or_insert(Bucket { tokens: rate.burst, updated: now });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * rate.per_second;
        bucket.tokens = (bucket.tokens + refill).min(rate.burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / rate.per_second))
        }
    }
}

/// One bucket per session and one per client address, behind one lock.
type SessionAndAddressBuckets = (Buckets<crate::domain::UserId>, Buckets<IpAddr>);

#[derive(Clone)]
pub struct RateLimits {
    inner: Option<Arc<Mutex<SessionAndAddressBuckets>>>,
}

impl RateLimits {
    /// `None` for either rate turns limiting off (benchmarks, tests).
    pub fn new(per_session: Option<Rate>, per_address: Option<Rate>) -> Self {
        match (per_session, per_address) {
            (Some(session), Some(address)) => {
                Self { inner: Some(Arc::new(Mutex::new((Buckets::new(session), Buckets::new(address))))) }
            }
            _ => Self { inner: None },
        }
    }

    /// Takes one write from the user's and the address's buckets, or says how long to wait.
    pub fn check(&self, user: crate::domain::UserId, address: IpAddr) -> Result<(), Duration> {
        let Some(inner) = &self.inner else { return Ok(()) };
        let now = Instant::now();
        let mut buckets = inner.lock().unwrap();
        buckets.1.take(address, now)?;
        buckets.0.take(user, now)
    }
}

/// Middleware on every write (POST, PATCH, DELETE): joins, chats, uploads, room creation.
pub async fn limit_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (Some(identity), Some(ConnectInfo(peer))) =
        (request.extensions().get::<Identity>(), request.extensions().get::<ConnectInfo<SocketAddr>>())
    else {
        return next.run(request).await;
    };
    let address = client_address(*peer, request.headers(), state.config.trust_proxy);
    let address = address.parse().unwrap_or(peer.ip());
    match state.rate_limits.check(identity.id, address) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            state.metrics.rejected("rate_limited");
            let seconds = wait.as_secs().max(1).to_string();
            let body = serde_json::json!({
                "error": "rate_limited",
                "message": format!("too many requests; try again in {seconds} s"),
            });
            let mut response = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
            if let Ok(value) = HeaderValue::from_str(&seconds) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refills() {
        let mut buckets = Buckets::new(Rate { burst: 3.0, per_second: 2.0 });
        let start = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take("k", start).is_ok());
        }
        let wait = buckets.take("k", start).unwrap_err();
        assert!(wait <= Duration::from_millis(500), "{wait:?}");
        assert!(buckets.take("k", start + Duration::from_millis(600)).is_ok());
        assert!(buckets.take("other", start).is_ok(), "keys are separate");
    }
}
