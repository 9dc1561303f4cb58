//! `GET /api/v1/presentities/{uri}/history`: a presentity's recent
//! changes, newest first (`crate::history` keeps them; the served OpenAPI
//! document describes the answer). Read-only and unauthenticated, like
//! `/metrics`; a URI that is no SIP or tel URI is 400 naming `uri`.
//!
//! ```json
//! {"presentity": "sip:alice@example.com", "changes": [
//!   {"at_ms": 1764756000123, "availability": 6500, "class": "Busy",
//!    "activity": "on-the-phone", "source": "pidf"}]}
//! ```

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;

/// The routes, relative to `/api/v1/presentities`; the OpenAPI test
/// checks that the document describes each.
pub(super) const ROUTES: [&str; 1] = ["/{uri}/history"];

/// A presentity's key from a path's URI, or 400 naming `uri`.
pub(super) fn presentity_key(uri: &str) -> Result<String, ApiError> {
    sip::Uri::parse_str(uri.trim())
        .map(|u| u.aor())
        .map_err(|e| ApiError::bad_request("uri", format!("not a SIP or tel URI ({e}): {uri}")))
}

/// The changes of the presentity of the path.
pub(super) async fn history(
    State(state): State<AppState>,
    Path(uri): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let presentity = presentity_key(&uri)?;
    let changes = state.recent.history.of(&presentity);
    Ok(Json(
        json!({ "presentity": presentity, "changes": changes }),
    ))
}
