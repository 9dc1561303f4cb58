//! The one table between the availability model and PIDF/RPID, read in
//! both directions.
//!
//! A PIDF watcher and a watcher of the Microsoft dialect must see the same
//! state, so both renderings come from the same aggregate and PIDF
//! publications come back into it through the same rows. `docs/
//! availability.md` reproduces [`TABLE`] row for row.
//!
//! - **Model → PIDF**: the first row whose class matches and whose token
//!   is the state's activity token (or the row's token is "any") gives
//!   `<basic>`, the RPID activities and `<rpid:user-input>idle`.
//! - **PIDF → model**: the first row whose basic status matches, whose
//!   RPID activity and `<rpid:other>` marker are among the publication's
//!   activities, and whose idleness matches gives the class's published
//!   number and the token.
//!
//! RPID has no words for Do Not Disturb and Be Right Back; they travel as
//! `<rpid:busy/>` / `<rpid:away/>` (what a plain PIDF watcher understands)
//! plus an `<rpid:other>` marker the reverse direction recognises, so a
//! round trip keeps the class (*decided*; [MS-PRES] has no PIDF mapping).

use std::time::SystemTime;

use crate::activity::Activity;
use crate::document::{Basic, Note, Person, PresenceDocument, Tuple};
use crate::extension::Extension;
use crate::namespace;

use super::activity::{ActivityToken, CustomTexts, Lcid, StateActivity};
use super::aggregation::{AggregateState, SourceKind, SourceState};
use super::number::{Availability, AvailabilityClass as C};

/// Which way a row of [`TABLE`] is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Model → PIDF and PIDF → model.
    Both,
    /// Model → PIDF only (a token RPID cannot say, sent as its nearest).
    ToPidf,
    /// PIDF → model only (an RPID activity the model folds into a class).
    FromPidf,
}

/// One line of the conversion table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The availability class.
    pub class: C,
    /// The Microsoft activity token; `None` matches any (or no) token when
    /// writing PIDF and gives no token when reading it.
    pub token: Option<ActivityToken>,
    /// The PIDF basic status.
    pub basic: Basic,
    /// The RPID activity written, and required when reading.
    pub activity: Option<Activity>,
    /// Text of an `<rpid:other>` marker written next to it, and required
    /// when reading (matched ignoring ASCII case).
    pub other: Option<&'static str>,
    /// `<rpid:user-input>idle</rpid:user-input>`: `Some(true)` writes it
    /// and requires it, `Some(false)` requires its absence, `None` neither
    /// writes nor looks at it.
    pub idle: Option<bool>,
    /// Which way the row is read.
    pub direction: Direction,
}

const fn row(
    class: C,
    token: Option<ActivityToken>,
    basic: Basic,
    activity: Option<Activity>,
    other: Option<&'static str>,
    idle: Option<bool>,
    direction: Direction,
) -> Row {
    Row {
        class,
        token,
        basic,
        activity,
        other,
        idle,
        direction,
    }
}

use ActivityToken as T;
use Basic::{Closed, Open};
use Direction::{Both, FromPidf, ToPidf};

/// The marker `<rpid:other>` text for Do Not Disturb.
pub const DO_NOT_DISTURB_MARKER: &str = "do-not-disturb";
/// The marker `<rpid:other>` text for Be Right Back.
pub const BE_RIGHT_BACK_MARKER: &str = "be-right-back";

