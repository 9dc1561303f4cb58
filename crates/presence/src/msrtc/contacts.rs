//! The roaming contact list ([MS-SIP] §2.2.4, §3.7): the SOAP requests a
//! client sends in SERVICE to change it (`application/SOAP+xml`, §2.2.4.2,
//! example §4.6; SIPE's `sip-soap.c`, `sipe-group.c`, `sipe-buddy.c`), and
//! the `<contactList>` / `<contactDelta>` documents the server returns on
//! `Event: vnd-microsoft-roaming-contacts` (§2.2.4.1, schema §9.1; read by
//! SIPE's `sipe_process_roaming_contacts`).
//!
//! ```xml
//! <s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"
//!             xmlns:m="http://schemas.microsoft.com/winrtc/2002/11/sip">
//!   <s:Body><m:setContact><m:displayName>Bob</m:displayName><m:groups>1 2</m:groups>
//!     <m:subscribed>true</m:subscribed><m:URI>sip:bob@example.com</m:URI>
//!     <m:externalURI/><m:deltaNum>7</m:deltaNum></m:setContact></s:Body></s:Envelope>
//! ```

use bytes::Bytes;

use super::markup::Markup;
use super::read::{self, El, Ns, Reader};
use super::{namespace, MsrtcError};
use crate::XmlLimits;

/// The media type of the contact-list requests.
pub const REQUEST_CONTENT_TYPE: &str = "application/SOAP+xml";

/// The media type of `<contactList>` and `<contactDelta>`.
pub const CONTENT_TYPE: &str = "application/vnd-microsoft-roaming-contacts+xml";

/// A group of the contact list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its id, referenced by contacts' `groups`.
    pub id: u32,
    /// Its name; SIPE shows `~` as "Other Contacts".
    pub name: String,
    /// `externalURI`, auxiliary data (an LDAP URI).
    pub external_uri: Option<String>,
}

/// A contact of the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// The contact's URI.
    pub uri: String,
    /// The alias the user gave it; empty means "use the contact card's
    /// display name" (SIPE).
    pub name: String,
    /// The groups it is in (at least one, [MS-SIP] §3.7).
    pub groups: Vec<u32>,
    /// Whether the client subscribes to its presence.
    pub subscribed: bool,
    /// `externalURI`.
    pub external_uri: Option<String>,
}

/// One contact-list primitive ([MS-SIP] §2.2.4.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// `setContact`: add a contact or change it.
    SetContact(Contact),
    /// `deleteContact`.
    DeleteContact {
        /// The contact's URI.
        uri: String,
    },
    /// `addGroup`: the server picks the id and answers it
    /// ([`render_add_group_response`]).
    AddGroup {
        /// The name.
        name: String,
        /// `externalURI`.
        external_uri: Option<String>,
    },
    /// `modifyGroup`: rename.
    ModifyGroup(Group),
    /// `deleteGroup`.
    DeleteGroup {
        /// The group.
        id: u32,
    },
}

/// A contact-list SERVICE request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRequest {
    /// What to do.
    pub operation: Operation,
    /// `deltaNum`: the list version the client last saw; the server's
    /// answer carries the next one.
    pub delta_num: u32,
}

/// The primitive's children, by local name in the primitive's namespace.
#[derive(Default)]
struct Fields {
    display_name: Option<String>,
    groups: Option<(String, u64)>,
    subscribed: Option<(String, u64)>,
    uri: Option<String>,
    external_uri: Option<String>,
    delta_num: Option<u32>,
    group_id: Option<u32>,
    name: Option<String>,
}

/// Reads a contact-list SOAP request.
pub fn parse_request(bytes: &[u8], limits: &XmlLimits) -> Result<ContactRequest, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let envelope = read::root(
            cursor,
            Ns::SoapEnvelope,
            "Envelope",
            namespace::SOAP_ENVELOPE,
        )?;
        let mut request = None;
        while let Some(body) = cursor.next_child(&envelope)? {
            if request.is_some() || !read::is(&body, Ns::SoapEnvelope, "Body") {
                cursor.skip(&body)?;
                continue;
            }
            while let Some(primitive) = cursor.next_child(&body)? {
                if request.is_none() && primitive.ns == Ns::WinrtcSip {
                    request = Some(operation(cursor, primitive)?);
                } else {
                    cursor.skip(&primitive)?;
                }
            }
        }
        request.ok_or(MsrtcError::MissingElement {
            element: "Body",
            child: "setContact",
            position: envelope.position,
        })
    })
}

