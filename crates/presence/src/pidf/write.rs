//! Writing the model as canonical PIDF.
//!
//! Children are written in the order of the schemas (RFC 3863 §4.1, RFC
//! 4479 §4, RFC 4480 §4), so validating watchers accept the output even
//! though the reader accepts any order.
//!
//! The layout is the one quick-xml's indenting writer gave (one space per
//! level, every tag on its own line unless it follows text), kept byte
//! for byte since a NOTIFY body is what watchers see and entity-tags hash;
//! `tests/pidf_golden.rs` pins it. Writing straight into one string
//! builder instead of through quick-xml's events saves an allocation per
//! start tag and most of the rendering's instructions, which matters
//! because every state change renders once.

use crate::activity::Activity;
use crate::document::{
    Contact, Device, Mood, Note, Person, PlaceIs, PresenceDocument, RpidToken, Tuple,
};
use crate::extension::Extension;
use crate::namespace;
use crate::xml::escape;
use crate::xml::markup::Markup;

pub(super) fn document(document: &PresenceDocument) -> String {
    let mut out = Out {
        markup: Markup::with_capacity(capacity(document)),
        depth: 0,
        line_break: false,
    };
    out.document(document);
    out.markup.raw("\n");
    out.markup.finish()
}

/// Room for the whole document at once: a typical body fits in 1 KiB, and
/// extensions are copied verbatim, so their length is known.
fn capacity(doc: &PresenceDocument) -> usize {
    let extensions = |list: &[Extension]| list.iter().map(|e| e.as_str().len() + 8).sum::<usize>();
    1024 + extensions(&doc.extensions)
        + doc
            .tuples
            .iter()
            .map(|t| extensions(&t.extensions) + extensions(&t.status_extensions))
            .sum::<usize>()
        + doc
            .persons
            .iter()
            .map(|p| extensions(&p.extensions))
            .sum::<usize>()
        + doc
            .devices
            .iter()
            .map(|d| extensions(&d.extensions))
            .sum::<usize>()
}

/// The document being written, with the indentation state: `depth` open
/// elements, and whether the next tag starts a new line (not after text,
/// so that text content stays exactly what it is).
struct Out {
    markup: Markup,
    depth: usize,
    line_break: bool,
}

type Attrs<'a> = [(&'a str, Option<&'a str>)];

impl Out {
    /// The line break and indentation before a tag, unless text precedes.
    fn indent(&mut self) {
        if self.line_break {
            self.markup.line(self.depth);
        }
    }

    /// `<name attrs`, on its own line.
    fn open_tag(&mut self, name: &str, attrs: &Attrs<'_>) {
        self.indent();
        self.markup.start(name);
        for (key, value) in attrs {
            self.markup.attr_opt(key, *value);
        }
    }

    fn start(&mut self, name: &str, attrs: &Attrs<'_>) {
        self.open_tag(name, attrs);
        self.markup.open();
        self.depth += 1;
        self.line_break = true;
    }

