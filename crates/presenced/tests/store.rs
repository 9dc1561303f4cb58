//! The durable store: persistence across reopen and across a SIGKILL,
//! memory mode, group commit, and records that no longer decode.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use presence::{BindingRecord, ContactListRecord, PublicationRecord, StoreOp, SubscriptionRecord};
use presenced::store::{encode_ops, CommitError, Store, Table, Write};

/// The flow type of these tests: anything serde can carry will do.
type Flow = String;

fn publication(presentity: &str, etag: &str) -> PublicationRecord<Flow> {
    PublicationRecord {
        presentity: presentity.into(),
        etag: etag.into(),
        expires_at_ms: 1_800_000_000_000,
        published_at: 7,
        body: "<presence/>".into(),
        flow: Some("tcp:127.0.0.1:5060".into()),
        category: None,
    }
}

fn subscription(id: &str) -> SubscriptionRecord<Flow> {
    SubscriptionRecord {
        id: id.into(),
        event: "presence".into(),
        presentity: "sip:alice@example.com".into(),
        watcher: "sip:bob@example.com".into(),
        call_id: "c1".into(),
        local_tag: "l1".into(),
        remote_tag: "r1".into(),
        remote_party: "<sip:bob@example.com>;tag=r1".into(),
        local_party: "<sip:alice@example.com>".into(),
        remote_target: "sip:bob@127.0.0.1:5070".into(),
        route_set: vec![],
        contact: "<sip:presenced@127.0.0.1:5060>".into(),
        local_cseq: 3,
        remote_cseq: 1,
        expires_at_ms: 1_800_000_000_000,
        state: "active".into(),
        content_type: "application/pidf+xml".into(),
        last_etag: None,
        flow: "udp:127.0.0.1:5070".into(),
        reliable: false,
        winfo_version: 0,
        resources: Vec::new(),
        benotify: false,
        capitalized_event: false,
    }
}

fn writes(ops: Vec<StoreOp<Flow>>) -> Vec<Write> {
    encode_ops(&ops).expect("records encode")
}

fn load(store: &Store) -> (Vec<PublicationRecord<Flow>>, Vec<SubscriptionRecord<Flow>>) {
    store.load().expect("load")
}

#[tokio::test]
async fn records_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let ops = vec![
        StoreOp::PutPublication(publication("sip:alice@example.com", "e1")),
        StoreOp::PutPublication(publication("sip:alice@example.com", "e2")),
        StoreOp::PutSubscription(subscription("s1")),
    ];
    store.commit(writes(ops)).await.unwrap();
    // A delete and a replacement in a later commit.
    let ops = vec![
        StoreOp::DeletePublication {
            presentity: "sip:alice@example.com".into(),
            etag: "e1".into(),
        },
        StoreOp::PutSubscription(SubscriptionRecord {
            local_cseq: 9,
            ..subscription("s1")
        }),
        StoreOp::DeleteSubscription { id: "never".into() },
    ];
    store.commit(writes(ops)).await.unwrap();
    drop(store);

    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let (publications, subscriptions) = load(&store);
    assert_eq!(
        publications,
        vec![publication("sip:alice@example.com", "e2")]
    );
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].local_cseq, 9);
    assert!(dir.path().join("presenced.redb").exists());
}

fn contact_list(user: &str, delta_num: u64) -> ContactListRecord {
    let (groups, contacts) = serde_json::from_str(
        r#"[[{"id": 1, "name": "Colleagues"}],
            [{"uri": "sip:bob@example.com", "name": "Bob", "groups": [1]}]]"#,
    )
    .expect("a list");
    ContactListRecord {
        user: user.into(),
        delta_num,
        groups,
        contacts,
    }
}

