//! Service contacts in the engine: rooms and gateway aliases answered
//! from configuration ([`crate::service`]), reloads and occupancy.
//!
//! Precedence for one presentity, highest first: a **person** (any live
//! source: a PIDF or category publication) wins; then the service
//! contacts' own order, which the `rules` crate defines (a room whose
//! alias it is, then the first gateway rule that matches for the
//! watcher's dialect); then nothing, and the unknown-presentity policy
//! applies (a closed / Offline document, or 404 and `noresource`). So a
//! gateway rule can never hide a real user who publishes, and when that
//! user's last publication ends its watchers see the service answer
//! again.
//!
//! Answers are looked up when a NOTIFY is built, never stored. A reload
//! ([`Input::Reconfigure`](super::Input)) compares the old and new
//! answers of every watched presentity and notifies only the watchers of
//! those that changed; no subscription is touched otherwise (a walk over
//! the watch indexes, on a reload only). Occupancy
//! ([`Input::Occupancy`](super::Input)) notifies one room's watchers: the
//! engine notes, as it answers for a room, which addresses it answered
//! (`room_watched`), so an occupancy change costs the room's watched
//! addresses, not a walk of every watched presentity.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;

use super::{Action, Engine};
use crate::flow::Flow;
use crate::service::{Dialect, ServiceCard, ServiceContacts, ServiceView};
use crate::subscription::{Package, SubscribeRequest};

impl<F: Flow> Engine<F> {
    /// The card `presentity` shows a watcher of `dialect`, with its
    /// room's participants; `None` when a person publishes for it or no
    /// service contact answers.
    pub(super) fn service_answer(
        &self,
        presentity: &str,
        dialect: Dialect,
    ) -> Option<(ServiceCard, u32)> {
        if self.presentities.source_count(presentity) > 0 {
            return None;
        }
        let card = self.services.answer(presentity, dialect)?;
        let participants = card
            .room
            .as_ref()
            .and_then(|room| self.occupancy.get(&**room).copied())
            .unwrap_or(0);
        Some((card, participants))
    }

    /// Whether a service contact answers for `presentity` in `dialect`
    /// (it then exists for the unknown-presentity policy).
    pub(super) fn service_answers(&self, presentity: &str, dialect: Dialect) -> bool {
        self.service_answer(presentity, dialect).is_some()
    }

    /// The card `presentity` shows watchers of `dialect`, remembering a
    /// room's watched addresses for [`Engine::occupancy`].
    fn service_answer_noted(
        &mut self,
        presentity: &str,
        dialect: Dialect,
    ) -> Option<(ServiceCard, u32)> {
        let answer = self.service_answer(presentity, dialect)?;
        if let Some(room) = &answer.0.room {
            let mut noted = self.room_watched.remove(room).unwrap_or_default();
            if !noted.contains(presentity) {
                if noted.len() >= NOTED_PER_ROOM {
                    // Entries outlive their watchers; drop those first.
                    noted.retain(|p| self.is_watched(p));
                }
                noted.insert(presentity.into());
            }
            self.room_watched.insert(room.clone(), noted);
        }
        Some(answer)
    }

    /// The PIDF body a service contact answers with, if one does.
    pub(super) fn service_pidf(&mut self, presentity: &str) -> Option<Bytes> {
        let (card, participants) = self.service_answer_noted(presentity, Dialect::Ietf)?;
        Some(
            ServiceView {
                card: &card,
                participants,
            }
            .pidf(presentity),
        )
    }

    /// The category document a service contact answers with for watchers
    /// in `container`, if one does.
    pub(super) fn service_categories(&mut self, presentity: &str, container: u32) -> Option<Bytes> {
        let (card, participants) = self.service_answer_noted(presentity, Dialect::Microsoft)?;
        Some(
            ServiceView {
                card: &card,
                participants,
            }
            .categories(presentity, container),
        )
    }

    /// A new single subscription to a PIN-suffixed service alias is held
    /// under the alias without the PIN: its record, its presentity and
    /// the From of its NOTIFYs never carry the PIN.
    pub(super) fn unpin(&self, parsed: &mut SubscribeRequest) {
        let Some(plain) = self.services.canonical(&parsed.presentity) else {
            return;
        };
        if let (Some(pinned_user), Some(plain_user)) =
            (user_part(&parsed.presentity), user_part(&plain))
        {
            parsed.local_party = parsed.local_party.replacen(pinned_user, plain_user, 1);
        }
        parsed.presentity = plain;
    }

