//! Reading PIDF into the model: one function per element, each taking the
//! children it understands and keeping the rest as extensions.

use super::PidfError;
use crate::activity::Activity;
use crate::document::{
    Basic, Contact, Device, Mood, Note, Person, PlaceIs, PresenceDocument, RpidToken, Tuple,
};
use crate::namespace;
use crate::xml::{self, Cursor, Element, Node, XmlError};
use crate::XmlLimits;

/// The namespaces as PIDF reading distinguishes them; the legacy drafts are
/// folded into the standard ones here, once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    Pidf,
    DataModel,
    Rpid,
    Foreign,
}

fn classify(ns: Option<&[u8]>) -> Ns {
    if namespace::is_pidf(ns) {
        Ns::Pidf
    } else if namespace::is_data_model(ns) {
        Ns::DataModel
    } else if namespace::is_rpid(ns) {
        Ns::Rpid
    } else {
        Ns::Foreign
    }
}

type Reader<'a> = Cursor<'a, Ns>;
type El<'a> = Element<'a, Ns>;

/// The elements the model interprets, by expanded name. Where an element
/// may appear is decided by the reader of its parent; anything in the
/// wrong place is kept as an extension like any other unknown element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    Presence,
    Tuple,
    Status,
    Basic,
    Contact,
    /// PIDF's or the data model's `<note>`.
    Note,
    /// PIDF's or the data model's `<timestamp>`.
    Timestamp,
    Person,
    Device,
    DeviceId,
    Activities,
    /// The legacy text form, `<ep:activity>away</ep:activity>`.
    Activity,
    Mood,
    PlaceIs,
    Audio,
    Video,
    Text,
    /// `<rpid:note>`, inside RPID elements.
    RpidNote,
    /// `<rpid:other>`, free text inside RPID enumerations.
    RpidOther,
    /// Any other RPID element: an enumeration token (`<rpid:away/>`), or an
    /// RPID element the model does not interpret (`<rpid:class>`).
    RpidToken,
    Unknown,
}

fn name_of(element: &El<'_>) -> Name {
    match (element.ns, element.local_name()) {
        (Ns::Pidf, b"presence") => Name::Presence,
        (Ns::Pidf, b"tuple") => Name::Tuple,
        (Ns::Pidf, b"status") => Name::Status,
        (Ns::Pidf, b"basic") => Name::Basic,
        (Ns::Pidf, b"contact") => Name::Contact,
        (Ns::Pidf | Ns::DataModel, b"note") => Name::Note,
        (Ns::Pidf | Ns::DataModel, b"timestamp") => Name::Timestamp,
        // RFC 4479 puts <person> in the data model; clients also write it in
        // RPID's namespace, PIDF's, or the legacy person namespace.
        (Ns::Pidf | Ns::DataModel | Ns::Rpid, b"person") => Name::Person,
        (Ns::DataModel, b"device") => Name::Device,
        (Ns::DataModel, b"deviceID") => Name::DeviceId,
        (Ns::Rpid, b"activities") => Name::Activities,
        (Ns::Rpid, b"activity") => Name::Activity,
        (Ns::Rpid, b"mood") => Name::Mood,
        (Ns::Rpid, b"place-is") => Name::PlaceIs,
        (Ns::Rpid, b"audio") => Name::Audio,
        (Ns::Rpid, b"video") => Name::Video,
        (Ns::Rpid, b"text") => Name::Text,
        (Ns::Rpid, b"note") => Name::RpidNote,
        (Ns::Rpid, b"other") => Name::RpidOther,
        (Ns::Rpid, _) => Name::RpidToken,
        _ => Name::Unknown,
    }
}

/// RFC 3863 §4.1.1: `<presence entity>` with tuples, notes and extensions;
/// RFC 4479 adds persons and devices among the extensions.
pub(super) fn document(bytes: &[u8], limits: &XmlLimits) -> Result<PresenceDocument, PidfError> {
    if bytes.len() > limits.max_document_size {
        return Err(XmlError::TooLarge {
            size: bytes.len(),
            limit: limits.max_document_size,
        }
        .into());
    }
    let (text, base) = xml::decode(bytes)?;
    let mut cursor = Cursor::new(&text, base, *limits, classify);
    let root = cursor.root()?;
    if name_of(&root) != Name::Presence {
        return Err(PidfError::NotPresence {
            found: String::from_utf8_lossy(root.start.name().as_ref()).into_owned(),
            position: root.position,
        });
    }
    let entity = root
        .attribute(b"entity")?
        .ok_or(PidfError::MissingAttribute {
            element: "presence",
            attribute: "entity",
            position: root.position,
        })?;
    let mut doc = PresenceDocument::new(entity);
    while let Some(child) = cursor.next_child(&root)? {
        match name_of(&child) {
            Name::Tuple => {
                let tuple = tuple(&mut cursor, child, doc.tuples.len())?;
                doc.tuples.push(tuple);
            }
            Name::Note => doc.notes.push(note(&mut cursor, &child)?),
            Name::Person => {
                let person = person(&mut cursor, child, doc.persons.len())?;
                doc.persons.push(person);
            }
            Name::Device => {
                let device = device(&mut cursor, child, doc.devices.len())?;
                doc.devices.push(device);
            }
            _ => doc.extensions.push(cursor.capture(child)?),
        }
    }
    cursor.finish()?;
    Ok(doc)
}

