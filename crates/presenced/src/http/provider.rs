//! The presence provider over HTTP.
//!
//! - `GET /api/v1/provider/presentities/{uri}`: which source serves the
//!   presentity and why (seed 004's reasoning, `rules::sources`), and, for
//!   the upstream source, where its subscription stands right now (the
//!   SIP core's provider). Read-only and unauthenticated like `/metrics`,
//!   on the same operator listener; `presenced explain URI` asks it.
//!   A URI that does not parse is 400 naming `uri`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState};
use crate::control::{Control, UpstreamView};

/// The answer of `GET /api/v1/provider/presentities/{uri}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresentityReport {
    /// The presentity's key (address of record).
    pub presentity: String,
    /// Whether the provider covers it (`[provider] domains`).
    pub covered: bool,
    /// `attendant`, `pstn`, `upstream`, or none.
    pub source: Option<String>,
    /// The reasoning, one line per step, indented by depth.
    pub explanation: Vec<String>,
    /// The upstream subscription, when the source is the upstream and the
    /// provider runs (`[provider] upstream` is set).
    pub upstream: Option<UpstreamView>,
}

/// `GET /api/v1/provider/presentities/{uri}`.
pub(super) async fn presentity(
    State(state): State<AppState>,
    Path(uri): Path<String>,
) -> Result<Json<PresentityReport>, ApiError> {
    let parsed = sip::Uri::parse_str(&uri)
        .map_err(|e| ApiError::bad_request("uri", format!("not a URI ({e}): {uri}")))?;
    let config = state.live.load_full();
    let settings = &config.provider;
    let key = parsed.aor();
    let covered = settings.covers(&key);
    let choice = settings.sources.choose(&uri);
    let mut explanation: Vec<String> = choice.to_string().lines().map(str::to_owned).collect();
    if !covered {
        explanation.push(format!(
            "- {key} is outside [provider] domains: the provider does not serve it"
        ));
    }
    let source = choice.source.filter(|_| covered);
    let upstream = match source {
        Some(rules::sources::SourceKind::Upstream) => {
            let (done, answer) = tokio::sync::oneshot::channel();
            let control = Control::UpstreamStatus {
                presentity: parsed,
                done,
            };
            if state.control.try_send(control).is_err() {
                return Err(ApiError::core_busy());
            }
            answer.await.map_err(|_| ApiError::core_stopped())?
        }
        _ => None,
    };
    Ok(Json(PresentityReport {
        presentity: key,
        covered,
        source: source.map(|s| s.as_str().to_owned()),
        explanation,
        upstream,
    }))
}
