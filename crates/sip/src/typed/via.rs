//! The Via header (RFC 3261 §20.42, RFC 3581 rport).

use bytes::Bytes;

use super::TypedError;
use crate::grammar;
use crate::header::HeaderName;
use crate::params::{self, Flavor, Params};
use crate::uri::{self, Host};

/// The RFC 3261 branch prefix that marks a branch as globally unique, which
/// is what allows matching by branch alone (§17.2.3).
pub const MAGIC_COOKIE: &[u8] = b"z9hG4bK";

/// One Via value: `SIP/2.0/UDP host:port;branch=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Protocol name and version, normally `SIP/2.0`.
    pub protocol: Bytes,
    /// Transport token as written (`UDP`, `TCP`, `TLS`, `WS`, or unknown).
    pub transport: Bytes,
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// branch, received, rport, maddr, ttl and extensions.
    pub params: Params,
}

const BAD: TypedError = TypedError::Invalid(HeaderName::Via, "malformed value");

/// The sent-by of a Via value and where its parameters start: what a
/// transport needs to stamp `received` and a transaction key needs beside
/// the branch, read without building the parameter list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentBy {
    /// The sent-by host.
    pub host: Host,
    /// The sent-by port, if given.
    pub port: Option<u16>,
    /// Where the parameters start (a `;`, white space, or the end).
    pub params_at: usize,
}

impl SentBy {
    /// Reads the sent-protocol and sent-by of one Via value by the rules
    /// of [`Via::parse`], which reads them this way; the parameters are
    /// not read.
    pub fn of(v: &Bytes) -> Result<SentBy, TypedError> {
        head(v).map(|h| h.sent_by)
    }

    /// Appends `host[:port]`, as [`Via::sent_by`] writes it.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        write_host_port(&self.host, self.port, out);
    }
}

fn write_host_port(host: &Host, port: Option<u16>, out: &mut Vec<u8>) {
    host.write_to(out);
    if let Some(p) = port {
        out.push(b':');
        crate::encode::decimal(out, u64::from(p));
    }
}

/// What precedes the parameters: the sent-protocol's parts and the sent-by.
struct Head {
    name: (usize, usize),
    version: (usize, usize),
    transport: (usize, usize),
    sent_by: SentBy,
}

fn head(v: &Bytes) -> Result<Head, TypedError> {
    let s = &v[..];
    // sent-protocol = protocol-name SLASH protocol-version SLASH transport,
    // with optional LWS around the slashes.
    let mut i = grammar::skip_ws(s, 0);
    let name_start = i;
    i = grammar::scan_token(s, i);
    let name_end = i;
    i = slash(s, i)?;
    let ver_start = i;
    i = grammar::scan_token(s, i);
    let ver_end = i;
    i = slash(s, i)?;
    let tr_start = i;
    i = grammar::scan_token(s, i);
    if name_end == name_start || ver_end == ver_start || i == tr_start {
        return Err(BAD);
    }
    let j = grammar::skip_ws(s, i);
    if j == i {
        return Err(TypedError::Invalid(
            HeaderName::Via,
            "no space before sent-by",
        ));
    }
    let (host, mut k) = uri::parse_host(v, j)
        .map_err(|_| TypedError::Invalid(HeaderName::Via, "bad sent-by host"))?;
    let mut port = None;
    let colon = grammar::skip_ws(s, k);
    if colon < s.len() && s[colon] == b':' {
        let p = grammar::skip_ws(s, colon + 1);
        let mut e = p;
        while e < s.len() && s[e].is_ascii_digit() {
            e += 1;
        }
        let n = grammar::parse_decimal(&s[p..e], u64::from(u16::MAX))
            .ok_or(TypedError::Invalid(HeaderName::Via, "bad sent-by port"))?;
        port = Some(n as u16);
        k = e;
    }
    Ok(Head {
        name: (name_start, name_end),
        version: (ver_start, ver_end),
        transport: (tr_start, i),
        sent_by: SentBy {
            host,
            port,
            params_at: k,
        },
    })
}

