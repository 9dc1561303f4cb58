//! Microsoft's availability number and the classes it falls into.
//!
//! The Microsoft dialect says how reachable a presentity is with one
//! unsigned number rather than a token, so that clients can publish values
//! of their own inside a class and still be drawn with the right icon
//! (the Lync "Enhanced Presence" schema's `state/availability` element;
//! Communicator's "User States" and "Machine States" tables give the
//! values clients publish). Every rule of the
//! server works on the *class*; the exact number is kept so a watcher of
//! the dialect sees what was published.

use std::fmt;
use std::str::FromStr;

/// An availability number as published in `<availability>`.
///
/// Any `u32` is accepted: a number above 18 000 is Offline, one below
/// 3 000 says nothing ([`AvailabilityClass::None`]). Rejecting numbers
/// would drop a client's state over a value the protocol leaves open.
/// The default is 0, "no availability", which is also the schema's default
/// `minAvailability`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Availability(u32);

impl Availability {
    /// 3500, what clients publish for Online (Communicator's "Available").
    pub const ONLINE: Availability = Availability(3500);
    /// 5000, what a machine state publishes once its user is inactive
    /// (Communicator's machine state "Inactive", UCMA `EndpointIdle`).
    pub const IDLE_ONLINE: Availability = Availability(5000);
    /// 6500, Busy.
    pub const BUSY: Availability = Availability(6500);
    /// 8000, Busy but inactive. No document names a value for this class;
    /// 8000 is Busy's 6500 moved by the same 1500 that moves Online's 3500
    /// to the inactive 5000, which is also how aggregation derives it.
    pub const IDLE_BUSY: Availability = Availability(8000);
    /// 9500, Do Not Disturb.
    pub const DO_NOT_DISTURB: Availability = Availability(9500);
    /// 12500, Be Right Back.
    pub const BE_RIGHT_BACK: Availability = Availability(12500);
    /// 15500, Away (also what an idle machine state ends at).
    pub const AWAY: Availability = Availability(15500);
    /// 18500, Offline (also what blocked watchers are shown).
    pub const OFFLINE: Availability = Availability(18500);
    /// 0, "no availability": sipe's `SIPE_OCS2007_AVAILABILITY_UNKNOWN`.
    pub const UNKNOWN: Availability = Availability(0);

    /// The distance from an active class to its inactive companion
    /// (Online 3000–4499 → IdleOnline 4500–5999, Busy 6000–7499 →
    /// IdleBusy 7500–8999), so an idle shift keeps a client's own value
    /// inside the class.
    pub const IDLE_SHIFT: u32 = 1500;

    /// Wraps a published number.
    pub const fn new(value: u32) -> Availability {
        Availability(value)
    }

    /// The number, as written in `<availability>`.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// The class the number falls into.
    pub fn class(self) -> AvailabilityClass {
        AvailabilityClass::of(self)
    }

    /// The same state with its user inactive: Online and Busy numbers move
    /// to their idle companions, every other class stays as it is (an idle
    /// user who is Away or in Do Not Disturb is still that).
    pub fn idled(self) -> Availability {
        match self.class() {
            AvailabilityClass::Online | AvailabilityClass::Busy => {
                Availability(self.0 + Self::IDLE_SHIFT)
            }
            _ => self,
        }
    }
}

impl fmt::Display for Availability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why `<availability>` text is not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseAvailabilityError {
    /// The element was empty (or only whitespace).
    #[error("availability is empty")]
    Empty,
    /// Something other than decimal digits.
    #[error("availability {text:?} is not a decimal number")]
    NotDecimal {
        /// The text as received, trimmed.
        text: String,
    },
    /// Digits, but more than a `u32` holds (the schema's `xs:unsignedInt`).
    #[error("availability {text:?} is larger than 4294967295")]
    TooLarge {
        /// The text as received, trimmed.
        text: String,
    },
}

impl FromStr for Availability {
    type Err = ParseAvailabilityError;

