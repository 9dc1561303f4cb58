//! The presence document: what a presentity publishes and what watchers get.
//!
//! The model follows the layers of the standards rather than any one wire
//! form, so that every codec (PIDF today, Microsoft categories later) reads
//! into and writes from the same structure:
//!
//! - RFC 3863 (PIDF): the `<presence>` root, its `<tuple>`s with a basic
//!   open/closed status, a contact and notes;
//! - RFC 4479 (data model): a tuple is a *service*, a `<dm:person>` says
//!   what the human is doing, a `<dm:device>` is a piece of hardware;
//! - RFC 4480 (RPID): the person's activities, mood and surroundings.
//!
//! Whatever the model does not understand is kept as an [`Extension`], so a
//! client's private elements survive a PUBLISH → NOTIFY round trip.

use crate::activity::Activity;
use crate::extension::Extension;

/// One presentity's presence, as published by a source or as composed from
/// all of them (RFC 3863 §4.1.1 `<presence>`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PresenceDocument {
    /// The presentity's URI (`entity` attribute, RFC 3863 §4.1.2). Kept as
    /// text: PIDF allows `pres:` URIs, which are not SIP URIs; use
    /// [`PresenceDocument::entity_uri`] where a SIP URI is needed.
    pub entity: String,
    /// The services: one tuple per way to reach the presentity (RFC 4479
    /// §3.4.2).
    pub tuples: Vec<Tuple>,
    /// The human behind the services (RFC 4479 §3.4.1). One, after
    /// [composition](crate::composition); a single publication may carry
    /// more, which is legal on the wire.
    pub persons: Vec<Person>,
    /// The hardware the services run on (RFC 4479 §3.4.3).
    pub devices: Vec<Device>,
    /// Notes on the whole document (RFC 3863 §4.1.6, `<presence>/<note>`).
    pub notes: Vec<Note>,
    /// Elements of other namespaces directly under `<presence>` (RFC 3863
    /// §4.1.1 allows them after the notes).
    pub extensions: Vec<Extension>,
}

impl PresenceDocument {
    /// An empty document for `entity`: no tuples, no person. This is what
    /// composing zero publications gives (see [`crate::composition`]).
    pub fn new(entity: impl Into<String>) -> Self {
        PresenceDocument {
            entity: entity.into(),
            ..PresenceDocument::default()
        }
    }

    /// The document the server sends for a presentity nobody publishes for
    /// (unknown or offline): one closed tuple. An empty document would be
    /// legal PIDF too, but several clients (pjsua among them) read "no
    /// tuple" as "no information" and keep showing the last state, so
    /// offline is said explicitly.
    pub fn closed(entity: impl Into<String>) -> Self {
        let mut document = PresenceDocument::new(entity);
        document
            .tuples
            .push(Tuple::new(Tuple::OFFLINE_ID, Some(Basic::Closed)));
        document
    }

    /// The entity as a parsed URI, for looking the presentity up. A `pres:`
    /// or `im:` entity (RFC 3859 §3) parses with [`sip::uri::Scheme::Other`]
    /// and needs mapping to a SIP address of record first.
    pub fn entity_uri(&self) -> Result<sip::Uri, sip::uri::UriError> {
        sip::Uri::parse_str(&self.entity)
    }
}

/// The basic status of a service (RFC 3863 §4.1.4): whether it is willing to
/// communicate. The one piece of presence every client understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Basic {
    /// `open`: the service can be used to reach the presentity.
    Open,
    /// `closed`: it cannot.
    Closed,
}

impl Basic {
    /// The token written in `<basic>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Basic::Open => "open",
            Basic::Closed => "closed",
        }
    }

    /// Reads a `<basic>` token. RFC 3863 §4.1.4 spells them in lower case;
    /// other cases are accepted because some hand-written bodies capitalise.
    pub fn from_token(token: &str) -> Option<Basic> {
        if token.eq_ignore_ascii_case("open") {
            Some(Basic::Open)
        } else if token.eq_ignore_ascii_case("closed") {
            Some(Basic::Closed)
        } else {
            None
        }
    }
}

