//! Property: whatever sequence of PUBLISHes (create, refresh, modify,
//! remove, stale entity-tags, bad intervals), flow closes and expiries
//! happens, replaying the emitted store operations into a table gives
//! exactly the live publications; errors emit nothing; `changed` is
//! reported exactly when a presentity's version moves; the next timeout is
//! the earliest expiry or flow grace end; and restoring the
//! table into a fresh compositor renders the same states.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use presence::{Presentities, PublicationConfig, PublicationRecord, StoreOp};
use proptest::prelude::*;
use sip::parse::Framing;
use sip::{Message, Request};

const WHO: [&str; 3] = [
    "sip:alice@example.com",
    "sip:bob@example.com",
    "tel:+31612345678",
];
const BODIES: [&str; 4] = [
    "pjsua2-2.15.1-busy.xml",
    "pjsua2-2.15.1-online.xml",
    "baresip-1.0.0-open.xml",
    "baresip-1.0.0-closed.xml",
];

#[derive(Debug, Clone)]
enum Op {
    Create {
        who: usize,
        body: usize,
        expires: Option<u32>,
        flow: Option<u32>,
    },
    Refresh {
        pick: usize,
        expires: Option<u32>,
        flow: Option<u32>,
    },
    Modify {
        pick: usize,
        body: usize,
        flow: Option<u32>,
    },
    Remove {
        pick: usize,
    },
    Stale {
        who: usize,
    },
    CloseFlow {
        flow: u32,
    },
    Advance {
        secs: u64,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let expires = proptest::option::of(0u32..250);
    let flow = proptest::option::of(0u32..3);
    prop_oneof![
        3 => (0..WHO.len(), 0..BODIES.len(), expires.clone(), flow.clone())
            .prop_map(|(who, body, expires, flow)| Op::Create { who, body, expires, flow }),
        2 => (any::<usize>(), expires, flow.clone())
            .prop_map(|(pick, expires, flow)| Op::Refresh { pick, expires, flow }),
        2 => (any::<usize>(), 0..BODIES.len(), flow)
            .prop_map(|(pick, body, flow)| Op::Modify { pick, body, flow }),
        1 => any::<usize>().prop_map(|pick| Op::Remove { pick }),
        1 => (0..WHO.len()).prop_map(|who| Op::Stale { who }),
        1 => (0u32..3).prop_map(|flow| Op::CloseFlow { flow }),
        2 => (0u64..120).prop_map(|secs| Op::Advance { secs }),
    ]
}

fn body(index: usize) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/pidf")
        .join(BODIES[index]);
    std::fs::read(path).expect("vector")
}

