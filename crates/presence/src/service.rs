//! Service contacts as a source: rooms and gateway aliases the server
//! itself answers for (../shared/DESIGN.md, "sources: … service").
//!
//! Which addresses are service contacts, and what they show, is decided
//! by configuration the `rules` crate owns (rooms, ordered gateway regex
//! rules, PIN suffixes, themes). This crate sees only the outcome, a
//! [`ServiceCard`] per (presentity, [`Dialect`]) from a
//! [`ServiceContacts`] implementation, and renders it in each watcher
//! format: PIDF watchers get `open` and a note, Microsoft-dialect
//! watchers a category document with the aggregate `state`, a
//! `contactCard` (display name, description, `automaton`, photo) and a
//! `note`.
//!
//! A card is an answer, not a publication: it is looked up when a NOTIFY
//! is built, so a reload (a new [`ServiceContacts`]) or an occupancy
//! change reaches every watcher with its next NOTIFY, and nothing about
//! service contacts is stored.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;

use crate::availability::{
    render_pidf, ActivityToken, AggregateState, Availability, Lcid, StateActivity,
};
use crate::document::Note;
use crate::msrtc::categories::{self, CategoryEntry, EntryValue};
use crate::msrtc::category::{
    self as wire, CategoryValue, ContactCard, NoteType, Photo, StateType,
};
use crate::pidf;
use crate::subscription::Format;

/// The protocol dialect a watcher speaks, which gateway rules may be
/// restricted to (the seed's "Match Lync / Skype for Business (MS-SIP)").
///
/// A watcher's dialect follows the format it accepts: a watcher that
/// takes `application/msrtc-event-categories+xml` (a single subscription
/// whose Accept names it, or any batched subscription) speaks
/// [`Dialect::Microsoft`]; every other presence watcher (PIDF) speaks
/// [`Dialect::Ietf`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Dialect {
    /// Lync / Skype for Business (MS-SIP, [MS-PRES] categories).
    Microsoft,
    /// SIMPLE: RFC 3856 presence with PIDF bodies.
    Ietf,
}

impl Dialect {
    /// Both dialects, in a fixed order (for change detection).
    pub const ALL: [Dialect; 2] = [Dialect::Microsoft, Dialect::Ietf];

    /// The dialect of a watcher receiving `format` bodies.
    pub fn of(format: Format) -> Dialect {
        match format {
            Format::Categories => Dialect::Microsoft,
            _ => Dialect::Ietf,
        }
    }

    /// The name used in configuration (`dialects = ["microsoft"]`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Microsoft => "microsoft",
            Dialect::Ietf => "ietf",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a service contact shows a watcher.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceCard {
    /// The room answering (its first configured alias), for occupancy;
    /// `None` for a gateway alias, which has no occupancy.
    pub room: Option<Arc<str>>,
    /// The name clients show instead of the address.
    pub display_name: String,
    /// A line clients show under the name (the PIDF note).
    pub description: Option<String>,
    /// The avatar: an HTTP URL presenced serves, and the image's hash so
    /// clients refresh their cache when it changes.
    pub photo: Option<Photo>,
}

/// Who answers for service contacts: implemented by the `rules` crate
/// over the configured rooms and gateway rules, swapped whole on reload.
pub trait ServiceContacts: fmt::Debug + Send + Sync {
    /// The card `presentity` (a presentity key, `sip:user@host`, perhaps
    /// with a `**PIN` suffix on the user) shows watchers of `dialect`, or
    /// `None` when no room or rule answers for it.
    fn answer(&self, presentity: &str, dialect: Dialect) -> Option<ServiceCard>;

    /// The key a single subscription to `presentity` is held under: the
    /// address without its `**PIN` suffix when a room or rule answers for
    /// it, so the PIN is neither stored nor written into NOTIFY bodies.
    /// `None` leaves the key as it is.
    fn canonical(&self, presentity: &str) -> Option<String>;
}

/// No service contacts: the engine's default until configuration names
/// some.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoServices;

impl ServiceContacts for NoServices {
    fn answer(&self, _: &str, _: Dialect) -> Option<ServiceCard> {
        None
    }

    fn canonical(&self, _: &str) -> Option<String> {
        None
    }
}

/// A card with the room's live participant count: Available while the
/// room is empty, Busy "In a meeting (N)" while it is in use.
#[derive(Debug, Clone, Copy)]
pub struct ServiceView<'a> {
    /// The card.
    pub card: &'a ServiceCard,
    /// Participants in the room now (0 for a gateway alias).
    pub participants: u32,
}