/// How to reach a service (RFC 3863 §4.1.5 `<contact>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    /// The contact URI, as written (any scheme: sip:, tel:, im:, mailto:).
    pub uri: String,
    /// The relative priority among the presentity's contacts, 0.0 to 1.0
    /// (the `priority` attribute, a qvalue as in RFC 3261 §20.10).
    pub priority: Option<f32>,
}

/// Free text for humans (RFC 3863 §4.1.6), in a language if the publisher
/// said which.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    /// The `xml:lang` of the note (RFC 3066 tag), if any.
    pub lang: Option<String>,
    /// The text, unescaped; line ends normalised to `\n` as XML requires.
    pub text: String,
}

impl Note {
    /// A note without a language.
    pub fn new(text: impl Into<String>) -> Self {
        Note {
            lang: None,
            text: text.into(),
        }
    }

    /// A note in a language (`xml:lang`).
    pub fn with_lang(lang: impl Into<String>, text: impl Into<String>) -> Self {
        Note {
            lang: Some(lang.into()),
            text: text.into(),
        }
    }
}

/// One service of the presentity (RFC 3863 §4.1.2 `<tuple>`, RFC 4479
/// §3.4.2).
#[derive(Debug, Clone, PartialEq)]
pub struct Tuple {
    /// The tuple id, unique in the document; composition merges on it.
    /// A tuple that arrived without one gets a positional id (`tuple-N`).
    pub id: String,
    /// `<status><basic>`; `None` when the status carries only extensions,
    /// which RFC 3863 §4.1.3 allows.
    pub basic: Option<Basic>,
    /// `<contact>`, at most one per tuple.
    pub contact: Option<Contact>,
    /// `<note>`s of the tuple.
    pub notes: Vec<Note>,
    /// `<timestamp>`: when the status last changed, as the publisher wrote
    /// it (an `xs:dateTime`; not interpreted here).
    pub timestamp: Option<String>,
    /// `<dm:deviceID>`s: the devices this service runs on (RFC 4479 §3.4.2),
    /// which link the tuple to [`Device::device_id`].
    pub device_ids: Vec<String>,
    /// Elements of other namespaces inside `<status>` (RFC 3863 §4.1.3),
    /// such as `<im:im>busy</im:im>`.
    pub status_extensions: Vec<Extension>,
    /// Other children of the tuple that the model does not interpret,
    /// in document order (RPID `<rpid:class>`, vendor elements, …).
    pub extensions: Vec<Extension>,
}

impl Tuple {
    /// The id of the tuple in [`PresenceDocument::closed`].
    pub const OFFLINE_ID: &'static str = "offline";

    /// A tuple with only an id and a basic status, the shape most clients
    /// publish.
    pub fn new(id: impl Into<String>, basic: Option<Basic>) -> Self {
        Tuple {
            id: id.into(),
            basic,
            contact: None,
            notes: Vec::new(),
            timestamp: None,
            device_ids: Vec::new(),
            status_extensions: Vec::new(),
            extensions: Vec::new(),
        }
    }
}

/// The human presentity (RFC 4479 §3.4.1 `<dm:person>`) with what RPID says
/// about them (RFC 4480 §3).
#[derive(Debug, Clone, PartialEq)]
pub struct Person {
    /// The person id. The legacy `<pp:person>` form has none; it gets a
    /// positional one (`person-N`) so composition can still merge on ids.
    pub id: String,
    /// `<rpid:activities>` (RFC 4480 §3.2), in document order.
    pub activities: Vec<Activity>,
    /// `<rpid:note>`s inside `<rpid:activities>`; pjsua reads its status
    /// text from here first.
    pub activities_notes: Vec<Note>,
    /// The `from` attribute of `<rpid:activities>` (RFC 4480 §3.1): when the
    /// activity began, as written.
    pub activities_from: Option<String>,
    /// The `until` attribute of `<rpid:activities>`: when the activity is
    /// expected to end ("busy until 15:00").
    pub activities_until: Option<String>,
    /// `<rpid:mood>` (RFC 4480 §3.6).
    pub mood: Option<Mood>,
    /// `<rpid:place-is>` (RFC 4480 §3.7): conditions at the person's place.
    pub place_is: Option<PlaceIs>,
    /// `<dm:note>`s of the person (RFC 4479 §4 schema).
    pub notes: Vec<Note>,
    /// `<dm:timestamp>` of the person, as written.
    pub timestamp: Option<String>,
    /// Other children of the person, in document order (`<rpid:place-type>`,
    /// `<rpid:privacy>`, `<rpid:sphere>`, vendor elements, …).
    pub extensions: Vec<Extension>,
}

