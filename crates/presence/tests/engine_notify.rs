//! The NOTIFY pump: one in flight per dialog, coalescing, the final state
//! always last; and restore after a restart.

mod common;

use std::collections::HashMap;

use common::*;
use presence::subscription::CSEQ_PERSIST_EVERY;
use presence::{
    Action, EngineConfig, NotifyId, NotifyOutcome, PublicationRecord, StoreOp, SubscriptionRecord,
};
use proptest::prelude::*;
use sip::HeaderName;

fn harness() -> Harness {
    Harness::new(EngineConfig::default())
}

#[test]
fn publishes_during_a_notify_coalesce_into_one() {
    let mut h = harness();
    let actions = h.request(Sub::new(BOB, ALICE, "c1").request(), at(0));
    let (first, _) = notifies(&actions)[0];
    let (etag, a) = h.published(publish(ALICE, None, &pidf(ALICE, "open", "one"), 1), at(1));
    assert!(notifies(&a).is_empty(), "a NOTIFY is in flight");
    let (etag, a) = h.published(
        publish(ALICE, Some(&etag), &pidf(ALICE, "open", "two"), 2),
        at(2),
    );
    assert!(notifies(&a).is_empty());
    let (_, a) = h.published(
        publish(ALICE, Some(&etag), &pidf(ALICE, "closed", "three"), 3),
        at(3),
    );
    assert!(notifies(&a).is_empty());

    let next = h.outcome(first, NotifyOutcome::Response(200), at(4));
    let sent = notifies(&next);
    assert_eq!(sent.len(), 1, "{next:?}");
    let (second, n) = sent[0];
    assert_eq!(header(&n.headers, HeaderName::CSeq), "2 NOTIFY");
    assert!(body(n).contains("three"), "{}", body(n));
    assert!(!body(n).contains("two"));
    assert!(h
        .outcome(second, NotifyOutcome::Response(200), at(5))
        .is_empty());
}

#[test]
fn terminating_during_a_notify_sends_the_final_one_after_it() {
    let mut h = harness();
    let sub = Sub::new(BOB, ALICE, "c1");
    let actions = h.request(sub.request(), at(0));
    let tag = ok_tag(&actions);
    let (first, _) = notifies(&actions)[0];
    let bye = h.request(sub.in_dialog(&tag, 2).expires(Some(0)).request(), at(1));
    assert_eq!(
        kinds(&bye),
        ["store", "respond"],
        "waits for the first NOTIFY"
    );
    let next = h.outcome(first, NotifyOutcome::Response(200), at(2));
    let (last, n) = notifies(&next)[0];
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "terminated;reason=timeout"
    );
    assert!(h
        .outcome(last, NotifyOutcome::Response(200), at(3))
        .is_empty());
    assert_eq!(h.engine.stats().notifies_in_flight, 0);
}

