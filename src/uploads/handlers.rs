use axum::{
    extract::{multipart::MultipartRejection, Multipart, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::BytesMut;

use super::gif_check::{self, GifLimits, GifRejection};
use crate::{
    domain::{GifId, Invalid, Message, NewMessage, NewMessageBody, StoredGif},
    error::ApiError,
    identity::Identity,
    rooms::{access, RoomPath},
    state::AppState,
};

/// Decoding budget: 4096×4096 pixels × 16 frames' worth.
const MAX_TOTAL_PIXELS: u64 = 1 << 28;

#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn create_gif(
    State(state): State<AppState>,
    identity: Identity,
    RoomPath(room): RoomPath,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let mut multipart = multipart.map_err(|_| ApiError::UnsupportedMediaType {
        code: "unsupported_media_type",
        message: "send the GIF as multipart/form-data in a field named `gif`".into(),
    })?;
    let bytes = read_gif_field(&mut multipart, state.config.max_upload_bytes).await?;
    let limits = GifLimits {
        max_dimension: state.config.max_gif_dimension,
        max_frames: state.config.max_gif_frames,
        max_total_pixels: MAX_TOTAL_PIXELS,
    };
    let checked = bytes.clone();
    let info = tokio::task::spawn_blocking(move || gif_check::inspect(&checked, limits))
        .await
        .map_err(|err| ApiError::Internal(err.into()))?
        .map_err(|rejection| match rejection {
            GifRejection::NotAGif => ApiError::UnsupportedMediaType {
                code: "not_a_gif",
                message: "the file is not a GIF (its first bytes are not GIF87a or GIF89a)".into(),
            },
            other => ApiError::Invalid(Invalid::new("invalid_gif", other.to_string())),
        })?;
    access::ensure_seated(&state, room, identity.id).await?;
    let gif = StoredGif { id: GifId::of(&bytes), bytes, width: info.width, height: info.height, frames: info.frames };
    let message = NewMessage { room, author: identity.user(), body: NewMessageBody::Gif(gif) };
    let stored = crate::chat::deliver::append_and_publish(&state, message).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Reads the `gif` field, counting bytes as they arrive; other fields are skipped.
async fn read_gif_field(multipart: &mut Multipart, max_bytes: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError::TooLarge(format!("the GIF is larger than {max_bytes} bytes"));
    let malformed = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            ApiError::BadRequest { code: "invalid_multipart", message: err.body_text() }
        }
    };
    while let Some(mut field) = multipart.next_field().await.map_err(malformed)? {
        if field.name() != Some("gif") {
            continue;
        }
        let mut bytes = BytesMut::new();
        while let Some(chunk) = field.chunk().await.map_err(malformed)? {
            if bytes.len() + chunk.len() > max_bytes {
                // Read the (bounded) rest before answering: a server that stops reading
                // mid-body makes most clients see a reset connection instead of our 413.
                while let Ok(Some(_)) = field.chunk().await {}
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes.freeze());
    }
    Err(ApiError::Invalid(Invalid::new("missing_file", "the form has no `gif` file field")))
}

pub async fn get_gif(
    State(state): State<AppState>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound { code: "not_found", message: "there is no such GIF".into() };
    let id = file.strip_suffix(".gif").and_then(GifId::parse).ok_or_else(not_found)?;
    let etag = format!("\"{}\"", id.as_str());
    let cache_headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable")),
        (header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header value")),
    ];
    // Content never changes for a given hash, so a matching ETag needs no database trip.
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers).into_response());
    }
    let bytes = state.store.gif(&id).await?.ok_or_else(not_found)?;
    Ok((
        cache_headers,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/gif")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; sandbox")),
        ],
        bytes,
    )
        .into_response())
}
