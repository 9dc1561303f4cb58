//! URIs: `sip:`, `sips:` (RFC 3261 §19.1), `tel:` (RFC 3966) and any other
//! absolute URI, kept opaque.
//!
//! A [`Uri`] is immutable and always made by parsing text, so its components
//! (slices of the same buffer) can never disagree with the bytes that will be
//! written back: serialization is the original text, which keeps forwarding
//! and signature-like comparisons exact. Build a new URI by formatting a
//! string and parsing it.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::Bytes;

use crate::params::{self, Flavor, Params};

/// The scheme of a URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS on every hop).
    Sips,
    /// `tel:` (RFC 3966).
    Tel,
    /// Anything else, such as `im:` or `pres:`; see [`Uri::scheme_str`].
    Other,
}

/// The host part of a SIP URI or Via sent-by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A domain name, as written (compare case-insensitively).
    Domain(Bytes),
    /// A dotted IPv4 address.
    V4(Ipv4Addr),
    /// An IPv6 reference (written in brackets).
    V6(Ipv6Addr),
}

impl Host {
    /// Appends what [`Display`](fmt::Display) writes, without `fmt` for
    /// the common forms: a request's sent-by, its `received` stamp and the
    /// AOR of its From are written on every request's way in, and `fmt`
    /// was most of what writing them cost.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        match self {
            Host::Domain(d) => out.extend_from_slice(d),
            Host::V4(a) => write_v4(out, *a),
            Host::V6(a) => {
                use std::io::Write as _;
                // Writing into a Vec cannot fail.
                let _ = write!(out, "[{a}]");
            }
        }
    }
}

/// Appends an IPv4 address in dotted-quad form, as `Display` writes it.
pub fn write_v4(out: &mut Vec<u8>, a: Ipv4Addr) {
    // At most "255.255.255.255": one reservation, not a growth per push.
    out.reserve(15);
    for (i, octet) in a.octets().into_iter().enumerate() {
        if i > 0 {
            out.push(b'.');
        }
        crate::encode::decimal(out, u64::from(octet));
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Domain(d) => f.write_str(&String::from_utf8_lossy(d)),
            Host::V4(a) => write!(f, "{a}"),
            Host::V6(a) => write!(f, "[{a}]"),
        }
    }
}

/// Why a URI was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// No `scheme:` prefix, or a scheme with forbidden characters.
    #[error("missing or malformed URI scheme")]
    Scheme,
    /// The user or password part has a forbidden character or bad escape.
    #[error("malformed user part")]
    User,
    /// The host is empty or not a valid name or address.
    #[error("malformed host")]
    Host,
    /// The port is not a number from 0 to 65535.
    #[error("malformed port")]
    Port,
    /// A URI parameter is malformed.
    #[error("malformed URI parameter")]
    Param,
    /// The `?headers` part is malformed.
    #[error("malformed URI headers")]
    Headers,
    /// White space or a control character inside the URI.
    #[error("white space or control character in URI")]
    Whitespace,
    /// A telephone number with characters RFC 3966 does not allow.
    #[error("malformed telephone number")]
    Telephone,
}

/// A parsed URI; see the module documentation.
#[derive(Clone, PartialEq, Eq)]
pub struct Uri {
    raw: Bytes,
    scheme: Scheme,
    user: Option<Bytes>,
    password: Option<Bytes>,
    host: Option<Host>,
    port: Option<u16>,
    params: Params,
    headers: Option<Bytes>,
}

