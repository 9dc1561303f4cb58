//! XML machinery shared by the presence codecs: a bounded, namespace-aware
//! pull reader over quick-xml, character-set handling, and the
//! escaping string builder the writers use.
//!
//! PIDF is the first codec on it; the Microsoft category documents
//! (`msrtc-event-categories+xml`) will be the second, which is why none of
//! this knows about presence.

mod cursor;
mod encoding;
mod error;
pub(crate) mod escape;
pub(crate) mod markup;
mod namespaces;

pub(crate) use cursor::{Cursor, Element, Node};
pub(crate) use encoding::decode;
pub use error::XmlError;

/// Runs `read` over `bytes` as one bounded document: the size limit
/// first, then decoding, then `read` from the root (namespaces classified
/// by `classify`), then the check that nothing follows the root.
pub(crate) fn document<K, T, E: From<XmlError>>(
    bytes: &[u8],
    limits: &crate::XmlLimits,
    classify: fn(Option<&[u8]>) -> K,
    read: impl for<'a> FnOnce(&mut Cursor<'a, K>) -> Result<T, E>,
) -> Result<T, E> {
    if bytes.len() > limits.max_document_size {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_document_size,
        }
        .into());
    }
    let (text, base) = decode(bytes)?;
    let mut cursor = Cursor::new(&text, base, *limits, classify);
    let value = read(&mut cursor)?;
    cursor.finish()?;
    Ok(value)
}
