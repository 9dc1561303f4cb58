//! Commits per second of the durable store, with and without group commit.
//!
//! - `one_at_a_time`: each batch waits for its own commit before the next
//!   is submitted, so every batch pays one fsync (what a server without
//!   group commit would do);
//! - `grouped/window_*`: 64 batches in flight at once, as when many
//!   requests arrive together; they share commits.
//!
//! Throughput is in batches (one PUBLISH's or SUBSCRIBE's writes each).
//! The files live in the system temp directory, so the figures are those
//! of its disk's fsync.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use presence::{PublicationRecord, StoreOp};
use presenced::store::{encode_ops, Store, Write};

const IN_FLIGHT: u64 = 64;

fn batch(n: u64) -> Vec<Write> {
    let record = PublicationRecord::<String> {
        presentity: format!("sip:user{}@example.com", n % 1000),
        etag: format!("e{n}"),
        expires_at_ms: 1_800_000_000_000,
        published_at: n,
        body: "<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"/>".repeat(8),
        flow: None,
        category: None,
    };
    encode_ops(&[StoreOp::PutPublication(record)]).expect("encodes")
}

fn bench(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("store_commit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));

    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("single"), Duration::ZERO).expect("open");
    let mut n = 0;
    group.throughput(Throughput::Elements(1));
    group.bench_function("one_at_a_time", |b| {
        b.iter(|| {
            n += 1;
            runtime.block_on(store.commit(batch(n))).expect("committed");
        })
    });
    drop(store);

    for window_ms in [0, 2] {
        let path = dir.path().join(format!("grouped{window_ms}"));
        let store = Store::open(&path, Duration::from_millis(window_ms)).expect("open");
        let mut commits = store.commits().expect("commits");
        let mut ticket = 0;
        group.throughput(Throughput::Elements(IN_FLIGHT));
        group.bench_function(format!("grouped/window_{window_ms}ms"), |b| {
            b.iter(|| {
                for _ in 0..IN_FLIGHT {
                    ticket += 1;
                    store.submit(ticket, batch(ticket));
                }
                runtime.block_on(async {
                    for _ in 0..IN_FLIGHT {
                        let done = commits.recv().await.expect("store alive");
                        done.result.expect("committed");
                    }
                });
            })
        });
        let stats = store.stats();
        eprintln!(
            "window {window_ms} ms: {} batches in {} transactions",
            stats.batches, stats.transactions
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
