//! XML machinery shared by the presence codecs: a bounded, namespace-aware
//! pull reader over `quick_xml::NsReader`, character-set handling, and the
//! escaping the writers use.
//!
//! PIDF is the first codec on it; the Microsoft category documents
//! (`msrtc-event-categories+xml`) will be the second, which is why none of
//! this knows about presence.

mod cursor;
mod encoding;
mod error;
pub(crate) mod escape;

pub(crate) use cursor::{Cursor, Element, Node};
pub(crate) use encoding::decode;
pub use error::XmlError;
