//! In-band provisioning (`Event: vnd-microsoft-provisioning-v2`, one-shot
//! with `Expires: 0`): the groups a client asks for and the settings the
//! server returns ([MS-SIPREGE] §2.2.2.5 data model; SIPE's
//! `sipe_process_provisioning_v2` reads them).
//!
//! SIPE asks for `ServerConfiguration`, `meetingPolicy`,
//! `persistentChatConfiguration` and `ucPolicy`, and reads:
//! - from `ServerConfiguration`, child elements by name (`focusFactoryUri`,
//!   `absInternalServerUrl`, `dlxInternalUrl`, `mrasUri`, …);
//! - from `persistentChatConfiguration`, `propertyEntryList/property` with
//!   `name` and text.
//!
//! The answer's root and the shapes of its groups follow [MS-SIPREGE]
//! §2.2.2.5 and its example §4.2.2.
//!
//! A group without settings is still returned, so the client sees every
//! group it asked for answered.

use bytes::Bytes;

use super::markup::Markup;
use super::read::{self, Ns};
use super::{namespace, MsrtcError};
use crate::xml::escape::is_ncname;
use crate::XmlLimits;

/// The media type of the request and of the answer.
pub const CONTENT_TYPE: &str = "application/vnd-microsoft-roaming-provisioning-v2+xml";

/// The group SIPE takes server URLs from.
pub const SERVER_CONFIGURATION: &str = "ServerConfiguration";
/// The meeting policy group.
pub const MEETING_POLICY: &str = "meetingPolicy";
/// The persistent chat group (`EnablePersistentChat`,
/// `DefaultPersistentChatPoolUri`).
pub const PERSISTENT_CHAT_CONFIGURATION: &str = "persistentChatConfiguration";
/// The unified communications policy group.
pub const UC_POLICY: &str = "ucPolicy";

/// Reads a `<provisioningGroupList>` request: the group names asked for.
pub fn parse_request(bytes: &[u8], limits: &XmlLimits) -> Result<Vec<String>, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::ProvisioningGroupList,
            "provisioningGroupList",
            namespace::PROVISIONING_GROUP_LIST,
        )?;
        let mut names = Vec::new();
        while let Some(child) = cursor.next_child(&root)? {
            if read::is(&child, Ns::ProvisioningGroupList, "provisioningGroup") {
                names.push(read::required(&child, "provisioningGroup", "name")?);
            }
            cursor.skip(&child)?;
        }
        Ok(names)
    })
}

/// One `<provisionGroup>` of the answer. The groups come in three shapes
/// ([MS-SIPREGE] §2.2.2.5), and each is written in its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProvisionGroup {
    /// `ServerConfiguration`: each setting is a child element named after
    /// it (names that are not XML names are left out).
    ServerConfiguration(Vec<(String, String)>),
    /// `meetingPolicy` and `ucPolicy` (§2.2.2.5.2, §2.2.2.5.3):
    /// `<instance><property name>value</property></instance>`.
    Instance {
        /// The group name.
        name: String,
        /// Its properties (the schema asks for at least one).
        properties: Vec<(String, String)>,
    },
    /// `persistentChatConfiguration`, `endpointConfiguration`,
    /// `presencePolicyV2` (§2.2.2.5.9, §4.2.2):
    /// `<propertyEntryList><property name>value</property></propertyEntryList>`.
    PropertyEntryList {
        /// The group name.
        name: String,
        /// Its properties.
        properties: Vec<(String, String)>,
    },
}

impl ProvisionGroup {
    /// The group for `name` in its shape, with no settings: the answer for
    /// a group the server has nothing to say about, so the client still
    /// sees every group it asked for answered.
    pub fn empty(name: &str) -> ProvisionGroup {
        match name {
            SERVER_CONFIGURATION => ProvisionGroup::ServerConfiguration(Vec::new()),
            MEETING_POLICY | UC_POLICY => ProvisionGroup::Instance {
                name: name.to_owned(),
                properties: Vec::new(),
            },
            _ => ProvisionGroup::PropertyEntryList {
                name: name.to_owned(),
                properties: Vec::new(),
            },
        }
    }
}

/// Renders a `<provisionGroupList>` answer.
pub fn render(groups: &[ProvisionGroup]) -> Bytes {
    let mut markup = Markup::with_capacity(512);
    markup
        .start("provisionGroupList")
        .attr("xmlns", namespace::PROVISION_GROUP_LIST_NOTIFICATION)
        .open();
    for group in groups {
        match group {
            ProvisionGroup::ServerConfiguration(settings) => {
                markup
                    .start("provisionGroup")
                    .attr("name", SERVER_CONFIGURATION)
                    .open();
                for (name, value) in settings.iter().filter(|(n, _)| is_ncname(n)) {
                    markup.leaf(name, value);
                }
            }
            ProvisionGroup::Instance { name, properties } => {
                markup.start("provisionGroup").attr("name", name).open();
                write_properties(&mut markup, "instance", properties);
            }
            ProvisionGroup::PropertyEntryList { name, properties } => {
                markup.start("provisionGroup").attr("name", name).open();
                write_properties(&mut markup, "propertyEntryList", properties);
            }
        }
        markup.end("provisionGroup");
    }
    markup.end("provisionGroupList");
    Bytes::from(markup.finish())
}

fn write_properties(markup: &mut Markup, wrapper: &str, properties: &[(String, String)]) {
    markup.start(wrapper).open();
    for (name, value) in properties {
        markup
            .start("property")
            .attr("name", name)
            .open()
            .text(value)
            .end("property");
    }
    markup.end(wrapper);
}
