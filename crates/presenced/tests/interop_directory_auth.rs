//! Users from the directory sign in (issue 13: "users in the config, and,
//! once the directory exists, from it"), against a real OpenLDAP slapd
//! standing in for Active Directory (`tests/common/slapd.rs`) and a real
//! client, pjsua2.
//!
//! dora's LDAP entry carries her digest HA1 hashes in `presencedHA1SHA256`
//! and `presencedHA1MD5` (the schema of `tests/peers/slapd/msrtc.schema`,
//! docs/security.md's recommendation), never her password; presenced
//! reads them with `[directory] ha1_sha256_attribute` and
//! `ha1_md5_attribute`, and has no `[[auth.users]]` at all. pjsua2 signs
//! in as dora with her password and publishes (200); with a wrong password
//! it gets 403; once dora is deleted from LDAP and the next refresh is in,
//! her right password gets 403 too.
//!
//! The exact commands (P the server's UDP port, L a free port; slapd as
//! tests/common/slapd.rs shows):
//!
//! ```text
//! python3 tests/peers/pjsua_publisher.py --transport udp --server-port P --local-port L --user dora --password pw-dora --duration 40
//!     (stdin: online / quit)
//! ldapmodify -x -H ldap://127.0.0.1:PORT -D cn=admin,dc=example,dc=com -w secret   (changetype: delete)
//! ```

mod common;

use std::time::{Duration, Instant};

use common::peers::{signed_in_args, Driver};
use common::slapd::{self, Slapd};
use common::Presenced;
use serde_json::Value;
use sip::digest::{self, Algorithm};

const REALM: &str = "lab.test";
const WAIT: Duration = Duration::from_secs(15);

fn data() -> String {
    let hashes = |user: &str, password: &str| {
        format!(
            "presencedHA1SHA256: {}\npresencedHA1MD5: {}\n",
            digest::ha1(Algorithm::Sha256, user, REALM, password),
            digest::ha1(Algorithm::Md5, user, REALM, password),
        )
    };
    [
        slapd::ROOT_ENTRY.to_owned(),
        slapd::user(
            "Dora Explorer",
            "sip:dora@127.0.0.1",
            &hashes("dora", "pw-dora"),
        ),
        slapd::user(
            "Erin Hannon",
            "sip:erin@127.0.0.1",
            &hashes("erin", "pw-erin"),
        ),
        // In the address book, but without credentials: may not sign in.
        slapd::user("Fay Wray", "sip:fay@127.0.0.1", ""),
    ]
    .concat()
}

fn server(slapd: &Slapd) -> Presenced {
    let dir = tempfile::tempdir().expect("temp dir");
    let secret = dir.path().join("ldap.pw");
    std::fs::write(&secret, format!("{}\n", slapd::PASSWORD)).unwrap();
    let toml = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n[store]\nmode = \"memory\"\n\
         [auth]\nrealm = \"{REALM}\"\n\
         [directory]\nurl = \"{url}\"\nbind_dn = \"{admin}\"\npassword_file = \"{secret}\"\n\
         base = \"{suffix}\"\nrefresh_secs = 1\ntimeout_secs = 5\n\
         ha1_sha256_attribute = \"presencedHA1SHA256\"\nha1_md5_attribute = \"presencedHA1MD5\"\n",
        url = slapd.url(),
        admin = slapd::ADMIN,
        secret = secret.display(),
        suffix = slapd::SUFFIX,
    );
    Presenced::with_config_in(dir, &toml, 1)
}

/// A final answer that is not a challenge.
fn settled(v: &Value) -> bool {
    v["event"] == "error" || v["event"] == "publish" && v["status"] != 401 && v["status"] != 407
}

/// pjsua2 publishing as `user` with `password`; the PUBLISH's final status.
fn publish_as(server: &Presenced, user: &str, password: &str) -> Value {
    let port = server.addr("udp", false).port();
    let args = signed_in_args(port, user, password);
    let publisher = Driver::start("pjsua_publisher.py", &args);
    publisher.send("online");
    let ctx = || server.log_text();
    let (_, v) = publisher.wait_for(0, WAIT, "PUBLISH answered", &ctx, settled);
    let report = publisher.report();
    publisher.quit();
    assert!(v["event"] == "publish", "{v}\n{report}");
    v["status"].clone()
}

/// Waits for a refresh whose log line says `users=N`, after `after` lines.
fn wait_for_refresh(server: &Presenced, users: usize, after: usize) {
    let deadline = Instant::now() + WAIT;
    let needle = format!("users={users}");
    loop {
        let log = server.log_text();
        if log
            .lines()
            .skip(after)
            .any(|l| l.contains("ldap directory refreshed") && l.contains(&needle))
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no refresh with {needle}:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pjsua2_signs_in_with_a_directory_users_password_until_ldap_deletes_it() {
    if slapd::skip_or_require() || common::peers::skip_without_pjsua() {
        return;
    }
    let slapd = Slapd::start(&data());
    let server = server(&slapd);
    wait_for_refresh(&server, 2, 0);
    server.wait_for_log(&["directory users sign in"]);

    assert_eq!(publish_as(&server, "dora", "pw-dora"), 200);
    assert_eq!(publish_as(&server, "dora", "wrong"), 403);
    // In the address book, without credentials: an unknown user.
    assert_eq!(publish_as(&server, "fay", "pw-fay"), 403);

    slapd.modify("dn: cn=Dora Explorer,dc=example,dc=com\nchangetype: delete\n");
    let lines = server.log_text().lines().count();
    wait_for_refresh(&server, 1, lines);
    assert_eq!(publish_as(&server, "dora", "pw-dora"), 403);
    // erin still signs in.
    assert_eq!(publish_as(&server, "erin", "pw-erin"), 200);
    assert_eq!(
        server.metric("presenced_refusals_total{reason=\"wrong_credentials\"} "),
        3.0
    );
}
