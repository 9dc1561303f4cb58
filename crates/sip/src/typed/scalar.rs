//! Small single-valued headers: CSeq, Content-Type, Event,
//! Subscription-State, Retry-After, Warning, Date and delta-seconds.

use bytes::Bytes;

use super::TypedError;
use crate::grammar;
use crate::header::HeaderName;
use crate::method::Method;
use crate::params::{self, Flavor, Params};

/// CSeq numbers are below 2^31 (RFC 3261 §8.1.1.5).
const CSEQ_MAX: u64 = (1 << 31) - 1;

/// `CSeq: 4711 SUBSCRIBE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    /// Sequence number, below 2^31.
    pub seq: u32,
    /// The method it numbers; must equal the request's (RFC 4475 mismatch01).
    pub method: Method,
}

impl CSeq {
    /// Parses `number LWS method`.
    pub fn parse(v: &Bytes) -> Result<CSeq, TypedError> {
        let (seq, method) = CSeq::read(v)?;
        let method =
            Method::known(&v[method.clone()]).unwrap_or_else(|| Method::Extension(v.slice(method)));
        Ok(CSeq { seq, method })
    }

    /// The grammar of [`CSeq::parse`] on a slice: the number and where the
    /// method token is. For readers that need only the method of a value
    /// they hold as a slice (a transaction key, the plain-response scan),
    /// so that a known method costs no reference to the buffer.
    pub fn read(s: &[u8]) -> Result<(u32, std::ops::Range<usize>), TypedError> {
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let seq = grammar::parse_decimal(&s[..i], CSEQ_MAX).ok_or(TypedError::Invalid(
            HeaderName::CSeq,
            "sequence number is not a number below 2^31",
        ))?;
        let m = grammar::skip_ws(s, i);
        if m == i {
            return Err(TypedError::Invalid(HeaderName::CSeq, "malformed value"));
        }
        if !grammar::is_token_str(&s[m..]) {
            return Err(TypedError::Invalid(HeaderName::CSeq, "malformed method"));
        }
        Ok((seq as u32, m..s.len()))
    }
}

/// Parses delta-seconds (Expires, Min-Expires, Max-Forwards bounds differ):
/// a decimal no larger than `max`, naming `name` in the error.
pub fn parse_delta(name: HeaderName, v: &[u8], max: u64) -> Result<u64, TypedError> {
    grammar::parse_decimal(v, max)
        .ok_or(TypedError::Invalid(name, "value is not a number in range"))
}

/// `Content-Type: type/subtype;params` (RFC 3261 §20.15).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentType {
    /// Top-level type, as written.
    pub kind: Bytes,
    /// Subtype, as written.
    pub subtype: Bytes,
    /// Parameters (`charset`, `boundary`, `type`, ...).
    pub params: Params,
}

impl ContentType {
    /// Parses a media type; also used for each Accept value.
    pub fn parse(v: &Bytes) -> Result<ContentType, TypedError> {
        let bad = TypedError::Invalid(HeaderName::ContentType, "malformed media type");
        let s = &v[..];
        let a = grammar::skip_ws(s, 0);
        let ae = grammar::scan_token(s, a);
        let sl = grammar::skip_ws(s, ae);
        if ae == a || s.get(sl) != Some(&b'/') {
            return Err(bad);
        }
        let b = grammar::skip_ws(s, sl + 1);
        let be = grammar::scan_token(s, b);
        if be == b {
            return Err(bad);
        }
        let (params, end) = params::parse(v, be, s.len(), Flavor::Header).map_err(|_| bad)?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad);
        }
        Ok(ContentType {
            kind: v.slice(a..ae),
            subtype: v.slice(b..be),
            params,
        })
    }

    /// True when this is `kind/subtype` (case-insensitive); `*` matches any.
    pub fn matches(&self, kind: &str, subtype: &str) -> bool {
        let k = &self.kind[..] == b"*"
            || kind == "*"
            || self.kind.eq_ignore_ascii_case(kind.as_bytes());
        let s = &self.subtype[..] == b"*"
            || subtype == "*"
            || self.subtype.eq_ignore_ascii_case(subtype.as_bytes());
        k && s
    }
}

/// `Event: presence;id=1` (RFC 6665 §8.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// Event package and template, such as `presence` or `presence.winfo`.
    pub package: Bytes,
    /// Parameters, of which `id` distinguishes subscriptions in one dialog.
    pub params: Params,
}

