//! What a server does to the top Via of a request it receives, and where the
//! responses go (RFC 3261 §18.2.1, §18.2.2; RFC 3581).
//!
//! A client behind NAT writes its private address in Via. The server records
//! the address the request really came from (`received`, and `rport` when
//! the client asks for it) so that the response, which copies the Via, can
//! find its way back and the client learns its public address.
//!
//! Both answers come from one reading of the top Via ([`Arrival::of`]):
//! its sent-by, read as the parser read it, and a scan of its parameters,
//! which locates `rport` and `received` without building a list. The stamp
//! is an edit of the text: the new parameters are written in, the rest
//! copied as received, so the response's Via repeats the client's own
//! sent-by (which RFC 3261 §18.1.2 has the client check). Every request
//! comes through here, and parsing the Via again for each question, then
//! rebuilding it from its parts, was 11 500 of the 178 000 instructions
//! of a one-watcher PUBLISH round (`crates/bench/README.md`).

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sip::params::{self, Flavor, Next};
use sip::typed::SentBy;
use sip::uri::Host;
use sip::{grammar, HeaderName, Request};

use super::TransportKind;

/// The port a Via without one means (RFC 3261 §18.2.2, §19.1.2).
const DEFAULT_SIP_PORT: u16 = 5060;

/// What the top Via of one request asks of the transport it came over.
#[derive(Debug)]
pub struct Arrival {
    reply_to: SocketAddr,
    /// The first Via line's new value, when the top Via needs a stamp.
    stamped: Option<Bytes>,
}

impl Arrival {
    /// Reads the top Via of `req`, received over `transport` from
    /// `source`. A request whose top Via cannot be read (the parser
    /// already prevents it) is answered at its source and left alone.
    pub fn of(req: &Request, transport: TransportKind, source: SocketAddr) -> Arrival {
        let unread = Arrival {
            reply_to: source,
            stamped: None,
        };
        let Some(value) = req.headers.value(HeaderName::Via) else {
            return unread;
        };
        let Ok((a, b)) = grammar::first_of_list(value) else {
            return unread;
        };
        let top = value.slice(a..b);
        let Ok(head) = SentBy::of(&top) else {
            return unread;
        };
        let Ok(rport) = params::find(&top, head.params_at, b"rport", Flavor::Header) else {
            return unread;
        };
        let reply_to = match transport {
            // RFC 3581 §4: rport, with or without a value, sends the
            // response to the source port.
            TransportKind::Udp if rport.is_none() => {
                SocketAddr::new(source.ip(), head.port.unwrap_or(DEFAULT_SIP_PORT))
            }
            _ => source,
        };
        let wants_rport = rport.is_some_and(|p| p.value.is_none());
        let stamped = (wants_rport || !host_is(&head.host, source.ip()))
            .then(|| stamp(value, (a, b), head.params_at, wants_rport, source));
        Arrival { reply_to, stamped }
    }

    /// Where responses go: for UDP, the source address when the top Via
    /// has `rport` (RFC 3581 §4), otherwise the source IP (what `received`
    /// says) at the sent-by port, 5060 by default (RFC 3261 §18.2.2;
    /// multicast `maddr` is not supported and ignored); for a stream, the
    /// connection's peer.
    pub fn reply_to(&self) -> SocketAddr {
        self.reply_to
    }

    /// Writes the stamp into the request: `received` on the top Via when
    /// the sent-by host is not the source address, and `rport` filled in
    /// when the client sent it empty (RFC 3581 §4: then `received` is
    /// added in every case). Nothing changes when neither applies.
    pub fn stamp(self, req: &mut Request) {
        if let (Some(stamped), Some(top)) = (self.stamped, req.headers.get_mut(HeaderName::Via)) {
            top.value = stamped;
        }
    }
}