impl Uri {
    /// Parses a complete URI from a buffer the result will share.
    pub fn parse(raw: Bytes) -> Result<Uri, UriError> {
        let s = &raw[..];
        if s.iter().any(|&b| b <= b' ' || b == 0x7f) {
            return Err(UriError::Whitespace);
        }
        let colon = memchr::memchr(b':', s).ok_or(UriError::Scheme)?;
        let scheme_bytes = &s[..colon];
        let valid_scheme = scheme_bytes.first().is_some_and(u8::is_ascii_alphabetic)
            && scheme_bytes
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"+-.".contains(&b));
        if !valid_scheme {
            return Err(UriError::Scheme);
        }
        let scheme = if scheme_bytes.eq_ignore_ascii_case(b"sip") {
            Scheme::Sip
        } else if scheme_bytes.eq_ignore_ascii_case(b"sips") {
            Scheme::Sips
        } else if scheme_bytes.eq_ignore_ascii_case(b"tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let mut uri = Uri {
            raw: raw.clone(),
            scheme,
            user: None,
            password: None,
            host: None,
            port: None,
            params: Params::default(),
            headers: None,
        };
        match scheme {
            Scheme::Sip | Scheme::Sips => uri.parse_sip(colon + 1)?,
            Scheme::Tel => uri.parse_tel(colon + 1)?,
            Scheme::Other => {
                if colon + 1 >= s.len() {
                    return Err(UriError::Scheme);
                }
            }
        }
        Ok(uri)
    }

    /// Parses a URI from text, copying it; for URIs built by this process.
    pub fn parse_str(s: &str) -> Result<Uri, UriError> {
        Uri::parse(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn parse_sip(&mut self, start: usize) -> Result<(), UriError> {
        let raw = self.raw.clone();
        let s = &raw[..];
        let mut i = start;
        if let Some(at) = memchr::memchr(b'@', &s[start..]).map(|p| start + p) {
            let userinfo = &s[start..at];
            let (user_end, pass) = match memchr::memchr(b':', userinfo) {
                Some(c) => (start + c, Some((start + c + 1, at))),
                None => (at, None),
            };
            if user_end == start || !user_chars_valid(&s[start..user_end]) {
                return Err(UriError::User);
            }
            self.user = Some(raw.slice(start..user_end));
            if let Some((a, b)) = pass {
                if !password_chars_valid(&s[a..b]) {
                    return Err(UriError::User);
                }
                self.password = Some(raw.slice(a..b));
            }
            i = at + 1;
        }
        let (host, after_host) = parse_host(&raw, i)?;
        self.host = Some(host);
        i = after_host;
        if i < s.len() && s[i] == b':' {
            let pstart = i + 1;
            let mut pend = pstart;
            while pend < s.len() && s[pend].is_ascii_digit() {
                pend += 1;
            }
            let port = crate::grammar::parse_decimal(&s[pstart..pend], u64::from(u16::MAX))
                .ok_or(UriError::Port)?;
            self.port = Some(port as u16);
            i = pend;
        }
        let (params, after) =
            params::parse(&raw, i, s.len(), Flavor::Uri).map_err(|_| UriError::Param)?;
        self.params = params;
        i = after;
        if i < s.len() {
            if s[i] != b'?' || i + 1 == s.len() {
                return Err(UriError::Param);
            }
            let h = &s[i + 1..];
            let ok = h
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || b"-_.!~*'()[]/?:+$%&=".contains(&b))
                && params::escapes_valid(h);
            if !ok {
                return Err(UriError::Headers);
            }
            self.headers = Some(raw.slice(i + 1..));
        }
        Ok(())
    }

    fn parse_tel(&mut self, start: usize) -> Result<(), UriError> {
        let raw = self.raw.clone();
        let s = &raw[..];
        let mut end = start;
        while end < s.len() && s[end] != b';' {
            end += 1;
        }
        let number = &s[start..end];
        // At least one digit: "tel:((" or "tel:+" name nothing (RFC 3966 §3).
        let digits_ok = number
            .iter()
            .any(|&b| b.is_ascii_hexdigit() || b == b'*' || b == b'#')
            && number.iter().enumerate().all(|(k, &b)| {
                b.is_ascii_hexdigit() || b"*#-.()pPwW".contains(&b) || (b == b'+' && k == 0)
            });
        if !digits_ok {
            return Err(UriError::Telephone);
        }
        self.user = Some(raw.slice(start..end));
        let (params, after) =
            params::parse(&raw, end, s.len(), Flavor::Uri).map_err(|_| UriError::Param)?;
        if after != s.len() {
            return Err(UriError::Param);
        }
        self.params = params;
        Ok(())
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The scheme as written (`sip`, `SIP`, `im`, ...).
    pub fn scheme_str(&self) -> &[u8] {
        let colon = memchr::memchr(b':', &self.raw).unwrap_or(0);
        &self.raw[..colon]
    }

    /// True for `sip:` and `sips:` URIs, the ones with host and parameters.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The user part (escapes kept); for `tel:` the telephone number.
    pub fn user(&self) -> Option<&Bytes> {
        self.user.as_ref()
    }

    /// The password part, if a client was careless enough to send one.
    pub fn password(&self) -> Option<&Bytes> {
        self.password.as_ref()
    }

    /// The host of a SIP URI.
    pub fn host(&self) -> Option<&Host> {
        self.host.as_ref()
    }

    /// The explicit port of a SIP URI.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// URI parameters (`;transport=tcp;lr`).
    pub fn params(&self) -> &Params {
        &self.params
    }

    /// The `?h=v&...` part without the `?`.
    pub fn headers(&self) -> Option<&Bytes> {
        self.headers.as_ref()
    }

    /// The URI text exactly as parsed.
    pub fn as_bytes(&self) -> &Bytes {
        &self.raw
    }

    /// The address-of-record form used to name a presentity: scheme, user and
    /// host only, with the host lowercased (RFC 3261 §19.1.4 compares hosts
    /// case-insensitively and users case-sensitively). `tel:` URIs keep the
    /// number, with visual separators removed (RFC 3966 §4).
    pub fn aor(&self) -> String {
        let mut out = Vec::with_capacity(self.raw.len());
        match self.scheme {
            Scheme::Sip | Scheme::Sips => {
                out.extend_from_slice(if self.scheme == Scheme::Sips {
                    b"sips:"
                } else {
                    b"sip:"
                });
                if let Some(u) = &self.user {
                    out.extend_from_slice(u);
                    out.push(b'@');
                }
                if let Some(h) = &self.host {
                    let at = out.len();
                    h.write_to(&mut out);
                    out[at..].make_ascii_lowercase();
                }
            }
            Scheme::Tel => {
                out.extend_from_slice(b"tel:");
                if let Some(u) = &self.user {
                    out.extend(u.iter().filter(|b| !b"-.()".contains(b)));
                }
            }
            Scheme::Other => out.extend_from_slice(&self.raw),
        }
        // The separators written above are ASCII, so replacing what is not
        // UTF-8 here replaces what a part-by-part replacement would.
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }
}

impl fmt::Display for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.raw))
    }
}

