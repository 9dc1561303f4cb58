//! Which kind of device a state comes from, and which ways of talking
//! (modalities) the presentity can be reached by.
//!
//! Watchers choose how to contact someone from these: a client shows the
//! call button only if some endpoint renders voice, and shows a phone icon
//! for a user signed in only on a mobile. The dialect publishes the device
//! in a state's `<device>` (the schema's `deviceTypeEnumEx`) and the
//! modalities in the `services` category's `<capabilities>`, each with an
//! optional `deviceAvailability` that overrides the person's availability
//! for that modality.

use std::fmt;

use super::number::Availability;

/// The kind of endpoint a state describes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DeviceType {
    /// `computer`: a desktop client.
    Computer,
    /// `mobile`: a phone or tablet client.
    Mobile,
    /// `phone`: a desk phone.
    Phone,
    /// `web`: a browser client.
    Web,
    /// Any other value, as written (the enumeration is open).
    Other(String),
}

impl DeviceType {
    /// Reads a `<device>` value; unknown values are kept.
    pub fn from_token(token: &str) -> DeviceType {
        match token {
            "computer" => DeviceType::Computer,
            "mobile" => DeviceType::Mobile,
            "phone" => DeviceType::Phone,
            "web" => DeviceType::Web,
            other => DeviceType::Other(other.to_owned()),
        }
    }

    /// The value to write.
    pub fn as_str(&self) -> &str {
        match self {
            DeviceType::Computer => "computer",
            DeviceType::Mobile => "mobile",
            DeviceType::Phone => "phone",
            DeviceType::Web => "web",
            DeviceType::Other(other) => other,
        }
    }
}

impl fmt::Display for DeviceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A way of communicating, as named in `services/capabilities`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Modality {
    /// `text`: instant messages.
    Text,
    /// `voice`: audio calls.
    Voice,
    /// `video`: video calls.
    Video,
    /// `applicationSharing`: desktop or application sharing.
    ApplicationSharing,
    /// Any other capability element, by local name.
    Other(String),
}

impl Modality {
    /// The modality of a capability element's local name.
    pub fn from_name(name: &str) -> Modality {
        match name {
            "text" => Modality::Text,
            "voice" => Modality::Voice,
            "video" => Modality::Video,
            "applicationSharing" => Modality::ApplicationSharing,
            other => Modality::Other(other.to_owned()),
        }
    }

    /// The element's local name.
    pub fn as_str(&self) -> &str {
        match self {
            Modality::Text => "text",
            Modality::Voice => "voice",
            Modality::Video => "video",
            Modality::ApplicationSharing => "applicationSharing",
            Modality::Other(other) => other,
        }
    }
}

/// One modality of a presentity: whether it can be received (`render`),
/// sent (`capture`), and how available the presentity is for it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The modality.
    pub modality: Modality,
    /// Whether some endpoint can receive it.
    pub render: bool,
    /// Whether some endpoint can send it.
    pub capture: bool,
    /// `deviceAvailability`: the availability for this modality when it
    /// differs from the person's (a user Away from the desk may still
    /// answer voice on a mobile). `None` follows the person.
    pub device_availability: Option<Availability>,
}

impl Capability {
    /// A modality that can be sent and received, following the person's
    /// availability.
    pub fn both_ways(modality: Modality) -> Capability {
        Capability {
            modality,
            render: true,
            capture: true,
            device_availability: None,
        }
    }

    /// The availability a watcher should assume for this modality, given
    /// the person's aggregated availability.
    pub fn availability(&self, person: Availability) -> Availability {
        self.device_availability.unwrap_or(person)
    }
}

/// The modalities of a presentity (the `services` category), at most one
/// entry per modality.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Capabilities(Vec<Capability>);

impl Capabilities {
    /// No modalities: nothing can be used to reach the presentity.
    pub fn new() -> Capabilities {
        Capabilities::default()
    }

    /// Adds or replaces the entry for the capability's modality; a later
    /// endpoint's word on a modality replaces an earlier one.
    pub fn set(&mut self, capability: Capability) {
        match self
            .0
            .iter_mut()
            .find(|c| c.modality == capability.modality)
        {
            Some(existing) => *existing = capability,
            None => self.0.push(capability),
        }
    }

    /// The entry for a modality.
    pub fn get(&self, modality: &Modality) -> Option<&Capability> {
        self.0.iter().find(|c| &c.modality == modality)
    }

    /// Whether a watcher can start `modality` towards the presentity: some
    /// endpoint renders it and its availability is live (Online to Away).
    pub fn reachable(&self, modality: &Modality, person: Availability) -> bool {
        self.get(modality)
            .is_some_and(|c| c.render && c.availability(person).class().is_live())
    }

    /// The entries, in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = &Capability> {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::{Capabilities, Capability, DeviceType, Modality};
    use crate::availability::Availability;

    #[test]
    fn device_tokens_round_trip() {
        for token in ["computer", "mobile", "phone", "web", "car"] {
            assert_eq!(DeviceType::from_token(token).as_str(), token);
        }
        assert_eq!(
            DeviceType::from_token("car"),
            DeviceType::Other("car".into())
        );
    }

    #[test]
    fn modality_names_round_trip() {
        for name in ["text", "voice", "video", "applicationSharing", "gifting"] {
            assert_eq!(Modality::from_name(name).as_str(), name);
        }
    }

    #[test]
    fn device_availability_overrides_the_person() {
        let mut caps = Capabilities::new();
        caps.set(Capability::both_ways(Modality::Text));
        caps.set(Capability {
            device_availability: Some(Availability::ONLINE),
            ..Capability::both_ways(Modality::Voice)
        });
        let away = Availability::AWAY;
        let voice = caps.get(&Modality::Voice).map(|c| c.availability(away));
        assert_eq!(voice, Some(Availability::ONLINE));
        let text = caps.get(&Modality::Text).map(|c| c.availability(away));
        assert_eq!(text, Some(away));
    }

    #[test]
    fn reachable_needs_render_and_a_live_availability() {
        let mut caps = Capabilities::new();
        caps.set(Capability::both_ways(Modality::Text));
        caps.set(Capability {
            render: false,
            ..Capability::both_ways(Modality::Video)
        });
        assert!(caps.reachable(&Modality::Text, Availability::BUSY));
        assert!(!caps.reachable(&Modality::Text, Availability::OFFLINE));
        assert!(!caps.reachable(&Modality::Video, Availability::ONLINE));
        assert!(!caps.reachable(&Modality::Voice, Availability::ONLINE));
    }

    #[test]
    fn setting_a_modality_again_replaces_it() {
        let mut caps = Capabilities::new();
        caps.set(Capability::both_ways(Modality::Voice));
        caps.set(Capability {
            capture: false,
            ..Capability::both_ways(Modality::Voice)
        });
        assert_eq!(caps.iter().count(), 1);
        assert_eq!(caps.get(&Modality::Voice).map(|c| c.capture), Some(false));
    }
}
