//! pidgin-sipe 1.25 (an independent Lync / Skype for Business client)
//! signs in to presenced over TCP.
//!
//! The server: the presenced binary, `presenced --config DIR/presenced.toml
//! --http-listen 127.0.0.1:0` with `listen = ["tcp:127.0.0.1:0"]` (the
//! port is read from its log) and the memory store.
//!
//! The client, built and run by `common::sipe` (its docs have the gcc
//! lines), as:
//!
//! ```text
//! SIPE_PURPLE_HOME=$(mktemp -d) LD_PRELOAD=$TMPDIR/sipe/sax1fix.so \
//!     $TMPDIR/sipe/sipe_client 'alice@lab.test,LAB\alice' secret 127.0.0.1:PORT tcp ntlm 6
//! ```
//!
//! What is checked: SIPE's REGISTER is answered 200 with what a
//! Lync-dialect client reads (Expires, its Contact with `;expires=` and a
//! `gruu=`, one Supported per tag, Allow-Events); SIPE reports the sign-in
//! with no connection error, takes the 2007+ (`msrtc-event-categories`)
//! path, and then issues its self subscriptions (roaming-contacts,
//! roaming-self and the one-shot provisioning-v2) with the GRUU as its
//! Contact, over the same connection. When it quits it un-REGISTERs and
//! the binding is removed.
//!
//! The second test has SIPE and pjsua2 watch each other through
//! presenced, with the contact list provisioned over HTTP and a SIGKILL
//! in the middle (its own docs list the steps).
//!
//! Needs `pidgin-sipe libpurple-dev libglib2.0-dev pkg-config gcc`
//! (`scripts/install-test-peers`); `PRESENCED_SKIP_PEERS=1` skips it.

mod common;

use std::time::Duration;

use common::sipe::{self, Logged, Sipe};
use common::Presenced;

/// How long one expected step may take (SIPE answers in milliseconds; the
/// margin is for a loaded machine).
const STEP: Duration = Duration::from_secs(10);

#[test]
fn sipe_signs_in_and_subscribes_to_its_roaming_data() {
    if sipe::skip_or_require() {
        return;
    }
    let server = Presenced::with_config(
        "[sip]\nlisten = [\"tcp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n",
        1,
    );
    let addr = server.addr("tcp", false);
    let mut client = Sipe::start("alice@lab.test", addr, 6, None);
    let fail = |what: &str, client: &Sipe| -> ! {
        panic!(
            "{what}\n--- SIPE ---\n{}\n--- presenced ---\n{}",
            client.output(),
            server.log_text()
        )
    };

    let Some(ok) = client.wait_message(STEP, |m| {
        !m.sent && m.start_line() == "SIP/2.0 200 OK" && m.header("CSeq") == "1 REGISTER"
    }) else {
        fail("no 200 to REGISTER", &client)
    };
    assert_eq!(ok.header("Expires"), "3600");
    let contact = ok.header("Contact");
    assert!(
        contact.contains(";expires=3600;")
            && contact.contains("+sip.instance=\"<urn:uuid:")
            && contact.contains("gruu=\"sip:alice@lab.test;opaque=user:epid:"),
        "{contact}"
    );
    let gruu = contact
        .split("gruu=\"")
        .nth(1)
        .and_then(|g| g.split('"').next())
        .unwrap_or_default()
        .to_owned();
    for tag in ["adhoclist", "msrtc-event-categories", "gruu-10"] {
        assert!(
            ok.headers("Supported").iter().any(|s| s == tag),
            "Supported: {tag} missing"
        );
    }

    if client.wait_for("SIPE-CLIENT: SIGNED ON", STEP).is_none() {
        fail("SIPE did not sign in", &client);
    }
    assert!(client
        .wait_for(
            "Supported: msrtc-event-categories (indicates OCS2007+)",
            STEP
        )
        .is_some());
    // It keeps its connection alive at the pace presenced asked for: half
    // the default idle timeout of 300 s.
    assert!(client
        .wait_for("server determined keep alive timeout is 150 seconds", STEP)
        .is_some());

    // The self subscriptions SIPE makes once signed in, each with the GRUU
    // it was given as its Contact.
    let subscribe = |event: &str| -> Option<Logged> {
        client.wait_message(STEP, |m| {
            m.sent && m.start_line().starts_with("SUBSCRIBE ") && m.header("Event") == event
        })
    };
    for event in [
        "vnd-microsoft-roaming-contacts",
        "vnd-microsoft-roaming-self",
        "vnd-microsoft-provisioning-v2",
    ] {
        let Some(sub) = subscribe(event) else {
            fail(&format!("no SUBSCRIBE for {event}"), &client)
        };
        assert_eq!(sub.start_line(), "SUBSCRIBE sip:alice@lab.test SIP/2.0");
        assert_eq!(sub.header("Contact"), format!("<{gruu}>"), "{event}");
    }

    // It quits by itself after its 6 s, un-REGISTERing first.
    assert!(client.wait_exit(STEP), "sipe_client did not quit");
    let output = client.output();
    assert!(
        !output.contains("SIPE-CLIENT: CONNECTION ERROR"),
        "sign-in error:\n{output}"
    );
    let unregister = client
        .messages()
        .into_iter()
        .find(|m| m.sent && m.start_line().starts_with("REGISTER ") && m.header("Expires") == "0");
    assert!(unregister.is_some(), "no un-REGISTER:\n{output}");
    server.wait_for_log(&["binding removed", "aor=sip:alice@lab.test"]);
}

