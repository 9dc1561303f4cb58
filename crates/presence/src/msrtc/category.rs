//! The category values the server interprets: `state`, `note`,
//! `contactCard` and `services` ([MS-PRES] §2.2.2.7), at the wire level.
//!
//! These are plain fields; the availability model (classes, aggregation,
//! LCID texts) maps them later. Everything the server does not interpret
//! (calendarData, device, userProperties, and any element inside the
//! interpreted ones that is not listed here) stays in the publication's
//! raw XML, which is what watchers get.

use super::read::{self, El, Ns, Reader};
use super::{namespace, MsrtcError};

/// `xsi:type` of a `<state>`: which source the availability comes from
/// ([MS-PRES] §2.2.2.7.1; SIPE's `sipe-ocs2007.c` publishes the first four,
/// the server writes the aggregate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StateType {
    /// Set by the user (instance 0x20000000, `manual="true"`).
    User,
    /// The endpoint's activity (idle detection).
    Machine,
    /// The phone line (on-the-phone, with min/max availability).
    Phone,
    /// The calendar (in-a-meeting, out-of-office).
    Calendar,
    /// The server's aggregation, what watchers see.
    Aggregate,
    /// The server's aggregation of one endpoint's machine state, in the
    /// user's own roaming data ([MS-PRES] §4.4.3).
    AggregateMachine,
}

impl StateType {
    /// The `xsi:type` token.
    pub fn as_str(self) -> &'static str {
        match self {
            StateType::User => "userState",
            StateType::Machine => "machineState",
            StateType::Phone => "phoneState",
            StateType::Calendar => "calendarState",
            StateType::Aggregate => "aggregateState",
            StateType::AggregateMachine => "aggregateMachineState",
        }
    }

    fn from_token(token: &str) -> Option<StateType> {
        // A QName value may carry a prefix ("ms:aggregateState").
        let local = token.rsplit(':').next().unwrap_or(token);
        [
            StateType::User,
            StateType::Machine,
            StateType::Phone,
            StateType::Calendar,
            StateType::Aggregate,
            StateType::AggregateMachine,
        ]
        .into_iter()
        .find(|t| t.as_str() == local)
    }
}

/// `<activity token minAvailability maxAvailability>` with its custom texts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct StateActivity {
    /// The activity token (`on-the-phone`, `in-a-meeting`, …).
    pub token: Option<String>,
    /// Phone states raise availability to at least this.
    pub min_availability: Option<u32>,
    /// … and at most this.
    pub max_availability: Option<u32>,
    /// `<custom LCID="1033">Working with customer</custom>`: the user's own
    /// activity text per language, which clients show instead of the token.
    pub custom: Vec<(u32, String)>,
}

/// A `state` category value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct State {
    /// Which kind of state.
    pub state_type: StateType,
    /// `manual="true"`: set by the user, wins over machine and phone state.
    pub manual: bool,
    /// `<availability>` (0–18000+); absent in some calendar states.
    pub availability: Option<u32>,
    /// `<activity>`, if any.
    pub activity: Option<StateActivity>,
}

/// `type` of a note `<body>` ([MS-PRES] §2.2.2.7.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoteType {
    /// The user's own note.
    Personal,
    /// The out-of-office message (SIPE reads `type="OOF"` to show it as
    /// such).
    Oof,
}

impl NoteType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            NoteType::Personal => "personal",
            NoteType::Oof => "OOF",
        }
    }
}

/// A `note` category value: its first `<body>`, the one clients show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Note {
    /// Personal or out-of-office.
    pub note_type: NoteType,
    /// The text.
    pub text: String,
}

/// `<photo>` of a contact card: SIPE fetches the picture only when both the
/// URI and the hash are present, and re-fetches when the hash changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Photo {
    /// Where the picture is.
    pub uri: String,
    /// A hash of it, so clients can cache.
    pub hash: String,
}

/// `<phone type><uri/><displayString/></phone>` of a contact card.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Phone {
    /// `work`, `mobile`, `home`, `other`.
    pub phone_type: String,
    /// The number as a URI (`tel:+31…`).
    pub uri: String,
    /// The number as shown.
    pub display: Option<String>,
}

