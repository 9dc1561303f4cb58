//! `application/msrtc-event-categories+xml`: one contact's categories as a
//! watcher receives them ([MS-PRES] §2.2.2.3), in a NOTIFY of its own or as
//! a part of the batched RLMI NOTIFY ([`super::rlmi`]), and inside the
//! user's own roaming data ([`super::roaming`]).
//!
//! What SIPE's `process_incoming_notify_rlmi` reads, and so what is written
//! here: `categories/@uri`; `category/@name` and `@publishTime`;
//! `state/availability`, `state/activity/@token`, `state/activity/custom`;
//! `note/body` and its `type`; `contactCard/identity/name/displayName`,
//! `identity/email`, `title`, `company`, `phone/uri`, `photo/uri` + `hash`;
//! and (from roaming data) `@instance`, `@container`, `@version`.
//!
//! A document is rendered once per change of a contact's state and shared
//! by every watcher ([`render`] returns [`Bytes`]). [`parse`] reads one
//! back, as the server does when it watches a contact on another server of
//! the dialect (and as the round-trip tests do).

use bytes::Bytes;

use super::category::{CategoryValue, ContactCard, Note, Services, State};
use super::markup::Markup;
use super::publish::{self, CategoryXml, ExpireType};
use super::read::{self, Ns};
use super::{namespace, MsrtcError};
use crate::xml::escape::is_ncname;
use crate::XmlLimits;

/// The media type of a category document.
pub const CONTENT_TYPE: &str = "application/msrtc-event-categories+xml";

/// What a `<category>` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryValue {
    /// A value the server computed or interprets, written from its fields.
    Value(CategoryValue),
    /// A published element written back verbatim (categories the server
    /// does not interpret: calendarData, device, userProperties, …).
    Raw(CategoryXml),
    /// No value: in roaming data, an instance that was deleted (SIPE's
    /// `sipe_ocs2007_process_roaming_self` reads `<category name="note"/>`
    /// as "clear the note").
    Cleared,
}

/// One `<category>`. The optional attributes are written when present; a
/// watcher's document has all but `expireType`, roaming data may have
/// `expireType`, and a deletion only `name` and perhaps `container`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryEntry {
    /// `name`: the category.
    pub name: String,
    /// `instance`.
    pub instance: Option<u32>,
    /// `container`.
    pub container: Option<u32>,
    /// `version`.
    pub version: Option<u32>,
    /// `publishTime`, an `xs:dateTime` such as `2008-01-22T23:41:05.450`.
    pub publish_time: Option<String>,
    /// `expireType` (roaming data only).
    pub expire_type: Option<ExpireType>,
    /// The value.
    pub value: EntryValue,
}

/// A category document as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryDocument {
    /// `uri`: whose categories.
    pub uri: String,
    /// The categories, in document order; every value is
    /// [`EntryValue::Raw`] (with the interpreted value inside when there is
    /// one) or [`EntryValue::Cleared`].
    pub entries: Vec<CategoryEntry>,
}

/// Reads a `<categories>` document.
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<CategoryDocument, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(cursor, Ns::Categories, "categories", namespace::CATEGORIES)?;
        let mut document = CategoryDocument {
            uri: read::required(&root, "categories", "uri")?,
            entries: Vec::new(),
        };
        while let Some(child) = cursor.next_child(&root)? {
            if !read::is(&child, Ns::Categories, "category") {
                cursor.skip(&child)?;
                continue;
            }
            const NAME: &str = "category";
            let mut entry = CategoryEntry {
                name: read::required(&child, NAME, "name")?,
                instance: read::parsed(&child, NAME, "instance")?,
                container: read::parsed(&child, NAME, "container")?,
                version: read::parsed(&child, NAME, "version")?,
                publish_time: child.attribute(b"publishTime")?,
                expire_type: read::parsed(&child, NAME, "expireType")?,
                value: EntryValue::Cleared,
            };
            while let Some(value) = cursor.next_child(&child)? {
                if matches!(entry.value, EntryValue::Cleared) {
                    entry.value = EntryValue::Raw(publish::category_xml(cursor, value, limits)?);
                } else {
                    cursor.skip(&value)?;
                }
            }
            document.entries.push(entry);
        }
        Ok(document)
    })
}

/// Renders a whole `<categories uri>` document.
pub fn render(uri: &str, entries: &[CategoryEntry]) -> Bytes {
    let mut markup = Markup::with_capacity(256 + entries.len() * 384);
    write_categories(&mut markup, uri, entries);
    Bytes::from(markup.finish())
}

/// Writes `<categories xmlns uri>` with its entries.
pub(crate) fn write_categories(markup: &mut Markup, uri: &str, entries: &[CategoryEntry]) {
    markup
        .start("categories")
        .attr("xmlns", namespace::CATEGORIES)
        .attr("uri", uri)
        .open();
    for entry in entries {
        write_entry(markup, entry);
    }
    markup.end("categories");
}

