//! GIF uploads and serving. Uploads are checked to really be GIFs (`gif_check`), stored in the
//! database by content hash, and served under their room, with caching headers, from any
//! instance. A GIF no message carries any more is deleted by a periodic sweep.

mod gif_check;
mod handlers;

use axum::{
    routing::{get, post},
    Router,
};

pub use gif_check::{inspect, GifLimits, GifRejection};

use crate::state::AppState;

pub fn router(max_upload_bytes: usize) -> Router<AppState> {
    let uploads = Router::new().route("/api/rooms/{id}/gifs", post(handlers::create_gif));
    // Room for the multipart framing around the file; the file itself is counted exactly in
    // the handler.
    crate::web::limit_body(uploads, max_upload_bytes + 64 * 1024)
        .route("/api/rooms/{id}/gifs/{file}", get(handlers::get_gif))
}
