//! Service contacts over HTTP: the theme images the contact cards point
//! at, and the occupancy feed.
//!
//! - `GET /service/themes/{theme}/{hash}.jpg` serves a theme's
//!   `presence_avatar_image.jpg` while `{hash}` is its current SHA-256 (an
//!   old URL is 404: its card has been replaced with one naming the new
//!   hash). The URL never changes for one image, so it may be cached for
//!   good.
//! - `PUT /api/v1/rooms/{alias}/occupancy` with `{"participants": N}` and
//!   `Authorization: Bearer TOKEN` sets a room's participant count: the
//!   room shows Busy "In a meeting (N)" while N > 0 and Available at 0.
//!   `{alias}` is any alias of the room (`meet.alice@vc.example.com`).
//!   The token is checked against `service.occupancy_token_sha256`: only
//!   its hash is configured, and the hashes are compared in constant
//!   time. 401 for a missing or wrong token, 403 when the feed is off
//!   (no token configured), 404 for an alias that is no room, 400 naming
//!   the field for a bad body.

use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::auth;
use super::error::{parse_json, ApiError};
use super::AppState;
use crate::control::Control;

/// Most participants a room may report: far above any real room, low
/// enough to catch a feed sending garbage.
const MAX_PARTICIPANTS: u32 = 100_000;

/// Serves a theme image by name and current hash.
pub(super) async fn photo(
    State(state): State<AppState>,
    Path((theme, file)): Path<(String, String)>,
) -> Response {
    let config = state.live.load();
    let image = file
        .strip_suffix(".jpg")
        .and_then(|hash| config.service.directory.image(&theme, hash));
    match image {
        Some(image) => (
            [
                (CONTENT_TYPE, "image/jpeg"),
                (CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            Bytes::copy_from_slice(image.bytes()),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such image\n").into_response(),
    }
}

/// The body of an occupancy PUT.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OccupancyBody {
    participants: u32,
}

/// Sets a room's participant count.
pub(super) async fn occupancy(
    State(state): State<AppState>,
    Path(alias): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match set_occupancy(&state, &alias, &headers, &body).await {
        Ok(response) => response,
        Err(e) => auth::into_response(e),
    }
}

async fn set_occupancy(
    state: &AppState,
    alias: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let config = state.live.load_full();
    let directory = &config.service.directory;
    let Some(expected) = directory.occupancy_token() else {
        return Err(ApiError::server(
            StatusCode::FORBIDDEN,
            "the occupancy feed is off (service.occupancy_token_sha256 is not set)",
        ));
    };
    let authorized =
        auth::presented(headers).is_some_and(|hash| bool::from(hash[..].ct_eq(&expected[..])));
    if !authorized {
        return Err(auth::unauthorized());
    }
    let request: OccupancyBody = parse_json(body)?;
    if request.participants > MAX_PARTICIPANTS {
        return Err(ApiError::bad_request(
            "participants",
            format!("{} is more than {MAX_PARTICIPANTS}", request.participants),
        ));
    }
    let Some(room) = directory.room_id(alias) else {
        return Err(ApiError {
            status: StatusCode::NOT_FOUND,
            error: "no room has this alias".to_owned(),
            field: Some("alias".to_owned()),
        });
    };
    let (done, applied) = tokio::sync::oneshot::channel();
    let control = Control::Occupancy {
        room: room.to_string(),
        participants: request.participants,
        done,
    };
    if state.control.try_send(control).is_err() {
        return Err(ApiError::core_busy());
    }
    applied.await.map_err(|_| ApiError::core_stopped())?;
    let answer = serde_json::json!({ "room": &*room, "participants": request.participants });
    Ok((StatusCode::OK, Json(answer)).into_response())
}
