//! The contact center's API of the sync engine (issue 11), under
//! `/api/v1/sync`; docs/api.md and the served OpenAPI document
//! (`GET /api/v1/sync/openapi.json`) describe it.
//!
//! - `PUT /agents/{agent}` binds an agent to a UC presentity, user type
//!   and user state; `DELETE` unbinds it; `GET` reads both sides.
//! - `POST /agents/{agent}/state`: agent state (or any configured
//!   status) and/or device state.
//! - `POST /agents/{agent}/session`: a login session, with its own
//!   profile choice (T-Server's `presence-profile` login attribute).
//! - `GET /explain/{agent-or-uri}`: which profile, augmentation,
//!   conditions and mapping applied, and why.
//! - `GET /events?agents=a,b`: the event stream (SSE), see
//!   [`crate::sync::events`].
//!
//! Every route but the OpenAPI document needs `Authorization: Bearer
//! TOKEN` with a token of `[sync] tokens` (401 otherwise, and nothing
//! changes); bad input is 400 naming the field; an unknown agent 404; a
//! presentity bound to another agent 409.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use futures_util::Stream;
use rules::sync::{CcChange, DeviceState, SyncAgent, UserState, UserType};
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::auth;
use super::error::{parse_json, ApiError};
use super::AppState;
use crate::control::{Control, SyncAnswer, SyncRefused, SyncRequest};
use crate::sync::{Binding, EventLog, HubError, SyncEvent};

/// The routes, relative to `/api/v1/sync`; the OpenAPI test checks that
/// the document describes each.
pub(super) const ROUTES: [&str; 6] = [
    "/agents/{agent}",
    "/agents/{agent}/state",
    "/agents/{agent}/session",
    "/explain/{target}",
    "/events",
    "/openapi.json",
];

/// The OpenAPI document, hand-written beside the code.
const OPENAPI: &str = include_str!("openapi.json");

/// Longest agent id, status or profile name accepted.
const MAX_NAME: usize = 128;

