//! Batched subscriptions of the Microsoft dialect ([MS-PRES] §3.7.4.3):
//! one SUBSCRIBE dialog per watcher over its whole contact list.
//!
//! The client subscribes to its own URI with an `adhocList` of resources;
//! each resource is a small entry in the dialog's [`Batch`] and one in the
//! engine's watch index (presentity → batched dialogs), never a dialog of
//! its own. The first NOTIFY is an RLMI `multipart/related` with every
//! resource (`fullState="true"`); later ones carry only the resources that
//! changed, each part the presentity's category document for the
//! watcher's container — rendered once per state and container and shared
//! by every watcher — so a change to one contact costs each of its
//! watchers an envelope, not a rendering. The client adds and removes
//! resources with further `batchSub` bodies in the same dialog. Updates
//! go as BENOTIFY (unanswered) to watchers that support it over a stream.

use std::sync::Arc;

use bytes::Bytes;

use super::{Engine, UnknownPresentity};
use crate::authorization::Decision;
use crate::flow::Flow;
use crate::msrtc::batch::{ActionKind, BatchSubscribe};
use crate::msrtc::rlmi::{self, ContactPart, InstanceState};
use crate::notify::Body;
use crate::service::Dialect;
use crate::subscription::{
    Batch, DialogKey, Format, Resource, ResourceState, SubscribeRequest, Subscription,
};

/// Most resources one batched dialog may watch: Skype for Business caps a
/// contact list at 1 000.
pub const MAX_RESOURCES: usize = 1000;

/// The multipart boundary of batched NOTIFYs: fixed, so the Content-Type
/// is one static string; [`rlmi::assemble`] refuses (and the engine then
/// falls back to fewer parts) if a part ever contained it.
pub const BOUNDARY: &str = "presenced-rlmi-7c1f0e9a";

/// The Content-Type of batched NOTIFYs (what [`rlmi::assemble`] writes
/// for [`BOUNDARY`]; a test keeps them equal).
pub const CONTENT_TYPE: &str = "multipart/related; type=\"application/rlmi+xml\"; start=resourceList; boundary=presenced-rlmi-7c1f0e9a";

