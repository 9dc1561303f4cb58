//! Access-level management by the presentity's own client:
//! `application/msrtc-setcontainermembers+xml` (who is in which container,
//! the `<setContainerMembers>` SIPE's `sipe-ocs2007.c` sends) and
//! `application/msrtc-presence-setsubscriber+xml` (acknowledging new
//! watchers, [MS-PRES] §4.8.1).
//!
//! ```xml
//! <setContainerMembers xmlns="http://schemas.microsoft.com/2006/09/sip/container-management">
//!   <container id="200" version="0"><member action="add" type="sameEnterprise"/></container>
//!   <container id="32000" version="3"><member action="add" type="user" value="eve@example.com"/></container>
//! </setContainerMembers>
//! ```

use super::read::{self, El, Ns};
use super::{namespace, MsrtcError};
use crate::XmlLimits;

/// The media type of a container membership change.
pub const SET_CONTAINER_MEMBERS_CONTENT_TYPE: &str = "application/msrtc-setcontainermembers+xml";

/// The media type of a subscriber acknowledgement.
pub const SET_SUBSCRIBERS_CONTENT_TYPE: &str = "application/msrtc-presence-setsubscriber+xml";

/// A container member: a membership scope of an access level (the `type`
/// tokens of the Lync schema's `member` element).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Member {
    /// One user, by URI (written without `sip:` by SIPE).
    User(String),
    /// Every user of a domain.
    Domain(String),
    /// Every user of the presentity's own enterprise.
    SameEnterprise,
    /// Users of federated enterprises.
    Federated,
    /// Users of public IM clouds.
    PublicCloud,
    /// Anyone.
    Everyone,
}

impl Member {
    /// The `type` token.
    pub fn type_token(&self) -> &'static str {
        match self {
            Member::User(_) => "user",
            Member::Domain(_) => "domain",
            Member::SameEnterprise => "sameEnterprise",
            Member::Federated => "federated",
            Member::PublicCloud => "publicCloud",
            Member::Everyone => "everyone",
        }
    }

    /// The `value`, for the scopes that have one.
    pub fn value(&self) -> Option<&str> {
        match self {
            Member::User(v) | Member::Domain(v) => Some(v),
            _ => None,
        }
    }

    /// Reads `type` and `value` from a `<member>` element.
    pub(crate) fn read(element: &El<'_>) -> Result<Member, MsrtcError> {
        let kind = read::required(element, "member", "type")?;
        let value = || read::required(element, "member", "value");
        Ok(match kind.as_str() {
            "user" => Member::User(value()?),
            "domain" => Member::Domain(value()?),
            "sameEnterprise" => Member::SameEnterprise,
            "federated" => Member::Federated,
            "publicCloud" => Member::PublicCloud,
            "everyone" => Member::Everyone,
            _ => {
                return Err(MsrtcError::InvalidAttribute {
                    element: "member",
                    attribute: "type",
                    value: kind,
                    position: element.position,
                })
            }
        })
    }
}

/// Whether a member is added to or removed from the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberAction {
    /// `action="add"`.
    Add,
    /// `action="remove"`.
    Remove,
}

/// One `<member action type value>` change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    /// Add or remove.
    pub action: MemberAction,
    /// Who.
    pub member: Member,
}

/// One `<container id version>` with its changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerChange {
    /// The container (access level): 100, 200, 300, 400, 32000, ….
    pub id: u32,
    /// The version the client last saw; stale is a 409 like publications.
    pub version: u32,
    /// The changes, in order.
    pub members: Vec<MemberChange>,
}

/// Reads a `<setContainerMembers>` body.
pub fn parse_set_container_members(
    bytes: &[u8],
    limits: &XmlLimits,
) -> Result<Vec<ContainerChange>, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::ContainerManagement,
            "setContainerMembers",
            namespace::CONTAINER_MANAGEMENT,
        )?;
        let mut containers = Vec::new();
        while let Some(child) = cursor.next_child(&root)? {
            if !read::is(&child, Ns::ContainerManagement, "container") {
                cursor.skip(&child)?;
                continue;
            }
            let mut container = ContainerChange {
                id: read::required_parsed(&child, "container", "id")?,
                version: read::required_parsed(&child, "container", "version")?,
                members: Vec::new(),
            };
            while let Some(member) = cursor.next_child(&child)? {
                if read::is(&member, Ns::ContainerManagement, "member") {
                    let action = read::required(&member, "member", "action")?;
                    let action = match action.as_str() {
                        "add" => MemberAction::Add,
                        "remove" => MemberAction::Remove,
                        _ => {
                            return Err(MsrtcError::InvalidAttribute {
                                element: "member",
                                attribute: "action",
                                value: action,
                                position: member.position,
                            })
                        }
                    };
                    container.members.push(MemberChange {
                        action,
                        member: Member::read(&member)?,
                    });
                }
                cursor.skip(&member)?;
            }
            containers.push(container);
        }
        Ok(containers)
    })
}

/// One `<subscriber user acknowledged>` of a `<setSubscribers>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriberAck {
    /// The watcher, without `sip:` as the roaming data listed it.
    pub user: String,
    /// Whether the presentity has now seen (acknowledged) this watcher.
    pub acknowledged: bool,
}

/// Reads a `<setSubscribers>` body.
pub fn parse_set_subscribers(
    bytes: &[u8],
    limits: &XmlLimits,
) -> Result<Vec<SubscriberAck>, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::PresenceSubscribers,
            "setSubscribers",
            namespace::PRESENCE_SUBSCRIBERS,
        )?;
        let mut acks = Vec::new();
        while let Some(child) = cursor.next_child(&root)? {
            if read::is(&child, Ns::PresenceSubscribers, "subscriber") {
                acks.push(SubscriberAck {
                    user: read::required(&child, "subscriber", "user")?,
                    acknowledged: read::boolean(&child, "subscriber", "acknowledged")?.ok_or(
                        MsrtcError::MissingAttribute {
                            element: "subscriber",
                            attribute: "acknowledged",
                            position: child.position,
                        },
                    )?,
                });
            }
            cursor.skip(&child)?;
        }
        Ok(acks)
    })
}
