//! Seed 000's walk-through with real peers: a VTC endpoint defined in
//! "Active Directory" (a slapd with AD's `msRTCSIP-PrimaryUserAddress`,
//! `tests/common/slapd.rs`) is found by a Skype-for-Business-dialect
//! client searching "vtc" (pidgin-sipe's "Contact search", sent as a
//! SERVICE `directorySearch`, [MS-PRES] §2.2.1), and once added it shows
//! Available because a gateway rule matches its address; a search for a
//! person finds the person.
//!
//! Commands: slapd as in `tests/common/slapd.rs`; presenced with `tcp:`
//! and `udp:` listeners on one free port and the `[directory]` and
//! `[service]` sections below; SIPE as
//! `SIPE_SEARCH=vtc,alice SIPE_ADD_FOUND=oslo-room042@vc.example.com
//! sipe_client 'bob@lab.test,LAB\bob' secret 127.0.0.1:PORT tcp ntlm 30`
//! (`tests/common/sipe.rs` builds it).
//!
//! Needs pidgin-sipe and slapd (`scripts/install-test-peers`);
//! `PRESENCED_SKIP_PEERS=1` skips it.

mod common;

use std::time::Duration;

use common::sipe::{self, Sipe};
use common::slapd::{self, Slapd};
use common::{peers, Presenced};

/// How long one expected step may take.
const STEP: Duration = Duration::from_secs(15);

const VTC: &str = "sip:oslo-room042@vc.example.com";

fn data() -> String {
    [
        slapd::ROOT_ENTRY.to_owned(),
        slapd::user(
            "Alice Smith",
            "sip:alice@lab.test",
            "mail: alice@lab.test\ncompany: Lab\n",
        ),
        slapd::user("Bob Jones", "sip:bob@lab.test", ""),
        slapd::device("VTC Oslo", VTC),
    ]
    .concat()
}

#[test]
fn sipe_finds_the_vtc_endpoint_and_a_person_and_sees_the_endpoint_available() {
    if sipe::skip_or_require() || slapd::skip_or_require() {
        return;
    }
    let ldap = Slapd::start(&data());
    let port = peers::free_port();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("ldap.pw");
    std::fs::write(&secret, slapd::PASSWORD).unwrap();
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
         [store]\nmode = \"memory\"\n\
         [directory]\nurl = \"{url}\"\nbind_dn = \"{admin}\"\npassword_file = \"{secret}\"\n\
         base = \"{suffix}\"\n\
         [[service.gateway_rules]]\nname = \"vtc endpoints\"\n\
         match = '[a-z]+-room\\d\\d\\d@vc\\.example\\.com'\ndialects = [\"microsoft\"]\n",
        url = ldap.url(),
        admin = slapd::ADMIN,
        secret = secret.display(),
        suffix = slapd::SUFFIX,
    );
    let server = Presenced::with_config(&config, 2);
    server.wait_for_log(&["ldap directory refreshed", "entries=3"]);

    let bob = Sipe::start_searching(
        "bob@lab.test",
        server.addr("tcp", false),
        30,
        "vtc,alice",
        "oslo-room042@vc.example.com",
    );
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n--- SIPE ---\n{}\n--- presenced ---\n{}",
            bob.output(),
            server.log_text()
        )
    };
    // "vtc": the endpoint, named as in LDAP.
    let Some(row) = bob.wait_for("SEARCH ROW oslo-room042@vc.example.com", STEP) else {
        fail("SIPE's search for vtc did not find the VTC endpoint")
    };
    assert!(row.contains("| VTC Oslo"), "{row}");
    // The request was the dialect's directory search, to the domain.
    let Some(search) = bob.wait_message(STEP, |m| {
        m.sent && m.start_line().starts_with("SERVICE ") && m.body().contains("directorySearch")
    }) else {
        fail("no directorySearch SERVICE")
    };
    assert!(
        search
            .body()
            .contains(r#"m:attrib="givenName" m:value="vtc""#),
        "{}",
        search.body()
    );
    // Added, the endpoint shows Available through the gateway rule.
    if bob
        .wait_for("ADDED oslo-room042@vc.example.com", STEP)
        .is_none()
    {
        fail("the found endpoint was not added");
    }
    if bob
        .wait_for(&format!("BUDDY STATE {VTC} available"), STEP)
        .is_none()
    {
        fail("SIPE does not show the VTC endpoint Available");
    }
    // "alice": the person, with the mail and company from LDAP.
    let Some(person) = bob.wait_for("SEARCH ROW alice@lab.test", STEP) else {
        fail("SIPE's search for alice did not find her")
    };
    assert!(
        person.contains("| Alice Smith | Lab |") && person.contains("alice@lab.test"),
        "{person}"
    );
    assert!(
        !bob.output().contains("SEARCH ROW bob@lab.test"),
        "a search finds only what matches"
    );
}
