//! `/console/events?uri=…&uri=…`: the presence of the entries a console
//! page shows, as a Server-Sent Events stream. Every second the SIP core
//! is asked what those presentities show (`Control::Shown`, a lookup per
//! entry, at most [`MAX_WATCHED`]); the first answer is sent whole and
//! then only the entries that changed, each as one `presence` event whose
//! data is `{"uri": …, "presence": {…}, "cc_status": {…}}` (the shape of
//! the directory API; `cc_status` only for contact-center agents, read
//! from the sync engine's roster at the same tick). The stream ends when
//! the browser goes away or the core stops.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use crate::control::Control;
use crate::http::directory::Presence;

/// The most presentities one stream watches (a page of the directory).
pub const MAX_WATCHED: usize = 200;

/// How often the core is asked.
const PERIOD: Duration = Duration::from_secs(1);

/// Opens the stream; 400 for more than [`MAX_WATCHED`] URIs.
pub(super) async fn stream(
    State(state): State<AppState>,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let uris: Vec<String> = params
        .into_iter()
        .filter(|(k, _)| k == "uri")
        .filter_map(|(_, v)| sip::Uri::parse_str(&v).ok().map(|u| u.aor()))
        .collect();
    if uris.len() > MAX_WATCHED {
        let body = axum::Json(serde_json::json!({
            "error": format!("at most {MAX_WATCHED} URIs per stream"),
            "field": "uri",
        }));
        return (StatusCode::BAD_REQUEST, body).into_response();
    }
    let agents = state.directory.agents();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(16);
    tokio::spawn(async move {
        let mut last: Vec<Option<String>> = vec![None; uris.len()];
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                break;
            }
            let (done, shown) = tokio::sync::oneshot::channel();
            let asked = Control::Shown {
                presentities: uris.clone(),
                done,
            };
            if state.control.send(asked).await.is_err() {
                break;
            }
            let Ok(shown) = shown.await else { break };
            let statuses = agents.statuses(uris.iter().map(String::as_str));
            let each = uris.iter().zip(&shown).zip(statuses).zip(last.iter_mut());
            for (((uri, now), cc_status), before) in each {
                let presence = Presence::from(now);
                let mut data = serde_json::json!({"uri": uri, "presence": presence});
                if let Some(cc_status) = cc_status {
                    data["cc_status"] = serde_json::json!(cc_status);
                }
                let data = data.to_string();
                if before.as_deref() == Some(data.as_str()) {
                    continue;
                }
                let event = Event::default().event("presence").data(data.clone());
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
                *before = Some(data);
            }
        }
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}
