//! The self subscription (`Event: vnd-microsoft-roaming-self`): the
//! `<roamingList>` a client sends to say what it wants, and the
//! `<roamingData>` the server returns with the user's own categories,
//! containers and watchers ([MS-PRES] §3.3.5.1, examples §4.4.1, §4.4.3,
//! §4.8.1; SIPE's `sipe_ocs2007_process_roaming_self`).
//!
//! The first NOTIFY carries every section the client asked for; later
//! ones carry only the sections that changed, and in `categories` only
//! the changed instances, a deleted one as an empty `<category>`
//! ([`EntryValue::Cleared`](super::categories::EntryValue::Cleared)).

use bytes::Bytes;

use super::categories::{self, CategoryEntry};
use super::container::Member;
use super::markup::Markup;
use super::read::{self, Ns};
use super::{namespace, MsrtcError};
use crate::XmlLimits;

/// The media type of both `<roamingList>` and `<roamingData>`.
pub const CONTENT_TYPE: &str = "application/vnd-microsoft-roaming-self+xml";

/// A section of the user's own data a self subscription covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RoamingType {
    /// The user's own published category instances.
    Categories,
    /// The access-level containers and their members.
    Containers,
    /// Who watches the user, and whether the user has seen them.
    Subscribers,
    /// Delegates (`<roamingEx type="delegates"/>`).
    Delegates,
}

impl RoamingType {
    /// The `type` token.
    pub fn as_str(self) -> &'static str {
        match self {
            RoamingType::Categories => "categories",
            RoamingType::Containers => "containers",
            RoamingType::Subscribers => "subscribers",
            RoamingType::Delegates => "delegates",
        }
    }
}

/// Reads a `<roamingList>`: the sections asked for, in document order.
/// A later SUBSCRIBE in the same dialog replaces the list
/// ([MS-PRES] §3.3.5.1).
pub fn parse_roaming_list(
    bytes: &[u8],
    limits: &XmlLimits,
) -> Result<Vec<RoamingType>, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::RoamingSelf,
            "roamingList",
            namespace::ROAMING_SELF,
        )?;
        let mut types = Vec::new();
        while let Some(child) = cursor.next_child(&root)? {
            let element = if read::is(&child, Ns::RoamingSelf, "roaming") {
                "roaming"
            } else if read::is(&child, Ns::RoamingSelfEx, "roamingEx") {
                "roamingEx"
            } else {
                cursor.skip(&child)?;
                continue;
            };
            let token = read::required(&child, element, "type")?;
            let kind = [
                RoamingType::Categories,
                RoamingType::Containers,
                RoamingType::Subscribers,
                RoamingType::Delegates,
            ]
            .into_iter()
            .find(|t| t.as_str() == token)
            .ok_or(MsrtcError::InvalidAttribute {
                element,
                attribute: "type",
                value: token,
                position: child.position,
            })?;
            if !types.contains(&kind) {
                types.push(kind);
            }
            cursor.skip(&child)?;
        }
        Ok(types)
    })
}

/// One container as roaming data lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    /// Its id (access level).
    pub id: u32,
    /// Its version, which `setContainerMembers` must quote.
    pub version: u32,
    /// Its members.
    pub members: Vec<Member>,
}

/// `type` of a subscriber ([MS-PRES] §2.2.2.6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriberType {
    /// From the user's own enterprise.
    SameEnterprise,
    /// From a federated enterprise.
    Federated,
    /// From a public IM cloud.
    PublicCloud,
    /// Not known.
    Unknown,
}

impl SubscriberType {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriberType::SameEnterprise => "sameEnterprise",
            SubscriberType::Federated => "federated",
            SubscriberType::PublicCloud => "publicCloud",
            SubscriberType::Unknown => "unknown",
        }
    }
}

/// A watcher of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscriber {
    /// The watcher's URI without `sip:` (SIPE adds it back).
    pub user: String,
    /// Its display name.
    pub display_name: String,
    /// `false` for a new watcher: the client asks its user, then sends
    /// `setSubscribers` with `acknowledged="true"`.
    pub acknowledged: bool,
    /// Where the watcher comes from.
    pub subscriber_type: Option<SubscriberType>,
}

/// A `<roamingData>` document; `None` sections are left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoamingData {
    /// The user, as `categories/@uri`.
    pub uri: String,
    /// Category instances.
    pub categories: Option<Vec<CategoryEntry>>,
    /// Containers.
    pub containers: Option<Vec<Container>>,
    /// Watchers.
    pub subscribers: Option<Vec<Subscriber>>,
}

/// Renders a `<roamingData>` document.
pub fn render(data: &RoamingData) -> Bytes {
    let mut markup = Markup::with_capacity(1024);
    markup
        .start("roamingData")
        .attr("xmlns", namespace::ROAMING_SELF)
        .open();
    if let Some(entries) = &data.categories {
        categories::write_categories(&mut markup, &data.uri, entries);
    }
    if let Some(containers) = &data.containers {
        markup
            .start("containers")
            .attr("xmlns", namespace::CONTAINERS)
            .open();
        for container in containers {
            markup
                .start("container")
                .attr_display("id", container.id)
                .attr_display("version", container.version);
            if container.members.is_empty() {
                markup.empty();
                continue;
            }
            markup.open();
            for member in &container.members {
                markup
                    .start("member")
                    .attr("type", member.type_token())
                    .attr_opt("value", member.value())
                    .empty();
            }
            markup.end("container");
        }
        markup.end("containers");
    }
    if let Some(subscribers) = &data.subscribers {
        markup
            .start("subscribers")
            .attr("xmlns", namespace::PRESENCE_SUBSCRIBERS)
            .open();
        for subscriber in subscribers {
            markup
                .start("subscriber")
                .attr("user", &subscriber.user)
                .attr("displayName", &subscriber.display_name)
                .attr(
                    "acknowledged",
                    if subscriber.acknowledged {
                        "true"
                    } else {
                        "false"
                    },
                )
                .attr_opt(
                    "type",
                    subscriber.subscriber_type.map(SubscriberType::as_str),
                )
                .empty();
        }
        markup.end("subscribers");
    }
    markup.end("roamingData");
    Bytes::from(markup.finish())
}