impl<F: Flow> Engine<F> {
    /// The batch of a new batched subscription: each resource's standing
    /// decided as a single subscription's would be. Too many resources is
    /// a refusal of the whole request.
    pub(super) fn new_batch(
        &self,
        parsed: &SubscribeRequest,
        body: &BatchSubscribe,
    ) -> Result<Batch, &'static str> {
        let mut batch = Batch {
            resources: Vec::new(),
            full: true,
            version: 0,
            benotify: parsed.benotify,
            capitalized_event: false,
        };
        self.apply_batch(&mut batch, &parsed.watcher, body)?;
        Ok(batch)
    }

    /// Adds and removes resources as the body's actions say.
    fn apply_batch(
        &self,
        batch: &mut Batch,
        watcher: &str,
        body: &BatchSubscribe,
    ) -> Result<(), &'static str> {
        for action in &body.actions {
            for uri in &action.resources {
                let mut resource = Resource::new(uri, ResourceState::Active);
                let present = batch
                    .resources
                    .iter()
                    .position(|r| r.presentity == resource.presentity);
                match (action.kind, present) {
                    (ActionKind::Subscribe, Some(i)) => batch.resources[i].pending = true,
                    (ActionKind::Subscribe, None) => {
                        if batch.resources.len() >= MAX_RESOURCES {
                            return Err("Too many resources in the batch");
                        }
                        if resource.state == ResourceState::Active {
                            resource.state = self.resource_state(watcher, &resource.presentity);
                        }
                        batch.resources.push(resource);
                    }
                    (ActionKind::Unsubscribe, Some(i)) => {
                        batch.resources.remove(i);
                    }
                    (ActionKind::Unsubscribe, None) => {}
                }
            }
        }
        Ok(())
    }

    /// What a watcher may see of one resource: the authorization policy
    /// and the unknown-presentity rule of a single subscription.
    pub(super) fn resource_state(&self, watcher: &str, presentity: &str) -> ResourceState {
        if self.config.unknown_presentity == UnknownPresentity::Reject
            && !self.provisioned.contains(presentity)
            && !self.presentities.is_known(presentity)
            && !self.service_answers(presentity, Dialect::Microsoft)
        {
            return ResourceState::NoResource;
        }
        let remembered = self
            .decisions
            .get(&(presentity.to_owned(), watcher.to_owned()));
        let decision = match remembered {
            Some(true) => Decision::Allow,
            Some(false) => Decision::Deny,
            None => self.config.authorization.decide(watcher, presentity),
        };
        match decision {
            Decision::Allow => ResourceState::Active,
            Decision::Pending => ResourceState::Pending,
            Decision::Deny => ResourceState::Rejected,
        }
    }

    /// An in-dialog SUBSCRIBE with a `batchSub` body: resources added and
    /// removed without a new dialog. The added ones are sent next.
    pub(super) fn change_batch(
        &mut self,
        key: &DialogKey,
        body: &BatchSubscribe,
    ) -> Result<(), &'static str> {
        let Some(sub) = self.subs.get(key) else {
            return Ok(());
        };
        let Some(mut batch) = sub.batch().cloned() else {
            return Ok(());
        };
        let watcher = sub.watcher.clone();
        self.apply_batch(&mut batch, &watcher, body)?;
        self.unwatch(key);
        if let Some(sub) = self.subs.get_mut(key) {
            sub.set_batch(batch);
        }
        self.watch(key);
        Ok(())
    }

    /// Puts a batched subscription's resources into the watch index,
    /// sharing each presentity key with it.
    pub(super) fn watch(&mut self, key: &DialogKey) {
        let Some(batch) = self.subs.get_mut(key).and_then(|s| s.batch_mut()) else {
            return;
        };
        let mut added = Vec::new();
        for resource in batch.resources.iter_mut().filter(|r| r.watched()) {
            let entry = match self.watches.get_key_value(&*resource.presentity) {
                Some((shared, _)) => {
                    resource.presentity = shared.clone();
                    self.watches.get_mut(&*resource.presentity)
                }
                None => None,
            };
            let new = match entry {
                Some(set) => set.insert(key.clone()),
                None => self
                    .watches
                    .entry(resource.presentity.clone())
                    .or_default()
                    .insert(key.clone()),
            };
            if new {
                added.push(resource.presentity.clone());
            }
        }
        // Each batch watching a presentity is one of its watchers.
        for presentity in added {
            self.count_interest(&presentity, true);
        }
    }

    /// Takes a batched subscription's resources out of the watch index.
    pub(super) fn unwatch(&mut self, key: &DialogKey) {
        let Some(batch) = self.subs.get(key).and_then(|s| s.batch()) else {
            return;
        };
        let mut removed = Vec::new();
        for resource in batch.resources.iter().filter(|r| r.watched()) {
            if let Some(set) = self.watches.get_mut(&*resource.presentity) {
                if set.remove(key) {
                    removed.push(resource.presentity.clone());
                }
                if set.is_empty() {
                    self.watches.remove(&*resource.presentity);
                }
            }
        }
        for presentity in removed {
            self.count_interest(&presentity, false);
        }
    }

    /// The batched dialogs watching `presentity`, marked to send it.
    pub(super) fn batches_watching(&mut self, presentity: &str) -> Vec<DialogKey> {
        let keys: Vec<DialogKey> = match self.watches.get(presentity) {
            Some(set) => set.iter().cloned().collect(),
            None => return Vec::new(),
        };
        for key in &keys {
            let Some(batch) = self.subs.get_mut(key).and_then(|s| s.batch_mut()) else {
                continue;
            };
            for resource in batch
                .resources
                .iter_mut()
                .filter(|r| &*r.presentity == presentity)
            {
                resource.pending = true;
            }
        }
        keys
    }

    /// A pending resource's watcher was decided (the operator's
    /// authorization): its batches show the resource again.
    pub(super) fn decide_in_batches(
        &mut self,
        presentity: &str,
        watcher: &str,
        allow: bool,
    ) -> Vec<DialogKey> {
        let mut decided = Vec::new();
        let keys: Vec<DialogKey> = self
            .watches
            .get(presentity)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        for key in keys {
            let Some(sub) = self.subs.get_mut(&key) else {
                continue;
            };
            if *sub.watcher != *watcher {
                continue;
            }
            if let Some(batch) = sub.batch_mut() {
                for r in batch
                    .resources
                    .iter_mut()
                    .filter(|r| &*r.presentity == presentity && r.state == ResourceState::Pending)
                {
                    r.state = if allow {
                        ResourceState::Active
                    } else {
                        ResourceState::Rejected
                    };
                    r.pending = true;
                }
                sub.dirty = true;
                decided.push(key);
            }
        }
        decided
    }

    /// The next NOTIFY body of a batched subscription: every resource the
    /// first time, the ones with news after. `None` when there is nothing
    /// to say. Each part is the presentity's document in the dialog's
    /// format: categories for the dialect, PIDF for a standard client's
    /// list subscription (`engine/lists.rs`).
    ///
    /// A standard client's body is held to [`list_budget`]: the resources
    /// whose parts do not fit stay pending (bare in a full state) and go
    /// in the next NOTIFY, which [`Engine::send_now`] asks for.
    pub(super) fn batch_body(&mut self, key: &DialogKey) -> Option<Body> {
        let sub = self.subs.get(key)?;
        let (list, watcher, format) = (sub.presentity.clone(), sub.watcher.clone(), sub.format);
        let budget = (format == Format::Pidf).then(|| list_budget(sub.reliable));
        // A stored list's resources carry the names the user gave them.
        let owner = self.list_owner(&list);
        let sub = self.subs.get_mut(key)?;
        // Taken out while the parts are rendered (they need the engine),
        // put back below: no copy of the resource list per NOTIFY.
        let mut batch = std::mem::take(sub.batch_mut()?);
        let mut parts = Vec::new();
        let mut used = 0;
        let full = batch.full;
        // A full state names every member, so under a budget the bare
        // entries of those still to come are room kept back.
        let mut bares: std::collections::VecDeque<ContactPart> = match budget {
            Some(_) if full => batch
                .resources
                .iter()
                .filter(|r| r.state != ResourceState::Removed)
                .map(|r| {
                    let name = self.name_in(owner.as_deref(), &r.presentity);
                    ContactPart::bare(&r.presentity, name.as_deref())
                })
                .collect(),
            _ => Default::default(),
        };
        let mut reserve: usize = bares.iter().map(ContactPart::len).sum();
        for resource in batch.resources.iter_mut() {
            if resource.state == ResourceState::Removed && full {
                // A full state lists the members only.
                resource.pending = false;
                continue;
            }
            if !full && !resource.pending {
                continue;
            }
            let bare = bares.pop_front();
            reserve -= bare.as_ref().map_or(0, ContactPart::len);
            let part = self.resource_part(resource, &watcher, format, owner.as_deref());
            let fits = budget.is_none_or(|b| parts.is_empty() || used + part.len() + reserve <= b);
            if fits {
                resource.pending = false;
                used += part.len();
                parts.push(part);
            } else if let Some(bare) = bare {
                // Named, with its state to follow.
                resource.pending = true;
                used += bare.len();
                parts.push(bare);
            }
        }
        batch
            .resources
            .retain(|r| r.state != ResourceState::Removed || r.pending);
        batch.full = false;
        // RFC 4662 §5.2: one more for each NOTIFY, none for a NOTIFY not
        // sent (a client that sees a number skipped may think it lost one).
        let quiet = parts.is_empty() && !full;
        let version = batch.version;
        if !quiet {
            batch.version = batch.version.wrapping_add(1);
        }
        if let Some(slot) = self.subs.get_mut(key).and_then(|s| s.batch_mut()) {
            *slot = batch;
        }
        if quiet {
            return None;
        }
        let multipart = rlmi::assemble(&list, version, full, &parts, BOUNDARY).ok()?;
        Some(Body {
            content_type: CONTENT_TYPE,
            bytes: multipart.body,
        })
    }

    /// The display name `owner`'s stored list gives `uri`, if any.
    fn name_in(&self, owner: Option<&str>, uri: &str) -> Option<String> {
        owner
            .and_then(|o| self.contact_lists.get(o))
            .and_then(|list| list.contact(uri))
            .map(|c| c.name.to_string())
            .filter(|n| !n.is_empty())
    }

    /// One resource's share of a batched NOTIFY. `owner`: the user whose
    /// stored list the dialog watches, for the resources' names.
    fn resource_part(
        &mut self,
        resource: &Resource,
        watcher: &str,
        format: Format,
        owner: Option<&str>,
    ) -> ContactPart {
        let uri = &*resource.presentity;
        let state = match resource.state {
            ResourceState::Active => InstanceState::Active,
            ResourceState::Pending => InstanceState::Pending,
            ResourceState::Rejected => InstanceState::Terminated {
                reason: "rejected".to_owned(),
            },
            ResourceState::NoResource | ResourceState::Removed => InstanceState::Terminated {
                reason: "noresource".to_owned(),
            },
        };
        let active = resource.state == ResourceState::Active;
        // A service contact (room, gateway alias) answers where no person
        // publishes, as for single subscriptions (engine/service.rs).
        if format == Format::Pidf {
            let document = active.then(|| {
                self.service_pidf(uri)
                    .unwrap_or_else(|| self.presentities.state(uri).body)
            });
            let name = self.name_in(owner, uri);
            let document = document.as_ref().map(|d| (crate::pidf::CONTENT_TYPE, d));
            return ContactPart::with_document(uri, name.as_deref(), &state, document);
        }
        let categories: Option<Bytes> = active.then(|| {
            let container = self.container_of(uri, watcher);
            self.service_categories(uri, container)
                .unwrap_or_else(|| self.presentities.categories(uri, container))
        });
        ContactPart::new(uri, &state, categories.as_ref())
    }

    /// Whether the subscription's next NOTIFY may go unanswered
    /// (BENOTIFY): an update (not the first) of a batched subscription
    /// whose watcher supports it, over a stream, where nothing is lost.
    pub(super) fn benotify(sub: &Subscription<F>) -> bool {
        sub.reliable
            && !sub.is_terminated()
            && sub.batch().is_some_and(|b| b.benotify && b.version > 1)
    }
}

/// The most body bytes one list NOTIFY to a standard client carries
/// (more resources go in the NOTIFYs after it): over UDP what a datagram
/// carries without much fragmenting, well below its 64 KiB hard limit,
/// which a list of 80 PIDF documents already reaches; over a stream the
/// body size our own parser accepts ([`sip::Limits`]), which peers' parsers
/// are likely to accept too.
pub(super) fn list_budget(reliable: bool) -> usize {
    if reliable {
        sip::Limits::default().max_body
    } else {
        16 * 1024
    }
}

/// The watch index: presentity → the batched dialogs that watch it.
pub(super) type Watches =
    std::collections::HashMap<Arc<str>, std::collections::BTreeSet<DialogKey>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_type_is_what_assemble_writes() {
        let part = ContactPart::new("sip:bob@example.com", &InstanceState::Pending, None);
        let multipart =
            rlmi::assemble("sip:alice@example.com", 0, true, &[part], BOUNDARY).expect("assembles");
        assert_eq!(multipart.content_type, CONTENT_TYPE);
    }
}
