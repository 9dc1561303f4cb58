//! Bearer tokens of the HTTP API's feeds (the occupancy feed, the
//! contact centers of the sync engine): only a token's SHA-256 is
//! configured, the presented token is hashed and compared in constant
//! time, and a refusal is 401 with a `WWW-Authenticate` challenge.

use axum::http::header::{AUTHORIZATION, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::error::ApiError;

/// SHA-256 of the request's `Authorization: Bearer TOKEN`, if it has one.
pub fn presented(headers: &HeaderMap) -> Option<[u8; 32]> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(|token| Sha256::digest(token.as_bytes()).into())
}

/// The 401 for a missing or wrong token.
pub fn unauthorized() -> ApiError {
    ApiError {
        status: StatusCode::UNAUTHORIZED,
        error: "a valid `Authorization: Bearer TOKEN` is needed".to_owned(),
        field: Some("Authorization".to_owned()),
    }
}

/// An error as a response, with the Bearer challenge on a 401.
pub fn into_response(e: ApiError) -> Response {
    let challenge = e.status == StatusCode::UNAUTHORIZED;
    let mut response = e.into_response();
    if challenge {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            "Bearer realm=\"presenced\"".parse().expect("static"),
        );
    }
    response
}
