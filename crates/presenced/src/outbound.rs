//! How requests this server originates (NOTIFYs) leave it.
//!
//! The presence engine builds a NOTIFY as a dialog request (Request-URI,
//! Route, From/To, CSeq) but knows nothing of sockets; this module adds
//! what depends on the flow it goes out on: the Via with a fresh branch
//! (RFC 3261 §8.1.1.7), Max-Forwards (§8.1.1.6), and the choice of flow:
//! the one the subscription came in on while it is open (connection reuse,
//! which is also what reaches watchers behind NAT), else whatever the
//! route names.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::SocketAddr;

use sip::{Header, HeaderName, Request};

use crate::transport::{Flow, TransportKind};

/// The Max-Forwards of requests this server originates (RFC 3261 §8.1.1.6).
const MAX_FORWARDS: &str = "70";

/// Makes Via branches: the RFC 3261 magic cookie, a keyed hash of a
/// number, and the number in hex. Unique within the process by the
/// number, across processes by the random key, and unguessable, so a
/// stray response cannot be forged onto a transaction (RFC 3261 §8.1.1.7
/// asks for global uniqueness).
///
/// A NOTIFY's branch carries its `NotifyId` as the number
/// ([`Vias::for_notify`]), so the transaction key of its response names
/// the NOTIFY (`sip::transaction::Key::branch_number`) and the core keeps
/// no table from keys to NOTIFYs; every other branch numbers from a
/// counter with the top bit set ([`OWN`]), so the two never meet.
#[derive(Debug)]
pub struct Branches {
    key: RandomState,
    next: u64,
}

impl Default for Branches {
    fn default() -> Self {
        Branches {
            key: RandomState::new(),
            next: 0,
        }
    }
}

/// The top bit of the numbers of branches that are not a NOTIFY's.
pub const OWN: u64 = 1 << 63;

/// The NOTIFY a branch number names, if it names one (see [`Branches`]).
pub fn notify_of_branch(number: u64) -> Option<u64> {
    (number & OWN == 0 && number != 0).then_some(number)
}

impl Branches {
    /// The next branch value.
    pub fn next_branch(&mut self) -> String {
        let mut branch = String::with_capacity(40);
        self.write_next(&mut branch);
        branch
    }

    /// Appends the next branch value to `out`: the cookie, the keyed hash
    /// as 16 hex digits, the counter in hex (written by hand: `format!`
    /// was a tenth of the cost of a NOTIFY's Via).
    fn write_next(&mut self, out: &mut String) {
        self.next += 1;
        self.write_numbered(self.next | OWN, out);
    }

    /// Appends the branch of `number`: the cookie, the keyed hash as 16
    /// hex digits, `number` in hex.
    fn write_numbered(&self, number: u64, out: &mut String) {
        let mut h = self.key.build_hasher();
        h.write_u64(number);
        out.push_str("z9hG4bK");
        push_hex(out, h.finish(), 16);
        let digits = (64 - number.leading_zeros()).div_ceil(4).max(1) as usize;
        push_hex(out, number, digits);
    }
}

