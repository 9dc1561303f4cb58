//! The presence provider over HTTP.
//!
//! - `GET /api/v1/provider/presentities/{uri}`: which source serves the
//!   presentity and why (seed 004's reasoning, `rules::sources`), and, for
//!   the upstream source, where its subscription stands right now (the
//!   SIP core's provider). Read-only and unauthenticated like `/metrics`,
//!   on the same operator listener; `presenced explain URI` asks it.
//!   A URI that does not parse is 400 naming `uri`.
//! - `PUT /api/v1/provider/attendants/{uri}` with `{"availability": 15500,
//!   "activity": "Out to lunch"}`: what an attendant client sets for a
//!   presentity of the attendant source; `DELETE`: unknown again.
//! - `PUT /api/v1/provider/lines/{uri}` with `{"call": "connected"}`
//!   (`idle`, `ringing`, `connected`, `held`): a PSTN line's call state
//!   from the contact center; `DELETE`: unknown again.
//! - `GET /api/v1/provider/presentities/{uri}/events`: a consumer over the
//!   API: an event stream (SSE) of what the presentity is shown, first
//!   now, then at each change; while it is open it counts as a consumer,
//!   so the provider holds the upstream subscription for it like for a
//!   SIP watcher.
//!
//! - `GET /api/v1/provider/openapi.json`: the OpenAPI document that
//!   describes these routes and the sync API's (the same document as
//!   `/api/v1/sync/openapi.json`).
//!
//! The writes and the event stream need an integration's bearer token (`[sync] tokens`, the
//! same per-integration tokens as the sync API): 401 without. A URI whose
//! source is another one is 409 naming `uri`, with the source that
//! serves it; bad values are 400 naming the field.

use std::convert::Infallible;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::Stream;
use presence::availability::{Availability, CustomTexts, Lcid};
use presence::{ProvidedSource, SyncState};
use rules::sources::{CallState, SourceKind};
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::error::parse_json;
use super::{auth, ApiError, AppState};
use crate::control::{Control, ControlSender, ProviderEvent, UpstreamView};

/// The routes, relative to `/api/v1/provider`; the OpenAPI test checks
/// that the document (`openapi.json`, also served here) describes each.
pub(super) const ROUTES: [&str; 5] = [
    "/presentities/{uri}",
    "/presentities/{uri}/events",
    "/attendants/{uri}",
    "/lines/{uri}",
    "/openapi.json",
];

/// Longest activity text an attendant may set.
const MAX_ACTIVITY: usize = 256;
/// Highest availability (Offline's range ends below 19000).
const MAX_AVAILABILITY: u32 = 18999;

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
    // A room's `**PIN` is cut off: it is never shown.
    let uri = rules::pin::strip(&uri).unwrap_or(uri);
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

/// The body of `PUT /api/v1/provider/attendants/{uri}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AttendantBody {
    /// 0–18999 (3500 Available, 6500 Busy, 9500 Do not disturb, 12500
    /// Be right back, 15500 Away, 18500 Offline).
    availability: u32,
    /// The activity text, shown in English (LCID 1033).
    #[serde(default)]
    activity: Option<String>,
}

/// The body of `PUT /api/v1/provider/lines/{uri}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LineBody {
    /// `idle`, `ringing`, `connected` or `held`.
    call: String,
}

/// `PUT /api/v1/provider/attendants/{uri}`.
pub(super) async fn put_attendant(
    State(state): State<AppState>,
    Path(uri): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    write(&state, &uri, &headers, SourceKind::Attendant, || {
        attendant_state(&body).map(Some)
    })
    .await
}

/// `PUT /api/v1/provider/lines/{uri}`.
pub(super) async fn put_line(
    State(state): State<AppState>,
    Path(uri): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    write(&state, &uri, &headers, SourceKind::Pstn, || {
        let request: LineBody = parse_json(&body)?;
        let call: CallState = request
            .call
            .parse()
            .map_err(|e| ApiError::bad_request("call", e))?;
        Ok(Some(call.presence()))
    })
    .await
}

