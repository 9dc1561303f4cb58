//! The console's pages, rendered on the server: plain HTML with landmarks,
//! labels and visible focus, one script and one style sheet from the
//! console itself (the Content-Security-Policy allows nothing inline).

use std::fmt::Write as _;
use std::time::SystemTime;

use axum::extract::State;
use axum::response::Html;
use axum::Extension;
use serde_json::{json, Value};

use super::session::Session;
use super::{AppState, Console};

/// Text made safe for HTML content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The frame of every page: a skip link, the navigation (with the current
/// page marked for screen readers), the logout form and `main`.
pub(super) fn layout(title: &str, current: &str, session: Option<&Session>, main: &str) -> String {
    let nav = match session {
        None => String::new(),
        Some(session) => {
            let link = |href: &str, label: &str| {
                let here = if label == current {
                    " aria-current=\"page\""
                } else {
                    ""
                };
                format!("<li><a href=\"{href}\"{here}>{label}</a></li>")
            };
            format!(
                "<nav aria-label=\"Console\"><ul>{}{}{}{}{}{}</ul>\
                 <form method=\"post\" action=\"/console/logout\" class=\"logout\">\
                 <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
                 <span>{}</span> <button type=\"submit\">Log out</button></form></nav>",
                link("/console/", "Status"),
                link("/console/directory", "Directory"),
                link("/console/services", "Service contacts"),
                link("/console/agents", "Agents"),
                link("/console/upstream", "Upstream"),
                link("/console/config", "Configuration"),
                escape(&session.csrf),
                escape(&session.user),
            )
        }
    };
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · presenced</title><link rel=\"icon\" href=\"data:,\">\
         <link rel=\"stylesheet\" href=\"/console/app.css\">\
         <script src=\"/console/app.js\" defer></script></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><span class=\"brand\">presenced</span>{nav}</header>\
         <main id=\"main\" tabindex=\"-1\"><h1>{title}</h1>{main}</main></body></html>\n",
        title = escape(title),
    )
}

/// The login page; `message` is shown as an alert.
pub fn login(csrf: &str, message: Option<&str>) -> String {
    let alert = message.map_or_else(String::new, |m| {
        format!(
            "<p role=\"alert\" class=\"error\" id=\"login-error\">{}</p>",
            escape(m)
        )
    });
    let main = format!(
        "{alert}<form method=\"post\" action=\"/console/login\" class=\"login\">\
         <input type=\"hidden\" name=\"csrf\" value=\"{}\">\
         <label for=\"user\">User name</label>\
         <input id=\"user\" name=\"user\" autocomplete=\"username\" required autofocus>\
         <label for=\"password\">Password</label>\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
         <button type=\"submit\" id=\"login\">Log in</button></form>",
        escape(csrf)
    );
    layout("Log in", "", None, &main)
}

/// The status page: filled in at once and refreshed by the script.
pub(super) async fn status(
    State(state): State<AppState>,
    Extension(session): Extension<Session>,
) -> Html<String> {
    let Some(console) = state.console.clone() else {
        return Html(String::new());
    };
    let data = status_data(&state, &console);
    let mut main = String::new();
    let _ = write!(
        main,
        "<dl class=\"facts\"><dt>Version</dt><dd id=\"version\">{}</dd>\
         <dt>Host</dt><dd id=\"host\">{}</dd>\
         <dt>Up for</dt><dd id=\"uptime\" data-started=\"{}\">{} s</dd>\
         <dt>Listeners</dt><dd id=\"listeners\">{}</dd></dl>",
        escape(data["version"].as_str().unwrap_or_default()),
        escape(data["host"].as_str().unwrap_or_default()),
        data["started"],
        data["uptime_secs"],
        escape(&console.listeners.join(", ")),
    );
    main.push_str("<h2>Now</h2><table id=\"counts\" aria-live=\"polite\"><tbody>");
    if let Some(counts) = data["counts"].as_object() {
        for (name, value) in counts {
            let _ = write!(
                main,
                "<tr><th scope=\"row\">{}</th><td data-count=\"{}\">{}</td></tr>",
                escape(&name.replace('_', " ")),
                escape(name),
                value
            );
        }
    }
    main.push_str(
        "</tbody></table><h2>NOTIFYs sent per second</h2>\
         <figure class=\"chart\"><svg id=\"notify-rate\" viewBox=\"0 0 300 60\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-labelledby=\"notify-rate-caption\">\
         <polyline fill=\"none\" stroke-width=\"2\" points=\"\"/></svg>\
         <figcaption id=\"notify-rate-caption\">The last two minutes, every 2 s: \
         <span id=\"notify-rate-now\">measuring</span></figcaption></figure>\
         <h2>NOTIFY latency</h2>\
         <figure class=\"chart\"><svg id=\"notify-latency\" viewBox=\"0 0 300 60\" \
         preserveAspectRatio=\"none\" role=\"img\" aria-labelledby=\"notify-latency-caption\">\
         <polyline class=\"p99\" fill=\"none\" stroke-width=\"2\" points=\"\"/>\
         <polyline class=\"p50\" fill=\"none\" stroke-width=\"2\" points=\"\"/></svg>\
         <figcaption id=\"notify-latency-caption\">From the change (the turn that took the \
         publication) to the NOTIFY handed to the transport, p50 (solid) and p99 (dashed) \
         of each second with NOTIFYs, the last two minutes: \
         <span id=\"notify-latency-now\">no NOTIFY yet</span></figcaption></figure>",
    );
    let _ = write!(
        main,
        "<h2>Directory</h2><p id=\"directory-health\">{}</p>",
        escape(data["directory"].as_str().unwrap_or_default())
    );
    Html(layout("Status", "Status", Some(&session), &main))
}

