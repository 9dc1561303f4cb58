//! Reading the body of a batched NOTIFY (the Microsoft dialect, RFC 4662
//! RLMI in `multipart/related`): which resources the list names, in which
//! state, whether it is the full state, and which presentities have a
//! category part with which marker.
//!
//! A load generator only needs those few facts, so this is a byte scan,
//! not an XML parser: the multipart is split on its boundary (from the
//! Content-Type), the RLMI part's `<list>` and `<resource>` attributes are
//! read, and each category part is tied to its presentity by the `uri` of
//! its `<categories>` root. The marker of a PUBLISH reaches the category
//! document as the activity's custom text (`<custom LCID="1033">bench-rN.`),
//! and [`template::find_marker`] finds it there as in a PIDF note.

use memchr::memmem;

use crate::template::{self, Names};

/// One resource of the RLMI list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resource {
    /// The presentity it names.
    pub presentity: u32,
    /// Its instance is `active` (not pending or terminated).
    pub active: bool,
}

/// One category part: a contact's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The presentity whose state it is.
    pub presentity: u32,
    /// The marker of the PUBLISH it reflects, if any.
    pub marker: Option<u64>,
}

/// What a batched NOTIFY carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Notify {
    /// `fullState="true"`: every resource, not only the changed ones.
    pub full_state: bool,
    /// The resources of the list that name one of this run's presentities.
    pub resources: Vec<Resource>,
    /// The category parts, in order.
    pub parts: Vec<Part>,
    /// Parts or resources that named nobody of this run.
    pub foreign: u32,
}

/// The `boundary` parameter of a multipart Content-Type.
pub fn boundary(content_type: &[u8]) -> Option<&[u8]> {
    let at = memmem::find(content_type, b"boundary=")? + b"boundary=".len();
    let rest = &content_type[at..];
    let rest = rest.strip_prefix(b"\"").unwrap_or(rest);
    let end = rest
        .iter()
        .position(|&b| b == b'"' || b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(rest.len());
    (end > 0).then(|| &rest[..end])
}

/// The value of attribute `name` in `text` after position 0 (the first
/// occurrence of ` name="`).
fn attr<'a>(text: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let mut pat = Vec::with_capacity(name.len() + 3);
    pat.push(b' ');
    pat.extend_from_slice(name);
    pat.extend_from_slice(b"=\"");
    let at = memmem::find(text, &pat)? + pat.len();
    let rest = &text[at..];
    let end = rest.iter().position(|&b| b == b'"')?;
    Some(&rest[..end])
}

/// Reads a batched NOTIFY's body; `None` when the Content-Type is not a
/// multipart with a boundary or the body has no RLMI list.
pub fn parse(names: &Names, content_type: &[u8], body: &[u8]) -> Option<Notify> {
    let boundary = boundary(content_type)?;
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let mut out = Notify::default();
    let mut list_seen = false;
    // Everything before the first delimiter is preamble; the piece after
    // the closing delimiter (`--` first) is the epilogue.
    let cuts: Vec<usize> = memmem::find_iter(body, &delimiter).collect();
    for (i, &at) in cuts.iter().enumerate() {
        let end = cuts.get(i + 1).copied().unwrap_or(body.len());
        let piece = &body[at + delimiter.len()..end];
        if piece.starts_with(b"--") {
            break;
        }
        let (headers, content) = match memmem::find(piece, b"\r\n\r\n") {
            Some(i) => (&piece[..i], &piece[i + 4..]),
            None => continue,
        };
        if memmem::find(headers, b"application/rlmi+xml").is_some() {
            list_seen = true;
            read_list(names, content, &mut out);
        } else if let Some(root) = memmem::find(content, b"<categories") {
            let root = &content[root..];
            let head = &root[..root.iter().position(|&b| b == b'>').unwrap_or(root.len())];
            match attr(head, b"uri").and_then(|u| names.presentity_of(u)) {
                Some(presentity) => out.parts.push(Part {
                    presentity,
                    marker: template::find_marker(content),
                }),
                None => out.foreign += 1,
            }
        }
    }
    list_seen.then_some(out)
}