    /// Reads the decimal text of `<availability>`. Surrounding whitespace
    /// is allowed (XML pretty-printers add it); signs are not, since
    /// `xs:unsignedInt` has none that a client would send.
    fn from_str(text: &str) -> Result<Availability, ParseAvailabilityError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(ParseAvailabilityError::Empty);
        }
        if !text.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseAvailabilityError::NotDecimal { text: text.into() });
        }
        text.parse::<u32>()
            .map(Availability)
            .map_err(|_| ParseAvailabilityError::TooLarge { text: text.into() })
    }
}

/// The class of an availability number: what watchers are shown.
///
/// The order of the variants is the order of the numbers, which is also
/// the order "busiest wins" compares in (the ranges are the Lync schema's
/// `state/availability` table; [MS-PRES] §3.8.5.1.2 aggregates on them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AvailabilityClass {
    /// Below 3000: no availability (UCMA maps it to `None`).
    None,
    /// 3000–4499: reachable and willing.
    Online,
    /// 4500–5999: online but the user has not touched the device lately.
    IdleOnline,
    /// 6000–7499: reachable but engaged.
    Busy,
    /// 7500–8999: busy and inactive.
    IdleBusy,
    /// 9000–11999: do not interrupt.
    DoNotDisturb,
    /// 12000–14999: stepped out for a moment.
    BeRightBack,
    /// 15000–17999: not at the device.
    Away,
    /// 18000 and above: signed out or appearing offline.
    Offline,
}

impl AvailabilityClass {
    /// Every class, in order.
    pub const ALL: [AvailabilityClass; 9] = [
        AvailabilityClass::None,
        AvailabilityClass::Online,
        AvailabilityClass::IdleOnline,
        AvailabilityClass::Busy,
        AvailabilityClass::IdleBusy,
        AvailabilityClass::DoNotDisturb,
        AvailabilityClass::BeRightBack,
        AvailabilityClass::Away,
        AvailabilityClass::Offline,
    ];

    /// The class of a number.
    pub fn of(availability: Availability) -> AvailabilityClass {
        match availability.value() {
            0..=2999 => AvailabilityClass::None,
            3000..=4499 => AvailabilityClass::Online,
            4500..=5999 => AvailabilityClass::IdleOnline,
            6000..=7499 => AvailabilityClass::Busy,
            7500..=8999 => AvailabilityClass::IdleBusy,
            9000..=11999 => AvailabilityClass::DoNotDisturb,
            12000..=14999 => AvailabilityClass::BeRightBack,
            15000..=17999 => AvailabilityClass::Away,
            _ => AvailabilityClass::Offline,
        }
    }

    /// The smallest number of the class.
    pub fn lowest(self) -> Availability {
        Availability(match self {
            AvailabilityClass::None => 0,
            AvailabilityClass::Online => 3000,
            AvailabilityClass::IdleOnline => 4500,
            AvailabilityClass::Busy => 6000,
            AvailabilityClass::IdleBusy => 7500,
            AvailabilityClass::DoNotDisturb => 9000,
            AvailabilityClass::BeRightBack => 12000,
            AvailabilityClass::Away => 15000,
            AvailabilityClass::Offline => 18000,
        })
    }

    /// The largest number of the class (`u32::MAX` for Offline).
    pub fn highest(self) -> Availability {
        match self {
            AvailabilityClass::Offline => Availability(u32::MAX),
            other => {
                let next = AvailabilityClass::ALL
                    .iter()
                    .skip_while(|c| **c != other)
                    .nth(1)
                    .copied()
                    .unwrap_or(AvailabilityClass::Offline);
                Availability(next.lowest().value() - 1)
            }
        }
    }

    /// The number clients publish for the class (see the constants on
    /// [`Availability`]); what the server writes when it derives a state.
    pub fn published(self) -> Availability {
        match self {
            AvailabilityClass::None => Availability::UNKNOWN,
            AvailabilityClass::Online => Availability::ONLINE,
            AvailabilityClass::IdleOnline => Availability::IDLE_ONLINE,
            AvailabilityClass::Busy => Availability::BUSY,
            AvailabilityClass::IdleBusy => Availability::IDLE_BUSY,
            AvailabilityClass::DoNotDisturb => Availability::DO_NOT_DISTURB,
            AvailabilityClass::BeRightBack => Availability::BE_RIGHT_BACK,
            AvailabilityClass::Away => Availability::AWAY,
            AvailabilityClass::Offline => Availability::OFFLINE,
        }
    }

