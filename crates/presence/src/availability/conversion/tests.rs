use std::time::{Duration, UNIX_EPOCH};

use super::{from_pidf, render_pidf, source_from_document, to_pidf, Direction, PidfView, TABLE};
use crate::activity::Activity;
use crate::availability::{
    aggregate, ActivityToken, AggregateState, Availability, AvailabilityClass as C, CustomTexts,
    Lcid, SourceKind, StateActivity,
};
use crate::document::{Basic, Note, Person, PresenceDocument, Tuple};
use crate::{pidf, XmlLimits};

fn view(basic: Basic, activities: &[Activity], idle: bool) -> PidfView {
    PidfView {
        basic,
        activities: activities.to_vec(),
        idle,
    }
}

fn other(text: &str) -> Activity {
    Activity::Other(text.into())
}

/// One test per row read model → PIDF: the row is the one chosen, and
/// it writes what the table says.
macro_rules! to_pidf_row {
    ($name:ident, $row:expr, $class:expr, $token:expr, $basic:expr, [$($activity:expr),*], $idle:expr) => {
        #[test]
        fn $name() {
            let token: Option<ActivityToken> = $token;
            let row = to_pidf($class, token.as_ref());
            assert!(std::ptr::eq(row, &TABLE[$row]), "picked {row:?}");
            assert_eq!(row.pidf_view(), view($basic, &[$($activity),*], $idle));
        }
    };
}

/// One test per row read PIDF → model.
macro_rules! from_pidf_row {
    ($name:ident, $row:expr, $basic:expr, [$($activity:expr),*], $idle:expr, $availability:expr, $token:expr) => {
        #[test]
        fn $name() {
            let row = from_pidf(&view($basic, &[$($activity),*], $idle));
            assert!(std::ptr::eq(row, &TABLE[$row]), "picked {row:?}");
            let (availability, activity) = row.model();
            let token: Option<ActivityToken> = $token;
            assert_eq!(availability, $availability);
            assert_eq!(activity.and_then(|a| a.token), token);
        }
    };
}

/// The rows, one test per row and direction, written one per line like
/// the table they check.
#[rustfmt::skip]
mod rows {
    use super::{other, view, ActivityToken, Availability, TABLE, C};
    use super::{from_pidf, to_pidf};
    use crate::activity::Activity as A;
    use crate::availability::ActivityToken as T;
    use crate::document::Basic::{Closed, Open};

    to_pidf_row!(to_offline_is_closed, 0, C::Offline, None, Closed, [], false);
    to_pidf_row!(to_none_is_closed, 1, C::None, None, Closed, [], false);
    to_pidf_row!(to_dnd_presenting_is_presentation, 2, C::DoNotDisturb, Some(T::InPresentation), Open, [A::Presentation], false);
    to_pidf_row!(to_dnd_is_busy_with_marker, 3, C::DoNotDisturb, Some(T::UrgentInterruptionsOnly), Open, [A::Busy, other("do-not-disturb")], false);
    to_pidf_row!(to_brb_is_away_with_marker, 4, C::BeRightBack, None, Open, [A::Away, other("be-right-back")], false);
    to_pidf_row!(to_away_out_of_office_is_vacation, 5, C::Away, Some(T::OutOfOffice), Open, [A::Vacation], false);
    to_pidf_row!(to_away_is_away, 7, C::Away, Some(T::OffWork), Open, [A::Away], false);
    to_pidf_row!(to_busy_on_the_phone, 14, C::Busy, Some(T::OnThePhone), Open, [A::OnThePhone], false);
    to_pidf_row!(to_idle_busy_on_the_phone, 15, C::IdleBusy, Some(T::OnThePhone), Open, [A::OnThePhone], true);
    to_pidf_row!(to_busy_in_a_conference_is_on_the_phone, 16, C::Busy, Some(T::InAConference), Open, [A::OnThePhone], false);
    to_pidf_row!(to_idle_busy_in_a_conference_is_on_the_phone, 17, C::IdleBusy, Some(T::InAConference), Open, [A::OnThePhone], true);
    to_pidf_row!(to_busy_in_a_meeting_is_meeting, 18, C::Busy, Some(T::InAMeeting), Open, [A::Meeting], false);
    to_pidf_row!(to_idle_busy_in_a_meeting_is_meeting, 19, C::IdleBusy, Some(T::InAMeeting), Open, [A::Meeting], true);
    to_pidf_row!(to_busy_is_busy, 22, C::Busy, None, Open, [A::Busy], false);
    to_pidf_row!(to_idle_busy_is_busy_idle, 23, C::IdleBusy, Some(T::Unknown("x".into())), Open, [A::Busy], true);
    to_pidf_row!(to_idle_online_is_open_idle, 24, C::IdleOnline, None, Open, [], true);
    to_pidf_row!(to_online_is_open, 25, C::Online, Some(T::OnThePhone), Open, [], false);