    /// Swaps the service contacts (a validated reload) and notifies the
    /// watchers of every presentity whose answer changed.
    pub(super) fn reconfigure(
        &mut self,
        services: Arc<dyn ServiceContacts>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let before: Vec<(Arc<str>, Answers)> = self
            .watched_presentities()
            .into_iter()
            .map(|p| {
                let answers = Dialect::ALL.map(|d| self.service_answer(&p, d));
                (p, answers)
            })
            .collect();
        self.services = services;
        let services = &self.services;
        let is_room = |room: &str| {
            services
                .answer(room, Dialect::Microsoft)
                .or_else(|| services.answer(room, Dialect::Ietf))
                .is_some_and(|card| card.room.as_deref() == Some(room))
        };
        self.occupancy.retain(|room, _| is_room(room));
        self.room_watched.retain(|room, _| is_room(room));
        let mut out = Vec::new();
        for (presentity, old) in before {
            let changed: Vec<Dialect> = Dialect::ALL
                .into_iter()
                .zip(old)
                .filter(|(d, old)| self.service_answer(&presentity, *d) != *old)
                .map(|(d, _)| d)
                .collect();
            if !changed.is_empty() {
                self.dialects_changed(&presentity, &changed, now, &mut out);
            }
        }
        out
    }

    /// A room's participant count changed (the occupancy feed): its
    /// watchers are told, Busy "In a meeting (N)" or Available again.
    pub(super) fn occupancy(
        &mut self,
        room: &str,
        participants: u32,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let previous = if participants == 0 {
            self.occupancy.remove(room)
        } else {
            self.occupancy.insert(room.into(), participants)
        };
        let mut out = Vec::new();
        if previous.unwrap_or(0) == participants {
            return out;
        }
        // The room's own address (its first alias, as `sip:` URI)
        // changed whether anyone watches it or not (its history,
        // `Engine::take_changed`).
        match room.strip_prefix("sip:") {
            Some(_) => self.note_changed(room),
            None => self.note_changed(&format!("sip:{room}")),
        }
        // The room's addresses some watcher was answered for (any alias,
        // PIN or not), checked again: still watched, still this room.
        let noted = self.room_watched.remove(room).unwrap_or_default();
        let mut kept = BTreeSet::new();
        for presentity in noted {
            let watched = self.is_watched(&presentity);
            let in_room = Dialect::ALL.iter().any(|d| {
                self.service_answer(&presentity, *d)
                    .is_some_and(|(card, _)| card.room.as_deref() == Some(room))
            });
            if watched && in_room {
                self.presentity_changed(&presentity, now, &mut out);
                kept.insert(presentity);
            }
        }
        if !kept.is_empty() {
            self.room_watched
                .entry(room.into())
                .or_default()
                .extend(kept);
        }
        out
    }

    /// Every presentity some presence watcher watches, single or batched:
    /// what a reload or an occupancy change must look at. A walk, but only
    /// on those rare inputs, never per NOTIFY.
    fn watched_presentities(&self) -> Vec<Arc<str>> {
        let mut all: Vec<Arc<str>> = self
            .by_presentity
            .iter()
            .filter(|(_, keys)| {
                keys.iter().any(|k| {
                    self.subs
                        .get(k)
                        .is_some_and(|s| s.package == Package::Presence && s.batch().is_none())
                })
            })
            .map(|(p, _)| p.clone())
            .chain(self.watches.keys().cloned())
            .collect();
        all.sort();
        all.dedup();
        all
    }

    /// The participants of each occupied room, for `presenced explain`.
    pub fn room_occupancy(&self, room: &str) -> u32 {
        self.occupancy.get(room).copied().unwrap_or(0)
    }
}

/// Addresses noted per room before the stale ones are dropped: a room
/// has a handful of aliases, but every `**PIN` form a batched list names
/// is an address of its own, so the set is bounded.
const NOTED_PER_ROOM: usize = 4096;

/// A presentity's answers in both dialects ([`Dialect::ALL`]), with the
/// room's participants.
type Answers = [Option<(ServiceCard, u32)>; 2];

/// `user@` of a presentity key `scheme:user@host`.
fn user_part(key: &str) -> Option<&str> {
    let start = key.find(':')? + 1;
    let end = key[start..].find('@')? + start + 1;
    Some(&key[start..end])
}

#[cfg(test)]
mod tests {
    use super::user_part;

    #[test]
    fn user_part_keeps_the_at_sign() {
        assert_eq!(
            user_part("sip:meet.alice**1234@vc.example.com"),
            Some("meet.alice**1234@")
        );
        assert_eq!(user_part("sip:vc.example.com"), None);
    }
}
