//! RFC 4826 resource-lists documents, as RFC 5367 carries them in the body
//! of a SUBSCRIBE (`Require: recipient-list-subscribe`, `Content-Disposition:
//! recipient-list`): the subscriber names the resources of an ad-hoc list
//! itself, as liblinphone's friend lists do when they have an RLS URI.
//!
//! Only what a list subscription needs is read: the `uri` of every
//! `<entry>`, in document order, through nested `<list>`s. `<entry-ref>`
//! and `<external>` point into an XCAP server, which this server does not
//! have; they are skipped, as are display names and extensions.

use crate::xml::{self, Cursor, Element, XmlError};
use crate::XmlLimits;

/// The media type of the body.
pub const CONTENT_TYPE: &str = "application/resource-lists+xml";

/// The namespace of RFC 4826 §3.2.
pub const NAMESPACE: &str = "urn:ietf:params:xml:ns:resource-lists";

/// Why a resource-lists body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResourceListsError {
    /// The XML itself, or a limit.
    #[error(transparent)]
    Xml(#[from] XmlError),
    /// The root is not `<resource-lists>` in RFC 4826's namespace.
    #[error("root element {found} at byte {position} is not resource-lists in {NAMESPACE}")]
    Root {
        /// The root's qualified name.
        found: String,
        /// Where it starts.
        position: u64,
    },
    /// An `<entry>` without its `uri`.
    #[error("entry without uri at byte {position}")]
    EntryWithoutUri {
        /// Where the entry starts.
        position: u64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ns {
    ResourceLists,
    Other,
}

fn classify(name: Option<&[u8]>) -> Ns {
    match name {
        Some(n) if n == NAMESPACE.as_bytes() => Ns::ResourceLists,
        _ => Ns::Other,
    }
}

fn is(element: &Element<'_, Ns>, name: &str) -> bool {
    element.ns == Ns::ResourceLists && element.local_name() == name.as_bytes()
}

/// The URIs of every `<entry>` of the document, in order, bounded by
/// `limits` like every XML body the server reads.
pub fn entries(bytes: &[u8], limits: &XmlLimits) -> Result<Vec<String>, ResourceListsError> {
    xml::document(bytes, limits, classify, |cursor| {
        let root = cursor.root()?;
        if !is(&root, "resource-lists") {
            return Err(ResourceListsError::Root {
                found: String::from_utf8_lossy(root.start.name().as_ref()).into_owned(),
                position: root.position,
            });
        }
        let mut uris = Vec::new();
        read_lists(cursor, &root, &mut uris)?;
        Ok(uris)
    })
}

/// The entries below `parent`: its `<list>` children, and their entries
/// and nested lists (the cursor bounds the depth).
fn read_lists<'a>(
    cursor: &mut Cursor<'a, Ns>,
    parent: &Element<'a, Ns>,
    uris: &mut Vec<String>,
) -> Result<(), ResourceListsError> {
    while let Some(child) = cursor.next_child(parent)? {
        if is(&child, "list") {
            read_lists(cursor, &child, uris)?;
        } else if is(&child, "entry") {
            let uri = child
                .attribute(b"uri")?
                .ok_or(ResourceListsError::EntryWithoutUri {
                    position: child.position,
                })?;
            uris.push(uri);
            cursor.skip(&child)?;
        } else {
            cursor.skip(&child)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liblinphone_friend_list() {
        // What Linphonec 5.1.65 sends to its RLS URI.
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:ietf:params:xml:ns:resource-lists">
 <list>
  <entry uri="sip:bob@127.0.0.1"/>
  <entry uri="sip:carol@127.0.0.1"/>
 </list>
</resource-lists>
"#;
        assert_eq!(
            entries(body, &XmlLimits::DEFAULT).unwrap(),
            ["sip:bob@127.0.0.1", "sip:carol@127.0.0.1"]
        );
    }

    #[test]
    fn rfc4826_nested_lists_and_references() {
        // RFC 4826 §3.3's example, trimmed: nested lists are flattened,
        // references into an XCAP server skipped.
        let body = br#"<?xml version="1.0" encoding="UTF-8"?>
<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists">
  <list name="friends">
    <entry uri="sip:bill@example.com"><display-name>Bill Doe</display-name></entry>
    <entry-ref ref="resource-lists/users/sip:bill@example.com/index/~~/resource-lists/list%5b@name=%22list1%22%5d/entry%5b@uri=%22sip:petri@example.com%22%5d"/>
    <list name="close-friends">
      <display-name>Close Friends</display-name>
      <entry uri="sip:joe@example.com"><display-name>Joe Smith</display-name></entry>
      <external anchor="http://xcap.example.org/resource-lists/users/sip:a@example.org/index/~~/resource-lists/list%5b@name=%22mkting%22%5d"/>
    </list>
  </list>
</resource-lists>"#;
        assert_eq!(
            entries(body, &XmlLimits::DEFAULT).unwrap(),
            ["sip:bill@example.com", "sip:joe@example.com"]
        );
    }

    #[test]
    fn refusals_name_what_is_wrong() {
        let wrong_root = br#"<list xmlns="urn:ietf:params:xml:ns:resource-lists"/>"#;
        assert!(matches!(
            entries(wrong_root, &XmlLimits::DEFAULT),
            Err(ResourceListsError::Root { .. })
        ));
        let no_uri = br#"<resource-lists xmlns="urn:ietf:params:xml:ns:resource-lists"><list><entry/></list></resource-lists>"#;
        assert_eq!(
            entries(no_uri, &XmlLimits::DEFAULT)
                .unwrap_err()
                .to_string(),
            "entry without uri at byte 68"
        );
        let doctype = b"<!DOCTYPE x [<!ENTITY a \"b\">]><resource-lists/>";
        assert!(matches!(
            entries(doctype, &XmlLimits::DEFAULT),
            Err(ResourceListsError::Xml(XmlError::Doctype { .. }))
        ));
    }
}
