//! Service contacts seen by real clients: pjsua2 (IETF dialect, PIDF) and
//! pidgin-sipe (Microsoft dialect, batched category subscriptions).
//!
//! The server: the presenced binary with [`CONFIG`] (a room, a
//! Microsoft-only gateway rule, a rule for both dialects, the occupancy
//! feed's token hash), `udp:` and `tcp:` listeners on one free port,
//! `--http-listen 127.0.0.1:0`, the memory store.
//!
//! The clients, one process per watched address:
//!
//! ```text
//! python3 tests/peers/pjsua_watcher.py --transport udp --server-port P \
//!     --local-port L --user bob --target sip:meet.alice@vc.example.com --duration 60
//! SIPE_PURPLE_HOME=$(mktemp -d) LD_PRELOAD=$TMPDIR/sipe/sax1fix.so \
//!     $TMPDIR/sipe/sipe_client 'alice@lab.test,LAB\alice' secret 127.0.0.1:P tcp ntlm 30
//! ```
//!
//! and the occupancy feed as
//! `curl -X PUT -H 'Authorization: Bearer feed-secret' -d '{"participants": 3}'
//! http://127.0.0.1:H/api/v1/rooms/meet.alice@vc.example.com/occupancy`.
//!
//! Needs pjsua2 and pidgin-sipe (`scripts/install-test-peers`);
//! `PRESENCED_SKIP_PEERS=1` skips it.

mod common;

use std::time::Duration;

use common::peers;
use common::sipe::{self, Sipe};
use common::Presenced;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long one expected step may take.
const STEP: Duration = Duration::from_secs(10);

const ROOM: &str = "sip:meet.alice@vc.example.com";
const PINNED: &str = "sip:meet.alice**1234@vc.example.com";
const VTC: &str = "sip:oslo-room042@vc.example.com";
const LYNC_ONLY: &str = "sip:oslo-lync042@vc.example.com";
const TYPO: &str = "sip:oslo-rom042@vc.example.com";
const TOKEN: &str = "feed-secret";

const CONFIG: &str = r#"
[service]
occupancy_token_sha256 = "TOKEN_HASH"
[[service.rooms]]
aliases = ["meet.alice@vc.example.com"]
name = "Alice's meeting room"
description = "Weekly team meeting"
[[service.gateway_rules]]
name = "lync endpoints"
match = '[a-z]+-lync\d\d\d@vc\.example\.com'
dialects = ["microsoft"]
[[service.gateway_rules]]
name = "vtc endpoints"
match = '([a-z]+)-room(\d\d\d)@vc\.example\.com'
dialects = ["microsoft", "ietf"]
display_name = "VTC $1 room $2"
description = "Video endpoint"
[[service.gateway_rules]]
name = "lab endpoints"
match = '[a-z]+-room\d\d\d@127\.0\.0\.1'
dialects = ["ietf"]
description = "Lab endpoint"
"#;

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn start(port: u16) -> Presenced {
    let config = format!(
        "[sip]\nlisten = [\"udp:127.0.0.1:{port}\", \"tcp:127.0.0.1:{port}\"]\n\
         [store]\nmode = \"memory\"\n{}",
        CONFIG.replace("TOKEN_HASH", &hex_sha256(TOKEN.as_bytes()))
    );
    Presenced::with_config(&config, 2)
}

