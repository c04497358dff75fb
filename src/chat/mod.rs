//! Chat messages: history and posting text.

pub mod deliver;
mod handlers;
pub mod post;

use axum::{routing::get, Router};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/rooms/{id}/messages", get(handlers::list_messages).post(handlers::create_message))
}
