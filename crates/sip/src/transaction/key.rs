//! Transaction identity and matching (RFC 3261 §17.1.3, §17.2.3).
//!
//! A [`Key`] is what a message must share with the request that created a
//! transaction to belong to it. RFC 3261 elements make the top Via branch
//! globally unique (it starts with the magic cookie `z9hG4bK`), so the
//! branch, the sent-by and the method suffice; for RFC 2543 peers, whose
//! branches carry no such promise, the server falls back to the dialog and
//! request identifiers. Keys are computed once per message and used as
//! hash-map keys, so lookups cost one hash regardless of how many
//! transactions are alive.

use std::hash::{Hash, Hasher};

use bytes::Bytes;

use super::TransactionError;
use crate::header::HeaderName;
use crate::message::{HeaderAccess, Request, Response};
use crate::method::Method;
use crate::typed::{is_rfc3261_branch, CSeq, SentBy, TypedError, Via};

/// Which side of the transaction this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies one transaction in the [`Layer`](super::Layer).
///
/// Opaque on purpose: the matching rules differ by role and by the age of
/// the peer's implementation, and callers only need equality and hashing
/// (to correlate outputs with their own state). An ACK's key is that of its
/// INVITE, because the ACK of a non-2xx response is part of the INVITE
/// transaction (§17.2.3); a CANCEL has a key of its own (§9.2).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Key {
    role: Role,
    /// The request method, with ACK folded into INVITE.
    method: Method,
    id: Id,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Id {
    /// A client transaction whose branch is the magic cookie and 17 to 32
    /// hex digits (the shape our NOTIFYs' branches have: a keyed hash,
    /// then a counter), held as numbers. Equal exactly when the branches
    /// are equal ignoring case, like [`Id::Branch`], but built, hashed,
    /// cloned and dropped without a lowercased copy on the heap: every
    /// NOTIFY of a fan-out makes one key and clones it three times, and
    /// every 200 makes another.
    Compact(CompactBranch),
    /// RFC 3261 matching: the branch (a token, so compared
    /// case-insensitively, §7.3.1) and, on the server side, the sent-by of
    /// the top Via, which keeps two clients that chose the same branch apart.
    Branch { branch: Bytes, sent_by: Bytes },
    /// RFC 2543 fallback (§17.2.3), boxed to keep the common case small.
    Legacy(Box<Legacy>),
}

/// Consistent with the derived equality: equal keys hash their equal
/// fields. A compact key (every NOTIFY's, hashed several times per
/// exchange) feeds its three numbers to the seeded hasher as one word
/// (it is always a client key): one round of the hasher instead of five.
/// Only the TU inserts client keys; a peer can only look one up (by the
/// branch of a response), so the folding cannot be used to build a
/// collision chain.
impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match &self.id {
            Id::Compact(c) => {
                self.method.hash(state);
                state.write_u64(c.hash ^ c.counter.rotate_left(23) ^ (u64::from(c.digits) << 58));
            }
            Id::Branch { .. } | Id::Legacy(_) => {
                self.role.hash(state);
                self.method.hash(state);
                self.id.hash(state);
            }
        }
    }
}

/// A branch `z9hG4bK` + `hash` (16 hex digits) + `counter` (`digits`
/// hex digits, 1 to 16), cookie and digits in any case.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct CompactBranch {
    hash: u64,
    counter: u64,
    digits: u8,
}

impl CompactBranch {
    /// The compact form of `branch`, when it has that shape.
    fn of(branch: &[u8]) -> Option<CompactBranch> {
        let (cookie, rest) = branch.split_first_chunk::<7>()?;
        let (hash, counter) = rest.split_first_chunk::<16>()?;
        if !(1..=16).contains(&counter.len()) || !is_cookie(cookie) {
            return None;
        }
        Some(CompactBranch {
            hash: hex_value(hash)?,
            counter: hex_value(counter)?,
            digits: counter.len() as u8,
        })
    }

    /// The branch, lowercased (what [`Key::branch`] shows).
    fn lowercased(&self) -> Bytes {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = Vec::with_capacity(7 + 16 + usize::from(self.digits));
        out.extend_from_slice(b"z9hg4bk");
        for (n, digits) in [(self.hash, 16), (self.counter, u32::from(self.digits))] {
            out.extend(
                (0..digits)
                    .rev()
                    .map(|i| HEX[((n >> (i * 4)) & 0xf) as usize]),
            );
        }
        Bytes::from(out)
    }
}