/// The `id` attribute, or a positional one for elements that arrived
/// without (RFC 3863 and RFC 4479 require it; legacy clients omit it).
fn id_of(element: &El<'_>, kind: &str, index: usize) -> Result<String, XmlError> {
    Ok(element
        .attribute(b"id")?
        .unwrap_or_else(|| format!("{kind}-{}", index + 1)))
}

/// Text content for token-like elements (URIs, timestamps, ids), where the
/// indentation of pretty-printed documents is not part of the value.
fn trimmed<'a>(cursor: &mut Reader<'a>, element: &El<'a>) -> Result<Option<String>, XmlError> {
    let text = cursor.text_borrowed(element)?;
    let value = text.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
    Ok((!value.is_empty()).then(|| value.to_owned()))
}

/// RFC 3863 §4.1.6: `<note xml:lang>`; the text is kept exactly.
fn note<'a>(cursor: &mut Reader<'a>, element: &El<'a>) -> Result<Note, XmlError> {
    Ok(Note {
        lang: element.attribute(b"xml:lang")?,
        text: cursor.text(element)?,
    })
}

/// RFC 3863 §4.1.2 `<tuple>`: status, extensions, contact, notes, timestamp
/// (read in any order).
fn tuple<'a>(cursor: &mut Reader<'a>, element: El<'a>, index: usize) -> Result<Tuple, PidfError> {
    let mut tuple = Tuple::new(id_of(&element, "tuple", index)?, None);
    while let Some(child) = cursor.next_child(&element)? {
        match name_of(&child) {
            Name::Status => status(cursor, child, &mut tuple)?,
            Name::Contact if tuple.contact.is_none() => {
                let priority = priority(child.attribute(b"priority")?, child.position)?;
                if let Some(uri) = trimmed(cursor, &child)? {
                    tuple.contact = Some(Contact { uri, priority });
                }
            }
            Name::Note => tuple.notes.push(note(cursor, &child)?),
            Name::Timestamp if tuple.timestamp.is_none() => {
                tuple.timestamp = trimmed(cursor, &child)?;
            }
            Name::DeviceId => tuple.device_ids.extend(trimmed(cursor, &child)?),
            _ => tuple.extensions.push(cursor.capture(child)?),
        }
    }
    Ok(tuple)
}

/// RFC 3863 §4.1.3 `<status>`: `<basic>` and extensions such as `<im:im>`.
fn status<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
    tuple: &mut Tuple,
) -> Result<(), PidfError> {
    while let Some(child) = cursor.next_child(&element)? {
        if name_of(&child) == Name::Basic && tuple.basic.is_none() {
            let value = cursor.text_borrowed(&child)?;
            let token = value.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'));
            // baresip 1.0 publishes <basic>unknown</basic> until the user
            // sets a status: no information, as an absent <basic> says.
            if token.eq_ignore_ascii_case("unknown") {
                continue;
            }
            tuple.basic = Some(Basic::from_token(token).ok_or(PidfError::InvalidValue {
                what: "basic",
                value: value.to_string(),
                position: child.position,
            })?);
        } else {
            tuple.status_extensions.push(cursor.capture(child)?);
        }
    }
    Ok(())
}

/// RFC 3863 §4.1.5: a qvalue from 0 to 1. More decimals than the qvalue
/// grammar's three are accepted (Eyebeam writes `0.800000`).
fn priority(value: Option<String>, position: u64) -> Result<Option<f32>, PidfError> {
    let Some(value) = value else {
        return Ok(None);
    };
    match value.trim().parse::<f32>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(Some(p)),
        _ => Err(PidfError::InvalidValue {
            what: "contact priority",
            value,
            position,
        }),
    }
}

/// RFC 4479 §3.4.1 `<dm:person>` with its RPID children (RFC 4480 §3).
fn person<'a>(cursor: &mut Reader<'a>, element: El<'a>, index: usize) -> Result<Person, PidfError> {
    let mut person = Person::new(id_of(&element, "person", index)?);
    while let Some(child) = cursor.next_child(&element)? {
        match name_of(&child) {
            Name::Activities => activities(cursor, child, &mut person)?,
            Name::Mood if person.mood.is_none() => person.mood = Some(mood(cursor, child)?),
            Name::PlaceIs if person.place_is.is_none() => {
                person.place_is = Some(place_is(cursor, child)?);
            }
            Name::Note => person.notes.push(note(cursor, &child)?),
            Name::Timestamp if person.timestamp.is_none() => {
                person.timestamp = trimmed(cursor, &child)?;
            }
            // The drafts' form wraps the activities in a <status>.
            Name::Status => {
                while let Some(inner) = cursor.next_child(&child)? {
                    match name_of(&inner) {
                        Name::Activities => activities(cursor, inner, &mut person)?,
                        _ => cursor.skip(&inner)?,
                    }
                }
            }
            _ => person.extensions.push(cursor.capture(child)?),
        }
    }
    Ok(person)
}

