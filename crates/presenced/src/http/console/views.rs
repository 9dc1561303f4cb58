//! The console's read-only views of one presentity and of the service
//! contacts: what the directory knows, what it shows now (asked of the
//! SIP core), why (the service contacts' `explain`), and the rooms and
//! gateway rules with their avatars and live state.

use std::collections::HashMap;
use std::fmt::Write as _;

use axum::extract::{Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;

use super::pages::{escape, layout};
use super::session::Session;
use super::AppState;
use crate::control::Control;
use crate::http::directory::Presence;

/// What the core says `presentities` show, in order; empty when it
/// cannot answer (stopping).
async fn shown(state: &AppState, presentities: Vec<String>) -> Vec<presence::Shown> {
    let (done, answer) = tokio::sync::oneshot::channel();
    if state
        .control
        .send(Control::Shown { presentities, done })
        .await
        .is_err()
    {
        return Vec::new();
    }
    answer.await.unwrap_or_default()
}

/// One presence as the console shows it: a coloured label with its
/// number and source.
fn presence_cell(shown: Option<&presence::Shown>) -> String {
    let Some(shown) = shown else {
        return "<td>unknown</td>".to_owned();
    };
    let p = serde_json::to_value(Presence::from(shown)).unwrap_or_default();
    let class = p["class"].as_str().unwrap_or_default();
    let mut label = class.to_owned();
    if let Some(text) = p["activity_text"].as_str().or(p["activity"].as_str()) {
        let _ = write!(label, " — {text}");
    }
    format!(
        "<td class=\"presence p-{}\" title=\"availability {}, from {}\">{}</td>",
        escape(&class.to_ascii_lowercase()),
        p["availability"],
        escape(p["source"].as_str().unwrap_or_default()),
        escape(&label)
    )
}

/// The presentity's recent changes, newest first (`crate::history`).
fn history_table(changes: &[crate::history::Change]) -> String {
    let mut html = String::from(
        "<h2>Recent changes</h2><table id=\"history\"><thead><tr><th scope=\"col\">When</th>\
         <th scope=\"col\">Shows</th><th scope=\"col\">Availability</th>\
         <th scope=\"col\">Activity</th><th scope=\"col\">Decided by</th></tr></thead><tbody>",
    );
    for change in changes {
        let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(change.at_ms);
        let activity = match (&change.activity_text, &change.activity) {
            (Some(text), _) | (None, Some(text)) => text.as_str(),
            (None, None) => "",
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td class=\"presence p-{}\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&presence::registrar::http_date(at)),
            escape(&change.class.to_ascii_lowercase()),
            escape(change.class),
            change.availability,
            escape(activity),
            escape(change.source),
        );
    }
    if changes.is_empty() {
        html.push_str("<tr><td colspan=\"5\">No change seen since the server started.</td></tr>");
    }
    html.push_str("</tbody></table>");
    html
}

/// The sync engine's `explain` of the agent bound to `presentity`, if
/// one is.
async fn agent_explain(state: &AppState, presentity: &str) -> Option<Vec<String>> {
    use crate::control::{SyncAnswer, SyncRequest};
    let (done, answer) = tokio::sync::oneshot::channel();
    let request = SyncRequest::Explain {
        target: presentity.to_owned(),
    };
    state
        .control
        .send(Control::Sync { request, done })
        .await
        .ok()?;
    match answer.await.ok()? {
        Ok(SyncAnswer::Explained(lines)) => Some(lines),
        _ => None,
    }
}

/// `/console/presentity?uri=...`: one presentity.
pub(super) async fn presentity(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let asked = params.get("uri").map(|u| u.trim()).unwrap_or_default();
    let mut main = format!(
        "<form role=\"search\" action=\"/console/presentity\" method=\"get\" id=\"lookup\">\
         <label for=\"uri\">Address</label> <input id=\"uri\" name=\"uri\" value=\"{}\" \
         placeholder=\"sip:alice@example.com\"> <button type=\"submit\">Show</button></form>",
        escape(asked)
    );
    if asked.is_empty() {
        return Html(layout("Presentity", "", Some(&session), &main)).into_response();
    }
    let Ok(uri) = sip::Uri::parse_str(asked) else {
        let _ = write!(
            main,
            "<p role=\"alert\" class=\"error\">{} is not a SIP or tel URI.</p>",
            escape(asked)
        );
        return Html(layout("Presentity", "", Some(&session), &main)).into_response();
    };
    let key = uri.aor();
    let now = shown(&state, vec![key.clone()]).await;
    let _ = write!(
        main,
        "<h2>{}</h2><table id=\"now\"><tbody><tr><th scope=\"row\">Shows now</th>{}</tr></tbody></table>",
        escape(&key),
        presence_cell(now.first())
    );
    let book = state.directory.book();
    match book.book.get(&key) {
        Some(entry) => {
            main.push_str("<h2>In the directory</h2><dl class=\"facts\" id=\"entry\">");
            let origins: Vec<&str> = entry
                .origins
                .iter()
                .map(|o| match o {
                    rules::Origin::Ldap => "ldap",
                    rules::Origin::Room => "room",
                    rules::Origin::Gateway => "gateway",
                    rules::Origin::Agent => "agent",
                })
                .collect();
            let cc = state
                .directory
                .agents()
                .statuses([entry.uri.as_str()])
                .pop()
                .flatten()
                .map(|c| {
                    format!(
                        "{} (agent {}: {}, device {})",
                        c.text, c.agent, c.state, c.device
                    )
                });
            let fields = [
                ("Name", Some(entry.display_name.as_str())),
                ("From", Some(&*origins.join(", "))),
                ("Title", entry.title.as_deref()),
                ("Department", entry.department.as_deref()),
                ("Mail", entry.mail.as_deref()),
                ("Phone", entry.phone.as_deref()),
                ("Gateway rule", entry.gateway_rule.as_deref()),
                ("Contact-center status", cc.as_deref()),
                ("LDAP entry", entry.dn.as_deref()),
            ];
            for (label, value) in fields {
                if let Some(value) = value {
                    let _ = write!(main, "<dt>{label}</dt><dd>{}</dd>", escape(value));
                }
            }
            main.push_str("</dl>");
        }
        None => main.push_str("<p>Not in the directory.</p>"),
    }
    main.push_str(&history_table(&state.recent.history.of(&key)));
    if let Some(lines) = agent_explain(&state, &key).await {
        let _ = write!(
            main,
            "<h2>Why (sync agent)</h2><pre id=\"agent-explain\">{}</pre>",
            escape(&lines.join("\n"))
        );
    }
    let explanation = state.live.load().service.directory.explain(&key);
    let _ = write!(
        main,
        "<h2>Why (service contacts)</h2><pre id=\"explain\">{}</pre>",
        escape(&explanation.to_string())
    );
    Html(layout("Presentity", "", Some(&session), &main)).into_response()
}

/// `/console/services`: rooms and gateway rules, with avatars and the
/// rooms' live state.
pub(super) async fn services(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let config = state.live.load();
    let directory = &config.service.directory;
    let avatar = |theme: &str| {
        match directory.theme_hash(theme) {
        Some(hash) => format!(
            "<img src=\"/service/themes/{t}/{h}.jpg\" alt=\"avatar of theme {t}\" width=\"48\" height=\"48\">",
            t = escape(theme),
            h = escape(hash)
        ),
        None => String::new(),
    }
    };
    let rooms = directory.rooms();
    let now = shown(
        &state,
        rooms
            .iter()
            .map(|r| format!("sip:{}", r.aliases[0]))
            .collect(),
    )
    .await;
    let mut main = String::from(
        "<h2>Rooms</h2><table id=\"rooms\"><thead><tr><th scope=\"col\">Avatar</th>\
         <th scope=\"col\">Name</th><th scope=\"col\">Aliases</th><th scope=\"col\">Description</th>\
         <th scope=\"col\">Now</th></tr></thead><tbody>",
    );
    for (i, room) in rooms.iter().enumerate() {
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td class=\"muted\">{}</td><td>{}</td>{}</tr>",
            avatar(&room.theme),
            escape(&room.name),
            escape(&room.aliases.join(", ")),
            escape(room.description.as_deref().unwrap_or_default()),
            presence_cell(now.get(i))
        );
    }
    if rooms.is_empty() {
        main.push_str("<tr><td colspan=\"5\">No rooms configured.</td></tr>");
    }
    main.push_str(
        "</tbody></table><h2>Gateway rules</h2><table id=\"rules\"><thead><tr>\
         <th scope=\"col\">Avatar</th><th scope=\"col\">Name</th><th scope=\"col\">Matches</th>\
         <th scope=\"col\">Dialects</th><th scope=\"col\">Shows as</th></tr></thead><tbody>",
    );
    for rule in directory.rules() {
        let dialects: Vec<&str> = rule.dialects.iter().map(|d| d.as_str()).collect();
        let _ = write!(
            main,
            "<tr><td>{}</td><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            avatar(&rule.theme),
            escape(&rule.name),
            escape(&rule.pattern),
            escape(&dialects.join(", ")),
            escape(rule.display_name.as_deref().unwrap_or("the address")),
        );
    }
    if directory.rules().is_empty() {
        main.push_str("<tr><td colspan=\"5\">No gateway rules configured.</td></tr>");
    }
    main.push_str("</tbody></table>");
    Html(layout(
        "Service contacts",
        "Service contacts",
        Some(&session),
        &main,
    ))
    .into_response()
}

