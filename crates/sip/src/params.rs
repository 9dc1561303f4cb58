//! `;name=value` parameter lists, shared by URIs and header values.
//!
//! Both grammars (uri-parameters in RFC 3261 §19.1.1, generic-param in §25.1)
//! are "semicolon, name, optional `=value`"; they differ in which characters
//! are allowed and whether the value may be a quoted string. One scanner with
//! a [`Flavor`] keeps those rules side by side.

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
    mut i: usize,
    end: usize,
    flavor: Flavor,
) -> Result<(Params, usize), ParamError> {
    let s = &buf[..end];
    let mut list = Vec::new();
    loop {
        match next(s, i, flavor)? {
            Next::End(at) => return Ok((Params(list), at)),
            Next::Param(p) => {
                list.push(Param {
                    name: buf.slice(p.name.0..p.name.1),
                    value: p.value.map(|(a, b)| buf.slice(a..b)),
                });
                i = p.end;
            }
        }
    }
}

/// The grammar of [`parse`] without building the list: `visit` sees each
/// parameter's name and value positions in order, and the end of the
/// list is returned. A reader that only checks a few parameters (the
/// plain-response scan's top Via) takes neither an allocation nor a
/// reference to the buffer.
pub(crate) fn each(
    s: &[u8],
    mut i: usize,
    end: usize,
    flavor: Flavor,
    mut visit: impl FnMut(std::ops::Range<usize>, Option<std::ops::Range<usize>>),
) -> Result<usize, ParamError> {
    let s = &s[..end];
    loop {
        match next(s, i, flavor)? {
            Next::End(at) => return Ok(at),
            Next::Param(p) => {
                visit(p.name.0..p.name.1, p.value.map(|(a, b)| a..b));
                i = p.end;
            }
        }
    }
}

/// Where one parameter lies in the text it was scanned from: what a
/// reader that needs one parameter, or edits a value in place, uses
/// instead of a whole [`Params`] list (no allocation, no copy).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// The position of its `;`.
    pub start: usize,
    /// The name's range.
    pub name: (usize, usize),
    /// The value's range (quotes included), `None` for a flag.
    pub value: Option<(usize, usize)>,
    /// Just past the parameter: where the next one is looked for.
    pub end: usize,
}

/// One step of a scan: a parameter, or where the list ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// The list ends here (no `;` follows, white space skipped in headers).
    End(usize),
    /// The next parameter.
    Param(Span),
}

/// Reads the parameter at `s[i..]` by the rules of [`parse`], which is
/// this applied until [`Next::End`].
pub fn next(s: &[u8], i: usize, flavor: Flavor) -> Result<Next, ParamError> {
    let end = s.len();
    let ws = |i: usize| {
        if flavor == Flavor::Header {
            grammar::skip_ws(s, i)
        } else {
            i
        }
    };
    let semi = ws(i);
    if semi >= end || s[semi] != b';' {
        return Ok(Next::End(semi));
    }
    let name_start = ws(semi + 1);
    let mut i = match flavor {
        Flavor::Uri => scan_while(s, name_start, is_paramchar),
        Flavor::Header => grammar::scan_token(s, name_start),
    };
    if i == name_start {
        return Err(ParamError::Malformed);
    }
    let name = (name_start, i);
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
        Some((vstart, vend))
    } else {
        None
    };
    if flavor == Flavor::Uri && !escapes_valid(&s[name_start..i]) {
        return Err(ParamError::Malformed);
    }
    Ok(Next::Param(Span {
        start: semi,
        name,
        value,
        end: i,
    }))
}

/// The first parameter named `name` (case-insensitively) in the list at
/// `s[i..]`, as [`Params::get`] would find it in what [`parse`] returns;
/// scanning stops there, so what follows it is not checked.
pub fn find(
    s: &[u8],
    mut i: usize,
    name: &[u8],
    flavor: Flavor,
) -> Result<Option<Span>, ParamError> {
    loop {
        match next(s, i, flavor)? {
            Next::End(_) => return Ok(None),
            Next::Param(p) if grammar::eq_ignore_case(&s[p.name.0..p.name.1], name) => {
                return Ok(Some(p))
            }
            Next::Param(p) => i = p.end,
        }
    }
}

fn scan_while(s: &[u8], mut i: usize, f: fn(u8) -> bool) -> usize {
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
    fn find_reads_one_parameter_where_parse_reads_all() {
        let text = " ; rport ; Branch = z9hG4bK1;x=\"a;b\";received=192.0.2.1";
        let b = Bytes::from_static(text.as_bytes());
        let (all, _) = parse(&b, 0, b.len(), Flavor::Header).unwrap();
        for name in ["rport", "branch", "x", "received", "ttl"] {
            let span = find(&b, 0, name.as_bytes(), Flavor::Header).unwrap();
            let value = span.map(|p| p.value.map(|(a, z)| b.slice(a..z)));
            assert_eq!(value.as_ref().map(|v| v.as_ref()), all.get(name), "{name}");
        }
        let rport = find(&b, 0, b"RPORT", Flavor::Header).unwrap().unwrap();
        assert_eq!(
            (rport.start, &text[rport.name.0..rport.name.1]),
            (1, "rport")
        );
        assert_eq!(rport.end, 8);
        // A broken list fails where it breaks, as parse does.
        assert_eq!(
            find(b";a;;b", 0, b"b", Flavor::Header),
            Err(ParamError::Malformed)
        );
        assert_eq!(
            find(b";a;;b", 0, b"a", Flavor::Header).map(|p| p.is_some()),
            Ok(true)
        );
    }

    #[test]
    fn escapes() {
        assert!(escapes_valid(b"a%41b"));
        assert!(!escapes_valid(b"a%4"));
        assert!(!escapes_valid(b"%zz"));
        assert!(!escapes_valid(b"%"));
    }
}
