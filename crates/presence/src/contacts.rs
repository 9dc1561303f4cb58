//! Contact lists: each user's roaming contacts and groups, the data behind
//! the `vnd-microsoft-roaming-contacts` event ([MS-SIP] §3.7, [MS-PRES]
//! appendix E).
//!
//! A user keeps one list on the server so that every endpoint it signs in
//! from shows the same buddies: groups (an id and a name, at most 64) and
//! contacts (a URI, a display name, the groups it is in). The list carries
//! a version, `deltaNum`, that goes up by one on every change; a client
//! remembers it and, when the server's differs, takes the full list again
//! instead of trusting its copy.
//!
//! Sans-IO like the rest of the crate: [`ContactLists::apply`] takes a
//! [`ContactOp`] (an operator's PUT of the whole list, or a client's
//! SERVICE `setContact`, `deleteGroup`...), checks it against the rules of
//! [`rules`] and the [`ContactLimits`], and returns what changed (a
//! [`ContactChange`], shaped like the `<contactDelta>` every signed-in
//! endpoint of the user is sent) and the [`StoreOp`] that makes it
//! durable. A refused operation changes nothing and says which field is
//! wrong ([`ContactError`]).
//!
//! Memory: at 400 000 users × 80 contacts there are 32 M entries
//! (../shared/DESIGN.md, "Capacity budget"), so a contact is one
//! [`Contact`] of 72 bytes in its user's sorted `Vec` (no map node per
//! contact), its URI stored once as the sort key, strings as `Box<str>`
//! without spare capacity. Sharing URIs across users (interning) is the
//! next step.

mod diff;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::store::StoreOp;

use rules::Origin;

pub use rules::{ContactError, ContactErrorKind};

/// How big a list may grow. Checked on every change; lists restored from
/// the store are kept whole even if the limits were lowered since, so a
/// configuration change never deletes what users stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContactLimits {
    /// Contacts per user. Skype for Business's default is 1 000
    /// (`MaxContacts` of its user services policy).
    pub max_contacts: usize,
    /// Groups per user: 64 is the `maxOccurs` of `<group>` in the
    /// contactList schema ([MS-PRES] appendix E).
    pub max_groups: usize,
    /// Characters in a group or display name.
    pub max_name_chars: usize,
    /// Bytes in a contact URI or an external URI.
    pub max_uri_bytes: usize,
}

impl ContactLimits {
    /// The defaults: Skype for Business's 1 000 contacts, the schema's 64
    /// groups, 256-character names and 512-byte URIs.
    pub const DEFAULT: ContactLimits = ContactLimits {
        max_contacts: 1000,
        max_groups: 64,
        max_name_chars: 256,
        max_uri_bytes: 512,
    };
}

impl Default for ContactLimits {
    fn default() -> Self {
        ContactLimits::DEFAULT
    }
}

/// A group of a user's contacts. Clients show contacts under their groups;
/// the id is how contacts refer to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Unique within the list.
    pub id: u32,
    /// Unique within the list, not empty.
    pub name: Box<str>,
}

/// One contact of a user's list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// The contact's address of record ([`crate::presentity_key`] of the
    /// URI given), so it names the same presentity a watcher subscribes
    /// to. Unique within the list.
    pub uri: Box<str>,
    /// The display name the user gave it; may be empty.
    pub name: Box<str>,
    /// The groups it is in, as given; at least one ([MS-SIP] §3.7:
    /// "Contacts must be in at least one group"), each existing, none twice.
    pub groups: Box<[u32]>,
    /// Whether the client subscribes to its presence (false: an offline
    /// entry, kept only for the list), [MS-SIP] §2.2.4.2 `subscribed`.
    #[serde(default = "subscribed_default")]
    pub subscribed: bool,
    /// Where more about the contact lives (an LDAP URI, say), [MS-SIP]
    /// §2.2.4.2 `externalURI`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_uri: Option<Box<str>>,
}

fn subscribed_default() -> bool {
    true
}

/// The groups and contacts of a list, without its version: what an
/// operator puts, or what a restored record holds.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ListContent {
    /// The groups.
    pub groups: Vec<Group>,
    /// The contacts.
    pub contacts: Vec<Contact>,
}

/// The list of a user who has none: empty, at `deltaNum` 0.
static NO_LIST: ContactList = ContactList {
    delta_num: 0,
    groups: Vec::new(),
    contacts: Vec::new(),
};

