//! What every suite shares: test databases, the server as a child process, a browser-like
//! client and its room streams, an SSE reader, GIFs to post. Each suite declares `mod common;`
//! (`#[path = "../common/mod.rs"]` from a folder) and uses what it needs.

// Each suite uses some of these.
#![allow(dead_code)]

pub mod browser;
pub mod database;
pub mod gifs;
pub mod process;
pub mod sse;
pub mod stream;

/// Longest any single wait may take (a response, a stream event, a start-up): a stuck test
/// fails instead of hanging.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(15);
