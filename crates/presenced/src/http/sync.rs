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
//! - `GET /events?agents=a,b`: the event stream (SSE), in
//!   `http/sync/events.rs`.
//!
//! Every route but the OpenAPI document needs `Authorization: Bearer
//! TOKEN` with a token of `[sync] tokens` (401 otherwise, and nothing
//! changes); bad input is 400 naming the field; an unknown agent 404; a
//! presentity bound to another agent 409.

use axum::extract::{Path, State};
use axum::http::header::CONTENT_TYPE;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use rules::sync::{CcChange, DeviceState, SyncAgent, UserState, UserType};
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth;
use super::error::{parse_json, ApiError};
use super::AppState;
use crate::control::{Control, SyncAnswer, SyncRefused, SyncRequest};
use crate::sync::{Binding, HubError};

mod events;

pub(super) use events::events;

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

/// The OpenAPI document, hand-written beside the code: the sync API's
/// routes under `/sync`, the provider's ([`super::provider::ROUTES`])
/// under `/provider`, a presentity's history
/// ([`super::history::ROUTES`]) under `/presentities`, all relative to
/// its server `/api/v1`.
pub(super) const OPENAPI: &str = include_str!("openapi.json");

/// Longest agent id, status or profile name accepted.
const MAX_NAME: usize = 128;

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
        HubError::UnknownAgent(_) | HubError::UnknownTarget(_) => StatusCode::NOT_FOUND,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_openapi_document_describes_every_route() {
        let doc: Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
        let paths = doc["paths"].as_object().expect("paths");
        let sync = ROUTES.iter().map(|r| format!("/sync{r}"));
        let provider = super::super::provider::ROUTES
            .iter()
            .map(|r| format!("/provider{r}"));
        let history = super::super::history::ROUTES
            .iter()
            .map(|r| format!("/presentities{r}"));
        let routes: Vec<String> = sync.chain(provider).chain(history).collect();
        for route in &routes {
            assert!(paths.contains_key(route), "{route} is not in openapi.json");
        }
        assert_eq!(
            paths.len(),
            routes.len(),
            "openapi.json describes a route that is gone"
        );
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
