//! The rules a contact list keeps, checked before anything changes: each
//! function here takes the current list and one operation and returns the
//! next list, or the first broken rule with the field that breaks it.
//!
//! Field paths name the operation's own fields as the HTTP API and the
//! SERVICE bodies spell them: `groups[1].name`, `contacts[2].groups[0]`
//! for a whole list, `uri` or `groups[0]` for one contact.

use std::collections::HashSet;
use std::fmt;

use super::{Contact, ContactLimits, ContactList, Group, ListContent};
use crate::presentity::presentity_key;

/// Why an operation on a contact list was refused, and which field broke
/// which rule, so an operator or client can fix that field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {kind}")]
pub struct ContactError {
    /// The path of the field in the operation, such as
    /// `contacts[2].groups[0]`; `user` for the user's URI.
    pub field: String,
    /// The rule broken.
    pub kind: ContactErrorKind,
}

/// The rules of a contact list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContactErrorKind {
    /// Not a SIP, SIPS or tel URI.
    #[error("not a SIP URI ({0})")]
    BadUri(String),
    /// Longer than the limit allows.
    #[error("longer than {limit} {unit}")]
    TooLong {
        /// The limit.
        limit: usize,
        /// `characters` or `bytes`.
        unit: &'static str,
    },
    /// A group name must say something.
    #[error("must not be empty")]
    Empty,
    /// XML 1.0 cannot carry most control characters, and the list goes
    /// to clients as XML.
    #[error("contains a control character")]
    ControlCharacter,
    /// A contact refers to a group the list does not have.
    #[error("group {0} does not exist")]
    UnknownGroup(u32),
    /// Two groups share an id.
    #[error("group id {0} is used twice")]
    DuplicateGroupId(u32),
    /// Two groups share a name (clients identify groups by name).
    #[error("group name {0:?} is used twice")]
    DuplicateGroupName(String),
    /// A contact names the same group twice.
    #[error("group {0} is listed twice")]
    DuplicateMembership(u32),
    /// Two contacts have the same address of record.
    #[error("contact {0} is listed twice")]
    DuplicateContact(String),
    /// A contact must be in at least one group ([MS-SIP] §3.7).
    #[error("a contact must be in at least one group")]
    NoGroup,
    /// More contacts than the limit.
    #[error("more than {0} contacts")]
    TooManyContacts(usize),
    /// More groups than the limit.
    #[error("more than {0} groups")]
    TooManyGroups(usize),
    /// The list has no such contact.
    #[error("no contact {0}")]
    NoSuchContact(String),
    /// The list has no such group.
    #[error("no group {0}")]
    NoSuchGroup(u32),
    /// Deleting the group would leave a contact in none.
    #[error("group {group} is the only group of {contact}")]
    LastGroup {
        /// The group.
        group: u32,
        /// A contact only in it.
        contact: String,
    },
}

/// Where a list comes from, which decides how much is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Origin {
    /// A request: every rule and limit.
    Request,
    /// The store, after a restart: the records are ours, written after
    /// these checks, so URIs are already addresses of record and are not
    /// parsed again (32 M of them at scale); the structure (references,
    /// duplicates) is still checked, limits are not.
    Store,
}

/// Where in an operation a value sits: `base[index].leaf`.
#[derive(Debug, Clone, Copy)]
struct At<'a> {
    base: &'a str,
    index: Option<usize>,
}

impl At<'_> {
    const ROOT: At<'static> = At {
        base: "",
        index: None,
    };

    fn field(self, leaf: impl fmt::Display) -> String {
        let leaf = leaf.to_string();
        match (self.base, self.index) {
            ("", _) => leaf,
            (base, Some(i)) => format!("{base}[{i}].{leaf}"),
            (base, None) => format!("{base}.{leaf}"),
        }
    }

    fn error(self, leaf: impl fmt::Display, kind: ContactErrorKind) -> ContactError {
        ContactError {
            field: self.field(leaf),
            kind,
        }
    }
}

fn refuse(field: &str, kind: ContactErrorKind) -> ContactError {
    ContactError {
        field: field.to_owned(),
        kind,
    }
}

/// The user's address of record.
pub(super) fn user_key(user: &str, limits: &ContactLimits) -> Result<String, ContactError> {
    uri_key(user, limits).map_err(|kind| refuse("user", kind))
}

/// Why an `im:`, `mailto:` or `http:` URI is refused: contacts are
/// presentities, which this server keys by SIP and tel URIs only.
const NOT_SIP: &str = "the scheme must be sip, sips or tel";

