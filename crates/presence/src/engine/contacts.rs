//! Contact lists in the engine: the `vnd-microsoft-roaming-contacts`
//! subscription of every signed-in endpoint of a user, the client's
//! SERVICE requests that change the list (`setContact`, `deleteContact`,
//! `addGroup`, `modifyGroup`, `deleteGroup`, [MS-SIP] §2.2.4.2), and the
//! operator's PUT.
//!
//! Each endpoint's first NOTIFY carries the whole `<contactList>`; every
//! later one the `<contactDelta>` from the version that endpoint last saw
//! to the current one, merged from the changes kept per user (a bounded
//! history: an endpoint too far behind gets the whole list again, which
//! SIPE and Lync both take as "replace your copy").

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::time::SystemTime;

use sip::HeaderAccess;
use sip::{Header, HeaderName, Request, Response};

use super::{Action, Engine};
use crate::contacts::{Contact, ContactChange, ContactError, ContactOp, Group, ListContent};
use crate::flow::Flow;
use crate::msrtc::contacts::{self as wire, ContactDelta, Operation};
use crate::notify::Body;
use crate::presentity::presentity_key;
use crate::subscription::{DialogKey, Package};
use crate::XmlLimits;

/// Changes kept per user for deltas; an endpoint further behind gets the
/// whole list.
pub(super) const HISTORY: usize = 32;

impl<F: Flow> Engine<F> {
    /// Changes a user's contact list. On success: what changed and the
    /// actions to carry out — the store write first, then a NOTIFY with
    /// the delta to each of the user's roaming-contacts subscriptions — so
    /// whatever acknowledges the change waits for its commit. A refused
    /// change alters nothing.
    pub fn change_contacts(
        &mut self,
        op: ContactOp,
        now: SystemTime,
    ) -> Result<(ContactChange, Vec<Action<F>>), ContactError> {
        let user_of = |op: &ContactOp| match op {
            ContactOp::Replace { user, .. }
            | ContactOp::SetContact { user, .. }
            | ContactOp::DeleteContact { user, .. }
            | ContactOp::AddGroup { user, .. }
            | ContactOp::ModifyGroup { user, .. }
            | ContactOp::DeleteGroup { user, .. }
            | ContactOp::Remove { user } => user.clone(),
        };
        let raw_user = user_of(&op);
        let before = self.contact_lists.record_of(&raw_user).ok();
        let (change, write) = self.contact_lists.apply(op)?;
        let known_contacts: HashSet<String> = before
            .as_ref()
            .map(|r| r.contacts.iter().map(|c| c.uri.to_string()).collect())
            .unwrap_or_default();
        let known_groups: HashSet<u32> = before
            .as_ref()
            .map(|r| r.groups.iter().map(|g| g.id).collect())
            .unwrap_or_default();
        let delta = ContactDelta {
            prev_delta_num: wire_num(change.delta_num.saturating_sub(1)),
            delta_num: wire_num(change.delta_num),
            added_groups: change
                .set_groups
                .iter()
                .filter(|g| !known_groups.contains(&g.id))
                .map(wire_group)
                .collect(),
            modified_groups: change
                .set_groups
                .iter()
                .filter(|g| known_groups.contains(&g.id))
                .map(wire_group)
                .collect(),
            added_contacts: change
                .set_contacts
                .iter()
                .filter(|c| !known_contacts.contains(&*c.uri))
                .map(wire_contact)
                .collect(),
            modified_contacts: change
                .set_contacts
                .iter()
                .filter(|c| known_contacts.contains(&*c.uri))
                .map(wire_contact)
                .collect(),
            deleted_groups: change.deleted_groups.clone(),
            deleted_contacts: change
                .deleted_contacts
                .iter()
                .map(|u| u.to_string())
                .collect(),
        };
        let history = self.contact_history.entry(change.user.clone()).or_default();
        if change.delta_num == 0 {
            history.clear();
        } else {
            history.push_back(delta);
            while history.len() > HISTORY {
                history.pop_front();
            }
        }
        let mut out = vec![Action::Store(vec![write])];
        self.contacts_changed(&change.user, now, &mut out);
        self.list_changed(&change.user, now, &mut out);
        Ok((change, out))
    }