/// A `contactCard` category value with the fields SIPE's `sipe-notify.c`
/// reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ContactCard {
    /// `identity/name/displayName`.
    pub display_name: Option<String>,
    /// `identity/email`.
    pub email: Option<String>,
    /// `<description>`: shown for rooms and other automata.
    pub description: Option<String>,
    /// `<automaton>true</automaton>`: not a person (rooms); clients stop
    /// re-subscribing to it.
    pub automaton: bool,
    /// `<title>`.
    pub title: Option<String>,
    /// `<company>`.
    pub company: Option<String>,
    /// `<phone>` entries.
    pub phones: Vec<Phone>,
    /// `<photo>`.
    pub photo: Option<Photo>,
}

/// One capability of a service (`<text>`, `<voice>`, `<video>`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The element name (`text`, `voice`, `video`, `gifInk`, …).
    pub name: String,
    /// `render`: the endpoint can show it.
    pub render: bool,
    /// `capture`: the endpoint can produce it.
    pub capture: bool,
    /// `deviceAvailability`: the availability of the device offering it.
    pub device_availability: Option<u32>,
}

/// One `<service uri>` of a `services` value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Service {
    /// The service URI (`sip:` for the user, `tel:` for a line).
    pub uri: String,
    /// Its capabilities.
    pub capabilities: Vec<Capability>,
}

/// A `services` category value ([MS-PRES] §2.2.2.7.3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Services {
    /// The services.
    pub services: Vec<Service>,
}

/// A category value the server interprets.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum CategoryValue {
    /// `state`.
    State(State),
    /// `note`.
    Note(Note),
    /// `contactCard`.
    ContactCard(ContactCard),
    /// `services`.
    Services(Services),
}

/// Reads the interpreted value of a category element, when the element is
/// one the server interprets: `Ok(None)` for any other element.
pub(crate) fn value<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
) -> Result<Option<CategoryValue>, MsrtcError> {
    Ok(Some(match (element.ns, element.local_name()) {
        (Ns::State, b"state") => CategoryValue::State(state(cursor, element)?),
        (Ns::Note, b"note") => match note(cursor, element)? {
            Some(note) => CategoryValue::Note(note),
            None => return Ok(None),
        },
        (Ns::ContactCard, b"contactCard") => CategoryValue::ContactCard(card(cursor, element)?),
        (Ns::Service, b"services") => CategoryValue::Services(services(cursor, element)?),
        _ => {
            cursor.skip(&element)?;
            return Ok(None);
        }
    }))
}