/// Whether `b` is the magic cookie `z9hG4bK`, its letters in any case:
/// the bit that tells an ASCII letter's cases apart is set on the letter
/// positions only (so `\x19` is not taken for `9`), without a branch per
/// byte.
fn is_cookie(b: &[u8; 7]) -> bool {
    const CASE: [u8; 7] = [0x20, 0, 0x20, 0x20, 0, 0x20, 0x20];
    const COOKIE: &[u8; 7] = b"z9hg4bk";
    let mut diff = 0;
    for i in 0..7 {
        diff |= (b[i] | CASE[i]) ^ COOKIE[i];
    }
    diff == 0
}

/// Each byte's value as a hex digit (either case), 0xff for the rest.
const HEX_DIGIT: [u8; 256] = {
    let mut table = [0xff; 256];
    let mut d = 0;
    while d < 10 {
        table[b'0' as usize + d] = d as u8;
        d += 1;
    }
    let mut d = 0;
    while d < 6 {
        table[b'a' as usize + d] = 10 + d as u8;
        table[b'A' as usize + d] = 10 + d as u8;
        d += 1;
    }
    table
};

/// The value of 1 to 16 hex digits, either case. A table lookup per digit
/// and one check at the end: every NOTIFY's key and every 200's reads 20
/// digits, and the branchy match this replaces cost 290 instructions a key.
#[inline]
fn hex_value(digits: &[u8]) -> Option<u64> {
    let mut n = 0u64;
    let mut bad = 0u8;
    for &d in digits {
        let v = HEX_DIGIT[usize::from(d)];
        bad |= v;
        n = n << 4 | u64::from(v & 0xf);
    }
    (bad & 0xf0 == 0).then_some(n)
}

/// A client transaction's identity from its branch: compact when it has
/// that shape, else the lowercased branch.
fn client_id(branch: &[u8]) -> Id {
    match CompactBranch::of(branch) {
        Some(compact) => Id::Compact(compact),
        None => Id::Branch {
            branch: lower(branch),
            sent_by: Bytes::new(),
        },
    }
}

/// The identifiers an RFC 2543 request shares with its retransmissions:
/// Request-URI, To tag, From tag, Call-ID, CSeq number and the top Via.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Legacy {
    /// Compared byte for byte: a retransmission repeats it exactly, and an
    /// ACK for a non-2xx response copies it from the INVITE (§17.1.1.3).
    request_uri: Bytes,
    to_tag: Option<Bytes>,
    from_tag: Option<Bytes>,
    call_id: Bytes,
    cseq: u32,
    /// Sent-by and branch (if any) of the top Via, lowercased.
    via: Bytes,
}

impl Key {
    /// The key of the server transaction `req` belongs to (§17.2.3): branch,
    /// sent-by and method when the branch carries the magic cookie, the
    /// RFC 2543 identifiers otherwise. ACK yields the INVITE's key.
    pub fn for_server_request(req: &Request) -> Result<Key, TransactionError> {
        let method = key_method(&req.method);
        // Every new request comes through here: the sent-by and the branch
        // are read by scans, which the parser's check of the Via makes
        // exact, and written without `fmt`.
        let text = req.top_via_text()?;
        let head = SentBy::of(&text)?;
        if let Some(branch) =
            Via::branch_at(&text, head.params_at)?.filter(|b| is_rfc3261_branch(b))
        {
            let mut sent_by = Vec::with_capacity(32);
            head.write_to(&mut sent_by);
            sent_by.make_ascii_lowercase();
            return Ok(Key {
                role: Role::Server,
                method,
                id: Id::Branch {
                    branch: lower(&branch),
                    sent_by: Bytes::from(sent_by),
                },
            });
        }
        let via = req.top_via()?;
        let mut via_id = via.sent_by().into_bytes();
        if let Some(b) = via.branch() {
            via_id.push(b';');
            via_id.extend_from_slice(b);
        }
        via_id.make_ascii_lowercase();
        let legacy = Legacy {
            request_uri: Bytes::copy_from_slice(req.uri.as_bytes()),
            to_tag: req.header_to()?.tag().as_ref().map(|b| lower(b)),
            from_tag: req.header_from()?.tag().as_ref().map(|b| lower(b)),
            call_id: Bytes::copy_from_slice(&req.call_id()?),
            cseq: req.cseq()?.seq,
            via: Bytes::from(via_id),
        };
        Ok(Key {
            role: Role::Server,
            method,
            id: Id::Legacy(Box::new(legacy)),
        })
    }