/// The contact list the operator provisions for Alice: `contacts` in one
/// group, as the HTTP API takes it.
fn contact_list(contacts: &[&str]) -> String {
    let entries: Vec<String> = contacts
        .iter()
        .map(|uri| format!("{{\"uri\": \"{uri}\", \"name\": \"\", \"groups\": [1]}}"))
        .collect();
    format!(
        "{{\"groups\": [{{\"id\": 1, \"name\": \"Colleagues\"}}], \"contacts\": [{}]}}",
        entries.join(", ")
    )
}

const ALICE_CONTACTS: &str = "/api/v1/users/sip%3Aalice%40lab.test/contacts";

/// SIPE (Alice, Microsoft dialect) and pjsua2 (IETF dialect) see one
/// another through presenced, and what SIPE stored survives SIGKILL:
///
/// 1. the operator stores Alice's contact list (Bob, a pjsua2 user);
/// 2. Bob publishes busy (PIDF, UDP): SIPE signs in over TCP, receives its
///    list, subscribes to it in one batched dialog and shows Bob busy
///    (the category document says 6500);
/// 3. SIPE sets itself away: a pjsua2 watcher of Alice sees `away`;
/// 4. while SIPE is signed in the operator adds Dave (another pjsua2
///    user) to the list: SIPE gets the delta, adds him, and shows him away
///    when he publishes it;
/// 5. the server is killed (SIGKILL) and restarted on the same ports and
///    data: Alice's own published state (a static category) is still away
///    for a pjsua2 watcher, and SIPE signs in again and gets both contacts
///    back.
///
/// Commands: presenced as in the test above, with `tcp:` and `udp:`
/// listeners on one free port and a data directory; pjsua2 as
/// `python3 tests/peers/pjsua_publisher.py --transport udp --server-port P
/// --local-port L --user bob --duration 60` (then `busy` on its stdin) and
/// `python3 tests/peers/pjsua_watcher.py --transport udp --server-port P
/// --local-port L --user carol --target sip:alice@lab.test --duration 60`;
/// SIPE as above with `... tcp ntlm 24 away`.
#[test]
fn sipe_and_pjsua_see_each_other_and_survive_sigkill() {
    if sipe::skip_or_require() || common::peers::skip_without_pjsua() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let port = common::peers::free_port();
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
         [http]\nlisten = \"127.0.0.1:0\"\n[store]\ndata_dir = \"{}\"\n",
        dir.path().join("data").display()
    );
    let server = Presenced::with_config(&config, 2);
    let http = server.http_addr();
    let addr = server.addr("tcp", false);
    let bob_uri = "sip:bob@127.0.0.1".to_owned();
    let dave_uri = "sip:dave@127.0.0.1".to_owned();
    let (status, body) = common::http_send(
        http,
        "PUT",
        ALICE_CONTACTS,
        Some(&contact_list(&[&bob_uri])),
    );
    assert_eq!(status, 200, "{body}");

    // Bob publishes busy over UDP.
    let bob = common::peers::pjsua_publisher("udp", port, "bob");
    bob.send("busy In a meeting");
    let ctx = || server.log_text();
    bob.wait_for(0, STEP, "Bob's PUBLISH answered 200", &ctx, |v| {
        v["event"] == "publish" && v["status"] == 200
    });

    let mut alice = Sipe::start("alice@lab.test", addr, 24, Some("away"));
    let fail = |what: &str, client: &Sipe| -> ! {
        panic!(
            "{what}\n--- SIPE ---\n{}\n--- presenced ---\n{}",
            client.output(),
            server.log_text()
        )
    };
    if alice
        .wait_for(&format!("BUDDY ADDED {bob_uri}"), STEP)
        .is_none()
    {
        fail("SIPE did not receive its stored contact list", &alice);
    }
    if alice
        .wait_for(&format!("BUDDY STATE {bob_uri} busy"), STEP)
        .is_none()
    {
        fail("SIPE does not show Bob busy", &alice);
    }
    let batched = alice.wait_message(STEP, |m| {
        // The first batched notification rides in the 200 to SUBSCRIBE
        // (ms-piggyback-first-notify); later ones are NOTIFY / BENOTIFY.
        !m.sent
            && m.header("Content-Type").starts_with("multipart/related")
            && m.body().contains(&format!("uri=\"{bob_uri}\""))
            && m.body().contains("<availability>6500</availability>")
    });
    if batched.is_none() {
        fail("no batched notification with Bob at 6500", &alice);
    }

    // A pjsua2 watcher of Alice sees SIPE's away.
    let carol = common::peers::pjsua_watcher("udp", port, "carol", "sip:alice@lab.test");
    carol.wait_for(0, STEP, "Carol sees Alice away", &ctx, |v| {
        v["event"] == "buddy" && v["status"] == "online" && v["activity"] == "away"
    });

    // Dave joins Alice's list while she is signed in, then publishes away.
    let (status, body) = common::http_send(
        http,
        "PUT",
        ALICE_CONTACTS,
        Some(&contact_list(&[&bob_uri, &dave_uri])),
    );
    assert_eq!(status, 200, "{body}");
    if alice
        .wait_for(&format!("BUDDY ADDED {dave_uri}"), STEP)
        .is_none()
    {
        fail("SIPE was not told of Dave (contact list delta)", &alice);
    }
    let dave = common::peers::pjsua_publisher("udp", port, "dave");
    dave.send("away");
    if alice
        .wait_for(&format!("BUDDY STATE {dave_uri} away"), STEP)
        .is_none()
    {
        fail("SIPE does not show Dave away", &alice);
    }
    alice.stop();
    carol.quit();
    drop(server); // SIGKILL

    let restarted = Presenced::with_config(&config, 2);
    let addr = restarted.addr("tcp", false);
    // Before SIPE signs in again (it would publish its new status), a
    // pjsua2 watcher sees the away Alice published before the crash.
    let carol = common::peers::pjsua_watcher("udp", port, "carol", "sip:alice@lab.test");
    let ctx = || restarted.log_text();
    carol.wait_for(0, STEP, "Alice's static away survives SIGKILL", &ctx, |v| {
        v["event"] == "buddy" && v["activity"] == "away"
    });
    let alice = Sipe::start("alice@lab.test", addr, 12, Some("away"));
    for uri in [&bob_uri, &dave_uri] {
        if alice
            .wait_for(&format!("BUDDY ADDED {uri}"), STEP)
            .is_none()
        {
            panic!(
                "after SIGKILL SIPE's contact list lost {uri}\n{}\n{}",
                alice.output(),
                restarted.log_text()
            );
        }
    }
    carol.quit();
    bob.quit();
    dave.quit();
}

