//! Parse and render rates of a typical PIDF document: what a PUBLISH brings
//! in and what every state change sends out. Run with
//! `cargo bench -p presence --bench pidf`; criterion prints the throughput
//! in elements (documents) per second.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presence::pidf;
use presence::XmlLimits;

/// Three tuples (two devices and a voicemail), a person with an activity
/// and notes, in the shape pjsua and RFC 4480 write: about 1 KB.
const TYPICAL: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<presence entity="sip:alice@example.com" xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid">
 <tuple id="pjkgXJMQedqmrFmgR06NS2UvlzSR9hsmYq">
  <status>
   <basic>open</basic>
  </status>
  <contact priority="0.8">sip:alice@192.0.2.10:5060;ob</contact>
  <timestamp>2026-11-23T02:45:54.287Z</timestamp>
  <note>In a meeting</note>
 </tuple>
 <tuple id="desk-phone">
  <status>
   <basic>closed</basic>
  </status>
  <contact priority="0.5">sip:alice@192.0.2.11</contact>
  <note xml:lang="en">Desk phone</note>
 </tuple>
 <tuple id="voicemail">
  <status>
   <basic>open</basic>
  </status>
  <contact priority="0.1">sip:vm+alice@example.com</contact>
 </tuple>
 <dm:person id="pjW2tEJ4BIJVMXPFjnGoBzz-hOx.ChK-gw">
  <rpid:activities until="2026-11-23T15:00:00Z">
   <rpid:busy />
   <rpid:meeting />
  </rpid:activities>
  <dm:note>In a meeting &amp; back at 3</dm:note>
 </dm:person>
 <note>Working from the Amsterdam office</note>
</presence>
"#;

fn bench(c: &mut Criterion) {
    let doc = pidf::parse(TYPICAL.as_bytes(), &XmlLimits::DEFAULT).expect("bench document parses");
    let mut group = c.benchmark_group("pidf");
    group.throughput(Throughput::Elements(1));
    group.bench_function("parse", |b| {
        b.iter(|| {
            pidf::parse(
                std::hint::black_box(TYPICAL.as_bytes()),
                &XmlLimits::DEFAULT,
            )
        })
    });
    group.bench_function("render", |b| {
        b.iter(|| pidf::render(std::hint::black_box(&doc)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
