//! A reader that sees documents the way pidgin-sipe's `sipe-xml.c` does:
//! elements and attributes by local name, namespaces ignored, `child`
//! paths such as `"identity/name/displayName"`, text as the concatenation
//! of an element's character data. The writer tests assert with it exactly
//! what SIPE's code reads, so a document that passes would also be
//! understood by SIPE.

// Each test crate that includes this module uses a different subset.
#![allow(dead_code)]

use quick_xml::events::Event;
use quick_xml::Reader;

/// One element.
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Node>,
    pub text: String,
}

fn local(name: &[u8]) -> String {
    let name = String::from_utf8_lossy(name).into_owned();
    match name.rsplit_once(':') {
        Some((_, local)) => local.to_owned(),
        None => name,
    }
}

/// Parses `bytes`, panicking on anything that is not well-formed (a writer
/// bug).
pub fn parse(bytes: &[u8]) -> Node {
    let mut reader = Reader::from_reader(bytes);
    let mut stack: Vec<Node> = vec![Node::default()];
    loop {
        let event = reader.read_event().expect("well-formed XML");
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                let mut node = Node {
                    name: local(start.name().as_ref()),
                    ..Node::default()
                };
                for attribute in start.attributes() {
                    let attribute = attribute.expect("attribute");
                    if attribute.key.as_ref().starts_with(b"xmlns") {
                        continue;
                    }
                    let value = attribute
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .expect("attribute value")
                        .into_owned();
                    node.attributes.push((local(attribute.key.as_ref()), value));
                }
                if empty {
                    stack.last_mut().expect("parent").children.push(node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let node = stack.pop().expect("open element");
                stack.last_mut().expect("parent").children.push(node);
            }
            Event::Text(text) => {
                let text = text.xml10_content().expect("text").into_owned();
                stack.last_mut().expect("element").text.push_str(&text);
            }
            Event::GeneralRef(reference) => {
                let name = reference.decode().expect("reference").into_owned();
                let resolved = match name.as_str() {
                    "amp" => "&".to_owned(),
                    "lt" => "<".to_owned(),
                    "gt" => ">".to_owned(),
                    "quot" => "\"".to_owned(),
                    "apos" => "'".to_owned(),
                    _ => reference
                        .resolve_char_ref()
                        .expect("character reference")
                        .map(String::from)
                        .expect("known reference"),
                };
                stack.last_mut().expect("element").text.push_str(&resolved);
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(stack.len(), 1, "unclosed elements");
    let mut top = stack.pop().expect("document");
    assert_eq!(top.children.len(), 1, "one root element");
    top.children.remove(0)
}

impl Node {
    /// `sipe_xml_child(node, "a/b/c")`: the first match of the path.
    pub fn child(&self, path: &str) -> Option<&Node> {
        let mut node = self;
        for step in path.split('/') {
            node = node.children.iter().find(|c| c.name == step)?;
        }
        Some(node)
    }

    /// The first match of `path` and its twins (same name, same parent).
    pub fn all(&self, path: &str) -> Vec<&Node> {
        let (parent, name) = match path.rsplit_once('/') {
            Some((parent, name)) => (self.child(parent), name),
            None => (Some(self), path),
        };
        parent
            .map(|p| p.children.iter().filter(|c| c.name == name).collect())
            .unwrap_or_default()
    }

    /// `sipe_xml_attribute`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `sipe_xml_data` of a path.
    pub fn data(&self, path: &str) -> Option<&str> {
        self.child(path).map(|n| n.text.as_str())
    }
}
