//! Elements the model does not interpret, kept verbatim.
//!
//! PIDF is extensible by design (RFC 3863 §4.1: "elements from other
//! namespaces MAY be present"), and clients use that: pjsua, Microsoft's
//! clients, CIPID (RFC 4482), geolocation (RFC 4119). The server is not the
//! consumer of most of it, the watchers are, so whatever is not understood
//! is carried through untouched rather than dropped.

use crate::xml::{Cursor, XmlError};
use crate::XmlLimits;

/// One foreign element and everything inside it, as a self-contained XML
/// fragment: every namespace prefix it uses is declared on its own start
/// tag, so it can be written into any document and still mean the same.
///
/// Built only by the parser or by [`Extension::parse`], so the text is
/// always a well-formed element and can be written out raw.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Extension {
    namespace: String,
    local_name: String,
    xml: String,
}

impl Extension {
    /// Reads a fragment (one element with its content) written by hand or
    /// by another codec. Prefixes must be declared inside it; an unprefixed
    /// element without an `xmlns` gets `xmlns=""` so that it stays in no
    /// namespace when written into a PIDF document, whose default namespace
    /// is PIDF's.
    pub fn parse(fragment: &str) -> Result<Extension, XmlError> {
        let mut cursor = Cursor::new(fragment, 0, XmlLimits::DEFAULT, |_| ());
        let root = cursor.root()?;
        let extension = cursor.capture(root)?;
        cursor.finish()?;
        Ok(extension)
    }

    pub(crate) fn from_parts(namespace: String, local_name: String, xml: String) -> Self {
        Extension {
            namespace,
            local_name,
            xml,
        }
    }

    /// The namespace of the element (empty for no namespace); what a later
    /// layer matches on to find, say, a Microsoft extension.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The local name of the element.
    pub fn local_name(&self) -> &str {
        &self.local_name
    }

    /// The fragment's XML text, as written into documents.
    pub fn as_str(&self) -> &str {
        &self.xml
    }
}

#[cfg(test)]
mod tests {
    use super::Extension;
    use crate::xml::XmlError;

    #[test]
    fn self_contained_fragment_is_kept_as_is() {
        let xml =
            r#"<ex:location xmlns:ex="urn:example:ext" kind="home">at &amp; home</ex:location>"#;
        let ext = Extension::parse(xml).unwrap();
        assert_eq!(ext.as_str(), xml);
        assert_eq!(ext.namespace(), "urn:example:ext");
        assert_eq!(ext.local_name(), "location");
    }

    #[test]
    fn unprefixed_fragment_without_namespace_stays_in_none() {
        let ext = Extension::parse("<flag/>").unwrap();
        assert_eq!(ext.as_str(), r#"<flag xmlns=""/>"#);
        assert_eq!(ext.namespace(), "");
    }

    #[test]
    fn undeclared_prefix_is_refused() {
        assert!(matches!(
            Extension::parse("<ex:a/>"),
            Err(XmlError::UnboundPrefix { prefix, .. }) if prefix == "ex"
        ));
        assert!(matches!(
            Extension::parse(r#"<a xmlns="urn:x"><b ex:c="1"/></a>"#),
            Err(XmlError::UnboundPrefix { .. })
        ));
    }

    #[test]
    fn more_than_one_element_is_refused() {
        assert!(matches!(
            Extension::parse(r#"<a xmlns="urn:x"/><b xmlns="urn:x"/>"#),
            Err(XmlError::TrailingContent { .. })
        ));
    }
}