impl Via {
    /// Parses one Via value (one element of a comma list).
    pub fn parse(v: &Bytes) -> Result<Via, TypedError> {
        let s = &v[..];
        let Head {
            name,
            version,
            transport,
            sent_by,
        } = head(v)?;
        let protocol = if s[name.0..version.1]
            .iter()
            .any(|&b| b == b' ' || b == b'\t')
        {
            Bytes::from([&s[name.0..name.1], b"/", &s[version.0..version.1]].concat())
        } else {
            v.slice(name.0..version.1)
        };
        let (params, end) =
            params::parse(v, sent_by.params_at, s.len(), Flavor::Header).map_err(|_| BAD)?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(BAD);
        }
        if let Some(Some(rport)) = params.get("rport") {
            grammar::parse_decimal(rport, u64::from(u16::MAX))
                .ok_or(TypedError::Invalid(HeaderName::Via, "bad rport"))?;
        }
        if let Some(None) = params.get("branch") {
            return Err(TypedError::Invalid(HeaderName::Via, "empty branch"));
        }
        Ok(Via {
            protocol,
            transport: v.slice(transport.0..transport.1),
            host: sent_by.host,
            port: sent_by.port,
            params,
        })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&Bytes> {
        self.params.get("branch").flatten()
    }

    /// True when the branch carries the RFC 3261 magic cookie, so the
    /// transaction can be matched by branch alone.
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| is_rfc3261_branch(b))
    }

    /// `rport` as requested: `Some(None)` when the client asks for it
    /// (RFC 3581), `Some(Some(p))` when a server filled it in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params.get("rport").map(|v| {
            v.and_then(|p| grammar::parse_decimal(p, u64::from(u16::MAX)))
                .map(|p| p as u16)
        })
    }

    /// The sent-by as `host:port` text, for transaction matching.
    pub fn sent_by(&self) -> String {
        let mut out = Vec::with_capacity(32);
        self.write_sent_by(&mut out);
        // Hosts are written in ASCII; the fallback is for hand-built ones.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Appends what [`Via::sent_by`] returns, without `fmt` and without a
    /// `String` of its own: every new request's transaction key holds it.
    pub fn write_sent_by(&self, out: &mut Vec<u8>) {
        write_host_port(&self.host, self.port, out);
    }

    /// The branch among the parameters of `v` that start at `at` (a
    /// [`SentBy::params_at`]), raw as [`Via::branch`] has it.
    pub fn branch_at(v: &Bytes, at: usize) -> Result<Option<Bytes>, TypedError> {
        let span = params::find(v, at, b"branch", Flavor::Header).map_err(|_| BAD)?;
        Ok(span.and_then(|p| p.value).map(|(a, b)| v.slice(a..b)))
    }

    /// The branch of one Via value (its raw text, as [`Via::branch`]
    /// returns it), found by scanning the parameters alone: what a To tag
    /// or a log line needs costs no host or parameter list. On a value
    /// [`Via::parse`] accepts it is that Via's branch; the parameters
    /// start at the first `;`, which neither the sent-protocol nor the
    /// sent-by may contain.
    pub fn branch_of(v: &Bytes) -> Result<Option<Bytes>, TypedError> {
        Via::branch_at(v, memchr::memchr(b';', v).unwrap_or(v.len()))
    }
}

/// True when a branch carries the RFC 3261 magic cookie (and more), so the
/// transaction can be matched by branch alone (§17.2.3).
pub fn is_rfc3261_branch(branch: &[u8]) -> bool {
    branch.len() > MAGIC_COOKIE.len() && branch.starts_with(MAGIC_COOKIE)
}