    /// The key of the client transaction a request the TU sends will
    /// create (§17.1.3: top Via branch and CSeq method). The branch must
    /// carry the magic cookie: it is the only thing that ties responses to
    /// the request, so it has to be unique (§8.1.1.7).
    pub fn for_client_request(req: &Request) -> Result<Key, TransactionError> {
        let via = req.top_via()?;
        let cseq = req.cseq()?;
        if cseq.method != req.method {
            return Err(TransactionError::CSeqMismatch);
        }
        if !via.has_rfc3261_branch() {
            return Err(TransactionError::MissingBranch);
        }
        let branch = via.branch().map(|b| client_id(b));
        Ok(Key {
            role: Role::Client,
            method: key_method(&cseq.method),
            id: branch.unwrap_or_else(|| client_id(b"")),
        })
    }

    /// The key of a client transaction the TU starts with a request it
    /// encoded itself ([`Layer::send_encoded_request`](super::Layer::send_encoded_request)):
    /// the branch of the top Via it wrote and the method. The branch must
    /// carry the magic cookie, as in [`Key::for_client_request`].
    pub fn for_client(method: &Method, branch: &str) -> Result<Key, TransactionError> {
        if !branch.starts_with("z9hG4bK") {
            return Err(TransactionError::MissingBranch);
        }
        Ok(Key {
            role: Role::Client,
            method: key_method(method),
            id: client_id(branch.as_bytes()),
        })
    }

    /// The key of the client transaction a response belongs to (§17.1.3):
    /// the top Via branch and the CSeq method, which tells the response to
    /// a CANCEL from the response to the INVITE it cancels.
    ///
    /// Every response to our NOTIFYs comes through here on the core's hot
    /// path, so the branch is first looked for by a plain scan of the top
    /// Via's parameters ([`scan_top_branch`]); only when that is unsure
    /// does the full typed parse run. The parser has validated the Via of
    /// every message it produced, so the two agree (tested).
    pub fn for_response(resp: &Response) -> Result<Key, TransactionError> {
        let id = match scan_top_branch(resp) {
            Some(branch) => client_id(branch),
            None => resp
                .top_via()?
                .branch()
                .map(|b| client_id(b))
                .ok_or(TransactionError::MissingBranch)?,
        };
        let cseq = resp
            .header_list()
            .value(HeaderName::CSeq)
            .ok_or(TypedError::Missing(HeaderName::CSeq))?;
        let (_, method) = CSeq::read(cseq)?;
        let method = &cseq[method];
        Ok(Key {
            role: Role::Client,
            // The method read from the slice: no reference to the
            // response's buffer, no copy for a known method.
            method: match Method::known(method) {
                Some(Method::Ack) => Method::Invite,
                Some(known) => known,
                None => Method::Extension(Bytes::copy_from_slice(method)),
            },
            id,
        })
    }

    /// Whether we sent (client) or received (server) the request.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The branch, lowercased, for RFC 3261 transactions; `None` for
    /// transactions matched by the RFC 2543 rules.
    pub fn branch(&self) -> Option<Bytes> {
        match &self.id {
            Id::Compact(compact) => Some(compact.lowercased()),
            Id::Branch { branch, .. } => Some(branch.clone()),
            Id::Legacy(_) => None,
        }
    }

    /// The number a client transaction's branch ends in, when the branch
    /// has the compact shape (the cookie, 16 hex digits, then 1 to 16 hex
    /// digits): a TU that numbers its requests in their branches learns
    /// from a response's key which request it answers, without a table of
    /// keys of its own.
    pub fn branch_number(&self) -> Option<u64> {
        match &self.id {
            Id::Compact(compact) => Some(compact.counter),
            Id::Branch { .. } | Id::Legacy(_) => None,
        }
    }

    /// The same transaction identity with another method: the INVITE a
    /// CANCEL names shares everything but the method with it (§9.2).
    pub(crate) fn with_method(&self, method: Method) -> Key {
        Key {
            method,
            ..self.clone()
        }
    }