fn uri_key(uri: &str, limits: &ContactLimits) -> Result<String, ContactErrorKind> {
    check_length(limits.max_uri_bytes, uri.len(), "bytes")?;
    let parsed = sip::Uri::parse_str(uri).map_err(|e| ContactErrorKind::BadUri(e.to_string()))?;
    if parsed.scheme() == sip::uri::Scheme::Other {
        return Err(ContactErrorKind::BadUri(NOT_SIP.to_owned()));
    }
    Ok(presentity_key(&parsed))
}

fn check_length(limit: usize, len: usize, unit: &'static str) -> Result<(), ContactErrorKind> {
    if len > limit {
        return Err(ContactErrorKind::TooLong { limit, unit });
    }
    Ok(())
}

/// A display or group name: bounded, and free of control characters.
fn check_name(name: &str, limits: &ContactLimits) -> Result<(), ContactErrorKind> {
    // Counting characters is only needed when the bytes could be too many.
    if name.len() > limits.max_name_chars {
        check_length(limits.max_name_chars, name.chars().count(), "characters")?;
    }
    if name.chars().any(char::is_control) {
        return Err(ContactErrorKind::ControlCharacter);
    }
    Ok(())
}

fn check_group_name(name: &str, limits: &ContactLimits) -> Result<(), ContactErrorKind> {
    if name.is_empty() {
        return Err(ContactErrorKind::Empty);
    }
    check_name(name, limits)
}

/// One contact against the list's groups (sorted by id); returns it with
/// its URI reduced to the address of record.
fn check_contact(
    mut contact: Contact,
    groups: &[Group],
    limits: &ContactLimits,
    origin: Origin,
    at: At<'_>,
) -> Result<Contact, ContactError> {
    if origin == Origin::Request {
        let key = uri_key(&contact.uri, limits).map_err(|kind| at.error("uri", kind))?;
        if *contact.uri != *key {
            contact.uri = key.into_boxed_str();
        }
        check_name(&contact.name, limits).map_err(|kind| at.error("name", kind))?;
        if let Some(external) = &contact.external_uri {
            check_length(limits.max_uri_bytes, external.len(), "bytes")
                .and_then(|()| match external.chars().any(char::is_control) {
                    true => Err(ContactErrorKind::ControlCharacter),
                    false => Ok(()),
                })
                .map_err(|kind| at.error("externalUri", kind))?;
        }
    }
    if contact.groups.is_empty() {
        return Err(at.error("groups", ContactErrorKind::NoGroup));
    }
    for (j, &id) in contact.groups.iter().enumerate() {
        let kind = if groups.binary_search_by_key(&id, |g| g.id).is_err() {
            ContactErrorKind::UnknownGroup(id)
        } else if contact.groups[..j].contains(&id) {
            ContactErrorKind::DuplicateMembership(id)
        } else {
            continue;
        };
        return Err(at.error(format_args!("groups[{j}]"), kind));
    }
    Ok(contact)
}

/// A whole list (the operator's PUT, or a stored record).
pub(super) fn list(
    content: ListContent,
    limits: &ContactLimits,
    origin: Origin,
) -> Result<ContactList, ContactError> {
    let ListContent {
        mut groups,
        contacts,
    } = content;
    if groups.len() > limits.max_groups {
        return Err(refuse(
            "groups",
            ContactErrorKind::TooManyGroups(limits.max_groups),
        ));
    }
    for (i, group) in groups.iter().enumerate() {
        let at = At {
            base: "groups",
            index: Some(i),
        };
        check_group_name(&group.name, limits).map_err(|kind| at.error("name", kind))?;
        // Quadratic, over at most `max_groups` (64) groups.
        let earlier = &groups[..i];
        if earlier.iter().any(|g| g.id == group.id) {
            return Err(at.error("id", ContactErrorKind::DuplicateGroupId(group.id)));
        }
        if earlier.iter().any(|g| g.name == group.name) {
            let name = group.name.to_string();
            return Err(at.error("name", ContactErrorKind::DuplicateGroupName(name)));
        }
    }
    groups.sort_unstable_by_key(|g| g.id);
    groups.shrink_to_fit();
    if contacts.len() > limits.max_contacts {
        return Err(refuse(
            "contacts",
            ContactErrorKind::TooManyContacts(limits.max_contacts),
        ));
    }
    let mut checked = Vec::with_capacity(contacts.len());
    for (i, contact) in contacts.into_iter().enumerate() {
        let at = At {
            base: "contacts",
            index: Some(i),
        };
        checked.push(check_contact(contact, &groups, limits, origin, at)?);
    }
    let mut seen = HashSet::with_capacity(checked.len());
    for (i, contact) in checked.iter().enumerate() {
        if !seen.insert(&*contact.uri) {
            let at = At {
                base: "contacts",
                index: Some(i),
            };
            let uri = contact.uri.to_string();
            return Err(at.error("uri", ContactErrorKind::DuplicateContact(uri)));
        }
    }
    drop(seen);
    checked.sort_unstable_by(|a, b| a.uri.cmp(&b.uri));
    Ok(ContactList {
        delta_num: 0,
        groups,
        contacts: checked,
    })
}

