//! The plain response, read in one scan.
//!
//! A presence server receives one `200 OK` for every NOTIFY it sends, and
//! of each it reads the status, the top Via's branch and the CSeq method
//! (they find the client transaction, RFC 3261 §17.1.3). The full parser
//! takes such a response at a cost of a `Bytes` reference per header name
//! and value, a name lookup per header and a typed Via with an allocated
//! parameter list — most of the server's work on the UDP task in a
//! fan-out (`crates/bench/README.md`). [`scan`] reads a plain response in
//! one pass over its lines and keeps only what a client transaction
//! needs; anything it is not sure about — folding, a second Via value on
//! the top Via's line, quotes, control characters, a body, duplicates, a
//! header whose value the parser would check and the scan does not know
//! — makes it answer `None`, and the caller takes [`super::parse`].
//!
//! The promise, held by the oracle and property tests beside it: when the
//! scan answers, [`super::parse`] accepts the same bytes and reads the same
//! status, reason, top Via, CSeq and Call-ID.

use bytes::Bytes;

use super::call_id;
use crate::grammar;
use crate::header::{Header, HeaderName, Headers};
use crate::limits::Limits;
use crate::message::Response;
use crate::method::Method;
use crate::params::{self, Flavor};
use crate::typed::CSeq;
use crate::uri;

/// A response read by [`scan`], with the CSeq it carries already read (the
/// caller decides by its method whether the scan's reading is enough).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainResponse {
    /// Status, reason, and three headers in wire order: the top Via value
    /// (the first Via line, which holds exactly one value), CSeq and
    /// Call-ID, with their canonical names; the body is empty. Every other
    /// header was checked as the parser checks it and left out.
    pub response: Response,
    /// The CSeq header, read.
    pub cseq: CSeq,
}

/// What the header lines said so far: where the kept values are (from the
/// first line of each name) and which once-only headers were seen.
#[derive(Default)]
struct Kept {
    via: Option<(usize, usize)>,
    cseq: Option<(usize, usize)>,
    call_id: Option<(usize, usize)>,
    from: bool,
    to: bool,
    content_length: bool,
}

/// The start of the Via values an endpoint writes into its own requests
/// (`SIP/2.0/UDP host:port;branch=`), checked once. A response to one of
/// our requests carries our Via back as its top Via, and checking that
/// value's grammar (sent-protocol, host, port, parameters) was a third of
/// the scan's work on a fan-out's 200s: a top Via that begins with this
/// prefix, followed by a branch of token characters and nothing but an
/// optional `;rport` (valued or not), is known to be what the parser
/// accepts, and any other value is read in full as before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnVia(Box<[u8]>);

impl OwnVia {
    /// `prefix` as a known start of our Via values, or `None` when it is
    /// not one the shortcut can vouch for: it must end in `;branch=`, hold
    /// no other parameter, and make a Via the parser accepts with a branch
    /// and an `rport` after it.
    pub fn new(prefix: &str) -> Option<OwnVia> {
        let p = prefix.as_bytes();
        let plain = |tail: &[u8]| plain_via(&[p, tail].concat()).is_some();
        let only_branch = memchr::memchr_iter(b';', p).count() == 1;
        (p.ends_with(b";branch=") && only_branch && plain(b"z9hG4bK") && plain(b"z9hG4bK;rport=9"))
            .then(|| OwnVia(p.into()))
    }

    /// Whether `v` is this prefix, a branch and at most an `rport`: a value
    /// [`plain_via`] is sure to accept. `false` says nothing either way.
    fn vouches_for(&self, v: &[u8]) -> bool {
        let Some(rest) = v.strip_prefix(&self.0[..]) else {
            return false;
        };
        let branch = rest.iter().take_while(|&&b| grammar::is_token(b)).count();
        branch > 0
            && match &rest[branch..] {
                b"" | b";rport" => true,
                tail => tail.strip_prefix(b";rport=").is_some_and(|port| {
                    !port.is_empty()
                        && port.iter().all(u8::is_ascii_digit)
                        && grammar::parse_decimal(port, u64::from(u16::MAX)).is_some()
                }),
            }
    }
}

