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
        let start = grammar::skip_ws(s, 0);
        let mut display = None;
        let (uri_start, uri_end, after);
        if s.get(start) == Some(&b'"') {
            let q_end =
                grammar::scan_quoted(s, start).ok_or(bad("unterminated quoted display name"))?;
            display = Some(v.slice(start..q_end));
            let lt = grammar::skip_ws(s, q_end);
            if s.get(lt) != Some(&b'<') {
                return Err(bad("display name without <address>"));
            }
            let gt = find_gt(s, lt)?;
            (uri_start, uri_end, after) = (lt + 1, gt, gt + 1);
        } else if let Some(lt) = memchr::memchr(b'<', s) {
            let (a, b) = grammar::trim(s, start, lt);
            if a < b {
                let name = &s[a..b];
                if !name
                    .iter()
                    .all(|&c| grammar::is_token(c) || c == b' ' || c == b'\t')
                {
                    return Err(bad("display name has characters that need quoting"));
                }
                display = Some(v.slice(a..b));
            }
            let gt = find_gt(s, lt)?;
            (uri_start, uri_end, after) = (lt + 1, gt, gt + 1);
        } else {
            // addr-spec: the URI may not contain `;`, `?` or `,` (RFC 3261 §20.10).
            let mut end = start;
            while end < s.len() && !matches!(s[end], b';' | b' ' | b'\t') {
                end += 1;
            }
            if s[start..end].iter().any(|&c| c == b'?' || c == b',') {
                return Err(bad("address with ? or , must be enclosed in <>"));
            }
            (uri_start, uri_end, after) = (start, end, end);
        }
        let uri = Uri::parse(v.slice(uri_start..uri_end)).map_err(|_| bad("malformed URI"))?;
        let (params, end) = params::parse(v, after, s.len(), Flavor::Header)
            .map_err(|_| bad("malformed parameter"))?;
        if grammar::skip_ws(s, end) != s.len() {
            return Err(bad("unexpected text after address"));
        }
        Ok(NameAddr {
            display,
            uri,
            params,
        })
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
