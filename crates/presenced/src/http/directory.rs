//! `GET /api/v1/directory?q=WORDS&page=N&per_page=M`: the merged company
//! directory searched, one page at a time, each entry with its origins
//! and what it shows now.
//!
//! Every word of `q` must be the start of a word of the entry (its name,
//! address, mail, title, department, company; without case); no `q`
//! lists everything. Pages count from 1; `per_page` is 50 unless given
//! (at most 200). Presence comes from the SIP core for the entries of
//! the page only (the engine's aggregate; a room's or gateway rule's
//! card when nobody publishes; Offline otherwise), so a page costs the
//! same whatever the directory's size. A contact-center agent's entry
//! (origin `agent`, alone or merged with the LDAP entry of its address)
//! carries its `cc_status` as the sync engine holds it now, read for the
//! page too (`crate::directory::AgentRoster`). A bad `page` or
//! `per_page` is a 400 naming it.
//!
//! ```json
//! {"q": "vtc", "page": 1, "per_page": 50, "total": 1, "entries": [
//!   {"uri": "sip:oslo-room042@vc.example.com", "display_name": "VTC Oslo",
//!    "kind": "resource", "origins": ["ldap", "gateway"],
//!    "gateway_rule": "vtc endpoints", "dn": "cn=VTC Oslo,ou=Resources,dc=example,dc=com",
//!    "presence": {"availability": 3500, "class": "Online", "source": "gateway"}}]}
//! ```
//!
//! An agent merged with its LDAP user:
//!
//! ```json
//! {"uri": "sip:alice@example.com", "display_name": "Alice Smith", "kind": "user",
//!  "origins": ["ldap", "agent"],
//!  "cc_status": {"agent": "4711", "state": "Ready", "device": "Busy",
//!                "user_state": "LoggedInToClient", "text": "In a call"},
//!  "presence": {"availability": 7001, "class": "IdleBusy", "source": "sources",
//!               "activity_text": "Working with customer, do not disturb"}}
//! ```

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use presence::{Shown, ShownBy};
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::control::Control;

/// Entries per page unless `per_page` says otherwise.
const DEFAULT_PER_PAGE: usize = 50;
/// The most entries one page may hold.
const MAX_PER_PAGE: usize = 200;

/// One entry of the answer: the directory's fields (its contact-center
/// status as of now) and its presence.
#[derive(Debug, Serialize)]
struct Listed {
    #[serde(flatten)]
    entry: rules::Entry,
    presence: Presence,
}

/// What an entry shows now (also the console's event data).
#[derive(Debug, Serialize)]
pub(super) struct Presence {
    /// Microsoft's availability number.
    availability: u32,
    /// Its class (Online, Busy, Away, Offline, ...).
    class: &'static str,
    /// The activity token, if any (`in-a-meeting`, `on-the-phone`).
    #[serde(skip_serializing_if = "Option::is_none")]
    activity: Option<String>,
    /// The activity's text in US English, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    activity_text: Option<String>,
    /// Where it comes from: `sources` (publications, sync, upstream),
    /// `room`, `gateway` or `none`.
    source: &'static str,
}

impl From<&Shown> for Presence {
    fn from(shown: &Shown) -> Presence {
        let (activity, activity_text) = crate::history::activity(shown);
        Presence {
            availability: shown.state.availability.value(),
            class: shown.state.class().name(),
            activity,
            activity_text,
            source: match shown.by {
                ShownBy::Sources => "sources",
                ShownBy::Room => "room",
                ShownBy::Gateway => "gateway",
                ShownBy::Nothing => "none",
            },
        }
    }
}

/// The answer.
#[derive(Debug, Serialize)]
struct Answer {
    q: String,
    page: usize,
    per_page: usize,
    total: usize,
    entries: Vec<Listed>,
}

/// A positive number parameter, or its default; 400 naming it otherwise.
fn number(
    params: &HashMap<String, String>,
    name: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    let Some(text) = params.get(name) else {
        return Ok(default);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            name,
            format!("{text:?} is not a number from 1 to {max}"),
        )),
    }
}

/// Searches the directory; see the module documentation.
pub(super) async fn search(
    State(state): State<AppState>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = params.get("q").cloned().unwrap_or_default();
    let page = number(&params, "page", 1, 1_000_000)?;
    let per_page = number(&params, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)?;
    let merged = state.directory.book();
    let found = merged.book.query(&q, (page - 1) * per_page, per_page);
    let presentities = found.entries.iter().map(|e| e.uri.clone()).collect();
    let (done, shown) = tokio::sync::oneshot::channel();
    if state
        .control
        .try_send(Control::Shown { presentities, done })
        .is_err()
    {
        return Err(ApiError::core_busy());
    }
    let shown = shown.await.map_err(|_| ApiError::core_stopped())?;
    let agents = state.directory.agents();
    let statuses = agents.statuses(found.entries.iter().map(|e| e.uri.as_str()));
    let entries = found
        .entries
        .iter()
        .zip(&shown)
        .zip(statuses)
        .map(|((entry, shown), cc_status)| {
            let mut entry = (*entry).clone();
            entry.cc_status = cc_status;
            Listed {
                entry,
                presence: shown.into(),
            }
        })
        .collect();
    let answer = Answer {
        q,
        page,
        per_page,
        total: found.total,
        entries,
    };
    serde_json::to_value(&answer)
        .map(Json)
        .map_err(|e| ApiError::server(axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}
