//! A store that cannot grow: the real binary under a file-size limit
//! (`RLIMIT_FSIZE`), so redb's commits fail for real with `EFBIG`, and
//! what the server then tells clients and keeps across a restart.
//!
//! "Nothing lost" (../shared/DESIGN.md) means a 2xx only for what is on
//! disk: the PUBLISH whose commit fails must be answered `500 Storage
//! failure`, and every publication answered 200 must be back after a
//! restart without the limit.

#![cfg(unix)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::ua::{pidf, text, value, Dialog, Ua};
use common::{http_get, request, response, udp_client, udp_exchange, Presenced, WAIT};
use sip::{HeaderName, Response};

/// Presentities watched; the store runs out of room long before the
/// last (after about 30 publications).
const PRESENTITIES: usize = 120;

/// Bytes of note per publication, so the whole PUBLISH still fits in one
/// datagram: redb preallocates its file (about 2.9 MB here), and large
/// publications fill that room in a second or two rather than a minute.
const NOTE_BYTES: usize = 48_000;

/// Room allowed above the file's size after start-up. Once its
/// preallocated pages are used up, redb grows the file in steps of
/// megabytes, far beyond this, so the first growth is what fails.
const HEADROOM: u64 = 64 * 1024;

fn presentity(i: usize) -> String {
    format!("sip:p{i}@127.0.0.1")
}

/// The note of publication `i`, long and recognisable.
fn note(i: usize) -> String {
    let mut note = format!("note of p{i} ");
    while note.len() < NOTE_BYTES {
        note.push_str("storage-failure-padding ");
    }
    note
}

/// The server on `port`, its store in `data`. A restart NOTIFYs all of
/// Bob's subscriptions at once, some with 48 kB bodies: more than a UDP
/// socket buffers, so a few are dropped and come again at T1, kept short
/// here (with Timer F = 64·T1 still far above any wait of the test).
fn config(port: u16, data: &Path) -> String {
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\nt1_ms = 100\nt2_ms = 400\n\
         [http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\ndata_dir = \"{}\"\n\
         [presence]\nsubscribe_min_expires = 5\npublish_min_expires = 5\n",
        data.display()
    )
}

fn store_file(data: &Path) -> PathBuf {
    data.join(presenced::store::FILE_NAME)
}

fn file_size(path: &Path) -> u64 {
    std::fs::metadata(path).expect("store file").len()
}