impl Event {
    /// Parses an event type and its parameters.
    pub fn parse(v: &Bytes) -> Result<Event, TypedError> {
        let bad = TypedError::Invalid(HeaderName::Event, "malformed event type");
        let s = &v[..];
        let a = grammar::skip_ws(s, 0);
        let e = grammar::scan_token(s, a);
        if e == a {
            return Err(bad);
        }
        let (params, end) = params::parse(v, e, s.len(), Flavor::Header).map_err(|_| bad)?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad);
        }
        Ok(Event {
            package: v.slice(a..e),
            params,
        })
    }

    /// The `id` parameter.
    pub fn id(&self) -> Option<Bytes> {
        self.params.value("id")
    }

    /// Whether this names `package`. Event types compare byte by byte
    /// (RFC 6665 §7.2.1, as RFC 3265 did): `Presence` is not `presence`.
    /// Every place that asks which package a request names goes through
    /// here, so the router, the notifier and the publication handler can
    /// never disagree about one request.
    pub fn is(&self, package: &str) -> bool {
        self.package[..] == *package.as_bytes()
    }
}

/// `Subscription-State: active;expires=600` (RFC 6665 §8.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    /// `active`, `pending`, `terminated` or an extension.
    pub state: Bytes,
    /// `expires`, `reason`, `retry-after`, ...
    pub params: Params,
}

impl SubscriptionState {
    /// Parses the header.
    pub fn parse(v: &Bytes) -> Result<SubscriptionState, TypedError> {
        let bad = TypedError::Invalid(HeaderName::SubscriptionState, "malformed value");
        let s = &v[..];
        let a = grammar::skip_ws(s, 0);
        let e = grammar::scan_token(s, a);
        if e == a {
            return Err(bad);
        }
        let (params, end) = params::parse(v, e, s.len(), Flavor::Header).map_err(|_| bad)?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad);
        }
        if let Some(x) = params.value("expires") {
            parse_delta(HeaderName::SubscriptionState, &x, u64::from(u32::MAX))?;
        }
        Ok(SubscriptionState {
            state: v.slice(a..e),
            params,
        })
    }
}

/// `Retry-After: 120 (comment);duration=60` (RFC 3261 §20.33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryAfter {
    /// Seconds to wait.
    pub seconds: u32,
}

impl RetryAfter {
    /// Parses the header; the comment and parameters are validated, not kept.
    pub fn parse(v: &Bytes) -> Result<RetryAfter, TypedError> {
        let bad = TypedError::Invalid(HeaderName::RetryAfter, "malformed value");
        let s = &v[..];
        let mut i = 0;
        while i < s.len() && s[i].is_ascii_digit() {
            i += 1;
        }
        let seconds = parse_delta(HeaderName::RetryAfter, &s[..i], u64::from(u32::MAX))? as u32;
        let mut j = grammar::skip_ws(s, i);
        if s.get(j) == Some(&b'(') {
            let mut depth = 0usize;
            while j < s.len() {
                match s[j] {
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if depth != 0 {
                return Err(bad);
            }
            j += 1;
        }
        let (params, end) = params::parse(v, j, s.len(), Flavor::Header).map_err(|_| bad)?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad);
        }
        if let Some(d) = params.value("duration") {
            parse_delta(HeaderName::RetryAfter, &d, u64::from(u32::MAX))?;
        }
        Ok(RetryAfter { seconds })
    }
}

/// One Warning value: `399 host "text"` (RFC 3261 §20.43).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// Three-digit warn-code.
    pub code: u16,
    /// The warn-agent.
    pub agent: Bytes,
    /// The quoted warn-text, quotes kept.
    pub text: Bytes,
}

