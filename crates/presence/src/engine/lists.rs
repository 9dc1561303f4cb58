//! RFC 4662 resource lists for standard clients: a user's stored contact
//! list ([`crate::contacts`]) is addressable as a list URI, and a
//! SUBSCRIBE to it is one batched dialog over the list's contacts.
//!
//! It is the dialect's batched subscription ([`super::batch`]) with two
//! differences: the resources come from the stored list instead of the
//! request body, and, since the watcher takes `application/pidf+xml`, each
//! resource's part is the presentity's PIDF document (rendered once per
//! state and shared with every single subscription of that presentity)
//! where the dialect's carries a category document. The watch relation is
//! the same 24-byte [`Resource`] plus an entry in the engine's watch index.
//!
//! The list URI of user `sip:alice@example.com` is
//! `sip:alice<suffix>@example.com`, the suffix set by
//! [`EngineConfig::contact_list_suffix`](super::EngineConfig) (presenced:
//! `-contacts`). Only the user may subscribe to it (the list says whom the
//! user watches); each contact is then authorized as a single subscription
//! of the user would be. The rules of RFC 4662 §4 kept here:
//!
//! - a SUBSCRIBE to a list URI without `Supported: eventlist` gets 421
//!   with `Require: eventlist` (§4.1);
//! - the 2xx and every NOTIFY carry `Require: eventlist`;
//! - the first NOTIFY, and the first after each refresh, has
//!   `fullState="true"`; later ones only the resources that changed, with
//!   the RLMI `version` one higher each time (§5.2);
//! - a change of the stored list (the operator's PUT, the dialect's
//!   SERVICE) changes the batch in place: added contacts go out with
//!   their state, removed ones once more as `terminated` with reason
//!   `noresource`, in a partial NOTIFY of the same dialog.
//!
//! A client may also send the list itself (RFC 5367: `Require:
//! recipient-list-subscribe` and a `resource-lists+xml` body, read by
//! [`crate::resource_lists`]), as liblinphone does for a friend list with
//! an RLS URI. To a list URI the stored list wins; to any other URI the
//! body's entries become the batch through [`adhoc`] and the dialect's own
//! `new_batch`, fixed for the dialog's life. liblinphone's list dialogs
//! get `Event: Presence` (see [`Batch`]); `subscribe.rs` decides that.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::SystemTime;

use super::batch::MAX_RESOURCES;
use super::{Action, Engine};
use crate::flow::Flow;
use crate::msrtc::batch::{Action as BatchAction, ActionKind, BatchSubscribe};
use crate::subscription::{Batch, DialogKey, Format, Package, Resource, ResourceState};

/// The option tag of RFC 4662.
pub const EVENTLIST: &str = "eventlist";

/// An RFC 5367 ad-hoc list as the batch machinery takes it: one
/// subscribe action over the entries of the body.
pub(super) fn adhoc(list_uri: &str, uris: Vec<String>) -> BatchSubscribe {
    BatchSubscribe {
        uri: list_uri.to_owned(),
        name: None,
        actions: vec![BatchAction {
            kind: ActionKind::Subscribe,
            id: None,
            resources: uris,
            categories: Vec::new(),
        }],
    }
}

impl<F: Flow> Engine<F> {
    /// The user whose contact list `presentity` (a presentity key) names,
    /// if it is a list URI.
    pub(super) fn list_owner(&self, presentity: &str) -> Option<String> {
        let suffix = self.config.contact_list_suffix.as_str();
        if suffix.is_empty() {
            return None;
        }
        let (scheme, rest) = presentity.split_once(':')?;
        if scheme != "sip" && scheme != "sips" {
            return None;
        }
        let (user, host) = rest.rsplit_once('@')?;
        let owner = user.strip_suffix(suffix).filter(|u| !u.is_empty())?;
        Some(format!("{scheme}:{owner}@{host}"))
    }

    /// The list URI of `owner`'s contact list (an address of record).
    fn list_uri(&self, owner: &str) -> Option<String> {
        let suffix = self.config.contact_list_suffix.as_str();
        if suffix.is_empty() {
            return None;
        }
        let (scheme, rest) = owner.split_once(':')?;
        let (user, host) = rest.rsplit_once('@')?;
        Some(format!("{scheme}:{user}{suffix}@{host}"))
    }

