//! Turning a body into text before the XML reader sees it.
//!
//! Everything the server writes is UTF-8, and so is nearly everything
//! clients send. The one exception seen in the field is ISO-8859-1:
//! Asterisk's `chan_sip` (and software imitating it) declares
//! `encoding="ISO-8859-1"`. Those bodies are transcoded here so that the
//! reader only ever handles UTF-8; anything else is refused rather than
//! guessed at.

use std::borrow::Cow;

use super::XmlError;

/// The UTF-8 byte-order mark, which XML 1.0 §4.3.3 allows before the
/// declaration.
const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// The body as text, and how many leading bytes (a BOM) were dropped, so
/// that error offsets still count from the start of the body.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Cow<'_, str>, u64), XmlError> {
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(XmlError::UnsupportedEncoding {
            encoding: "UTF-16".into(),
        });
    }
    let (bytes, base) = match bytes.strip_prefix(UTF8_BOM) {
        Some(rest) => (rest, UTF8_BOM.len() as u64),
        None => (bytes, 0),
    };
    match declared_encoding(bytes) {
        None => utf8(bytes, base),
        Some(label) if is_utf8_compatible(label) => utf8(bytes, base),
        Some(label) if is_latin1(label) => {
            // ISO-8859-1 maps every byte to the code point of the same value.
            Ok((
                Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect()),
                base,
            ))
        }
        Some(label) => Err(XmlError::UnsupportedEncoding {
            encoding: String::from_utf8_lossy(label).into_owned(),
        }),
    }
}

fn utf8(bytes: &[u8], base: u64) -> Result<(Cow<'_, str>, u64), XmlError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok((Cow::Borrowed(text), base)),
        Err(e) => Err(XmlError::InvalidUtf8 {
            position: base + e.valid_up_to() as u64,
        }),
    }
}

fn is_utf8_compatible(label: &[u8]) -> bool {
    [&b"utf-8"[..], b"utf8", b"us-ascii", b"ascii"]
        .iter()
        .any(|known| label.eq_ignore_ascii_case(known))
}

fn is_latin1(label: &[u8]) -> bool {
    [
        &b"iso-8859-1"[..],
        b"iso8859-1",
        b"iso_8859-1",
        b"latin1",
        b"l1",
    ]
    .iter()
    .any(|known| label.eq_ignore_ascii_case(known))
}

/// The `encoding` pseudo-attribute of the XML declaration (XML 1.0 §4.3.3),
/// if the document starts with a declaration that has one.
fn declared_encoding(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(b"<?xml")?;
    let end = rest.windows(2).position(|w| w == b"?>")?;
    let decl = &rest[..end];
    let at = decl.windows(8).position(|w| w == b"encoding")?;
    let mut value = decl[at + 8..].trim_ascii_start().strip_prefix(b"=")?;
    value = value.trim_ascii_start();
    let quote = *value.first()?;
    if quote != b'"' && quote != b'\'' {
        return None;
    }
    let value = &value[1..];
    let close = value.iter().position(|&b| b == quote)?;
    Some(&value[..close])
}

#[cfg(test)]
mod tests {
    use super::decode;
    use crate::xml::XmlError;

    #[test]
    fn utf8_is_borrowed_and_the_bom_is_skipped() {
        let (text, base) = decode(b"\xEF\xBB\xBF<a/>").unwrap();
        assert_eq!(text, "<a/>");
        assert_eq!(base, 3);
    }

    #[test]
    fn latin1_is_transcoded() {
        let body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><n>d\xE9j\xE0</n>";
        let (text, _) = decode(body).unwrap();
        assert!(text.ends_with("<n>d\u{e9}j\u{e0}</n>"));
    }

    #[test]
    fn invalid_utf8_points_at_the_bad_byte() {
        assert_eq!(
            decode(b"<a>\xFF</a>").unwrap_err(),
            XmlError::InvalidUtf8 { position: 3 }
        );
    }

    #[test]
    fn other_encodings_are_refused() {
        let body = b"<?xml version='1.0' encoding='Shift_JIS'?><a/>";
        assert!(matches!(
            decode(body),
            Err(XmlError::UnsupportedEncoding { encoding }) if encoding == "Shift_JIS"
        ));
        assert!(decode(b"\xFF\xFE<\x00").is_err());
    }
}