/// Keep-alive comments on an idle event stream, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Serves the OpenAPI document (no token needed: it says nothing of the
/// agents).
pub(super) async fn openapi() -> Response {
    ([(CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// Checks the bearer token against `[sync] tokens`; the integration's
/// name when it is one of them.
pub(super) fn integration(state: &AppState, headers: &HeaderMap) -> Result<String, ApiError> {
    let config = state.live.load();
    auth::presented(headers)
        .and_then(|hash| config.sync.rules.token_owner(&hash).map(str::to_owned))
        .ok_or_else(auth::unauthorized)
}

/// A name from the path or the body: non-empty, bounded, printable.
fn name(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.is_empty() || value.len() > MAX_NAME || value.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            field,
            format!("must be 1–{MAX_NAME} printable characters"),
        ));
    }
    Ok(value.to_owned())
}

/// A presentity URI reduced to its address of record, as the engine keys
/// presentities.
fn presentity(field: &str, uri: &str) -> Result<String, ApiError> {
    sip::Uri::parse_str(uri.trim())
        .map(|u| u.aor())
        .map_err(|e| ApiError::bad_request(field, format!("not a SIP or tel URI ({e}): {uri}")))
}

fn parsed<T: std::str::FromStr<Err = String>>(field: &str, value: &str) -> Result<T, ApiError> {
    value.parse().map_err(|e| ApiError::bad_request(field, e))
}

/// Sends a request to the core and waits for its answer.
async fn ask(state: &AppState, request: SyncRequest) -> Result<SyncAnswer, ApiError> {
    let (done, answered) = tokio::sync::oneshot::channel();
    if state
        .control
        .try_send(Control::Sync { request, done })
        .is_err()
    {
        return Err(ApiError::core_busy());
    }
    match answered.await {
        Ok(Ok(answer)) => Ok(answer),
        Ok(Err(SyncRefused::Hub(e))) => Err(refused(e)),
        Ok(Err(SyncRefused::Storage)) => Err(ApiError::server(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the store did not take the change",
        )),
        Err(_) => Err(ApiError::core_stopped()),
    }
}

fn refused(e: HubError) -> ApiError {
    let status = match e {
        HubError::UnknownAgent(_) => StatusCode::NOT_FOUND,
        HubError::PresentityTaken { .. } => StatusCode::CONFLICT,
        HubError::UnknownProfile(_) => StatusCode::BAD_REQUEST,
    };
    ApiError {
        status,
        field: Some(e.field().to_owned()),
        error: e.to_string(),
    }
}

/// An agent as the API shows it.
fn agent_json(agent: &SyncAgent, aggregate: Option<presence::availability::Availability>) -> Value {
    let availability = |a: presence::availability::Availability| json!({ "availability": a.value(), "class": a.class().to_string() });
    let published = agent.pushed_uc.as_ref().map(|p| {
        let texts: serde_json::Map<String, Value> = p
            .texts
            .iter()
            .map(|(lcid, text)| (lcid.0.to_string(), Value::from(text)))
            .collect();
        let mut v = availability(p.availability);
        v["activity"] = Value::Object(texts);
        v
    });
    let sent = agent.sent_cc.as_ref().map(|c| match c {
        CcChange::Dnd(on) => json!({ "event": "dnd", "on": on }),
        CcChange::Status(s) => json!({ "event": "status", "status": s }),
    });
    json!({
        "agent": agent.agent,
        "presentity": agent.presentity,
        "user_type": agent.user_type.as_str(),
        "user_state": agent.user_state.as_str(),
        "groups": agent.groups,
        "session_profile": agent.session_profile,
        "contact_center": { "state": agent.cc.status, "device": agent.cc.device.as_str() },
        "uc": {
            "aggregate": aggregate.map(availability),
            "published": published,
        },
        "sent": sent,
    })
}

fn answer(result: Result<SyncAnswer, ApiError>) -> Response {
    match result {
        Ok(SyncAnswer::Agent(agent, aggregate)) => {
            (StatusCode::OK, Json(agent_json(&agent, aggregate))).into_response()
        }
        Ok(SyncAnswer::Unbound) => StatusCode::NO_CONTENT.into_response(),
        Ok(SyncAnswer::Explained(lines)) => {
            (StatusCode::OK, Json(json!({ "lines": lines }))).into_response()
        }
        Err(e) => auth::into_response(e),
    }
}

/// One request about an agent: the token, the agent id from the path,
/// the request `build` makes of it (and of the body), the core's answer.
async fn agent_request(
    state: &AppState,
    headers: &HeaderMap,
    agent: &str,
    build: impl FnOnce(String) -> Result<SyncRequest, ApiError>,
) -> Response {
    let result = async {
        integration(state, headers)?;
        let agent = name("agent", agent)?;
        ask(state, build(agent)?).await
    }
    .await;
    answer(result)
}

/// The body of `PUT /agents/{agent}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BindBody {
    presentity: String,
    user_type: String,
    #[serde(default)]
    user_state: Option<String>,
    #[serde(default)]
    groups: Vec<String>,
}

/// `PUT /agents/{agent}`: bind.
pub(super) async fn bind(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    agent_request(&state, &headers, &agent, |agent| {
        let body: BindBody = parse_json(&body)?;
        let groups = body
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| name(&format!("groups[{i}]"), g))
            .collect::<Result<_, _>>()?;
        let binding = Binding {
            presentity: presentity("presentity", &body.presentity)?,
            user_type: parsed::<UserType>("user_type", &body.user_type)?,
            user_state: body
                .user_state
                .as_deref()
                .map(|s| parsed::<UserState>("user_state", s))
                .transpose()?,
            groups,
        };
        Ok(SyncRequest::Bind { agent, binding })
    })
    .await
}

/// `DELETE /agents/{agent}`: unbind.
pub(super) async fn unbind(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> Response {
    agent_request(&state, &headers, &agent, |agent| {
        Ok(SyncRequest::Unbind { agent })
    })
    .await
}

/// `GET /agents/{agent}`: both sides.
pub(super) async fn get(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    headers: HeaderMap,
) -> Response {
    agent_request(&state, &headers, &agent, |agent| {
        Ok(SyncRequest::Get { agent })
    })
    .await
}

/// The body of `POST /agents/{agent}/state`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StateBody {
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    device: Option<String>,
}