    /// Tells every roaming-contacts subscription of `user` of a change.
    fn contacts_changed(&mut self, user: &str, now: SystemTime, out: &mut Vec<Action<F>>) {
        let keys = self.subscriptions_to(user, Package::RoamingContacts);
        self.poke(keys, now, out);
    }

    /// The next roaming-contacts body of a subscription: the whole list
    /// the first time (or when it is too far behind), else the delta.
    pub(super) fn contacts_body(&mut self, key: &DialogKey) -> Option<Body> {
        let user = self.subs.get(key)?.presentity.clone();
        let record = self.contact_lists.record_of(&user).ok()?;
        let current = record.delta_num;
        let seen = self.contacts_sent.get(key).copied();
        let delta = seen.filter(|s| *s < current).and_then(|seen| {
            let history = self.contact_history.get(&*user)?;
            merge(history, seen, current)
        });
        self.contacts_sent.insert(key.clone(), current);
        let bytes = match (seen, delta) {
            (Some(seen), _) if seen == current => full(&record),
            (Some(_), Some(delta)) => wire::render_delta(&delta),
            _ => full(&record),
        };
        Some(Body {
            content_type: wire::CONTENT_TYPE,
            bytes,
        })
    }

    /// A SERVICE with a SOAP contact-list request; `None` when it is not
    /// one.
    pub(super) fn service_contacts(
        &mut self,
        txn: u64,
        req: &Request,
        to_tag: &str,
        now: SystemTime,
    ) -> Option<Vec<Action<F>>> {
        if !req.content_type_is("application", "soap+xml") {
            return None;
        }
        let respond = |resp: Response| Action::Respond { txn, resp };
        let bad = |text: String| {
            let reason = crate::publication::reason_phrase(&format!("Bad request: {text}"));
            respond(Response::to_request(req, 400, Some(to_tag)).with_reason(&reason))
        };
        let request = match wire::parse_request(&req.body, &XmlLimits::DEFAULT) {
            Ok(r) => r,
            Err(e) => return Some(vec![bad(e.to_string())]),
        };
        let user = presentity_key(&req.uri);
        let op = match request.operation {
            Operation::SetContact(c) => ContactOp::SetContact {
                user,
                contact: Contact {
                    uri: c.uri.into(),
                    name: c.name.into(),
                    groups: c.groups.into(),
                    subscribed: c.subscribed,
                    external_uri: c.external_uri.map(Into::into),
                },
            },
            Operation::DeleteContact { uri } => ContactOp::DeleteContact { user, uri },
            Operation::AddGroup { name, .. } => ContactOp::AddGroup { user, name },
            Operation::ModifyGroup(g) => ContactOp::ModifyGroup {
                user,
                group: Group {
                    id: g.id,
                    name: g.name.into(),
                },
            },
            Operation::DeleteGroup { id } => ContactOp::DeleteGroup { user, id },
        };
        let added_group = matches!(op, ContactOp::AddGroup { .. });
        match self.change_contacts(op, now) {
            Err(e) => Some(vec![bad(e.to_string())]),
            Ok((change, actions)) => {
                let mut resp = Response::to_request(req, 200, Some(to_tag));
                if added_group {
                    if let Some(group) = change.set_groups.first() {
                        resp.headers
                            .push(Header::new(HeaderName::ContentType, "application/SOAP+xml"));
                        resp.body = wire::render_add_group_response(group.id);
                    }
                }
                // The write first, then the answer, then the deltas.
                let mut out = Vec::with_capacity(actions.len() + 1);
                let mut actions = actions.into_iter();
                out.extend(actions.next());
                out.push(respond(resp));
                out.extend(actions);
                Some(out)
            }
        }
    }

    /// The lists of several users at once, for tests and the console.
    pub fn contact_list_content(&self, user: &str) -> Option<ListContent> {
        let record = self.contact_lists.record_of(user).ok()?;
        Some(ListContent {
            groups: record.groups,
            contacts: record.contacts,
        })
    }
}