fn operation<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<ContactRequest, MsrtcError> {
    const PRIMITIVES: [&str; 5] = [
        "setContact",
        "deleteContact",
        "addGroup",
        "modifyGroup",
        "deleteGroup",
    ];
    let position = element.position;
    let Some(&name) = PRIMITIVES
        .iter()
        .find(|p| p.as_bytes() == element.local_name())
    else {
        return Err(MsrtcError::UnsupportedElement {
            element: "Body",
            found: String::from_utf8_lossy(element.start.name().as_ref()).into_owned(),
            position,
        });
    };
    let fields = fields(cursor, element)?;
    let missing = |child: &'static str| MsrtcError::MissingElement {
        element: name,
        child,
        position,
    };
    let delta_num = fields.delta_num.ok_or_else(|| missing("deltaNum"))?;
    let operation = match name {
        "setContact" => {
            let (groups, at) = fields.groups.unwrap_or_default();
            let groups = groups
                .split_ascii_whitespace()
                .map(|id| id.parse())
                .collect::<Result<Vec<u32>, _>>()
                .map_err(|_| MsrtcError::InvalidValue {
                    element: "groups",
                    value: groups.clone(),
                    position: at,
                })?;
            let subscribed = match fields.subscribed {
                None => false,
                Some((text, at)) => read::parse_bool(&text).ok_or(MsrtcError::InvalidValue {
                    element: "subscribed",
                    value: text,
                    position: at,
                })?,
            };
            Operation::SetContact(Contact {
                uri: fields.uri.ok_or_else(|| missing("URI"))?,
                name: fields.display_name.unwrap_or_default(),
                groups,
                subscribed,
                external_uri: fields.external_uri,
            })
        }
        "deleteContact" => Operation::DeleteContact {
            uri: fields.uri.ok_or_else(|| missing("URI"))?,
        },
        "addGroup" => Operation::AddGroup {
            name: fields.name.ok_or_else(|| missing("name"))?,
            external_uri: fields.external_uri,
        },
        "modifyGroup" => Operation::ModifyGroup(Group {
            id: fields.group_id.ok_or_else(|| missing("groupID"))?,
            name: fields.name.ok_or_else(|| missing("name"))?,
            external_uri: fields.external_uri,
        }),
        _ => Operation::DeleteGroup {
            id: fields.group_id.ok_or_else(|| missing("groupID"))?,
        },
    };
    Ok(ContactRequest {
        operation,
        delta_num,
    })
}

fn fields<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<Fields, MsrtcError> {
    let mut fields = Fields::default();
    while let Some(child) = cursor.next_child(&element)? {
        if child.ns != Ns::WinrtcSip {
            cursor.skip(&child)?;
            continue;
        }
        let at = child.position;
        match child.local_name() {
            b"displayName" => fields.display_name = Some(cursor.text(&child)?),
            b"name" => fields.name = Some(cursor.text(&child)?),
            b"groups" => fields.groups = Some((read::trimmed(cursor, &child)?, at)),
            b"subscribed" => fields.subscribed = Some((read::trimmed(cursor, &child)?, at)),
            b"URI" => fields.uri = Some(read::trimmed(cursor, &child)?),
            b"externalURI" => {
                fields.external_uri = Some(read::trimmed(cursor, &child)?).filter(|u| !u.is_empty())
            }
            b"deltaNum" => fields.delta_num = Some(read::number(cursor, &child, "deltaNum")?),
            b"groupID" => fields.group_id = Some(read::number(cursor, &child, "groupID")?),
            _ => cursor.skip(&child)?,
        }
    }
    Ok(fields)
}

/// The answer to `addGroup`: SIPE reads `Body/addGroup/groupID` from the
/// 200 to learn the new group's id.
pub fn render_add_group_response(group_id: u32) -> Bytes {
    let mut markup = Markup::with_capacity(256);
    markup
        .start("s:Envelope")
        .attr("xmlns:s", namespace::SOAP_ENVELOPE)
        .attr("xmlns:m", namespace::WINRTC_SIP)
        .open()
        .start("s:Body")
        .open()
        .start("m:addGroup")
        .open()
        .leaf("m:groupID", &group_id.to_string())
        .end("m:addGroup")
        .end("s:Body")
        .end("s:Envelope");
    Bytes::from(markup.finish())
}

