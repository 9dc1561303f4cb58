//! What the presentity is doing, in the Microsoft dialect: an activity
//! token, free text per language, and the availability range the activity
//! is valid in.
//!
//! A `state` category's `<activity token=… minAvailability=…
//! maxAvailability=…>` carries `<custom LCID=…>` texts (the Lync schema's
//! `state/activity` element). The range matters for aggregation: an
//! activity is shown only while the aggregated availability lies inside
//! it ([MS-PRES] §3.8.5.1.2.3), which is how "In a call" disappears when
//! the user sets Away by hand.

use std::collections::BTreeMap;
use std::fmt;

use super::number::{Availability, AvailabilityClass};

/// An activity token of the `state` category (the schema's
/// `activityTokenEnumEx`, and the tokens Lync and pidgin-sipe publish).
///
/// The enumeration is open ("Ex"), so a token the server does not know is
/// kept verbatim in [`ActivityToken::Unknown`] and passed on to dialect
/// watchers unchanged.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActivityToken {
    /// `on-the-phone`: in a two-party call ("In a call").
    OnThePhone,
    /// `in-a-conference`: in a multi-party call or conference.
    InAConference,
    /// `in-a-meeting`: a calendar meeting is going on.
    InAMeeting,
    /// `out-of-office`: the calendar or the user says out of office.
    OutOfOffice,
    /// `urgent-interruptions-only`: Do Not Disturb as shown to the
    /// workgroup, who may still break through.
    UrgentInterruptionsOnly,
    /// `off-work`: outside the user's working hours.
    OffWork,
    /// `in-presentation`: presenting (desktop or application sharing);
    /// clients publish it in the Do Not Disturb range.
    InPresentation,
    /// Any other token, as written.
    Unknown(String),
}

/// Every known token with its spelling; one table for both directions so
/// reading and writing cannot drift.
const TOKENS: [(&str, ActivityToken); 7] = [
    ("on-the-phone", ActivityToken::OnThePhone),
    ("in-a-conference", ActivityToken::InAConference),
    ("in-a-meeting", ActivityToken::InAMeeting),
    ("out-of-office", ActivityToken::OutOfOffice),
    (
        "urgent-interruptions-only",
        ActivityToken::UrgentInterruptionsOnly,
    ),
    ("off-work", ActivityToken::OffWork),
    ("in-presentation", ActivityToken::InPresentation),
];

impl ActivityToken {
    /// The token for an attribute value. Never fails: unknown values are
    /// kept as [`ActivityToken::Unknown`]. Matching is exact, as in the
    /// schema; a differently cased token is a different token.
    pub fn from_token(token: &str) -> ActivityToken {
        TOKENS
            .iter()
            .find(|(name, _)| *name == token)
            .map(|(_, t)| t.clone())
            .unwrap_or_else(|| ActivityToken::Unknown(token.to_owned()))
    }

    /// The attribute value to write.
    pub fn as_str(&self) -> &str {
        match self {
            ActivityToken::Unknown(token) => token,
            known => TOKENS
                .iter()
                .find(|(_, t)| t == known)
                .map_or("", |(name, _)| name),
        }
    }

    /// Every known token, for tests and tables that enumerate them.
    pub fn known() -> impl Iterator<Item = ActivityToken> {
        TOKENS.iter().map(|(_, t)| t.clone())
    }
}

impl fmt::Display for ActivityToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Windows locale identifier, the dialect's way of naming the language
/// of a `<custom LCID=…>` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Lcid(pub u32);

impl Lcid {
    /// 1033, English (United States): what clients publish by default.
    pub const EN_US: Lcid = Lcid(1033);
    /// 1031, German (Germany).
    pub const DE_DE: Lcid = Lcid(1031);

    /// The LCID for a language tag as PIDF notes carry in `xml:lang`
    /// (`en`, `de-DE`), for the languages in [`LANGUAGES`]. A bare
    /// language picks its main country, as Windows does.
    pub fn from_language_tag(tag: &str) -> Option<Lcid> {
        let exact = LANGUAGES.iter().find(|(_, t)| t.eq_ignore_ascii_case(tag));
        let primary = tag.split('-').next().unwrap_or(tag);
        exact
            .or_else(|| {
                LANGUAGES.iter().find(|(_, t)| {
                    t.split('-')
                        .next()
                        .is_some_and(|p| p.eq_ignore_ascii_case(primary))
                })
            })
            .map(|(lcid, _)| *lcid)
    }

    /// The language tag to write as `xml:lang` for this LCID, if it is one
    /// of [`LANGUAGES`].
    pub fn language_tag(self) -> Option<&'static str> {
        LANGUAGES
            .iter()
            .find(|(lcid, _)| *lcid == self)
            .map(|(_, tag)| *tag)
    }
}