/// The whole list in the dialect's shape.
fn full(record: &crate::contacts::ContactListRecord) -> bytes::Bytes {
    wire::render_list(&wire::ContactList {
        delta_num: wire_num(record.delta_num).max(1),
        groups: record.groups.iter().map(wire_group).collect(),
        contacts: record.contacts.iter().map(wire_contact).collect(),
    })
}

/// `deltaNum` is 32-bit on the wire.
fn wire_num(n: u64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn wire_group(g: &Group) -> wire::Group {
    wire::Group {
        id: g.id,
        name: g.name.to_string(),
        external_uri: None,
    }
}

fn wire_contact(c: &Contact) -> wire::Contact {
    wire::Contact {
        uri: c.uri.to_string(),
        name: c.name.to_string(),
        groups: c.groups.to_vec(),
        subscribed: c.subscribed,
        external_uri: c.external_uri.as_deref().map(str::to_owned),
    }
}

/// The changes after `seen` up to `current`, as one delta; `None` when the
/// history no longer reaches back to `seen`.
fn merge(history: &VecDeque<ContactDelta>, seen: u64, current: u64) -> Option<ContactDelta> {
    let first = history.front()?;
    if u64::from(first.prev_delta_num) > seen {
        return None;
    }
    #[derive(Clone)]
    enum Group {
        Added(wire::Group),
        Modified(wire::Group),
        Deleted,
    }
    #[derive(Clone)]
    enum Entry {
        Added(wire::Contact),
        Modified(wire::Contact),
        Deleted,
    }
    let mut groups: BTreeMap<u32, Group> = BTreeMap::new();
    let mut contacts: BTreeMap<String, Entry> = BTreeMap::new();
    for delta in history
        .iter()
        .filter(|d| u64::from(d.delta_num) > seen && u64::from(d.delta_num) <= current)
    {
        for g in &delta.added_groups {
            let next = match groups.get(&g.id) {
                Some(Group::Deleted) => Group::Modified(g.clone()),
                _ => Group::Added(g.clone()),
            };
            groups.insert(g.id, next);
        }
        for g in &delta.modified_groups {
            let next = match groups.get(&g.id) {
                Some(Group::Added(_)) => Group::Added(g.clone()),
                _ => Group::Modified(g.clone()),
            };
            groups.insert(g.id, next);
        }
        for c in delta.added_contacts.iter() {
            let next = match contacts.get(&c.uri) {
                Some(Entry::Deleted) => Entry::Modified(c.clone()),
                _ => Entry::Added(c.clone()),
            };
            contacts.insert(c.uri.clone(), next);
        }
        for c in delta.modified_contacts.iter() {
            let next = match contacts.get(&c.uri) {
                Some(Entry::Added(_)) => Entry::Added(c.clone()),
                _ => Entry::Modified(c.clone()),
            };
            contacts.insert(c.uri.clone(), next);
        }
        for uri in &delta.deleted_contacts {
            match contacts.get(uri) {
                Some(Entry::Added(_)) => {
                    contacts.remove(uri);
                }
                _ => {
                    contacts.insert(uri.clone(), Entry::Deleted);
                }
            }
        }
        for id in &delta.deleted_groups {
            match groups.get(id) {
                Some(Group::Added(_)) => {
                    groups.remove(id);
                }
                _ => {
                    groups.insert(*id, Group::Deleted);
                }
            }
        }
    }
    let mut merged = ContactDelta {
        prev_delta_num: wire_num(seen),
        delta_num: wire_num(current),
        ..ContactDelta::default()
    };
    for (id, g) in groups {
        match g {
            Group::Added(g) => merged.added_groups.push(g),
            Group::Modified(g) => merged.modified_groups.push(g),
            Group::Deleted => merged.deleted_groups.push(id),
        }
    }
    for (uri, c) in contacts {
        match c {
            Entry::Added(c) => merged.added_contacts.push(c),
            Entry::Modified(c) => merged.modified_contacts.push(c),
            Entry::Deleted => merged.deleted_contacts.push(uri),
        }
    }
    Some(merged)
}
