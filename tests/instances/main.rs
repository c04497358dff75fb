//! Several real `gif-chat` processes on one PostgreSQL database, two of them behind Debian's
//! nginx, deployed as `docs/deploy.md` describes: chats cross instances through the proxy over
//! SSE and WebSocket, a stream resumes on another instance, presence survives `kill -9` of an
//! instance, seats stay exact under concurrent joins on every instance, nothing is lost when
//! the LISTEN connections are cut, and (printed, not asserted) how long a chat takes to reach
//! another instance: `cargo test --test instances reports_cross_instance_latency -- --nocapture`.
//! `cluster` starts the processes, `delivery` and `presence` hold the scenarios.
//!
//! Needs PostgreSQL on 127.0.0.1:5432 (`TEST_DATABASE_URL` overrides) and `/usr/sbin/nginx`;
//! `.ci/run` installs both. Every test makes its own database and cluster, one at a time.
//! When a test fails, the instances' and nginx's logs are printed and kept.

mod cluster;
#[path = "../common/mod.rs"]
mod common;
mod delivery;
mod presence;

use std::time::Duration;

use common::browser::Browser;

/// Longest wait for a killed instance's member to be reaped: PRESENCE_LEASE (3 s) plus slack
/// for a loaded machine. It bounds the wait; nothing asserts how long it took.
const PRESENCE_WAIT: Duration = Duration::from_secs(20);
/// Shared by every instance: each must accept the cookies the others issued.
const COOKIE_SECRET: &str = "multi-instance-tests-cookie-secret-0123456789";

/// Clusters are several processes each; two at once on a two-core machine would only make
/// every test slower and its waits longer. (A test that panics releases it all the same.)
static ONE_CLUSTER_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A new user who already holds a session, as the front-end does (it asks `/api/me` first):
/// sealed here with the instances' shared secret, so that every connection through nginx is
/// one of the test's own and the round-robin placement stays predictable. Point it at an
/// instance (or the proxy) with `at`.
fn user() -> Browser {
    let identity = gif_chat::identity::Identity { id: gif_chat::domain::UserId::random(), name: None };
    let sealed = gif_chat::identity::SessionKey::new(COOKIE_SECRET.as_bytes()).seal(&identity);
    Browser::with_cookie("http://127.0.0.1", &format!("{}={sealed}", gif_chat::identity::COOKIE_NAME))
}
