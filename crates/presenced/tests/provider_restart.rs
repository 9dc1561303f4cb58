//! The presence provider across a restart of presenced (durable store):
//! the upstream subscription is ended at shutdown (`Expires: 0`), made
//! again through the throttle at the next start for the watchers the
//! store restores, and those watchers are notified again, first with
//! the state unknown, then with the upstream's.

mod common;

use std::time::Duration;

use common::kamailio::{kamailio_installed, publish, subscribe, Kamailio};
use common::peers::{free_port, pjsua_publisher, skip_without_pjsua};
use common::ua::{text, Ua};
use common::Presenced;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_subscriptions_and_their_consumers_survive_a_restart() {
    if !kamailio_installed() || skip_without_pjsua() {
        eprintln!("skipped: needs kamailio and pjsua2 (scripts/install-test-peers)");
        return;
    }
    let run = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let kamailio = Kamailio::start(run.path(), port, 3600);
    // The same SIP port and data directory across the restart; the
    // upstream named by a DNS name, resolved at each start.
    let sip_port = free_port();
    let toml = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{sip_port}\"]\n[http]\nlisten = \"127.0.0.1:0\"\n\
         [store]\ndata_dir = \"{}\"\n\
         [provider]\nupstream = \"udp:localhost:{port}\"\nfrom = \"sip:presenced@127.0.0.1\"\n\
         max_presence_subscriptions_per_second = 2\n",
        data.path().display()
    );
    let mut server = Presenced::with_config(&toml, 1);
    let alice = "sip:alice@127.0.0.1";
    let others: Vec<String> = (0..4).map(|i| format!("sip:agent{i}@127.0.0.1")).collect();
    let console = Ua::new(server.addr("udp", false), "console").await;
    let first = subscribe(&console, alice).await;
    assert!(first.contains("<basic>closed</basic>"), "{first}");
    let wallboard = Ua::new(server.addr("udp", false), "wallboard").await;
    for other in &others {
        subscribe(&wallboard, other).await;
    }
    kamailio.wait_log("the upstream SUBSCRIBEs", Duration::from_secs(10), |k| {
        k.initial_subscribes(alice) == 1 && others.iter().all(|o| k.initial_subscribes(o) == 1)
    });
    let publisher = pjsua_publisher("udp", port, "alice");
    let ctx = || format!("{}\n{}", kamailio.log(), server.log_text());
    publish(&publisher, "busy In a meeting", &ctx);
    loop {
        let body = text(&console.next_notify().await.body);
        if body.contains("In a meeting") {
            break;
        }
    }

    // A graceful stop ends the upstream subscriptions.
    assert!(server.terminate().success(), "{}", server.log_text());
    // (In-dialog, so to Kamailio's Contact, one per presentity.)
    kamailio.wait_log(
        "the un-SUBSCRIBEs at shutdown",
        Duration::from_secs(10),
        |k| {
            k.log()
                .lines()
                .filter(|l| l.contains("from sip:presenced@127.0.0.1 expires=0 totag="))
                .count()
                == 5
        },
    );
    console.drain_notifies(Duration::from_millis(200)).await;

    // The next start restores the consumers' subscriptions from the store
    // and subscribes upstream again, through the throttle (2 a second:
    // five presentities take more than two seconds).
    let server = Presenced::with_config(&toml, 1);
    let started = std::time::Instant::now();
    kamailio.wait_log(
        "the upstream SUBSCRIBEs after the restart",
        Duration::from_secs(15),
        |k| k.initial_subscribes(alice) == 2 && others.iter().all(|o| k.initial_subscribes(o) == 2),
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "five restored presentities at 2/s took {:?}",
        started.elapsed()
    );
    // The acknowledged consumer is notified again: its restored dialog
    // gets the state, unknown first, then alice's busy from Kamailio.
    loop {
        let body = text(&console.next_notify().await.body);
        if body.contains("In a meeting") {
            break;
        }
    }
    server.wait_for_log(&[
        "presence change",
        "presentity=sip:alice@127.0.0.1",
        "new=[Busy 6500",
    ]);
}