/// The first Via line's value with its first element `top`, whose
/// parameters start at `params_at`, stamped. Any `received` the client
/// wrote is removed, the empty `rport` (if `wants_rport`) gets the source
/// port, and `received` is appended after the last parameter; everything
/// else is copied as received.
fn stamp(
    value: &Bytes,
    top: (usize, usize),
    params_at: usize,
    wants_rport: bool,
    source: SocketAddr,
) -> Bytes {
    let element = &value[..top.1];
    let mut out = Vec::with_capacity(value.len() + 48);
    let mut at = top.0 + params_at;
    let mut copied = 0;
    let mut rport_filled = false;
    while let Ok(Next::Param(p)) = params::next(element, at, Flavor::Header) {
        let name = &element[p.name.0..p.name.1];
        if grammar::eq_ignore_case(name, b"received") {
            out.extend_from_slice(&element[copied..p.start]);
            copied = p.end;
        } else if wants_rport && !rport_filled && grammar::eq_ignore_case(name, b"rport") {
            // The first rport, which is the one without a value.
            out.extend_from_slice(&element[copied..p.name.1]);
            out.push(b'=');
            sip::encode::decimal(&mut out, u64::from(source.port()));
            copied = p.end;
            rport_filled = true;
        }
        at = p.end;
    }
    out.extend_from_slice(&element[copied..top.1]);
    // RFC 3261 §25.1: via-received carries a bare IPv6address, no brackets.
    out.extend_from_slice(b";received=");
    match source.ip() {
        IpAddr::V4(ip) => sip::uri::write_v4(&mut out, ip),
        IpAddr::V6(ip) => {
            use std::io::Write as _;
            // Writing into a Vec cannot fail.
            let _ = write!(out, "{ip}");
        }
    }
    out.extend_from_slice(&value[top.1..]);
    Bytes::from(out)
}

