//! `GET /api/v1/sync/events`: the sync engine's event stream as
//! Server-Sent Events, read from the [`EventLog`] the core appends to:
//! first what a reconnecting client missed after its `Last-Event-ID` (a
//! `gap` event when the history no longer holds it), then each new event
//! as it comes, for the agents the client asked for.

use std::collections::HashSet;
use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::super::auth;
use super::super::error::ApiError;
use super::super::AppState;
use super::integration;
use crate::sync::{EventLog, SyncEvent};

/// Keep-alive comments on an idle event stream, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

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
pub(in crate::http) async fn events(
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
}