/// One user's list, valid by construction: groups sorted by id, contacts
/// sorted by URI, every reference resolved.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactList {
    delta_num: u64,
    groups: Vec<Group>,
    contacts: Vec<Contact>,
}

impl ContactList {
    /// The version clients track; 0 for a user who never had a list.
    pub fn delta_num(&self) -> u64 {
        self.delta_num
    }

    /// The groups, by id.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The contacts, by URI.
    pub fn contacts(&self) -> &[Contact] {
        &self.contacts
    }

    /// The contact with this address of record.
    pub fn contact(&self, uri: &str) -> Option<&Contact> {
        self.contact_index(uri).ok().map(|i| &self.contacts[i])
    }

    /// The group with this id.
    pub fn group(&self, id: u32) -> Option<&Group> {
        self.group_index(id).ok().map(|i| &self.groups[i])
    }

    fn contact_index(&self, uri: &str) -> Result<usize, usize> {
        self.contacts.binary_search_by(|c| (*c.uri).cmp(uri))
    }

    fn group_index(&self, id: u32) -> Result<usize, usize> {
        self.groups.binary_search_by_key(&id, |g| g.id)
    }

    /// The list as stored.
    pub fn record(&self, user: &str) -> ContactListRecord {
        ContactListRecord {
            user: user.to_owned(),
            delta_num: self.delta_num,
            groups: self.groups.clone(),
            contacts: self.contacts.clone(),
        }
    }
}

/// A change to one user's list. `user` is any form of the user's URI; it
/// is reduced to its address of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContactOp {
    /// Replace the whole list (the operator's PUT).
    Replace {
        /// The user.
        user: String,
        /// The new groups and contacts.
        list: ListContent,
    },
    /// Add a contact, or change the one with the same URI ([MS-SIP]
    /// `setContact`, which does both).
    SetContact {
        /// The user.
        user: String,
        /// The contact; its groups must exist.
        contact: Contact,
    },
    /// Remove a contact ([MS-SIP] `deleteContact`).
    DeleteContact {
        /// The user.
        user: String,
        /// The contact's URI.
        uri: String,
    },
    /// Add a group; the server picks its id, the smallest unused from 1,
    /// and says it in the change ([MS-SIP] `addGroup`).
    AddGroup {
        /// The user.
        user: String,
        /// The new group's name.
        name: String,
    },
    /// Rename a group ([MS-SIP] `modifyGroup`).
    ModifyGroup {
        /// The user.
        user: String,
        /// The group's id and new name.
        group: Group,
    },
    /// Remove a group ([MS-SIP] `deleteGroup`). Contacts lose it; a
    /// contact for which it is the only group would be left in none, so
    /// the deletion is refused until that contact moves or goes.
    DeleteGroup {
        /// The user.
        user: String,
        /// The group's id.
        id: u32,
    },
    /// Forget the user's list altogether (the user is deprovisioned). A
    /// later list starts again from `deltaNum` 1; clients holding a
    /// higher number see it differ and take the full list.
    Remove {
        /// The user.
        user: String,
    },
}

impl ContactOp {
    fn user(&self) -> &str {
        match self {
            ContactOp::Replace { user, .. }
            | ContactOp::SetContact { user, .. }
            | ContactOp::DeleteContact { user, .. }
            | ContactOp::AddGroup { user, .. }
            | ContactOp::ModifyGroup { user, .. }
            | ContactOp::DeleteGroup { user, .. }
            | ContactOp::Remove { user } => user,
        }
    }
}

/// What one accepted operation changed, in the shape of [MS-SIP]'s delta
/// list: groups added or modified, contacts added or modified, groups
/// deleted, contacts deleted. The engine sends it as a `<contactDelta>` to
/// every signed-in endpoint of the user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContactChange {
    /// The user's address of record.
    pub user: String,
    /// The list's version after the change (0 once removed).
    pub delta_num: u64,
    /// Groups added or renamed, by id.
    pub set_groups: Vec<Group>,
    /// Contacts added or changed, by URI.
    pub set_contacts: Vec<Contact>,
    /// Ids of the groups removed.
    pub deleted_groups: Vec<u32>,
    /// URIs of the contacts removed.
    pub deleted_contacts: Vec<Box<str>>,
}

/// A user's list as stored: one record per user, rewritten whole on each
/// change (a list is at most `max_contacts` entries, and a user's changes
/// are rare next to presence changes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactListRecord {
    /// The user's address of record (the record's key).
    pub user: String,
    /// The list's version.
    pub delta_num: u64,
    /// The groups, by id.
    pub groups: Vec<Group>,
    /// The contacts, by URI.
    pub contacts: Vec<Contact>,
}

