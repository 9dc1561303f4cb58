//! `presenced explain AGENT-or-URI` asking the running server: what the
//! sync engine does for an agent depends on its current states, which
//! only the server has (the config alone cannot say), so the command
//! calls `GET /api/v1/sync/explain/{target}` with an integration token.
//! A plain blocking HTTP/1.1 exchange over loopback with a timeout; no
//! client library for one request.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// How long the command waits for the server.
const TIMEOUT: Duration = Duration::from_secs(5);

/// Why the server's explanation is not there.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The server could not be reached.
    #[error("the server at {addr} is not reachable: {source}")]
    Unreachable {
        /// Its HTTP address.
        addr: SocketAddr,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The server answered with an error.
    #[error("the server answered {status}: {error}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its `error` text.
        error: String,
    },
    /// The answer was not what the API documents.
    #[error("the server's answer does not read: {0}")]
    Garbled(String),
}

/// The explanation's lines for `target` (agent id or presentity URI).
pub fn explain(addr: SocketAddr, token: &str, target: &str) -> Result<Vec<String>, RemoteError> {
    let unreachable = |source| RemoteError::Unreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .map_err(unreachable)?;
    let path: String =
        percent_encoding::utf8_percent_encode(target, percent_encoding::NON_ALPHANUMERIC).collect();
    write!(
        stream,
        "GET /api/v1/sync/explain/{path} HTTP/1.1\r\nHost: {addr}\r\n\
         Authorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .map_err(unreachable)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(unreachable)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| RemoteError::Garbled("no end of headers".into()))?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| RemoteError::Garbled(format!("status line {head:?}")))?;
    let json: serde_json::Value =
        serde_json::from_str(body).map_err(|e| RemoteError::Garbled(e.to_string()))?;
    if status != 200 {
        return Err(RemoteError::Refused {
            status,
            error: json["error"].as_str().unwrap_or_default().to_owned(),
        });
    }
    json["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect()
        })
        .ok_or_else(|| RemoteError::Garbled("no `lines`".into()))
}