/// Appends the low `digits` (at most 16) hex digits of `n`, most
/// significant first, in one `push_str`.
fn push_hex(out: &mut String, n: u64, digits: usize) {
    let all = sip::encode::hex_digits(n);
    let digits = &all[16 - digits.min(16)..];
    // Only ASCII hex digits were written.
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// The Vias of the requests we originate: the branch generator and, per
/// listener, the value up to the branch (`SIP/2.0/UDP host:port;branch=`),
/// formatted once rather than per NOTIFY.
#[derive(Debug, Default)]
pub struct Vias {
    branches: Branches,
    /// Per local address: a server has a handful of listeners, so a scan
    /// beats hashing the socket address for every NOTIFY. Connections we
    /// open (a TCP/TLS upstream) get a new local port on every reconnect,
    /// so the list is bounded ([`MAX_PREFIXES`]) and starts over when full.
    prefixes: Vec<((TransportKind, SocketAddr), Box<str>)>,
}

/// Local addresses whose Via prefix is kept: more than any listener set.
const MAX_PREFIXES: usize = 32;

impl Vias {
    /// The top Via of a request we originate on `flow`, with the next
    /// branch: the value (`SIP/2.0/UDP host:port;branch=...;rport`, as
    /// [`stamp`] writes it) and where the branch lies in it. One
    /// allocation, for the per-NOTIFY hot path.
    pub fn next(&mut self, flow: &Flow) -> (String, std::ops::Range<usize>) {
        self.write(flow, None)
    }

    /// [`Vias::next`] for NOTIFY `id` (never 0, below [`OWN`]): its branch
    /// carries the id, so its response names it.
    pub fn for_notify(&mut self, flow: &Flow, id: u64) -> (String, std::ops::Range<usize>) {
        self.write(flow, Some(id))
    }

    /// [`Vias::for_notify`] into `via`, which is cleared first: the core
    /// keeps one string for every NOTIFY's Via instead of allocating one
    /// per NOTIFY. Returns where the branch lies in it.
    pub fn write_for_notify(
        &mut self,
        flow: &Flow,
        id: u64,
        via: &mut String,
    ) -> std::ops::Range<usize> {
        via.clear();
        self.write_into(flow, Some(id), via)
    }

    fn write(&mut self, flow: &Flow, notify: Option<u64>) -> (String, std::ops::Range<usize>) {
        let mut via = String::new();
        let branch = self.write_into(flow, notify, &mut via);
        (via, branch)
    }

    fn write_into(
        &mut self,
        flow: &Flow,
        notify: Option<u64>,
        via: &mut String,
    ) -> std::ops::Range<usize> {
        let listener = (flow.transport, flow.local);
        let index = match self.prefixes.iter().position(|(l, _)| *l == listener) {
            Some(i) => i,
            None => {
                if self.prefixes.len() >= MAX_PREFIXES {
                    self.prefixes.clear();
                }
                self.prefixes.push((listener, via_prefix(flow).into()));
                self.prefixes.len() - 1
            }
        };
        let prefix = &self.prefixes[index].1;
        via.reserve(prefix.len() + 48);
        via.push_str(prefix);
        let start = via.len();
        match notify {
            Some(id) => self.branches.write_numbered(id, via),
            None => self.branches.write_next(via),
        }
        let end = via.len();
        via.push_str(";rport");
        start..end
    }
}

fn via_prefix(flow: &Flow) -> String {
    own_via_prefix(flow.transport, flow.local)
}

/// The start of the Via values of the requests we send from `local` over
/// `transport`, up to the branch: what [`Vias`] writes, and what a
/// transport recognises in the responses to them
/// (`sip::parse::plain_response::OwnVia`).
pub fn own_via_prefix(transport: TransportKind, local: SocketAddr) -> String {
    format!(
        "SIP/2.0/{} {};branch=",
        transport.as_str().to_ascii_uppercase(),
        host_port(local)
    )
}

/// Gives `req` its top Via for `flow` with `branch`, and Max-Forwards.
/// `rport` asks a UDP peer to answer to the port we sent from (RFC 3581),
/// which is our listening port anyway.
pub fn stamp(req: &mut Request, flow: &Flow, branch: &str) {
    let via = format!(
        "SIP/2.0/{} {};branch={branch};rport",
        flow.transport.as_str().to_ascii_uppercase(),
        host_port(flow.local)
    );
    req.headers.push_front(Header::new(HeaderName::Via, via));
    if req.headers.get(HeaderName::MaxForwards).is_none() {
        req.headers
            .push(Header::new(HeaderName::MaxForwards, MAX_FORWARDS));
    }
}

/// Our own URI on a flow, for Contact headers: where the peer sends
/// requests in the dialog (RFC 3261 §8.1.1.8). Stream transports say so in
/// a `transport` parameter; TLS uses `sips:` (RFC 5630).
pub fn contact(flow: &Flow) -> String {
    let hp = host_port(flow.local);
    match flow.transport {
        TransportKind::Udp => format!("sip:{hp}"),
        TransportKind::Tcp => format!("sip:{hp};transport=tcp"),
        TransportKind::Tls => format!("sips:{hp}"),
    }
}

/// `host:port` with IPv6 addresses in brackets, as SIP writes them.
fn host_port(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::ConnId;
    use sip::HeaderAccess;

    fn flow(transport: TransportKind, local: &str) -> Flow {
        Flow {
            transport,
            remote: "127.0.0.1:5090".parse().unwrap(),
            local: local.parse().unwrap(),
            conn: ConnId::for_tests(7),
        }
    }

    #[test]
    fn branches_are_rfc3261_and_unique() {
        let mut b = Branches::default();
        let (x, y) = (b.next_branch(), b.next_branch());
        assert!(x.starts_with("z9hG4bK") && y.starts_with("z9hG4bK"));
        assert_ne!(x, y);
    }

    #[test]
    fn stamped_request_parses_with_our_via() {
        // Parsed with a placeholder Via (the parser insists on one), which
        // is removed: the engine hands over NOTIFYs without a Via.
        let text =
            "NOTIFY sip:bob@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\n\
            From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\n\
            Call-ID: c1\r\nCSeq: 2 NOTIFY\r\nEvent: presence\r\n\
            Subscription-State: active;expires=60\r\nContent-Length: 0\r\n\r\n";
        let sip::Message::Request(mut req) =
            sip::parse::parse_datagram(bytes::Bytes::from_static(text.as_bytes())).unwrap()
        else {
            panic!("a request")
        };
        req.headers.remove(HeaderName::Via);
        stamp(
            &mut req,
            &flow(TransportKind::Tcp, "[::1]:5060"),
            "z9hG4bKabc",
        );
        let sip::Message::Request(again) =
            sip::parse::parse_datagram(bytes::Bytes::from(req.encode())).unwrap()
        else {
            panic!("a request")
        };
        let via = again.top_via().unwrap();
        assert_eq!(via.sent_by(), "[::1]:5060");
        assert_eq!(via.branch().unwrap().as_ref(), b"z9hG4bKabc");
        assert_eq!(again.headers.value(HeaderName::MaxForwards).unwrap(), "70");
    }

    /// The Via written for the hot path is the one `stamp` writes, and the
    /// NOTIFY built straight into bytes is byte for byte the request
    /// `stamp` + `encode` made of the same parts.
    #[test]
    fn via_matches_stamp() {
        for (kind, local) in [
            (TransportKind::Udp, "127.0.0.1:5060"),
            (TransportKind::Tcp, "[::1]:5060"),
            (TransportKind::Tls, "192.0.2.9:5061"),
        ] {
            let f = flow(kind, local);
            let mut vias = Vias::default();
            let (first, _) = vias.next(&f);
            let (via, range) = vias.next(&f);
            assert_ne!(first, via, "a fresh branch each time");
            let branch = via[range].to_owned();
            assert!(branch.starts_with("z9hG4bK"));
            let text =
                "NOTIFY sip:bob@127.0.0.1:5090 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch=z9hG4bKx\r\n\
                From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>;tag=b\r\n\
                Call-ID: c1\r\nCSeq: 2 NOTIFY\r\nEvent: presence\r\n\
                Subscription-State: active;expires=60\r\nContent-Length: 0\r\n\r\n";
            let sip::Message::Request(mut req) =
                sip::parse::parse_datagram(bytes::Bytes::from_static(text.as_bytes())).unwrap()
            else {
                panic!("a request")
            };
            req.headers.remove(HeaderName::Via);
            req.headers
                .push(Header::new(HeaderName::MaxForwards, MAX_FORWARDS));
            let notify = presence::notify::Notify::from_request(&req);
            stamp(&mut req, &f, &branch);
            assert_eq!(
                String::from_utf8(notify.encode_with_via(via.as_bytes())).unwrap(),
                String::from_utf8(req.encode()).unwrap()
            );
        }
    }

    /// A NOTIFY's branch names it through its transaction key; no other
    /// branch names a NOTIFY.
    #[test]
    fn a_notify_branch_names_its_notify() {
        let f = flow(TransportKind::Udp, "127.0.0.1:5060");
        let mut vias = Vias::default();
        let number = |vias: &mut Vias, id: Option<u64>| {
            let (via, range) = match id {
                Some(id) => vias.for_notify(&f, id),
                None => vias.next(&f),
            };
            sip::transaction::Key::for_client(&sip::Method::Notify, &via[range])
                .unwrap()
                .branch_number()
                .and_then(notify_of_branch)
        };
        assert_eq!(number(&mut vias, Some(7)), Some(7));
        assert_eq!(number(&mut vias, Some(u64::MAX >> 1)), Some(u64::MAX >> 1));
        assert_eq!(number(&mut vias, None), None);
        assert_eq!(number(&mut vias, None), None);
    }

    /// Written into a kept string, a NOTIFY's Via is the one
    /// `for_notify` returns, whatever the string held before, and it
    /// starts with the prefix the UDP listener vouches for.
    #[test]
    fn a_notify_via_written_into_a_kept_string_is_the_same() {
        let f = flow(TransportKind::Udp, "127.0.0.1:5060");
        let mut vias = Vias::default();
        let mut kept = String::from("left over from the last NOTIFY;branch=z9hG4bKold");
        for id in [1, 2, 0xffff, u64::MAX >> 1] {
            let range = vias.write_for_notify(&f, id, &mut kept);
            let (fresh, fresh_range) = vias.for_notify(&f, id);
            assert_eq!((kept.as_str(), range), (fresh.as_str(), fresh_range));
            assert!(kept.starts_with(&own_via_prefix(TransportKind::Udp, f.local)));
        }
    }

    /// Reconnecting uplinks bring new local ports: the prefixes stay
    /// bounded and still right.
    #[test]
    fn via_prefixes_stay_bounded() {
        let mut vias = Vias::default();
        for port in 40_000..40_000 + 3 * MAX_PREFIXES as u16 {
            let f = flow(TransportKind::Tcp, &format!("127.0.0.1:{port}"));
            let (via, _) = vias.next(&f);
            assert!(
                via.starts_with(&format!("SIP/2.0/TCP 127.0.0.1:{port};branch=")),
                "{via}"
            );
            assert!(vias.prefixes.len() <= MAX_PREFIXES);
        }
    }

    /// The hand-written hex is what `format!("{:016x}{:x}")` wrote.
    #[test]
    fn branches_are_the_formatted_ones() {
        let mut b = Branches::default();
        for n in 1..=300u64 {
            let branch = b.next_branch();
            let mut h = b.key.build_hasher();
            h.write_u64(n | OWN);
            assert_eq!(branch, format!("z9hG4bK{:016x}{:x}", h.finish(), n | OWN));
            let mut notify = String::new();
            b.write_numbered(n, &mut notify);
            let mut h = b.key.build_hasher();
            h.write_u64(n);
            assert_eq!(notify, format!("z9hG4bK{:016x}{n:x}", h.finish()));
        }
        b.next = u64::MAX - 1;
        let branch = b.next_branch();
        assert!(branch.ends_with("ffffffffffffffff"), "{branch}");
    }

    #[test]
    fn contacts_name_the_transport() {
        assert_eq!(
            contact(&flow(TransportKind::Udp, "127.0.0.1:5060")),
            "sip:127.0.0.1:5060"
        );
        assert_eq!(
            contact(&flow(TransportKind::Tcp, "127.0.0.1:5060")),
            "sip:127.0.0.1:5060;transport=tcp"
        );
        assert_eq!(
            contact(&flow(TransportKind::Tls, "[::1]:5061")),
            "sips:[::1]:5061"
        );
    }
}