    /// The presentities of `owner`'s list that the user subscribes to
    /// (`subscribed`), in the list's order, at most [`MAX_RESOURCES`].
    fn list_members(&self, owner: &str) -> Vec<Arc<str>> {
        self.contact_lists
            .get(owner)
            .map(|list| {
                list.contacts()
                    .iter()
                    .filter(|c| c.subscribed)
                    .take(MAX_RESOURCES)
                    .map(|c| Arc::from(&*c.uri))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The batch of a new subscription to `owner`'s list, each contact
    /// decided for `watcher` as a single subscription would be.
    pub(super) fn list_batch(&self, owner: &str, watcher: &str) -> Batch {
        let resources = self
            .list_members(owner)
            .into_iter()
            .map(|presentity| self.list_resource(watcher, presentity))
            .collect();
        Batch {
            resources,
            full: true,
            version: 0,
            benotify: false,
            capitalized_event: false,
        }
    }

    fn list_resource(&self, watcher: &str, presentity: Arc<str>) -> Resource {
        let state = self.resource_state(watcher, &presentity);
        Resource {
            presentity,
            state,
            pending: true,
        }
    }

    /// After `owner`'s list changed: every subscription to it takes the
    /// new members and is told the difference.
    pub(super) fn list_changed(&mut self, owner: &str, now: SystemTime, out: &mut Vec<Action<F>>) {
        let Some(uri) = self.list_uri(owner) else {
            return;
        };
        let keys = self.subscriptions_to(&uri, Package::Presence);
        let mut changed = Vec::new();
        for key in keys {
            if self.sync_list(&key, owner) {
                changed.push(key);
            }
        }
        self.poke(changed, now, out);
    }

    /// Brings one list subscription's batch to the list's members: new
    /// ones are added (with news), gone ones marked
    /// [`ResourceState::Removed`] until the next NOTIFY says so. Returns
    /// whether anything changed.
    fn sync_list(&mut self, key: &DialogKey, owner: &str) -> bool {
        let members = self.list_members(owner);
        let Some(sub) = self.subs.get(key) else {
            return false;
        };
        let Some(mut batch) = sub.batch().cloned() else {
            return false;
        };
        let watcher = sub.watcher.clone();
        let wanted: HashSet<&str> = members.iter().map(|m| &**m).collect();
        let mut changed = false;
        let mut present: HashMap<Arc<str>, usize> = HashMap::new();
        for (i, resource) in batch.resources.iter_mut().enumerate() {
            present.insert(resource.presentity.clone(), i);
            if !wanted.contains(&*resource.presentity) && resource.state != ResourceState::Removed {
                resource.state = ResourceState::Removed;
                resource.pending = true;
                changed = true;
            }
        }
        for member in members {
            match present.get(&member) {
                // Removed and added back before the NOTIFY went.
                Some(&i) if batch.resources[i].state == ResourceState::Removed => {
                    batch.resources[i] = self.list_resource(&watcher, member);
                    changed = true;
                }
                Some(_) => {}
                None => {
                    batch.resources.push(self.list_resource(&watcher, member));
                    changed = true;
                }
            }
        }
        if changed {
            self.unwatch(key);
            if let Some(sub) = self.subs.get_mut(key) {
                sub.set_batch(batch);
            }
            self.watch(key);
        }
        changed
    }

    /// Whether `key` is a standard (RFC 4662) list subscription: batched,
    /// with PIDF parts. Its 2xx and NOTIFYs carry `Require: eventlist`.
    pub(super) fn is_standard_list(&self, key: &DialogKey) -> bool {
        self.subs
            .get(key)
            .is_some_and(|s| s.batch().is_some() && s.format == Format::Pidf)
    }

    /// A restored subscription to a list URI: its batch is the stored
    /// list as it is now (the record's resources may be older).
    pub(super) fn restore_list(&self, sub: &mut crate::subscription::Subscription<F>) {
        if sub.package != Package::Presence {
            return;
        }
        if let Some(owner) = self.list_owner(&sub.presentity) {
            let mut batch = self.list_batch(&owner, &sub.watcher);
            batch.capitalized_event = sub.batch().is_some_and(|b| b.capitalized_event);
            sub.set_batch(batch);
        }
    }
}