/// `POST /agents/{agent}/state`.
pub(super) async fn post_state(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    agent_request(&state, &headers, &agent, |agent| {
        let body: StateBody = parse_json(&body)?;
        if body.state.is_none() && body.device.is_none() {
            return Err(ApiError::bad_request(
                "state",
                "give `state`, `device` or both",
            ));
        }
        Ok(SyncRequest::State {
            agent,
            status: body
                .state
                .as_deref()
                .map(|s| name("state", s))
                .transpose()?,
            device: body
                .device
                .as_deref()
                .map(|d| parsed::<DeviceState>("device", d))
                .transpose()?,
        })
    })
    .await
}

/// The body of `POST /agents/{agent}/session`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SessionBody {
    user_state: String,
    #[serde(default)]
    profile: Option<String>,
}

/// `POST /agents/{agent}/session`.
pub(super) async fn session(
    State(state): State<AppState>,
    Path(agent): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    agent_request(&state, &headers, &agent, |agent| {
        let body: SessionBody = parse_json(&body)?;
        Ok(SyncRequest::Session {
            agent,
            user_state: parsed::<UserState>("user_state", &body.user_state)?,
            profile: body
                .profile
                .as_deref()
                .map(|p| name("profile", p))
                .transpose()?,
        })
    })
    .await
}

/// `GET /explain/{target}`: an agent id or its presentity's URI.
pub(super) async fn explain(
    State(state): State<AppState>,
    Path(target): Path<String>,
    headers: HeaderMap,
) -> Response {
    answer(
        async {
            integration(&state, &headers)?;
            let target = name("target", &target)?;
            // A URI is looked up by its address of record.
            let target = presentity("target", &target)
                .ok()
                .filter(|_| target.contains(':'))
                .unwrap_or(target);
            ask(&state, SyncRequest::Explain { target }).await
        }
        .await,
    )
}

/// The query of `GET /events`.
#[derive(Debug, Default, PartialEq, Eq)]
struct EventsQuery {
    /// The agents asked for; absent: every agent.
    agents: Option<HashSet<String>>,
    /// For clients that cannot set the `Last-Event-ID` header.
    last_event_id: Option<u64>,
}

impl EventsQuery {
    /// `agents=a,b&last_event_id=N`, percent-decoded; anything else is
    /// refused naming the parameter.
    fn parse(query: Option<&str>) -> Result<EventsQuery, ApiError> {
        let mut parsed = EventsQuery::default();
        for pair in query
            .unwrap_or_default()
            .split('&')
            .filter(|p| !p.is_empty())
        {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = percent_encoding::percent_decode_str(&value.replace('+', " "))
                .decode_utf8()
                .map_err(|_| ApiError::bad_request(key, "not UTF-8 once decoded"))?
                .into_owned();
            match key {
                "agents" => {
                    let agents = value
                        .split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned);
                    parsed
                        .agents
                        .get_or_insert_with(HashSet::new)
                        .extend(agents);
                }
                "last_event_id" => {
                    let id = value.trim().parse().map_err(|_| {
                        ApiError::bad_request(key, "not an event id (a decimal number)")
                    })?;
                    parsed.last_event_id = Some(id);
                }
                other => {
                    return Err(ApiError::bad_request(
                        other,
                        "unknown parameter (agents, last_event_id)",
                    ))
                }
            }
        }
        Ok(parsed)
    }
}

