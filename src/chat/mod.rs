//! Chat messages: history, posting text, and who is typing.

pub mod deliver;
mod handlers;
pub mod post;
pub mod typing;

use axum::{
    routing::{get, post},
    Router,
};

use crate::state::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/rooms/{id}/messages", get(handlers::list_messages).post(handlers::create_message))
        .route("/api/rooms/{id}/typing", post(typing::announce))
}