    from_pidf_row!(from_closed_is_offline, 0, Closed, [A::Busy], false, Availability::OFFLINE, None);
    from_pidf_row!(from_presentation_is_dnd, 2, Open, [A::Presentation], false, Availability::DO_NOT_DISTURB, Some(T::InPresentation));
    from_pidf_row!(from_dnd_marker_is_dnd, 3, Open, [A::Busy, other("Do-Not-Disturb")], false, Availability::DO_NOT_DISTURB, None);
    from_pidf_row!(from_brb_marker_is_brb, 4, Open, [A::Away, other("be-right-back")], false, Availability::BE_RIGHT_BACK, None);
    from_pidf_row!(from_vacation_is_away_out_of_office, 5, Open, [A::Vacation], false, Availability::AWAY, Some(T::OutOfOffice));
    from_pidf_row!(from_holiday_is_away_out_of_office, 6, Open, [A::Holiday], false, Availability::AWAY, Some(T::OutOfOffice));
    from_pidf_row!(from_away_is_away, 7, Open, [A::Away], true, Availability::AWAY, None);
    from_pidf_row!(from_sleeping_is_away, 8, Open, [A::Sleeping], false, Availability::AWAY, None);
    from_pidf_row!(from_permanent_absence_is_away, 9, Open, [A::PermanentAbsence], false, Availability::AWAY, None);
    from_pidf_row!(from_meal_is_brb, 10, Open, [A::Meal], false, Availability::BE_RIGHT_BACK, None);
    from_pidf_row!(from_lunch_is_brb, 11, Open, [A::Lunch], false, Availability::BE_RIGHT_BACK, None);
    from_pidf_row!(from_breakfast_is_brb, 12, Open, [A::Breakfast], false, Availability::BE_RIGHT_BACK, None);
    from_pidf_row!(from_dinner_is_brb, 13, Open, [A::Dinner], false, Availability::BE_RIGHT_BACK, None);
    from_pidf_row!(from_on_the_phone_is_busy, 14, Open, [A::OnThePhone], false, Availability::BUSY, Some(T::OnThePhone));
    from_pidf_row!(from_idle_on_the_phone_is_idle_busy, 15, Open, [A::OnThePhone], true, Availability::IDLE_BUSY, Some(T::OnThePhone));
    from_pidf_row!(from_meeting_is_busy_in_a_meeting, 18, Open, [A::Meeting, A::Busy], false, Availability::BUSY, Some(T::InAMeeting));
    from_pidf_row!(from_idle_meeting_is_idle_busy_in_a_meeting, 19, Open, [A::Meeting], true, Availability::IDLE_BUSY, Some(T::InAMeeting));
    from_pidf_row!(from_appointment_is_busy_in_a_meeting, 20, Open, [A::Appointment], false, Availability::BUSY, Some(T::InAMeeting));
    from_pidf_row!(from_idle_appointment_is_idle_busy_in_a_meeting, 21, Open, [A::Appointment], true, Availability::IDLE_BUSY, Some(T::InAMeeting));
    from_pidf_row!(from_busy_is_busy, 22, Open, [A::Busy], false, Availability::BUSY, None);
    from_pidf_row!(from_idle_busy_is_idle_busy, 23, Open, [A::Busy], true, Availability::IDLE_BUSY, None);
    from_pidf_row!(from_open_idle_is_idle_online, 24, Open, [A::Tv], true, Availability::IDLE_ONLINE, None);
    from_pidf_row!(from_open_is_online, 25, Open, [], false, Availability::ONLINE, None);
}

#[test]
fn every_row_is_the_one_found_for_its_own_input() {
    for (i, row) in TABLE.iter().enumerate() {
        if row.direction != Direction::FromPidf {
            let found = to_pidf(row.class, row.token.as_ref());
            assert!(std::ptr::eq(found, row), "row {i} shadowed by {found:?}");
        }
        if row.direction != Direction::ToPidf {
            let found = from_pidf(&row.pidf_view());
            assert!(std::ptr::eq(found, row), "row {i} shadowed by {found:?}");
        }
    }
}

