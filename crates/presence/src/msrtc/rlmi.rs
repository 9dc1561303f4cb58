//! The NOTIFY body of a batched presence subscription: `multipart/related`
//! with an RLMI list first (RFC 4662 §5) and then one
//! `application/msrtc-event-categories+xml` part per contact whose state it
//! carries ([MS-SIP] §3.3.5.1 example; [MS-PRES] §3.4.5.1.3 for
//! `resubscribe` with `poolFqdn`; SIPE's `sipe_process_presence` and
//! `process_incoming_notify_rlmi_resub`).
//!
//! One contact's state changes, and that contact's part goes to every
//! watcher (about 80 per change in the capacity budget). So a
//! [`ContactPart`] is rendered once, MIME headers and RLMI `<resource>`
//! included, into shared [`Bytes`]; [`assemble`] only writes the per-watcher
//! envelope (list version, boundary) around the parts.

use bytes::{BufMut, Bytes, BytesMut};

use super::categories;
use super::markup::Markup;
use super::namespace;

/// The media type of the RLMI part.
pub const RLMI_CONTENT_TYPE: &str = "application/rlmi+xml";

/// The Content-ID (and `start`) of the RLMI part, as in [MS-SIP] §3.3.5.1.
pub const RESOURCE_LIST_CID: &str = "resourceList";

/// A contact's subscription state inside the batch (RFC 4662 §5.3
/// `instance/@state`, with Microsoft's `resubscribe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceState {
    /// Watching; a categories part follows when there is state to send.
    Active,
    /// Waiting for authorization.
    Pending,
    /// Ended, with the reason (RFC 6665 reasons: `rejected`, `noresource`,
    /// `deactivated`, …).
    Terminated {
        /// The reason token.
        reason: String,
    },
    /// This server does not serve the contact: the client must subscribe
    /// on its own, to `pool_fqdn` when given ([MS-PRES] §3.4.5.1.3).
    Resubscribe {
        /// The pool that does serve it.
        pool_fqdn: Option<String>,
    },
}

impl InstanceState {
    fn token(&self) -> &'static str {
        match self {
            InstanceState::Active => "active",
            InstanceState::Pending => "pending",
            InstanceState::Terminated { .. } => "terminated",
            InstanceState::Resubscribe { .. } => "resubscribe",
        }
    }
}

/// One contact's share of a batched NOTIFY, rendered once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactPart {
    /// The `<resource>` element of the RLMI list.
    resource: Bytes,
    /// The MIME part (headers, blank line, categories document), when the
    /// contact has state to send.
    part: Option<Bytes>,
}

impl ContactPart {
    /// Renders `uri`'s resource entry and, when `categories` (a document
    /// from [`categories::render`]) is given and the state is active, its
    /// MIME part. The part's Content-ID is the URI without `sip:`, as in
    /// [MS-SIP]'s example; CR and LF are dropped from it so that a URI
    /// can never end the header.
    pub fn new(uri: &str, state: &InstanceState, categories: Option<&Bytes>) -> ContactPart {
        ContactPart::render(
            uri,
            None,
            state,
            categories.map(|document| (categories::CONTENT_TYPE, document)),
            "Content-ID",
        )
    }

    /// As [`ContactPart::new`], for a document of any type and with the
    /// resource's display `name` (RLMI `<name>`): RFC 4662
    /// list subscriptions of standard clients carry each resource's
    /// `application/pidf+xml` document (rendered once per state and
    /// shared by every watcher) where the dialect carries categories.
    ///
    /// The Content-ID is written bare (`bob@example.com`), as Lync and
    /// Flexisip write it, not in RFC 2392's angle brackets, and its name
    /// as `Content-Id`: liblinphone 5.1 finds a part by looking up the
    /// header `Content-Id` by exact name and comparing its value with the
    /// `cid` attribute byte for byte (header names are case-insensitive,
    /// and readers that follow RFC 2392 strip brackets only when there
    /// are some, so both spellings are as standard as the others).
    pub fn with_document(
        uri: &str,
        name: Option<&str>,
        state: &InstanceState,
        document: Option<(&str, &Bytes)>,
    ) -> ContactPart {
        ContactPart::render(uri, name, state, document, "Content-Id")
    }

    /// A resource listed without any instance (RLMI allows it; RFC 4662's
    /// own example has such resources): a full state names every member,
    /// but this one's state did not fit in the NOTIFY and follows in the
    /// next.
    pub fn bare(uri: &str, name: Option<&str>) -> ContactPart {
        let mut markup = Markup::with_capacity(64 + uri.len());
        markup.start("resource").attr("uri", uri);
        match name {
            Some(name) => {
                markup.open().leaf("name", name).end("resource");
            }
            None => {
                markup.empty();
            }
        }
        ContactPart {
            resource: Bytes::from(markup.finish()),
            part: None,
        }
    }

    /// Bytes it adds to a NOTIFY body at most (its part's delimiter and
    /// line ends counted generously).
    pub fn len(&self) -> usize {
        self.resource.len() + self.part.as_ref().map_or(0, |p| p.len() + 80)
    }

