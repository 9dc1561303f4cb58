//! Header fields as they were received, in order.
//!
//! Values are stored raw (a slice of the receive buffer) and parsed into typed
//! views on demand by [`crate::typed`]. Keeping the raw form is what lets a
//! proxy-like component forward headers it does not understand unchanged and
//! lets `serialize ∘ parse` be the identity.

mod name;

pub use name::HeaderName;

use bytes::Bytes;

use crate::grammar;

/// One header line: the name as spelled on the wire and its (unfolded) value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The recognised name, or `Other`.
    pub name: HeaderName,
    /// The name exactly as received (or canonical, for headers we create).
    pub raw_name: Bytes,
    /// The value with surrounding white space removed and folding undone.
    pub value: Bytes,
}

impl Header {
    /// A header created by this process, spelled canonically.
    pub fn new(name: HeaderName, value: impl Into<Bytes>) -> Header {
        Header {
            name,
            raw_name: Bytes::from_static(name.as_str().as_bytes()),
            value: value.into(),
        }
    }

    /// A header whose name this crate does not model (an extension header).
    pub fn other(name: impl Into<Bytes>, value: impl Into<Bytes>) -> Header {
        let raw_name = name.into();
        Header {
            name: HeaderName::from_bytes(&raw_name),
            raw_name,
            value: value.into(),
        }
    }

    /// True when this header has the given name; for `Other`, the raw name is
    /// compared case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        let n = HeaderName::from_bytes(name.as_bytes());
        if n == HeaderName::Other {
            self.name == HeaderName::Other
                && grammar::eq_ignore_case(&self.raw_name, name.as_bytes())
        } else {
            self.name == n
        }
    }
}

/// The header fields of one message, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// An empty header list with room for a typical message.
    pub fn new() -> Headers {
        Headers {
            list: Vec::with_capacity(12),
        }
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// All header lines in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }

    /// The first line with this name.
    pub fn get(&self, name: HeaderName) -> Option<&Header> {
        self.list.iter().find(|h| h.name == name)
    }

    /// The first line with this name, to edit in place: a server stamps
    /// `received` on the top Via of every request it takes (RFC 3261
    /// §18.2.1) and must not rebuild the whole list to do it.
    pub fn get_mut(&mut self, name: HeaderName) -> Option<&mut Header> {
        self.list.iter_mut().find(|h| h.name == name)
    }

    /// The value of the first line with this name.
    pub fn value(&self, name: HeaderName) -> Option<&Bytes> {
        self.get(name).map(|h| &h.value)
    }

    /// The first line of an extension header, looked up case-insensitively.
    pub fn get_other(&self, name: &str) -> Option<&Header> {
        self.list.iter().find(|h| h.is(name))
    }

    /// Every line with this name, in order.
    pub fn all(&self, name: HeaderName) -> impl Iterator<Item = &Header> + '_ {
        self.list.iter().filter(move |h| h.name == name)
    }

    /// Every comma-separated value of a list header across all its lines, in
    /// order (RFC 3261 §7.3.1: the two forms are equivalent). Values that are
    /// not balanced are yielded whole, so that the typed parser reports them.
    pub fn values(&self, name: HeaderName) -> impl Iterator<Item = Bytes> + '_ {
        self.all(name).flat_map(|h| split_value(&h.value))
    }

    /// Appends a header line.
    pub fn push(&mut self, header: Header) {
        self.list.push(header);
    }

    /// Inserts a header line before all others (a proxy's own Via, say).
    pub fn push_front(&mut self, header: Header) {
        self.list.insert(0, header);
    }

    /// Removes every line with this name and returns how many there were.
    pub fn remove(&mut self, name: HeaderName) -> usize {
        let before = self.list.len();
        self.list.retain(|h| h.name != name);
        before - self.list.len()
    }

    /// Replaces every line with this name by one line carrying `value`,
    /// placed where the first of them was (or at the end).
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let header = Header::new(name, value);
        match self.list.iter().position(|h| h.name == name) {
            Some(at) => {
                self.list[at] = header;
                let mut i = 0;
                self.list.retain(|h| {
                    let keep = h.name != name || i == at;
                    i += 1;
                    keep
                });
            }
            None => self.list.push(header),
        }
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;

    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

impl FromIterator<Header> for Headers {
    fn from_iter<I: IntoIterator<Item = Header>>(iter: I) -> Self {
        Headers {
            list: iter.into_iter().collect(),
        }
    }
}

fn split_value(value: &Bytes) -> Vec<Bytes> {
    match grammar::split_commas(value) {
        Ok(parts) => parts.into_iter().map(|(a, b)| value.slice(a..b)).collect(),
        Err(_) => vec![value.clone()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_values_span_lines_and_commas() {
        let mut h = Headers::new();
        h.push(Header::new(HeaderName::Supported, "a, b"));
        h.push(Header::new(HeaderName::CallId, "x"));
        h.push(Header::new(HeaderName::Supported, "c"));
        let v: Vec<Bytes> = h.values(HeaderName::Supported).collect();
        assert_eq!(v, vec!["a", "b", "c"]);
    }

    #[test]
    fn set_replaces_in_place() {
        let mut h = Headers::new();
        h.push(Header::new(HeaderName::Via, "1"));
        h.push(Header::new(HeaderName::Expires, "10"));
        h.push(Header::new(HeaderName::CallId, "x"));
        h.push(Header::new(HeaderName::Expires, "20"));
        h.set(HeaderName::Expires, "30");
        let names: Vec<_> = h.iter().map(|h| h.name).collect();
        assert_eq!(
            names,
            vec![HeaderName::Via, HeaderName::Expires, HeaderName::CallId]
        );
        assert_eq!(h.value(HeaderName::Expires).unwrap(), "30");
    }

    #[test]
    fn extension_headers_match_case_insensitively() {
        let mut h = Headers::new();
        h.push(Header::other("X-Thing", "1"));
        assert!(h.get_other("x-thing").is_some());
        assert!(h.get_other("x-other").is_none());
    }
}
