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
//! Contact, over the same connection. Those packages are not served yet
//! (they get 489), which SIPE survives. When it quits it un-REGISTERs and
//! the binding is removed.
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