#[derive(Debug, Clone)]
enum Op {
    /// Publisher i publishes (or modifies) with note n.
    Publish(usize, u8, bool),
    /// The oldest outstanding NOTIFY of watcher i completes with 200.
    Complete(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..3usize, any::<u8>(), any::<bool>()).prop_map(|(p, n, o)| Op::Publish(p, n, o)),
        (0..3usize).prop_map(Op::Complete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Whatever the interleaving of PUBLISHes from three publishers and
    /// NOTIFY completions, once everything completes each watcher's last
    /// NOTIFY carries the final composed state, and CSeqs only increase.
    #[test]
    fn last_notify_is_the_final_state(ops in proptest::collection::vec(op(), 1..40)) {
        let mut h = harness();
        let watchers = [BOB, CAROL, "sip:dave@example.com"];
        let mut outstanding: HashMap<usize, NotifyId> = HashMap::new();
        let mut last_body: HashMap<usize, String> = HashMap::new();
        let mut last_cseq: HashMap<usize, u32> = HashMap::new();
        let owner: HashMap<String, usize> =
            (0..watchers.len()).map(|i| (format!("c{i}"), i)).collect();
        let record = |actions: &[Action<Flow>], outstanding: &mut HashMap<usize, NotifyId>,
                      last_body: &mut HashMap<usize, String>, last_cseq: &mut HashMap<usize, u32>| {
            for (id, n) in notifies(actions) {
                let call_id = header(&n.headers, HeaderName::CallId);
                let w = owner[&call_id];
                prop_assert!(!outstanding.contains_key(&w), "two NOTIFYs in flight for {w}");
                outstanding.insert(w, id);
                let cseq: u32 = header(&n.headers, HeaderName::CSeq)
                    .split(' ').next().unwrap().parse().unwrap();
                prop_assert!(cseq > last_cseq.get(&w).copied().unwrap_or(0));
                last_cseq.insert(w, cseq);
                last_body.insert(w, body(n));
            }
            Ok(())
        };
        for (i, w) in watchers.iter().enumerate() {
            let a = h.request(Sub::new(w, ALICE, &format!("c{i}")).request(), at(0));
            record(&a, &mut outstanding, &mut last_body, &mut last_cseq)?;
        }
        let mut etags: [Option<String>; 3] = [None, None, None];
        let mut n = 10;
        for op in ops {
            n += 1;
            match op {
                Op::Publish(p, note, open) => {
                    let basic = if open { "open" } else { "closed" };
                    let text = pidf(ALICE, basic, &format!("p{p}n{note}"));
                    let (etag, a) = h.published(publish(ALICE, etags[p].as_deref(), &text, n), at(1));
                    etags[p] = Some(etag);
                    record(&a, &mut outstanding, &mut last_body, &mut last_cseq)?;
                }
                Op::Complete(w) => {
                    if let Some(id) = outstanding.remove(&w) {
                        let a = h.outcome(id, NotifyOutcome::Response(200), at(1));
                        record(&a, &mut outstanding, &mut last_body, &mut last_cseq)?;
                    }
                }
            }
        }
        while let Some((&w, &id)) = outstanding.iter().next() {
            outstanding.remove(&w);
            let a = h.outcome(id, NotifyOutcome::Response(200), at(2));
            record(&a, &mut outstanding, &mut last_body, &mut last_cseq)?;
        }
        // A fetch shows the final composed state.
        let fetch = h.request(Sub::new(BOB, ALICE, "fetch").expires(Some(0)).request(), at(3));
        let expected = body(notifies(&fetch)[0].1);
        for w in 0..watchers.len() {
            prop_assert_eq!(&last_body[&w], &expected);
        }
    }
}

fn stored_subscription(h: &mut Harness, sub: &Sub) -> SubscriptionRecord<Flow> {
    let actions = h.request(sub.request(), at(0));
    h.ok_all(&actions, at(0));
    match &stores(&actions)[..] {
        [StoreOp::PutSubscription(r)] => r.clone(),
        other => panic!("{other:?}"),
    }
}

fn stored_publication(h: &mut Harness, note: &str) -> PublicationRecord<Flow> {
    let (_, actions) = h.published(publish(ALICE, None, &pidf(ALICE, "open", note), 1), at(0));
    h.ok_all(&actions, at(0));
    stores(&actions)
        .into_iter()
        .find_map(|op| match op {
            StoreOp::PutPublication(r) => Some(r.clone()),
            _ => None,
        })
        .expect("a stored publication")
}

#[test]
fn restore_drops_expired_and_notifies_the_live_above_the_stored_cseq() {
    let mut before = harness();
    let publication = stored_publication(&mut before, "restored");
    let live = stored_subscription(&mut before, &Sub::new(BOB, ALICE, "c1"));
    let short = stored_subscription(&mut before, &Sub::new(CAROL, ALICE, "c2").expires(Some(60)));

    let mut after = harness();
    let actions = after.engine.restore(
        vec![publication],
        vec![live.clone(), short.clone()],
        at(100),
    );
    let Some(Action::Store(deletes)) = actions.first() else {
        panic!("{actions:?}")
    };
    assert_eq!(
        deletes,
        &vec![StoreOp::DeleteSubscription {
            id: short.id.clone()
        }]
    );
    // The CSeq jump is made durable before the NOTIFY that uses it.
    assert_eq!(kinds(&actions), ["store", "store", "notify"]);
    match &stores(&actions)[1] {
        StoreOp::PutSubscription(r) => {
            assert_eq!(r.id, live.id);
            assert!(r.local_cseq >= live.local_cseq + CSEQ_PERSIST_EVERY);
        }
        other => panic!("{other:?}"),
    }
    let (_, n) = notifies(&actions)[0];
    let cseq: u32 = header(&n.headers, HeaderName::CSeq)
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(cseq > live.local_cseq + CSEQ_PERSIST_EVERY - 1);
    assert_eq!(
        header(&n.headers, HeaderName::SubscriptionState),
        "active;expires=500"
    );
    assert!(body(n).contains("restored"), "{}", body(n));
    assert!(after.engine.contains_dialog(
        live.call_id.as_bytes(),
        live.local_tag.as_bytes(),
        live.remote_tag.as_bytes()
    ));
    assert_eq!(after.engine.stats().subscriptions_active, 1);
    assert_eq!(
        after.engine.poll_timeout().map(|t| t <= at(600)),
        Some(true)
    );
}

#[test]
fn restore_drops_expired_publications_with_a_store_delete() {
    let mut before = harness();
    let mut publication = stored_publication(&mut before, "old");
    publication.expires_at_ms = 1_700_000_050_000;
    let mut after = harness();
    let actions = after
        .engine
        .restore(vec![publication.clone()], vec![], at(100));
    assert_eq!(
        stores(&actions),
        [&StoreOp::DeletePublication {
            presentity: publication.presentity,
            etag: publication.etag
        }]
    );
}

/// A fan-out larger than a chunk: the PUBLISH's actions carry the first
/// `FANOUT_CHUNK` NOTIFYs, `poll_fanout` builds the rest, and every
/// watcher gets exactly one NOTIFY with the new state.
#[test]
fn a_large_fanout_is_built_in_chunks() {
    let mut h = harness();
    let watchers = presence::FANOUT_CHUNK + 44;
    for i in 0..watchers {
        let watcher = format!("sip:w{i}@example.com");
        h.subscribed(&Sub::new(&watcher, ALICE, &format!("c{i}")), at(0));
    }
    let (_, actions) = h.published(publish(ALICE, None, &pidf(ALICE, "open", "news"), 1), at(1));
    let first = notifies(&actions);
    assert_eq!(first.len(), presence::FANOUT_CHUNK);
    assert!(h.engine.has_fanout());
    let rest = h.engine.poll_fanout(at(1), 10);
    assert_eq!(notifies(&rest).len(), 10, "at most `max` per call");
    let last = h.engine.poll_fanout(at(1), usize::MAX);
    assert_eq!(notifies(&last).len(), 34);
    assert!(!h.engine.has_fanout());
    assert!(h.engine.poll_fanout(at(1), usize::MAX).is_empty());
    let mut to: Vec<String> = [first, notifies(&rest), notifies(&last)]
        .concat()
        .iter()
        .map(|(_, n)| {
            assert!(body(n).contains("news"));
            header(&n.headers, HeaderName::To)
        })
        .collect();
    to.sort();
    to.dedup();
    assert_eq!(to.len(), watchers, "one NOTIFY per watcher");
}

/// A watcher whose NOTIFY was built in the first chunk and answered before
/// the rest were built is not sent a second one; one whose subscription
/// ended meanwhile is skipped.
#[test]
fn the_rest_of_a_fanout_skips_what_changed_meanwhile() {
    let mut h = harness();
    let watchers = presence::FANOUT_CHUNK + 2;
    let mut subs = Vec::new();
    for i in 0..watchers {
        let watcher = format!("sip:w{i}@example.com");
        let sub = Sub::new(&watcher, ALICE, &format!("c{i}"));
        let tag = h.subscribed(&sub, at(0));
        subs.push((sub, tag));
    }
    let (_, actions) = h.published(publish(ALICE, None, &pidf(ALICE, "open", "x"), 1), at(1));
    let first = notifies(&actions);
    assert_eq!(first.len(), presence::FANOUT_CHUNK);
    let after = h.ok_all(&actions, at(2));
    assert!(notifies(&after).is_empty(), "nothing new for them");
    // A watcher not in the first chunk unsubscribes before its NOTIFY was
    // built: it gets the final one, with the new state, and nothing more.
    let notified: Vec<String> = first
        .iter()
        .map(|(_, n)| header(&n.headers, HeaderName::CallId))
        .collect();
    let (sub, tag) = subs
        .iter()
        .find(|(s, _)| !notified.contains(&s.call_id))
        .unwrap();
    let bye = h.request(sub.in_dialog(tag, 2).expires(Some(0)).request(), at(2));
    assert_eq!(notifies(&bye).len(), 1);
    let rest = h.engine.poll_fanout(at(3), usize::MAX);
    assert_eq!(notifies(&rest).len(), 1, "only the watcher still waiting");
}

/// At most `max_notifies_in_flight` NOTIFYs are on the wire: the rest
/// wait unbuilt and go as earlier ones complete, each with the newest
/// state; at shutdown every waiting watcher still gets its final NOTIFY.
#[test]
fn notifies_in_flight_are_bounded() {
    let mut h = Harness::new(EngineConfig {
        max_notifies_in_flight: 3,
        ..EngineConfig::default()
    });
    for i in 0..5 {
        let watcher = format!("sip:w{i}@example.com");
        h.subscribed(&Sub::new(&watcher, ALICE, &format!("c{i}")), at(0));
    }
    let (etag, a) = h.published(publish(ALICE, None, &pidf(ALICE, "open", "one"), 1), at(1));
    let first = notifies(&a);
    assert_eq!(first.len(), 3);
    assert!(!h.engine.has_fanout(), "no room until one completes");
    assert!(h.engine.poll_fanout(at(1), usize::MAX).is_empty());
    let (_, a) = h.published(
        publish(ALICE, Some(&etag), &pidf(ALICE, "open", "two"), 2),
        at(2),
    );
    assert!(notifies(&a).is_empty(), "{a:?}");
    // The freed place goes to a dialog that was waiting, not to the one
    // that completed (it has news too, and queues behind).
    assert!(h
        .outcome(first[0].0, NotifyOutcome::Response(200), at(3))
        .is_empty());
    assert!(h.engine.has_fanout());
    let next = h.engine.poll_fanout(at(3), usize::MAX);
    let sent = notifies(&next);
    assert_eq!(sent.len(), 1, "one place came free");
    assert!(
        body(sent[0].1).contains("two"),
        "built with the newest state"
    );
    let waiting_call_id = header(&sent[0].1.headers, HeaderName::CallId);
    let first_call_ids: Vec<String> = first
        .iter()
        .map(|(_, n)| header(&n.headers, HeaderName::CallId))
        .collect();
    assert!(!first_call_ids.contains(&waiting_call_id));
    assert!(!h.engine.has_fanout());
    // At shutdown every dialog not in flight gets its final NOTIFY at once
    // (the one that completed and the one still waiting), none twice.
    let last = h.engine.deactivate_all(at(4));
    let to: std::collections::HashSet<String> = notifies(&last)
        .iter()
        .map(|(_, n)| header(&n.headers, HeaderName::CallId))
        .collect();
    assert_eq!(notifies(&last).len(), to.len());
    assert_eq!(to.len(), 2, "{to:?}");
}