/// The full list, sent first on a roaming-contacts subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactList {
    /// The list's version (non-zero, [MS-SIP]; SIPE ignores 0).
    pub delta_num: u32,
    /// The groups.
    pub groups: Vec<Group>,
    /// The contacts.
    pub contacts: Vec<Contact>,
}

/// The changes since the last list a client saw.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactDelta {
    /// The version the changes apply to.
    pub prev_delta_num: u32,
    /// The version after them.
    pub delta_num: u32,
    /// Groups added.
    pub added_groups: Vec<Group>,
    /// Groups renamed.
    pub modified_groups: Vec<Group>,
    /// Contacts added.
    pub added_contacts: Vec<Contact>,
    /// Contacts changed.
    pub modified_contacts: Vec<Contact>,
    /// Groups deleted, by id.
    pub deleted_groups: Vec<u32>,
    /// Contacts deleted, by URI.
    pub deleted_contacts: Vec<String>,
}

/// Renders a `<contactList>`: groups first, then contacts ([MS-SIP] §3.7),
/// each contact's URI without its `sip:` scheme.
pub fn render_list(list: &ContactList) -> Bytes {
    let mut markup = Markup::with_capacity(256 + list.contacts.len() * 128);
    markup
        .start("contactList")
        .attr("xmlns", namespace::CONTACT_TYPES)
        .attr_display("deltaNum", list.delta_num)
        .open();
    for group in &list.groups {
        write_group(&mut markup, "group", group);
    }
    for contact in &list.contacts {
        // The full list names contacts without `sip:`: SIPE's
        // `sipe_process_roaming_contacts` prepends it to every full-list
        // URI, while it takes delta URIs as they are.
        let bare = contact.uri.strip_prefix("sip:").unwrap_or(&contact.uri);
        write_contact(&mut markup, "contact", bare, contact);
    }
    markup.end("contactList");
    Bytes::from(markup.finish())
}

/// Renders a `<contactDelta>` in [MS-SIP] §3.7's order: added and modified
/// groups, added and modified contacts, deleted groups, deleted contacts.
pub fn render_delta(delta: &ContactDelta) -> Bytes {
    let mut markup = Markup::with_capacity(512);
    markup
        .start("contactDelta")
        .attr("xmlns", namespace::CONTACT_TYPES)
        .attr_display("deltaNum", delta.delta_num)
        .attr_display("prevDeltaNum", delta.prev_delta_num)
        .open();
    for group in &delta.added_groups {
        write_group(&mut markup, "addedGroup", group);
    }
    for group in &delta.modified_groups {
        write_group(&mut markup, "modifiedGroup", group);
    }
    for contact in &delta.added_contacts {
        write_contact(&mut markup, "addedContact", &contact.uri, contact);
    }
    for contact in &delta.modified_contacts {
        write_contact(&mut markup, "modifiedContact", &contact.uri, contact);
    }
    for id in &delta.deleted_groups {
        markup.start("deletedGroup").attr_display("id", id).empty();
    }
    for uri in &delta.deleted_contacts {
        markup.start("deletedContact").attr("uri", uri).empty();
    }
    markup.end("contactDelta");
    Bytes::from(markup.finish())
}

fn write_group(markup: &mut Markup, element: &str, group: &Group) {
    markup
        .start(element)
        .attr_display("id", group.id)
        .attr("name", &group.name)
        .attr("externalURI", group.external_uri.as_deref().unwrap_or(""))
        .empty();
}

fn write_contact(markup: &mut Markup, element: &str, uri: &str, contact: &Contact) {
    let groups = contact
        .groups
        .iter()
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    markup
        .start(element)
        .attr("uri", uri)
        .attr("name", &contact.name)
        .attr("groups", &groups)
        .attr(
            "subscribed",
            if contact.subscribed { "true" } else { "false" },
        )
        .attr("externalURI", contact.external_uri.as_deref().unwrap_or(""))
        .empty();
}
