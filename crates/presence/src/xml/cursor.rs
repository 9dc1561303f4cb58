//! A bounded, namespace-aware pull reader: quick-xml's `Reader` with the
//! namespace scopes of [`Namespaces`], plus the limits and refusals a
//! server facing the internet needs.
//!
//! Every event goes through [`Cursor::event`], which is where the limits of
//! [`XmlLimits`] are enforced and a DOCTYPE is refused, so no reading path
//! (structured elements, skipped elements, captured extensions) can bypass
//! them.

use std::borrow::Cow;

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesRef, BytesStart, BytesText, Event};
use quick_xml::name::{PrefixDeclaration, QName, ResolveResult};
use quick_xml::{Reader, XmlVersion};

use super::escape::{is_ncname, is_xml_char};
use super::namespaces::Namespaces;
use super::XmlError;
use crate::extension::Extension;
use crate::XmlLimits;

/// An element just opened, with its namespace already classified by the
/// codec's `classify` function (`K` is the codec's namespace enum).
pub(crate) struct Element<'a, K> {
    /// The start tag, borrowed from the input.
    pub(crate) start: BytesStart<'a>,
    /// The element's namespace as the codec classified it.
    pub(crate) ns: K,
    /// `<x/>`: there is no content and no end tag to read.
    pub(crate) empty: bool,
    /// Byte offset of the `<`, counted from the start of the body.
    pub(crate) position: u64,
}

