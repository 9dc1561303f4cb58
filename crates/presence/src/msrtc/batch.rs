//! `application/msrtc-adrl-categorylist+xml`: the batched presence
//! SUBSCRIBE, one dialog for many contacts ([MS-PRES] §6.8 schema; SIPE's
//! `sipe-subscriptions.c` writes it).
//!
//! ```xml
//! <batchSub xmlns="http://schemas.microsoft.com/2006/01/sip/batch-subscribe"
//!           uri="sip:alice@example.com" name="">
//!   <action name="subscribe" id="63792024">
//!     <adhocList><resource uri="sip:bob@example.com"/></adhocList>
//!     <categoryList xmlns="http://schemas.microsoft.com/2006/09/sip/categorylist">
//!       <category name="state"/><category name="note"/>
//!     </categoryList>
//!   </action>
//! </batchSub>
//! ```

use super::read::{self, El, Ns, Reader};
use super::{namespace, MsrtcError};
use crate::XmlLimits;

/// The media type of a batched SUBSCRIBE body.
pub const CONTENT_TYPE: &str = "application/msrtc-adrl-categorylist+xml";

/// What an action does to the resources it lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// Start watching them (adds to the dialog's resources).
    Subscribe,
    /// Stop watching them.
    Unsubscribe,
}

/// One `<action>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Action {
    /// `name`.
    pub kind: ActionKind,
    /// `id`, opaque to the server (SIPE always sends 63792024).
    pub id: Option<String>,
    /// `adhocList/resource/@uri`, in document order.
    pub resources: Vec<String>,
    /// `categoryList/category/@name`: the categories the watcher wants.
    pub categories: Vec<String>,
}

/// A `<batchSub>` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchSubscribe {
    /// `uri`: the subscriber's own URI.
    pub uri: String,
    /// `name` (SIPE sends it empty).
    pub name: Option<String>,
    /// The actions, in order.
    pub actions: Vec<Action>,
}

/// Reads a batched SUBSCRIBE body.
pub fn parse(bytes: &[u8], limits: &XmlLimits) -> Result<BatchSubscribe, MsrtcError> {
    read::document(bytes, limits, |cursor| {
        let root = read::root(
            cursor,
            Ns::BatchSubscribe,
            "batchSub",
            namespace::BATCH_SUBSCRIBE,
        )?;
        let mut batch = BatchSubscribe {
            uri: read::required(&root, "batchSub", "uri")?,
            name: root.attribute(b"name")?,
            actions: Vec::new(),
        };
        while let Some(child) = cursor.next_child(&root)? {
            if read::is(&child, Ns::BatchSubscribe, "action") {
                batch.actions.push(action(cursor, child)?);
            } else {
                cursor.skip(&child)?;
            }
        }
        Ok(batch)
    })
}

fn action<'a>(cursor: &mut Reader<'a>, element: El<'a>) -> Result<Action, MsrtcError> {
    let name = read::required(&element, "action", "name")?;
    let kind = match name.as_str() {
        "subscribe" => ActionKind::Subscribe,
        "unsubscribe" => ActionKind::Unsubscribe,
        _ => {
            return Err(MsrtcError::InvalidAttribute {
                element: "action",
                attribute: "name",
                value: name,
                position: element.position,
            })
        }
    };
    let mut action = Action {
        kind,
        id: element.attribute(b"id")?,
        resources: Vec::new(),
        categories: Vec::new(),
    };
    while let Some(child) = cursor.next_child(&element)? {
        if read::is(&child, Ns::BatchSubscribe, "adhocList") {
            while let Some(resource) = cursor.next_child(&child)? {
                if read::is(&resource, Ns::BatchSubscribe, "resource") {
                    action
                        .resources
                        .push(read::required(&resource, "resource", "uri")?);
                }
                cursor.skip(&resource)?;
            }
        } else if read::is(&child, Ns::CategoryList, "categoryList") {
            while let Some(category) = cursor.next_child(&child)? {
                if read::is(&category, Ns::CategoryList, "category") {
                    action
                        .categories
                        .push(read::required(&category, "category", "name")?);
                }
                cursor.skip(&category)?;
            }
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(action)
}