    /// Whether a watcher can reach the presentity at all in this class:
    /// everything from Online to Away. Offline and None are not live, and
    /// lose to any live source in aggregation.
    pub fn is_live(self) -> bool {
        !matches!(self, AvailabilityClass::None | AvailabilityClass::Offline)
    }

    /// The class's name as logs, `presenced explain` and the docs spell it.
    pub fn name(self) -> &'static str {
        match self {
            AvailabilityClass::None => "None",
            AvailabilityClass::Online => "Online",
            AvailabilityClass::IdleOnline => "IdleOnline",
            AvailabilityClass::Busy => "Busy",
            AvailabilityClass::IdleBusy => "IdleBusy",
            AvailabilityClass::DoNotDisturb => "DoNotDisturb",
            AvailabilityClass::BeRightBack => "BeRightBack",
            AvailabilityClass::Away => "Away",
            AvailabilityClass::Offline => "Offline",
        }
    }
}

impl fmt::Display for AvailabilityClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::{Availability, AvailabilityClass as C, ParseAvailabilityError};

    #[test]
    fn class_boundaries() {
        let vectors = [
            (0, C::None),
            (2999, C::None),
            (3000, C::Online),
            (4499, C::Online),
            (4500, C::IdleOnline),
            (5999, C::IdleOnline),
            (6000, C::Busy),
            (7499, C::Busy),
            (7500, C::IdleBusy),
            (8999, C::IdleBusy),
            (9000, C::DoNotDisturb),
            (11999, C::DoNotDisturb),
            (12000, C::BeRightBack),
            (14999, C::BeRightBack),
            (15000, C::Away),
            (17999, C::Away),
            (18000, C::Offline),
            (u32::MAX, C::Offline),
        ];
        for (value, class) in vectors {
            assert_eq!(Availability::new(value).class(), class, "{value}");
        }
    }

    #[test]
    fn every_class_contains_its_bounds_and_published_value() {
        for class in C::ALL {
            assert_eq!(class.lowest().class(), class);
            assert_eq!(class.highest().class(), class);
            assert_eq!(class.published().class(), class);
        }
        assert_eq!(C::Online.highest(), Availability::new(4499));
        assert_eq!(C::Away.highest(), Availability::new(17999));
    }

    #[test]
    fn published_values_are_the_documented_ones() {
        let got: Vec<u32> = C::ALL.iter().map(|c| c.published().value()).collect();
        assert_eq!(got, [0, 3500, 5000, 6500, 8000, 9500, 12500, 15500, 18500]);
    }

    #[test]
    fn idling_moves_online_and_busy_only() {
        assert_eq!(Availability::ONLINE.idled(), Availability::IDLE_ONLINE);
        assert_eq!(Availability::BUSY.idled(), Availability::IDLE_BUSY);
        assert_eq!(Availability::new(4499).idled().class(), C::IdleOnline);
        assert_eq!(Availability::new(7499).idled().class(), C::IdleBusy);
        for same in [
            Availability::IDLE_ONLINE,
            Availability::DO_NOT_DISTURB,
            Availability::AWAY,
            Availability::OFFLINE,
            Availability::UNKNOWN,
        ] {
            assert_eq!(same.idled(), same);
        }
    }

    #[test]
    fn parses_decimal_text() {
        assert_eq!("3500".parse(), Ok(Availability::ONLINE));
        assert_eq!(" 18500\n".parse(), Ok(Availability::OFFLINE));
        assert_eq!("4294967295".parse(), Ok(Availability::new(u32::MAX)));
        assert_eq!(
            "".parse::<Availability>(),
            Err(ParseAvailabilityError::Empty)
        );
        assert_eq!(
            "-1".parse::<Availability>(),
            Err(ParseAvailabilityError::NotDecimal { text: "-1".into() })
        );
        assert_eq!(
            "35 00".parse::<Availability>(),
            Err(ParseAvailabilityError::NotDecimal {
                text: "35 00".into()
            })
        );
        assert_eq!(
            "4294967296".parse::<Availability>(),
            Err(ParseAvailabilityError::TooLarge {
                text: "4294967296".into()
            })
        );
        assert_eq!(Availability::BUSY.to_string(), "6500");
    }
}
