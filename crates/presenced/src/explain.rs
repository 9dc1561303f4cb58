//! `presenced explain URI`, the presence provider's part: which source
//! serves the presentity, with seed 004's step-by-step reasoning, and
//! where its upstream subscription stands. The live state is the running
//! server's, so it is asked over its operator HTTP listener
//! (`GET /api/v1/provider/presentities/{uri}`, [`crate::http::provider`]);
//! when no server answers, the reasoning comes from the configuration
//! file and the state is said to be unknown.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::config::Config;
use crate::control::UpstreamView;
use crate::http::provider::PresentityReport;

/// How long the running server gets to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest answer read (an explanation is a few lines).
const MAX_ANSWER: u64 = 1 << 20;

/// The provider's explanation of `uri`, asking the server at `server`
/// (the operator listener) for the live state.
pub fn provider(config: &Config, uri: &str, server: Option<SocketAddr>) -> String {
    // A room's `**PIN` is cut off before anything is shown or asked.
    let stripped = rules::pin::strip(uri);
    let uri = stripped.as_deref().unwrap_or(uri);
    let mut out = String::from("presence provider:\n");
    let asked = match server {
        Some(addr) => {
            ask(addr, uri).map_err(|e| format!("the server at {addr} did not answer: {e}"))
        }
        None => Err("no server to ask (http.listen is off)".to_owned()),
    };
    match asked {
        Ok(report) => {
            for line in &report.explanation {
                let _ = writeln!(out, "{line}");
            }
            let state = state_line(config, &report);
            let _ = writeln!(out, "{state}");
        }
        Err(why) => {
            let settings = &config.provider;
            let choice = settings.sources.choose(uri);
            out.push_str(&choice.to_string());
            let key = sip::Uri::parse_str(uri)
                .map(|u| u.aor())
                .unwrap_or_default();
            if !key.is_empty() && !settings.covers(&key) {
                let _ = writeln!(
                    out,
                    "- {key} is outside [provider] domains: the provider does not serve it"
                );
            }
            let _ = writeln!(
                out,
                "subscription state: unknown ({why}; the reasoning above is the configuration file's)"
            );
        }
    }
    out
}

fn state_line(config: &Config, report: &PresentityReport) -> String {
    match (report.source.as_deref(), &report.upstream) {
        (Some("upstream"), Some(view)) => format!("subscription state: {}", describe(view)),
        (Some("upstream"), None) => format!(
            "subscription state: none (the provider is off: [provider] upstream is not set{})",
            if config.provider.upstream.is_some() {
                " on the running server"
            } else {
                ""
            }
        ),
        (Some("attendant"), _) => {
            "subscription state: no upstream subscription; attendant clients set this presence through the API".to_owned()
        }
        (Some("pstn"), _) => {
            "subscription state: no upstream subscription; the contact center reports this line's call state through the API".to_owned()
        }
        _ => "subscription state: none".to_owned(),
    }
}

/// One upstream subscription's state in words.
pub fn describe(view: &UpstreamView) -> String {
    let consumers = match view.consumers {
        1 => "1 consumer".to_owned(),
        n => format!("{n} consumers"),
    };
    let state = match view.status.as_str() {
        "unsubscribed" => "unsubscribed (nobody watches it)".to_owned(),
        "queued" => format!("queued behind the throttle ({consumers}, shown pending)"),
        "pending" => format!("pending: SUBSCRIBE sent, no state yet ({consumers})"),
        "live" => format!("live ({consumers})"),
        "retrying" => format!(
            "retrying in {} s after {} failure(s), the last: {} ({consumers}, shown unknown)",
            view.retry_in_secs.unwrap_or_default(),
            view.failures.unwrap_or_default(),
            view.reason.as_deref().unwrap_or("?"),
        ),
        "failed" => format!(
            "failed, given up: {} ({consumers}, shown unknown)",
            view.reason.as_deref().unwrap_or("?")
        ),
        other => format!("{other} ({consumers})"),
    };
    // Over a connection that is not up, that is the reason to look at
    // first: every subscription waits for it.
    match view.connection.as_deref() {
        Some(connection) if connection != "up" => {
            format!("{state}; the upstream connection is {connection}")
        }
        _ => state,
    }
}

/// `GET /api/v1/provider/presentities/{uri}` on `addr`: a plain
/// HTTP/1.1 exchange, enough for one small JSON answer.
fn ask(addr: SocketAddr, uri: &str) -> Result<PresentityReport, String> {
    let mut stream = TcpStream::connect_timeout(&addr, ASK_TIMEOUT).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(ASK_TIMEOUT))
        .map_err(|e| e.to_string())?;
    write!(
        stream,
        "GET /api/v1/provider/presentities/{} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n",
        percent_encode(uri)
    )
    .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    stream
        .take(MAX_ANSWER)
        .read_to_end(&mut answer)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or("an incomplete HTTP answer")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        return Err(format!("{status}: {}", body.trim()));
    }
    serde_json::from_str(body).map_err(|e| format!("an unreadable answer: {e}"))
}

/// A URI as one path segment (RFC 3986 §2.3: only unreserved characters
/// stay as they are).
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn uris_travel_as_one_path_segment() {
        assert_eq!(
            percent_encode("sip:+31612345678@gw.example.com;user=phone"),
            "sip%3A%2B31612345678%40gw.example.com%3Buser%3Dphone"
        );
    }

    #[test]
    fn without_a_server_the_file_reasons_and_the_state_is_unknown() {
        let config = Config::parse(
            Path::new("p.toml"),
            "[provider.attendant_service_source]\npatterns = ['^sip:attendant\\.']\n",
        )
        .unwrap();
        let text = provider(&config, "tel:+31612345678", None);
        assert!(
            text.contains("  - The PstnPresenceSource is enabled\n"),
            "{text}"
        );
        assert!(
            text.contains("      - The PstnPresenceSource is used\n"),
            "{text}"
        );
        assert!(
            text.ends_with("subscription state: unknown (no server to ask (http.listen is off); the reasoning above is the configuration file's)\n"),
            "{text}"
        );
    }

    #[test]
    fn states_read_as_words() {
        let view = |status: &str| UpstreamView {
            status: status.to_owned(),
            consumers: 50,
            failures: Some(2),
            reason: Some("403 Forbidden".to_owned()),
            retry_in_secs: Some(870),
            connection: None,
        };
        assert_eq!(describe(&view("live")), "live (50 consumers)");
        let down = UpstreamView {
            connection: Some(
                "down: TLS handshake failed: invalid peer certificate: UnknownIssuer".to_owned(),
            ),
            ..view("queued")
        };
        assert_eq!(
            describe(&down),
            "queued behind the throttle (50 consumers, shown pending); the upstream connection \
             is down: TLS handshake failed: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(
            describe(&view("retrying")),
            "retrying in 870 s after 2 failure(s), the last: 403 Forbidden (50 consumers, shown unknown)"
        );
        assert_eq!(
            describe(&view("failed")),
            "failed, given up: 403 Forbidden (50 consumers, shown unknown)"
        );
    }
}