fn request(uri: &str, if_match: Option<&str>, expires: Option<u32>, body: &[u8]) -> Request {
    let mut text = format!(
        "PUBLISH {uri} SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKp1\r\n\
         Max-Forwards: 70\r\nFrom: <{uri}>;tag=f1\r\nTo: <{uri}>\r\nCall-ID: c1\r\n\
         CSeq: 1 PUBLISH\r\nEvent: presence\r\nContent-Type: application/pidf+xml\r\n"
    );
    if let Some(etag) = if_match {
        text.push_str(&format!("SIP-If-Match: {etag}\r\n"));
    }
    if let Some(secs) = expires {
        text.push_str(&format!("Expires: {secs}\r\n"));
    }
    text.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    match sip::parse::parse(Bytes::from(bytes), Framing::Datagram, &sip::Limits::DEFAULT) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

fn config() -> PublicationConfig {
    PublicationConfig {
        min_expires: 10,
        max_expires: 200,
        default_expires: 100,
        flow_grace: Duration::from_secs(30),
        max_per_presentity: 3,
        ..PublicationConfig::default()
    }
}

/// Every live publication, as records keyed like the store keys them.
fn live(ps: &Presentities<u32>) -> BTreeMap<String, PublicationRecord<u32>> {
    ps.presentities()
        .iter()
        .flat_map(|p| ps.publications(p))
        .map(|r| (format!("{}\n{}", r.presentity, r.etag), r))
        .collect()
}

fn versions(ps: &mut Presentities<u32>) -> Vec<u64> {
    WHO.iter().map(|w| ps.state(w).version).collect()
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut ps = Presentities::<u32>::new(config(), 42);
    let mut table: BTreeMap<String, PublicationRecord<u32>> = BTreeMap::new();
    // When the flow of a publication (by store key) closed, plus the grace.
    let mut grace: BTreeMap<String, SystemTime> = BTreeMap::new();
    let mut now = UNIX_EPOCH + Duration::from_secs(1_000_000);
    for op in ops {
        let pick = |n: usize| table.values().nth(n % table.len().max(1)).cloned();
        let before = versions(&mut ps);
        let (store, changed): (Vec<StoreOp<u32>>, Vec<String>) = match op {
            Op::Advance { secs } => {
                now += Duration::from_secs(secs);
                let expired = ps.handle_timeout(now);
                prop_assert!(ps.poll_timeout().is_none_or(|t| t > now));
                (expired.store, expired.changed)
            }
            Op::CloseFlow { flow } => {
                ps.flow_closed(&flow, now);
                for (key, record) in &table {
                    if record.flow == Some(flow) && !grace.contains_key(key) {
                        grace.insert(key.clone(), now + config().flow_grace);
                    }
                }
                (Vec::new(), Vec::new())
            }
            other => {
                let (req, flow) = match other {
                    Op::Create {
                        who,
                        body: b,
                        expires,
                        flow,
                    } => (request(WHO[who], None, expires, &body(b)), flow),
                    Op::Refresh {
                        pick: n,
                        expires,
                        flow,
                    } => match pick(n) {
                        Some(r) => (request(&r.presentity, Some(&r.etag), expires, b""), flow),
                        None => continue,
                    },
                    Op::Modify {
                        pick: n,
                        body: b,
                        flow,
                    } => match pick(n) {
                        Some(r) => (request(&r.presentity, Some(&r.etag), None, &body(b)), flow),
                        None => continue,
                    },
                    Op::Remove { pick: n } => match pick(n) {
                        Some(r) => (request(&r.presentity, Some(&r.etag), Some(0), b""), None),
                        None => continue,
                    },
                    Op::Stale { who } => (request(WHO[who], Some("0123"), None, b""), None),
                    _ => unreachable!(),
                };
                let out = ps.publish(&req, &flow.unwrap_or(9), flow.is_some(), "t", now);
                if out.response.status != 200 {
                    prop_assert!(out.store.is_empty() && out.changed.is_none());
                } else {
                    prop_assert!(!out.store.is_empty());
                }
                (out.store, out.changed.into_iter().collect())
            }
        };
        for op in &store {
            match op {
                StoreOp::PutPublication(r) => {
                    table.insert(op.key(), r.clone());
                }
                StoreOp::DeletePublication { .. } => {
                    prop_assert!(table.remove(&op.key()).is_some(), "deleted twice: {op:?}");
                    grace.remove(&op.key());
                }
                _ => prop_assert!(false, "{op:?}"),
            }
        }
        prop_assert_eq!(table.len(), ps.len());
        prop_assert_eq!(&table, &live(&ps));
        // The next deadline is the earliest end: expiry, or flow grace.
        let next = table
            .iter()
            .map(|(key, r)| {
                let expires = UNIX_EPOCH + Duration::from_millis(r.expires_at_ms);
                grace.get(key).map_or(expires, |g| expires.min(*g))
            })
            .min();
        prop_assert_eq!(ps.poll_timeout(), next);
        let after = versions(&mut ps);
        let moved: Vec<String> = WHO
            .iter()
            .zip(before.iter().zip(&after))
            .filter(|(_, (b, a))| a != b)
            .map(|(w, _)| w.to_string())
            .collect();
        let mut reported = changed.clone();
        reported.sort();
        let mut moved_sorted = moved.clone();
        moved_sorted.sort();
        prop_assert_eq!(reported, moved_sorted);
        prop_assert!(before.iter().zip(&after).all(|(b, a)| a >= b));
    }
    // A restart: the table restores to the same composed states.
    let mut again = Presentities::<u32>::new(config(), 42);
    for record in table.values() {
        prop_assert!(again.restore(record.clone(), now));
    }
    prop_assert_eq!(again.len(), ps.len());
    for who in WHO {
        let (old, new) = (ps.state(who), again.state(who));
        prop_assert_eq!(old.known, new.known);
        if old.known {
            prop_assert_eq!(old.body, new.body);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn store_ops_replay_to_the_live_publications(ops in proptest::collection::vec(op(), 1..60)) {
        run(ops)?;
    }
}

#[test]
fn replay_holds_for_a_fixed_sequence() {
    let ops = vec![
        Op::Create {
            who: 0,
            body: 0,
            expires: None,
            flow: Some(1),
        },
        Op::Create {
            who: 0,
            body: 1,
            expires: Some(30),
            flow: None,
        },
        Op::Refresh {
            pick: 0,
            expires: Some(5),
            flow: None,
        },
        Op::Modify {
            pick: 1,
            body: 2,
            flow: Some(2),
        },
        Op::CloseFlow { flow: 1 },
        Op::Advance { secs: 31 },
        Op::Stale { who: 1 },
        Op::Remove { pick: 0 },
        Op::Advance { secs: 100 },
    ];
    run(ops).unwrap();
}
