//! The live counters behind `Engine::stats` (kept on every change instead
//! of walking the table) against random sequences of subscribes,
//! unsubscribes, fetches, authorization decisions, NOTIFY outcomes and
//! expiry. `stats` itself compares the counters with a walk of the table
//! in debug builds, so each call below is a check; the test also states
//! the expected counts where the sequence makes them obvious.

mod common;

use common::*;
use presence::{Authorization, EngineConfig, NotifyOutcome, Unlisted};
use proptest::prelude::*;

const WATCHERS: [&str; 4] = [
    BOB,
    CAROL,
    "sip:dave@elsewhere.example",
    "sip:erin@elsewhere.example",
];

#[derive(Debug, Clone)]
enum Op {
    /// Watcher i subscribes (again: a new dialog each time).
    Subscribe(usize),
    /// Alice watches her own watchers (presence.winfo).
    Winfo,
    /// A fetch: Expires 0 on a new dialog.
    Fetch(usize),
    /// The last dialog of watcher i ends with Expires 0.
    Unsubscribe(usize),
    /// Alice decides about watcher i.
    Authorize(usize, bool),
    /// Every NOTIFY on the wire gets this status.
    Answer(u16),
    /// Time passes.
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..WATCHERS.len()).prop_map(Op::Subscribe),
        Just(Op::Winfo),
        (0..WATCHERS.len()).prop_map(Op::Fetch),
        (0..WATCHERS.len()).prop_map(Op::Unsubscribe),
        ((0..WATCHERS.len()), any::<bool>()).prop_map(|(w, a)| Op::Authorize(w, a)),
        prop_oneof![Just(200u16), Just(481u16)].prop_map(Op::Answer),
        (1u64..400).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn live_counters_equal_a_walk_of_the_table(ops in proptest::collection::vec(op(), 1..60)) {
        let mut h = Harness::new(EngineConfig {
            authorization: Authorization::AllowList {
                allow: vec!["@example.com".into()],
                unlisted: Unlisted::Pending,
            },
            ..EngineConfig::default()
        });
        let mut now = 0u64;
        let mut n = 0u32;
        let mut wire = Vec::new();
        // Per watcher: its dialogs (call-id, our tag), newest last.
        let mut dialogs: Vec<Vec<(String, String)>> = vec![Vec::new(); WATCHERS.len()];
        for op in ops {
            n += 1;
            let actions = match op {
                Op::Subscribe(w) => {
                    let call_id = format!("c{n}");
                    let a = h.request(Sub::new(WATCHERS[w], ALICE, &call_id).expires(Some(600)).request(), at(now));
                    if status(&a) == 200 {
                        dialogs[w].push((call_id, ok_tag(&a)));
                    }
                    a
                }
                Op::Winfo => h.request(
                    Sub::new(ALICE, ALICE, &format!("c{n}")).event("presence.winfo").expires(Some(600)).request(),
                    at(now),
                ),
                Op::Fetch(w) => h.request(Sub::new(WATCHERS[w], ALICE, &format!("c{n}")).expires(Some(0)).request(), at(now)),
                Op::Unsubscribe(w) => match dialogs[w].pop() {
                    Some((call_id, tag)) => h.request(
                        Sub::new(WATCHERS[w], ALICE, &call_id).expires(Some(0)).in_dialog(&tag, 2).request(),
                        at(now),
                    ),
                    None => Vec::new(),
                },
                Op::Authorize(w, allow) => h.engine.authorize(ALICE, WATCHERS[w], allow, at(now)),
                Op::Answer(code) => {
                    let mut out = Vec::new();
                    for (id, _) in notifies(&wire) {
                        out.extend(h.outcome(id, NotifyOutcome::Response(code), at(now)));
                    }
                    wire.clear();
                    out
                }
                Op::Advance(secs) => {
                    now += secs;
                    h.engine.handle_timeout(at(now))
                }
            };
            wire.extend(actions);
            let stats = h.engine.stats();
            prop_assert!(stats.subscriptions_active + stats.subscriptions_pending + stats.winfo <= n as usize);
        }
        // Everything expires after the longest Expires granted.
        now += 3600;
        let _ = h.engine.handle_timeout(at(now));
        let stats = h.engine.stats();
        prop_assert_eq!(
            (stats.subscriptions_active, stats.subscriptions_pending, stats.winfo),
            (0, 0, 0)
        );
    }
}
