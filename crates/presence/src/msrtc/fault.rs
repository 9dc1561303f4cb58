//! `application/msrtc-fault+xml`: why a SERVICE was refused, in the body
//! of its 409 (the shape of [MS-PRES]'s setDelegate 409 example, which
//! category publications share). SIPE's `process_send_presence_category_publish_response`
//! reads `Faultcode`, then `details/operation/@index` and `@curVersion`,
//! and republishes the publication at that index (counted from 1) with the
//! current version.
//!
//! ```xml
//! <Fault><Faultcode>Client.BadCall.WrongDelta</Faultcode>
//!   <details><operation index="1" version="0" curVersion="3"/></details></Fault>
//! ```
//!
//! The document has no namespace, as in [MS-PRES]'s example.

use bytes::Bytes;

use super::markup::Markup;

/// The media type of a fault body.
pub const CONTENT_TYPE: &str = "application/msrtc-fault+xml";

/// The fault code a stale version gets.
pub const WRONG_DELTA: &str = "Client.BadCall.WrongDelta";

/// One refused operation of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// Its position in the request, from 1 (the n-th `<publication>`, or
    /// the n-th `<container>` of a `setContainerMembers`).
    pub index: u32,
    /// The version the client sent.
    pub version: Option<u32>,
    /// The version the server holds: what the client must send instead.
    pub cur_version: u32,
}

/// A fault body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    /// `Faultcode`, such as [`WRONG_DELTA`].
    pub code: String,
    /// The operations it concerns.
    pub operations: Vec<Operation>,
}

impl Fault {
    /// The 409 for publications or container changes whose versions are
    /// stale.
    pub fn wrong_delta(operations: Vec<Operation>) -> Fault {
        Fault {
            code: WRONG_DELTA.to_owned(),
            operations,
        }
    }
}

/// Renders a fault body.
pub fn render(fault: &Fault) -> Bytes {
    let mut markup = Markup::with_capacity(128 + fault.operations.len() * 64);
    markup
        .start("Fault")
        .open()
        .leaf("Faultcode", &fault.code)
        .start("details")
        .open();
    for operation in &fault.operations {
        markup
            .start("operation")
            .attr_display("index", operation.index);
        if let Some(version) = operation.version {
            markup.attr_display("version", version);
        }
        markup
            .attr_display("curVersion", operation.cur_version)
            .empty();
    }
    markup.end("details").end("Fault");
    Bytes::from(markup.finish())
}
