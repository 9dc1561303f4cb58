//! Writing the model as canonical PIDF with quick-xml's `Writer`.
//!
//! Children are written in the order of the schemas (RFC 3863 §4.1, RFC
//! 4479 §4, RFC 4480 §4), so validating watchers accept the output even
//! though the reader accepts any order.

use std::borrow::Cow;
use std::io;

use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::name::QName;
use quick_xml::Writer;

use crate::activity::Activity;
use crate::document::{
    Contact, Device, Mood, Note, Person, PlaceIs, PresenceDocument, RpidToken, Tuple,
};
use crate::extension::Extension;
use crate::namespace;
use crate::xml::escape;

pub(super) fn document(document: &PresenceDocument) -> String {
    let mut out = Out {
        writer: Writer::new_with_indent(Vec::with_capacity(1024), b' ', 1),
    };
    // Writing into a Vec<u8> cannot fail: io::Write for Vec never errors.
    out.document(document)
        .expect("writing PIDF into a Vec<u8> cannot fail");
    let mut bytes = out.writer.into_inner();
    bytes.push(b'\n');
    // Every piece written is a &str or an escaped &str, so the bytes are
    // UTF-8; from_utf8_lossy only copies if that were ever not so.
    match String::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

struct Out {
    writer: Writer<Vec<u8>>,
}

type Attrs<'a> = [(&'a str, Option<&'a str>)];

impl Out {
    fn start(&mut self, name: &str, attrs: &Attrs<'_>) -> io::Result<()> {
        let start = with_attributes(name, attrs);
        self.writer.write_event(Event::Start(start))
    }

    fn end(&mut self, name: &str) -> io::Result<()> {
        self.writer.write_event(Event::End(BytesEnd::new(name)))
    }

    fn empty(&mut self, name: &str, attrs: &Attrs<'_>) -> io::Result<()> {
        let start = with_attributes(name, attrs);
        self.writer.write_event(Event::Empty(start))
    }

    /// `<name attrs>text</name>`. The text event is written even when empty:
    /// it is what keeps the writer's indentation out of the content.
    fn text_element(&mut self, name: &str, attrs: &Attrs<'_>, text: &str) -> io::Result<()> {
        self.start(name, attrs)?;
        let escaped = escape::text(text);
        self.writer
            .write_event(Event::Text(BytesText::from_escaped(escaped)))?;
        self.end(name)
    }

    fn note(&mut self, name: &str, note: &Note) -> io::Result<()> {
        self.text_element(name, &[("xml:lang", note.lang.as_deref())], &note.text)
    }

    /// An extension, verbatim on its own line: it is self-contained (see
    /// [`Extension`]), so no namespace context is needed.
    fn extension(&mut self, extension: &Extension) -> io::Result<()> {
        self.writer.write_indent()?;
        self.writer
            .get_mut()
            .extend_from_slice(extension.as_str().as_bytes());
        Ok(())
    }

    fn document(&mut self, doc: &PresenceDocument) -> io::Result<()> {
        self.writer
            .write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
        let dm = uses_data_model(doc).then_some(namespace::DATA_MODEL);
        let rpid = uses_rpid(doc).then_some(namespace::RPID);
        self.start(
            "presence",
            &[
                ("xmlns", Some(namespace::PIDF)),
                ("xmlns:dm", dm),
                ("xmlns:rpid", rpid),
                ("entity", Some(&doc.entity)),
            ],
        )?;
        for tuple in &doc.tuples {
            self.tuple(tuple)?;
        }
        for note in &doc.notes {
            self.note("note", note)?;
        }
        for person in &doc.persons {
            self.person(person)?;
        }
        for device in &doc.devices {
            self.device(device)?;
        }
        for extension in &doc.extensions {
            self.extension(extension)?;
        }
        self.end("presence")
    }

    /// RFC 3863 §4.1.2: status, extensions, contact, notes, timestamp.
    fn tuple(&mut self, tuple: &Tuple) -> io::Result<()> {
        self.start("tuple", &[("id", Some(&tuple.id))])?;
        if tuple.basic.is_none() && tuple.status_extensions.is_empty() {
            self.empty("status", &[])?;
        } else {
            self.start("status", &[])?;
            if let Some(basic) = tuple.basic {
                self.text_element("basic", &[], basic.as_str())?;
            }
            for extension in &tuple.status_extensions {
                self.extension(extension)?;
            }
            self.end("status")?;
        }
        for device_id in &tuple.device_ids {
            self.text_element("dm:deviceID", &[], device_id)?;
        }
        for extension in &tuple.extensions {
            self.extension(extension)?;
        }
        if let Some(contact) = &tuple.contact {
            self.contact(contact)?;
        }
        for note in &tuple.notes {
            self.note("note", note)?;
        }
        if let Some(timestamp) = &tuple.timestamp {
            self.text_element("timestamp", &[], timestamp)?;
        }
        self.end("tuple")
    }

    fn contact(&mut self, contact: &Contact) -> io::Result<()> {
        // A priority outside 0..=1 (or NaN) cannot be written as a qvalue;
        // it is left out rather than producing an invalid document.
        let priority = contact
            .priority
            .filter(|p| (0.0..=1.0).contains(p))
            .map(|p| p.to_string());
        self.text_element(
            "contact",
            &[("priority", priority.as_deref())],
            &contact.uri,
        )
    }

    /// RFC 4479 §4: RPID and other extensions, then notes and timestamp.
    fn person(&mut self, person: &Person) -> io::Result<()> {
        self.start("dm:person", &[("id", Some(&person.id))])?;
        let has_activities = !person.activities.is_empty()
            || !person.activities_notes.is_empty()
            || person.activities_from.is_some()
            || person.activities_until.is_some();
        if has_activities {
            self.activities(person)?;
        }
        if let Some(mood) = &person.mood {
            self.mood(mood)?;
        }
        if let Some(place) = &person.place_is {
            self.place_is(place)?;
        }
        for extension in &person.extensions {
            self.extension(extension)?;
        }
        for note in &person.notes {
            self.note("dm:note", note)?;
        }
        if let Some(timestamp) = &person.timestamp {
            self.text_element("dm:timestamp", &[], timestamp)?;
        }
        self.end("dm:person")
    }

    /// RFC 4480 §3.2: notes first, then the activities.
    fn activities(&mut self, person: &Person) -> io::Result<()> {
        self.start(
            "rpid:activities",
            &[
                ("from", person.activities_from.as_deref()),
                ("until", person.activities_until.as_deref()),
            ],
        )?;
        for note in &person.activities_notes {
            self.note("rpid:note", note)?;
        }
        for activity in &person.activities {
            match (activity.token(), activity) {
                (Some(token), _) => self.token(token)?,
                (None, Activity::Other(text)) => self.text_element("rpid:other", &[], text)?,
                (None, _) => {}
            }
        }
        self.end("rpid:activities")
    }

    /// `<rpid:token/>`, or `<rpid:other>` when the token cannot be an
    /// element name.
    fn token(&mut self, token: &str) -> io::Result<()> {
        if escape::is_ncname(token) {
            self.empty(&format!("rpid:{token}"), &[])
        } else {
            self.text_element("rpid:other", &[], token)
        }
    }

    fn mood(&mut self, mood: &Mood) -> io::Result<()> {
        if mood.values.is_empty() && mood.notes.is_empty() {
            return self.empty("rpid:mood", &[]);
        }
        self.start("rpid:mood", &[])?;
        for note in &mood.notes {
            self.note("rpid:note", note)?;
        }
        for value in &mood.values {
            match value {
                RpidToken::Token(token) => self.token(token)?,
                RpidToken::Other(text) => self.text_element("rpid:other", &[], text)?,
            }
        }
        self.end("rpid:mood")
    }

    fn place_is(&mut self, place: &PlaceIs) -> io::Result<()> {
        self.start("rpid:place-is", &[])?;
        for note in &place.notes {
            self.note("rpid:note", note)?;
        }
        let media = [
            ("rpid:audio", &place.audio),
            ("rpid:video", &place.video),
            ("rpid:text", &place.text),
        ];
        for (name, token) in media {
            if let Some(token) = token.as_deref().filter(|t| escape::is_ncname(t)) {
                self.start(name, &[])?;
                self.empty(&format!("rpid:{token}"), &[])?;
                self.end(name)?;
            }
        }
        self.end("rpid:place-is")
    }

    /// RFC 4479 §4: extensions, deviceID, notes, timestamp.
    fn device(&mut self, device: &Device) -> io::Result<()> {
        self.start("dm:device", &[("id", Some(&device.id))])?;
        for extension in &device.extensions {
            self.extension(extension)?;
        }
        if let Some(device_id) = &device.device_id {
            self.text_element("dm:deviceID", &[], device_id)?;
        }
        for note in &device.notes {
            self.note("dm:note", note)?;
        }
        if let Some(timestamp) = &device.timestamp {
            self.text_element("dm:timestamp", &[], timestamp)?;
        }
        self.end("dm:device")
    }
}

fn with_attributes<'a>(name: &'a str, attrs: &Attrs<'_>) -> BytesStart<'a> {
    let mut start = BytesStart::new(name);
    for (key, value) in attrs {
        if let Some(value) = value {
            let escaped = escape::attribute(value);
            start.push_attribute(Attribute {
                key: QName(key.as_bytes()),
                value: Cow::Borrowed(escaped.as_bytes()),
            });
        }
    }
    start
}

fn uses_data_model(doc: &PresenceDocument) -> bool {
    !doc.persons.is_empty()
        || !doc.devices.is_empty()
        || doc.tuples.iter().any(|t| !t.device_ids.is_empty())
}

fn uses_rpid(doc: &PresenceDocument) -> bool {
    doc.persons.iter().any(|p| {
        !p.activities.is_empty()
            || !p.activities_notes.is_empty()
            || p.activities_from.is_some()
            || p.activities_until.is_some()
            || p.mood.is_some()
            || p.place_is.is_some()
    })
}
