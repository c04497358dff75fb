//! Faults on the real server binary, started as a process the test can signal and measure:
//! SIGTERM in the middle of a busy conversation (nothing acknowledged is lost, streams end with
//! a retry hint, the restarted server resumes every subscriber exactly), and a reader that
//! stops reading (its memory stays bounded, a stalled connection is closed, and the resume
//! misses nothing).
//!
//! The PostgreSQL variants need the server at `TEST_DATABASE_URL` (default
//! postgres://root@127.0.0.1:5432/test), as the rest of the suite does.

mod abuse;
#[path = "../common/mod.rs"]
mod common;
mod harness;

mod shutdown;
mod stuck_reader;
