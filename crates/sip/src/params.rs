//! `;name=value` parameter lists, shared by URIs and header values.
//!
//! Both grammars (uri-parameters in RFC 3261 §19.1.1, generic-param in §25.1)
//! are "semicolon, name, optional `=value`"; they differ in which characters
//! are allowed and whether the value may be a quoted string. One scanner with
//! a [`Flavor`] keeps those rules side by side.

use std::ops::Range;

use bytes::Bytes;

use crate::grammar;

/// One parameter; `value` is `None` for a bare flag such as `;lr`. Quoted
/// values keep their quotes so that serialization is exact; use
/// [`Param::unquoted`] to read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Param {
    /// The name as received (compare case-insensitively).
    pub name: Bytes,
    /// The value as received, quotes included.
    pub value: Option<Bytes>,
}

impl Param {
    /// The value with surrounding quotes removed and `\x` escapes undone.
    pub fn unquoted(&self) -> Option<Bytes> {
        self.value.as_ref().map(unquote)
    }
}

/// Removes the quotes of a quoted string, undoing `\x` escapes; returns a
/// token value unchanged (and without copying).
pub fn unquote(v: &Bytes) -> Bytes {
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        let inner = &v[1..v.len() - 1];
        if !inner.contains(&b'\\') {
            return v.slice(1..v.len() - 1);
        }
        let mut out = Vec::with_capacity(inner.len());
        let mut i = 0;
        while i < inner.len() {
            if inner[i] == b'\\' && i + 1 < inner.len() {
                i += 1;
            }
            out.push(inner[i]);
            i += 1;
        }
        Bytes::from(out)
    } else {
        v.clone()
    }
}

/// An ordered parameter list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params(pub Vec<Param>);

impl Params {
    /// The parameter with this name (case-insensitive): `Some(None)` for a
    /// flag, `Some(Some(v))` for a valued one.
    pub fn get(&self, name: &str) -> Option<Option<&Bytes>> {
        self.0
            .iter()
            .find(|p| grammar::eq_ignore_case(&p.name, name.as_bytes()))
            .map(|p| p.value.as_ref())
    }

    /// The value of a parameter, unquoted; `None` when absent or a flag.
    pub fn value(&self, name: &str) -> Option<Bytes> {
        self.0
            .iter()
            .find(|p| grammar::eq_ignore_case(&p.name, name.as_bytes()))
            .and_then(Param::unquoted)
    }

    /// True when the parameter is present, with or without a value.
    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends the wire form (`;a=b;c`) to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for p in &self.0 {
            out.push(b';');
            out.extend_from_slice(&p.name);
            if let Some(v) = &p.value {
                out.push(b'=');
                out.extend_from_slice(v);
            }
        }
    }
}

/// Which parameter grammar applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// uri-parameter: paramchar names and values, `%` escapes, no quotes.
    Uri,
    /// generic-param in a header: token names, token / host / quoted values.
    Header,
}

/// Why a parameter list was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParamError {
    /// `;` not followed by a name, or a character the grammar forbids.
    #[error("malformed parameter")]
    Malformed,
    /// A quoted value without its closing quote.
    #[error("unterminated quoted parameter value")]
    Unterminated,
}

fn is_paramchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-_.!~*'()[]/:&+$%".contains(&b)
}

fn is_header_value_char(b: u8) -> bool {
    // token characters plus what `host` (IPv6 references) and gen-value need.
    grammar::is_token(b) || b == b'[' || b == b']' || b == b':'
}

/// Parses `;p1;p2=v2…` in `s[i..end]`, which must start with `;` (or be
/// empty). White space around `;` and `=` is allowed only in headers.
/// Returns the list and the position where scanning stopped (a character
/// that cannot continue a parameter, such as `?` in a URI or `,` in a header).
pub fn parse(
    buf: &Bytes,
    i: usize,
    end: usize,
    flavor: Flavor,
) -> Result<(Params, usize), ParamError> {
    let mut list = Vec::new();
    let stop = each(buf, i, end, flavor, |name, value| {
        list.push(Param {
            name: buf.slice(name),
            value: value.map(|v| buf.slice(v)),
        });
    })?;
    Ok((Params(list), stop))
}

