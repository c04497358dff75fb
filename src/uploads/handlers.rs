use axum::{
    extract::{multipart::MultipartRejection, Multipart, Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::BytesMut;

use super::gif_check::{self, GifLimits, GifRejection};
use crate::{
    domain::{ClientAddress, GifId, Invalid, Message, NewMessage, NewMessageBody, StoredGif},
    error::{body_failure, ApiError},
    identity::{Identity, Session},
    rooms::{access, RoomPath},
    state::AppState,
};

/// More than the boundaries and part headers around one file take.
const MULTIPART_FRAMING: usize = 1024;

/// Everything cheap comes first, so an upload that will be refused costs next to nothing: the
/// session (401), the write limit (429, middleware), the room and the seat (404/403), the
/// address's upload quota (429) — all before a byte of the body is read. Then the body,
/// bounded (413), and only then the decoding, a few at a time (`limits`), in bounded memory.
#[tracing::instrument(skip_all, fields(room.id = %room, user.id = %identity.id))]
pub async fn create_gif(
    State(state): State<AppState>,
    Session(identity): Session,
    address: ClientAddress,
    RoomPath(room): RoomPath,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Message>), ApiError> {
    let mut multipart = multipart.map_err(|_| ApiError::UnsupportedMediaType {
        code: "unsupported_media_type",
        message: "send the GIF as multipart/form-data in a field named `gif`".into(),
    })?;
    // The declared length, less what the multipart framing around the file may take.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .map_or(0, |length| length.saturating_sub(MULTIPART_FRAMING).min(state.config.max_upload_bytes));
    let admitted = match access::ensure_seated(&state, room, identity.id).await {
        Ok(()) => state.limits.may_upload(address, declared),
        Err(refused) => Err(refused),
    };
    if let Err(refused) = admitted {
        // Read (and drop) the bounded body before answering: a server that answers mid-body
        // makes most clients see a reset connection instead of the refusal.
        drain(&mut multipart).await;
        return Err(refused);
    }
    let bytes = read_gif_field(&mut multipart, state.config.max_upload_bytes).await?;
    state.limits.uploaded(address, bytes.len())?;
    let limits = GifLimits {
        max_dimension: state.config.max_gif_dimension,
        max_frames: state.config.max_gif_frames,
        max_total_pixels: state.config.max_gif_pixels,
    };
    let turn = match state.limits.gif_check().await {
        Ok(turn) => turn,
        Err(busy) => {
            state.limits.upload_not_checked(address, bytes.len());
            return Err(busy);
        }
    };
    let checked = bytes.clone();
    let info = tokio::task::spawn_blocking(move || {
        let _turn = turn;
        gif_check::inspect(&checked, limits)
    })
    .await
    .map_err(|err| ApiError::Internal(err.into()))?
    .map_err(|rejection| match rejection {
        GifRejection::NotAGif => ApiError::UnsupportedMediaType {
            code: "not_a_gif",
            message: "the file is not a GIF (its first bytes are not GIF87a or GIF89a)".into(),
        },
        other => ApiError::Invalid(Invalid::new("invalid_gif", other.to_string())),
    })?;
    let gif = StoredGif { id: GifId::of(&bytes), bytes, width: info.width, height: info.height, frames: info.frames };
    // The seat is checked again as the message is stored (a kick may have come meanwhile).
    let message = NewMessage { room, author: identity.user(), body: NewMessageBody::Gif(gif) };
    let stored = crate::chat::post::append_and_publish(&state, message).await?;
    Ok((StatusCode::CREATED, Json(stored)))
}

/// Reads the rest of the body, keeping nothing.
async fn drain(multipart: &mut Multipart) {
    while let Ok(Some(mut field)) = multipart.next_field().await {
        while let Ok(Some(_)) = field.chunk().await {}
    }
}

/// Reads the `gif` field, counting bytes as they arrive; other fields are skipped.
async fn read_gif_field(multipart: &mut Multipart, max_bytes: usize) -> Result<bytes::Bytes, ApiError> {
    let too_large = || ApiError::TooLarge(format!("the GIF is larger than {max_bytes} bytes"));
    let malformed = |err: axum::extract::multipart::MultipartError| {
        if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large()
        } else {
            body_failure(&err)
                .unwrap_or_else(|| ApiError::BadRequest { code: "invalid_multipart", message: err.body_text() })
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

/// `GET /api/rooms/{id}/gifs/{sha256}.gif`: a GIF posted in the room, to whoever may read the
/// room. Under the room, so a locked room's GIFs stay in it, a URL tells nothing about other
/// rooms, and a GIF goes with the last message that carries it.
pub async fn get_gif(
    State(state): State<AppState>,
    identity: Identity,
    address: ClientAddress,
    Path((room, file)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let not_found = || ApiError::NotFound { code: "not_found", message: "there is no such GIF in this room".into() };
    let room = crate::domain::RoomId::parse(&room).ok_or_else(ApiError::room_not_found)?;
    let id = file.strip_suffix(".gif").and_then(GifId::parse).ok_or_else(not_found)?;
    access::ensure_can_read(&state, room, identity.id, address).await?;
    access::ensure_not_barred(&state, room, identity.id, address).await?;
    let etag = format!("\"{}\"", id.as_str());
    let cache_headers = [
        // `private`: a shared cache must not hand a locked room's GIF to someone else.
        (header::CACHE_CONTROL, HeaderValue::from_static("private, max-age=31536000, immutable")),
        (header::ETAG, HeaderValue::from_str(&etag).expect("hex is a valid header value")),
    ];
    let bytes = state.store.gif(room, &id).await?.ok_or_else(not_found)?;
    if headers.get(header::IF_NONE_MATCH).is_some_and(|v| v.as_bytes() == etag.as_bytes()) {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers).into_response());
    }
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