#[tokio::test]
async fn contact_lists_survive_reopen_in_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let ops = vec![
        StoreOp::PutContactList(contact_list("sip:alice@example.com", 1)),
        StoreOp::PutContactList(contact_list("sip:carol@example.com", 1)),
        StoreOp::PutPublication(publication("sip:alice@example.com", "e1")),
    ];
    let encoded = writes(ops);
    assert!(matches!(
        &encoded[0],
        Write::Put { table: Table::ContactLists, key, .. } if key == b"sip:alice@example.com"
    ));
    store.commit(encoded).await.unwrap();
    let ops = vec![
        StoreOp::PutContactList(contact_list("sip:alice@example.com", 2)),
        StoreOp::DeleteContactList {
            user: "sip:carol@example.com".into(),
        },
    ];
    store.commit(writes(ops)).await.unwrap();
    drop(store);

    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let lists = store.load_contact_lists().expect("load");
    assert_eq!(lists, vec![contact_list("sip:alice@example.com", 2)]);
    // `contact_list` decodes a contact without the optional fields: their
    // defaults (subscribed, no external URI) are stored and read back.
    assert!(lists[0].contacts[0].subscribed);
    assert_eq!(lists[0].contacts[0].external_uri, None);
    let (publications, _) = load(&store);
    assert_eq!(publications.len(), 1);
    assert!(Store::memory().load_contact_lists().unwrap().is_empty());
}

fn binding(aor: &str, key: &str) -> BindingRecord<Flow> {
    BindingRecord {
        aor: aor.into(),
        key: key.into(),
        contact: "sip:127.0.0.1:58666;transport=tcp".into(),
        instance: Some(key.into()),
        call_id: "c1".into(),
        cseq: 1,
        expires_at_ms: 1_800_000_000_000,
        flow: "tcp:127.0.0.1:58666".into(),
        reliable: true,
    }
}

/// Bindings live in their own table, keyed by AOR and key, and come back
/// with `load_bindings` (not with `load`).
#[tokio::test]
async fn bindings_survive_reopen_in_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let ops = vec![
        StoreOp::PutBinding(binding("sip:alice@lab.test", "<urn:uuid:1>")),
        StoreOp::PutBinding(binding("sip:alice@lab.test", "<urn:uuid:2>")),
        StoreOp::PutBinding(binding("sip:bob@lab.test", "<urn:uuid:1>")),
    ];
    assert!(writes(ops.clone()).iter().all(|w| matches!(
        w,
        Write::Put {
            table: Table::Bindings,
            ..
        }
    )));
    store.commit(writes(ops)).await.unwrap();
    let ops = vec![
        StoreOp::DeleteBinding {
            aor: "sip:alice@lab.test".into(),
            key: "<urn:uuid:1>".into(),
        },
        StoreOp::PutBinding(BindingRecord {
            cseq: 2,
            ..binding("sip:bob@lab.test", "<urn:uuid:1>")
        }),
    ];
    store.commit(writes(ops)).await.unwrap();
    drop(store);

    let store = Store::open(dir.path(), Duration::from_millis(1)).unwrap();
    let mut bindings = store.load_bindings::<Flow>().expect("load bindings");
    bindings.sort_by(|a, b| (&a.aor, &a.key).cmp(&(&b.aor, &b.key)));
    assert_eq!(
        bindings,
        vec![
            binding("sip:alice@lab.test", "<urn:uuid:2>"),
            BindingRecord {
                cseq: 2,
                ..binding("sip:bob@lab.test", "<urn:uuid:1>")
            },
        ]
    );
    let (publications, subscriptions) = load(&store);
    assert!(publications.is_empty() && subscriptions.is_empty());
}

#[tokio::test]
async fn a_second_process_cannot_open_the_same_store() {
    let dir = tempfile::tempdir().unwrap();
    let _store = Store::open(dir.path(), Duration::ZERO).unwrap();
    let err = Store::open(dir.path(), Duration::ZERO).unwrap_err();
    assert!(err.to_string().contains("presenced.redb"), "{err}");
}

#[tokio::test]
async fn memory_mode_commits_at_once_and_keeps_nothing() {
    let store = Store::memory();
    assert!(store.is_memory());
    let mut commits = store.commits().expect("first taker");
    assert!(store.commits().is_none(), "one consumer only");
    store.submit(
        1,
        writes(vec![StoreOp::PutSubscription(subscription("s1"))]),
    );
    store.submit(2, vec![]);
    assert_eq!(commits.try_recv().map(|c| c.ticket), Some(1));
    let second = commits.try_recv().expect("second outcome");
    assert_eq!(second.ticket, 2);
    assert!(second.result.is_ok());
    store.commit(vec![]).await.unwrap();
    let (p, s) = load(&store);
    assert!(p.is_empty() && s.is_empty());
    store.flush_and_close().await.unwrap();
}

