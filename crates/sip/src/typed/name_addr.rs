//! name-addr / addr-spec values: From, To, Contact, Route, Record-Route,
//! Reply-To, Refer-To (RFC 3261 §20.10, §25.1).

use bytes::Bytes;

use super::TypedError;
use crate::grammar;
use crate::header::HeaderName;
use crate::params::{self, Flavor, Params};
use crate::uri::Uri;

/// An address with optional display name and header parameters (`tag`,
/// `expires`, `q`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name as written (quotes kept when it was quoted).
    pub display: Option<Bytes>,
    /// The address.
    pub uri: Uri,
    /// Parameters after the address.
    pub params: Params,
}

/// Why a name-addr was rejected; turned into [`TypedError`] with the header
/// the caller was parsing.
fn bad(reason: &'static str) -> TypedError {
    TypedError::Invalid(HeaderName::Other, reason)
}

impl NameAddr {
    /// Parses one value; errors name no header (use [`NameAddr::parse_for`]
    /// to have them name the header being parsed).
    pub fn parse(v: &Bytes) -> Result<NameAddr, TypedError> {
        Self::parse_inner(v)
    }

    /// Parses one value of header `name`, naming it in any error.
    pub fn parse_for(name: HeaderName, v: &Bytes) -> Result<NameAddr, TypedError> {
        Self::parse_inner(v).map_err(|e| match e {
            TypedError::Invalid(_, r) => TypedError::Invalid(name, r),
            other => other,
        })
    }

    fn parse_inner(v: &Bytes) -> Result<NameAddr, TypedError> {
        let s = &v[..];
        let at = Layout::of(s)?;
        let uri = Uri::parse(v.slice(at.uri.0..at.uri.1)).map_err(|_| bad("malformed URI"))?;
        let (params, end) = params::parse(v, at.params, s.len(), Flavor::Header)
            .map_err(|_| bad("malformed parameter"))?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad("unexpected text after address"));
        }
        Ok(NameAddr {
            display: at.display.map(|(a, b)| v.slice(a..b)),
            uri,
            params,
        })
    }

    /// The URI of a name-addr value, without its display name and
    /// parameters: what naming the sender of every request (its From's
    /// AOR, for the per-user limit) needs. On a value [`NameAddr::parse`]
    /// accepts it is that value's `uri`; the parameters are not checked.
    pub fn uri_of(v: &Bytes) -> Result<Uri, TypedError> {
        let at = Layout::of(v)?;
        Uri::parse(v.slice(at.uri.0..at.uri.1)).map_err(|_| bad("malformed URI"))
    }

    /// The `tag` of a From or To value, found without reading its URI:
    /// the dialog and the To tag of a new request need the tags alone, and
    /// the URI was most of the cost of a whole [`NameAddr::parse`]. On a
    /// value that parse accepts it is that value's [`NameAddr::tag`]; the
    /// URI and any parameters after the tag are not checked.
    pub fn tag_of(v: &Bytes) -> Result<Option<Bytes>, TypedError> {
        let at = Layout::of(v)?;
        let span = params::find(v, at.params, b"tag", Flavor::Header)
            .map_err(|_| bad("malformed parameter"))?;
        Ok(span
            .and_then(|p| p.value)
            .map(|(a, b)| params::unquote(&v.slice(a..b))))
    }

    /// The `tag` parameter of From/To, which identifies a dialog.
    pub fn tag(&self) -> Option<Bytes> {
        self.params.value("tag")
    }

    /// The display name without quotes.
    pub fn display_name(&self) -> Option<Bytes> {
        self.display.as_ref().map(params::unquote)
    }
}

/// Where the parts of a name-addr or addr-spec lie: what a parse and a
/// tag scan share, so that they agree on where the parameters start.
struct Layout {
    /// The display name as written, quotes kept.
    display: Option<(usize, usize)>,
    /// The URI, without the angle brackets.
    uri: (usize, usize),
    /// Where the header parameters start.
    params: usize,
}