/// The conversion table. Order matters: within a direction the first
/// matching row wins, so specific rows come before a class's catch-all.
/// A `static`, not a `const`, so a row found by a lookup is the row in the
/// table (one address) and tests can tell which row was chosen.
#[rustfmt::skip]
pub static TABLE: [Row; 26] = [
    // Closed first: a closed presentity is Offline whatever it still says.
    row(C::Offline, None, Closed, None, None, None, Both),
    row(C::None, None, Closed, None, None, None, ToPidf),
    row(C::DoNotDisturb, Some(T::InPresentation), Open, Some(Activity::Presentation), None, None, Both),
    row(C::DoNotDisturb, None, Open, Some(Activity::Busy), Some(DO_NOT_DISTURB_MARKER), None, Both),
    row(C::BeRightBack, None, Open, Some(Activity::Away), Some(BE_RIGHT_BACK_MARKER), None, Both),
    row(C::Away, Some(T::OutOfOffice), Open, Some(Activity::Vacation), None, None, Both),
    row(C::Away, Some(T::OutOfOffice), Open, Some(Activity::Holiday), None, None, FromPidf),
    row(C::Away, None, Open, Some(Activity::Away), None, None, Both),
    row(C::Away, None, Open, Some(Activity::Sleeping), None, None, FromPidf),
    row(C::Away, None, Open, Some(Activity::PermanentAbsence), None, None, FromPidf),
    row(C::BeRightBack, None, Open, Some(Activity::Meal), None, None, FromPidf),
    row(C::BeRightBack, None, Open, Some(Activity::Lunch), None, None, FromPidf),
    row(C::BeRightBack, None, Open, Some(Activity::Breakfast), None, None, FromPidf),
    row(C::BeRightBack, None, Open, Some(Activity::Dinner), None, None, FromPidf),
    row(C::Busy, Some(T::OnThePhone), Open, Some(Activity::OnThePhone), None, Some(false), Both),
    row(C::IdleBusy, Some(T::OnThePhone), Open, Some(Activity::OnThePhone), None, Some(true), Both),
    row(C::Busy, Some(T::InAConference), Open, Some(Activity::OnThePhone), None, Some(false), ToPidf),
    row(C::IdleBusy, Some(T::InAConference), Open, Some(Activity::OnThePhone), None, Some(true), ToPidf),
    row(C::Busy, Some(T::InAMeeting), Open, Some(Activity::Meeting), None, Some(false), Both),
    row(C::IdleBusy, Some(T::InAMeeting), Open, Some(Activity::Meeting), None, Some(true), Both),
    row(C::Busy, Some(T::InAMeeting), Open, Some(Activity::Appointment), None, Some(false), FromPidf),
    row(C::IdleBusy, Some(T::InAMeeting), Open, Some(Activity::Appointment), None, Some(true), FromPidf),
    row(C::Busy, None, Open, Some(Activity::Busy), None, Some(false), Both),
    row(C::IdleBusy, None, Open, Some(Activity::Busy), None, Some(true), Both),
    row(C::IdleOnline, None, Open, None, None, Some(true), Both),
    row(C::Online, None, Open, None, None, Some(false), Both),
];

/// The PIDF side of a state: what [`TABLE`] reads and writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PidfView {
    /// Open if any tuple is open ([`crate::Summary::basic`]).
    pub basic: Basic,
    /// The person's RPID activities.
    pub activities: Vec<Activity>,
    /// Whether some person, tuple or device says
    /// `<rpid:user-input>idle</rpid:user-input>` (RFC 4480 §3.11).
    pub idle: bool,
}

impl PidfView {
    /// The view of a (composed) PIDF document.
    pub fn of_document(document: &PresenceDocument) -> PidfView {
        let summary = document.summary();
        let extensions = document
            .persons
            .iter()
            .flat_map(|p| &p.extensions)
            .chain(document.tuples.iter().flat_map(|t| &t.extensions))
            .chain(document.devices.iter().flat_map(|d| &d.extensions));
        let idle = extensions.clone().any(is_idle_user_input);
        PidfView {
            basic: summary.basic,
            activities: summary.activities,
            idle,
        }
    }
}

fn is_idle_user_input(extension: &Extension) -> bool {
    let rpid = namespace::is_rpid(Some(extension.namespace().as_bytes()));
    // The fragment is one well-formed element; its text is between the end
    // of the start tag and the next tag.
    let text = extension
        .as_str()
        .split_once('>')
        .and_then(|(_, rest)| rest.split('<').next())
        .unwrap_or("");
    rpid && extension.local_name() == "user-input" && text.trim() == "idle"
}

fn user_input_idle() -> Extension {
    Extension::from_parts(
        namespace::RPID.to_owned(),
        "user-input".to_owned(),
        format!(
            r#"<rpid:user-input xmlns:rpid="{}">idle</rpid:user-input>"#,
            namespace::RPID
        ),
    )
}

/// The row that renders `class` with `token` for a PIDF watcher. Every
/// class has a catch-all row, so there is always one.
pub fn to_pidf(class: C, token: Option<&ActivityToken>) -> &'static Row {
    TABLE
        .iter()
        .filter(|r| r.direction != FromPidf && r.class == class)
        .find(|r| r.token.is_none() || r.token.as_ref() == token)
        .unwrap_or(&TABLE[0])
}

