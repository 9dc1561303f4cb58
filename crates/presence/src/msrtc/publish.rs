//! `application/msrtc-category-publish+xml`: a client publishing its own
//! categories in a SERVICE request ([MS-PRES] §2.2.2.2, example §4.3;
//! SIPE's `sipe-ocs2007.c` `send_presence_publish`).
//!
//! ```xml
//! <publish xmlns="http://schemas.microsoft.com/2006/09/sip/rich-presence">
//!   <publications uri="sip:alice@example.com">
//!     <publication categoryName="state" instance="536870912" container="2"
//!                  version="0" expireType="static">
//!       <state xmlns="http://schemas.microsoft.com/2006/09/sip/state" …/>
//!     </publication>
//!     <publication categoryName="note" instance="0" container="300"
//!                  version="4" expireType="static" expires="0"/>
//!   </publications>
//! </publish>
//! ```

use std::str::FromStr;

use bytes::Bytes;

use super::category::{self, CategoryValue};
use super::read::{self, Ns, Reader};
use super::{namespace, MsrtcError};
use crate::xml::Cursor;
use crate::XmlLimits;

/// The media type of a category publication.
pub const CONTENT_TYPE: &str = "application/msrtc-category-publish+xml";

/// How a published category instance expires ([MS-PRES] §3.7.5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpireType {
    /// With the publishing endpoint's registration.
    Endpoint,
    /// Never: it stays until replaced or deleted.
    Static,
    /// When the user's last endpoint signs out.
    User,
    /// After `expires` seconds.
    Time,
}

impl ExpireType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            ExpireType::Endpoint => "endpoint",
            ExpireType::Static => "static",
            ExpireType::User => "user",
            ExpireType::Time => "time",
        }
    }
}

impl FromStr for ExpireType {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "endpoint" => Ok(ExpireType::Endpoint),
            "static" => Ok(ExpireType::Static),
            "user" => Ok(ExpireType::User),
            "time" => Ok(ExpireType::Time),
            _ => Err(()),
        }
    }
}

/// The element a publication carries, kept twice: as the exact XML the
/// client sent (stored, and echoed to watchers for categories the server
/// does not interpret) and, for the categories it does interpret, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryXml {
    /// The element as sent. When it used a prefix declared outside it (on
    /// `<publish>`), the declaration is added to its start tag so the
    /// fragment stands alone; otherwise these are the received bytes.
    pub raw: Bytes,
    /// The interpreted value, for `state`, `note`, `contactCard` and
    /// `services` elements in their namespaces.
    pub value: Option<CategoryValue>,
}

/// One `<publication>`: a (category, instance, container) with its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publication {
    /// `categoryName`: `state`, `note`, `contactCard`, `calendarData`, ….
    pub category: String,
    /// `instance`: distinguishes instances of a category (user state
    /// 0x20000000, machine state = the endpoint's id, …).
    pub instance: u32,
    /// `container`: the access level it is published into.
    pub container: u32,
    /// `version`: the version the client believes is current; a stale one
    /// is answered 409 with a [`super::fault`] body.
    pub version: u32,
    /// `expireType`; [`ExpireType::Static`] when absent.
    pub expire_type: ExpireType,
    /// `expires` in seconds; `Some(0)` deletes the instance.
    pub expires: Option<u32>,
    /// The category element, absent in deletions.
    pub body: Option<CategoryXml>,
}

/// A whole `<publish>` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publish {
    /// `<publications uri>`: whose categories these are.
    pub uri: String,
    /// The publications in document order: a 409's `index` counts them
    /// from 1 in this order.
    pub publications: Vec<Publication>,
}

/// Reads a category publication.
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<Publish, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::RichPresence,
            "publish",
            namespace::RICH_PRESENCE,
        )?;
        let mut publish = None;
        while let Some(child) = cursor.next_child(&root)? {
            if publish.is_none() && read::is(&child, Ns::RichPresence, "publications") {
                let uri = read::required(&child, "publications", "uri")?;
                let mut publications = Vec::new();
                while let Some(item) = cursor.next_child(&child)? {
                    if read::is(&item, Ns::RichPresence, "publication") {
                        publications.push(publication(cursor, item, limits)?);
                    } else {
                        cursor.skip(&item)?;
                    }
                }
                publish = Some(Publish { uri, publications });
            } else {
                cursor.skip(&child)?;
            }
        }
        publish.ok_or(MsrtcError::MissingElement {
            element: "publish",
            child: "publications",
            position: root.position,
        })
    })
}

fn publication<'a>(
    cursor: &mut Reader<'a>,
    element: read::El<'a>,
    limits: &XmlLimits,
) -> Result<Publication, MsrtcError> {
    const NAME: &str = "publication";
    let mut publication = Publication {
        category: read::required(&element, NAME, "categoryName")?,
        instance: read::required_parsed(&element, NAME, "instance")?,
        container: read::required_parsed(&element, NAME, "container")?,
        version: read::required_parsed(&element, NAME, "version")?,
        expire_type: read::parsed(&element, NAME, "expireType")?.unwrap_or(ExpireType::Static),
        expires: read::parsed(&element, NAME, "expires")?,
        body: None,
    };
    while let Some(child) = cursor.next_child(&element)? {
        if publication.body.is_some() {
            cursor.skip(&child)?;
            continue;
        }
        publication.body = Some(category_xml(cursor, child, limits)?);
    }
    Ok(publication)
}

/// Reads a category element both ways: its self-contained text (see
/// [`CategoryXml::raw`]) and, for the categories the server interprets,
/// its value. Shared with the category document reader.
pub(crate) fn category_xml<'a>(
    cursor: &mut Reader<'a>,
    element: read::El<'a>,
    limits: &XmlLimits,
) -> Result<CategoryXml, MsrtcError> {
    let fragment = cursor.capture(element)?;
    // The fragment is self-contained, so it reads on its own; it is small
    // and already within the document's limits.
    let mut inner = Cursor::new(fragment.as_str(), 0, *limits, read::classify);
    let root = inner.root()?;
    let value = category::value(&mut inner, root)?;
    Ok(CategoryXml {
        raw: Bytes::from(fragment.as_str().to_owned()),
        value,
    })
}