/// `GET /events`: the event stream.
pub(super) async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(e) = integration(&state, &headers) {
        return auth::into_response(e);
    }
    let query = match EventsQuery::parse(query.as_deref()) {
        Ok(query) => query,
        Err(e) => return auth::into_response(e),
    };
    let last = match headers.get("last-event-id") {
        Some(v) => match v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) {
            Some(id) => Some(id),
            None => {
                return auth::into_response(ApiError::bad_request(
                    "Last-Event-ID",
                    "not an event id (a decimal number)",
                ))
            }
        },
        None => query.last_event_id,
    };
    let wanted = query.agents;
    let log = state.events.clone();
    // Without an id, the client starts from now.
    let last = last.unwrap_or_else(|| log.newest());
    let stream = stream(log, last, wanted, state.shutdown.clone());
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// Where one client's stream is.
struct Cursor {
    log: EventLog,
    newest: watch::Receiver<u64>,
    last: u64,
    wanted: Option<HashSet<String>>,
    queue: std::collections::VecDeque<Event>,
    shutdown: CancellationToken,
}

fn sse(event: &SyncEvent) -> Event {
    Event::default()
        .id(event.id.to_string())
        .event(event.kind.name())
        .json_data(event)
        .unwrap_or_default()
}

/// The events after `last` for the wanted agents, then each new one as
/// it comes; a `gap` event first when some are no longer held. Ends when
/// the server shuts down, so the HTTP side can stop.
fn stream(
    log: EventLog,
    last: u64,
    wanted: Option<HashSet<String>>,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let newest = log.subscribe();
    let cursor = Cursor {
        log,
        newest,
        last,
        wanted,
        queue: Default::default(),
        shutdown,
    };
    futures_util::stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(event) = c.queue.pop_front() {
                return Some((Ok(event), c));
            }
            // Marks the current newest as seen before reading, so an event
            // pushed meanwhile wakes the wait below.
            c.newest.borrow_and_update();
            let wanted = &c.wanted;
            let replay = c.log.since(c.last, |agent| {
                wanted.as_ref().is_none_or(|w| w.contains(agent))
            });
            if replay.gap {
                c.queue.push_back(Event::default().event("gap").data(format!(
                    "{{\"error\":\"events after id {} are no longer held; read the agents' states again\"}}",
                    c.last
                )));
            }
            c.last = replay.upto;
            c.queue.extend(replay.events.iter().map(|e| sse(e)));
            if !c.queue.is_empty() {
                continue;
            }
            tokio::select! {
                changed = c.newest.changed() => if changed.is_err() { return None },
                _ = c.shutdown.cancelled() => return None,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        for route in ROUTES {
            assert!(paths.contains_key(route), "{route} is not in openapi.json");
        }
        assert_eq!(
            paths.len(),
            ROUTES.len(),
            "openapi.json describes a route that is gone"
        );
    }

    #[test]
    fn the_event_query_is_decoded_and_checked() {
        let q = EventsQuery::parse(Some("agents=4711,Agent%20B&last_event_id=42")).unwrap();
        assert_eq!(q.last_event_id, Some(42));
        let agents = q.agents.unwrap();
        assert!(
            agents.contains("4711") && agents.contains("Agent B"),
            "{agents:?}"
        );
        assert_eq!(EventsQuery::parse(None).unwrap(), EventsQuery::default());
        let e = EventsQuery::parse(Some("last_event_id=x")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("last_event_id"));
        let e = EventsQuery::parse(Some("agent=1")).unwrap_err();
        assert_eq!(e.field.as_deref(), Some("agent"));
    }

    #[test]
    fn names_and_uris_are_checked_with_their_field() {
        assert_eq!(name("agent", " 4711 ").unwrap(), "4711");
        assert_eq!(
            name("agent", "").unwrap_err().field.as_deref(),
            Some("agent")
        );
        assert_eq!(
            name("state", "a\nb").unwrap_err().field.as_deref(),
            Some("state")
        );
        assert_eq!(
            presentity("presentity", "sip:Alice@Example.com;transport=tcp").unwrap(),
            "sip:Alice@example.com"
        );
        assert_eq!(
            presentity("presentity", "alice")
                .unwrap_err()
                .field
                .as_deref(),
            Some("presentity")
        );
        let e = parsed::<UserType>("user_type", "Admin").unwrap_err();
        assert_eq!(e.field.as_deref(), Some("user_type"));
    }
}