fn state<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<State, MsrtcError> {
    let token = cursor
        .attribute_in(&element, namespace::XSI.as_bytes(), b"type")?
        .ok_or(MsrtcError::MissingAttribute {
            element: "state",
            attribute: "xsi:type",
            position: element.position,
        })?;
    let state_type = StateType::from_token(token.trim()).ok_or(MsrtcError::InvalidAttribute {
        element: "state",
        attribute: "xsi:type",
        value: token.clone(),
        position: element.position,
    })?;
    let manual = read::boolean(&element, "state", "manual")?.unwrap_or(false);
    let mut state = State {
        state_type,
        manual,
        availability: None,
        activity: None,
    };
    while let Some(child) = cursor.next_child(&element)? {
        if read::is(&child, Ns::State, "availability") {
            state.availability = Some(read::number(cursor, &child, "availability")?);
        } else if read::is(&child, Ns::State, "activity") {
            state.activity = Some(activity(cursor, child)?);
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(state)
}

fn activity<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<StateActivity, MsrtcError> {
    let mut activity = StateActivity {
        token: element.attribute(b"token")?.filter(|t| !t.is_empty()),
        min_availability: read::parsed(&element, "activity", "minAvailability")?,
        max_availability: read::parsed(&element, "activity", "maxAvailability")?,
        custom: Vec::new(),
    };
    while let Some(child) = cursor.next_child(&element)? {
        if read::is(&child, Ns::State, "custom") {
            let lcid = read::required_parsed(&child, "custom", "LCID")?;
            activity.custom.push((lcid, cursor.text(&child)?));
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(activity)
}

/// The first `<body>`; a note without one (a cleared note) is not
/// interpreted.
fn note<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<Option<Note>, MsrtcError> {
    let mut note = None;
    while let Some(child) = cursor.next_child(&element)? {
        if note.is_none() && read::is(&child, Ns::Note, "body") {
            let kind = read::required(&child, "body", "type")?;
            let note_type = match kind.as_str() {
                "personal" => NoteType::Personal,
                // [MS-PRES] writes "OOF"; accept any case.
                k if k.eq_ignore_ascii_case("oof") => NoteType::Oof,
                _ => {
                    return Err(MsrtcError::InvalidAttribute {
                        element: "body",
                        attribute: "type",
                        value: kind,
                        position: child.position,
                    })
                }
            };
            note = Some(Note {
                note_type,
                text: cursor.text(&child)?,
            });
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(note)
}

fn nonempty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

fn card<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<ContactCard, MsrtcError> {
    let mut card = ContactCard::default();
    while let Some(child) = cursor.next_child(&element)? {
        if child.ns != Ns::ContactCard {
            cursor.skip(&child)?;
            continue;
        }
        match child.local_name() {
            b"identity" => identity(cursor, child, &mut card)?,
            b"description" => card.description = nonempty(read::trimmed(cursor, &child)?),
            b"automaton" => {
                let text = read::trimmed(cursor, &child)?;
                card.automaton = read::parse_bool(&text).ok_or(MsrtcError::InvalidValue {
                    element: "automaton",
                    value: text,
                    position: child.position,
                })?;
            }
            b"title" => card.title = nonempty(read::trimmed(cursor, &child)?),
            b"company" => card.company = nonempty(read::trimmed(cursor, &child)?),
            b"phone" => {
                let phone_type = read::required(&child, "phone", "type")?;
                let (uri, display) = pair(cursor, child, b"uri", b"displayString")?;
                if let Some(uri) = uri {
                    card.phones.push(Phone {
                        phone_type,
                        uri,
                        display,
                    });
                }
            }
            b"photo" if card.photo.is_none() => {
                if let (Some(uri), Some(hash)) = pair(cursor, child, b"uri", b"hash")? {
                    card.photo = Some(Photo { uri, hash });
                }
            }
            _ => cursor.skip(&child)?,
        }
    }
    Ok(card)
}

fn identity<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
    card: &mut ContactCard,
) -> Result<(), MsrtcError> {
    while let Some(child) = cursor.next_child(&element)? {
        if read::is(&child, Ns::ContactCard, "name") {
            while let Some(name) = cursor.next_child(&child)? {
                if read::is(&name, Ns::ContactCard, "displayName") {
                    card.display_name = nonempty(read::trimmed(cursor, &name)?);
                } else {
                    cursor.skip(&name)?;
                }
            }
        } else if read::is(&child, Ns::ContactCard, "email") {
            card.email = nonempty(read::trimmed(cursor, &child)?);
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(())
}

/// The non-empty texts of two child elements of `element`.
fn pair<'a>(
    cursor: &mut Reader<'a>,
    element: El<'a>,
    first: &[u8],
    second: &[u8],
) -> Result<(Option<String>, Option<String>), MsrtcError> {
    let (mut a, mut b) = (None, None);
    while let Some(child) = cursor.next_child(&element)? {
        if child.ns == Ns::ContactCard && child.local_name() == first {
            a = nonempty(read::trimmed(cursor, &child)?);
        } else if child.ns == Ns::ContactCard && child.local_name() == second {
            b = nonempty(read::trimmed(cursor, &child)?);
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok((a, b))
}

fn services<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<Services, MsrtcError> {
    let mut services = Services::default();
    while let Some(child) = cursor.next_child(&element)? {
        if !read::is(&child, Ns::Service, "service") {
            cursor.skip(&child)?;
            continue;
        }
        let mut service = Service {
            uri: read::required(&child, "service", "uri")?,
            capabilities: Vec::new(),
        };
        while let Some(part) = cursor.next_child(&child)? {
            if !read::is(&part, Ns::Service, "capabilities") {
                cursor.skip(&part)?;
                continue;
            }
            while let Some(cap) = cursor.next_child(&part)? {
                if cap.ns == Ns::Service {
                    service.capabilities.push(Capability {
                        name: String::from_utf8_lossy(cap.local_name()).into_owned(),
                        render: read::boolean(&cap, "capabilities", "render")?.unwrap_or(false),
                        capture: read::boolean(&cap, "capabilities", "capture")?.unwrap_or(false),
                        device_availability: read::parsed(
                            &cap,
                            "capabilities",
                            "deviceAvailability",
                        )?,
                    });
                }
                cursor.skip(&cap)?;
            }
        }
        services.services.push(service);
    }
    Ok(services)
}