    /// For an RFC 2543 ACK: its key, and the key its INVITE had if the
    /// INVITE carried no To tag (the ACK carries the tag of our response,
    /// §17.2.3), with the tag the ACK must then match.
    pub(crate) fn untagged_invite(&self) -> Option<(Key, Bytes)> {
        match &self.id {
            Id::Legacy(l) => {
                let tag = l.to_tag.clone()?;
                let untagged = Legacy {
                    to_tag: None,
                    ..(**l).clone()
                };
                Some((
                    Key {
                        id: Id::Legacy(Box::new(untagged)),
                        ..self.clone()
                    },
                    tag,
                ))
            }
            Id::Compact(_) | Id::Branch { .. } => None,
        }
    }
}

/// The To tag of a response, lowercased like the tags in keys.
pub(crate) fn to_tag(resp: &Response) -> Option<Bytes> {
    resp.header_to().ok()?.tag().as_ref().map(|b| lower(b))
}

/// The `branch` parameter of the top Via, by a scan of its first value's
/// parameters: `;`-separated, `name[=value]`, white space allowed around
/// both separators (RFC 3261 §25.1 LWS). `None` when there is no such
/// parameter or the value holds a quoted string (a generic parameter may
/// quote a `;` or `,`): the caller then parses the Via properly. A slice
/// of the value, which the caller copies into its key: taking a `Bytes`
/// of it first cost a reference count up and down per response.
pub(crate) fn scan_top_branch(msg: &impl HeaderAccess) -> Option<&[u8]> {
    let value = &msg.header_list().get(HeaderName::Via)?.value;
    let s = &value[..];
    if memchr::memchr(b'"', s).is_some() {
        return None;
    }
    // Without quotes a comma ends the first via-parm.
    let end = memchr::memchr(b',', s).unwrap_or(s.len());
    let mut at = memchr::memchr(b';', &s[..end])?;
    while at < end {
        let next = memchr::memchr(b';', &s[at + 1..end]).map_or(end, |p| at + 1 + p);
        let param = at + 1..next;
        let eq = memchr::memchr(b'=', &s[param.clone()]).map(|p| at + 1 + p);
        let name = trim(s, at + 1..eq.unwrap_or(next));
        if s[name].eq_ignore_ascii_case(b"branch") {
            let value_range = trim(s, eq? + 1..next);
            return (!value_range.is_empty()).then(|| &s[value_range]);
        }
        at = next;
    }
    None
}

/// `range` without the white space at either end.
fn trim(s: &[u8], range: std::ops::Range<usize>) -> std::ops::Range<usize> {
    let (mut a, mut b) = (range.start, range.end);
    while a < b && s[a].is_ascii_whitespace() {
        a += 1;
    }
    while b > a && s[b - 1].is_ascii_whitespace() {
        b -= 1;
    }
    a..b
}

/// A lowercased copy of a token. Always a copy, never a slice: a key lives
/// as long as its transaction (32 s and more), and a slice would pin the
/// whole receive buffer for that long.
fn lower(b: &[u8]) -> Bytes {
    Bytes::from(b.to_ascii_lowercase())
}

/// The method, with ACK folded into INVITE (§17.2.3) and an extension
/// method copied out of the receive buffer like everything else in a key.
fn key_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        Method::Extension(b) => Method::Extension(Bytes::copy_from_slice(b)),
        other => other.clone(),
    }
}

#[cfg(test)]
mod scan_tests {
    use super::*;
    use crate::message::Message;
    use crate::parse::parse_datagram;

    fn response(via: &str) -> Response {
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\n\
             To: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 NOTIFY\r\n\
             Content-Length: 0\r\n\r\n"
        );
        match parse_datagram(Bytes::from(text)) {
            Ok(Message::Response(r)) => r,
            other => panic!("{via}: {other:?}"),
        }
    }

    /// The scan finds what the typed parse finds, or declines.
    #[test]
    fn the_scan_agrees_with_the_typed_via() {
        for via in [
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabc;rport",
            "SIP/2.0/UDP 127.0.0.1:5060;rport=5070;received=10.0.0.1;branch=z9hG4bKx",
            "SIP/2.0/TCP [::1]:5060 ; BRANCH = z9hG4bKsp ; rport",
            "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP other;branch=z9hG4bK2",
            "SIP/2.0/UDP h;x=\"a;branch=evil\";branch=z9hG4bKq",
            "SIP/2.0/UDP h;branchx=1;xbranch=2;branch=z9hG4bKlast",
            "SIP/2.0/UDP h;rport",
            "SIP/2.0/UDP h",
            "SIP/2.0/UDP h, SIP/2.0/UDP g;branch=z9hG4bKsecond",
        ] {
            let resp = response(via);
            let typed = resp.top_via().unwrap().branch().cloned();
            match scan_top_branch(&resp) {
                Some(found) => assert_eq!(Some(found), typed.as_deref(), "{via}"),
                None => assert!(typed.is_none() || via.contains('"'), "{via}"),
            }
            let key = Key::for_response(&resp);
            match typed {
                Some(b) => assert_eq!(key.unwrap().branch(), Some(lower(&b)), "{via}"),
                None => assert!(key.is_err(), "{via}"),
            }
        }
    }
}