    fn end(&mut self, name: &str) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.markup.end(name);
        self.line_break = true;
    }

    fn empty(&mut self, name: &str, attrs: &Attrs<'_>) {
        self.open_tag(name, attrs);
        self.markup.empty();
        self.line_break = true;
    }

    /// `<name attrs>text</name>`, the end tag right after the text.
    fn text_element(&mut self, name: &str, attrs: &Attrs<'_>, text: &str) {
        self.start(name, attrs);
        self.markup.text(text);
        self.line_break = false;
        self.end(name);
    }

    /// `<rpid:token/>` for a token already checked to be an NCName.
    fn rpid_empty(&mut self, token: &str) {
        self.indent();
        self.markup.start("rpid:").raw(token).empty();
        self.line_break = true;
    }

    fn note(&mut self, name: &str, note: &Note) {
        self.text_element(name, &[("xml:lang", note.lang.as_deref())], &note.text)
    }

    /// An extension, verbatim on its own line: it is self-contained (see
    /// [`Extension`]), so no namespace context is needed.
    fn extension(&mut self, extension: &Extension) {
        self.markup.line(self.depth).raw(extension.as_str());
    }

    fn document(&mut self, doc: &PresenceDocument) {
        self.markup.raw(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        self.line_break = true;
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
        );
        for tuple in &doc.tuples {
            self.tuple(tuple);
        }
        for note in &doc.notes {
            self.note("note", note);
        }
        for person in &doc.persons {
            self.person(person);
        }
        for device in &doc.devices {
            self.device(device);
        }
        for extension in &doc.extensions {
            self.extension(extension);
        }
        self.end("presence")
    }

    /// RFC 3863 §4.1.2: status, extensions, contact, notes, timestamp.
    fn tuple(&mut self, tuple: &Tuple) {
        self.start("tuple", &[("id", Some(&tuple.id))]);
        if tuple.basic.is_none() && tuple.status_extensions.is_empty() {
            self.empty("status", &[]);
        } else {
            self.start("status", &[]);
            if let Some(basic) = tuple.basic {
                self.text_element("basic", &[], basic.as_str());
            }
            for extension in &tuple.status_extensions {
                self.extension(extension);
            }
            self.end("status");
        }
        for device_id in &tuple.device_ids {
            self.text_element("dm:deviceID", &[], device_id);
        }
        for extension in &tuple.extensions {
            self.extension(extension);
        }
        if let Some(contact) = &tuple.contact {
            self.contact(contact);
        }
        for note in &tuple.notes {
            self.note("note", note);
        }
        if let Some(timestamp) = &tuple.timestamp {
            self.text_element("timestamp", &[], timestamp);
        }
        self.end("tuple")
    }

    fn contact(&mut self, contact: &Contact) {
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
    fn person(&mut self, person: &Person) {
        self.start("dm:person", &[("id", Some(&person.id))]);
        let has_activities = !person.activities.is_empty()
            || !person.activities_notes.is_empty()
            || person.activities_from.is_some()
            || person.activities_until.is_some();
        if has_activities {
            self.activities(person);
        }
        if let Some(mood) = &person.mood {
            self.mood(mood);
        }
        if let Some(place) = &person.place_is {
            self.place_is(place);
        }
        for extension in &person.extensions {
            self.extension(extension);
        }
        for note in &person.notes {
            self.note("dm:note", note);
        }
        if let Some(timestamp) = &person.timestamp {
            self.text_element("dm:timestamp", &[], timestamp);
        }
        self.end("dm:person")
    }

    /// RFC 4480 §3.2: notes first, then the activities.
    fn activities(&mut self, person: &Person) {
        self.start(
            "rpid:activities",
            &[
                ("from", person.activities_from.as_deref()),
                ("until", person.activities_until.as_deref()),
            ],
        );
        for note in &person.activities_notes {
            self.note("rpid:note", note);
        }
        for activity in &person.activities {
            match (activity.token(), activity) {
                (Some(token), _) => self.token(token),
                (None, Activity::Other(text)) => self.text_element("rpid:other", &[], text),
                (None, _) => {}
            }
        }
        self.end("rpid:activities")
    }

    /// `<rpid:token/>`, or `<rpid:other>` when the token cannot be an
    /// element name.
    fn token(&mut self, token: &str) {
        if escape::is_ncname(token) {
            self.rpid_empty(token);
        } else {
            self.text_element("rpid:other", &[], token)
        }
    }

    fn mood(&mut self, mood: &Mood) {
        if mood.values.is_empty() && mood.notes.is_empty() {
            self.empty("rpid:mood", &[]);
            return;
        }
        self.start("rpid:mood", &[]);
        for note in &mood.notes {
            self.note("rpid:note", note);
        }
        for value in &mood.values {
            match value {
                RpidToken::Token(token) => self.token(token),
                RpidToken::Other(text) => self.text_element("rpid:other", &[], text),
            }
        }
        self.end("rpid:mood")
    }

    fn place_is(&mut self, place: &PlaceIs) {
        self.start("rpid:place-is", &[]);
        for note in &place.notes {
            self.note("rpid:note", note);
        }
        let media = [
            ("rpid:audio", &place.audio),
            ("rpid:video", &place.video),
            ("rpid:text", &place.text),
        ];
        for (name, token) in media {
            if let Some(token) = token.as_deref().filter(|t| escape::is_ncname(t)) {
                self.start(name, &[]);
                self.rpid_empty(token);
                self.end(name);
            }
        }
        self.end("rpid:place-is")
    }

    /// RFC 4479 §4: extensions, deviceID, notes, timestamp.
    fn device(&mut self, device: &Device) {
        self.start("dm:device", &[("id", Some(&device.id))]);
        for extension in &device.extensions {
            self.extension(extension);
        }
        if let Some(device_id) = &device.device_id {
            self.text_element("dm:deviceID", &[], device_id);
        }
        for note in &device.notes {
            self.note("dm:note", note);
        }
        if let Some(timestamp) = &device.timestamp {
            self.text_element("dm:timestamp", &[], timestamp);
        }
        self.end("dm:device")
    }
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