impl<K> Element<'_, K> {
    /// The local name (without prefix).
    pub(crate) fn local_name(&self) -> &[u8] {
        self.start.local_name().into_inner()
    }

    /// The value of the attribute whose qualified name is `name` (PIDF's
    /// attributes are unprefixed, except `xml:lang`), unescaped and
    /// normalised as XML 1.0 §3.3.3 says.
    pub(crate) fn attribute(&self, name: &[u8]) -> Result<Option<String>, XmlError> {
        for attribute in self.start.attributes() {
            let attribute = attribute.map_err(|e| self.malformed(e))?;
            if attribute.key.as_ref() == name {
                let value = attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|e| self.malformed(e))?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    fn malformed(&self, e: impl std::fmt::Display) -> XmlError {
        XmlError::Malformed {
            position: self.position,
            reason: e.to_string(),
        }
    }
}

/// What [`Cursor::next_node`] found.
pub(crate) enum Node<'a, K> {
    /// A child element opened.
    Element(Element<'a, K>),
    /// A run of character data (text, CDATA, or one resolved reference).
    Text(Cow<'a, str>),
    /// The current element closed.
    End,
}

/// The reader state: quick-xml's reader, the input, and the counters the
/// limits are checked against.
pub(crate) struct Cursor<'a, K> {
    reader: Reader<&'a [u8]>,
    namespaces: Namespaces,
    input: &'a str,
    /// Bytes dropped before `input` (a BOM), added to every offset.
    base: u64,
    limits: XmlLimits,
    classify: fn(Option<&[u8]>) -> K,
    depth: usize,
    elements: usize,
}

impl<'a, K> Cursor<'a, K> {
    /// A cursor over `input` (already decoded to UTF-8, see
    /// [`super::decode`]); `classify` maps a namespace name (`None`: no
    /// namespace) to the codec's own enum.
    pub(crate) fn new(
        input: &'a str,
        base: u64,
        limits: XmlLimits,
        classify: fn(Option<&[u8]>) -> K,
    ) -> Self {
        let mut reader = Reader::from_str(input);
        // pjsua 2.15 writes notes without escaping them ("Lunch & Learn").
        // A lone `&` that starts no reference can only mean itself, so it is
        // read as text instead of failing the whole PUBLISH; it is escaped
        // again whenever the text is written out.
        reader.config_mut().allow_dangling_amp = true;
        Cursor {
            reader,
            namespaces: Namespaces::new(),
            input,
            base,
            limits,
            classify,
            depth: 0,
            elements: 0,
        }
    }

    /// The next raw event, after the limits and refusals.
    fn event(&mut self) -> Result<(u64, Event<'a>), XmlError> {
        let position = self.base + self.reader.buffer_position();
        self.namespaces.before_event();
        let event = self.reader.read_event().map_err(|e| XmlError::Malformed {
            position: match self.reader.error_position() {
                0 => position,
                at => self.base + at,
            },
            reason: e.to_string(),
        })?;
        // A bad declaration is reported at the start of its tag.
        self.namespaces
            .after_event(&event)
            .map_err(|e| XmlError::Malformed {
                position,
                reason: e.to_string(),
            })?;
        match &event {
            Event::DocType(_) => return Err(XmlError::Doctype { position }),
            Event::Start(_) | Event::Empty(_) => {
                self.elements += 1;
                if self.elements > self.limits.max_elements {
                    return Err(XmlError::TooManyElements {
                        limit: self.limits.max_elements,
                        position,
                    });
                }
                if self.depth >= self.limits.max_depth {
                    return Err(XmlError::TooDeep {
                        limit: self.limits.max_depth,
                        position,
                    });
                }
                if matches!(event, Event::Start(_)) {
                    self.depth += 1;
                }
            }
            Event::End(_) => self.depth = self.depth.saturating_sub(1),
            _ => {}
        }
        Ok((position, event))
    }

    fn element(
        &self,
        start: BytesStart<'a>,
        empty: bool,
        position: u64,
    ) -> Result<Element<'a, K>, XmlError> {
        let ns = match self.namespaces.resolver().resolve_element(start.name()).0 {
            ResolveResult::Bound(ns) => (self.classify)(Some(ns.0)),
            ResolveResult::Unbound => (self.classify)(None),
            ResolveResult::Unknown(prefix) => return Err(unbound(&prefix, position)),
        };
        Ok(Element {
            start,
            ns,
            empty,
            position,
        })
    }

    /// The root element, skipping the XML declaration, comments and
    /// processing instructions before it.
    pub(crate) fn root(&mut self) -> Result<Element<'a, K>, XmlError> {
        loop {
            let (position, event) = self.event()?;
            match event {
                Event::Start(start) => return self.element(start, false, position),
                Event::Empty(start) => return self.element(start, true, position),
                Event::Text(text) if is_blank(&text) => {}
                Event::Decl(_) | Event::Comment(_) | Event::PI(_) => {}
                Event::Eof => return Err(XmlError::NoRoot),
                _ => {
                    return Err(XmlError::Malformed {
                        position,
                        reason: "content before the root element".into(),
                    })
                }
            }
        }
    }

    /// Checks that nothing but comments and whitespace follows the root.
    pub(crate) fn finish(&mut self) -> Result<(), XmlError> {
        loop {
            let (position, event) = self.event()?;
            match event {
                Event::Eof => return Ok(()),
                Event::Text(text) if is_blank(&text) => {}
                Event::Comment(_) | Event::PI(_) => {}
                _ => return Err(XmlError::TrailingContent { position }),
            }
        }
    }

    /// The next child element, text run, or the end of the current element.
    pub(crate) fn next_node(&mut self) -> Result<Node<'a, K>, XmlError> {
        loop {
            let (position, event) = self.event()?;
            return Ok(match event {
                Event::Start(start) => Node::Element(self.element(start, false, position)?),
                Event::Empty(start) => Node::Element(self.element(start, true, position)?),
                Event::End(_) => Node::End,
                Event::Text(text) => {
                    Node::Text(text.xml10_content().map_err(|e| XmlError::Malformed {
                        position,
                        reason: e.to_string(),
                    })?)
                }
                Event::CData(data) => {
                    Node::Text(data.xml10_content().map_err(|e| XmlError::Malformed {
                        position,
                        reason: e.to_string(),
                    })?)
                }
                Event::GeneralRef(reference) => {
                    let mut text = String::new();
                    push_reference(&mut text, &reference, position)?;
                    Node::Text(Cow::Owned(text))
                }
                Event::Eof => return Err(XmlError::UnexpectedEof { position }),
                Event::Comment(_) | Event::PI(_) | Event::Decl(_) | Event::DocType(_) => continue,
            });
        }
    }

    /// The next child element of `parent`, or `None` once `parent` has
    /// closed. Text between child elements (indentation) is ignored.
    pub(crate) fn next_child(
        &mut self,
        parent: &Element<'a, K>,
    ) -> Result<Option<Element<'a, K>>, XmlError> {
        if parent.empty {
            return Ok(None);
        }
        loop {
            match self.next_node()? {
                Node::Element(child) => return Ok(Some(child)),
                Node::End => return Ok(None),
                Node::Text(_) => {}
            }
        }
    }

    /// The character data of `element`, reading up to its end tag. Child
    /// elements inside (not expected in PIDF's text elements) are skipped.
    pub(crate) fn text(&mut self, element: &Element<'a, K>) -> Result<String, XmlError> {
        self.text_borrowed(element).map(Cow::into_owned)
    }

    /// [`Cursor::text`], borrowed from the input when the content is one
    /// run without references (the usual case), so that a value only
    /// compared or trimmed costs no allocation.
    pub(crate) fn text_borrowed(
        &mut self,
        element: &Element<'a, K>,
    ) -> Result<Cow<'a, str>, XmlError> {
        let mut out = Cow::Borrowed("");
        if element.empty {
            return Ok(out);
        }
        loop {
            match self.next_node()? {
                Node::Text(text) if out.is_empty() => out = text,
                Node::Text(text) => out.to_mut().push_str(&text),
                Node::Element(child) => self.skip(&child)?,
                Node::End => return Ok(out),
            }
        }
    }

    /// The value of the attribute `local` in namespace `ns` on `element`
    /// (such as `xsi:type`), whatever prefix the document bound to it;
    /// `element` must be the element this cursor returned last, so that
    /// its declarations are the ones in scope.
    pub(crate) fn attribute_in(
        &self,
        element: &Element<'a, K>,
        ns: &[u8],
        local: &[u8],
    ) -> Result<Option<String>, XmlError> {
        for attribute in element.start.attributes() {
            let attribute = attribute.map_err(|e| element.malformed(e))?;
            if attribute.key.as_namespace_binding().is_some() {
                continue;
            }
            let (resolved, name) = self.namespaces.resolver().resolve_attribute(attribute.key);
            if matches!(resolved, ResolveResult::Bound(bound) if bound.0 == ns)
                && name.into_inner() == local
            {
                let value = attribute
                    .normalized_value(XmlVersion::Implicit1_0)
                    .map_err(|e| element.malformed(e))?;
                return Ok(Some(value.into_owned()));
            }
        }
        Ok(None)
    }

    /// Reads past the end of `element`, discarding it (still within limits).
    pub(crate) fn skip(&mut self, element: &Element<'a, K>) -> Result<(), XmlError> {
        let mut open = usize::from(!element.empty);
        while open > 0 {
            match self.next_node()? {
                Node::Element(child) if !child.empty => open += 1,
                Node::End => open -= 1,
                Node::Element(_) | Node::Text(_) => {}
            }
        }
        Ok(())
    }

    /// Reads `root` and everything inside it as an [`Extension`]: the raw
    /// text of the subtree, with namespace declarations added to its start
    /// tag for every prefix it uses that was declared outside it, so that
    /// the fragment means the same thing wherever it is written again.
    pub(crate) fn capture(&mut self, root: Element<'a, K>) -> Result<Extension, XmlError> {
        let namespace = match self
            .namespaces
            .resolver()
            .resolve_element(root.start.name())
            .0
        {
            ResolveResult::Bound(ns) => String::from_utf8_lossy(ns.0).into_owned(),
            _ => String::new(),
        };
        let mut used = Vec::new();
        note_prefixes(&root, &mut used)?;
        // Offsets (into `input`) of lone `&`s, escaped in the copy below.
        let mut dangling = Vec::new();
        let mut open = usize::from(!root.empty);
        while open > 0 {
            let (position, event) = self.event()?;
            match event {
                Event::Start(start) => {
                    self.note_descendant(start, position, &mut used)?;
                    open += 1;
                }
                Event::Empty(start) => self.note_descendant(start, position, &mut used)?,
                Event::End(_) => open -= 1,
                Event::Text(text) => {
                    let at = (position - self.base) as usize;
                    let amps = text.iter().enumerate().filter(|(_, b)| **b == b'&');
                    dangling.extend(amps.map(|(i, _)| at + i));
                }
                Event::GeneralRef(reference) => {
                    push_reference(&mut String::new(), &reference, position)?
                }
                Event::Eof => return Err(XmlError::UnexpectedEof { position }),
                _ => {}
            }
        }
        let start = (root.position - self.base) as usize;
        let end = self.reader.buffer_position() as usize;
        let name_end = start + 1 + root.start.name().as_ref().len();
        let (Some(head), Some(tail)) = (
            self.input.get(start..name_end),
            self.input.get(name_end..end),
        ) else {
            return Err(XmlError::Malformed {
                position: root.position,
                reason: "extension element is not on character boundaries".into(),
            });
        };
        let on_root = declared_on(&root)?;
        let mut xml = String::with_capacity(end - start + 64);
        xml.push_str(head);
        // The root's End (or Empty) was the last event read, so the
        // resolver is back in the root's scope: the bindings in force where
        // the fragment was written. (Resolving only the used prefixes here
        // keeps this linear; listing every binding in scope is quadratic.)
        for prefix in used
            .iter()
            .filter(|p| !on_root.contains(p) && !is_reserved(p))
        {
            let qname = match prefix {
                Some(p) => [p.as_slice(), b":_"].concat(),
                None => b"_".to_vec(),
            };
            match self.namespaces.resolver().resolve_element(QName(&qname)).0 {
                ResolveResult::Bound(ns) => push_declaration(&mut xml, prefix.as_deref(), ns.0),
                ResolveResult::Unbound => xml.push_str(" xmlns=\"\""),
                // Declared inside the fragment itself (checked where used).
                ResolveResult::Unknown(_) => {}
            }
        }
        push_escaping_amps(&mut xml, tail, name_end, &dangling);
        let local_name = String::from_utf8_lossy(root.local_name()).into_owned();
        Ok(Extension::from_parts(namespace, local_name, xml))
    }

    /// Checks that an element inside a captured extension uses only bound
    /// prefixes, and records them.
    fn note_descendant(
        &self,
        start: BytesStart<'a>,
        position: u64,
        used: &mut Vec<Option<Vec<u8>>>,
    ) -> Result<(), XmlError> {
        let element = self.element(start, false, position)?;
        for attribute in element.start.attributes() {
            let attribute = attribute.map_err(|e| element.malformed(e))?;
            if attribute.key.as_namespace_binding().is_some() {
                continue;
            }
            let resolved = self
                .namespaces
                .resolver()
                .resolve_attribute(attribute.key)
                .0;
            if let ResolveResult::Unknown(prefix) = resolved {
                return Err(unbound(&prefix, element.position));
            }
        }
        note_prefixes(&element, used)
    }
}