/// Reads `buf` as a plain response within `limits`; `None` when it is not
/// one, or when the scan cannot be sure the parser reads it the same way
/// (see the module documentation). Allocates only the response's header
/// vector, and that exactly to its three headers.
pub fn scan(buf: &Bytes, limits: &Limits) -> Option<PlainResponse> {
    scan_own(buf, limits, None)
}

/// [`scan`] for an endpoint that knows the start of its own Via values:
/// a top Via that [`OwnVia`] vouches for is not read again. Same answers
/// as [`scan`], for less work on the responses to our own requests.
pub fn scan_own(buf: &Bytes, limits: &Limits, own: Option<&OwnVia>) -> Option<PlainResponse> {
    let s = &buf[..];
    if s.len() > limits.max_message_size || !s.starts_with(b"SIP/2.0 ") {
        return None;
    }
    let (status_end, mut pos) = line_at(s, 0)?;
    let (status, reason) = status_line(&s[..status_end], limits)?;
    let mut kept = Kept::default();
    let mut lines = 0;
    // Lines that ended in CR LF, the status line's included.
    let mut crlf = usize::from(status_end + 1 < pos);
    loop {
        let (end, next) = line_at(s, pos)?;
        crlf += usize::from(end + 1 < next);
        if end == pos {
            pos = next;
            break;
        }
        lines += 1;
        if end - pos > limits.max_header_line
            || lines > limits.max_headers
            || matches!(s.get(next), Some(b' ' | b'\t'))
        {
            return None;
        }
        header_line(s, pos, end, own, &mut kept)?;
        pos = next;
    }
    // Bytes after the blank line are a body (or junk) the parser would
    // weigh against Content-Length: not plain. Any control character but
    // the CR of a line's end is one the parser refuses or reads apart.
    if pos != s.len() || controls(s) != crlf || !kept.from || !kept.to {
        return None;
    }
    let (via, cseq_at, call_id_at) = (kept.via?, kept.cseq?, kept.call_id?);
    let cseq = read_cseq(buf, cseq_at)?;
    let mut picked = [
        (via, HeaderName::Via),
        (cseq_at, HeaderName::CSeq),
        (call_id_at, HeaderName::CallId),
    ];
    picked.sort_unstable_by_key(|&((at, _), _)| at);
    let headers: Headers = picked
        .into_iter()
        .map(|((a, b), name)| Header {
            name,
            raw_name: Bytes::from_static(name.as_str().as_bytes()),
            value: buf.slice(a..b),
        })
        .collect();
    Some(PlainResponse {
        response: Response {
            status,
            reason: reason.map_or_else(Bytes::new, |r| buf.slice(r)),
            headers,
            body: Bytes::new(),
        },
        cseq,
    })
}

/// How many bytes of `s` are control characters, CR included (below
/// 0x20 but HTAB and LF, or DEL; the parser refuses all but CR in the
/// status line and in header values). A plain message has exactly one per
/// line that ends in CR LF: a stray CR or any other control character
/// makes the count larger. One pass over the whole message, where a
/// check per line cost a call and a tail each.
fn controls(s: &[u8]) -> usize {
    // 128 bytes a chunk keeps the count within a byte. (Sixteen lanes of
    // counters, or eight bytes a word, cost two to three times as much on
    // the baseline x86-64 target: measured with callgrind.)
    s.chunks(128)
        .map(|chunk| usize::from(chunk.iter().fold(0u8, |n, &b| n + is_control(b))))
        .sum()
}

/// 1 for a byte [`controls`] counts, 0 for any other.
#[inline]
fn is_control(b: u8) -> u8 {
    u8::from(((b < 0x20) & (b != b'\t') & (b != b'\n')) | (b == 0x7f))
}

