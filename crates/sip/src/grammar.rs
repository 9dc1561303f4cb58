//! Lexical building blocks of the RFC 3261 §25 grammar.
//!
//! Every typed header parser is written against these few primitives so that
//! the subtle rules (what counts as a token character, where linear white space
//! may appear, how a quoted string ends) are decided in exactly one place.
//! All functions work on byte slices and positions: the caller keeps ownership
//! of the receive buffer and slices it afterwards, which is what makes the
//! parser zero-copy.

/// `token` characters (RFC 3261 §25.1): alphanum and `-.!%*_+`'~`.
const TOKEN: [bool; 256] = build_class(b"-.!%*_+`'~");
/// `word` characters: token characters plus the separators allowed in Call-ID.
const WORD: [bool; 256] = build_class(b"-.!%*_+`'~()<>:\\\"/[]?{}");

const fn build_class(extra: &[u8]) -> [bool; 256] {
    let mut class = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        class[c] = b.is_ascii_alphanumeric();
        c += 1;
    }
    let mut i = 0;
    while i < extra.len() {
        class[extra[i] as usize] = true;
        i += 1;
    }
    class
}

/// True for a `token` character.
#[inline]
pub fn is_token(b: u8) -> bool {
    TOKEN[b as usize]
}

/// True for a `word` character (Call-ID grammar).
#[inline]
pub fn is_word(b: u8) -> bool {
    WORD[b as usize]
}

/// True when every byte is a token character and there is at least one.
pub fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Skips spaces and horizontal tabs. Folded lines are unfolded before any
/// typed parser runs, so CRLF never has to be considered here.
#[inline]
pub fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && (s[i] == b' ' || s[i] == b'\t') {
        i += 1;
    }
    i
}

/// Trims spaces and tabs on both ends, returning the range that remains.
pub fn trim(s: &[u8], start: usize, end: usize) -> (usize, usize) {
    let mut a = start;
    let mut b = end;
    while a < b && (s[a] == b' ' || s[a] == b'\t') {
        a += 1;
    }
    while b > a && (s[b - 1] == b' ' || s[b - 1] == b'\t') {
        b -= 1;
    }
    (a, b)
}

/// Scans a run of token characters starting at `i`; returns its end.
#[inline]
pub fn scan_token(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_token(s[i]) {
        i += 1;
    }
    i
}

/// Scans a quoted string whose opening quote is at `i`. Returns the position
/// just past the closing quote, or `None` when the string never ends, which is
/// the RFC 4475 `quotbal` case.
pub fn scan_quoted(s: &[u8], i: usize) -> Option<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            _ => j += 1,
        }
    }
    None
}

/// Splits a header value at top-level commas: commas inside quoted strings or
/// angle brackets do not separate values. Empty elements are reported too, so
/// the caller can reject `a,,b` where the grammar demands a value.
pub fn split_commas(s: &[u8]) -> Result<Vec<(usize, usize)>, Unbalanced> {
    let mut parts = Vec::with_capacity(1);
    let mut start = 0;
    while let Some(comma) = next_comma(s, start)? {
        parts.push(trim(s, start, comma));
        start = comma + 1;
    }
    parts.push(trim(s, start, s.len()));
    Ok(parts)
}

/// The first element of a comma list, trimmed, found without reading the
/// rest: the top Via is all that names a transaction and where its
/// responses go, and a request that came through a proxy or two carries
/// more. On a value [`split_commas`] accepts it is that function's first
/// element; what lies after the first comma is not checked.
pub fn first_of_list(s: &[u8]) -> Result<(usize, usize), Unbalanced> {
    let end = next_comma(s, 0)?.unwrap_or(s.len());
    Ok(trim(s, 0, end))
}

/// The next top-level comma at or after `i` (which is outside quotes and
/// brackets), or `None` when the value ends first.
fn next_comma(s: &[u8], mut i: usize) -> Result<Option<usize>, Unbalanced> {
    let mut in_angle = false;
    // Jump between the bytes that matter (a value is mostly tokens, and a
    // byte-at-a-time walk was most of the cost of a Via): a quote always,
    // then `>` inside angle brackets, `<` and `,` outside them.
    loop {
        let rest = &s[i..];
        let found = if in_angle {
            memchr::memchr2(b'"', b'>', rest)
        } else {
            memchr::memchr3(b'"', b'<', b',', rest)
        };
        let Some(at) = found else { break };
        i += at;
        match s[i] {
            b'"' => {
                i = scan_quoted(s, i).ok_or(Unbalanced::Quote)?;
                continue;
            }
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            _ => return Ok(Some(i)),
        }
        i += 1;
    }
    if in_angle {
        return Err(Unbalanced::Angle);
    }
    Ok(None)
}

