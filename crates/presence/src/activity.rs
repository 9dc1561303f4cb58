//! What the person is doing: the RPID activity tokens (RFC 4480 §3.2).
//!
//! Activities are the richest signal a standard client publishes beyond
//! open/closed, and the one the availability model maps from (`busy`,
//! `on-the-phone`, `meeting` raise Online to Busy; `away` and `vacation`
//! mean Away), so they are a closed enum rather than strings.

/// One RPID activity (RFC 4480 §3.2, the `activeType` enumeration).
///
/// Each variant is an empty element in the RPID namespace
/// (`<rpid:busy/>`), except [`Activity::Other`], which carries free text
/// (`<rpid:other>brooding</rpid:other>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Activity {
    /// `appointment`: a calendar appointment.
    Appointment,
    /// `away`: physically away from all interactive devices.
    Away,
    /// `breakfast`: eating the first meal of the day.
    Breakfast,
    /// `busy`: busy, with no further detail.
    Busy,
    /// `dinner`: having the main meal of the day.
    Dinner,
    /// `holiday`: a scheduled national or local holiday.
    Holiday,
    /// `in-transit`: riding in a vehicle.
    InTransit,
    /// `looking-for-work`: looking for (paid) work.
    LookingForWork,
    /// `lunch`: eating the midday meal.
    Lunch,
    /// `meal`: eating, with no further detail.
    Meal,
    /// `meeting`: an assembly of people for a common purpose.
    Meeting,
    /// `on-the-phone`: talking on the phone.
    OnThePhone,
    /// `performance`: a performance (theatre, concert, sports event).
    Performance,
    /// `permanent-absence`: will not return for the foreseeable future.
    PermanentAbsence,
    /// `playing`: occupying oneself with play.
    Playing,
    /// `presentation`: giving a presentation, lecture or talk.
    Presentation,
    /// `shopping`: visiting stores.
    Shopping,
    /// `sleeping`: sleeping.
    Sleeping,
    /// `spectator`: observing an event such as a sports event.
    Spectator,
    /// `steering`: controlling a vehicle, watercraft or aircraft.
    Steering,
    /// `travel`: on a business or personal trip.
    Travel,
    /// `tv`: watching television.
    Tv,
    /// `unknown`: the activity is not known (RFC 4480 requires this token
    /// to be alone).
    Unknown,
    /// `vacation`: a scheduled absence, usually for recreation.
    Vacation,
    /// `working`: engaged in, typically paid, labour.
    Working,
    /// `worship`: participating in religious rites.
    Worship,
    /// `<rpid:other>text</rpid:other>`: an activity with no token. Unknown
    /// tokens read from the wire land here too, so nothing a client says is
    /// silently dropped.
    Other(String),
}

/// Every token and its variant, in the order of RFC 4480 §3.2's schema.
/// One table serves both directions so reading and writing cannot drift.
static TOKENS: [(&str, Activity); 26] = [
    ("appointment", Activity::Appointment),
    ("away", Activity::Away),
    ("breakfast", Activity::Breakfast),
    ("busy", Activity::Busy),
    ("dinner", Activity::Dinner),
    ("holiday", Activity::Holiday),
    ("in-transit", Activity::InTransit),
    ("looking-for-work", Activity::LookingForWork),
    ("lunch", Activity::Lunch),
    ("meal", Activity::Meal),
    ("meeting", Activity::Meeting),
    ("on-the-phone", Activity::OnThePhone),
    ("performance", Activity::Performance),
    ("permanent-absence", Activity::PermanentAbsence),
    ("playing", Activity::Playing),
    ("presentation", Activity::Presentation),
    ("shopping", Activity::Shopping),
    ("sleeping", Activity::Sleeping),
    ("spectator", Activity::Spectator),
    ("steering", Activity::Steering),
    ("travel", Activity::Travel),
    ("tv", Activity::Tv),
    ("unknown", Activity::Unknown),
    ("vacation", Activity::Vacation),
    ("working", Activity::Working),
    ("worship", Activity::Worship),
];

impl Activity {
    /// The activity a token names, `None` for anything that is not an RFC
    /// 4480 token. Matching ignores ASCII case: the legacy text form
    /// (`<ep:activity>Away</ep:activity>`) is not always lower case.
    pub fn from_token(token: &str) -> Option<Activity> {
        TOKENS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(token))
            .map(|(_, activity)| activity.clone())
    }

    /// The element name the activity is written as (`on-the-phone`), or
    /// `None` for [`Activity::Other`], which is written as `<rpid:other>`
    /// with its text.
    pub fn token(&self) -> Option<&'static str> {
        TOKENS
            .iter()
            .find(|(_, activity)| activity == self)
            .map(|(name, _)| *name)
    }

    /// Every activity that has a token, for tests and for tables that
    /// enumerate the mapping to availability.
    pub fn all_tokens() -> impl Iterator<Item = Activity> {
        TOKENS.iter().map(|(_, activity)| activity.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::Activity;

    #[test]
    fn every_token_round_trips() {
        for activity in Activity::all_tokens() {
            let token = activity.token().unwrap();
            assert_eq!(Activity::from_token(token), Some(activity));
        }
        assert_eq!(Activity::all_tokens().count(), 26);
    }

    #[test]
    fn other_has_no_token_and_unknown_words_are_not_tokens() {
        assert_eq!(Activity::Other("brooding".into()).token(), None);
        assert_eq!(Activity::from_token("brooding"), None);
        assert_eq!(
            Activity::from_token("On-The-Phone"),
            Some(Activity::OnThePhone)
        );
    }
}
