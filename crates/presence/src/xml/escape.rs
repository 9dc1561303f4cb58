//! Escaping for the writers, and the character rules both sides share.
//!
//! quick-xml's own `escape` leaves `\r`, `\t` and `\n` alone, which is right
//! for text it did not have to read back: an XML reader turns a raw `\r` in
//! text into `\n` (XML 1.0 §2.11) and tabs and newlines in attribute values
//! into spaces (§3.3.3). To make `parse(render(doc)) == doc` hold for every
//! string, those characters are written as character references here.

use std::borrow::Cow;

/// Whether XML 1.0 allows `c` in a document at all (§2.2 `Char`).
pub(crate) fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | ' '..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Escapes character data. Characters XML cannot carry at all become
/// U+FFFD, the replacement character, rather than making the whole
/// document unreadable.
pub(crate) fn text(s: &str) -> Cow<'_, str> {
    escape(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\r' => Some("&#13;"),
        _ => None,
    })
}

/// Escapes an attribute value written between double quotes.
pub(crate) fn attribute(s: &str) -> Cow<'_, str> {
    escape(s, |c| match c {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\t' => Some("&#9;"),
        '\n' => Some("&#10;"),
        '\r' => Some("&#13;"),
        _ => None,
    })
}

fn escape(s: &str, replacement: impl Fn(char) -> Option<&'static str>) -> Cow<'_, str> {
    let needs = |c: char| replacement(c).is_some() || !is_xml_char(c);
    // Most values are plain ASCII (namespaces, ids, tokens): a byte scan
    // finds the first byte that may need care (a replaced character, a
    // control, or anything non-ASCII), and only from there are characters
    // decoded. Every character that needs escaping starts with such a byte.
    let suspect = |b: &u8| *b >= 0x80 || *b < 0x20 || replacement(char::from(*b)).is_some();
    let Some(ascii) = s.as_bytes().iter().position(suspect) else {
        return Cow::Borrowed(s);
    };
    let Some(first) = s[ascii..].find(needs).map(|i| ascii + i) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        match replacement(c) {
            Some(r) => out.push_str(r),
            None if is_xml_char(c) => out.push(c),
            None => out.push('\u{FFFD}'),
        }
    }
    Cow::Owned(out)
}

/// Whether `s` can be an element's local name (an XML `NCName`, simplified
/// to ASCII letters, digits, `-`, `_` and `.` plus any non-ASCII letter),
/// which RPID tokens are written as.
pub(crate) fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_alphabetic() || first == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::{attribute, is_ncname, text};

    #[test]
    fn text_escapes_markup_and_carriage_returns() {
        assert_eq!(text("a<b>&c\r\n"), "a&lt;b&gt;&amp;c&#13;\n");
        assert_eq!(text("plain"), "plain");
        assert_eq!(text("bad\u{1}char"), "bad\u{FFFD}char");
    }

    #[test]
    fn attribute_escapes_quotes_and_whitespace_controls() {
        assert_eq!(attribute("a\"b\tc\nd'"), "a&quot;b&#9;c&#10;d'");
    }

    #[test]
    fn non_ascii_is_kept_and_characters_xml_cannot_carry_are_replaced() {
        assert_eq!(text("é€😀"), "é€😀");
        assert!(matches!(text("é€😀"), std::borrow::Cow::Borrowed(_)));
        assert_eq!(text("é<\u{FFFE}"), "é&lt;\u{FFFD}");
        assert_eq!(attribute("x\u{FFFF}\u{7f}"), "x\u{FFFD}\u{7f}");
    }

    #[test]
    fn ncname_rules() {
        assert!(is_ncname("on-the-phone"));
        assert!(is_ncname("in_awe"));
        assert!(!is_ncname("1st"));
        assert!(!is_ncname("a b"));
        assert!(!is_ncname("x:y"));
        assert!(!is_ncname(""));
    }
}