fn slash(s: &[u8], i: usize) -> Result<usize, TypedError> {
    let i = grammar::skip_ws(s, i);
    if s.get(i) != Some(&b'/') {
        return Err(BAD);
    }
    Ok(grammar::skip_ws(s, i + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn via(s: &'static str) -> Result<Via, TypedError> {
        Via::parse(&Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn typical_via() {
        let v = via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport").unwrap();
        assert_eq!(v.protocol, "SIP/2.0");
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch().unwrap(), "z9hG4bK776asdhds");
        assert!(v.has_rfc3261_branch());
        assert_eq!(v.rport(), Some(None));
        assert_eq!(v.sent_by(), "192.0.2.1:5060");
    }

    #[test]
    fn lws_around_slashes_and_ipv6() {
        let v = via("SIP / 2.0 / TCP [2001:db8::9:1];branch=z9hG4bKas3-111;received=192.0.2.1")
            .unwrap();
        assert_eq!(v.protocol, "SIP/2.0");
        assert_eq!(v.transport, "TCP");
        assert_eq!(v.params.value("received").unwrap(), "192.0.2.1");
    }

    /// The scan finds what the parse finds, whatever surrounds the branch.
    #[test]
    fn branch_of_agrees_with_parse() {
        for text in [
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
            "SIP/2.0/UDP 10.0.0.1:5070;rport;BRANCH=z9hG4bK1;received=1.2.3.4",
            "SIP / 2.0 / TCP [2001:db8::9:1] ; branch = z9hG4bKas3-111",
            "SIP/2.0/UDP host;x=\"a;branch=no\";branch=yes",
            "SIP/2.0/UDP host.example.com",
            "SIP/2.0/UDP host;rport=5060",
        ] {
            let v = Bytes::from_static(text.as_bytes());
            let parsed = Via::parse(&v).unwrap();
            assert_eq!(
                Via::branch_of(&v).unwrap().as_ref(),
                parsed.branch(),
                "{text}"
            );
        }
    }

    /// The head alone reads what the whole parse reads.
    #[test]
    fn sent_by_of_agrees_with_parse() {
        for text in [
            "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds;rport",
            "SIP / 2.0 / TCP [2001:db8::9:1] ; branch = z9hG4bKas3-111",
            "SIP/2.0/UDP Host.Example.com : 5070",
            "SIP/2.0/TLS h",
        ] {
            let v = Bytes::from_static(text.as_bytes());
            let (parsed, head) = (Via::parse(&v).unwrap(), SentBy::of(&v).unwrap());
            assert_eq!(
                (&head.host, head.port),
                (&parsed.host, parsed.port),
                "{text}"
            );
            let (mut a, mut b) = (Vec::new(), Vec::new());
            head.write_to(&mut a);
            parsed.write_sent_by(&mut b);
            assert_eq!(a, b);
            assert_eq!(
                Via::branch_at(&v, head.params_at).unwrap().as_ref(),
                parsed.branch()
            );
        }
        assert!(SentBy::of(&Bytes::from_static(b"SIP/2.0 UDP h")).is_err());
        assert!(SentBy::of(&Bytes::from_static(b"SIP/2.0/UDP h:99999")).is_err());
    }

    #[test]
    fn sent_by_forms() {
        let sent_by = |s| via(s).unwrap().sent_by();
        assert_eq!(
            sent_by("SIP/2.0/UDP Client.Example.com;branch=z9hG4bK1"),
            "Client.Example.com"
        );
        assert_eq!(sent_by("SIP/2.0/UDP 192.0.2.1 : 5060"), "192.0.2.1:5060");
        assert_eq!(
            sent_by("SIP/2.0/TCP [2001:DB8::1]:5061"),
            "[2001:db8::1]:5061"
        );
    }

    #[test]
    fn rejects_broken_values() {
        assert!(via("SIP/2.0/UDP").is_err());
        assert!(via("SIP/2.0 UDP host").is_err());
        assert!(via("SIP/2.0/UDP host;branch").is_err());
        assert!(via("SIP/2.0/UDP host:99999").is_err());
        assert!(via("SIP/2.0/UDP host;rport=abc").is_err());
        assert!(via("SIP/2.0/UDP host;;branch=z9hG4bK1").is_err());
    }
}