/// `DELETE /api/v1/provider/attendants/{uri}`.
pub(super) async fn delete_attendant(
    State(state): State<AppState>,
    Path(uri): Path<String>,
    headers: HeaderMap,
) -> Response {
    write(&state, &uri, &headers, SourceKind::Attendant, || Ok(None)).await
}

/// `DELETE /api/v1/provider/lines/{uri}`.
pub(super) async fn delete_line(
    State(state): State<AppState>,
    Path(uri): Path<String>,
    headers: HeaderMap,
) -> Response {
    write(&state, &uri, &headers, SourceKind::Pstn, || Ok(None)).await
}

/// An attendant's state from the request body.
fn attendant_state(body: &[u8]) -> Result<SyncState, ApiError> {
    let request: AttendantBody = parse_json(body)?;
    if request.availability > MAX_AVAILABILITY {
        return Err(ApiError::bad_request(
            "availability",
            format!("{} is above {MAX_AVAILABILITY}", request.availability),
        ));
    }
    let mut texts = CustomTexts::new();
    if let Some(text) = request.activity.map(|t| t.trim().to_owned()) {
        if text.len() > MAX_ACTIVITY || text.chars().any(char::is_control) {
            return Err(ApiError::bad_request(
                "activity",
                format!("must be at most {MAX_ACTIVITY} printable characters"),
            ));
        }
        if !text.is_empty() {
            texts.insert(Lcid::EN_US, text);
        }
    }
    Ok(SyncState {
        availability: Availability::new(request.availability),
        texts,
    })
}

/// One write of the `kind` source of `uri`: the token, the source, then
/// the state `read` makes of the request (`None`: unknown), applied by
/// the core.
async fn write(
    state: &AppState,
    uri: &str,
    headers: &HeaderMap,
    kind: SourceKind,
    read: impl FnOnce() -> Result<Option<SyncState>, ApiError>,
) -> Response {
    let result = async {
        super::sync::integration(state, headers)?;
        let presentity = served_by(state, uri, kind)?;
        let set = read()?;
        let source = match kind {
            SourceKind::Attendant => ProvidedSource::Attendant,
            _ => ProvidedSource::Pstn,
        };
        apply(state, presentity, source, set).await
    }
    .await;
    match result {
        Ok(presentity) => (
            StatusCode::OK,
            Json(serde_json::json!({ "presentity": presentity })),
        )
            .into_response(),
        Err(e) => auth::into_response(e),
    }
}

/// The presentity key of `uri` if `kind` is the source that serves it.
fn served_by(state: &AppState, uri: &str, kind: SourceKind) -> Result<String, ApiError> {
    let parsed = sip::Uri::parse_str(uri.trim())
        .map_err(|e| ApiError::bad_request("uri", format!("not a SIP or tel URI ({e}): {uri}")))?;
    let config = state.live.load();
    match config.provider.source_of(&parsed) {
        Some(found) if found == kind => Ok(parsed.aor()),
        other => Err(ApiError {
            status: StatusCode::CONFLICT,
            error: format!(
                "{} is served by {}, not by the {kind} source (presenced explain tells why)",
                parsed.aor(),
                other.map_or("no provider source".to_owned(), |s| format!(
                    "the {s} source"
                )),
            ),
            field: Some("uri".to_owned()),
        }),
    }
}

async fn apply(
    state: &AppState,
    presentity: String,
    source: ProvidedSource,
    set: Option<SyncState>,
) -> Result<String, ApiError> {
    let (done, applied) = tokio::sync::oneshot::channel();
    let control = Control::Provided {
        presentity: presentity.clone(),
        source,
        state: set,
        done,
    };
    if state.control.try_send(control).is_err() {
        return Err(ApiError::core_busy());
    }
    if !applied.await.map_err(|_| ApiError::core_stopped())? {
        return Err(ApiError::server(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store did not take the change",
        ));
    }
    Ok(presentity)
}