/// Most not-live presentities the upstream page lists.
const UPSTREAM_ROWS: usize = 500;

/// `/console/upstream`: the presence provider's subscriptions — counts,
/// and the presentities whose upstream subscription is not live (failed
/// first, with the reason and when it is tried again).
pub(super) async fn upstream(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Response {
    let (done, answer) = tokio::sync::oneshot::channel();
    let asked = Control::ProviderOverview {
        max: UPSTREAM_ROWS,
        done,
    };
    let view = match state.control.send(asked).await {
        Ok(()) => answer.await.ok().flatten(),
        Err(_) => None,
    };
    let Some(view) = view else {
        let main = "<p id=\"upstream-off\">The presence provider is off: no <code>[provider] \
                    upstream</code> is configured.</p>";
        return Html(layout("Upstream", "Upstream", Some(&session), main)).into_response();
    };
    let s = view.stats;
    let mut main = format!(
        "<p>Upstream server: <code>{}</code></p>",
        escape(view.upstream.as_deref().unwrap_or_default())
    );
    let _ = write!(
        main,
        "<p id=\"upstream-connection\">Connection: <code>{}</code></p>",
        escape(&view.connection)
    );
    main.push_str("<table id=\"upstream-counts\"><tbody>");
    for (label, n) in [
        ("live", s.live),
        ("pending", s.pending),
        ("queued (throttle)", s.queued),
        ("retrying", s.retrying),
        ("failed", s.failed),
        ("consumers", s.consumers),
    ] {
        let _ = write!(main, "<tr><th scope=\"row\">{label}</th><td>{n}</td></tr>");
    }
    let _ = write!(
        main,
        "<tr><th scope=\"row\">resubscriptions</th><td>{}</td></tr></tbody></table>\
         <h2>Not live</h2><table id=\"not-live\"><thead><tr><th scope=\"col\">Presentity</th>\
         <th scope=\"col\">Status</th><th scope=\"col\">Consumers</th><th scope=\"col\">Why</th>\
         </tr></thead><tbody>",
        s.resubscriptions
    );
    let now = std::time::Instant::now();
    for (presentity, status, consumers) in &view.not_live {
        use presence::provider::Status;
        let (label, why) = match status {
            Status::Failed { reason } => ("failed".to_owned(), reason.clone()),
            Status::Retrying {
                at,
                failures,
                reason,
            } => (
                format!(
                    "retrying in {} s ({failures} failures)",
                    at.saturating_duration_since(now).as_secs()
                ),
                reason.clone(),
            ),
            Status::Pending => ("pending".to_owned(), String::new()),
            Status::Queued => ("queued".to_owned(), String::new()),
            Status::Live => ("live".to_owned(), String::new()),
        };
        let _ = write!(
            main,
            "<tr><td><a href=\"/console/presentity?uri={}\">{}</a></td><td>{}</td><td>{consumers}</td><td>{}</td></tr>",
            escape(&presentity.replace('%', "%25").replace('&', "%26").replace('#', "%23").replace('+', "%2B")),
            escape(presentity),
            escape(&label),
            escape(&why)
        );
    }
    if view.not_live.is_empty() {
        main.push_str("<tr><td colspan=\"4\">Every upstream subscription is live.</td></tr>");
    }
    main.push_str("</tbody></table>");
    Html(layout("Upstream", "Upstream", Some(&session), &main)).into_response()
}