impl Person {
    /// A person with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Person {
            id: id.into(),
            activities: Vec::new(),
            activities_notes: Vec::new(),
            activities_from: None,
            activities_until: None,
            mood: None,
            place_is: None,
            notes: Vec::new(),
            timestamp: None,
            extensions: Vec::new(),
        }
    }
}

/// One value of an RPID enumeration other than activities (mood, …):
/// a token element or free text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RpidToken {
    /// An empty element whose local name is the value (`<rpid:happy/>`).
    /// Kept as text: the mood list (RFC 4480 §3.6) is long and nothing in
    /// the server interprets it.
    Token(String),
    /// `<rpid:other>text</rpid:other>`.
    Other(String),
}

/// `<rpid:mood>` (RFC 4480 §3.6): how the person feels.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mood {
    /// The moods, in document order.
    pub values: Vec<RpidToken>,
    /// `<rpid:note>`s inside `<rpid:mood>`.
    pub notes: Vec<Note>,
}

/// `<rpid:place-is>` (RFC 4480 §3.7): whether the place suits audio, video
/// and text communication. Each medium holds one token (`noisy`, `ok`,
/// `quiet`, `too-bright`, `dark`, `uncomfortable`, `inappropriate`,
/// `unknown`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlaceIs {
    /// `<rpid:audio>`'s token.
    pub audio: Option<String>,
    /// `<rpid:video>`'s token.
    pub video: Option<String>,
    /// `<rpid:text>`'s token.
    pub text: Option<String>,
    /// `<rpid:note>`s inside `<rpid:place-is>`.
    pub notes: Vec<Note>,
}

/// A device of the presentity (RFC 4479 §3.4.3 `<dm:device>`).
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The element id. A device that arrived without one gets a positional
    /// id (`device-N`).
    pub id: String,
    /// `<dm:deviceID>`: the device's URN, which tuples point at.
    pub device_id: Option<String>,
    /// `<dm:note>`s of the device.
    pub notes: Vec<Note>,
    /// `<dm:timestamp>` of the device, as written.
    pub timestamp: Option<String>,
    /// Other children (`<rpid:user-input>`, vendor elements, …), in
    /// document order.
    pub extensions: Vec<Extension>,
}

impl Device {
    /// A device with only an id.
    pub fn new(id: impl Into<String>) -> Self {
        Device {
            id: id.into(),
            device_id: None,
            notes: Vec::new(),
            timestamp: None,
            extensions: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Basic, PresenceDocument, Tuple};

    #[test]
    fn closed_document_has_one_closed_tuple() {
        let doc = PresenceDocument::closed("sip:alice@example.com");
        assert_eq!(doc.entity, "sip:alice@example.com");
        assert_eq!(doc.tuples.len(), 1);
        assert_eq!(doc.tuples[0].id, Tuple::OFFLINE_ID);
        assert_eq!(doc.tuples[0].basic, Some(Basic::Closed));
        assert!(doc.persons.is_empty());
    }

    #[test]
    fn entity_uri_tells_sip_from_pres() {
        let doc = PresenceDocument::new("sip:alice@example.com");
        assert!(doc.entity_uri().unwrap().is_sip());
        let doc = PresenceDocument::new("pres:alice@example.com");
        assert_eq!(doc.entity_uri().unwrap().scheme(), sip::uri::Scheme::Other);
        assert!(PresenceDocument::new("no scheme").entity_uri().is_err());
    }

    #[test]
    fn basic_tokens_ignore_case() {
        assert_eq!(Basic::from_token("Open"), Some(Basic::Open));
        assert_eq!(Basic::from_token("closed"), Some(Basic::Closed));
        assert_eq!(Basic::from_token("open | closed"), None);
        assert_eq!(Basic::Open.as_str(), "open");
    }
}
