//! Service contacts from the outside, without a SIP client: `presenced
//! explain`, `presenced check-config`, the theme images and the occupancy
//! API's refusals, with the real binary.
//!
//! Commands: `presenced explain URI --config FILE`, `presenced
//! check-config FILE`, and the server as `presenced --config FILE
//! --http-listen 127.0.0.1:0` with the HTTP requests below.

mod common;

use std::process::Command;

use common::{http_exchange, Presenced};

const CONFIG: &str = r#"[store]
mode = "memory"
[service]
occupancy_token_sha256 = "803b91f4ddf861449b173b63511a3ecb8924311456e276a092040e6c6cbce43f"
[[service.rooms]]
aliases = ["meet.alice@vc.example.com"]
name = "Alice's meeting room"
description = "Weekly team meeting"
[[service.gateway_rules]]
name = "lync endpoints"
match = '[a-z]+-lync\d\d\d@vc\.example\.com'
dialects = ["microsoft"]
"#;

fn presenced(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_presenced"))
        .args(args)
        .output()
        .expect("presenced runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn explain_says_who_answers_and_why_without_the_pin() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("presenced.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = path.to_str().unwrap();

    let (ok, out, err) = presenced(&[
        "explain",
        "sip:meet.alice**4321@vc.example.com",
        "--config",
        config,
    ]);
    assert!(ok, "{err}");
    assert!(!out.contains("4321"), "{out}");
    assert!(
        out.contains("room \"Alice's meeting room\" (service.rooms[0], line 5) answers Available"),
        "{out}"
    );

    let (_, out, _) = presenced(&["explain", "oslo-lync042@vc.example.com", "--config", config]);
    assert!(out.contains("gateway rule \"lync endpoints\""), "{out}");
    assert!(
        out.contains("passed over for ietf: gateway rule \"lync endpoints\" (line 9): matches, but applies to [microsoft] only"),
        "{out}"
    );

    let (_, out, _) = presenced(&[
        "explain",
        "sip:oslo-lync42@vc.example.com",
        "--config",
        config,
    ]);
    assert!(out.contains("does not match"), "{out}");
    assert!(out.contains("never Available"), "{out}");

    let (ok, out, _) = presenced(&["check-config", config]);
    assert!(ok);
    assert!(
        out.contains("service contacts: 1 rooms (1 aliases), 1 gateway rules, 1 themes"),
        "{out}"
    );
    std::fs::write(&path, CONFIG.replace("[a-z]+-lync", "[a-z+-lync")).unwrap();
    let (ok, _, err) = presenced(&["check-config", config]);
    assert!(!ok);
    assert!(
        err.contains(&format!(
            "{config}:11:9: service.gateway_rules[0] \"lync endpoints\".match: regex parse error"
        )),
        "{err}"
    );
}

#[test]
fn the_photo_is_served_by_hash_and_the_occupancy_api_refuses_clearly() {
    let server = Presenced::with_config(
        &format!("[sip]\nlisten = [\"udp:127.0.0.1:0\"]\n{CONFIG}"),
        1,
    );
    let http = server.http_addr();
    let hash = {
        use sha2::Digest;
        sha2::Sha256::digest(rules::theme::DEFAULT_IMAGE)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let (status, image) = http_exchange(
        http,
        "GET",
        &format!("/service/themes/default/{hash}.jpg"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(image, rules::theme::DEFAULT_IMAGE);
    let (status, _) = http_exchange(http, "GET", "/service/themes/default/0123.jpg", &[], b"");
    assert_eq!(status, 404, "an old or made-up hash");

    // The token is the one whose SHA-256 the config holds: "room-feed".
    let put = |headers: &[&str], alias: &str, body: &str| {
        let (status, body) = http_exchange(
            http,
            "PUT",
            &format!("/api/v1/rooms/{alias}/occupancy"),
            headers,
            body.as_bytes(),
        );
        (status, String::from_utf8_lossy(&body).into_owned())
    };
    let room = "meet.alice@vc.example.com";
    let good = ["Authorization: Bearer room-feed"];
    let (status, body) = put(&[], room, r#"{"participants": 2}"#);
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("\"field\":\"Authorization\""), "{body}");
    assert_eq!(put(&["Authorization: Bearer room-fee"], room, "{}").0, 401);
    let (status, body) = put(&good, room, r#"{"participants": "two"}"#);
    assert_eq!(status, 400);
    assert!(body.contains("\"field\":\"participants\""), "{body}");
    let (status, body) = put(&good, room, r#"{"participants": 2, "x": 1}"#);
    assert_eq!(status, 400);
    assert!(body.contains("\"field\":\"x\""), "{body}");
    let (status, body) = put(
        &good,
        "oslo-lync042@vc.example.com",
        r#"{"participants": 2}"#,
    );
    assert_eq!(status, 404, "a gateway alias is no room: {body}");
    let (status, body) = put(
        &good,
        "meet.alice**99@vc.example.com",
        r#"{"participants": 2}"#,
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        r#"{"participants":2,"room":"meet.alice@vc.example.com"}"#
    );
    server.wait_for_log(&["room occupancy", "participants=2"]);
}