/// Every user's list, keyed by the user's address of record.
#[derive(Debug, Clone, Default)]
pub struct ContactLists {
    limits: ContactLimits,
    lists: HashMap<Box<str>, ContactList>,
}

impl ContactLists {
    /// No lists yet; changes are held to `limits`.
    pub fn new(limits: ContactLimits) -> Self {
        ContactLists {
            limits,
            lists: HashMap::new(),
        }
    }

    /// The limits changes are held to.
    pub fn limits(&self) -> &ContactLimits {
        &self.limits
    }

    /// The list of `user` (an address of record), if the user has one. A
    /// user without one has, for clients, an empty list at `deltaNum` 0.
    pub fn get(&self, user: &str) -> Option<&ContactList> {
        self.lists.get(user)
    }

    /// The list of `user` (any form of the user's URI) as stored; for a
    /// user without one, the empty list at `deltaNum` 0 that clients are
    /// told. Fails only for a `user` that is not a SIP or tel URI.
    pub fn record_of(&self, user: &str) -> Result<ContactListRecord, ContactError> {
        let user = rules::user_key(user, &self.limits)?;
        let list = self.lists.get(user.as_str()).unwrap_or(&NO_LIST);
        Ok(list.record(&user))
    }

    /// Users with a list.
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// Whether no user has a list.
    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Checks `op` and, if it is valid, carries it out: returns what
    /// changed and the store operation that makes it durable. A refused
    /// operation leaves every list as it was. Every accepted operation
    /// raises the list's `deltaNum` by one, even one that leaves the list
    /// as it was (a PUT of the same list), so each acknowledged change has
    /// its own number.
    pub fn apply<F>(&mut self, op: ContactOp) -> Result<(ContactChange, StoreOp<F>), ContactError> {
        let user = rules::user_key(op.user(), &self.limits)?;
        let current = self.lists.get(user.as_str()).unwrap_or(&NO_LIST);
        let limits = &self.limits;
        let next = match op {
            ContactOp::Replace { list, .. } => Some(rules::list(list, limits, Origin::Request)?),
            ContactOp::SetContact { contact, .. } => {
                Some(rules::set_contact(current, contact, limits)?)
            }
            ContactOp::DeleteContact { uri, .. } => {
                Some(rules::delete_contact(current, &uri, limits)?)
            }
            ContactOp::AddGroup { name, .. } => Some(rules::add_group(current, name, limits)?),
            ContactOp::ModifyGroup { group, .. } => {
                Some(rules::modify_group(current, group, limits)?)
            }
            ContactOp::DeleteGroup { id, .. } => Some(rules::delete_group(current, id)?),
            ContactOp::Remove { .. } => None,
        };
        let Some(mut next) = next else {
            let old = self.lists.remove(user.as_str()).unwrap_or_default();
            let change = diff::between(user.clone(), 0, &old, &NO_LIST);
            return Ok((change, StoreOp::DeleteContactList { user }));
        };
        next.delta_num = current.delta_num.saturating_add(1);
        let change = diff::between(user.clone(), next.delta_num, current, &next);
        let record = next.record(&user);
        self.lists.insert(user.into_boxed_str(), next);
        Ok((change, StoreOp::PutContactList(record)))
    }

    /// Loads the stored lists after a restart. Each record is checked as a
    /// PUT would be, but without the limits (lists stored under higher
    /// limits are kept whole); one that breaks a rule (damaged, or written
    /// by a version with other rules) is skipped and its error returned,
    /// for the runtime to log.
    pub fn restore(&mut self, records: Vec<ContactListRecord>) -> Vec<(String, ContactError)> {
        let unbounded = ContactLimits {
            max_contacts: usize::MAX,
            max_groups: usize::MAX,
            max_name_chars: usize::MAX,
            max_uri_bytes: usize::MAX,
        };
        let mut skipped = Vec::new();
        for record in records {
            let ContactListRecord {
                user,
                delta_num,
                groups,
                contacts,
            } = record;
            let checked = rules::user_key(&user, &unbounded).and_then(|key| {
                let list =
                    rules::list(ListContent { groups, contacts }, &unbounded, Origin::Store)?;
                Ok((key, list))
            });
            match checked {
                Ok((key, mut list)) => {
                    list.delta_num = delta_num;
                    self.lists.insert(key.into_boxed_str(), list);
                }
                Err(e) => skipped.push((user, e)),
            }
        }
        skipped
    }
}
