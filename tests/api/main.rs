//! The integration suite: every test starts the real app on a random port, on a fresh
//! database, and talks to it over HTTP and SSE like a browser or curl would. Each scenario
//! runs on both backends (`sqlite::…` and `postgres::…`). Set `TEST_LOG=1` to see server logs.

#[path = "../common/mod.rs"]
mod common;
mod helpers;

mod abuse;
mod assets;
mod bad_input;
mod demos;
mod direct_writes;
mod gifs;
mod identity;
mod leave;
mod meta;
mod outage;
mod restart;
mod room_features;
mod rooms;
mod scale;
mod streams;
mod tls;
mod transports;
mod typing;
