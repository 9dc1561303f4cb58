//! A small blocking HTTP/1.1 client for presenced's JSON API, with
//! keep-alive: what `sync-bench` drives the sync engine's contact-center
//! API with (`/api/v1/sync/...`).
//!
//! Why not a crate: the bench needs one request at a time per connection,
//! `Content-Length` bodies and a bearer token, nothing more; hyper's client
//! would pull a second HTTP stack into a load generator whose own cost
//! should stay small and visible. Request building and response-head
//! parsing are pure functions, unit-tested below; [`Connection`] is the
//! I/O around them.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};

/// Largest response body accepted (the API's answers are small JSON).
const MAX_BODY: usize = 1 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The connection failed or closed mid-response.
    #[error("HTTP connection: {0}")]
    Io(#[from] std::io::Error),
    /// The server's answer was not an HTTP/1.1 response we can read.
    #[error("bad HTTP response: {0}")]
    Response(String),
}

/// The head of a response: what the client needs to read the body and
/// keep the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The status code.
    pub status: u16,
    /// The body's length (`Content-Length`; 0 when absent).
    pub content_length: usize,
    /// The server said `Connection: close`: open a new connection next.
    pub close: bool,
}

/// The text of one request: `Host`, the bearer token when given, and a
/// JSON body with its length (keep-alive is HTTP/1.1's default).
pub fn request(method: &str, path: &str, host: &str, bearer: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut text = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    if let Some(token) = bearer {
        text.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() {
        text.push_str("Content-Type: application/json\r\n");
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads a response head: the status line and the header lines, without
/// the blank line that ends them.
pub fn parse_head(lines: &[&str]) -> Result<Head, ApiError> {
    let status_line = lines
        .first()
        .ok_or_else(|| ApiError::Response("no status line".into()))?;
    let mut parts = status_line.split(' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(ApiError::Response(format!("status line {status_line:?}")));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..600).contains(s))
        .ok_or_else(|| ApiError::Response(format!("status line {status_line:?}")))?;
    let mut head = Head {
        status,
        content_length: 0,
        close: version == "HTTP/1.0",
    };
    for line in &lines[1..] {
        let Some((name, value)) = line.split_once(':') else {
            return Err(ApiError::Response(format!("header line {line:?}")));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            head.content_length = value
                .parse()
                .ok()
                .filter(|n| *n <= MAX_BODY)
                .ok_or_else(|| ApiError::Response(format!("Content-Length {value:?}")))?;
        } else if name.eq_ignore_ascii_case("connection") {
            head.close = value.eq_ignore_ascii_case("close");
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ApiError::Response(format!(
                "Transfer-Encoding {value:?}: only Content-Length bodies are read"
            )));
        }
    }
    Ok(head)
}

/// One keep-alive connection to the API, reopened when the server
/// closes it.
#[derive(Debug)]
pub struct Connection {
    addr: SocketAddr,
    host: String,
    bearer: Option<String>,
    stream: Option<BufReader<TcpStream>>,
}

impl Connection {
    /// A connection to `addr`, sending `bearer` with every request; it
    /// connects on the first call.
    pub fn new(addr: SocketAddr, bearer: Option<&str>) -> Connection {
        Connection {
            addr,
            host: addr.to_string(),
            bearer: bearer.map(str::to_owned),
            stream: None,
        }
    }

    /// Sends one request and reads its response: (status, body).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        body: &[u8],
    ) -> Result<(u16, Vec<u8>), ApiError> {
        let text = request(method, path, &self.host, self.bearer.as_deref(), body);
        let stream = match &mut self.stream {
            Some(stream) => stream,
            None => {
                let stream = TcpStream::connect(self.addr)?;
                stream.set_nodelay(true)?;
                self.stream.insert(BufReader::new(stream))
            }
        };
        let answer = exchange(stream, &text);
        match &answer {
            Ok((head, _)) if !head.close => {}
            // A failed or closing connection is not used again.
            _ => self.stream = None,
        }
        answer.map(|(head, body)| (head.status, body))
    }
}

fn exchange(stream: &mut BufReader<TcpStream>, text: &[u8]) -> Result<(Head, Vec<u8>), ApiError> {
    stream.get_mut().write_all(text)?;
    let mut lines = Vec::new();
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line)? == 0 {
            return Err(ApiError::Response(
                "connection closed before the head ended".into(),
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        if lines.len() > 100 {
            return Err(ApiError::Response("more than 100 header lines".into()));
        }
        lines.push(line);
    }
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let head = parse_head(&refs)?;
    let mut body = vec![0u8; head.content_length];
    stream.read_exact(&mut body)?;
    Ok((head, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_carries_host_token_and_body_length() {
        let text = request(
            "POST",
            "/api/v1/sync/agents/7/state",
            "127.0.0.1:8080",
            Some("crm-secret"),
            br#"{"device":"Busy"}"#,
        );
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "POST /api/v1/sync/agents/7/state HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\
             Authorization: Bearer crm-secret\r\nContent-Type: application/json\r\n\
             Content-Length: 17\r\n\r\n{\"device\":\"Busy\"}"
        );
        let bare = request("GET", "/metrics", "h", None, b"");
        assert_eq!(
            bare,
            b"GET /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn a_head_gives_status_length_and_whether_the_connection_stays() {
        let head = parse_head(&[
            "HTTP/1.1 200 OK",
            "content-type: application/json",
            "content-length: 42",
        ])
        .unwrap();
        assert_eq!(
            head,
            Head {
                status: 200,
                content_length: 42,
                close: false
            }
        );
        let head = parse_head(&["HTTP/1.1 503 Service Unavailable", "Connection: close"]).unwrap();
        assert_eq!(
            (head.status, head.content_length, head.close),
            (503, 0, true)
        );
        assert!(parse_head(&["HTTP/1.0 204 No Content"]).unwrap().close);
    }

    #[test]
    fn a_head_we_cannot_read_is_an_error() {
        for lines in [
            vec![],
            vec!["SIP/2.0 200 OK"],
            vec!["HTTP/1.1 abc OK"],
            vec!["HTTP/1.1 200 OK", "no colon"],
            vec!["HTTP/1.1 200 OK", "Content-Length: -1"],
            vec!["HTTP/1.1 200 OK", "Content-Length: 99999999"],
            vec!["HTTP/1.1 200 OK", "Transfer-Encoding: chunked"],
        ] {
            assert!(parse_head(&lines).is_err(), "{lines:?}");
        }
    }
}