/// RFC 4480 §3.2 `<rpid:activities>`: notes, then tokens or `<rpid:other>`.
/// Also the drafts' forms: `<ep:activity>away</ep:activity>`, and text
/// content naming the token (`<ep:activities>ep:away</ep:activities>`, as
/// Asterisk's `chan_pjsip` writes for Eyebeam).
fn activities<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
    person: &mut Person,
) -> Result<(), PidfError> {
    if person.activities_from.is_none() {
        person.activities_from = element.attribute(b"from")?;
    }
    if person.activities_until.is_none() {
        person.activities_until = element.attribute(b"until")?;
    }
    if element.empty {
        return Ok(());
    }
    loop {
        match cursor.next_node()? {
            Node::End => return Ok(()),
            Node::Text(text) => person
                .activities
                .extend(text.split_whitespace().map(activity_from_word)),
            Node::Element(child) => match name_of(&child) {
                Name::RpidNote | Name::Note => {
                    person.activities_notes.push(note(cursor, &child)?);
                }
                Name::RpidOther => person
                    .activities
                    .push(Activity::Other(cursor.text(&child)?)),
                Name::Activity => {
                    if let Some(word) = trimmed(cursor, &child)? {
                        person.activities.push(activity_from_word(&word));
                    }
                }
                _ if child.ns == Ns::Rpid => {
                    let token = String::from_utf8_lossy(child.local_name()).into_owned();
                    person.activities.push(activity_from_word(&token));
                    cursor.skip(&child)?;
                }
                _ => cursor.skip(&child)?,
            },
        }
    }
}

/// A token from the legacy text forms, with any `prefix:` dropped; words
/// that are not RFC 4480 tokens are kept as [`Activity::Other`].
fn activity_from_word(word: &str) -> Activity {
    let token = word.rsplit(':').next().unwrap_or(word);
    Activity::from_token(token).unwrap_or_else(|| Activity::Other(token.to_owned()))
}

/// RFC 4480 §3.6 `<rpid:mood>`.
fn mood<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<Mood, XmlError> {
    let mut mood = Mood::default();
    while let Some(child) = cursor.next_child(&element)? {
        match name_of(&child) {
            Name::RpidNote => mood.notes.push(note(cursor, &child)?),
            Name::RpidOther => mood.values.push(RpidToken::Other(cursor.text(&child)?)),
            _ if child.ns == Ns::Rpid => {
                let token = String::from_utf8_lossy(child.local_name()).into_owned();
                mood.values.push(RpidToken::Token(token));
                cursor.skip(&child)?;
            }
            _ => cursor.skip(&child)?,
        }
    }
    Ok(mood)
}

/// RFC 4480 §3.7 `<rpid:place-is>`: one token per medium.
fn place_is<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<PlaceIs, XmlError> {
    let mut place = PlaceIs::default();
    while let Some(child) = cursor.next_child(&element)? {
        let slot = match name_of(&child) {
            Name::RpidNote => {
                place.notes.push(note(cursor, &child)?);
                continue;
            }
            Name::Audio => &mut place.audio,
            Name::Video => &mut place.video,
            Name::Text => &mut place.text,
            _ => {
                cursor.skip(&child)?;
                continue;
            }
        };
        let token = medium(cursor, &child)?;
        if slot.is_none() {
            *slot = token;
        }
    }
    Ok(place)
}

/// The token inside `<rpid:audio>` and its siblings: the first RPID element
/// that is not a note.
fn medium<'a>(cursor: &mut Reader<'a>, element: &El<'a>) -> Result<Option<String>, XmlError> {
    let mut token = None;
    while let Some(child) = cursor.next_child(element)? {
        if token.is_none() && child.ns == Ns::Rpid && name_of(&child) != Name::RpidNote {
            token = Some(String::from_utf8_lossy(child.local_name()).into_owned());
        }
        cursor.skip(&child)?;
    }
    Ok(token)
}

/// RFC 4479 §3.4.3 `<dm:device>`.
fn device<'a>(cursor: &mut Reader<'a>, element: El<'a>, index: usize) -> Result<Device, PidfError> {
    let mut device = Device::new(id_of(&element, "device", index)?);
    while let Some(child) = cursor.next_child(&element)? {
        match name_of(&child) {
            Name::DeviceId if device.device_id.is_none() => {
                device.device_id = trimmed(cursor, &child)?;
            }
            Name::Note => device.notes.push(note(cursor, &child)?),
            Name::Timestamp if device.timestamp.is_none() => {
                device.timestamp = trimmed(cursor, &child)?;
            }
            _ => device.extensions.push(cursor.capture(child)?),
        }
    }
    Ok(device)
}
