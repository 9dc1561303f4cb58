//! The writers' one tool: a string builder that escapes every attribute
//! value and every text run with the crate's escaping (see
//! `crate::xml::escape`), so no writer can emit an unescaped value.

use std::fmt::Display;

use crate::xml::escape;

/// An XML document under construction. Element names are the writers'
/// own constants (or tokens checked by the caller); values always go
/// through escaping.
#[derive(Debug, Default)]
pub(crate) struct Markup {
    out: String,
}

impl Markup {
    pub(crate) fn with_capacity(capacity: usize) -> Self {
        Markup {
            out: String::with_capacity(capacity),
        }
    }

    /// `<name` (attributes follow, then [`Markup::open`] or
    /// [`Markup::empty`]).
    pub(crate) fn start(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self
    }

    /// ` name="value"`, escaped.
    pub(crate) fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        self.out.push_str(&escape::attribute(value));
        self.out.push('"');
        self
    }

    /// An attribute whose value is a number or another `Display` value
    /// that needs no escaping beyond what [`Markup::attr`] does.
    pub(crate) fn attr_display(&mut self, name: &str, value: impl Display) -> &mut Self {
        self.attr(name, &value.to_string())
    }

    /// The attribute when there is a value.
    pub(crate) fn attr_opt(&mut self, name: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.attr(name, value);
        }
        self
    }

    /// `>`: the start tag is complete and content follows.
    pub(crate) fn open(&mut self) -> &mut Self {
        self.out.push('>');
        self
    }

    /// `/>`: the element has no content.
    pub(crate) fn empty(&mut self) -> &mut Self {
        self.out.push_str("/>");
        self
    }

    /// Character data, escaped.
    pub(crate) fn text(&mut self, text: &str) -> &mut Self {
        self.out.push_str(&escape::text(text));
        self
    }

    /// `</name>`.
    pub(crate) fn end(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// `<name>text</name>`.
    pub(crate) fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.start(name).open().text(text).end(name)
    }

    /// A fragment that is already well-formed XML (a stored category
    /// value read by this crate's reader).
    pub(crate) fn raw(&mut self, xml: &str) -> &mut Self {
        self.out.push_str(xml);
        self
    }

    /// A line break and `depth` spaces: the indentation of the PIDF
    /// writer's canonical form.
    pub(crate) fn line(&mut self, depth: usize) -> &mut Self {
        self.out.push('\n');
        self.out.extend(std::iter::repeat_n(' ', depth));
        self
    }

    /// The document so far.
    pub(crate) fn finish(self) -> String {
        self.out
    }
}
