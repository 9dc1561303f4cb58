//! The namespace scopes of the document being read: quick-xml's
//! `NamespaceResolver`, driven the way its `NsReader` drives it (a scope
//! pushed for every start tag, popped just before the event after its end),
//! but kept per thread from one document to the next.
//!
//! A fresh resolver allocates its tables for every document and grows them
//! again for the first declarations; a PUBLISH body is small enough that
//! this was a tenth of reading it. Between documents the kept resolver is
//! reset to its initial scope (only the reserved `xml` and `xmlns`
//! bindings), so no binding of one document is ever seen by the next.

use std::cell::Cell;

use quick_xml::events::Event;
use quick_xml::name::NamespaceResolver;

/// Most namespace declarations one start tag may carry. Each makes every
/// later name lookup longer; PIDF roots declare a handful, so 64 is
/// generous and bounds lookups to 64 × the depth limit bindings.
const MAX_DECLARATIONS_PER_ELEMENT: usize = 64;

thread_local! {
    /// The resolver of the last document read on this thread, reset.
    static SPARE: Cell<Option<NamespaceResolver>> = const { Cell::new(None) };
}

/// The bindings in scope at the current event.
pub(crate) struct Namespaces {
    /// Given back to the thread's spare on drop; `None` only then. (Taking
    /// it with `mem::take` left a `NamespaceResolver::default()` behind,
    /// which allocates its two reserved bindings: two allocations and two
    /// frees for every document read.)
    resolver: Option<NamespaceResolver>,
    /// The last event was an end tag or an empty element: its scope ends
    /// before the next event is read (not at once, so that the names of
    /// the element just closed still resolve, as `capture` needs).
    pending_pop: bool,
}

impl Namespaces {
    /// The initial scope, reusing this thread's kept resolver if there is
    /// one (a document read inside another gets a fresh one).
    pub(crate) fn new() -> Self {
        let resolver = SPARE.take().unwrap_or_else(|| {
            let mut resolver = NamespaceResolver::default();
            resolver.set_max_declarations_per_element(MAX_DECLARATIONS_PER_ELEMENT);
            resolver
        });
        Namespaces {
            resolver: Some(resolver),
            pending_pop: false,
        }
    }

    /// Before reading an event: ends the scope of the element that closed.
    pub(crate) fn before_event(&mut self) {
        if std::mem::take(&mut self.pending_pop) {
            if let Some(resolver) = self.resolver.as_mut() {
                resolver.pop();
            }
        }
    }

    /// After reading `event`: opens the scope of a start tag (its
    /// declarations), or marks the scope to end before the next event.
    pub(crate) fn after_event(&mut self, event: &Event<'_>) -> Result<(), quick_xml::Error> {
        let Some(resolver) = self.resolver.as_mut() else {
            return Ok(());
        };
        match event {
            Event::Start(start) => resolver.push(start)?,
            Event::Empty(start) => {
                resolver.push(start)?;
                self.pending_pop = true;
            }
            Event::End(_) => self.pending_pop = true,
            _ => {}
        }
        Ok(())
    }

    /// The bindings in scope.
    pub(crate) fn resolver(&self) -> &NamespaceResolver {
        self.resolver
            .as_ref()
            .expect("the resolver is only taken when the scopes are dropped")
    }
}

impl Drop for Namespaces {
    fn drop(&mut self) {
        if let Some(mut resolver) = self.resolver.take() {
            resolver.set_level(0);
            SPARE.set(Some(resolver));
        }
    }
}

#[cfg(test)]
mod tests {
    use quick_xml::name::{QName, ResolveResult};
    use quick_xml::Reader;

    use super::*;

    fn read_all(xml: &str, namespaces: &mut Namespaces) {
        let mut reader = Reader::from_str(xml);
        loop {
            namespaces.before_event();
            let event = reader.read_event().unwrap();
            if matches!(event, Event::Eof) {
                return;
            }
            namespaces.after_event(&event).unwrap();
        }
    }

    fn resolves(namespaces: &Namespaces, qname: &str) -> Option<Vec<u8>> {
        match namespaces
            .resolver()
            .resolve_element(QName(qname.as_bytes()))
            .0
        {
            ResolveResult::Bound(ns) => Some(ns.0.to_vec()),
            _ => None,
        }
    }

    #[test]
    fn a_kept_resolver_starts_the_next_document_with_no_bindings() {
        {
            let mut first = Namespaces::new();
            // The document ends inside no element, but a cut document
            // (refused midway) leaves scopes open: both must be reset.
            read_all(
                r#"<a xmlns="urn:a" xmlns:p="urn:p"><b xmlns:q="urn:q">"#,
                &mut first,
            );
            assert_eq!(resolves(&first, "q:x").as_deref(), Some(&b"urn:q"[..]));
        }
        let second = Namespaces::new();
        assert_eq!(resolves(&second, "x"), None);
        assert_eq!(resolves(&second, "p:x"), None);
        assert_eq!(resolves(&second, "q:x"), None);
        assert_eq!(
            resolves(&second, "xml:x").as_deref(),
            Some(&b"http://www.w3.org/XML/1998/namespace"[..])
        );
        assert_eq!(second.resolver().level(), 0);
    }

    #[test]
    fn a_closed_element_s_names_resolve_until_the_next_event() {
        let mut namespaces = Namespaces::new();
        let mut reader = Reader::from_str(r#"<a xmlns:p="urn:p"/>"#);
        namespaces.before_event();
        let event = reader.read_event().unwrap();
        namespaces.after_event(&event).unwrap();
        assert_eq!(resolves(&namespaces, "p:x").as_deref(), Some(&b"urn:p"[..]));
        namespaces.before_event();
        assert_eq!(resolves(&namespaces, "p:x"), None);
    }

    #[test]
    fn too_many_declarations_on_one_tag_are_refused() {
        let attrs: String = (0..=MAX_DECLARATIONS_PER_ELEMENT)
            .map(|i| format!(r#" xmlns:p{i}="urn:{i}""#))
            .collect();
        let xml = format!("<a{attrs}/>");
        let mut reader = Reader::from_str(&xml);
        let mut namespaces = Namespaces::new();
        let event = reader.read_event().unwrap();
        assert!(namespaces.after_event(&event).is_err());
    }
}
