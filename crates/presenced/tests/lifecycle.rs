//! The binary's life: start with a data directory and HTTP, serve
//! /health and /metrics, shut down cleanly on SIGTERM.

mod common;

use common::{http_get as get, request, response, udp_client, udp_exchange, Presenced};

#[tokio::test]
async fn serves_health_and_metrics_and_stops_on_sigterm() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("state");
    let mut server = Presenced::start(
        &[
            "serve",
            "--listen",
            "udp:127.0.0.1:0",
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--http-listen",
            "127.0.0.1:0",
        ],
        1,
    );
    let http = server.http_addr();
    server.wait_for_log(&["store opened"]);
    assert!(data_dir.join("presenced.redb").exists());

    // One SIP message, so a counter moves.
    let sip = server.addr("udp", false);
    let client = udp_client(sip).await;
    let options = request("OPTIONS", "UDP", client.local_addr().unwrap(), "life1", "");
    let answer = response(&udp_exchange(&client, sip, options.as_bytes()).await);
    assert_eq!(answer.status, 200);

    let (status, body) = get(http, "/health");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert_eq!(body, "ok");

    let (status, body) = get(http, "/metrics");
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    for name in [
        "presenced_subscriptions{state=\"active\"}",
        "presenced_subscriptions{state=\"pending\"}",
        "presenced_publications",
        "presenced_presentities",
        "presenced_notify_sent_total",
        "presenced_notify_failed_total",
        "presenced_messages_received_total{transport=\"udp\"}",
        "presenced_messages_dropped_total",
        "presenced_store_commits_total",
        "presenced_store_commit_failures_total 0",
        "presenced_store_commit_seconds_bucket",
    ] {
        assert!(body.contains(name), "{name} missing from:\n{body}");
    }

    let status = server.terminate();
    assert!(status.success(), "exit {status}:\n{}", server.log_text());
    server.wait_for_log(&["shutdown complete"]);
}

#[test]
fn memory_mode_writes_nothing_and_http_can_be_off() {
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("state");
    let mut server = Presenced::start(
        &[
            "--listen",
            "udp:127.0.0.1:0",
            "--memory",
            "--data-dir",
            data_dir.to_str().expect("utf-8 path"),
            "--http-listen",
            "off",
        ],
        1,
    );
    server.wait_for_log(&["memory mode"]);
    let status = server.terminate();
    assert!(status.success(), "exit {status}:\n{}", server.log_text());
    assert!(!server.log_text().contains("http listening"));
    assert!(!data_dir.exists());
}

/// The binary's allocator reads its options from an exported symbol
/// (`src/allocator.rs`); a misspelt symbol would be ignored without a
/// word, leaving freed memory with the process (memory per subscription
/// is a benchmark target). The background purge thread shows that the
/// options took effect.
#[cfg(all(target_os = "linux", feature = "jemalloc"))]
#[test]
fn jemalloc_runs_its_background_purge_thread() {
    let mut server = Presenced::start(
        &[
            "--listen",
            "udp:127.0.0.1:0",
            "--memory",
            "--http-listen",
            "off",
        ],
        1,
    );
    let tasks = format!("/proc/{}/task", server.pid());
    let names: Vec<String> = std::fs::read_dir(&tasks)
        .expect("task list")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .map(|n| n.trim().to_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.starts_with("jemalloc_bg_thd")),
        "no jemalloc background thread among {names:?}"
    );
    assert!(server.terminate().success());
}