fn host_is(host: &Host, ip: IpAddr) -> bool {
    match (host, ip) {
        (Host::V4(h), IpAddr::V4(ip)) => *h == ip,
        (Host::V6(h), IpAddr::V6(ip)) => *h == ip,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sip::typed::Via;
    use sip::Message;

    fn request(via: &str) -> Request {
        let text = format!(
            "OPTIONS sip:p@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:p@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n"
        );
        match sip::parse::parse_datagram(Bytes::from(text)) {
            Ok(Message::Request(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    fn top(req: &Request) -> String {
        String::from_utf8_lossy(req.headers.value(HeaderName::Via).expect("via")).into_owned()
    }

    /// What a transport does with a request from `src` over UDP: the
    /// reply address, and the request stamped.
    fn arrive(r: &mut Request, src: SocketAddr) -> SocketAddr {
        let arrival = Arrival::of(r, TransportKind::Udp, src);
        let to = arrival.reply_to();
        arrival.stamp(r);
        to
    }

    #[test]
    fn rport_is_filled_and_received_added() {
        let mut r = request(
            "SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP proxy;branch=z9hG4bK0",
        );
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        assert_eq!(arrive(&mut r, src), src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 10.0.0.1:5070;rport=40000;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP proxy;branch=z9hG4bK0"
        );
    }

    #[test]
    fn same_host_without_rport_is_left_alone() {
        let mut r = request("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
        let src: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        // No rport: the response goes to the sent-by port, not the source port.
        assert_eq!(arrive(&mut r, src), "127.0.0.1:5070".parse().unwrap());
        assert_eq!(top(&r), "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
    }

    #[test]
    fn domains_and_ipv6_get_received() {
        let mut r = request("SIP/2.0/TCP client.example.com;branch=z9hG4bK1");
        let src: SocketAddr = "[::1]:6000".parse().unwrap();
        assert_eq!(arrive(&mut r, src), "[::1]:5060".parse().unwrap());
        assert_eq!(
            top(&r),
            "SIP/2.0/TCP client.example.com;branch=z9hG4bK1;received=::1"
        );
        // The stamped request still parses, so clients can read our responses.
        let again = sip::parse::parse_datagram(Bytes::from(r.encode())).unwrap();
        assert!(matches!(again, Message::Request(_)));
    }

    #[test]
    fn ipv6_sent_by_and_a_filled_rport() {
        let src: SocketAddr = "[2001:db8::7]:41000".parse().unwrap();
        // The client's own address: only the empty rport needs filling,
        // and received comes with it (RFC 3581 §4).
        let mut r = request("SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK1;rport");
        assert_eq!(arrive(&mut r, src), src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP [2001:db8::7]:5070;branch=z9hG4bK1;rport=41000;received=2001:db8::7"
        );
        // An rport with a value was filled by a server before us: it is not
        // a request, but it still sends our responses to the source port.
        let mut r = request("SIP/2.0/UDP [2001:db8::7]:5070;rport=5070;branch=z9hG4bK1");
        assert_eq!(arrive(&mut r, src), src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP [2001:db8::7]:5070;rport=5070;branch=z9hG4bK1"
        );
        let mut r = request("SIP/2.0/UDP [2001:db8::9];rport=5070;branch=z9hG4bK1");
        arrive(&mut r, src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP [2001:db8::9];rport=5070;branch=z9hG4bK1;received=2001:db8::7"
        );
    }

    #[test]
    fn a_received_already_present_is_replaced() {
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let mut r = request(
            "SIP/2.0/UDP 10.0.0.1;received=10.9.9.9;branch=z9hG4bK1;RECEIVED=1.1.1.1;rport",
        );
        assert_eq!(arrive(&mut r, src), src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;rport=40000;received=192.0.2.7"
        );
        // A received naming the source, from the source: nothing to do.
        let mut r = request("SIP/2.0/UDP 192.0.2.7:5062;received=192.0.2.7;branch=z9hG4bK1");
        assert_eq!(arrive(&mut r, src), "192.0.2.7:5062".parse().unwrap());
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 192.0.2.7:5062;received=192.0.2.7;branch=z9hG4bK1"
        );
    }

    #[test]
    fn compact_form_and_several_via_lines() {
        let text = "OPTIONS sip:p@h SIP/2.0\r\nv: SIP/2.0/UDP 10.0.0.1;rport;branch=z9hG4bK2\r\n\
                    Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1;rport\r\nFrom: <sip:a@h>;tag=1\r\n\
                    To: <sip:p@h>\r\nCall-ID: c\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let Ok(Message::Request(mut r)) = sip::parse::parse_datagram(Bytes::from(text)) else {
            panic!("parses")
        };
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        assert_eq!(arrive(&mut r, src), src);
        let lines: Vec<_> = r.headers.all(HeaderName::Via).collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].raw_name, "v", "the line keeps its spelling");
        assert_eq!(
            lines[0].value,
            "SIP/2.0/UDP 10.0.0.1;rport=40000;branch=z9hG4bK2;received=192.0.2.7"
        );
        assert_eq!(
            lines[1].value,
            "SIP/2.0/UDP proxy.example.com;branch=z9hG4bK1;rport"
        );
    }

    /// Over a stream the response goes back on the connection, whatever
    /// the Via says; the stamp is the same.
    #[test]
    fn streams_reply_to_their_peer() {
        let mut r = request("SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1");
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        let arrival = Arrival::of(&r, TransportKind::Tcp, src);
        assert_eq!(arrival.reply_to(), src);
        arrival.stamp(&mut r);
        assert_eq!(
            top(&r),
            "SIP/2.0/TCP 10.0.0.1:5070;branch=z9hG4bK1;received=192.0.2.7"
        );
    }

    /// The text edit agrees with a rebuild from the parse (what this
    /// module did before), parameter for parameter, on the forms where
    /// the two write different text: white space around `;`, `=` and
    /// the slashes, quoted values, several rport.
    #[test]
    fn the_edit_means_what_a_rebuild_means() {
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        for via in [
            "SIP / 2.0 / UDP 10.0.0.1 ; rport ; branch = z9hG4bK1 ; received = 10.1.1.1",
            "SIP/2.0/UDP host:5070;x=\"a;received=b\";rport;branch=z9hG4bK1",
            "SIP/2.0/UDP 10.0.0.1;rport;rport;branch=z9hG4bK1 , SIP/2.0/UDP p",
            "SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bK1;maddr=224.0.0.1;ttl=1",
        ] {
            let mut r = request(via);
            let rebuilt = rebuild(&r, src);
            arrive(&mut r, src);
            let value = r.headers.value(HeaderName::Via).unwrap().clone();
            let (a, b) = grammar::first_of_list(&value).unwrap();
            let (c, d) = grammar::first_of_list(&rebuilt).unwrap();
            assert_eq!(
                Via::parse(&value.slice(a..b)).unwrap(),
                Via::parse(&rebuilt.slice(c..d)).unwrap(),
                "{via}"
            );
        }
    }

    /// The same, over every order of a handful of parameters (each of
    /// them once) after each kind of sent-by, written tight and spaced,
    /// from a source that is and one that is not the sent-by host.
    #[test]
    fn every_order_of_parameters_means_what_a_rebuild_means() {
        const PARAMS: [&str; 5] = [
            "rport",
            "branch=z9hG4bK1",
            "received=10.1.1.1",
            "x=\"a;received=b\"",
            "RPORT=5070",
        ];
        let sources: [SocketAddr; 2] = [
            "192.0.2.7:40000".parse().unwrap(),
            "[2001:db8::1]:40000".parse().unwrap(),
        ];
        let mut checked = 0;
        for sent_by in ["192.0.2.7:5060", "[2001:db8::1]", "host.example.com:5070"] {
            for order in orders(PARAMS.len()) {
                for sep in [";", " ; "] {
                    let mut via = format!("SIP/2.0/UDP {sent_by}");
                    for &i in &order {
                        via.push_str(sep);
                        via.push_str(PARAMS[i]);
                    }
                    for src in sources {
                        let mut r = request(&via);
                        let rebuilt = rebuild(&r, src);
                        let wanted = Via::parse(&rebuilt).unwrap();
                        let reply = arrive(&mut r, src);
                        let value = r.headers.value(HeaderName::Via).unwrap().clone();
                        assert_eq!(Via::parse(&value).unwrap(), wanted, "{via} from {src}");
                        assert_eq!(reply, src, "{via}: rport is there in every order");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 3 * 120 * 2 * 2);
    }

    /// Every permutation of `0..n`.
    fn orders(n: usize) -> Vec<Vec<usize>> {
        if n == 0 {
            return vec![Vec::new()];
        }
        let mut all = Vec::new();
        for shorter in orders(n - 1) {
            for at in 0..=shorter.len() {
                let mut order = shorter.clone();
                order.insert(at, n - 1);
                all.push(order);
            }
        }
        all
    }

    /// The Via rebuilt from its parse, as this module used to stamp it.
    fn rebuild(req: &Request, source: SocketAddr) -> Bytes {
        let value = req.headers.value(HeaderName::Via).unwrap();
        let (a, b) = grammar::first_of_list(value).unwrap();
        let mut via = Via::parse(&value.slice(a..b)).unwrap();
        let wants_rport = via.rport() == Some(None);
        if host_is(&via.host, source.ip()) && !wants_rport {
            return value.clone();
        }
        let params = &mut via.params.0;
        params.retain(|p| !grammar::eq_ignore_case(&p.name, b"received"));
        if let Some(p) = params
            .iter_mut()
            .find(|p| grammar::eq_ignore_case(&p.name, b"rport"))
        {
            if wants_rport {
                p.value = Some(Bytes::from(source.port().to_string()));
            }
        }
        params.push(sip::params::Param {
            name: Bytes::from_static(b"received"),
            value: Some(Bytes::from(source.ip().to_string())),
        });
        let mut top = format!(
            "{}/{} {}",
            String::from_utf8_lossy(&via.protocol),
            String::from_utf8_lossy(&via.transport),
            via.sent_by()
        )
        .into_bytes();
        via.params.write_to(&mut top);
        top.extend_from_slice(&value[b..]);
        Bytes::from(top)
    }
}