fn aggregate_of(availability: Availability, token: Option<ActivityToken>) -> AggregateState {
    AggregateState::fixed(availability, token.map(StateActivity::token))
}

#[test]
fn every_class_midpoint_keeps_its_class_through_pidf() {
    let tokens: Vec<Option<ActivityToken>> = std::iter::once(None)
        .chain(ActivityToken::known().map(Some))
        .chain([Some(ActivityToken::Unknown("x".into()))])
        .collect();
    let t0 = UNIX_EPOCH + Duration::from_secs(1);
    for class in C::ALL.into_iter().filter(|c| *c != C::None) {
        for token in tokens.iter() {
            let state = aggregate_of(class.published(), token.clone());
            let document = render_pidf("sip:a@example.com", &state, None, Lcid::EN_US);
            // Through the codec too: the idle marker must survive it.
            let wire = pidf::render(&document);
            let parsed = pidf::parse(wire.as_bytes(), &XmlLimits::DEFAULT).unwrap();
            let source = source_from_document(&parsed, "p", t0, Lcid::EN_US);
            let back = aggregate(&[source], t0);
            assert_eq!(back.class(), class, "{class} {token:?}: {wire}");
        }
    }
}

#[test]
fn unknown_renders_closed_and_reads_back_offline() {
    let state = aggregate_of(Availability::UNKNOWN, None);
    let document = render_pidf("sip:a@example.com", &state, None, Lcid::EN_US);
    assert_eq!(document.summary().basic, Basic::Closed);
    assert!(document.persons.is_empty());
}

#[test]
fn custom_text_goes_out_in_the_watchers_language() {
    let mut state = aggregate_of(Availability::BUSY, Some(ActivityToken::InAMeeting));
    if let Some(activity) = state.activity.as_mut() {
        activity.custom = CustomTexts::new()
            .with(Lcid::EN_US, "Board meeting")
            .with(Lcid::DE_DE, "Vorstandssitzung")
            .with(Lcid(4242), "Klingon");
    }
    let de = render_pidf("sip:a@example.com", &state, Some(Lcid::DE_DE), Lcid::EN_US);
    assert_eq!(de.persons[0].activities, [Activity::Meeting]);
    assert_eq!(
        de.persons[0].activities_notes,
        [Note::with_lang("de-DE", "Vorstandssitzung")]
    );
    let fr = render_pidf("sip:a@example.com", &state, Some(Lcid(1036)), Lcid(4242));
    assert_eq!(fr.persons[0].activities_notes, [Note::new("Klingon")]);
}

#[test]
fn a_publication_becomes_a_pidf_source_with_its_note() {
    let mut document = PresenceDocument::new("sip:a@example.com");
    document.tuples.push(Tuple::new("t", Some(Basic::Open)));
    let mut person = Person::new("p");
    person.activities.push(Activity::OnThePhone);
    person.notes.push(Note::with_lang("de", "Am Telefon"));
    document.persons.push(person);
    let t0 = UNIX_EPOCH + Duration::from_secs(7);
    let source = source_from_document(&document, "etag-1", t0, Lcid::EN_US);
    assert_eq!(source.kind, SourceKind::Pidf);
    assert_eq!(source.id, "etag-1");
    assert_eq!(source.published_at, t0);
    assert_eq!(source.availability, Some(Availability::BUSY));
    let activity = source.activity.unwrap_or_default();
    assert_eq!(activity.token, Some(ActivityToken::OnThePhone));
    assert_eq!(activity.custom.get(Lcid::DE_DE), Some("Am Telefon"));
    assert_eq!(activity.min, Availability::new(6000));

    let mut plain = PresenceDocument::new("sip:a@example.com");
    plain.tuples.push(Tuple::new("t", Some(Basic::Open)));
    plain.notes.push(Note::new("In the lab"));
    let source = source_from_document(&plain, "etag-2", t0, Lcid::DE_DE);
    assert_eq!(source.availability, Some(Availability::ONLINE));
    let activity = source.activity.unwrap_or_default();
    assert_eq!(activity.token, None);
    assert_eq!(activity.custom.get(Lcid::DE_DE), Some("In the lab"));
}