/// PUT of a room's occupancy with `token`: status and body.
fn occupancy(server: &Presenced, alias: &str, token: Option<&str>, body: &str) -> (u16, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    let path = format!("/api/v1/rooms/{alias}/occupancy");
    let (status, body) =
        common::http_exchange(server.http_addr(), "PUT", &path, &headers, body.as_bytes());
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn is_online_with(v: &Value, note: &str) -> bool {
    v["event"] == "buddy" && v["status"] == "online" && v["note"] == note
}

/// pjsua2 subscribed to a room alias, its PIN-suffixed form and a
/// gateway alias sees each Available with its note; a mistyped alias and
/// an alias only a Microsoft-dialect rule matches never show Available.
#[test]
fn pjsua_sees_rooms_pins_and_gateway_aliases_and_never_a_typo() {
    if peers::skip_without_pjsua() {
        return;
    }
    let port = peers::free_port();
    let server = start(port);
    let ctx = || server.log_text();
    let watch = |user: &str, target: &str| peers::pjsua_watcher("udp", port, user, target);
    let room = watch("bob", ROOM);
    let pinned = watch("carol", PINNED);
    let vtc = watch("dave", VTC);
    let typo = watch("erin", TYPO);
    let lync_only = watch("frank", LYNC_ONLY);

    room.wait_for(0, STEP, "the room is Available", &ctx, |v| {
        is_online_with(v, "Weekly team meeting")
    });
    pinned.wait_for(0, STEP, "the PIN alias is the room", &ctx, |v| {
        is_online_with(v, "Weekly team meeting")
    });
    vtc.wait_for(0, STEP, "the gateway alias is Available", &ctx, |v| {
        is_online_with(v, "Video endpoint")
    });
    for (driver, what) in [
        (&typo, "the typo"),
        (&lync_only, "the Microsoft-only alias"),
    ] {
        let (_, notify) = driver.wait_for(0, STEP, what, &ctx, |v| v["event"] == "notify");
        assert_eq!(notify["basic"], "closed", "{what}: {notify}");
    }
    // The PIN is neither echoed in a body nor logged.
    let (_, notify) = pinned.wait_for(0, STEP, "the PIN alias's NOTIFY", &ctx, |v| {
        v["event"] == "notify" && v["basic"] == "open"
    });
    assert!(!notify.to_string().contains("1234"), "{notify}");
    assert!(!server.log_text().contains("1234"), "{}", server.log_text());
    // Long enough for any late NOTIFY: never Available.
    std::thread::sleep(Duration::from_millis(500));
    for driver in [&typo, &lync_only] {
        let online = driver
            .events()
            .into_iter()
            .any(|v| v["event"] == "buddy" && v["status"] == "online");
        assert!(!online, "a false Available:\n{}", driver.report());
    }
    for driver in [room, pinned, vtc, typo, lync_only] {
        driver.quit();
    }
}

/// SIPE sees the room Available with its display name, description and
/// picture (whose URL serves the theme's image with the hash the card
/// names), and the Microsoft-only alias Available, which pjsua2 sees
/// closed; the occupancy feed then makes the room Busy "In a meeting (3)"
/// for SIPE and pjsua2 alike, each in its next notification, and
/// Available again at 0.
#[test]
fn sipe_sees_the_room_card_and_photo_and_occupancy_reaches_both_dialects() {
    if sipe::skip_or_require() || peers::skip_without_pjsua() {
        return;
    }
    let port = peers::free_port();
    let server = start(port);
    let ctx = || server.log_text();
    let list = format!(
        "{{\"groups\": [{{\"id\": 1, \"name\": \"Rooms\"}}], \"contacts\": [\
         {{\"uri\": \"{ROOM}\", \"name\": \"\", \"groups\": [1]}}, \
         {{\"uri\": \"{LYNC_ONLY}\", \"name\": \"\", \"groups\": [1]}}]}}"
    );
    let (status, body) = common::http_send(
        server.http_addr(),
        "PUT",
        "/api/v1/users/sip%3Aalice%40lab.test/contacts",
        Some(&list),
    );
    assert_eq!(status, 200, "{body}");
    let room_watcher = peers::pjsua_watcher("udp", port, "bob", ROOM);
    let lync_watcher = peers::pjsua_watcher("udp", port, "carol", LYNC_ONLY);
    let alice = Sipe::start("alice@lab.test", server.addr("tcp", false), 30, None);
    let fail = |what: &str| -> ! {
        panic!(
            "{what}\n--- SIPE ---\n{}\n--- presenced ---\n{}",
            alice.output(),
            server.log_text()
        )
    };
    for uri in [ROOM, LYNC_ONLY] {
        if alice
            .wait_for(&format!("BUDDY STATE {uri} available"), STEP)
            .is_none()
        {
            fail(&format!("SIPE does not show {uri} Available"));
        }
    }
    let (_, closed) =
        lync_watcher.wait_for(0, STEP, "pjsua2's NOTIFY", &ctx, |v| v["event"] == "notify");
    assert_eq!(
        closed["basic"], "closed",
        "Microsoft-only: nothing for pjsua2"
    );

    // The card SIPE received for the room.
    let Some(card) = alice.wait_message(STEP, |m| {
        !m.sent
            && m.body().contains(&format!("uri=\"{ROOM}\""))
            && m.body().contains("<contactCard")
    }) else {
        fail("no contact card for the room")
    };
    let part = card
        .body()
        .split("<categories ")
        .skip(1)
        .find(|p| p.contains(&format!("uri=\"{ROOM}\"")))
        .unwrap_or_default();
    for needle in [
        "<displayName>Alice's meeting room</displayName>",
        "<description>Weekly team meeting</description>",
        "<automaton>true</automaton>",
        "<availability>3500</availability>",
    ] {
        assert!(part.contains(needle), "{needle} missing from\n{part}");
    }
    let between = |open: &str, close: &str| {
        part.split(open)
            .nth(1)
            .and_then(|r| r.split(close).next())
            .unwrap_or_default()
            .to_owned()
    };
    let photo = between("<photo", "</photo>");
    let uri = photo
        .split("<uri>")
        .nth(1)
        .and_then(|r| r.split("</uri>").next())
        .unwrap_or_default()
        .to_owned();
    let hash = between("<hash>", "</hash>");
    let path = uri
        .strip_prefix(&format!("http://{}", server.http_addr()))
        .unwrap_or_else(|| panic!("the photo is on our HTTP listener: {uri}"));
    let (status, image) = common::http_exchange(server.http_addr(), "GET", path, &[], b"");
    assert_eq!(status, 200, "{uri}");
    assert_eq!(&image[..2], [0xff, 0xd8], "a JPEG");
    assert_eq!(hex_sha256(&image), hash, "the card's hash is the image's");

    // The occupancy feed: refused without the token, then 3 participants.
    let body = r#"{"participants": 3}"#;
    assert_eq!(
        occupancy(&server, "meet.alice@vc.example.com", None, body).0,
        401
    );
    assert_eq!(
        occupancy(&server, "meet.alice@vc.example.com", Some("guess"), body).0,
        401
    );
    let (status, error) = occupancy(
        &server,
        "meet.alice@vc.example.com",
        Some(TOKEN),
        r#"{"participants": -1}"#,
    );
    assert_eq!(status, 400);
    assert!(error.contains("\"field\":\"participants\""), "{error}");
    assert_eq!(
        occupancy(&server, "nobody@vc.example.com", Some(TOKEN), body).0,
        404
    );
    let seen = room_watcher.len();
    let (status, answer) = occupancy(
        &server,
        "meet.alice**1234@vc.example.com",
        Some(TOKEN),
        body,
    );
    assert_eq!(status, 200, "{answer}");
    let (_, notify) = room_watcher.wait_for(seen, STEP, "pjsua2's next NOTIFY", &ctx, |v| {
        v["event"] == "notify"
    });
    assert_eq!(notify["note"], "In a meeting (3)", "{notify}");
    assert_eq!(notify["basic"], "open");
    let busy = alice.wait_message(STEP, |m| {
        !m.sent
            && m.body().contains(&format!("uri=\"{ROOM}\""))
            && m.body().contains("In a meeting (3)")
            && m.body().contains("<availability>6500</availability>")
    });
    if busy.is_none() {
        fail("SIPE was not told the room is in a meeting");
    }
    if alice
        .wait_for(&format!("BUDDY {ROOM} status available -> busy"), STEP)
        .is_none()
    {
        fail("SIPE does not show the room busy");
    }
    // Empty again: Available for both.
    let seen = room_watcher.len();
    assert_eq!(
        occupancy(
            &server,
            "meet.alice@vc.example.com",
            Some(TOKEN),
            r#"{"participants": 0}"#
        )
        .0,
        200
    );
    let (_, notify) =
        room_watcher.wait_for(seen, STEP, "pjsua2's NOTIFY after the meeting", &ctx, |v| {
            v["event"] == "notify"
        });
    assert_eq!(notify["note"], "Weekly team meeting", "{notify}");
    if alice
        .wait_for(&format!("BUDDY {ROOM} status busy -> available"), STEP)
        .is_none()
    {
        fail("SIPE does not show the room Available again");
    }
    room_watcher.quit();
    lync_watcher.quit();
}

/// The reload's starting point: one room, one gateway rule with the
/// `blue` theme.
const BEFORE: &str = r#"
[service]
themes_dir = "themes"
[[service.rooms]]
aliases = ["meet.alice@vc.example.com"]
name = "Alice's meeting room"
description = "Weekly team meeting"
[[service.gateway_rules]]
name = "vtc endpoints"
match = '[a-z]+-room\d\d\d@vc\.example\.com'
dialects = ["microsoft", "ietf"]
theme = "blue"
description = "Video endpoint"
"#;

/// A reload that adds a room, edits a rule's regex and then breaks the
/// rule's theme image, in one run with pjsua2 watchers of every address
/// involved:
///
/// - the new room's watcher, closed before, is told it is Available;
/// - the watchers of the edited rule's aliases are told: the alias the
///   old regex matched goes closed, the one the new regex matches goes
///   Available; the watcher of the untouched room hears nothing;
/// - the broken image is refused, by the file watch and by SIGHUP, with
///   the image's path and the config line naming its theme, exactly as
///   `presenced check-config` reports it, and the running configuration
///   stays;
/// - no subscription was dropped.
///
/// The edits are plain writes of the file (`presenced.toml` and
/// `themes/blue/presence_avatar_image.jpg` beside it) and
/// `kill -HUP PID`.
#[test]
fn a_reload_adds_a_room_edits_a_rule_refuses_a_broken_theme_and_drops_nothing() {
    if peers::skip_without_pjsua() {
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let blue = dir.path().join("themes/blue");
    std::fs::create_dir_all(&blue).expect("theme folder");
    let image = blue.join("presence_avatar_image.jpg");
    std::fs::write(&image, rules::theme::DEFAULT_IMAGE).expect("theme image");
    let path = dir.path().join("presenced.toml");
    let port = peers::free_port();
    let head = format!("[sip]\nlisten = [\"udp:127.0.0.1:{port}\"]\n[store]\nmode = \"memory\"\n");
    let server = Presenced::with_config_in(dir, &format!("{head}{BEFORE}"), 1);
    let ctx = || server.log_text();
    let new_room = "sip:standup@vc.example.com";
    let old_match = VTC;
    let new_match = "sip:oslo-vtc042@vc.example.com";
    let watch = |user: &str, target: &str| peers::pjsua_watcher("udp", port, user, target);
    let watchers = [
        (watch("bob", new_room), "closed"),
        (watch("carol", old_match), "open"),
        (watch("dave", new_match), "closed"),
        (watch("erin", ROOM), "open"),
    ];
    let mut seen = Vec::new();
    for (driver, basic) in &watchers {
        let (i, _) = driver.wait_for(0, STEP, "the first NOTIFY", &ctx, |v| {
            v["event"] == "notify" && v["basic"] == *basic
        });
        seen.push(i + 1);
    }

    // Add a room and edit the rule's regex.
    let after = BEFORE.replace("-room\\d\\d\\d", "-vtc\\d\\d\\d")
        + "[[service.rooms]]\naliases = [\"standup@vc.example.com\"]\nname = \"Stand-up\"\ndescription = \"Daily stand-up\"\n";
    std::fs::write(&path, format!("{head}{after}")).expect("edit the config");
    server.wait_for_log(&["config reloaded", "why=\"file changed\""]);
    let expect = [
        ("the new room answers", "open", Some("Daily stand-up")),
        ("the old match goes", "closed", None),
        ("the new match answers", "open", Some("Video endpoint")),
    ];
    for (((driver, _), from), (what, basic, note)) in watchers.iter().zip(&seen).zip(expect) {
        let (_, notify) = driver.wait_for(*from, STEP, what, &ctx, |v| {
            v["event"] == "notify" && v["basic"] == basic
        });
        if let Some(note) = note {
            assert_eq!(notify["note"], note, "{what}");
        }
    }
    for change in [
        "config change: room standup@vc.example.com added",
        "config change: gateway rule vtc endpoints changed",
    ] {
        assert!(
            server.log_text().contains(change),
            "{change}\n{}",
            server.log_text()
        );
    }

    // Break the rule's theme image: refused by the watch and by SIGHUP.
    std::fs::write(&image, b"GIF89a not a jpeg").expect("break the image");
    let line = format!("{head}{after}")
        .lines()
        .position(|l| l == "theme = \"blue\"")
        .expect("the theme line")
        + 1;
    let reason = format!(
        "{}:{line}:9: theme \"blue\": {}: not a JPEG image",
        path.display(),
        image.display()
    );
    server.wait_for_log(&["config reload refused", "why=\"file changed\"", &reason]);
    // SAFETY: kill(2) on the server's own PID; no memory is involved.
    let sent = unsafe { libc::kill(server.pid() as libc::pid_t, libc::SIGHUP) };
    assert_eq!(sent, 0, "SIGHUP sent");
    server.wait_for_log(&["config reload refused", "why=\"SIGHUP\"", &reason]);
    let (_, metrics) = common::http_get(server.http_addr(), "/metrics");
    // At least: a burst of file events may be read as more than one.
    for (result, least) in [("applied", 1), ("refused", 2)] {
        let series = format!("presenced_config_reloads_total{{result=\"{result}\"}} ");
        let count: u64 = metrics
            .lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{series} missing from\n{metrics}"));
        assert!(count >= least, "{series}{count}");
    }
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_presenced"))
        .arg("check-config")
        .arg(&path)
        .output()
        .expect("check-config runs");
    assert!(!check.status.success());
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(
        stderr.contains(&reason),
        "check-config says the same:\n{stderr}"
    );
    // The running configuration stayed: the new room still answers.
    let frank = watch("frank", new_room);
    frank.wait_for(
        0,
        STEP,
        "the kept room answers a new SUBSCRIBE",
        &ctx,
        |v| v["event"] == "notify" && v["basic"] == "open",
    );
    frank.quit();

    // No subscription was dropped: nobody was told it ended, and the
    // untouched room's watcher was not even notified.
    for (driver, _) in &watchers {
        let ended = driver
            .events()
            .into_iter()
            .any(|v| v["event"] == "substate" && v["sub_state"] == "TERMINATED");
        assert!(!ended, "a subscription ended:\n{}", driver.report());
    }
    let erin = &watchers[3].0;
    let notifies = erin
        .events()
        .into_iter()
        .filter(|v| v["event"] == "notify")
        .count();
    assert_eq!(notifies, 1, "{}", erin.report());
    for (driver, _) in watchers {
        driver.quit();
    }
}

/// Precedence with real clients: a gateway alias answers Available until
/// a person publishes for it; the person's state then wins, and when the
/// person un-PUBLISHes the rule answers again.
///
/// The person is `python3 tests/peers/pjsua_publisher.py --transport udp
/// --server-port P --local-port L --user lab-room007 --duration 60`
/// (`busy Back at 3`, then `quit`), watched by a `pjsua_watcher.py` of
/// `sip:lab-room007@127.0.0.1`.
#[test]
fn a_person_who_publishes_wins_over_a_gateway_rule() {
    if peers::skip_without_pjsua() {
        return;
    }
    let port = peers::free_port();
    let server = start(port);
    let ctx = || server.log_text();
    let alias = "sip:lab-room007@127.0.0.1";
    let watcher = peers::pjsua_watcher("udp", port, "bob", alias);
    let (i, _) = watcher.wait_for(0, STEP, "the rule answers", &ctx, |v| {
        is_online_with(v, "Lab endpoint")
    });
    let person = peers::pjsua_publisher("udp", port, "lab-room007");
    person.send("busy Back at 3");
    let (i, _) = watcher.wait_for(i + 1, STEP, "the person wins", &ctx, |v| {
        v["event"] == "buddy" && v["activity"] == "busy" && v["note"] == "Back at 3"
    });
    person.quit();
    watcher.wait_for(i + 1, STEP, "the rule answers again", &ctx, |v| {
        is_online_with(v, "Lab endpoint")
    });
    watcher.quit();
}
