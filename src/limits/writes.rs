//! Write limits as middleware: a token bucket per session and one per client address on every
//! POST, PATCH and DELETE (joins, chats, uploads, room creation), so one client cannot flood a
//! room or the database. Refusals are 429 `rate_limited` with `Retry-After`.

use axum::{
    extract::{Request, State},
    http::Method,
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{domain::ClientAddress, identity::Identity, state::AppState};

pub async fn limit_writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let (Some(identity), Some(address)) =
        (request.extensions().get::<Identity>(), request.extensions().get::<ClientAddress>())
    else {
        return next.run(request).await;
    };
    match state.limits.write(identity.id, *address) {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