/// The line starting at `pos`: where it ends (without CR LF, or a bare LF
/// as the parser tolerates) and where the next begins.
fn line_at(s: &[u8], pos: usize) -> Option<(usize, usize)> {
    let nl = pos + memchr::memchr(b'\n', &s[pos..])?;
    let end = if nl > pos && s[nl - 1] == b'\r' {
        nl - 1
    } else {
        nl
    };
    Some((end, nl + 1))
}

/// `SIP/2.0 ddd[ reason]`: the status and where the reason is, if any.
fn status_line(line: &[u8], limits: &Limits) -> Option<(u16, Option<std::ops::Range<usize>>)> {
    if line.len() > limits.max_header_line || line.len() < 11 {
        return None;
    }
    let status = grammar::parse_decimal(&line[8..11], 699).filter(|&c| c >= 100)? as u16;
    match line.get(11) {
        None => Some((status, None)),
        Some(b' ') => Some((status, Some(12..line.len()))),
        Some(_) => None,
    }
}

/// Checks one header line `s[a..b]` as the parser would and notes the
/// headers the scan keeps; `None` for anything it is not sure about.
fn header_line(s: &[u8], a: usize, b: usize, own: Option<&OwnVia>, kept: &mut Kept) -> Option<()> {
    let line = &s[a..b];
    // The parser takes the text before the first colon, trimmed, and
    // wants a token: a token, white space and the colon, read in one walk
    // (a token holds no colon), which also refuses a line that starts
    // with white space.
    let name_end = grammar::scan_token(line, 0);
    let colon = grammar::skip_ws(line, name_end);
    if name_end == 0 || line.get(colon) != Some(&b':') {
        return None;
    }
    let name = &line[..name_end];
    let (vs, ve) = grammar::trim(line, colon + 1, line.len());
    let value = &line[vs..ve];
    let at = (a + vs, a + ve);
    match name_of(name) {
        HeaderName::Via if kept.via.is_none() => {
            if !own.is_some_and(|own| own.vouches_for(value)) {
                plain_via(value)?;
            }
            kept.via = Some(at);
        }
        // Only the top Via routes a response; the parser checks no other.
        HeaderName::Via => {}
        HeaderName::CSeq if kept.cseq.is_none() => kept.cseq = Some(at),
        HeaderName::CallId if kept.call_id.is_none() => {
            call_id(value).ok()?;
            kept.call_id = Some(at);
        }
        HeaderName::From if !kept.from => kept.from = true,
        HeaderName::To if !kept.to => kept.to = true,
        HeaderName::ContentLength if !kept.content_length => {
            // A non-zero length announces a body: not plain.
            (grammar::parse_decimal(value, u64::from(u32::MAX))? == 0).then_some(())?;
            kept.content_length = true;
        }
        HeaderName::Supported
        | HeaderName::Allow
        | HeaderName::Require
        | HeaderName::ProxyRequire
        | HeaderName::Unsupported
        | HeaderName::AllowEvents => token_list(value)?,
        name if unchecked_in_responses(name) => {}
        // A duplicate, or a header whose value the parser checks.
        _ => return None,
    }
    Some(())
}

/// The header a name designates. The names of a plain response are
/// matched without the general lookup; any other goes through it.
fn name_of(name: &[u8]) -> HeaderName {
    let is = |full: &[u8]| name.eq_ignore_ascii_case(full);
    match name.len() {
        1 => HeaderName::from_bytes(name),
        2 if is(b"to") => HeaderName::To,
        3 if is(b"via") => HeaderName::Via,
        4 if is(b"from") => HeaderName::From,
        4 if is(b"cseq") => HeaderName::CSeq,
        7 if is(b"call-id") => HeaderName::CallId,
        14 if is(b"content-length") => HeaderName::ContentLength,
        _ => HeaderName::from_bytes(name),
    }
}