fn read_list(names: &Names, list: &[u8], out: &mut Notify) {
    if let Some(start) = memmem::find(list, b"<list") {
        let head = &list[start..];
        let head = &head[..head.iter().position(|&b| b == b'>').unwrap_or(head.len())];
        out.full_state = attr(head, b"fullState") == Some(b"true");
    }
    // Each `<resource ...>` up to the next one holds its instance.
    let starts: Vec<usize> = memmem::find_iter(list, b"<resource ").collect();
    for (i, &s) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(list.len());
        let resource = &list[s..end];
        let head = &resource[..resource
            .iter()
            .position(|&b| b == b'>')
            .unwrap_or(resource.len())];
        let Some(presentity) = attr(head, b"uri").and_then(|u| names.presentity_of(u)) else {
            out.foreign += 1;
            continue;
        };
        let active = memmem::find(resource, b"<instance")
            .and_then(|i| attr(&resource[i..], b"state"))
            == Some(b"active");
        out.resources.push(Resource { presentity, active });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CT: &[u8] = b"multipart/related; type=\"application/rlmi+xml\"; start=resourceList; boundary=presenced-rlmi-7c1f0e9a";

    /// The shape presenced's `rlmi::assemble` writes.
    fn body(full: bool, resources: &[(&str, &str)], parts: &[(&str, &str)]) -> Vec<u8> {
        let mut b = String::from(
            "--presenced-rlmi-7c1f0e9a\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <resourceList>\r\n\
             Content-Type: application/rlmi+xml\r\n\r\n",
        );
        b += &format!(
            "<list xmlns=\"urn:ietf:params:xml:ns:rlmi\" uri=\"sip:w1.r1@bench.test\" version=\"0\" fullState=\"{full}\">"
        );
        for (uri, state) in resources {
            b += &format!(
                "<resource uri=\"{uri}\"><instance id=\"1\" state=\"{state}\" cid=\"c@x\"/></resource>"
            );
        }
        b += "</list>\r\n\r\n";
        for (uri, note) in parts {
            b += &format!(
                "--presenced-rlmi-7c1f0e9a\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <c@x>\r\n\
                 Content-Type: application/msrtc-event-categories+xml\r\n\r\n\
                 <categories xmlns=\"http://schemas.microsoft.com/2006/09/sip/categories\" uri=\"{uri}\">\
                 <category name=\"state\"><state><availability>3500</availability>\
                 <activity><custom LCID=\"1033\">{note}</custom></activity></state></category></categories>\r\n\r\n"
            );
        }
        b += "--presenced-rlmi-7c1f0e9a--\r\n";
        b.into_bytes()
    }

    #[test]
    fn boundary_is_read_quoted_or_not() {
        assert_eq!(boundary(CT), Some(&b"presenced-rlmi-7c1f0e9a"[..]));
        assert_eq!(
            boundary(b"multipart/related; boundary=\"ab c\"; type=x"),
            Some(&b"ab"[..])
        );
        assert_eq!(
            boundary(b"multipart/related;boundary=\"abc\";type=x"),
            Some(&b"abc"[..])
        );
        assert_eq!(boundary(b"application/pidf+xml"), None);
    }

    #[test]
    fn full_state_lists_resources_and_parts_with_markers() {
        let names = Names::new("r1", "bench.test");
        let b = body(
            true,
            &[
                ("sip:p3.r1@bench.test", "active"),
                ("sip:p4.r1@bench.test", "pending"),
                ("sip:nobody@x", "terminated"),
            ],
            &[
                ("sip:p3.r1@bench.test", "bench-r7."),
                ("sip:p4.r1@bench.test", "lab status"),
            ],
        );
        let n = parse(&names, CT, &b).expect("an RLMI notify");
        assert!(n.full_state);
        assert_eq!(
            n.resources,
            [
                Resource {
                    presentity: 3,
                    active: true
                },
                Resource {
                    presentity: 4,
                    active: false
                }
            ]
        );
        assert_eq!(
            n.parts,
            [
                Part {
                    presentity: 3,
                    marker: Some(7)
                },
                Part {
                    presentity: 4,
                    marker: None
                }
            ]
        );
        assert_eq!(n.foreign, 1);
    }

    #[test]
    fn a_delta_carries_only_the_changed() {
        let names = Names::new("r1", "bench.test");
        let b = body(
            false,
            &[("sip:p9.r1@bench.test", "active")],
            &[("sip:p9.r1@bench.test", "bench-r12.")],
        );
        let n = parse(&names, CT, &b).expect("an RLMI notify");
        assert!(!n.full_state);
        assert_eq!(
            n.parts,
            [Part {
                presentity: 9,
                marker: Some(12)
            }]
        );
    }

    #[test]
    fn not_multipart_is_none() {
        let names = Names::new("r1", "bench.test");
        assert_eq!(parse(&names, b"application/pidf+xml", b"<presence/>"), None);
        // A multipart without an RLMI list.
        assert_eq!(
            parse(
                &names,
                CT,
                b"--presenced-rlmi-7c1f0e9a\r\n\r\nx\r\n--presenced-rlmi-7c1f0e9a--"
            ),
            None
        );
    }
}