#[tokio::test]
async fn group_commit_merges_concurrent_batches_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_millis(5)).unwrap();
    let mut commits = store.commits().unwrap();
    const BATCHES: u64 = 200;
    for ticket in 1..=BATCHES {
        let record = publication("sip:alice@example.com", &format!("e{ticket}"));
        store.submit(ticket, writes(vec![StoreOp::PutPublication(record)]));
    }
    for expected in 1..=BATCHES {
        let done = tokio::time::timeout(Duration::from_secs(10), commits.recv())
            .await
            .expect("acknowledged in time")
            .expect("store alive");
        assert_eq!(done.ticket, expected, "acknowledged in submission order");
        assert!(done.result.is_ok());
    }
    let stats = store.stats();
    assert_eq!(stats.batches, BATCHES);
    assert!(
        stats.transactions < BATCHES / 4,
        "{} transactions for {BATCHES} batches",
        stats.transactions
    );

    // Concurrent futures group too.
    let before = store.stats().transactions;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move {
                let id = format!("s{i}");
                store
                    .commit(writes(vec![StoreOp::PutSubscription(subscription(&id))]))
                    .await
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    assert!(store.stats().transactions - before < 50);
    let (publications, subscriptions) = load(&store);
    assert_eq!(publications.len(), BATCHES as usize);
    assert_eq!(subscriptions.len(), 50);
}

#[tokio::test]
async fn records_that_do_not_decode_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::ZERO).unwrap();
    let mut batch = writes(vec![
        StoreOp::PutPublication(publication("sip:alice@example.com", "good")),
        StoreOp::PutSubscription(subscription("good")),
    ]);
    batch.push(Write::Put {
        table: Table::Publications,
        key: b"sip:alice@example.com\nbad".to_vec(),
        value: b"{\"presentity\": 42".to_vec(),
    });
    batch.push(Write::Put {
        table: Table::Subscriptions,
        key: vec![0xff, 0xfe],
        value: vec![0, 1, 2],
    });
    store.commit(batch).await.unwrap();
    let (publications, subscriptions) = load(&store);
    assert_eq!(publications.len(), 1);
    assert_eq!(publications[0].etag, "good");
    assert_eq!(subscriptions.len(), 1);
    assert_eq!(subscriptions[0].id, "good");
}

#[tokio::test]
async fn closing_flushes_and_later_submissions_fail() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Duration::from_millis(50)).unwrap();
    let mut commits = store.commits().unwrap();
    store.submit(
        1,
        writes(vec![StoreOp::PutSubscription(subscription("s1"))]),
    );
    // Close does not wait out the window of what is pending: it commits now.
    store.flush_and_close().await.unwrap();
    assert!(commits.recv().await.unwrap().result.is_ok());
    store.submit(2, vec![]);
    let late = commits.recv().await.unwrap();
    assert_eq!(late.ticket, 2);
    assert!(matches!(late.result, Err(CommitError::Closed)));
    assert!(matches!(
        store.commit(vec![]).await,
        Err(CommitError::Closed)
    ));
    store.flush_and_close().await.unwrap(); // idempotent
    drop(store);
    let store = Store::open(dir.path(), Duration::ZERO).unwrap();
    assert_eq!(load(&store).1.len(), 1);
}

/// The child half of [`committed_data_survives_sigkill`]: commits, says so,
/// and waits to be killed. Does nothing when run as an ordinary test.
#[test]
fn crash_child() {
    let Some(dir) = std::env::var_os("PRESENCED_STORE_CRASH_DIR") else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(Path::new(&dir), Duration::from_millis(2)).unwrap();
        let ops = vec![
            StoreOp::PutPublication(publication("sip:alice@example.com", "e1")),
            StoreOp::PutSubscription(subscription("s1")),
        ];
        store.commit(writes(ops)).await.unwrap();
        println!("committed");
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
    });
}

#[test]
fn committed_data_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
        .env("PRESENCED_STORE_CRASH_DIR", dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (seen, said) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            // libtest may have written "test crash_child ... " before it.
            if line.trim_end().ends_with("committed") {
                let _ = seen.send(());
            }
        }
    });
    let committed = said.recv_timeout(Duration::from_secs(20));
    child.kill().unwrap(); // SIGKILL: no destructor, no flush
    child.wait().unwrap();
    committed.expect("the child committed");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let store = Store::open(dir.path(), Duration::ZERO).unwrap();
    let (publications, subscriptions) = load(&store);
    assert_eq!(
        publications,
        vec![publication("sip:alice@example.com", "e1")]
    );
    assert_eq!(subscriptions, vec![subscription("s1")]);
}
