//! What every reader of the dialect shares: the namespaces as the readers
//! tell them apart, the bounded entry point, and typed attribute access
//! whose errors name the element.

use std::str::FromStr;

use super::namespace as ns;
use super::MsrtcError;
use crate::xml::{self, Cursor, Element, XmlError};
use crate::XmlLimits;

/// The namespaces the readers distinguish, classified once per element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ns {
    RichPresence,
    Categories,
    State,
    Note,
    ContactCard,
    Service,
    BatchSubscribe,
    CategoryList,
    ContainerManagement,
    PresenceSubscribers,
    RoamingSelf,
    RoamingSelfEx,
    SoapEnvelope,
    WinrtcSip,
    ProvisioningGroupList,
    /// No namespace at all.
    Unbound,
    /// Anything else.
    Other,
}

pub(crate) fn classify(name: Option<&[u8]>) -> Ns {
    let Some(name) = name else {
        return Ns::Unbound;
    };
    let known = [
        (ns::RICH_PRESENCE, Ns::RichPresence),
        (ns::CATEGORIES, Ns::Categories),
        (ns::STATE, Ns::State),
        (ns::NOTE, Ns::Note),
        (ns::CONTACT_CARD, Ns::ContactCard),
        (ns::SERVICE, Ns::Service),
        (ns::BATCH_SUBSCRIBE, Ns::BatchSubscribe),
        (ns::CATEGORY_LIST, Ns::CategoryList),
        (ns::CONTAINER_MANAGEMENT, Ns::ContainerManagement),
        (ns::PRESENCE_SUBSCRIBERS, Ns::PresenceSubscribers),
        (ns::ROAMING_SELF, Ns::RoamingSelf),
        (ns::ROAMING_SELF_EX, Ns::RoamingSelfEx),
        (ns::SOAP_ENVELOPE, Ns::SoapEnvelope),
        (ns::WINRTC_SIP, Ns::WinrtcSip),
        (ns::PROVISIONING_GROUP_LIST, Ns::ProvisioningGroupList),
    ];
    known
        .iter()
        .find(|(uri, _)| uri.as_bytes() == name)
        .map_or(Ns::Other, |(_, k)| *k)
}

pub(crate) type Reader<'a> = Cursor<'a, Ns>;
pub(crate) type El<'a> = Element<'a, Ns>;

/// Runs `read` over `bytes` as one bounded document: the size limit first,
/// then decoding, then `read` from the root, then the check that nothing
/// follows the root.
pub(crate) fn document<T>(
    bytes: &[u8],
    limits: &XmlLimits,
    read: impl for<'a> FnOnce(&mut Reader<'a>) -> Result<T, MsrtcError>,
) -> Result<T, MsrtcError> {
    xml::document(bytes, limits, classify, read)
}

/// The root element, which must be `name` in `namespace` (`kind` is the
/// classified form of `namespace`).
pub(crate) fn root<'a>(
    cursor: &mut Reader<'a>,
    kind: Ns,
    name: &'static str,
    namespace: &'static str,
) -> Result<El<'a>, MsrtcError> {
    let root = cursor.root()?;
    if !is(&root, kind, name) {
        return Err(MsrtcError::UnexpectedRoot {
            expected: name,
            namespace,
            found: String::from_utf8_lossy(root.start.name().as_ref()).into_owned(),
            position: root.position,
        });
    }
    Ok(root)
}

/// Whether `element` is `name` in the namespace classified as `kind`.
pub(crate) fn is(element: &El<'_>, kind: Ns, name: &str) -> bool {
    element.ns == kind && element.local_name() == name.as_bytes()
}

/// A required attribute.
pub(crate) fn required(
    element: &El<'_>,
    name: &'static str,
    attribute: &'static str,
) -> Result<String, MsrtcError> {
    element
        .attribute(attribute.as_bytes())?
        .ok_or(MsrtcError::MissingAttribute {
            element: name,
            attribute,
            position: element.position,
        })
}

/// An optional attribute parsed as `T` (decimal numbers, tokens with a
/// `FromStr`): present but unparsable is an error, not an absence.
pub(crate) fn parsed<T: FromStr>(
    element: &El<'_>,
    name: &'static str,
    attribute: &'static str,
) -> Result<Option<T>, MsrtcError> {
    match element.attribute(attribute.as_bytes())? {
        None => Ok(None),
        Some(value) => match value.trim().parse() {
            Ok(parsed) => Ok(Some(parsed)),
            Err(_) => Err(MsrtcError::InvalidAttribute {
                element: name,
                attribute,
                value,
                position: element.position,
            }),
        },
    }
}

/// A required attribute parsed as `T`.
pub(crate) fn required_parsed<T: FromStr>(
    element: &El<'_>,
    name: &'static str,
    attribute: &'static str,
) -> Result<T, MsrtcError> {
    parsed(element, name, attribute)?.ok_or(MsrtcError::MissingAttribute {
        element: name,
        attribute,
        position: element.position,
    })
}

/// An `xs:boolean` attribute (`true`, `false`, `1`, `0`).
pub(crate) fn boolean(
    element: &El<'_>,
    name: &'static str,
    attribute: &'static str,
) -> Result<Option<bool>, MsrtcError> {
    match element.attribute(attribute.as_bytes())? {
        None => Ok(None),
        Some(value) => match parse_bool(&value) {
            Some(b) => Ok(Some(b)),
            None => Err(MsrtcError::InvalidAttribute {
                element: name,
                attribute,
                value,
                position: element.position,
            }),
        },
    }
}

/// `xs:boolean` in its four lexical forms, surrounding whitespace allowed.
pub(crate) fn parse_bool(value: &str) -> Option<bool> {
    match value.trim() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// The text of `element` without the indentation around it.
pub(crate) fn trimmed<'a>(cursor: &mut Reader<'a>, element: &El<'a>) -> Result<String, XmlError> {
    let text = cursor.text_borrowed(element)?;
    Ok(text
        .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .to_owned())
}

/// The text of `element` as a number.
pub(crate) fn number<'a, T: FromStr>(
    cursor: &mut Reader<'a>,
    element: &El<'a>,
    name: &'static str,
) -> Result<T, MsrtcError> {
    let text = trimmed(cursor, element)?;
    text.parse().map_err(|_| MsrtcError::InvalidValue {
        element: name,
        value: text,
        position: element.position,
    })
}
