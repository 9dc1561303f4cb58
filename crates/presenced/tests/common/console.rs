//! The web console over plain HTTP/1.1, for tests that need a session:
//! one exchange at a time (reading exactly the body announced, chunked
//! or not), cookies, `presenced hash-password`, and the login form with
//! its double-submit token.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::Presenced;

/// One HTTP/1.1 exchange: status, headers (lowercased names), body.
pub fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[String],
    body: &[u8],
    wait: Duration,
) -> (u16, Vec<(String, String)>, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(wait)).expect("timeout");
    let extra: String = headers.iter().map(|h| format!("{h}\r\n")).collect();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .expect("send");
    stream.write_all(body).expect("send body");
    // Read the head, then exactly the body it announces: a peer may keep
    // the connection open whatever `Connection: close` says.
    let mut bytes = Vec::new();
    let mut buf = [0u8; 8192];
    let head_end = loop {
        if let Some(at) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
        let n = stream.read(&mut buf).expect("read head");
        assert!(n > 0, "connection closed before the head");
        bytes.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&bytes[..head_end]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[head_end + 4..].to_vec();
    let length: Option<usize> = header(&headers, "content-length")
        .first()
        .and_then(|v| v.parse().ok());
    let chunked = header(&headers, "transfer-encoding")
        .iter()
        .any(|v| v.contains("chunked"));
    loop {
        let complete = match length {
            Some(n) => body.len() >= n,
            None if chunked => body.windows(5).any(|w| w == b"0\r\n\r\n"),
            None => false,
        };
        if complete {
            break;
        }
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => body.extend_from_slice(&buf[..n]),
            Err(e) => panic!("reading the body of {method} {path}: {e}"),
        }
    }
    let body = String::from_utf8_lossy(&body).into_owned();
    let body = if chunked { dechunk(&body) } else { body };
    (status, headers, body)
}

pub fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// `name=value` of the Set-Cookie named `name`.
pub fn cookie(headers: &[(String, String)], name: &str) -> Option<String> {
    header(headers, "set-cookie")
        .into_iter()
        .filter_map(|c| c.split(';').next())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

pub fn hash(password: &str) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("hash-password")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("presenced hash-password");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The login form's double-submit token, from its page.
pub fn form_token(page: &str) -> &str {
    page.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("the form's token")
}

/// Logs in over plain HTTP; returns the response to the POST.
pub fn login(
    server: &Presenced,
    user: &str,
    password: &str,
) -> (u16, Vec<(String, String)>, String) {
    let addr = server.http_addr();
    let (status, headers, page) = exchange(addr, "GET", "/console/login", &[], b"", super::WAIT);
    assert_eq!(status, 200);
    let login_cookie = cookie(&headers, "presenced_login").expect("the form's cookie");
    let csrf = form_token(&page);
    let body = format!("user={user}&password={password}&csrf={csrf}");
    exchange(
        addr,
        "POST",
        "/console/login",
        &[
            "Content-Type: application/x-www-form-urlencoded".to_owned(),
            format!("Cookie: {login_cookie}"),
        ],
        body.as_bytes(),
        super::WAIT,
    )
}
