//! RFC 4826 resource-lists bodies (the ad-hoc lists of RFC 5367 list
//! subscriptions): whatever arrives, the reader answers without
//! panicking; and the entries of any list written out, nested or not,
//! with any attribute text, read back in order.

use presence::resource_lists::{entries, NAMESPACE};
use presence::XmlLimits;
use proptest::prelude::*;

/// Escapes `text` for an attribute value.
fn attr(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('"', "&quot;")
}

/// A `<list>` of entries, each group of entries in a nested list of its
/// own when `nest` says so.
fn document(groups: &[Vec<String>], nest: &[bool]) -> String {
    let mut xml = format!("<?xml version=\"1.0\"?><resource-lists xmlns=\"{NAMESPACE}\"><list>");
    for (i, group) in groups.iter().enumerate() {
        let nested = nest.get(i).copied().unwrap_or(false);
        if nested {
            xml.push_str("<list name=\"n\"><display-name>x</display-name>");
        }
        for uri in group {
            xml.push_str(&format!("<entry uri=\"{}\"/>", attr(uri)));
        }
        if nested {
            xml.push_str("</list>");
        }
    }
    xml.push_str("</list></resource-lists>");
    xml
}

proptest! {
    #[test]
    fn any_bytes_are_answered(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = entries(&bytes, &XmlLimits::DEFAULT);
    }

    #[test]
    fn entries_read_back_in_order(
        groups in proptest::collection::vec(
            proptest::collection::vec("[a-z0-9:@.;=&<\"' -]{1,24}", 0..5),
            0..5,
        ),
        nest in proptest::collection::vec(any::<bool>(), 0..5),
    ) {
        let xml = document(&groups, &nest);
        let read = entries(xml.as_bytes(), &XmlLimits::DEFAULT).expect("reads");
        let written: Vec<String> = groups.into_iter().flatten().collect();
        prop_assert_eq!(read, written);
    }
}