/// What was left open when a value ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unbalanced {
    /// A quoted string without its closing quote.
    Quote,
    /// A `<` without its `>`.
    Angle,
}

/// Parses an unsigned decimal number of at most `max`, rejecting empty input,
/// signs and overflow: RFC 4475 `scalar02`/`scalarlg` send values such as
/// 36893488147419103232 that must not wrap.
pub fn parse_decimal(s: &[u8], max: u64) -> Option<u64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    (v <= max).then_some(v)
}

/// ASCII case-insensitive comparison, the rule for SIP tokens and names.
#[inline]
pub fn eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    a.eq_ignore_ascii_case(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A byte-at-a-time state machine, written apart from `split_commas`
    /// as the reference its jumps must agree with.
    fn split_by_walking(s: &[u8]) -> Result<Vec<(usize, usize)>, Unbalanced> {
        let mut parts = Vec::new();
        let mut start = 0;
        let (mut quoted, mut escaped, mut in_angle) = (false, false, false);
        for (i, &b) in s.iter().enumerate() {
            if quoted {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    quoted = false;
                }
            } else if b == b'"' {
                quoted = true;
            } else if b == b'<' || b == b'>' {
                in_angle = b == b'<';
            } else if b == b',' && !in_angle {
                parts.push(trim(s, start, i));
                start = i + 1;
            }
        }
        if quoted {
            return Err(Unbalanced::Quote);
        }
        if in_angle {
            return Err(Unbalanced::Angle);
        }
        parts.push(trim(s, start, s.len()));
        Ok(parts)
    }

    proptest! {
        /// Values built from the bytes that steer the split (quotes,
        /// escapes, brackets, commas, spaces) split as the walk does.
        #[test]
        fn split_commas_agrees_with_the_walk(v in proptest::collection::vec(
            proptest::sample::select(b"ab\"\\<>, ;=".to_vec()), 0..40)) {
            prop_assert_eq!(split_commas(&v), split_by_walking(&v));
        }

        /// The first element alone is the walk's first element whenever
        /// the whole value is balanced.
        #[test]
        fn first_of_list_is_the_first_element(v in proptest::collection::vec(
            proptest::sample::select(b"ab\"\\<>, ;=".to_vec()), 0..40)) {
            if let Ok(parts) = split_by_walking(&v) {
                prop_assert_eq!(first_of_list(&v), Ok(parts[0]));
            }
        }
    }

    #[test]
    fn token_class_matches_rfc() {
        for b in b"abcXYZ019-.!%*_+`'~" {
            assert!(is_token(*b), "{}", *b as char);
        }
        for b in b" \t\",;:<>@/?=[]{}()\\" {
            assert!(!is_token(*b), "{}", *b as char);
        }
    }

    #[test]
    fn commas_inside_quotes_and_angles_do_not_split() {
        let v = b"\"a, b\" <sip:x@y;p=1,2>;q=1 , <sip:z>";
        let parts = split_commas(v).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(&v[parts[1].0..parts[1].1], b"<sip:z>");
    }

    #[test]
    fn unterminated_quote_is_reported() {
        assert_eq!(split_commas(b"\"abc"), Err(Unbalanced::Quote));
        assert_eq!(split_commas(b"<sip:a"), Err(Unbalanced::Angle));
    }

    #[test]
    fn decimals_do_not_wrap() {
        assert_eq!(
            parse_decimal(b"4294967295", u32::MAX as u64),
            Some(4294967295)
        );
        assert_eq!(parse_decimal(b"4294967296", u32::MAX as u64), None);
        assert_eq!(parse_decimal(b"36893488147419103232", u64::MAX), None);
        assert_eq!(parse_decimal(b"-1", 10), None);
        assert_eq!(parse_decimal(b"", 10), None);
    }

    #[test]
    fn escaped_quote_does_not_end_string() {
        let s = br#""a\"b" rest"#;
        assert_eq!(scan_quoted(s, 0), Some(6));
    }
}
