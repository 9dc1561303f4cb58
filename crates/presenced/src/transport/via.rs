//! What a server does to the top Via of a request it receives, and where the
//! responses go (RFC 3261 §18.2.1, §18.2.2; RFC 3581).
//!
//! A client behind NAT writes its private address in Via. The server records
//! the address the request really came from (`received`, and `rport` when
//! the client asks for it) so that the response, which copies the Via, can
//! find its way back and the client learns its public address.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use sip::grammar;
use sip::params::Param;
use sip::typed::Via;
use sip::uri::Host;
use sip::{Header, HeaderAccess, HeaderName, Headers, Request};

/// The port a Via without one means (RFC 3261 §18.2.2, §19.1.2).
const DEFAULT_SIP_PORT: u16 = 5060;

/// Adds `received` to the top Via when the sent-by host is not the source
/// address, and fills in `rport` when the client sent it empty (RFC 3581
/// §4: then `received` is added in every case). Leaves the request alone
/// when the top Via cannot be read, which the parser already prevents.
pub fn stamp_received(req: &mut Request, source: SocketAddr) {
    let Some((index, value)) = req
        .headers
        .iter()
        .enumerate()
        .find(|(_, h)| h.name == HeaderName::Via)
        .map(|(i, h)| (i, h.value.clone()))
    else {
        return;
    };
    let Ok(parts) = grammar::split_commas(&value) else {
        return;
    };
    let Some(&(a, b)) = parts.first() else { return };
    let Ok(mut via) = Via::parse(&value.slice(a..b)) else {
        return;
    };
    let wants_rport = via.rport() == Some(None);
    let same_host = host_is(&via.host, source.ip());
    if same_host && !wants_rport {
        return;
    }
    let params = &mut via.params.0;
    params.retain(|p| !grammar::eq_ignore_case(&p.name, b"received"));
    if wants_rport {
        if let Some(p) = params
            .iter_mut()
            .find(|p| grammar::eq_ignore_case(&p.name, b"rport"))
        {
            p.value = Some(Bytes::from(source.port().to_string()));
        }
    }
    // RFC 3261 §25.1: via-received carries a bare IPv6address, no brackets.
    params.push(Param {
        name: Bytes::from_static(b"received"),
        value: Some(Bytes::from(source.ip().to_string())),
    });

    let mut top = Vec::with_capacity(value.len() + 40);
    top.extend_from_slice(&via.protocol);
    top.push(b'/');
    top.extend_from_slice(&via.transport);
    top.push(b' ');
    top.extend_from_slice(via.sent_by().as_bytes());
    via.params.write_to(&mut top);
    if let Some(&(rest, _)) = parts.get(1) {
        top.extend_from_slice(b", ");
        top.extend_from_slice(&value[rest..]);
    }
    let old = std::mem::take(&mut req.headers);
    req.headers = old
        .iter()
        .enumerate()
        .map(|(i, h)| {
            if i == index {
                Header {
                    value: Bytes::from(top.clone()),
                    ..h.clone()
                }
            } else {
                h.clone()
            }
        })
        .collect::<Headers>();
}

fn host_is(host: &Host, ip: IpAddr) -> bool {
    match (host, ip) {
        (Host::V4(h), IpAddr::V4(ip)) => *h == ip,
        (Host::V6(h), IpAddr::V6(ip)) => *h == ip,
        _ => false,
    }
}

/// Where a response to a request received over UDP goes: the source
/// address when the top Via has `rport` (RFC 3581 §4), otherwise the source
/// IP (what `received` says) at the sent-by port, 5060 by default
/// (RFC 3261 §18.2.2). Multicast `maddr` is not supported and ignored.
pub fn udp_reply_addr(req: &Request, source: SocketAddr) -> SocketAddr {
    match req.top_via() {
        Ok(via) if via.rport().is_some() => source,
        Ok(via) => SocketAddr::new(source.ip(), via.port.unwrap_or(DEFAULT_SIP_PORT)),
        Err(_) => source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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

    #[test]
    fn rport_is_filled_and_received_added() {
        let mut r = request(
            "SIP/2.0/UDP 10.0.0.1:5070;rport;branch=z9hG4bK1, SIP/2.0/UDP proxy;branch=z9hG4bK0",
        );
        let src: SocketAddr = "192.0.2.7:40000".parse().unwrap();
        stamp_received(&mut r, src);
        assert_eq!(
            top(&r),
            "SIP/2.0/UDP 10.0.0.1:5070;rport=40000;branch=z9hG4bK1;received=192.0.2.7, SIP/2.0/UDP proxy;branch=z9hG4bK0"
        );
        assert_eq!(udp_reply_addr(&r, src), src);
    }

    #[test]
    fn same_host_without_rport_is_left_alone() {
        let mut r = request("SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
        let src: SocketAddr = "127.0.0.1:6000".parse().unwrap();
        stamp_received(&mut r, src);
        assert_eq!(top(&r), "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1");
        // No rport: the response goes to the sent-by port, not the source port.
        assert_eq!(udp_reply_addr(&r, src), "127.0.0.1:5070".parse().unwrap());
    }

    #[test]
    fn domains_and_ipv6_get_received() {
        let mut r = request("SIP/2.0/TCP client.example.com;branch=z9hG4bK1");
        let src: SocketAddr = "[::1]:6000".parse().unwrap();
        stamp_received(&mut r, src);
        assert_eq!(
            top(&r),
            "SIP/2.0/TCP client.example.com;branch=z9hG4bK1;received=::1"
        );
        assert_eq!(udp_reply_addr(&r, src), "[::1]:5060".parse().unwrap());
        // The stamped request still parses, so clients can read our responses.
        let again = sip::parse::parse_datagram(Bytes::from(r.encode())).unwrap();
        assert!(matches!(again, Message::Request(_)));
    }
}
