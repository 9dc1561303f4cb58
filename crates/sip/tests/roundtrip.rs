//! Property tests: `parse ∘ serialize` is the identity on generated messages,
//! and `serialize ∘ parse` reproduces the bytes of well-formed messages.
//!
//! Messages are generated from their parts (methods, URIs with parameters,
//! Via with branch and rport, name-addrs with quoted display names and
//! escapes, compact and long header names, unknown extension headers and
//! binary bodies), so every path of the parser and serializer is exercised.

use bytes::Bytes;
use proptest::prelude::*;
use sip::parse::{parse, Framing};
use sip::{HeaderAccess, Limits, Message};

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9]{0,6}){0,2}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[2001:db8::1]".to_string()),
        Just("[::1]".to_string()),
    ]
}

fn uri_param() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(";lr".to_string()),
        prop_oneof![Just("udp"), Just("tcp"), Just("tls")].prop_map(|t| format!(";transport={t}")),
        ("[a-z]{1,6}", "[a-zA-Z0-9%]{0,0}[a-zA-Z0-9_.~-]{1,8}")
            .prop_map(|(n, v)| format!(";{n}={v}")),
    ]
}

fn sip_uri() -> impl Strategy<Value = String> {
    (
        prop_oneof![Just("sip"), Just("sips"), Just("SIP")],
        proptest::option::of("[a-zA-Z0-9_.!~*'()&=+$,/-]{1,10}(%[0-9A-F]{2})?"),
        host(),
        proptest::option::of(1u16..),
        proptest::collection::vec(uri_param(), 0..3),
    )
        .prop_map(|(scheme, user, host, port, params)| {
            let mut s = format!("{scheme}:");
            if let Some(u) = user {
                s.push_str(&u);
                s.push('@');
            }
            s.push_str(&host);
            if let Some(p) = port {
                s.push_str(&format!(":{p}"));
            }
            s.extend(params);
            s
        })
}

fn any_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        8 => sip_uri(),
        1 => "\\+[0-9]{3,12}".prop_map(|n| format!("tel:{n}")),
        1 => "[a-z]{2,6}:[a-z0-9]{1,10}@[a-z]{1,8}\\.com",
    ]
}

fn display_name() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(prop_oneof![
        "[A-Za-z][A-Za-z0-9]{0,8}( [A-Za-z]{1,8})?",
        "[A-Za-z ,<>;:@]{0,12}".prop_map(|s| format!("\"{s}\"")),
        "[a-z]{1,4}".prop_map(|s| format!("\"{s} \\\"q\\\" \"")),
    ])
}

fn name_addr(tag: bool) -> impl Strategy<Value = String> {
    (
        display_name(),
        sip_uri(),
        proptest::option::of(token()),
        any::<bool>(),
    )
        .prop_map(move |(d, uri, t, bare)| {
            let mut s = match (d, bare) {
                (None, true) if !uri.contains([';', ',', '?']) => uri,
                (None, _) => format!("<{uri}>"),
                (Some(d), _) => format!("{d} <{uri}>"),
            };
            if tag {
                if let Some(t) = t {
                    s.push_str(&format!(";tag={t}"));
                }
            }
            s
        })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("SUBSCRIBE".to_string()),
        Just("NOTIFY".to_string()),
        Just("PUBLISH".to_string()),
        Just("OPTIONS".to_string()),
        Just("INVITE".to_string()),
        "[A-Z]{3,10}",
    ]
}

fn extension_header() -> impl Strategy<Value = String> {
    ("X-[A-Za-z0-9-]{1,12}", "[!-~]([ -~]{0,40}[!-~])?").prop_map(|(n, v)| format!("{n}: {v}"))
}

/// One generated message, as wire text.
fn message() -> impl Strategy<Value = Vec<u8>> {
    (
        (any::<bool>(), method(), any_uri()),
        host(),
        proptest::option::of(1u16..),
        token(),
        name_addr(true),
        name_addr(true),
        "[a-zA-Z0-9.!%*_+-]{1,20}(@[a-z0-9.]{1,12})?",
        0u32..(1 << 31),
        (
            any::<bool>(),
            proptest::collection::vec(extension_header(), 0..4),
        ),
        proptest::collection::vec(any::<u8>(), 0..64),
        (100u16..700, "[ -~]{0,20}"),
    )
        .prop_map(
            |(
                (is_request, method, uri),
                via_host,
                via_port,
                branch,
                from,
                to,
                call_id,
                seq,
                (compact, ext),
                body,
                (status, reason),
            )| {
                let mut m = String::new();
                if is_request {
                    m.push_str(&format!("{method} {uri} SIP/2.0\r\n"));
                } else {
                    m.push_str(&format!("SIP/2.0 {status} {reason}\r\n"));
                }
                let port = via_port.map(|p| format!(":{p}")).unwrap_or_default();
                let (v, f, t, i, l) = if compact {
                    ("v", "f", "t", "i", "l")
                } else {
                    ("Via", "From", "To", "Call-ID", "Content-Length")
                };
                m.push_str(&format!(
                    "{v}: SIP/2.0/UDP {via_host}{port};branch=z9hG4bK{branch};rport\r\n"
                ));
                m.push_str(&format!(
                    "{f}: {from}\r\n{t}: {to}\r\n{i}: {call_id}\r\nCSeq: {seq} {method}\r\n"
                ));
                for h in ext {
                    m.push_str(&h);
                    m.push_str("\r\n");
                }
                m.push_str(&format!("{l}: {}\r\n\r\n", body.len()));
                let mut bytes = m.into_bytes();
                bytes.extend_from_slice(&body);
                bytes
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn serialize_parse_is_identity(wire in message()) {
        for framing in [Framing::Datagram, Framing::Stream] {
            let parsed = parse(Bytes::from(wire.clone()), framing, &Limits::DEFAULT)
                .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&wire))))?;
            let encoded = parsed.encode();
            prop_assert_eq!(&encoded, &wire);
            let reparsed = parse(Bytes::from(encoded), framing, &Limits::DEFAULT).expect("re-parse");
            prop_assert_eq!(&reparsed, &parsed);
        }
    }

    #[test]
    fn typed_views_agree_with_the_text(wire in message()) {
        let parsed = parse(Bytes::from(wire), Framing::Datagram, &Limits::DEFAULT).expect("parse");
        let via = match &parsed {
            Message::Request(r) => r.top_via(),
            Message::Response(r) => r.top_via(),
        }.expect("via");
        prop_assert!(via.has_rfc3261_branch());
        prop_assert_eq!(via.rport(), Some(None));
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(Bytes::from(data), Framing::Datagram, &Limits::DEFAULT);
    }

    #[test]
    fn mutated_messages_never_panic(wire in message(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut wire = wire;
        let i = at.index(wire.len());
        wire[i] = byte;
        if let Ok(m) = parse(Bytes::from(wire), Framing::Datagram, &Limits::DEFAULT) {
            let again = parse(Bytes::from(m.encode()), Framing::Datagram, &Limits::DEFAULT).expect("a parsed message re-parses");
            // The serializer adds Content-Length when the datagram had none.
            let strip = |m: &Message| m.headers().iter().filter(|h| h.name != sip::HeaderName::ContentLength).cloned().collect::<Vec<_>>();
            prop_assert_eq!(strip(&again), strip(&m));
            prop_assert_eq!(again.body(), m.body());
        }
    }
}
