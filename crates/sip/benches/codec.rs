//! Parse and serialize rates of the messages a presence server lives on:
//! SUBSCRIBE (new dialog), NOTIFY with a PIDF body, PUBLISH with PIDF.
//! Run with `cargo bench -p sip --bench codec`; criterion prints the
//! throughput in elements (messages) per second.

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sip::parse::{parse, Framing};
use sip::Limits;

const PIDF: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n\
<presence xmlns=\"urn:ietf:params:xml:ns:pidf\" xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\" \
xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\" entity=\"sip:alice@example.com\">\r\n\
<tuple id=\"t1\"><status><basic>open</basic></status></tuple>\r\n\
<dm:person id=\"p1\"><rpid:activities><rpid:busy/></rpid:activities><dm:note>In a meeting</dm:note></dm:person>\r\n\
</presence>\r\n";

fn subscribe() -> String {
    "SUBSCRIBE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bKPj2f1b9c6e4d3a4b5c8e7f\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=8f7c2a1e9b4d4c3e\r\n\
To: <sip:bob@example.com>\r\n\
Contact: <sip:alice@192.0.2.10:5060;ob>\r\n\
Call-ID: 5d8a7c1b2e3f4a5b6c7d8e9f0a1b2c3d\r\n\
CSeq: 28461 SUBSCRIBE\r\n\
Event: presence\r\n\
Expires: 600\r\n\
Supported: replaces, 100rel, timer, norefersub\r\n\
Accept: application/pidf+xml, application/xpidf+xml\r\n\
Allow-Events: presence, message-summary, refer\r\n\
User-Agent: PJSUA v2.15.1 Linux\r\n\
Content-Length: 0\r\n\r\n"
        .to_string()
}

fn notify() -> String {
    format!(
        "NOTIFY sip:alice@192.0.2.10:5060;ob SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK-524287-1---7f3c2a1b\r\n\
Max-Forwards: 70\r\n\
From: <sip:bob@example.com>;tag=as5f2c1d\r\n\
To: \"Alice\" <sip:alice@example.com>;tag=8f7c2a1e9b4d4c3e\r\n\
Contact: <sip:192.0.2.1:5060>\r\n\
Call-ID: 5d8a7c1b2e3f4a5b6c7d8e9f0a1b2c3d\r\n\
CSeq: 3 NOTIFY\r\n\
Event: presence\r\n\
Subscription-State: active;expires=598\r\n\
Content-Type: application/pidf+xml\r\n\
Content-Length: {}\r\n\r\n{PIDF}",
        PIDF.len()
    )
}

fn publish() -> String {
    format!(
        "PUBLISH sip:alice@example.com SIP/2.0\r\n\
Via: SIP/2.0/TCP 192.0.2.10:5060;rport;branch=z9hG4bKPj9a8b7c6d5e4f\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=1c2d3e4f5a6b\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: 0a1b2c3d4e5f60718293a4b5c6d7e8f9\r\n\
CSeq: 4 PUBLISH\r\n\
Event: presence\r\n\
Expires: 3600\r\n\
SIP-If-Match: 7d2f4a9c\r\n\
Content-Type: application/pidf+xml\r\n\
Content-Length: {}\r\n\r\n{PIDF}",
        PIDF.len()
    )
}

fn bench(c: &mut Criterion) {
    for (name, text) in [
        ("subscribe", subscribe()),
        ("notify", notify()),
        ("publish", publish()),
    ] {
        let wire = Bytes::from(text);
        let mut group = c.benchmark_group(name);
        group.throughput(Throughput::Elements(1));
        group.bench_function("parse", |b| {
            b.iter(|| {
                parse(wire.clone(), Framing::Datagram, &Limits::DEFAULT).expect("valid message")
            })
        });
        let parsed =
            parse(wire.clone(), Framing::Datagram, &Limits::DEFAULT).expect("valid message");
        group.bench_function("serialize", |b| {
            b.iter_batched_ref(
                || Vec::with_capacity(wire.len() + 64),
                |out| match &parsed {
                    sip::Message::Request(r) => r.encode_into(out),
                    sip::Message::Response(r) => r.encode_into(out),
                },
                BatchSize::SmallInput,
            )
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
