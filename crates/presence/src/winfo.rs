//! The watcher information package: who watches a presentity.
//!
//! RFC 3857 defines the `presence.winfo` template package: a presentity
//! subscribes to the watchers of its own presence, so its client can ask
//! the user to approve a pending watcher. RFC 3858 defines the body,
//! `application/watcherinfo+xml`: a `<watcherinfo>` root with a version
//! number that increases by one with every document in the subscription,
//! and a state of `full` (every watcher) or `partial` (only the watchers
//! that changed). The first NOTIFY of a subscription is always full.
//!
//! Rendering uses quick-xml's `Writer`, like the PIDF codec, with the same
//! escaping.

use std::borrow::Cow;
use std::io;

use bytes::Bytes;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::Writer;

use crate::xml::escape;

/// The media type of a watcherinfo body (RFC 3858 §7).
pub const CONTENT_TYPE: &str = "application/watcherinfo+xml";

/// The document's namespace (RFC 3858 §5).
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:watcherinfo";

/// A watcher's subscription state as the presentity sees it (RFC 3858
/// §4.3 `status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherStatus {
    /// Waiting for the presentity's decision.
    Pending,
    /// Receiving presence.
    Active,
    /// Refused and waiting (not produced by this server: a refused
    /// watcher is terminated).
    Waiting,
    /// Ended.
    Terminated,
}

impl WatcherStatus {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            WatcherStatus::Pending => "pending",
            WatcherStatus::Active => "active",
            WatcherStatus::Waiting => "waiting",
            WatcherStatus::Terminated => "terminated",
        }
    }
}

/// What last happened to a watcher's subscription (RFC 3857 §3.3 `event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherEvent {
    /// It was created.
    Subscribe,
    /// The presentity approved it.
    Approved,
    /// The server ended it; the watcher may retry.
    Deactivated,
    /// The server ended it; the watcher may retry later.
    Probation,
    /// The presentity refused it.
    Rejected,
    /// It expired, or the watcher ended it (Expires: 0, or a NOTIFY to it
    /// failed because the watcher is gone).
    Timeout,
    /// Authorization took too long.
    Giveup,
    /// The presentity no longer exists.
    Noresource,
}

impl WatcherEvent {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            WatcherEvent::Subscribe => "subscribe",
            WatcherEvent::Approved => "approved",
            WatcherEvent::Deactivated => "deactivated",
            WatcherEvent::Probation => "probation",
            WatcherEvent::Rejected => "rejected",
            WatcherEvent::Timeout => "timeout",
            WatcherEvent::Giveup => "giveup",
            WatcherEvent::Noresource => "noresource",
        }
    }
}

/// One `<watcher>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watcher {
    /// Stable per subscription ([`watcher_id`]), so a partial document
    /// can update the right entry.
    pub id: String,
    /// The watcher's URI (its AOR), the element's text.
    pub uri: String,
    /// Its state.
    pub status: WatcherStatus,
    /// What last happened to it.
    pub event: WatcherEvent,
    /// Seconds since the subscription began.
    pub duration_subscribed: u64,
}

/// Whether a document lists every watcher or only the changed ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentState {
    /// Every watcher of the resource.
    Full,
    /// Only watchers that changed since the previous document.
    Partial,
}

/// A watcher id derived from the subscription id with FNV-1a: stable
/// across restarts (the engine is sans-IO and draws no random numbers),
/// and it reveals nothing of the Call-ID or tags.
pub fn watcher_id(subscription_id: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in subscription_id.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("w{hash:016x}")
}

/// Renders a watcherinfo document for one resource of one package.
pub fn render(
    version: u64,
    state: DocumentState,
    resource: &str,
    package: &str,
    watchers: &[Watcher],
) -> Bytes {
    let mut writer = Writer::new_with_indent(Vec::with_capacity(512), b' ', 1);
    // io::Write for Vec<u8> never fails.
    write_document(&mut writer, version, state, resource, package, watchers)
        .expect("writing watcherinfo into a Vec<u8> cannot fail");
    let mut bytes = writer.into_inner();
    bytes.push(b'\n');
    Bytes::from(bytes)
}

fn write_document(
    w: &mut Writer<Vec<u8>>,
    version: u64,
    state: DocumentState,
    resource: &str,
    package: &str,
    watchers: &[Watcher],
) -> io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let version = version.to_string();
    let state = match state {
        DocumentState::Full => "full",
        DocumentState::Partial => "partial",
    };
    w.write_event(Event::Start(start(
        "watcherinfo",
        &[
            ("xmlns", NAMESPACE),
            ("version", &version),
            ("state", state),
        ],
    )))?;
    let list = start(
        "watcher-list",
        &[("resource", resource), ("package", package)],
    );
    if watchers.is_empty() {
        w.write_event(Event::Empty(list))?;
    } else {
        w.write_event(Event::Start(list))?;
        for watcher in watchers {
            let duration = watcher.duration_subscribed.to_string();
            w.write_event(Event::Start(start(
                "watcher",
                &[
                    ("id", &watcher.id),
                    ("status", watcher.status.as_str()),
                    ("event", watcher.event.as_str()),
                    ("duration-subscribed", &duration),
                ],
            )))?;
            let text = escape::text(&watcher.uri);
            w.write_event(Event::Text(BytesText::from_escaped(text)))?;
            w.write_event(Event::End(BytesEnd::new("watcher")))?;
        }
        w.write_event(Event::End(BytesEnd::new("watcher-list")))?;
    }
    w.write_event(Event::End(BytesEnd::new("watcherinfo")))
}

fn start<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attrs {
        let escaped = escape::attribute(value);
        start.push_attribute(Attribute {
            key: QName(key.as_bytes()),
            value: Cow::Owned(escaped.as_bytes().to_vec()),
        });
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_document_lists_watchers() {
        let w = Watcher {
            id: watcher_id("c\nl\nr"),
            uri: "sip:bob@example.com".into(),
            status: WatcherStatus::Pending,
            event: WatcherEvent::Subscribe,
            duration_subscribed: 5,
        };
        let doc = render(
            0,
            DocumentState::Full,
            "sip:alice@example.com",
            "presence",
            std::slice::from_ref(&w),
        );
        let text = std::str::from_utf8(&doc).unwrap();
        assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
        assert!(text.contains(
            "<watcherinfo xmlns=\"urn:ietf:params:xml:ns:watcherinfo\" version=\"0\" state=\"full\">"
        ));
        assert!(
            text.contains("<watcher-list resource=\"sip:alice@example.com\" package=\"presence\">")
        );
        assert!(text.contains(&format!(
            "<watcher id=\"{}\" status=\"pending\" event=\"subscribe\" duration-subscribed=\"5\">sip:bob@example.com</watcher>",
            w.id
        )));
    }

    #[test]
    fn empty_partial_document_and_escaping() {
        let doc = render(3, DocumentState::Partial, "sip:a&b@x", "presence", &[]);
        let text = std::str::from_utf8(&doc).unwrap();
        assert!(text.contains("version=\"3\" state=\"partial\""));
        assert!(text.contains("<watcher-list resource=\"sip:a&amp;b@x\" package=\"presence\"/>"));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(watcher_id("a"), watcher_id("a"));
        assert_ne!(watcher_id("a"), watcher_id("b"));
        assert_eq!(watcher_id("a").len(), 17);
    }
}