/// The directory page: the search form; results and their live presence
/// come from the script.
pub(super) async fn directory(Extension(session): Extension<Session>) -> Html<String> {
    let main = "<form id=\"search\" role=\"search\" action=\"/console/directory\" method=\"get\">\
        <label for=\"q\">Search the directory</label>\
        <input id=\"q\" name=\"q\" type=\"search\" autocomplete=\"off\" \
         placeholder=\"name, address, mail, title...\">\
        <button type=\"submit\">Search</button></form>\
        <p id=\"summary\" aria-live=\"polite\"></p>\
        <table id=\"results\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Address</th>\
        <th scope=\"col\">Kind</th><th scope=\"col\">From</th><th scope=\"col\">Presence</th>\
        <th scope=\"col\">CC status</th></tr></thead><tbody></tbody></table>";
    Html(layout("Directory", "Directory", Some(&session), main))
}

/// A gauge or counter's value from the Prometheus text, by its name and
/// labels as rendered (`presenced_subscriptions{state="active"}`).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            let (name, value) = l.rsplit_once(' ')?;
            (name == series).then(|| value.parse().ok())?
        })
        .unwrap_or(0.0)
}

/// The host's name.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}

/// What the status page shows: version, host, uptime, listeners, the
/// live counts (from the metrics the core keeps), the NOTIFY latency of
/// the last seconds (`crate::latency`) and the directory's health.
pub(super) fn status_data(state: &AppState, console: &Console) -> Value {
    state.metrics.run_upkeep();
    let text = state.metrics.render();
    let counts = [
        ("registrations", "presenced_registrar_bindings"),
        (
            "subscriptions_active",
            "presenced_subscriptions{state=\"active\"}",
        ),
        (
            "subscriptions_pending",
            "presenced_subscriptions{state=\"pending\"}",
        ),
        ("publications", "presenced_publications"),
        ("presentities", "presenced_presentities"),
        (
            "upstream_live",
            "presenced_upstream_subscriptions{status=\"live\"}",
        ),
        (
            "upstream_failed",
            "presenced_upstream_subscriptions{status=\"failed\"}",
        ),
        ("notifies_sent", "presenced_notify_sent_total"),
        (
            "directory_entries_ldap",
            "presenced_directory_entries{origin=\"ldap\"}",
        ),
        (
            "directory_entries_rooms",
            "presenced_directory_entries{origin=\"room\"}",
        ),
    ];
    let counts: serde_json::Map<String, Value> = counts
        .iter()
        .map(|(name, series)| ((*name).to_owned(), json!(metric(&text, series) as u64)))
        .collect();
    let started = console
        .started_at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "host": host(),
        "started": started,
        "uptime_secs": console.started.elapsed().as_secs(),
        "listeners": console.listeners,
        "counts": counts,
        "notify_latency": state.recent.notify_latency.series(),
        "directory": state.directory.health(SystemTime::now())
            .unwrap_or_else(|| format!("{} entries (no ldap)", state.directory.book().book.len())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_and_metrics_are_read() {
        assert_eq!(
            escape("<a href=\"x\">O'Neil & co</a>"),
            "&lt;a href=&quot;x&quot;&gt;O&#39;Neil &amp; co&lt;/a&gt;"
        );
        let page = login("tok\"en", Some("<script>"));
        assert!(page.contains("value=\"tok&quot;en\""));
        assert!(page.contains("&lt;script&gt;") && !page.contains("<script>alert"));
        let text =
            "# HELP x\npresenced_subscriptions{state=\"active\"} 7\npresenced_publications 3\n";
        assert_eq!(
            metric(text, "presenced_subscriptions{state=\"active\"}"),
            7.0
        );
        assert_eq!(metric(text, "presenced_publications"), 3.0);
        assert_eq!(metric(text, "presenced_presentities"), 0.0);
    }
}
