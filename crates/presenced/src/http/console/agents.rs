//! `/console/agents`: the sync engine's agents and their last states
//! (issue 14: "sync agents and their last states"), with the profile and
//! the rule that map each one now; each agent links to its presentity's
//! page, which shows the agent's `explain`. The table updates in place
//! from `/console/agents/events`: every second the SIP core is asked for
//! the agents (`Control::SyncAgents`, the first [`MAX_LISTED`] by id, a
//! walk on demand only) and, when anything differs from the last answer,
//! one `agents` event carries the whole list.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use tokio_stream::wrappers::ReceiverStream;

use super::pages::{escape, layout};
use super::session::Session;
use super::AppState;
use crate::control::Control;
use crate::sync::AgentOverview;

/// The most agents listed.
pub const MAX_LISTED: usize = 500;

/// How often the core is asked.
const PERIOD: Duration = Duration::from_secs(1);

/// The agents now; empty when the core cannot answer (stopping).
async fn overview(state: &AppState) -> Option<Vec<AgentOverview>> {
    let (done, answer) = tokio::sync::oneshot::channel();
    let asked = Control::SyncAgents {
        max: MAX_LISTED,
        done,
    };
    state.control.send(asked).await.ok()?;
    answer.await.ok()
}

/// An availability number, or a dash.
fn number(n: Option<u32>) -> String {
    n.map_or_else(|| "–".to_owned(), |n| n.to_string())
}

/// A query string's value, percent-encoded.
fn query_value(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// One agent's row; the script writes the same cells.
fn row(agent: &AgentOverview) -> String {
    format!(
        "<tr data-agent=\"{id}\"><td><a href=\"/console/presentity?uri={uri_q}\">{id}</a></td>\
         <td class=\"muted\">{uri}</td><td>{user_state}</td>\
         <td data-cell=\"cc\" title=\"{state}, device {device}\">{text}</td>\
         <td data-cell=\"profile\">{profile}</td><td data-cell=\"rule\" class=\"muted\">{rule}</td>\
         <td data-cell=\"published\">{published}</td><td data-cell=\"uc\">{uc}</td></tr>",
        id = escape(&agent.agent),
        uri_q = escape(&query_value(&agent.presentity)),
        uri = escape(&agent.presentity),
        user_state = escape(agent.user_state),
        state = escape(&agent.cc.state),
        device = escape(agent.cc.device),
        text = escape(&agent.cc.text),
        profile = escape(agent.profile.as_deref().unwrap_or("none")),
        rule = escape(&agent.rule),
        published = number(agent.published),
        uc = number(agent.uc),
    )
}

/// The page, filled in at once.
pub(super) async fn page(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let agents = overview(&state).await.unwrap_or_default();
    let mut main = String::from(
        "<p id=\"agents-summary\" aria-live=\"polite\"></p>\
         <table id=\"agents\"><thead><tr><th scope=\"col\">Agent</th>\
         <th scope=\"col\">Presentity</th><th scope=\"col\">Logged in</th>\
         <th scope=\"col\">CC status</th><th scope=\"col\">Profile</th>\
         <th scope=\"col\">Mapped by</th><th scope=\"col\">Published</th>\
         <th scope=\"col\">UC now</th></tr></thead><tbody>",
    );
    for agent in &agents {
        main.push_str(&row(agent));
    }
    main.push_str("</tbody></table>");
    if agents.is_empty() {
        main.push_str("<p id=\"no-agents\">No agent is bound (see <code>/api/v1/sync</code>).</p>");
    }
    Html(layout("Sync agents", "Agents", Some(&session), &main)).into_response()
}

/// The live list: an `agents` event with every agent whenever one
/// changed.
pub(super) async fn stream(State(state): State<AppState>) -> Response {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Event, Infallible>>(4);
    tokio::spawn(async move {
        let mut last: Option<String> = None;
        let mut tick = tokio::time::interval(PERIOD);
        loop {
            tick.tick().await;
            if tx.is_closed() {
                break;
            }
            let Some(agents) = overview(&state).await else {
                break;
            };
            let Ok(data) = serde_json::to_string(&agents) else {
                break;
            };
            if last.as_deref() == Some(data.as_str()) {
                continue;
            }
            let event = Event::default().event("agents").data(data.clone());
            if tx.send(Ok(event)).await.is_err() {
                break;
            }
            last = Some(data);
        }
    });
    Sse::new(ReceiverStream::new(rx))
        .keep_alive(KeepAlive::default())
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_escaped_and_link_to_the_presentity() {
        let agent = AgentOverview {
            agent: "<4711>".into(),
            presentity: "sip:alice@example.com".into(),
            user_type: "EnterpriseVoice",
            user_state: "LoggedInToClient",
            cc: rules::address_book::CcStatus {
                agent: "<4711>".into(),
                state: "Ready".into(),
                device: "Busy",
                user_state: "LoggedInToClient",
                text: "In a call".into(),
            },
            profile: Some("voice (global EnterpriseVoice)".into()),
            rule: "row 7 → INCALL".into(),
            published: Some(7001),
            uc: None,
        };
        let html = row(&agent);
        assert!(html.contains("data-agent=\"&lt;4711&gt;\""), "{html}");
        assert!(html.contains("href=\"/console/presentity?uri=sip%3Aalice%40example%2Ecom\""));
        assert!(html.contains(">In a call<") && html.contains(">7001<") && html.contains(">–<"));
    }
}
