//! The company directory against a real OpenLDAP slapd standing in for
//! Active Directory (`tests/common/slapd.rs` says how it is run): users,
//! a contact object and a VTC resource with `msRTCSIP-PrimaryUserAddress`
//! appear in `GET /api/v1/directory` with their origins and presence (the
//! resource Available through a gateway rule, seed 000); a change in LDAP
//! appears after the next refresh; slapd stopped keeps the last directory
//! and shows in `/health` and the metrics; a refused bind too; LDAPS and
//! StartTLS with the server's CA in `ca_file`.

mod common;

use std::time::{Duration, Instant};

use common::slapd::{self, Slapd};
use common::{http_get, Presenced};
use serde_json::Value;

fn data() -> String {
    [
        slapd::ROOT_ENTRY.to_owned(),
        slapd::user(
            "Alice Smith",
            "sip:alice@example.com",
            "mail: alice@example.com\ntelephoneNumber: +31 20 555 0101\ntitle: Engineer\n\
             department: Development\n",
        ),
        slapd::user("Bob Jones", "sip:bob@Example.com", ""),
        // A contact object without displayName: its CN is shown.
        "\ndn: cn=Partner VTC,dc=example,dc=com\nobjectClass: contact\ncn: Partner VTC\n\
         sn: VTC\nmsRTCSIP-PrimaryUserAddress: sip:boardroom@vc.partner.example\n"
            .to_owned(),
        slapd::device("VTC Oslo", "sip:oslo-room042@vc.example.com"),
        // Not SIP-enabled: the default filter leaves it out.
        "\ndn: cn=No SIP,dc=example,dc=com\nobjectClass: user\ncn: No SIP\nsn: SIP\n\
         mail: nosip@example.com\n"
            .to_owned(),
    ]
    .concat()
}

fn config(slapd: &Slapd, dir: &std::path::Path, password: &str) -> String {
    let secret = dir.join("ldap.pw");
    std::fs::write(&secret, format!("{password}\n")).unwrap();
    format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [directory]\nurl = \"{url}\"\nbind_dn = \"{admin}\"\npassword_file = \"{secret}\"\n\
         base = \"{suffix}\"\npage_size = 2\nrefresh_secs = 1\ntimeout_secs = 5\n\
         [[service.gateway_rules]]\nname = \"vtc endpoints\"\n\
         match = '[a-z]+-room\\d\\d\\d@vc\\.example\\.com'\ndialects = [\"microsoft\"]\n",
        url = slapd.url(),
        admin = slapd::ADMIN,
        secret = secret.display(),
        suffix = slapd::SUFFIX,
    )
}