/// Keep-alive comments on an idle event stream, so proxies keep it open.
const KEEP_ALIVE: std::time::Duration = std::time::Duration::from_secs(15);

/// `GET /api/v1/provider/presentities/{uri}/events`.
pub(super) async fn events(
    State(state): State<AppState>,
    Path(uri): Path<String>,
    headers: HeaderMap,
) -> Response {
    let result = async {
        super::sync::integration(&state, &headers)?;
        let parsed = sip::Uri::parse_str(uri.trim()).map_err(|e| {
            ApiError::bad_request("uri", format!("not a SIP or tel URI ({e}): {uri}"))
        })?;
        let source = state
            .live
            .load()
            .provider
            .source_of(&parsed)
            .ok_or_else(|| ApiError {
                status: StatusCode::CONFLICT,
                error: format!(
                    "{} is not served by the presence provider (outside [provider] domains)",
                    parsed.aor()
                ),
                field: Some("uri".to_owned()),
            })?;
        let presentity = parsed.aor();
        let (done, answer) = tokio::sync::oneshot::channel();
        let control = Control::ProviderWatch {
            presentity: presentity.clone(),
            source: source.as_str(),
            done,
        };
        if state.control.try_send(control).is_err() {
            return Err(ApiError::core_busy());
        }
        let (first, changes) = answer
            .await
            .map_err(|_| ApiError::core_stopped())?
            .ok_or_else(ApiError::core_stopped)?;
        Ok(stream(
            Consumer {
                presentity,
                control: state.control.clone(),
            },
            first,
            changes,
            state.shutdown.clone(),
        ))
    }
    .await;
    match result {
        Ok(stream) => Sse::new(stream)
            .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
            .into_response(),
        Err(e) => auth::into_response(e),
    }
}

/// One API consumer of a presentity: counted while its stream lives,
/// uncounted when the stream is dropped (the client went away, or the
/// server stops).
struct Consumer {
    presentity: String,
    control: ControlSender,
}

impl Drop for Consumer {
    fn drop(&mut self) {
        let presentity = std::mem::take(&mut self.presentity);
        if self
            .control
            .try_send(Control::ProviderUnwatch {
                presentity: presentity.clone(),
            })
            .is_err()
        {
            // The queue is full for a moment: do not lose the count (unless
            // the runtime is gone, and the core with it).
            let control = self.control.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = control.send(Control::ProviderUnwatch { presentity }).await;
                });
            }
        }
    }
}

fn sse(event: &ProviderEvent) -> Event {
    Event::default()
        .event("presence")
        .json_data(event)
        .unwrap_or_default()
}

/// The first event, then each change of the consumer's presentity; a
/// `gap` event when the stream fell behind (read the state again); ends
/// when the server shuts down.
fn stream(
    consumer: Consumer,
    first: ProviderEvent,
    changes: broadcast::Receiver<ProviderEvent>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let start = (consumer, Some(sse(&first)), changes, shutdown);
    futures_util::stream::unfold(
        start,
        |(consumer, first, mut changes, shutdown)| async move {
            if let Some(event) = first {
                return Some((Ok(event), (consumer, None, changes, shutdown)));
            }
            loop {
                let event = tokio::select! {
                    received = changes.recv() => match received {
                        Ok(event) if event.presentity == consumer.presentity => sse(&event),
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(n)) => Event::default()
                            .event("gap")
                            .data(format!("{{\"error\":\"{n} changes were missed; read the state again\"}}")),
                        Err(broadcast::error::RecvError::Closed) => return None,
                    },
                    _ = shutdown.cancelled() => return None,
                };
                return Some((Ok(event), (consumer, None, changes, shutdown)));
            }
        },
    )
}