fn unbound(prefix: &[u8], position: u64) -> XmlError {
    XmlError::UnboundPrefix {
        prefix: String::from_utf8_lossy(prefix).into_owned(),
        position,
    }
}

fn is_blank(text: &BytesText<'_>) -> bool {
    text.iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Resolves `&...;` into `out`: a character reference to an XML character,
/// or one of the five predefined entities; nothing else exists without a
/// DTD.
fn push_reference(
    out: &mut String,
    reference: &BytesRef<'_>,
    position: u64,
) -> Result<(), XmlError> {
    if reference.is_char_ref() {
        return match reference.resolve_char_ref() {
            Ok(Some(c)) if is_xml_char(c) => {
                out.push(c);
                Ok(())
            }
            _ => Err(XmlError::ForbiddenCharacter { position }),
        };
    }
    let name = reference.decode().map_err(|e| XmlError::Malformed {
        position,
        reason: e.to_string(),
    })?;
    match resolve_predefined_entity(&name) {
        Some(text) => {
            out.push_str(text);
            Ok(())
        }
        None => Err(XmlError::UnknownEntity {
            name: name.into_owned(),
            position,
        }),
    }
}

fn declared_prefix(declaration: PrefixDeclaration<'_>) -> Option<Vec<u8>> {
    match declaration {
        PrefixDeclaration::Default => None,
        PrefixDeclaration::Named(prefix) => Some(prefix.to_vec()),
    }
}

/// The prefixes (`None`: the default namespace) declared on `element`'s own
/// start tag.
fn declared_on<K>(element: &Element<'_, K>) -> Result<Vec<Option<Vec<u8>>>, XmlError> {
    let mut declared = Vec::new();
    for attribute in element.start.attributes() {
        let attribute = attribute.map_err(|e| element.malformed(e))?;
        if let Some(declaration) = attribute.key.as_namespace_binding() {
            declared.push(declared_prefix(declaration));
        }
    }
    Ok(declared)
}

/// Records the prefixes `start` depends on: its own (or the default
/// namespace), its attributes', and any `prefix:` at the start of an
/// attribute value, since values such as `xsi:type="ms:aggregateState"`
/// name types by QName and need the binding too.
fn note_prefixes<K>(
    element: &Element<'_, K>,
    used: &mut Vec<Option<Vec<u8>>>,
) -> Result<(), XmlError> {
    let start = &element.start;
    let mut add = |prefix: Option<&[u8]>| {
        if !used.iter().any(|p| p.as_deref() == prefix) {
            used.push(prefix.map(<[u8]>::to_vec));
        }
    };
    add(start.name().prefix().map(|p| p.into_inner()));
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| element.malformed(e))?;
        if attribute.key.as_namespace_binding().is_some() {
            continue;
        }
        if let Some(prefix) = attribute.key.prefix() {
            add(Some(prefix.into_inner()));
        }
        if let Some(prefix) = qname_prefix(&attribute.value) {
            add(Some(prefix));
        }
    }
    Ok(())
}