/// Headers whose values the parser does not check in a response
/// (`super::validate_header`): names it only reads on demand, and
/// every name it has no grammar for. A test feeds each of them a value no
/// grammar accepts and expects the parser to take the response.
fn unchecked_in_responses(name: HeaderName) -> bool {
    use HeaderName::*;
    matches!(
        name,
        Other
            | Contact
            | Route
            | RecordRoute
            | Path
            | ReplyTo
            | ReferTo
            | ReferredBy
            | AcceptContact
            | AcceptEncoding
            | AcceptLanguage
            | AlertInfo
            | AuthenticationInfo
            | Authorization
            | CallInfo
            | ContentDisposition
            | ContentEncoding
            | ContentLanguage
            | ErrorInfo
            | Identity
            | InReplyTo
            | MimeVersion
            | MinSe
            | Organization
            | Priority
            | ProxyAuthenticate
            | ProxyAuthorization
            | RAck
            | Reason
            | RejectContact
            | RequestDisposition
            | RSeq
            | Server
            | SessionExpires
            | Subject
            | Timestamp
            | UserAgent
            | WwwAuthenticate
    )
}

/// A list of tokens (`Supported: replaces, 100rel`), empty allowed; quotes
/// and angle brackets, which change where the parser splits, are not plain.
fn token_list(v: &[u8]) -> Option<()> {
    if v.is_empty() {
        return Some(());
    }
    if memchr::memchr2(b'"', b'<', v).is_some() {
        return None;
    }
    v.split(|&b| b == b',')
        .all(|part| {
            let (a, b) = grammar::trim(part, 0, part.len());
            grammar::is_token_str(&part[a..b])
        })
        .then_some(())
}

/// A top Via value the typed parser accepts, read without building it:
/// sent-protocol, sent-by and parameters, with `rport` a port number and
/// `branch` valued when present (`typed::Via::parse`). A quote, comma or
/// angle bracket is not plain: it could hide a second value.
fn plain_via(v: &[u8]) -> Option<()> {
    if memchr::memchr3(b'"', b',', b'<', v).is_some() {
        return None;
    }
    let mut i = grammar::skip_ws(v, 0);
    for last in [false, false, true] {
        let start = i;
        i = grammar::scan_token(v, i);
        if i == start {
            return None;
        }
        if !last {
            i = grammar::skip_ws(v, i);
            if v.get(i) != Some(&b'/') {
                return None;
            }
            i = grammar::skip_ws(v, i + 1);
        }
    }
    let j = grammar::skip_ws(v, i);
    if j == i {
        return None;
    }
    let (_, mut k) = uri::scan_host(v, j).ok()?;
    let colon = grammar::skip_ws(v, k);
    if v.get(colon) == Some(&b':') {
        let p = grammar::skip_ws(v, colon + 1);
        let e = p + v[p..].iter().take_while(|b| b.is_ascii_digit()).count();
        grammar::parse_decimal(&v[p..e], u64::from(u16::MAX))?;
        k = e;
    }
    let (mut rport, mut branch) = (None, None);
    let end = params::each(v, k, v.len(), Flavor::Header, |name, value| {
        let name = &v[name];
        if rport.is_none() && name.eq_ignore_ascii_case(b"rport") {
            rport = Some(value.clone());
        }
        if branch.is_none() && name.eq_ignore_ascii_case(b"branch") {
            branch = Some(value);
        }
    })
    .ok()?;
    if grammar::skip_ws(v, end) != v.len() || matches!(branch, Some(None)) {
        return None;
    }
    if let Some(Some(port)) = rport {
        grammar::parse_decimal(&v[port], u64::from(u16::MAX))?;
    }
    Some(())
}

/// The CSeq at `a..b`, read as `typed::CSeq::parse` reads it.
fn read_cseq(buf: &Bytes, (a, b): (usize, usize)) -> Option<CSeq> {
    let v = &buf[a..b];
    let (seq, m) = CSeq::read(v).ok()?;
    let method = Method::known(&v[m.clone()])
        .unwrap_or_else(|| Method::Extension(buf.slice(a + m.start..a + m.end)));
    Some(CSeq { seq, method })
}

#[cfg(test)]
mod tests;