#[cfg(test)]
mod compact_tests {
    use std::hash::BuildHasher;

    use super::*;
    use proptest::prelude::*;

    /// Branches near the compact shape: the cookie, then 14 to 34
    /// characters, mostly hex digits in either case, sometimes not.
    fn branch() -> impl Strategy<Value = String> {
        let tail = proptest::collection::vec(
            prop_oneof![
                8 => proptest::char::range('0', '9'),
                4 => proptest::char::range('a', 'f'),
                4 => proptest::char::range('A', 'F'),
                1 => Just('g'),
                1 => Just('.'),
            ],
            14..35,
        );
        tail.prop_map(|t| format!("z9hG4bK{}", t.into_iter().collect::<String>()))
    }

    proptest! {
        /// Two client keys are equal exactly when their branches are
        /// equal ignoring case, whichever form each took; and the branch
        /// a key shows is the lowercased branch.
        #[test]
        fn compact_keys_compare_as_the_branches_do(a in branch(), b in branch()) {
            let (ka, kb) = (
                Key::for_client(&Method::Notify, &a).unwrap(),
                Key::for_client(&Method::Notify, &b).unwrap(),
            );
            prop_assert_eq!(ka == kb, a.eq_ignore_ascii_case(&b));
            let upper = format!("z9hG4bK{}", a[7..].to_ascii_uppercase());
            let ku = Key::for_client(&Method::Notify, &upper).unwrap();
            prop_assert_eq!(&ku, &ka);
            // The folded hash of a compact key agrees with equality.
            let state = crate::hash::State::default();
            prop_assert_eq!(state.hash_one(&ku), state.hash_one(&ka));
            if ka == kb {
                prop_assert_eq!(state.hash_one(&ka), state.hash_one(&kb));
            }
            prop_assert_eq!(ka.branch(), Some(Bytes::from(a.to_ascii_lowercase())));
        }
    }

    /// The cookie is matched ignoring the case of its letters only.
    #[test]
    fn the_cookie_folds_letters_only() {
        for good in [b"z9hG4bK", b"Z9HG4BK", b"z9hg4bk"] {
            assert!(is_cookie(good));
        }
        for bad in [b"z\x19hG4bK", b"z9hG\x14bK", b"z9hG4bJ", b"z9hG4b\x0b"] {
            assert!(!is_cookie(bad), "{bad:?}");
        }
    }

    /// Our NOTIFYs' branches take the compact form, and a 200 that echoes
    /// one (in any case) finds the same key.
    #[test]
    fn a_response_finds_the_compact_key() {
        let branch = "z9hG4bK0123456789abcdef2a";
        let sent = Key::for_client(&Method::Notify, branch).unwrap();
        assert!(matches!(sent.id, Id::Compact(_)));
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch={};rport=5060\r\n\
             From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\n\
             CSeq: 7 NOTIFY\r\nContent-Length: 0\r\n\r\n",
            branch
                .to_ascii_uppercase()
                .replacen("Z9HG4BK", "z9hG4bK", 1)
        );
        let resp = match crate::parse::parse_datagram(Bytes::from(text)) {
            Ok(crate::message::Message::Response(r)) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(Key::for_response(&resp).unwrap(), sent);
        assert_eq!(sent.branch_number(), Some(0x2a));
        let plain = Key::for_client(&Method::Notify, "z9hG4bKabc").unwrap();
        assert_eq!(plain.branch_number(), None);
        let other = Key::for_client(&Method::Notify, "z9hG4bK0123456789abcdef2b").unwrap();
        assert_ne!(other, sent);
        let longer = Key::for_client(&Method::Notify, "z9hG4bK0123456789abcdef02a").unwrap();
        assert_ne!(longer, sent, "a leading zero makes another branch");
    }
}