fn qname_prefix(value: &[u8]) -> Option<&[u8]> {
    let colon = value.iter().position(|&b| b == b':')?;
    let prefix = &value[..colon];
    let name = std::str::from_utf8(prefix).ok()?;
    (is_ncname(name) && !value[colon + 1..].starts_with(b"//")).then_some(prefix)
}

fn is_reserved(prefix: &Option<Vec<u8>>) -> bool {
    matches!(prefix.as_deref(), Some(b"xml") | Some(b"xmlns"))
}

/// Copies `raw` (which starts at offset `at` of the input) with the lone
/// `&`s at `dangling` written as `&amp;`.
fn push_escaping_amps(xml: &mut String, raw: &str, at: usize, dangling: &[usize]) {
    let mut copied = 0;
    for &offset in dangling {
        let Some(i) = offset.checked_sub(at).filter(|i| *i < raw.len()) else {
            continue;
        };
        xml.push_str(raw.get(copied..i).unwrap_or_default());
        xml.push_str("&amp;");
        copied = i + 1;
    }
    xml.push_str(raw.get(copied..).unwrap_or_default());
}

fn push_declaration(xml: &mut String, prefix: Option<&[u8]>, ns: &[u8]) {
    xml.push_str(" xmlns");
    if let Some(prefix) = prefix {
        xml.push(':');
        xml.push_str(&String::from_utf8_lossy(prefix));
    }
    xml.push_str("=\"");
    // The namespace is the raw (still escaped) attribute value it was
    // declared with; only a `"` from a single-quoted original needs care.
    xml.push_str(&String::from_utf8_lossy(ns).replace('"', "&quot;"));
    xml.push('"');
}