/// Adds a contact or changes the one with its URI.
pub(super) fn set_contact(
    current: &ContactList,
    contact: Contact,
    limits: &ContactLimits,
) -> Result<ContactList, ContactError> {
    let contact = check_contact(contact, &current.groups, limits, Origin::Request, At::ROOT)?;
    let mut next = current.clone();
    match current.contact_index(&contact.uri) {
        Ok(i) => next.contacts[i] = contact,
        Err(_) if current.contacts.len() >= limits.max_contacts => {
            return Err(refuse(
                "contacts",
                ContactErrorKind::TooManyContacts(limits.max_contacts),
            ));
        }
        Err(i) => next.contacts.insert(i, contact),
    }
    Ok(next)
}

/// Removes a contact.
pub(super) fn delete_contact(
    current: &ContactList,
    uri: &str,
    limits: &ContactLimits,
) -> Result<ContactList, ContactError> {
    let key = uri_key(uri, limits).map_err(|kind| refuse("uri", kind))?;
    let i = current
        .contact_index(&key)
        .map_err(|_| refuse("uri", ContactErrorKind::NoSuchContact(key)))?;
    let mut next = current.clone();
    next.contacts.remove(i);
    Ok(next)
}

/// Adds a group under the smallest id from 1 that no group has.
pub(super) fn add_group(
    current: &ContactList,
    name: String,
    limits: &ContactLimits,
) -> Result<ContactList, ContactError> {
    let too_many = || refuse("groups", ContactErrorKind::TooManyGroups(limits.max_groups));
    if current.groups.len() >= limits.max_groups {
        return Err(too_many());
    }
    check_new_name(current, &name, None, limits)?;
    let mut id: u32 = 1;
    for group in &current.groups {
        if group.id == id {
            id = id.checked_add(1).ok_or_else(too_many)?;
        } else if group.id > id {
            break;
        }
    }
    let mut next = current.clone();
    let at = current.group_index(id).unwrap_or_else(|i| i);
    let name = name.into_boxed_str();
    next.groups.insert(at, Group { id, name });
    Ok(next)
}

/// Renames a group.
pub(super) fn modify_group(
    current: &ContactList,
    group: Group,
    limits: &ContactLimits,
) -> Result<ContactList, ContactError> {
    let i = current
        .group_index(group.id)
        .map_err(|_| refuse("id", ContactErrorKind::NoSuchGroup(group.id)))?;
    check_new_name(current, &group.name, Some(group.id), limits)?;
    let mut next = current.clone();
    next.groups[i] = group;
    Ok(next)
}

/// A group name that no group but `except` has.
fn check_new_name(
    current: &ContactList,
    name: &str,
    except: Option<u32>,
    limits: &ContactLimits,
) -> Result<(), ContactError> {
    check_group_name(name, limits).map_err(|kind| refuse("name", kind))?;
    if current
        .groups
        .iter()
        .any(|g| Some(g.id) != except && *g.name == *name)
    {
        let kind = ContactErrorKind::DuplicateGroupName(name.to_owned());
        return Err(refuse("name", kind));
    }
    Ok(())
}

/// Removes a group; its contacts leave it.
pub(super) fn delete_group(current: &ContactList, id: u32) -> Result<ContactList, ContactError> {
    let i = current
        .group_index(id)
        .map_err(|_| refuse("id", ContactErrorKind::NoSuchGroup(id)))?;
    if let Some(only) = current.contacts.iter().find(|c| *c.groups == [id]) {
        let contact = only.uri.to_string();
        return Err(refuse(
            "id",
            ContactErrorKind::LastGroup { group: id, contact },
        ));
    }
    let mut next = current.clone();
    next.groups.remove(i);
    for contact in &mut next.contacts {
        if contact.groups.contains(&id) {
            let kept: Vec<u32> = contact
                .groups
                .iter()
                .copied()
                .filter(|&g| g != id)
                .collect();
            contact.groups = kept.into_boxed_slice();
        }
    }
    Ok(next)
}
