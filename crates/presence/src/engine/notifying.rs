//! The subscription table and the NOTIFY pump.
//!
//! Every reason to notify (a new subscription, a refresh, a state change,
//! an authorization, a termination) marks the subscription dirty and calls
//! [`Engine::send_next`], which sends only when no NOTIFY of that dialog is
//! in flight. When one completes, [`Engine::notify_outcome`] sends again if
//! the subscription became dirty meanwhile, and what it sends is built from
//! the state *at that moment*: intermediate states coalesce, the last
//! NOTIFY a watcher gets always carries the final state, and NOTIFYs of one
//! dialog never overtake each other.

use std::num::NonZeroU64;
use std::sync::Arc;
use std::time::SystemTime;

use super::{Action, Engine, NotifyId, NotifyOutcome, UnknownPresentity, FANOUT_CHUNK};
use crate::flow::Flow;
use crate::notify::{self, Body};
use crate::service::Dialect;
use crate::store::StoreOp;
use crate::subscription::{
    from_millis, DialogKey, Format, Package, Reason, SubState, Subscription,
};
use crate::winfo::{self, DocumentState, Watcher, WatcherEvent, WatcherStatus};

impl<F: Flow> Engine<F> {
    /// Adds a subscription to the table and its indexes. One already in
    /// the table under the same dialog key (a restored record, or a client
    /// that reused its dialog identifiers) is taken out of every index
    /// first, so the live counters and indexes never count it twice.
    pub(super) fn insert(&mut self, mut sub: Subscription<F>) {
        if self.subs.contains_key(&sub.key) {
            let key = sub.key.clone();
            self.remove(&key);
        }
        // Share the strings many subscriptions repeat (the presentity, the
        // watcher, our Contact): memory per subscription is a target.
        if let Some((shared, _)) = self.by_presentity.get_key_value(&*sub.presentity) {
            sub.presentity = shared.clone();
        }
        if sub.local_party == sub.presentity {
            sub.local_party = sub.presentity.clone();
        }
        if let Some((shared, _)) = self.per_watcher.get_key_value(&*sub.watcher) {
            sub.watcher = shared.clone();
        }
        match self.contacts.get(&*sub.contact) {
            Some(shared) => sub.contact = shared.clone(),
            None => {
                self.contacts.insert(sub.contact.clone());
            }
        }
        let key = sub.key.clone();
        if matches!(sub.package, Package::Winfo | Package::RoamingSelf) {
            self.self_by_presentity
                .entry(sub.presentity.clone())
                .or_default()
                .insert(key.clone());
        }
        self.by_presentity
            .entry(sub.presentity.clone())
            .or_default()
            .insert(key.clone());
        self.live.tally(sub.package, sub.state, true);
        if !sub.is_terminated() {
            *self.per_watcher.entry(sub.watcher.clone()).or_default() += 1;
            self.deadlines.insert((sub.expires_at, key.clone()));
        }
        let batched = sub.batch().is_some();
        if sub.package == Package::Presence && !batched {
            let presentity = sub.presentity.clone();
            self.count_interest(&presentity, true);
        }
        self.subs.insert(key.clone(), Box::new(sub));
        if batched {
            self.watch(&key);
        }
    }

    /// Takes a subscription out of the table and every index.
    pub(super) fn remove(&mut self, key: &DialogKey) -> Option<Subscription<F>> {
        self.unwatch(key);
        let sub = self.subs.remove(key)?;
        if sub.package == Package::Presence && sub.batch().is_none() {
            self.count_interest(&sub.presentity, false);
        }
        self.live.tally(sub.package, sub.state, false);
        if let Some(set) = self.self_by_presentity.get_mut(&sub.presentity) {
            set.remove(key);
            if set.is_empty() {
                self.self_by_presentity.remove(&sub.presentity);
            }
        }
        self.provisioning.remove(key);
        self.contacts_sent.remove(key);
        if let Some(set) = self.by_presentity.get_mut(&sub.presentity) {
            set.remove(key);
            if set.is_empty() {
                self.by_presentity.remove(&sub.presentity);
            }
        }
        if !sub.is_terminated() {
            self.release_watcher(&sub.watcher);
            self.deadlines.remove(&(sub.expires_at, key.clone()));
        }
        if let Some(id) = sub.in_flight {
            self.in_flight.remove(&NotifyId(id.get()));
        }
        Some(*sub)
    }

