//! `GET` and `PUT /api/v1/users/{uri}/contacts`: an operator provisions a
//! user's contact list (the `vnd-microsoft-roaming-contacts` data, see
//! `presence::contacts`) and reads it back.
//!
//! The `{uri}` is the user's SIP URI, percent-encoded
//! (`sip%3Aalice%40example.com`). The body is the list in JSON:
//!
//! ```json
//! {"groups": [{"id": 1, "name": "Colleagues"}],
//!  "contacts": [{"uri": "sip:bob@example.com", "name": "Bob", "groups": [1]}]}
//! ```
//!
//! with, per contact, the optional `"subscribed"` (default `true`) and
//! `"externalUri"` of [MS-SIP] `setContact`. A GET answers the same shape
//! plus `"deltaNum"`. A PUT replaces the whole list and is answered 200,
//! with the list as stored, only once its store commit is durable; any
//! refusal is a JSON error naming the field, and changes nothing.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use presence::contacts::{Contact, Group, ListContent};
use presence::{ContactError, ContactListRecord};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

use super::error::{parse_json, ApiError};
use super::AppState;
use crate::control::{ContactsRefused, Control};

/// The body of a PUT. Every field is required but a contact's
/// `subscribed` and `externalUri`; anything else is refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListBody {
    groups: Vec<GroupBody>,
    contacts: Vec<ContactBody>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    id: u32,
    name: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContactBody {
    uri: String,
    name: String,
    groups: Vec<u32>,
    #[serde(default = "yes")]
    subscribed: bool,
    #[serde(default)]
    external_uri: Option<String>,
}

fn yes() -> bool {
    true
}

impl From<ListBody> for ListContent {
    fn from(body: ListBody) -> ListContent {
        ListContent {
            groups: body
                .groups
                .into_iter()
                .map(|g| Group {
                    id: g.id,
                    name: g.name.into_boxed_str(),
                })
                .collect(),
            contacts: body
                .contacts
                .into_iter()
                .map(|c| Contact {
                    uri: c.uri.into_boxed_str(),
                    name: c.name.into_boxed_str(),
                    groups: c.groups.into_boxed_slice(),
                    subscribed: c.subscribed,
                    external_uri: c.external_uri.map(String::into_boxed_str),
                })
                .collect(),
        }
    }
}

/// A list as answered: the PUT's shape plus `deltaNum`.
#[derive(Debug, Serialize)]
struct ListView<'a> {
    groups: Vec<GroupView<'a>>,
    contacts: Vec<ContactView<'a>>,
    #[serde(rename = "deltaNum")]
    delta_num: u64,
}

#[derive(Debug, Serialize)]
struct GroupView<'a> {
    id: u32,
    name: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactView<'a> {
    uri: &'a str,
    name: &'a str,
    groups: &'a [u32],
    /// Only when false, so a list put without it reads back as it was put.
    #[serde(skip_serializing_if = "is_true")]
    subscribed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    external_uri: Option<&'a str>,
}

fn is_true(b: &bool) -> bool {
    *b
}

fn answer(record: &ContactListRecord) -> Response {
    let view = ListView {
        groups: record
            .groups
            .iter()
            .map(|g| GroupView {
                id: g.id,
                name: &g.name,
            })
            .collect(),
        contacts: record
            .contacts
            .iter()
            .map(|c| ContactView {
                uri: &c.uri,
                name: &c.name,
                groups: &c.groups,
                subscribed: c.subscribed,
                external_uri: c.external_uri.as_deref(),
            })
            .collect(),
        delta_num: record.delta_num,
    };
    (StatusCode::OK, Json(view)).into_response()
}

/// A rule broken: 400 naming the field; the user's URI is the path's
/// `uri`.
fn refused(e: ContactError) -> ApiError {
    let field = if e.field == "user" {
        "uri".to_owned()
    } else {
        e.field.clone()
    };
    ApiError::bad_request(field, e.to_string())
}

/// The `{uri}` of the path, percent-decoded by axum.
fn user_of(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(user)| user)
        .map_err(|e| ApiError::bad_request("uri", e.body_text()))
}

/// Sends `control` to the SIP core and waits for its answer.
async fn ask<T>(
    state: &AppState,
    control: Control,
    answer: oneshot::Receiver<T>,
) -> Result<T, ApiError> {
    state
        .control
        .try_send(control)
        .map_err(|_| ApiError::core_busy())?;
    answer.await.map_err(|_| ApiError::core_stopped())
}

/// `GET`: the user's list; a user without one has the empty list at
/// `deltaNum` 0, which is what a client of theirs would be sent.
pub(super) async fn get(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let user = user_of(path)?;
    let (done, answered) = oneshot::channel();
    let record = ask(&state, Control::GetContacts { user, done }, answered).await?;
    record.map(|r| answer(&r)).map_err(refused)
}

/// `PUT`: replaces the user's list; 200 with the list as stored once the
/// store has it, 500 if its commit failed.
pub(super) async fn put(
    State(state): State<AppState>,
    path: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let user = user_of(path)?;
    let list: ListBody = parse_json(&body)?;
    let (done, answered) = oneshot::channel();
    let control = Control::PutContacts {
        user,
        list: list.into(),
        done,
    };
    match ask(&state, control, answered).await? {
        Ok(record) => Ok(answer(&record)),
        Err(ContactsRefused::Invalid(e)) => Err(refused(e)),
        Err(e @ ContactsRefused::Storage) => Err(ApiError::server(
            StatusCode::INTERNAL_SERVER_ERROR,
            e.to_string(),
        )),
    }
}