/// Sets a file-size limit for the child: in `pre_exec` (between fork and
/// exec), so it is the child's alone. SIGXFSZ is ignored there and an
/// ignored signal stays ignored across exec, so a write past the limit
/// fails with EFBIG instead of killing the process.
fn limit_file_size(command: &mut Command, bytes: u64) {
    // SAFETY: between fork and exec only async-signal-safe calls are
    // allowed; setrlimit and signal are system calls, and nothing here
    // allocates or takes a lock.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes as libc::rlim_t,
                rlim_max: bytes as libc::rlim_t,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::signal(libc::SIGXFSZ, libc::SIG_IGN) == libc::SIG_ERR {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Why a file-size limit cannot be set on a child here, if it cannot.
fn cannot_limit() -> Option<String> {
    let mut probe = Command::new("true");
    limit_file_size(&mut probe, 1 << 20);
    match probe.status() {
        Ok(status) if status.success() => None,
        Ok(status) => Some(format!("a child under RLIMIT_FSIZE exited with {status}")),
        Err(e) => Some(format!("setrlimit(RLIMIT_FSIZE) in a child failed: {e}")),
    }
}

/// Takes NOTIFYs (already answered 200 by the UA) until `done` holds for
/// the latest body per presentity; the presentity is the NOTIFY's From.
async fn notifies_until(
    ua: &Ua,
    latest: &mut HashMap<String, String>,
    done: impl Fn(&HashMap<String, String>) -> bool,
) {
    // Twice the usual wait: a burst of NOTIFYs may need retransmissions.
    let deadline = std::time::Instant::now() + 2 * WAIT;
    while !done(latest) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Some(notify) = ua.notify_within(left).await else {
            let mut seen: Vec<&String> = latest.keys().collect();
            seen.sort();
            panic!(
                "NOTIFYs not in time; seen for {} presentities: {seen:?}",
                seen.len()
            );
        };
        let from = value(&notify.headers, HeaderName::From);
        let uri = from
            .split_once('<')
            .and_then(|(_, rest)| rest.split_once('>'))
            .map(|(uri, _)| uri.to_owned())
            .expect("a From URI in angle brackets");
        latest.insert(uri, text(&notify.body));
    }
}

/// Every presentity has a NOTIFY, and each one in `with_note` shows its note.
fn shows(latest: &HashMap<String, String>, with_note: &[usize]) -> bool {
    (0..PRESENTITIES).all(|i| latest.contains_key(&presentity(i)))
        && with_note.iter().all(|&i| {
            latest
                .get(&presentity(i))
                .is_some_and(|b| b.contains(&format!("note of p{i} ")))
        })
}

fn assert_storage_failure(resp: &Response, sent: &str) {
    assert_eq!(resp.status, 500, "{}", text(&resp.reason));
    assert_eq!(text(&resp.reason), "Storage failure");
    // The transaction's headers are kept, byte for byte (the To gains our
    // tag), so the client can match the answer to its request.
    let sent = sip::parse::parse_datagram(bytes::Bytes::copy_from_slice(sent.as_bytes()))
        .expect("our own request parses");
    let sip::Message::Request(sent) = sent else {
        panic!("sent a request")
    };
    // Our Via comes back with the branch; `rport` gets its value.
    let via = value(&sent.headers, HeaderName::Via);
    let stem = via.trim_end_matches(";rport");
    assert!(
        value(&resp.headers, HeaderName::Via).starts_with(stem),
        "Via: {}",
        value(&resp.headers, HeaderName::Via)
    );
    for name in [HeaderName::From, HeaderName::CallId, HeaderName::CSeq] {
        assert_eq!(
            value(&resp.headers, name),
            value(&sent.headers, name),
            "{name:?}"
        );
    }
    assert!(
        value(&resp.headers, HeaderName::To).starts_with(&value(&sent.headers, HeaderName::To)),
        "To: {}",
        value(&resp.headers, HeaderName::To)
    );
    for name in [
        HeaderName::SipEtag,
        HeaderName::Expires,
        HeaderName::ContentType,
    ] {
        assert!(resp.headers.value(name).is_none(), "{name:?} on a 500");
    }
    assert!(resp.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_answered_500_and_nothing_acknowledged_is_lost() {
    if let Some(why) = cannot_limit() {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let port = {
        let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("probe");
        probe.local_addr().expect("addr").port()
    };
    let config = config(port, &data);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();

    // 1. Without a limit: Bob watches every presentity. The
    // subscriptions are stored, so each later server notifies him of
    // what it restored.
    let mut server = Presenced::with_config(&config, 1);
    let bob = Ua::new(addr, "bob").await;
    let mut latest = HashMap::new();
    for i in 0..PRESENTITIES {
        let ok = bob
            .send(bob.subscribe(&presentity(i), &Dialog::new(), 1, 300, ""))
            .await;
        assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    }
    notifies_until(&bob, &mut latest, |l| shows(l, &[])).await;
    assert!(server.terminate().success(), "{}", server.log_text());
    let start_size = file_size(&store_file(&data));

    // 2. The same store, with the file allowed to grow by HEADROOM only.
    let limit = start_size + HEADROOM;
    eprintln!("store file {start_size} B after start-up; limit {limit} B");
    let mut server = Presenced::with_config_setup(&config, 1, |c| limit_file_size(c, limit));
    latest.clear();
    notifies_until(&bob, &mut latest, |l| shows(l, &[])).await;

    let mut publishers = Vec::new();
    let mut etags = Vec::new();
    let failed = loop {
        let i = publishers.len();
        assert!(
            i < PRESENTITIES,
            "{PRESENTITIES} publications of {NOTE_BYTES} B fit in {HEADROOM} B of headroom"
        );
        let ua = Ua::new(addr, &format!("p{i}")).await;
        let body = pidf(&presentity(i), "t", "open", Some("busy"), &note(i));
        let sent = ua.publish(&Dialog::new(), 1, 300, None, Some(&body));
        let resp = ua.send(sent.clone()).await;
        publishers.push(ua);
        if resp.status == 200 {
            etags.push(value(&resp.headers, HeaderName::SipEtag));
            continue;
        }
        assert_storage_failure(&resp, &sent);
        break i;
    };
    assert!(failed > 0, "the first publication already failed");
    let error = server.wait_for_log(&["store commit failed"]);
    eprintln!(
        "p0..p{} acknowledged, p{failed} refused: {error}",
        failed - 1
    );

    // 3. The server stays up, and what needs no write still works.
    assert!(server.is_running(), "{}", server.log_text());
    let client = udp_client(addr).await;
    let options = request(
        "OPTIONS",
        "UDP",
        client.local_addr().expect("addr"),
        "sf1",
        "",
    );
    let answer = response(&udp_exchange(&client, addr, options.as_bytes()).await);
    assert_eq!(answer.status, 200);
    // The process answers, but /health asks for a restart: the store
    // takes no more writes until it is reopened.
    let (status, body) = http_get(server.http_addr(), "/health");
    assert!(status.starts_with("HTTP/1.1 503"), "{status}");
    assert!(body.starts_with("store failed"), "{body}");
    let (_, metrics) = http_get(server.http_addr(), "/metrics");
    // At least one: a subscription's CSeq checkpoint may have failed too.
    let failures: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("presenced_store_commit_failures_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no failure counter in:\n{metrics}"));
    assert!(failures >= 1, "{metrics}");

    // Every later write is refused too, however small: after one I/O
    // error redb refuses all I/O on that handle (`PreviousIo`) until the
    // database is opened again, so no later 2xx can be unstored.
    let next = failed + 1;
    let ua = Ua::new(addr, &format!("p{next}")).await;
    let body = pidf(&presentity(next), "t", "open", None, "small");
    let sent = ua.publish(&Dialog::new(), 1, 300, None, Some(&body));
    assert_storage_failure(&ua.send(sent.clone()).await, &sent);
    let refresh = publishers[0].publish(&Dialog::new(), 1, 300, Some(&etags[0]), None);
    assert_storage_failure(&publishers[0].send(refresh.clone()).await, &refresh);
    // The refused refresh still replaced the entity-tag in memory
    // (RFC 3903 §4.1: a new one on every refresh), so until the restart
    // the publisher's acknowledged entity-tag gets 412.
    let again = publishers[0].publish(&Dialog::new(), 1, 300, Some(&etags[0]), None);
    assert_eq!(publishers[0].send(again).await.status, 412);
    let carol = Ua::new(addr, "carol").await;
    let refused = Dialog::new();
    let subscribe = carol.subscribe(&presentity(0), &refused, 1, 300, "");
    assert_storage_failure(&carol.send(subscribe.clone()).await, &subscribe);

    // The engine is not rolled back (ARCHITECTURE.md, "When a store
    // commit fails"): what was answered 500 is live in memory until the
    // restart. Carol's refused dialog gets its first NOTIFY; a fetch (it
    // stores nothing) shows the refused publication, and Bob was sent a
    // NOTIFY with it while its publisher got 500.
    let first = carol.next_notify().await;
    assert_eq!(value(&first.headers, HeaderName::CallId), refused.call_id);
    let fetcher = Ua::new(addr, "fetcher").await;
    let fetch = fetcher.subscribe(&presentity(failed), &Dialog::new(), 1, 0, "");
    assert_eq!(fetcher.send(fetch).await.status, 200);
    let fetched = text(&fetcher.next_notify().await.body);
    assert!(
        fetched.contains(&format!("note of p{failed} ")),
        "{fetched}"
    );
    let watched: Vec<usize> = (0..=failed).collect();
    notifies_until(&bob, &mut latest, |l| shows(l, &watched)).await;

    // 4. Stopped, then started again on the same store without the limit.
    // A graceful stop still works: the close commits nothing new.
    let status = server.terminate();
    assert!(status.success(), "exit {status}:\n{}", server.log_text());
    drop(server);
    let server = Presenced::with_config(&config, 1);
    let loaded = server.wait_for_log(&["store loaded"]);
    let (status, _) = http_get(server.http_addr(), "/health");
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "healthy after the restart: {status}"
    );
    assert!(
        loaded.contains(&format!("publications={failed} ")),
        "only the {failed} acknowledged publications are stored: {loaded}"
    );
    // Bob is told the restored state of every presentity: each
    // acknowledged publication is there; the refused ones are not.
    latest.clear();
    let acknowledged: Vec<usize> = (0..failed).collect();
    notifies_until(&bob, &mut latest, |l| shows(l, &acknowledged)).await;
    for i in [failed, next] {
        let restored = &latest[&presentity(i)];
        assert!(
            restored.contains("<basic>closed</basic>") && !restored.contains("<basic>open"),
            "p{i} was answered 500 but came back: {restored}"
        );
    }
    // The acknowledged entity-tag is good again (the refused refresh is
    // gone with the rest), and writes work again.
    let refresh = publishers[0].publish(&Dialog::new(), 2, 300, Some(&etags[0]), None);
    let ok = publishers[0].send(refresh).await;
    assert_eq!(ok.status, 200, "{}", text(&ok.reason));
    drop(server);
}