    fn release_watcher(&mut self, watcher: &str) {
        if let Some(n) = self.per_watcher.get_mut(watcher) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_watcher.remove(watcher);
            }
        }
    }

    /// Moves a subscription to terminated: it leaves the expiry index and
    /// the watcher's count, its next NOTIFY is the last one, and its record
    /// is deleted (the returned op, which the caller places in order).
    pub(super) fn terminate(&mut self, key: &DialogKey, reason: Reason) -> Option<StoreOp<F>> {
        let sub = self.subs.get_mut(key)?;
        if sub.is_terminated() {
            return None;
        }
        sub.final_with_body = reason == Reason::Timeout && sub.state == SubState::Active;
        self.live.tally(sub.package, sub.state, false);
        sub.state = SubState::Terminated(reason);
        sub.dirty = true;
        let (at, watcher) = (sub.expires_at, sub.watcher.clone());
        self.deadlines.remove(&(at, key.clone()));
        self.release_watcher(&watcher);
        Some(StoreOp::DeleteSubscription { id: key.id() })
    }

    /// Ends a subscription on the server's initiative (expiry, rejection):
    /// delete its record, send the final NOTIFY, tell the winfo watchers.
    pub(super) fn end_subscription(
        &mut self,
        key: &DialogKey,
        reason: Reason,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        if let Some(op) = self.terminate(key, reason) {
            out.push(Action::Store(vec![op]));
            self.send_next(key, now, out);
            self.watcher_changed(key, watcher_event(reason), now, out);
        }
    }

    /// The live subscriptions of one package to `presentity`.
    pub(super) fn subscriptions_to(&self, presentity: &str, package: Package) -> Vec<DialogKey> {
        self.by_presentity
            .get(presentity)
            .into_iter()
            .flatten()
            .filter(|k| {
                self.subs
                    .get(*k)
                    .is_some_and(|s| s.package == package && !s.is_terminated())
            })
            .cloned()
            .collect()
    }

    /// Marks these subscriptions as having news and sends what can go.
    pub(super) fn poke(&mut self, keys: Vec<DialogKey>, now: SystemTime, out: &mut Vec<Action<F>>) {
        for key in keys {
            if let Some(sub) = self.subs.get_mut(&key) {
                sub.dirty = true;
                self.send_next(&key, now, out);
            }
        }
    }

    /// Pokes every presence watcher of `presentity` after its state changed.
    pub(super) fn presentity_changed(
        &mut self,
        presentity: &str,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        self.dialects_changed(presentity, &Dialect::ALL, now, out);
    }

    /// Pokes the presence watchers of `presentity` that speak one of
    /// `dialects` (a service answer can change for one dialect only).
    pub(super) fn dialects_changed(
        &mut self,
        presentity: &str,
        dialects: &[Dialect],
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        self.note_tracked(presentity);
        let keys: Vec<DialogKey> = self
            .by_presentity
            .get(presentity)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default();
        // With `UnknownPresentity::Reject` a presentity exists only while it
        // is published or provisioned: when its last publication goes, its
        // watchers are told it is gone (`noresource`), as a new SUBSCRIBE
        // would get 404.
        let gone = self.config.unknown_presentity == UnknownPresentity::Reject
            && !self.provisioned.contains(presentity)
            && !self.presentities.is_known(presentity)
            && !Dialect::ALL
                .iter()
                .any(|d| self.service_answers(presentity, *d));
        // The first chunk is built now; the rest wait for
        // `Engine::poll_fanout`, so the runtime can send these first.
        let mut built = 0;
        for key in keys {
            let Some(sub) = self.subs.get_mut(&key) else {
                continue;
            };
            if sub.package == Package::RoamingSelf && !sub.is_terminated() {
                // The user's own categories are part of its roaming data.
                sub.dirty = true;
                self.send_next(&key, now, out);
                continue;
            }
            if sub.package == Package::Presence
                && sub.batch().is_none()
                && !sub.is_terminated()
                && dialects.contains(&Dialect::of(sub.format))
            {
                if gone {
                    self.end_subscription(&key, Reason::Noresource, now, out);
                    continue;
                }
                sub.dirty = true;
                if built < FANOUT_CHUNK {
                    let before = out.len();
                    self.send_next(&key, now, out);
                    built += usize::from(out.len() > before);
                } else {
                    self.fanout.push_back(key);
                }
            }
        }
        if !dialects.contains(&Dialect::Microsoft) {
            return;
        }
        for key in self.batches_watching(presentity) {
            let Some(sub) = self.subs.get_mut(&key) else {
                continue;
            };
            if !sub.is_terminated() {
                sub.dirty = true;
                self.send_next(&key, now, out);
            }
        }
    }

    /// Tells the presence.winfo watchers of the subscription's presentity
    /// that this watcher changed (RFC 3857 §3.9).
    pub(super) fn watcher_changed(
        &mut self,
        key: &DialogKey,
        event: WatcherEvent,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        let Some(sub) = self.subs.get(key) else {
            return;
        };
        if sub.package != Package::Presence {
            return;
        }
        let keys: Vec<DialogKey> = match self.self_by_presentity.get(&sub.presentity) {
            Some(set) => set.iter().cloned().collect(),
            None => return,
        };
        let watcher = watcher_entry(sub, event, now);
        for key in keys {
            let Some(w) = self.subs.get_mut(&key) else {
                continue;
            };
            if w.is_terminated() {
                continue;
            }
            if let Some(progress) = (w.package == Package::Winfo).then(|| w.winfo_mut()) {
                progress.pending.push(watcher.clone());
                w.dirty = true;
                self.send_next(&key, now, out);
            } else if w.package == Package::RoamingSelf {
                // The subscribers section of the user's roaming data.
                w.dirty = true;
                self.send_next(&key, now, out);
            }
        }
    }

    /// Sends the subscription's next NOTIFY if it has news and none is in
    /// flight.
    ///
    /// With [`EngineConfig::max_notifies_in_flight`](super::EngineConfig)
    /// set, a dialog waits its turn (first come, first served) when the
    /// wire is full or others already wait: it stays dirty, and
    /// [`Engine::poll_fanout`] builds its NOTIFY later with the state of
    /// that moment.
    pub(super) fn send_next(&mut self, key: &DialogKey, now: SystemTime, out: &mut Vec<Action<F>>) {
        if !self.has_news(key) {
            return;
        }
        let limited = self.config.max_notifies_in_flight != 0 && !self.unlimited;
        if !self.room_in_flight() || (limited && !self.fanout.is_empty()) {
            self.fanout.push_back(key.clone());
            return;
        }
        self.send_now(key, now, out);
    }

    /// Whether the dialog has a NOTIFY to send and none in flight.
    pub(super) fn has_news(&self, key: &DialogKey) -> bool {
        self.subs
            .get(key)
            .is_some_and(|sub| sub.dirty && sub.in_flight.is_none())
    }

    /// Builds and sends the dialog's next NOTIFY if it has news
    /// ([`Engine::has_news`], asked with the lookup that reads the body:
    /// the fan-out asks every dialog it pops); whether it did. The caller
    /// checked that there is room.
    pub(super) fn send_now(
        &mut self,
        key: &DialogKey,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) -> bool {
        let Some((body, etag)) = self.next_body(key, now, true) else {
            return false;
        };
        let Some(sub) = self.subs.get_mut(key) else {
            return true;
        };
        let quiet_batch = body.is_none() && sub.batch().is_some() && !sub.is_terminated();
        let benotify = Self::benotify(sub);
        // A list NOTIFY held to its budget leaves resources for the next.
        sub.dirty = !sub.is_terminated()
            && sub
                .batch()
                .is_some_and(|b| b.resources.iter().any(|r| r.pending));
        if quiet_batch {
            // Nothing changed for this watcher (its resources' news went
            // out with an earlier NOTIFY).
            return true;
        }
        if !sub.is_terminated() && sub.cseq_needs_persist() {
            out.push(Action::Store(vec![StoreOp::PutSubscription(
                sub.checkpoint(),
            )]));
        }
        let cseq = sub.next_cseq();
        let req = notify::build(sub, cseq, now, body.as_ref(), etag.as_deref(), benotify);
        // Counted from 1, so an id is never 0 (see `in_flight`).
        self.next_notify += 1;
        let id = NotifyId(self.next_notify);
        sub.in_flight = NonZeroU64::new(id.0);
        out.push(Action::Notify {
            id,
            req,
            flow: sub.flow.clone(),
            reliable: sub.reliable,
        });
        self.in_flight.insert(id, key.clone());
        true
    }

    /// The body and SIP-ETag of the subscription's next NOTIFY.
    pub(super) fn notify_body(
        &mut self,
        key: &DialogKey,
        now: SystemTime,
    ) -> (Option<Body>, Option<Arc<str>>) {
        self.next_body(key, now, false).unwrap_or((None, None))
    }

    /// [`Engine::notify_body`]; with `news_only`, `None` when the dialog
    /// has no news ([`Engine::has_news`]) and nothing is read or changed.
    fn next_body(
        &mut self,
        key: &DialogKey,
        now: SystemTime,
        news_only: bool,
    ) -> Option<(Option<Body>, Option<Arc<str>>)> {
        // Looked up once, mutably: the PIDF case (every NOTIFY of a
        // fan-out) writes its etag back without a second lookup.
        let Some(sub) = self.subs.get_mut(key) else {
            return (!news_only).then_some((None, None));
        };
        if news_only && !(sub.dirty && sub.in_flight.is_none()) {
            return None;
        }
        let carries_state = match sub.state {
            SubState::Active => true,
            SubState::Pending => false,
            SubState::Terminated(_) => sub.final_with_body,
        };
        if !carries_state {
            return Some((None, None));
        }
        let body = match sub.package {
            Package::Presence if sub.batch().is_some() => (self.batch_body(key), None),
            Package::Presence if sub.format == Format::Categories => {
                let (presentity, watcher) = (sub.presentity.clone(), sub.watcher.clone());
                let container = self.container_of(&presentity, &watcher);
                let bytes = match self.service_categories(&presentity, container) {
                    Some(bytes) => bytes,
                    None => self.presentities.categories(&presentity, container),
                };
                let body = Body {
                    content_type: Format::Categories.content_type(),
                    bytes,
                };
                (Some(body), None)
            }
            Package::Presence => {
                let (mut state, published) = self.presentities.shown_state(&sub.presentity);
                let sub = if published {
                    sub
                } else {
                    let presentity = sub.presentity.clone();
                    if let Some(body) = self.service_pidf(&presentity) {
                        state.etag = crate::publication::state_etag(&body).into();
                        state.body = body;
                    }
                    let Some(sub) = self.subs.get_mut(key) else {
                        return Some((None, None));
                    };
                    sub
                };
                let suppress = sub
                    .suppress_etag
                    .take()
                    .is_some_and(|e| &*e == "*" || *e == *state.etag);
                sub.last_etag = Some(state.etag.clone());
                let body = (!suppress).then(|| Body {
                    content_type: crate::pidf::CONTENT_TYPE,
                    bytes: state.body,
                });
                // The state's own etag, shared: a copy per NOTIFY cost an
                // allocation and 200 instructions.
                (body, Some(state.etag))
            }
            Package::Winfo => (Some(self.winfo_body(key, now)), None),
            package @ (Package::RoamingSelf | Package::Provisioning) => {
                (self.self_body(key, package), None)
            }
            Package::RoamingContacts => (self.contacts_body(key), None),
        };
        Some(body)
    }

    /// The next watcherinfo document: full the first time (and when there
    /// is nothing specific to report, e.g. a refresh), else partial with
    /// the watchers that changed since the last one.
    fn winfo_body(&mut self, key: &DialogKey, now: SystemTime) -> Body {
        let Some(sub) = self.subs.get(key) else {
            return Body {
                content_type: winfo::CONTENT_TYPE,
                bytes: Default::default(),
            };
        };
        let progress = sub.winfo();
        let full = progress.is_none_or(|p| !p.started || p.pending.is_empty());
        let watchers: Vec<Watcher> = if full {
            self.by_presentity
                .get(&sub.presentity)
                .into_iter()
                .flatten()
                .filter_map(|k| self.subs.get(k))
                .filter(|s| s.package == Package::Presence && !s.is_terminated())
                .map(|s| {
                    let event = match s.state {
                        SubState::Active => WatcherEvent::Approved,
                        _ => WatcherEvent::Subscribe,
                    };
                    watcher_entry(s, event, now)
                })
                .collect()
        } else {
            progress.map(|p| p.pending.clone()).unwrap_or_default()
        };
        let presentity = sub.presentity.clone();
        let Some(sub) = self.subs.get_mut(key) else {
            return Body {
                content_type: winfo::CONTENT_TYPE,
                bytes: Default::default(),
            };
        };
        let progress = sub.winfo_mut();
        progress.pending.clear();
        progress.started = true;
        let version = progress.version;
        progress.version += 1;
        let state = if full {
            DocumentState::Full
        } else {
            DocumentState::Partial
        };
        Body {
            content_type: winfo::CONTENT_TYPE,
            bytes: winfo::render(version, state, &presentity, "presence", &watchers),
        }
    }

    /// A NOTIFY completed. Success sends the coalesced newest state if
    /// there is one (or retires a terminated subscription); failure
    /// removes the subscription (RFC 6665 §4.2.2: a 481, a timeout, or any
    /// error response means the watcher is gone).
    pub(super) fn notify_outcome(
        &mut self,
        id: NotifyId,
        outcome: NotifyOutcome,
        now: SystemTime,
        out: &mut Vec<Action<F>>,
    ) {
        let Some(key) = self.in_flight.remove(&id) else {
            return;
        };
        let Some(sub) = self.subs.get_mut(&key) else {
            return;
        };
        sub.in_flight = None;
        let (dirty, terminated) = (sub.dirty, sub.is_terminated());
        let failed = match outcome {
            NotifyOutcome::Response(status) => status >= 300,
            NotifyOutcome::Timeout | NotifyOutcome::TransportError => true,
        };
        if failed {
            if let Some(op) = self.terminate(&key, Reason::Timeout) {
                out.push(Action::Store(vec![op]));
                self.watcher_changed(&key, WatcherEvent::Timeout, now, out);
            }
            self.remove(&key);
        } else if dirty {
            self.send_next(&key, now, out);
        } else if terminated {
            // Read with the lookup above: a second one per NOTIFY cost a
            // hash of the dialog key and a probe.
            self.remove(&key);
        }
    }
}

/// The winfo event a termination reason is reported as.
pub(super) fn watcher_event(reason: Reason) -> WatcherEvent {
    match reason {
        Reason::Timeout => WatcherEvent::Timeout,
        Reason::Deactivated => WatcherEvent::Deactivated,
        Reason::Rejected => WatcherEvent::Rejected,
        Reason::Noresource => WatcherEvent::Noresource,
        Reason::Giveup => WatcherEvent::Giveup,
    }
}

/// A presence subscription as a `<watcher>` entry.
fn watcher_entry<F>(sub: &Subscription<F>, event: WatcherEvent, now: SystemTime) -> Watcher {
    let status = match sub.state {
        SubState::Active => WatcherStatus::Active,
        SubState::Pending => WatcherStatus::Pending,
        SubState::Terminated(_) => WatcherStatus::Terminated,
    };
    Watcher {
        id: winfo::watcher_id(&sub.key.id()),
        uri: sub.watcher.to_string(),
        status,
        event,
        duration_subscribed: now
            .duration_since(from_millis(sub.created_at_ms))
            .map(|d| d.as_secs())
            .unwrap_or(0),
    }
}