/// The grammar of [`parse`] without building the list: `visit` sees each
/// parameter's name and value positions in order. A reader that only
/// checks a few parameters (the plain-response scan's top Via) takes
/// neither an allocation nor a reference to the buffer.
pub(crate) fn each(
    s: &[u8],
    mut i: usize,
    end: usize,
    flavor: Flavor,
    mut visit: impl FnMut(Range<usize>, Option<Range<usize>>),
) -> Result<usize, ParamError> {
    let s = &s[..end];
    let ws = |i: usize| {
        if flavor == Flavor::Header {
            grammar::skip_ws(s, i)
        } else {
            i
        }
    };
    loop {
        i = ws(i);
        if i >= end || s[i] != b';' {
            return Ok(i);
        }
        i = ws(i + 1);
        let name_start = i;
        i = match flavor {
            Flavor::Uri => scan_while(s, i, is_paramchar),
            Flavor::Header => grammar::scan_token(s, i),
        };
        if i == name_start {
            return Err(ParamError::Malformed);
        }
        let name = name_start..i;
        let j = ws(i);
        let value = if j < end && s[j] == b'=' {
            let vstart = ws(j + 1);
            let vend = if flavor == Flavor::Header && vstart < end && s[vstart] == b'"' {
                grammar::scan_quoted(s, vstart).ok_or(ParamError::Unterminated)?
            } else if flavor == Flavor::Uri {
                scan_while(s, vstart, is_paramchar)
            } else {
                scan_while(s, vstart, is_header_value_char)
            };
            if vend == vstart {
                return Err(ParamError::Malformed);
            }
            i = vend;
            Some(vstart..vend)
        } else {
            None
        };
        if flavor == Flavor::Uri && !escapes_valid(&s[name_start..i]) {
            return Err(ParamError::Malformed);
        }
        visit(name, value);
    }
}

fn scan_while(s: &[u8], mut i: usize, f: impl Fn(u8) -> bool) -> usize {
    while i < s.len() && f(s[i]) {
        i += 1;
    }
    i
}

/// True when every `%` starts a two-hex-digit escape.
pub fn escapes_valid(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &'static str, flavor: Flavor) -> Result<(Params, usize), ParamError> {
        let b = Bytes::from_static(s.as_bytes());
        parse(&b, 0, b.len(), flavor)
    }

    #[test]
    fn flags_values_and_quotes() {
        let (params, end) = p(";lr;transport=tcp", Flavor::Uri).unwrap();
        assert_eq!(end, 17);
        assert_eq!(params.get("lr"), Some(None));
        assert_eq!(params.value("TRANSPORT").unwrap(), "tcp");
        let (params, _) = p(" ; tag = abc ; x=\"a \\\"q\\\" b\"", Flavor::Header).unwrap();
        assert_eq!(params.value("tag").unwrap(), "abc");
        assert_eq!(params.value("x").unwrap(), "a \"q\" b");
    }

    #[test]
    fn stops_at_foreign_characters() {
        let (params, end) = p(";a=b?h=v", Flavor::Uri).unwrap();
        assert_eq!(params.len(), 1);
        assert_eq!(end, 4);
    }

    #[test]
    fn rejects_empty_names_and_open_quotes() {
        assert_eq!(p(";;a", Flavor::Header), Err(ParamError::Malformed));
        assert_eq!(p(";x=\"abc", Flavor::Header), Err(ParamError::Unterminated));
        assert_eq!(p(";x=", Flavor::Uri), Err(ParamError::Malformed));
        assert_eq!(p(";x=%4", Flavor::Uri), Err(ParamError::Malformed));
    }

    #[test]
    fn escapes() {
        assert!(escapes_valid(b"a%41b"));
        assert!(!escapes_valid(b"a%4"));
        assert!(!escapes_valid(b"%zz"));
        assert!(!escapes_valid(b"%"));
    }
}