impl fmt::Debug for Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uri({self})")
    }
}

fn user_chars_valid(u: &[u8]) -> bool {
    u.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,;?/".contains(&b))
        && params::escapes_valid(u)
}

fn password_chars_valid(p: &[u8]) -> bool {
    p.iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-_.!~*'()%&=+$,".contains(&b))
        && params::escapes_valid(p)
}

/// Parses a host at `i` (domain, IPv4 or `[IPv6]`); returns it and the
/// position after it. Shared with the Via sent-by parser.
pub fn parse_host(raw: &Bytes, i: usize) -> Result<(Host, usize), UriError> {
    let (form, end) = scan_host(raw, i)?;
    let host = match form {
        HostForm::V6(addr) => Host::V6(addr),
        HostForm::V4(addr) => Host::V4(addr),
        HostForm::Domain => Host::Domain(raw.slice(i..end)),
    };
    Ok((host, end))
}

/// What [`scan_host`] found, without the domain name's text: a reader
/// that only checks a host (the plain-response scan) takes no reference
/// to the buffer for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HostForm {
    /// `[IPv6]`.
    V6(Ipv6Addr),
    /// A dotted quad.
    V4(Ipv4Addr),
    /// A domain name: the text up to the end position.
    Domain,
}

/// The one reading of a host that [`parse_host`] and the plain-response
/// scan share: its form and the position after it.
pub(crate) fn scan_host(s: &[u8], i: usize) -> Result<(HostForm, usize), UriError> {
    if s.get(i) == Some(&b'[') {
        let close = memchr::memchr(b']', &s[i..])
            .map(|p| i + p)
            .ok_or(UriError::Host)?;
        let text = std::str::from_utf8(&s[i + 1..close]).map_err(|_| UriError::Host)?;
        let addr: Ipv6Addr = text.parse().map_err(|_| UriError::Host)?;
        return Ok((HostForm::V6(addr), close + 1));
    }
    // One pass finds the end and what the host looks like: every host of
    // every Via, From, To and Request-URI comes through here.
    let mut end = i;
    let mut numeric = true;
    let mut double_dot = false;
    while let Some(&b) = s.get(end) {
        match b {
            b'.' => double_dot |= end > i && s[end - 1] == b'.',
            b'0'..=b'9' => {}
            b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' => numeric = false,
            _ => break,
        }
        end += 1;
    }
    let text = &s[i..end];
    if text.is_empty() || text[0] == b'.' || text[0] == b'-' || double_dot {
        return Err(UriError::Host);
    }
    if numeric {
        if let Some(addr) = dotted_quad(text) {
            return Ok((HostForm::V4(addr), end));
        }
        // Anything unusual (leading zeros, a missing octet) is left to
        // the standard library's reading, which decides.
        let t = std::str::from_utf8(text).map_err(|_| UriError::Host)?;
        return t
            .parse::<Ipv4Addr>()
            .map(|a| (HostForm::V4(a), end))
            .map_err(|_| UriError::Host);
    }
    // The top label of a domain name starts with a letter (RFC 3261 §25.1).
    let last = text.strip_suffix(b".").unwrap_or(text);
    let top = last.rsplit(|&b| b == b'.').next().unwrap_or(last);
    if !top.first().is_some_and(u8::is_ascii_alphabetic) {
        return Err(UriError::Host);
    }
    Ok((HostForm::Domain, end))
}