/// The LCIDs the PIDF conversion can name as language tags: the languages
/// Lync shipped in most widely. An LCID outside the list still works in
/// the dialect; its text just goes to PIDF watchers without `xml:lang`.
pub const LANGUAGES: [(Lcid, &str); 12] = [
    (Lcid(1033), "en-US"),
    (Lcid(2057), "en-GB"),
    (Lcid(1031), "de-DE"),
    (Lcid(1036), "fr-FR"),
    (Lcid(1034), "es-ES"),
    (Lcid(1040), "it-IT"),
    (Lcid(1043), "nl-NL"),
    (Lcid(1046), "pt-BR"),
    (Lcid(1053), "sv-SE"),
    (Lcid(1041), "ja-JP"),
    (Lcid(2052), "zh-CN"),
    (Lcid(1049), "ru-RU"),
];

/// The custom activity texts of one state, one per language.
///
/// A user who types "Working from home" in an English client and has a
/// German colleague may publish both texts; each watcher is shown the one
/// in its own language.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CustomTexts(BTreeMap<Lcid, String>);

impl CustomTexts {
    /// No texts.
    pub fn new() -> CustomTexts {
        CustomTexts::default()
    }

    /// Sets the text for a language, replacing an earlier one (a
    /// publication with the same LCID twice keeps the last, as a reader
    /// going through the XML in order would).
    pub fn insert(&mut self, lcid: Lcid, text: impl Into<String>) {
        self.0.insert(lcid, text.into());
    }

    /// The same texts with one more; for building states in one expression.
    pub fn with(mut self, lcid: Lcid, text: impl Into<String>) -> CustomTexts {
        self.insert(lcid, text);
        self
    }

    /// The text in exactly this language.
    pub fn get(&self, lcid: Lcid) -> Option<&str> {
        self.0.get(&lcid).map(String::as_str)
    }

    /// The text a watcher should be shown: in the watcher's language if
    /// there is one, else in the configured fallback language, else any
    /// (the lowest LCID, so that every watcher without a match sees the
    /// same text).
    pub fn pick(&self, watcher: Option<Lcid>, fallback: Lcid) -> Option<(Lcid, &str)> {
        watcher
            .and_then(|lcid| self.get(lcid).map(|t| (lcid, t)))
            .or_else(|| self.get(fallback).map(|t| (fallback, t)))
            .or_else(|| self.0.iter().next().map(|(l, t)| (*l, t.as_str())))
    }

    /// Whether there is no text at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The texts, by LCID, for a codec writing them out.
    pub fn iter(&self) -> impl Iterator<Item = (Lcid, &str)> {
        self.0.iter().map(|(l, t)| (*l, t.as_str()))
    }
}

/// The `<activity>` of a state: a token, custom texts, and the range of
/// aggregated availability it is valid in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StateActivity {
    /// The token, if any; a purely custom activity has none.
    pub token: Option<ActivityToken>,
    /// The custom texts.
    pub custom: CustomTexts,
    /// `minAvailability`; the schema's default is 0.
    pub min: Availability,
    /// `maxAvailability`; `None` is the schema's "unbounded".
    pub max: Option<Availability>,
}

impl StateActivity {
    /// An activity with a token, valid at any availability.
    pub fn token(token: ActivityToken) -> StateActivity {
        StateActivity {
            token: Some(token),
            ..StateActivity::default()
        }
    }

    /// A custom text without token, valid at any availability (what a
    /// user's typed status is).
    pub fn custom(texts: CustomTexts) -> StateActivity {
        StateActivity {
            custom: texts,
            ..StateActivity::default()
        }
    }

    /// The same activity valid only between `min` and `max` inclusive,
    /// as the phone and calendar states publish it (on-the-phone
    /// 6500–8999).
    pub fn within(mut self, min: Availability, max: Option<Availability>) -> StateActivity {
        self.min = min;
        self.max = max;
        self
    }

    /// The same activity valid in `class` and its idle companion: what a
    /// PIDF activity converted by the server gets, so that a busy PIDF
    /// phone keeps its "on the phone" while its user is inactive, and
    /// loses it when someone else's Away wins.
    pub fn within_class(self, class: AvailabilityClass) -> StateActivity {
        let top = match class {
            AvailabilityClass::Online => AvailabilityClass::IdleOnline,
            AvailabilityClass::Busy => AvailabilityClass::IdleBusy,
            other => other,
        };
        let max = match top {
            AvailabilityClass::Offline => None,
            _ => Some(top.highest()),
        };
        self.within(class.lowest(), max)
    }