impl ServiceView<'_> {
    /// The text shown while the room is in use.
    pub fn meeting_text(&self) -> Option<String> {
        (self.participants > 0).then(|| format!("In a meeting ({})", self.participants))
    }

    /// The state in the availability model: Online, or Busy in a meeting
    /// with the participant count as the activity's text.
    pub fn aggregate(&self) -> AggregateState {
        let activity = self.meeting_text().map(|text| {
            let mut activity = StateActivity::token(ActivityToken::InAMeeting);
            activity.custom.insert(Lcid::EN_US, text);
            activity
        });
        let availability = if activity.is_some() {
            Availability::new(6500)
        } else {
            Availability::new(3500)
        };
        AggregateState::fixed(availability, activity)
    }

    /// The `application/pidf+xml` body: `open` (with the `meeting`
    /// activity while in use) and a note, the meeting text or else the
    /// description or the name.
    pub fn pidf(&self, entity: &str) -> Bytes {
        let mut document = render_pidf(entity, &self.aggregate(), None, Lcid::EN_US);
        let note = self
            .meeting_text()
            .or_else(|| self.card.description.clone())
            .unwrap_or_else(|| self.card.display_name.clone());
        if let Some(tuple) = document.tuples.first_mut() {
            tuple.notes.push(Note::new(note.clone()));
        }
        document.notes.push(Note::new(note));
        pidf::render_bytes(&document)
    }

    /// The `application/msrtc-event-categories+xml` body for watchers in
    /// `container`: the aggregate `state`, the `contactCard` with
    /// `automaton` set, and the description as the `note`.
    pub fn categories(&self, uri: &str, container: u32) -> Bytes {
        let version = self.version();
        let aggregate = self.aggregate();
        let state = wire::State {
            state_type: StateType::Aggregate,
            manual: false,
            availability: Some(aggregate.availability.value()),
            activity: aggregate
                .activity
                .as_ref()
                // A card's texts are in one language: order is moot.
                .map(|a| crate::presentity::wire_activity(a, crate::availability::Lcid::EN_US)),
        };
        let card = ContactCard {
            display_name: Some(self.card.display_name.clone()),
            description: self.card.description.clone(),
            automaton: true,
            photo: self.card.photo.clone(),
            ..ContactCard::default()
        };
        let entry = |name: &str, value| CategoryEntry {
            name: name.to_owned(),
            instance: Some(0),
            container: Some(container),
            version: Some(version),
            publish_time: None,
            expire_type: None,
            value: EntryValue::Value(value),
        };
        let mut entries = vec![
            entry("state", CategoryValue::State(state)),
            entry("contactCard", CategoryValue::ContactCard(card)),
        ];
        if let Some(text) = &self.card.description {
            entries.push(entry(
                "note",
                CategoryValue::Note(wire::Note {
                    note_type: NoteType::Personal,
                    text: text.clone(),
                }),
            ));
        }
        categories::render(uri, &entries)
    }

    /// A category version that changes whenever anything shown does
    /// (clients compare versions for difference, not order): FNV-1a over
    /// the card and the count, never 0.
    fn version(&self) -> u32 {
        let mut hash: u32 = 0x811c_9dc5;
        let mut feed = |bytes: &[u8]| {
            for b in bytes.iter().chain([0xff].iter()) {
                hash ^= u32::from(*b);
                hash = hash.wrapping_mul(0x0100_0193);
            }
        };
        feed(self.card.display_name.as_bytes());
        feed(self.card.description.as_deref().unwrap_or("").as_bytes());
        if let Some(photo) = &self.card.photo {
            feed(photo.uri.as_bytes());
            feed(photo.hash.as_bytes());
        }
        feed(&self.participants.to_be_bytes());
        hash.max(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> ServiceCard {
        ServiceCard {
            room: Some("sip:meet.alice@vc.example.com".into()),
            display_name: "Alice's meeting room".into(),
            description: Some("Weekly team meeting".into()),
            photo: Some(Photo {
                uri: "http://127.0.0.1:8080/service/themes/default/ab12.jpg".into(),
                hash: "ab12".into(),
            }),
        }
    }

    #[test]
    fn pidf_is_open_with_the_description_as_note() {
        let card = card();
        let view = ServiceView {
            card: &card,
            participants: 0,
        };
        let body = String::from_utf8(view.pidf("sip:meet.alice@vc.example.com").to_vec()).unwrap();
        let document = crate::pidf::parse(body.as_bytes(), &crate::XmlLimits::DEFAULT).unwrap();
        let summary = document.summary();
        assert_eq!(summary.basic, crate::Basic::Open);
        assert!(summary.activities.is_empty(), "{body}");
        assert!(body.contains("Weekly team meeting"), "{body}");
    }

    #[test]
    fn an_occupied_room_is_busy_in_a_meeting_in_both_formats() {
        let card = card();
        let view = ServiceView {
            card: &card,
            participants: 3,
        };
        let body = String::from_utf8(view.pidf("sip:r@h").to_vec()).unwrap();
        assert!(body.contains("In a meeting (3)"), "{body}");
        assert!(body.contains("<rpid:meeting/>"), "{body}");
        let categories = String::from_utf8(view.categories("sip:r@h", 400).to_vec()).unwrap();
        assert!(
            categories.contains("<availability>6500</availability>"),
            "{categories}"
        );
        assert!(categories.contains("In a meeting (3)"), "{categories}");
    }

    #[test]
    fn the_card_carries_name_description_automaton_and_photo() {
        let card = card();
        let view = ServiceView {
            card: &card,
            participants: 0,
        };
        let body = String::from_utf8(view.categories("sip:r@h", 400).to_vec()).unwrap();
        let document =
            categories::parse(body.as_bytes(), &crate::XmlLimits::DEFAULT).expect("reads back");
        let cards: Vec<&ContactCard> = document
            .entries
            .iter()
            .filter_map(|c| match &c.value {
                EntryValue::Raw(xml) => match &xml.value {
                    Some(CategoryValue::ContactCard(card)) => Some(card),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        assert_eq!(cards.len(), 1, "{body}");
        assert_eq!(
            cards[0].display_name.as_deref(),
            Some("Alice's meeting room")
        );
        assert_eq!(cards[0].description.as_deref(), Some("Weekly team meeting"));
        assert!(cards[0].automaton);
        assert_eq!(
            cards[0].photo.as_ref().map(|p| p.hash.as_str()),
            Some("ab12")
        );
        assert!(body.contains("<availability>3500</availability>"), "{body}");
    }

    #[test]
    fn versions_change_with_what_is_shown() {
        let card = card();
        let empty = ServiceView {
            card: &card,
            participants: 0,
        };
        let busy = ServiceView {
            card: &card,
            participants: 2,
        };
        assert_ne!(empty.version(), busy.version());
        assert_eq!(Dialect::of(Format::Categories), Dialect::Microsoft);
        assert_eq!(Dialect::of(Format::Pidf), Dialect::Ietf);
    }
}