fn write_entry(markup: &mut Markup, entry: &CategoryEntry) {
    markup.start("category").attr("name", &entry.name);
    if let Some(instance) = entry.instance {
        markup.attr_display("instance", instance);
    }
    if let Some(container) = entry.container {
        markup.attr_display("container", container);
    }
    if let Some(version) = entry.version {
        markup.attr_display("version", version);
    }
    markup.attr_opt("publishTime", entry.publish_time.as_deref());
    markup.attr_opt("expireType", entry.expire_type.map(ExpireType::as_str));
    match &entry.value {
        EntryValue::Cleared => {
            markup.empty();
        }
        EntryValue::Raw(xml) => {
            markup.open();
            match std::str::from_utf8(&xml.raw) {
                Ok(text) => markup.raw(text),
                // Built by the reader from a `String`, so always UTF-8; a
                // hand-made value that is not still yields a document.
                Err(_) => markup.raw(&String::from_utf8_lossy(&xml.raw)),
            };
            markup.end("category");
        }
        EntryValue::Value(value) => {
            markup.open();
            write_value(markup, value);
            markup.end("category");
        }
    }
}

/// Writes an interpreted value as its category element alone: the text
/// the server stores for a value it computed (the aggregate state) so that
/// later documents can carry it as [`EntryValue::Raw`] without writing it
/// again.
pub fn write_value_string(value: &CategoryValue) -> String {
    let mut markup = Markup::default();
    write_value(&mut markup, value);
    markup.finish()
}

fn write_value(markup: &mut Markup, value: &CategoryValue) {
    match value {
        CategoryValue::State(state) => write_state(markup, state),
        CategoryValue::Note(note) => write_note(markup, note),
        CategoryValue::ContactCard(card) => write_card(markup, card),
        CategoryValue::Services(services) => write_services(markup, services),
    }
}

fn write_state(markup: &mut Markup, state: &State) {
    markup
        .start("state")
        .attr("xmlns", namespace::STATE)
        .attr("xmlns:xsi", namespace::XSI)
        .attr("manual", if state.manual { "true" } else { "false" })
        .attr("xsi:type", state.state_type.as_str())
        .open();
    if let Some(availability) = state.availability {
        markup.leaf("availability", &availability.to_string());
    }
    if let Some(activity) = &state.activity {
        markup
            .start("activity")
            .attr_opt("token", activity.token.as_deref());
        if let Some(min) = activity.min_availability {
            markup.attr_display("minAvailability", min);
        }
        if let Some(max) = activity.max_availability {
            markup.attr_display("maxAvailability", max);
        }
        if activity.custom.is_empty() {
            markup.empty();
        } else {
            markup.open();
            for (lcid, text) in &activity.custom {
                markup
                    .start("custom")
                    .attr_display("LCID", lcid)
                    .open()
                    .text(text)
                    .end("custom");
            }
            markup.end("activity");
        }
    }
    markup.end("state");
}

fn write_note(markup: &mut Markup, note: &Note) {
    markup
        .start("note")
        .attr("xmlns", namespace::NOTE)
        .open()
        .start("body")
        .attr("type", note.note_type.as_str())
        .attr("uri", "")
        .open()
        .text(&note.text)
        .end("body")
        .end("note");
}

fn write_card(markup: &mut Markup, card: &ContactCard) {
    markup
        .start("contactCard")
        .attr("xmlns", namespace::CONTACT_CARD)
        .open();
    if card.display_name.is_some() || card.email.is_some() {
        markup.start("identity").open();
        if let Some(name) = &card.display_name {
            markup
                .start("name")
                .open()
                .leaf("displayName", name)
                .end("name");
        }
        if let Some(email) = &card.email {
            markup.leaf("email", email);
        }
        markup.end("identity");
    }
    for phone in &card.phones {
        markup
            .start("phone")
            .attr("type", &phone.phone_type)
            .open()
            .leaf("uri", &phone.uri);
        if let Some(display) = &phone.display {
            markup.leaf("displayString", display);
        }
        markup.end("phone");
    }
    if let Some(title) = &card.title {
        markup.leaf("title", title);
    }
    if let Some(company) = &card.company {
        markup.leaf("company", company);
    }
    if let Some(description) = &card.description {
        markup.leaf("description", description);
    }
    if card.automaton {
        markup.leaf("automaton", "true");
    }
    if let Some(photo) = &card.photo {
        markup
            .start("photo")
            .attr("type", "enterprise")
            .open()
            .leaf("uri", &photo.uri)
            .leaf("hash", &photo.hash)
            .end("photo");
    }
    markup.end("contactCard");
}

/// Capabilities are written as elements named after them; a name that is
/// not an XML name cannot be written and is left out.
fn write_services(markup: &mut Markup, services: &Services) {
    markup
        .start("services")
        .attr("xmlns", namespace::SERVICE)
        .open();
    for service in &services.services {
        markup
            .start("service")
            .attr("uri", &service.uri)
            .open()
            .start("capabilities")
            .open();
        for capability in service.capabilities.iter().filter(|c| is_ncname(&c.name)) {
            markup
                .start(&capability.name)
                .attr("render", bool_token(capability.render))
                .attr("capture", bool_token(capability.capture));
            if let Some(availability) = capability.device_availability {
                markup.attr_display("deviceAvailability", availability);
            }
            markup.empty();
        }
        markup.end("capabilities").end("service");
    }
    markup.end("services");
}

fn bool_token(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}