    /// Whether it adds nothing (never: a resource has its URI).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn render(
        uri: &str,
        name: Option<&str>,
        state: &InstanceState,
        document: Option<(&str, &Bytes)>,
        id_header: &str,
    ) -> ContactPart {
        let cid: String = uri
            .strip_prefix("sip:")
            .or_else(|| uri.strip_prefix("sips:"))
            .unwrap_or(uri)
            .chars()
            .filter(|c| !matches!(c, '\r' | '\n'))
            .collect();
        let carries = matches!(state, InstanceState::Active) && document.is_some();
        let mut markup = Markup::with_capacity(128 + uri.len() * 2);
        markup.start("resource").attr("uri", uri).open();
        if let Some(name) = name {
            markup.leaf("name", name);
        }
        markup
            .start("instance")
            .attr("id", "0")
            .attr("state", state.token());
        if carries {
            markup.attr("cid", &cid);
        }
        match state {
            InstanceState::Terminated { reason } => {
                markup.attr("reason", reason);
            }
            InstanceState::Resubscribe {
                pool_fqdn: Some(pool),
            } => {
                markup.attr("poolFqdn", pool);
            }
            _ => {}
        }
        markup.empty().end("resource");
        let resource = Bytes::from(markup.finish());
        let part = document
            .filter(|_| carries)
            .map(|(content_type, document)| {
                let mut part =
                    BytesMut::with_capacity(document.len() + cid.len() + content_type.len() + 96);
                part.put_slice(b"Content-Transfer-Encoding: binary\r\n");
                part.put_slice(id_header.as_bytes());
                part.put_slice(b": ");
                part.put_slice(cid.as_bytes());
                part.put_slice(b"\r\nContent-Type: ");
                part.put_slice(content_type.as_bytes());
                part.put_slice(b"\r\n\r\n");
                part.put_slice(document);
                part.freeze()
            });
        ContactPart { resource, part }
    }
}

/// A body and the Content-Type header value that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Multipart {
    /// `multipart/related; type="application/rlmi+xml"; start=resourceList;
    /// boundary=…`.
    pub content_type: String,
    /// The body.
    pub body: Bytes,
}

/// Why a batched NOTIFY could not be assembled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MultipartError {
    /// The boundary is empty, longer than 70 characters (RFC 2046 §5.1.1)
    /// or has characters that would need quoting.
    #[error("invalid multipart boundary {0:?}")]
    InvalidBoundary(String),
    /// The boundary occurs inside a part, which would cut it short.
    #[error("multipart boundary {0:?} occurs inside a part")]
    BoundaryInPart(String),
}

/// Assembles the NOTIFY body for one watcher: the RLMI list for `list_uri`
/// with this watcher's `version` (RFC 4662 §5.2: one more per NOTIFY of
/// the dialog) and `full_state`, then the parts of the contacts that have
/// one, in order.
pub fn assemble(
    list_uri: &str,
    version: u32,
    full_state: bool,
    contacts: &[ContactPart],
    boundary: &str,
) -> Result<Multipart, MultipartError> {
    let valid = !boundary.is_empty()
        && boundary.len() <= 70
        && boundary
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'));
    if !valid {
        return Err(MultipartError::InvalidBoundary(boundary.to_owned()));
    }
    let delimiter = format!("--{boundary}");
    let collides = contacts
        .iter()
        .filter_map(|c| c.part.as_ref())
        .chain(contacts.iter().map(|c| &c.resource))
        .any(|part| contains(part, delimiter.as_bytes()));
    if collides || list_uri.contains(&delimiter) {
        return Err(MultipartError::BoundaryInPart(boundary.to_owned()));
    }

    let mut list = Markup::with_capacity(160 + list_uri.len());
    list.start("list")
        .attr("xmlns", namespace::RLMI)
        .attr("uri", list_uri)
        .attr_display("version", version)
        .attr("fullState", if full_state { "true" } else { "false" })
        .open();
    let list_head = list.finish();

    let size = contacts
        .iter()
        .map(|c| c.resource.len() + c.part.as_ref().map_or(0, |p| p.len() + delimiter.len() + 4))
        .sum::<usize>()
        + list_head.len()
        + 3 * delimiter.len()
        + 160;
    let mut body = BytesMut::with_capacity(size);
    body.put_slice(delimiter.as_bytes());
    body.put_slice(b"\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ");
    body.put_slice(RESOURCE_LIST_CID.as_bytes());
    body.put_slice(b"\r\nContent-Type: ");
    body.put_slice(RLMI_CONTENT_TYPE.as_bytes());
    body.put_slice(b"\r\n\r\n");
    body.put_slice(list_head.as_bytes());
    for contact in contacts {
        body.put_slice(&contact.resource);
    }
    // Each part ends in a blank line before the next delimiter: the CRLF
    // that RFC 2046 gives to the delimiter, and one more that libpurple's
    // MIME reader (pidgin-sipe's) cuts from every part along with it — it
    // trims four bytes, and would otherwise eat the end of the XML.
    body.put_slice(b"</list>\r\n\r\n");
    for part in contacts.iter().filter_map(|c| c.part.as_ref()) {
        body.put_slice(delimiter.as_bytes());
        body.put_slice(b"\r\n");
        body.put_slice(part);
        body.put_slice(b"\r\n\r\n");
    }
    body.put_slice(delimiter.as_bytes());
    body.put_slice(b"--\r\n");
    Ok(Multipart {
        content_type: format!(
            "multipart/related; type=\"{RLMI_CONTENT_TYPE}\"; start={RESOURCE_LIST_CID}; boundary={boundary}"
        ),
        body: body.freeze(),
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