    /// Whether the activity may be shown at this aggregated availability
    /// ([MS-PRES] §3.8.5.1.2.3: activities whose range does not contain
    /// the aggregate are dropped).
    pub fn admits(&self, availability: Availability) -> bool {
        availability >= self.min && self.max.is_none_or(|max| availability <= max)
    }

    /// Whether the activity says anything: [MS-PRES] §3.8.5.1.2.3 drops
    /// activities that have neither a token nor a custom text.
    pub fn is_meaningful(&self) -> bool {
        self.token.is_some() || !self.custom.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::{ActivityToken, CustomTexts, Lcid, StateActivity};
    use crate::availability::{Availability, AvailabilityClass};

    #[test]
    fn tokens_round_trip_and_unknown_ones_are_kept() {
        for token in ActivityToken::known() {
            assert_eq!(ActivityToken::from_token(token.as_str()), token);
        }
        assert_eq!(ActivityToken::known().count(), 7);
        let odd = ActivityToken::from_token("Available");
        assert_eq!(odd, ActivityToken::Unknown("Available".into()));
        assert_eq!(odd.as_str(), "Available");
        assert_eq!(ActivityToken::OnThePhone.to_string(), "on-the-phone");
    }

    #[test]
    fn custom_text_prefers_watcher_then_fallback_then_lowest_lcid() {
        let texts = CustomTexts::new()
            .with(Lcid::DE_DE, "Im Homeoffice")
            .with(Lcid::EN_US, "Working from home")
            .with(Lcid(1036), "En télétravail");
        assert_eq!(
            texts.pick(Some(Lcid::DE_DE), Lcid::EN_US),
            Some((Lcid::DE_DE, "Im Homeoffice"))
        );
        assert_eq!(
            texts.pick(Some(Lcid(1041)), Lcid::EN_US),
            Some((Lcid::EN_US, "Working from home"))
        );
        assert_eq!(
            texts.pick(None, Lcid(1043)),
            Some((Lcid::DE_DE, "Im Homeoffice"))
        );
        assert_eq!(CustomTexts::new().pick(None, Lcid::EN_US), None);
    }

    #[test]
    fn a_repeated_lcid_keeps_the_last_text() {
        let texts = CustomTexts::new()
            .with(Lcid::EN_US, "first")
            .with(Lcid::EN_US, "second");
        assert_eq!(texts.get(Lcid::EN_US), Some("second"));
        assert_eq!(texts.iter().count(), 1);
    }

    #[test]
    fn language_tags_map_to_lcids_both_ways() {
        assert_eq!(Lcid::from_language_tag("de-DE"), Some(Lcid::DE_DE));
        assert_eq!(Lcid::from_language_tag("DE"), Some(Lcid::DE_DE));
        assert_eq!(Lcid::from_language_tag("en"), Some(Lcid::EN_US));
        assert_eq!(Lcid::from_language_tag("en-gb"), Some(Lcid(2057)));
        assert_eq!(Lcid::from_language_tag("tlh"), None);
        assert_eq!(Lcid::EN_US.language_tag(), Some("en-US"));
        assert_eq!(Lcid(9999).language_tag(), None);
    }

    #[test]
    fn range_admits_inclusive_bounds() {
        let phone = StateActivity::token(ActivityToken::OnThePhone)
            .within(Availability::BUSY, Some(Availability::new(8999)));
        assert!(!phone.admits(Availability::ONLINE));
        assert!(phone.admits(Availability::BUSY));
        assert!(phone.admits(Availability::new(8999)));
        assert!(!phone.admits(Availability::AWAY));
        let unbounded =
            StateActivity::token(ActivityToken::OutOfOffice).within(Availability::new(12000), None);
        assert!(unbounded.admits(Availability::new(u32::MAX)));
        assert!(StateActivity::default().admits(Availability::UNKNOWN));
    }

    #[test]
    fn class_range_covers_the_idle_companion() {
        let busy =
            StateActivity::token(ActivityToken::InAMeeting).within_class(AvailabilityClass::Busy);
        assert_eq!(busy.min, Availability::new(6000));
        assert_eq!(busy.max, Some(Availability::new(8999)));
        let away = StateActivity::default().within_class(AvailabilityClass::Away);
        assert_eq!(
            (away.min.value(), away.max),
            (15000, Some(Availability::new(17999)))
        );
        let offline = StateActivity::default().within_class(AvailabilityClass::Offline);
        assert_eq!(offline.max, None);
    }

    #[test]
    fn only_token_or_text_is_meaningful() {
        assert!(!StateActivity::default().is_meaningful());
        assert!(StateActivity::token(ActivityToken::OffWork).is_meaningful());
        let text = CustomTexts::new().with(Lcid::EN_US, "Lunch");
        assert!(StateActivity::custom(text).is_meaningful());
    }
}
