//! A small element tree of a vendor's XML file, each element with its
//! line, for the importers. Bounded: the files are an administrator's,
//! but a size, depth and element limit keep a wrong file from taking the
//! process down; a DOCTYPE is refused (no entity expansion).

use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::{BytesStart, Event};
use quick_xml::{Reader, XmlVersion};

/// Largest file read.
pub const MAX_BYTES: usize = 4 << 20;
/// Deepest nesting.
pub const MAX_DEPTH: usize = 32;
/// Most elements.
pub const MAX_ELEMENTS: usize = 200_000;

/// One element.
#[derive(Debug, Clone, Default)]
pub struct Element {
    /// Local name (no prefix).
    pub name: String,
    /// Attributes by local name, unescaped.
    pub attributes: Vec<(String, String)>,
    /// Text directly inside, trimmed.
    pub text: String,
    /// Child elements.
    pub children: Vec<Element>,
    /// 1-based line of its start tag.
    pub line: usize,
}

impl Element {
    /// An attribute's value, by local name, case-insensitively (the
    /// seeds spell `LCID` and `ID` in capitals, others do not).
    pub fn attribute(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Children with this local name (case-insensitive).
    pub fn all<'s>(&'s self, name: &str) -> impl Iterator<Item = &'s Element> + 's {
        let name = name.to_owned();
        self.children
            .iter()
            .filter(move |c| c.name.eq_ignore_ascii_case(&name))
    }
}

/// Why a file could not be read, at a line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TreeError {
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Reads the whole document; returns a synthetic root whose children are
/// the top-level elements (the seed's fragments have several).
pub fn parse(text: &str) -> Result<Element, TreeError> {
    if text.len() > MAX_BYTES {
        return Err(TreeError {
            line: 0,
            message: format!("larger than {MAX_BYTES} bytes"),
        });
    }
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Element> = vec![Element::default()];
    let mut count = 0usize;
    loop {
        let at = reader.buffer_position() as usize;
        let fail = |message: String| TreeError {
            line: line_of(text, at),
            message,
        };
        let event = reader.read_event().map_err(|e| fail(e.to_string()))?;
        match event {
            Event::Start(start) | Event::Empty(start) if stack.len() > MAX_DEPTH => {
                let _ = start;
                return Err(fail(format!("nested deeper than {MAX_DEPTH}")));
            }
            Event::Start(start) => {
                count += 1;
                stack.push(element(&start, line_of(text, at)).map_err(fail)?);
            }
            Event::Empty(start) => {
                count += 1;
                let e = element(&start, line_of(text, at)).map_err(fail)?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(e);
                }
            }
            Event::End(_) => {
                let done = stack
                    .pop()
                    .filter(|_| !stack.is_empty())
                    .ok_or_else(|| fail("an end tag without a start".into()))?;
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(done);
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().map_err(|e| fail(e.to_string()))?;
                push_text(&mut stack, &s);
            }
            Event::CData(t) => {
                let s = t.xml10_content().map_err(|e| fail(e.to_string()))?;
                push_text(&mut stack, &s);
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    r.resolve_char_ref().ok().flatten().map(String::from)
                } else {
                    r.decode()
                        .ok()
                        .and_then(|n| resolve_predefined_entity(&n).map(str::to_owned))
                };
                let s = resolved.ok_or_else(|| fail("an unknown entity".into()))?;
                push_text(&mut stack, &s);
            }
            Event::DocType(_) => return Err(fail("a DOCTYPE is not accepted".into())),
            Event::Eof => break,
            Event::Comment(_) | Event::PI(_) | Event::Decl(_) => {}
        }
        if count > MAX_ELEMENTS {
            return Err(fail(format!("more than {MAX_ELEMENTS} elements")));
        }
    }
    if stack.len() != 1 {
        return Err(TreeError {
            line: line_of(text, text.len()),
            message: format!(
                "<{}> is not closed",
                stack.last().map_or("", |e| e.name.as_str())
            ),
        });
    }
    let mut root = stack.pop().unwrap_or_default();
    trim(&mut root);
    Ok(root)
}

fn push_text(stack: &mut [Element], s: &str) {
    if let Some(top) = stack.last_mut() {
        top.text.push_str(s);
    }
}

fn trim(e: &mut Element) {
    e.text = e.text.trim().to_owned();
    e.children.iter_mut().for_each(trim);
}

fn element(start: &BytesStart<'_>, line: usize) -> Result<Element, String> {
    let mut attributes = Vec::new();
    for a in start.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let value = a
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?;
        let key = String::from_utf8_lossy(a.key.local_name().as_ref()).into_owned();
        attributes.push((key, value.into_owned()));
    }
    Ok(Element {
        name: String::from_utf8_lossy(start.local_name().as_ref()).into_owned(),
        attributes,
        text: String::new(),
        children: Vec::new(),
        line,
    })
}