/// The plain form of an IPv4 address (four decimal octets without leading
/// zeros), read without the standard library's general parser; `None` for
/// anything else, which the caller hands to that parser.
fn dotted_quad(text: &[u8]) -> Option<Ipv4Addr> {
    // One pass, octet by octet: an iterator of parts cost several times
    // as much, and every Via of every response we receive has one.
    let mut octets = [0u8; 4];
    let (mut n, mut value, mut digits) = (0, 0u16, 0);
    for &b in text {
        if b == b'.' {
            if digits == 0 || n == 3 {
                return None;
            }
            octets[n] = u8::try_from(value).ok()?;
            (n, value, digits) = (n + 1, 0, 0);
        } else if b.is_ascii_digit() && digits < 3 && !(digits == 1 && value == 0) {
            value = value * 10 + u16::from(b - b'0');
            digits += 1;
        } else {
            return None;
        }
    }
    if n != 3 || digits == 0 {
        return None;
    }
    octets[3] = u8::try_from(value).ok()?;
    Some(Ipv4Addr::from(octets))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast reading of an IPv4 address agrees with the standard
    /// library's on every form either might see.
    #[test]
    fn dotted_quads_read_as_the_standard_library_does() {
        proptest::proptest!(|(text in "[0-9.]{0,16}")| {
            let fast = dotted_quad(text.as_bytes());
            proptest::prop_assert!(fast.is_none() || fast == text.parse::<Ipv4Addr>().ok(), "{}", text);
            // The plain form is read without the standard library.
            let plain = text.split('.').count() == 4
                && text.split('.').all(|p| !p.is_empty() && p.len() <= 3 && (p == "0" || !p.starts_with('0')));
            proptest::prop_assert_eq!(fast.is_some(), plain && text.parse::<Ipv4Addr>().is_ok(), "{}", text);
        });
        for text in [
            "127.0.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "10.1.2.3",
            "256.1.1.1",
            "01.2.3.4",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "1.2.3.",
            "1000.1.1.1",
            "00.0.0.0",
            "1.2.3.04",
            "0.10.100.200",
            ".1.2.3",
            "1.2.3.256",
            "1.2.3.0",
        ] {
            let fast = dotted_quad(text.as_bytes());
            let std = text.parse::<Ipv4Addr>().ok();
            if fast.is_some() {
                assert_eq!(fast, std, "{text}");
            }
            let host = parse_host(&Bytes::from(text), 0).map(|(h, _)| h).ok();
            match std {
                Some(addr) => assert_eq!(host, Some(Host::V4(addr)), "{text}"),
                None => assert!(!matches!(host, Some(Host::V4(_))), "{text}"),
            }
        }
    }

    fn u(s: &str) -> Result<Uri, UriError> {
        Uri::parse_str(s)
    }

    #[test]
    fn sip_uri_components() {
        let uri = u("sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=x&priority=urgent")
            .unwrap();
        assert_eq!(uri.scheme(), Scheme::Sip);
        assert_eq!(uri.user().unwrap(), "alice");
        assert_eq!(uri.password().unwrap(), "secret");
        assert_eq!(
            uri.host(),
            Some(&Host::Domain(Bytes::from_static(b"Example.COM")))
        );
        assert_eq!(uri.port(), Some(5070));
        assert_eq!(uri.params().value("transport").unwrap(), "tcp");
        assert!(uri.params().has("lr"));
        assert_eq!(uri.headers().unwrap(), "subject=x&priority=urgent");
        assert_eq!(uri.aor(), "sip:alice@example.com");
    }

    #[test]
    fn addresses() {
        let v6 = u("sips:[2001:db8::10]:5061").unwrap();
        assert_eq!(v6.host(), Some(&Host::V6("2001:db8::10".parse().unwrap())));
        assert_eq!(v6.port(), Some(5061));
        let v4 = u("sip:192.0.2.1").unwrap();
        assert_eq!(v4.host(), Some(&Host::V4("192.0.2.1".parse().unwrap())));
        assert_eq!(u("sip:256.0.0.1"), Err(UriError::Host));
        assert_eq!(u("sip:host:70000"), Err(UriError::Port));
        assert_eq!(u("sip:[::1"), Err(UriError::Host));
    }

    /// The writer that spares `fmt` writes what `Display` writes, and the
    /// AOR built on it is what `format!` built.
    #[test]
    fn hosts_write_as_they_display() {
        for text in [
            "sip:Example.COM",
            "sip:192.0.2.1",
            "sip:0.0.0.0",
            "sip:[2001:DB8::10]:5061",
        ] {
            let host = u(text).unwrap().host().cloned().unwrap();
            let mut out = Vec::new();
            host.write_to(&mut out);
            assert_eq!(String::from_utf8(out).unwrap(), host.to_string());
        }
        assert_eq!(
            u("sip:Bob@[2001:DB8::10]:5061").unwrap().aor(),
            "sip:Bob@[2001:db8::10]"
        );
        assert_eq!(
            u("sips:10.0.0.1;transport=tls").unwrap().aor(),
            "sips:10.0.0.1"
        );
        assert_eq!(
            u("sip:%41lice@EXAMPLE.com").unwrap().aor(),
            "sip:%41lice@example.com"
        );
    }

    #[test]
    fn semicolons_and_escapes_in_user_part() {
        // RFC 4475 semiuri and esc01.
        let uri = u("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(uri.user().unwrap(), "user;par=u%40example.net");
        assert!(uri.params().is_empty());
        assert!(u("sip:sips%3Auser%40example.com@example.net").is_ok());
        assert_eq!(u("sip:us%4ger@example.net"), Err(UriError::User));
    }

    #[test]
    fn tel_and_other_schemes() {
        let t = u("tel:+1-201-555-0123;phone-context=example.com").unwrap();
        assert_eq!(t.scheme(), Scheme::Tel);
        assert_eq!(t.aor(), "tel:+12015550123");
        assert_eq!(t.params().value("phone-context").unwrap(), "example.com");
        assert_eq!(u("tel:12+3"), Err(UriError::Telephone));
        assert_eq!(u("tel:((("), Err(UriError::Telephone));
        assert_eq!(u("tel:+"), Err(UriError::Telephone));
        let o = u("nobodyknowsthisscheme:totallyopaquecontent").unwrap();
        assert_eq!(o.scheme(), Scheme::Other);
        assert_eq!(o.scheme_str(), b"nobodyknowsthisscheme");
        assert!(u("soap.beep://192.0.2.103:3002").is_ok());
        assert_eq!(u("1abc:x"), Err(UriError::Scheme));
        assert_eq!(u("noscheme"), Err(UriError::Scheme));
    }

    #[test]
    fn white_space_is_rejected() {
        assert_eq!(u("sip:user@example.com "), Err(UriError::Whitespace));
        assert_eq!(u("sip:us er@example.com"), Err(UriError::Whitespace));
    }

    #[test]
    fn serialization_is_the_input() {
        for s in [
            "sip:a@B.c;X=Y;lr",
            "SIP:%61lice@example.com",
            "tel:+31-6-1234;ext=1",
        ] {
            assert_eq!(u(s).unwrap().to_string(), s);
        }
    }
}