impl Warning {
    /// Parses one value.
    pub fn parse(v: &Bytes) -> Result<Warning, TypedError> {
        let bad = TypedError::Invalid(HeaderName::Warning, "malformed value");
        let s = &v[..];
        if s.len() < 4 || !s[..3].iter().all(u8::is_ascii_digit) || s[3] != b' ' {
            return Err(TypedError::Invalid(
                HeaderName::Warning,
                "warn-code is not three digits",
            ));
        }
        let code =
            (u16::from(s[0] - b'0')) * 100 + u16::from(s[1] - b'0') * 10 + u16::from(s[2] - b'0');
        let a = grammar::skip_ws(s, 4);
        let mut e = a;
        while e < s.len() && s[e] != b' ' && s[e] != b'\t' {
            e += 1;
        }
        let q = grammar::skip_ws(s, e);
        if e == a || s.get(q) != Some(&b'"') {
            return Err(bad);
        }
        let qe = grammar::scan_quoted(s, q).ok_or(bad)?;
        if grammar::skip_ws(s, qe) != s.len() {
            return Err(bad);
        }
        Ok(Warning {
            code,
            agent: v.slice(a..e),
            text: v.slice(q..qe),
        })
    }
}

const WKDAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Validates a SIP-date, the RFC 1123 form that must end in `GMT`
/// (RFC 3261 §20.17; RFC 4475 `baddate` uses `EST`). Returns seconds since
/// the Unix epoch.
pub fn parse_date(v: &[u8]) -> Result<u64, TypedError> {
    let bad = TypedError::Invalid(HeaderName::Date, "not an RFC 1123 date in GMT");
    // "Sat, 13 Nov 2010 23:29:00 GMT" is exactly 29 bytes.
    if v.len() != 29
        || &v[3..5] != b", "
        || v[7] != b' '
        || v[11] != b' '
        || v[16] != b' '
        || &v[25..] != b" GMT"
    {
        return Err(bad);
    }
    if !WKDAYS.contains(&&v[..3]) {
        return Err(bad);
    }
    let month = MONTHS.iter().position(|m| *m == &v[8..11]).ok_or(bad)? as u64;
    let num = |r: std::ops::Range<usize>, max: u64| grammar::parse_decimal(&v[r], max).ok_or(bad);
    let day = num(5..7, 31)?;
    let year = num(12..16, 9999)?;
    if v[19] != b':' || v[22] != b':' {
        return Err(bad);
    }
    let (h, m, s) = (num(17..19, 23)?, num(20..22, 59)?, num(23..25, 60)?);
    if day == 0 || year < 1970 {
        return Err(bad);
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, mo) = if month < 2 {
        (year - 1, month + 10)
    } else {
        (year, month - 2)
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(days * 86_400 + h * 3600 + m * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    #[test]
    fn cseq() {
        let c = CSeq::parse(&b("4711 SUBSCRIBE")).unwrap();
        assert_eq!((c.seq, c.method), (4711, Method::Subscribe));
        assert!(CSeq::parse(&b("36893488147419103232 INVITE")).is_err());
        assert!(CSeq::parse(&b("2147483648 INVITE")).is_err());
        assert!(CSeq::parse(&b("1INVITE")).is_err());
        assert!(CSeq::parse(&b("INVITE")).is_err());
    }

    #[test]
    fn content_type_and_event() {
        let c = ContentType::parse(&b("application/pidf+xml;charset=UTF-8")).unwrap();
        assert!(c.matches("application", "PIDF+XML"));
        assert!(ContentType::parse(&b("application")).is_err());
        let e = Event::parse(&b("presence;id=7")).unwrap();
        assert_eq!(e.package, "presence");
        assert_eq!(e.id().unwrap(), "7");
    }

    #[test]
    fn subscription_state_and_retry_after() {
        let s = SubscriptionState::parse(&b("terminated;reason=timeout")).unwrap();
        assert_eq!(s.params.value("reason").unwrap(), "timeout");
        assert_eq!(
            RetryAfter::parse(&b("120 (I'm in a meeting);duration=60"))
                .unwrap()
                .seconds,
            120
        );
        assert!(RetryAfter::parse(&b("949302838503028349304023988")).is_err());
    }

    #[test]
    fn warning() {
        let w = Warning::parse(&b("370 devnull \"Choose a bigger pipe\"")).unwrap();
        assert_eq!(w.code, 370);
        assert!(Warning::parse(&b("1812 overture \"In Progress\"")).is_err());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"Thu, 01 Jan 1970 00:00:00 GMT").unwrap(), 0);
        assert_eq!(
            parse_date(b"Sat, 13 Nov 2010 23:29:00 GMT").unwrap(),
            1_289_690_940
        );
        assert!(parse_date(b"Fri, 01 Jan 2010 16:00:00 EST").is_err());
    }
}