fn directory(server: &Presenced, query: &str) -> Value {
    let (status, body) = http_get(server.http_addr(), &format!("/api/v1/directory{query}"));
    assert!(status.contains("200"), "{status}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn entry<'a>(answer: &'a Value, uri: &str) -> &'a Value {
    answer["entries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["uri"] == uri)
        .unwrap_or_else(|| panic!("{uri} not in {answer:#}"))
}

/// Polls `check` for up to 10 s (a refresh is due every second).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn ldap_entries_appear_follow_changes_and_survive_an_outage() {
    if slapd::skip_or_require() {
        return;
    }
    let mut ldap = Slapd::start(&data());
    let dir = tempfile::tempdir().unwrap();
    let server = Presenced::with_config_in(
        tempfile::tempdir().unwrap(),
        &config(&ldap, dir.path(), slapd::PASSWORD),
        1,
    );
    server.wait_for_log(&["ldap directory refreshed", "entries=4", "skipped=0"]);

    let all = directory(&server, "");
    assert_eq!(all["total"], 4, "{all:#}");
    let names: Vec<&str> = all["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["display_name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Alice Smith", "Bob Jones", "Partner VTC", "VTC Oslo"]
    );

    let alice = entry(&all, "sip:alice@example.com");
    assert_eq!(alice["kind"], "user");
    assert_eq!(alice["origins"], serde_json::json!(["ldap"]));
    assert_eq!(alice["title"], "Engineer");
    assert_eq!(alice["department"], "Development");
    assert_eq!(alice["phone"], "+31 20 555 0101");
    assert_eq!(alice["dn"], "cn=Alice Smith,dc=example,dc=com");
    assert_eq!(alice["presence"]["class"], "Offline", "{alice:#}");
    assert_eq!(alice["presence"]["source"], "none");
    // The host is lowercased, as presentity keys have it.
    assert_eq!(entry(&all, "sip:bob@example.com")["kind"], "user");
    let partner = entry(&all, "sip:boardroom@vc.partner.example");
    assert_eq!(partner["kind"], "contact");
    assert_eq!(
        partner["display_name"], "Partner VTC",
        "the CN without displayName"
    );
    let vtc = entry(&all, "sip:oslo-room042@vc.example.com");
    assert_eq!(vtc["kind"], "resource");
    assert_eq!(vtc["origins"], serde_json::json!(["ldap", "gateway"]));
    assert_eq!(vtc["gateway_rule"], "vtc endpoints");
    assert_eq!(vtc["presence"]["availability"], 3500);
    assert_eq!(vtc["presence"]["class"], "Online");
    assert_eq!(vtc["presence"]["source"], "gateway");

    // Search and pages.
    let found = directory(&server, "?q=vtc");
    assert_eq!(found["total"], 2, "{found:#}");
    let page = directory(&server, "?page=2&per_page=3");
    assert_eq!(page["total"], 4);
    assert_eq!(page["entries"].as_array().unwrap().len(), 1);
    assert_eq!(page["entries"][0]["display_name"], "VTC Oslo");
    let (status, body) = http_get(server.http_addr(), "/api/v1/directory?per_page=0");
    assert!(status.contains("400"), "{status}");
    assert!(body.contains("\"field\":\"per_page\""), "{body}");

    let (status, health) = http_get(server.http_addr(), "/health");
    assert!(status.contains("200"), "{status}");
    assert!(
        health.starts_with("ok\ndirectory: ok, 4 ldap entries"),
        "{health}"
    );

    // A change in LDAP appears after the next refresh.
    ldap.modify(
        "dn: cn=Carol White,dc=example,dc=com\nchangetype: add\nobjectClass: user\ncn: Carol White\n\
         sn: White\ndisplayName: Carol White\nmsRTCSIP-PrimaryUserAddress: sip:carol@example.com\n\n\
         dn: cn=Bob Jones,dc=example,dc=com\nchangetype: modify\nreplace: displayName\n\
         displayName: Robert Jones\n",
    );
    eventually("carol's arrival", || directory(&server, "")["total"] == 5);
    let after = directory(&server, "?q=jones");
    assert_eq!(
        after["entries"][0]["display_name"], "Robert Jones",
        "{after:#}"
    );

    // slapd stops: the last directory stays, and health says so.
    ldap.stop();
    server.wait_for_log(&["ldap refresh failed", "kept=5"]);
    let (status, health) = http_get(server.http_addr(), "/health");
    assert!(status.contains("200"), "a restart would not help: {status}");
    assert!(
        health.contains("directory: ldap failing for")
            && health.contains("connect:")
            && health.contains("serving 5 entries from the refresh"),
        "{health}"
    );
    assert_eq!(
        directory(&server, "")["total"],
        5,
        "the last good directory"
    );
    let (_, metrics) = http_get(server.http_addr(), "/metrics");
    assert!(metrics.contains("presenced_directory_up 0"), "{metrics}");
    assert!(
        metrics.contains("presenced_directory_entries{origin=\"gateway\"} 1"),
        "{metrics}"
    );

    // Back again: healed at the next refresh.
    ldap.run();
    eventually("the recovery", || {
        http_get(server.http_addr(), "/health")
            .1
            .contains("directory: ok, 5 ldap entries")
    });
}

#[test]
fn a_refused_bind_is_reported_and_nothing_is_made_up() {
    if slapd::skip_or_require() {
        return;
    }
    let ldap = Slapd::start(&data());
    let dir = tempfile::tempdir().unwrap();
    let server = Presenced::with_config_in(
        tempfile::tempdir().unwrap(),
        &config(&ldap, dir.path(), "wrong-password"),
        1,
    );
    let line = server.wait_for_log(&["ldap refresh failed", "bind:"]);
    assert!(line.contains("kept=0"), "{line}");
    assert!(
        !server.log_text().contains("wrong-password"),
        "the password is never logged"
    );
    let (status, health) = http_get(server.http_addr(), "/health");
    assert!(status.contains("200"), "{status}");
    assert!(
        health.contains("directory: ldap failing") && health.contains("no refresh yet"),
        "{health}"
    );
    assert_eq!(directory(&server, "")["total"], 0);
}

#[test]
fn ldaps_and_starttls_with_a_ca_file() {
    if slapd::skip_or_require() {
        return;
    }
    let certs = tempfile::tempdir().unwrap();
    let (cert, key, _) = common::write_certificate(certs.path());
    let ldap = Slapd::start_tls(&data(), &cert, &key);
    for (url, starttls) in [
        (
            format!("ldaps://127.0.0.1:{}", ldap.tls_port.unwrap()),
            false,
        ),
        (ldap.url(), true),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let text = config(&ldap, dir.path(), slapd::PASSWORD)
            .replace(
                &format!("url = \"{}\"", ldap.url()),
                &format!("url = \"{url}\""),
            )
            .replace(
                "[directory]\n",
                &format!(
                    "[directory]\nstarttls = {starttls}\nca_file = \"{}\"\n",
                    cert.display()
                ),
            );
        let server = Presenced::with_config_in(tempfile::tempdir().unwrap(), &text, 1);
        server.wait_for_log(&["ldap directory refreshed", "entries=4"]);
        assert_eq!(directory(&server, "?q=alice")["total"], 1, "{url}");
    }
    // Without the CA the server's certificate is not trusted.
    let dir = tempfile::tempdir().unwrap();
    let untrusted = config(&ldap, dir.path(), slapd::PASSWORD).replace(
        &format!("url = \"{}\"", ldap.url()),
        &format!("url = \"ldaps://127.0.0.1:{}\"", ldap.tls_port.unwrap()),
    );
    let server = Presenced::with_config_in(tempfile::tempdir().unwrap(), &untrusted, 1);
    server.wait_for_log(&["ldap refresh failed", "connect:"]);
}
