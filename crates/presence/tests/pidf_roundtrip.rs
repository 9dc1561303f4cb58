//! Property: `parse(render(doc)) == doc` for generated documents, with text
//! full of markup characters, whitespace controls and non-ASCII, every
//! optional part present or absent, and extensions of several shapes.

use presence::pidf;
use presence::XmlLimits;
use proptest::collection::vec;
use proptest::prelude::*;

mod pidf_strategy;
use pidf_strategy::document;

proptest! {
    #[test]
    fn parse_inverts_render(doc in document()) {
        let rendered = pidf::render(&doc);
        let parsed = pidf::parse(rendered.as_bytes(), &XmlLimits::DEFAULT);
        prop_assert!(parsed.is_ok(), "{:?}\n{}", parsed, rendered);
        prop_assert_eq!(parsed.unwrap(), doc, "{}", rendered);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..512)) {
        let _ = pidf::parse(&bytes, &XmlLimits::DEFAULT);
    }

    #[test]
    fn mangled_documents_never_panic(doc in document(), cut in 0usize..4096, byte in any::<u8>()) {
        let mut bytes = pidf::render(&doc).into_bytes();
        if !bytes.is_empty() {
            let at = cut % bytes.len();
            bytes[at] = byte;
            let _ = pidf::parse(&bytes, &XmlLimits::DEFAULT);
            bytes.truncate(at);
            let _ = pidf::parse(&bytes, &XmlLimits::DEFAULT);
        }
    }
}