/// The row a PIDF publication reads as. The last rows match any open
/// document and the first any closed one, so there is always one.
pub fn from_pidf(view: &PidfView) -> &'static Row {
    TABLE
        .iter()
        .filter(|r| r.direction != ToPidf && r.basic == view.basic)
        .find(|r| {
            r.activity
                .as_ref()
                .is_none_or(|a| view.activities.contains(a))
                && r.other
                    .is_none_or(|marker| has_marker(&view.activities, marker))
                && r.idle.is_none_or(|idle| idle == view.idle)
        })
        .unwrap_or(&TABLE[0])
}

fn has_marker(activities: &[Activity], marker: &str) -> bool {
    activities
        .iter()
        .any(|a| matches!(a, Activity::Other(text) if text.trim().eq_ignore_ascii_case(marker)))
}

impl Row {
    /// The PIDF side of the row as written.
    pub fn pidf_view(&self) -> PidfView {
        let mut activities: Vec<Activity> = self.activity.iter().cloned().collect();
        activities.extend(self.other.map(|m| Activity::Other(m.to_owned())));
        PidfView {
            basic: self.basic,
            activities,
            idle: self.idle == Some(true),
        }
    }

    /// The model side of the row as read: the class's published number
    /// and the token, with the token valid in the class and its idle
    /// companion.
    pub fn model(&self) -> (Availability, Option<StateActivity>) {
        let activity = self
            .token
            .clone()
            .map(|t| StateActivity::token(t).within_class(self.class));
        (self.class.published(), activity)
    }
}

/// A PIDF publication (or the composition of several) as one source for
/// aggregation. Its leading note becomes the custom activity text, in the
/// note's language if [`Lcid::from_language_tag`] knows it, else in
/// `default_lcid`.
pub fn source_from_document(
    document: &PresenceDocument,
    id: impl Into<String>,
    published_at: SystemTime,
    default_lcid: Lcid,
) -> SourceState {
    let view = PidfView::of_document(document);
    let (availability, token_activity) = from_pidf(&view).model();
    let mut source =
        SourceState::new(SourceKind::Pidf, id, published_at).with_availability(availability);
    let texts = document.summary().note.map(|note| {
        let lcid = note
            .lang
            .as_deref()
            .and_then(Lcid::from_language_tag)
            .unwrap_or(default_lcid);
        CustomTexts::new().with(lcid, note.text)
    });
    source.activity = match (token_activity, texts) {
        (Some(mut activity), Some(texts)) => {
            activity.custom = texts;
            Some(activity)
        }
        (Some(activity), None) => Some(activity),
        (None, Some(texts)) => {
            Some(StateActivity::custom(texts).within_class(availability.class()))
        }
        (None, None) => None,
    };
    source
}

/// The PIDF document a PIDF watcher of `entity` gets for an aggregated
/// state: one tuple with the basic status, and a person with the RPID
/// activities, the idle marker and the custom text in the watcher's
/// language (see [`CustomTexts::pick`]) as the activities' note.
pub fn render_pidf(
    entity: &str,
    state: &AggregateState,
    watcher: Option<Lcid>,
    fallback: Lcid,
) -> PresenceDocument {
    let token = state.activity.as_ref().and_then(|a| a.token.as_ref());
    let row = to_pidf(state.class(), token);
    let view = row.pidf_view();
    let mut document = PresenceDocument::new(entity);
    document
        .tuples
        .push(Tuple::new("presence", Some(view.basic)));
    let mut person = Person::new("person");
    person.activities = view.activities;
    if view.idle {
        person.extensions.push(user_input_idle());
    }
    let text = state
        .activity
        .as_ref()
        .and_then(|a| a.custom.pick(watcher, fallback));
    if let Some((lcid, text)) = text {
        person.activities_notes.push(match lcid.language_tag() {
            Some(tag) => Note::with_lang(tag, text),
            None => Note::new(text),
        });
    }
    let says_something = !person.activities.is_empty()
        || !person.activities_notes.is_empty()
        || !person.extensions.is_empty();
    if says_something {
        document.persons.push(person);
    }
    document
}

#[cfg(test)]
mod tests;