impl Layout {
    fn of(s: &[u8]) -> Result<Layout, TypedError> {
        let start = grammar::skip_ws(s, 0);
        if s.get(start) == Some(&b'"') {
            let q_end =
                grammar::scan_quoted(s, start).ok_or(bad("unterminated quoted display name"))?;
            let lt = grammar::skip_ws(s, q_end);
            if s.get(lt) != Some(&b'<') {
                return Err(bad("display name without <address>"));
            }
            let gt = find_gt(s, lt)?;
            return Ok(Layout {
                display: Some((start, q_end)),
                uri: (lt + 1, gt),
                params: gt + 1,
            });
        }
        if let Some(lt) = memchr::memchr(b'<', s) {
            let (a, b) = grammar::trim(s, start, lt);
            if !s[a..b]
                .iter()
                .all(|&c| grammar::is_token(c) || c == b' ' || c == b'\t')
            {
                return Err(bad("display name has characters that need quoting"));
            }
            let gt = find_gt(s, lt)?;
            return Ok(Layout {
                display: (a < b).then_some((a, b)),
                uri: (lt + 1, gt),
                params: gt + 1,
            });
        }
        // addr-spec: the URI may not contain `;`, `?` or `,` (RFC 3261 §20.10).
        let mut end = start;
        while end < s.len() && !matches!(s[end], b';' | b' ' | b'\t') {
            end += 1;
        }
        if s[start..end].iter().any(|&c| c == b'?' || c == b',') {
            return Err(bad("address with ? or , must be enclosed in <>"));
        }
        Ok(Layout {
            display: None,
            uri: (start, end),
            params: end,
        })
    }
}

fn find_gt(s: &[u8], lt: usize) -> Result<usize, TypedError> {
    memchr::memchr(b'>', &s[lt..])
        .map(|p| lt + p)
        .ok_or(bad("< without >"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn na(s: &'static str) -> Result<NameAddr, TypedError> {
        NameAddr::parse_for(HeaderName::From, &Bytes::from_static(s.as_bytes()))
    }

    #[test]
    fn forms() {
        let a =
            na("\"Alice \\\"A\\\"\" <sip:alice@example.com;transport=tcp>;tag=1928301774").unwrap();
        assert_eq!(a.display_name().unwrap(), "Alice \"A\"");
        assert_eq!(a.tag().unwrap(), "1928301774");
        assert_eq!(a.uri.params().value("transport").unwrap(), "tcp");
        let b = na("Bob Smith<sip:bob@example.com>").unwrap();
        assert_eq!(b.display.unwrap(), "Bob Smith");
        let c = na("sip:carol@example.com;tag=x").unwrap();
        assert_eq!(c.tag().unwrap(), "x");
        assert!(c.uri.params().is_empty());
        let d = na("\"caller\"<sip:caller@example.com>;tag=323").unwrap();
        assert_eq!(d.display_name().unwrap(), "caller");
    }

    /// The tag scan finds what the parse finds, and fails where the
    /// layout fails.
    #[test]
    fn tag_of_agrees_with_parse() {
        for text in [
            "\"Alice \\\"A\\\"\" <sip:alice@example.com;tag=no>;tag=1928301774",
            "Bob Smith<sip:bob@example.com>",
            "sip:carol@example.com;tag=x",
            "sip:carol@example.com ; TAG = y ; x=1",
            "<sip:dave@example.com>;x=\"a;tag=no\";tag=z",
            "<sip:erin@example.com>;tag=\"q\"",
            "\"a <b>;tag=no\" <sip:f@example.com>",
            "<sip:g@example.com>",
        ] {
            let v = Bytes::from_static(text.as_bytes());
            let parsed = NameAddr::parse(&v).unwrap();
            assert_eq!(NameAddr::tag_of(&v).unwrap(), parsed.tag(), "{text}");
            assert_eq!(NameAddr::uri_of(&v).unwrap(), parsed.uri, "{text}");
        }
        for text in [
            "\"Mr. J. User <sip:j.user@example.com>",
            "<sip:a@b",
            "Bell, A <sip:a@b>",
        ] {
            assert!(
                NameAddr::tag_of(&Bytes::from_static(text.as_bytes())).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn rejections_name_the_header() {
        for s in [
            "Bell, Alexander <sip:a.g.bell@bell-tel.com>;tag=43",
            "\"Mr. J. User <sip:j.user@example.com>",
            "sip:user@example.com?Route=%3Csip:sip.example.com%3E",
            "\"Watson, Thomas\" < sip:t.watson@example.org >",
            "<sip:a@b",
            "<sip:a@b> junk",
        ] {
            let e = na(s).unwrap_err();
            assert_eq!(e.header(), HeaderName::From, "{s}");
        }
    }
}