/// SIPE signs in over TLS (a self-signed certificate it is asked to
/// accept), receives its stored contact list and shows a contact's
/// category publication, all over the one TLS connection.
///
/// Commands: presenced with `listen = ["tls:127.0.0.1:0"]`, `tls_cert`
/// and `tls_key` of a generated certificate; two SIPE clients as above
/// with `tls` for `tcp` (`bob@lab.test ... 15 away` first, then
/// `alice@lab.test ... 10`).
#[test]
fn sipe_signs_in_over_tls() {
    if sipe::skip_or_require() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key, _) = common::write_certificate(dir.path());
    let server = Presenced::with_config(
        &format!(
            "[sip]\nlisten = [\"tls:127.0.0.1:0\"]\ntls_cert = {cert:?}\ntls_key = {key:?}\n\
             [http]\nlisten = \"127.0.0.1:0\"\n[store]\nmode = \"memory\"\n"
        ),
        1,
    );
    let http = server.http_addr();
    let addr = server.addr("tls", false);
    let (status, body) = common::http_send(
        http,
        "PUT",
        ALICE_CONTACTS,
        Some(&contact_list(&["sip:bob@lab.test"])),
    );
    assert_eq!(status, 200, "{body}");
    let bob = Sipe::start_over("tls", "bob@lab.test", addr, 15, Some("away"));
    if bob.wait_for("SIPE-CLIENT: SIGNED ON", STEP).is_none() {
        panic!(
            "Bob did not sign in over TLS\n{}\n{}",
            bob.output(),
            server.log_text()
        );
    }
    let alice = Sipe::start_over("tls", "alice@lab.test", addr, 10, None);
    for needle in [
        "SIPE-CLIENT: SIGNED ON",
        "BUDDY ADDED sip:bob@lab.test",
        "BUDDY STATE sip:bob@lab.test away",
    ] {
        if alice.wait_for(needle, STEP).is_none() {
            panic!(
                "over TLS: {needle:?} not seen\n{}\n{}",
                alice.output(),
                server.log_text()
            );
        }
    }
    assert!(
        server.log_text().contains("transport=tls"),
        "the sessions ran over TLS"
    );
}
