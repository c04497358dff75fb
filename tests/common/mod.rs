//! What every suite shares: test databases, the server as a child process, GIFs to post.
//! Each suite declares `mod common;` (`#[path = "../common/mod.rs"]` from a folder) and uses
//! what it needs.

// Each suite uses some of these.
#![allow(dead_code)]

pub mod database;
pub mod gifs;
pub mod process;
