//! The scan held to the parser: every answer it gives is the parser's
//! reading, on the responses of real clients, the RFC 4475 torture
//! messages and generated plain and unusual responses.

use std::path::PathBuf;

use proptest::prelude::*;

use super::*;
use crate::message::{HeaderAccess, Message};
use crate::parse::{parse, Framing};
use crate::transaction::Key;

/// When the scan answers, the parser accepts `text` and reads the same
/// status, reason, top Via, CSeq, Call-ID and transaction key. Returns
/// whether the scan answered.
fn agrees(text: &[u8], limits: &Limits) -> Result<bool, String> {
    let buf = Bytes::copy_from_slice(text);
    let Some(plain) = scan(&buf, limits) else {
        return Ok(false);
    };
    let show = String::from_utf8_lossy(text);
    let resp = match parse(buf.clone(), Framing::Datagram, limits) {
        Ok(Message::Response(resp)) => resp,
        other => return Err(format!("scan answered, parser gave {other:?}:\n{show}")),
    };
    let scanned = &plain.response;
    let same = scanned.status == resp.status
        && scanned.reason == resp.reason
        && scanned.body.is_empty()
        && scanned.headers.len() == 3
        && scanned.headers.value(HeaderName::Via)
            == resp.headers.values(HeaderName::Via).next().as_ref()
        && scanned.headers.value(HeaderName::CSeq) == resp.headers.value(HeaderName::CSeq)
        && scanned.headers.value(HeaderName::CallId) == resp.headers.value(HeaderName::CallId)
        && resp.cseq().ok().as_ref() == Some(&plain.cseq)
        && scanned.top_via() == resp.top_via()
        && Key::for_response(scanned).ok() == Key::for_response(&resp).ok();
    if same {
        Ok(true)
    } else {
        Err(format!("scan read {plain:?}, parser {resp:?}:\n{show}"))
    }
}

fn vectors(dir: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut all: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sip"))
        .map(|p| {
            let text = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), text)
        })
        .collect();
    all.sort();
    all
}

/// The real clients' 200s to our NOTIFYs are plain (pjsua2's with a
/// Contact, Allow and Supported, linphonec's without Content-Length,
/// baresip's with Server); every client and RFC 4475 vector the scan
/// answers, it reads as the parser does.
#[test]
fn the_scan_reads_what_the_parser_reads_in_the_vectors() {
    let mut answered = Vec::new();
    for dir in ["tests/vectors/clients", "tests/vectors/rfc4475"] {
        for (name, text) in vectors(dir) {
            if agrees(&text, &Limits::DEFAULT).unwrap_or_else(|e| panic!("{name}: {e}")) {
                answered.push(name);
            }
        }
    }
    for client in ["baresip", "linphonec", "pjsua2"] {
        let file = format!("{client}-notify-200-1.sip");
        assert!(
            answered.iter().any(|n| n.ends_with(&file)),
            "{file} not answered: {answered:?}"
        );
    }
}

const PLAIN: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-n1;rport=5070;received=10.0.0.1\r\n\
Via: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-other\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: c1@127.0.0.1\r\n\
CSeq: 7 NOTIFY\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn a_plain_response_keeps_three_headers_in_wire_order() {
    let buf = Bytes::from_static(PLAIN.as_bytes());
    let plain = scan(&buf, &Limits::DEFAULT).expect("plain");
    let names: Vec<_> = plain.response.headers.iter().map(|h| h.name).collect();
    assert_eq!(
        names,
        [HeaderName::Via, HeaderName::CallId, HeaderName::CSeq]
    );
    assert_eq!(
        plain.cseq,
        CSeq {
            seq: 7,
            method: Method::Notify
        }
    );
    assert_eq!(plain.response.status, 200);
    assert_eq!(plain.response.reason, "OK");
    assert_eq!(plain.response.headers.iter().len(), 3);
    assert_eq!(agrees(PLAIN.as_bytes(), &Limits::DEFAULT), Ok(true));
    let compact = PLAIN
        .replace("Via:", "v :")
        .replace("Call-ID:", "i:")
        .replace("Content-Length:", "L:  ")
        .replace("From:", "F:")
        .replace("To:", "tO:")
        .replace("CSeq:", "cseq\t:");
    assert_eq!(agrees(compact.as_bytes(), &Limits::DEFAULT), Ok(true));
    let bare_lf = PLAIN.replace("\r\n", "\n");
    assert_eq!(agrees(bare_lf.as_bytes(), &Limits::DEFAULT), Ok(true));
}

/// What the scan leaves to the parser, each case one change to a plain
/// response.
#[test]
fn the_scan_is_unsure_of_anything_unusual() {
    let cases = [
        ("CSeq: 7 NOTIFY\r\n", "CSeq: 7\r\n NOTIFY\r\n"),
        ("rport=5070", "rport=5070, SIP/2.0/UDP h"),
        ("rport=5070", "x=\"a\""),
        ("Call-ID: c1@127.0.0.1\r\n", "Call-ID: c1\x01@h\r\n"),
        ("Call-ID: c1@127.0.0.1\r\n", "Call-ID: c1\r@h\r\n"),
        ("Call-ID: c1@127.0.0.1\r\n", "Call-ID: c1@h\r\r\n"),
        ("SIP/2.0 200 OK", "SIP/2.0 200 O\x7fK"),
        ("CSeq: 7 NOTIFY\r\n", "CSeq: 7 NOTIFY\r\nCSeq: 8 NOTIFY\r\n"),
        ("Call-ID: c1@127.0.0.1\r\n", "Call-ID: a\r\ni: b\r\n"),
        ("Content-Length: 0\r\n\r\n", "Content-Length: 2\r\n\r\nab"),
        ("Content-Length: 0\r\n\r\n", "\r\nab"),
        ("SIP/2.0 200 OK", "SIP/2.0 2000 OK"),
        ("SIP/2.0 200 OK", "SIP/2.1 200 OK"),
        ("SIP/2.0 200 OK", "\r\nSIP/2.0 200 OK"),
        ("To: <sip:bob@example.com>;tag=b1\r\n", ""),
        ("Content-Length: 0\r\n", "Expires: 10\r\n"),
        ("Content-Length: 0\r\n\r\n", "Content-Length: 0\r\n"),
    ];
    for (from, to) in cases {
        let text = PLAIN.replace(from, to);
        assert_ne!(text, PLAIN, "{from:?} not in the plain response");
        let buf = Bytes::from(text.clone());
        assert!(scan(&buf, &Limits::DEFAULT).is_none(), "{text}");
    }
    let buf = Bytes::from_static(PLAIN.as_bytes());
    let long_line = Limits {
        max_header_line: 40,
        ..Limits::DEFAULT
    };
    assert!(scan(&buf, &long_line).is_none());
    let few_headers = Limits {
        max_headers: 6,
        ..Limits::DEFAULT
    };
    assert!(scan(&buf, &few_headers).is_none());
    let small = Limits {
        max_message_size: PLAIN.len() - 1,
        ..Limits::DEFAULT
    };
    assert!(scan(&buf, &small).is_none());
}

/// Every header [`unchecked_in_responses`] passes over, given a value no
/// grammar accepts, still leaves a response the parser takes: the list
/// cannot name a header the parser checks.
#[test]
fn the_headers_passed_over_are_those_the_parser_does_not_check() {
    let names = [
        "X-Other",
        "Contact",
        "Route",
        "Record-Route",
        "Path",
        "Reply-To",
        "Refer-To",
        "Referred-By",
        "Accept-Contact",
        "Accept-Encoding",
        "Accept-Language",
        "Alert-Info",
        "Authentication-Info",
        "Authorization",
        "Call-Info",
        "Content-Disposition",
        "Content-Encoding",
        "Content-Language",
        "Error-Info",
        "Identity",
        "In-Reply-To",
        "MIME-Version",
        "Min-SE",
        "Organization",
        "Priority",
        "Proxy-Authenticate",
        "Proxy-Authorization",
        "RAck",
        "Reason",
        "Reject-Contact",
        "Request-Disposition",
        "RSeq",
        "Server",
        "Session-Expires",
        "Subject",
        "Timestamp",
        "User-Agent",
        "WWW-Authenticate",
    ];
    for name in names {
        assert!(
            unchecked_in_responses(HeaderName::from_bytes(name.as_bytes())),
            "{name}"
        );
        let text = PLAIN.replace(
            "Content-Length",
            &format!("{name}: <,, ;=\r\nContent-Length"),
        );
        assert_eq!(
            agrees(text.as_bytes(), &Limits::DEFAULT),
            Ok(true),
            "{name}"
        );
    }
}

/// A header name in any case, or its compact form.
fn spelled(long: &'static str, compact: Option<&'static str>) -> BoxedStrategy<String> {
    let forms: Vec<&'static str> = std::iter::once(long).chain(compact).collect();
    (proptest::sample::select(forms), any::<u64>())
        .prop_map(|(name, bits)| {
            name.chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c.to_ascii_lowercase()
                    }
                })
                .collect()
        })
        .boxed()
}

fn line(
    long: &'static str,
    compact: Option<&'static str>,
    values: &[&'static str],
) -> BoxedStrategy<String> {
    let colons = [":", ": ", " : ", ":\t", ":  ", "\t:"];
    (
        spelled(long, compact),
        proptest::sample::select(colons.to_vec()),
        mostly_first(values),
    )
        .prop_map(|(name, colon, value)| format!("{name}{colon}{value}"))
        .boxed()
}

/// The first of `values` four times in five (it is the plain one), any
/// of them otherwise: most generated responses are then plain but for
/// a line or two.
fn mostly_first<T: Clone + std::fmt::Debug + 'static>(values: &[T]) -> BoxedStrategy<T> {
    prop_oneof![
        4 => Just(values[0].clone()),
        1 => proptest::sample::select(values.to_vec()),
    ]
    .boxed()
}

fn via() -> BoxedStrategy<String> {
    line(
        "Via",
        Some("v"),
        &[
            "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1;rport",
            "SIP/2.0/UDP 127.0.0.1:5060;rport=5061;branch=z9hG4bKAbC",
            "SIP / 2.0 / TCP [::1]:5060 ; BRANCH = z9hG4bKsp ; received=[::1]",
            "sip/2.0/udp host.example.com;branch=z9hG4bK7",
            "SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/UDP g;branch=z9hG4bK2",
            "SIP/2.0/UDP h;x=\"a;b\";branch=z9hG4bK3",
            "SIP/2.0/UDP h;branch",
            "SIP/2.0/UDP h;rport=99999;branch=z9hG4bK4",
            "SIP/2.0/UDP h:99999;branch=z9hG4bK5",
            "SIP/2.0/UDP 1.2.3;branch=z9hG4bK6",
            "SIP/2.0/UDP h",
            "SIP/2.0 UDP h;branch=z9hG4bK8",
            "SIP/2.0/UDP h;;branch=z9hG4bK9",
            "SIP/2.0/UDP <h>;branch=z9hG4bK10",
            "",
        ],
    )
}

fn message() -> impl Strategy<Value = Vec<u8>> {
    let status = mostly_first(&[
        "SIP/2.0 200 OK",
        "SIP/2.0 202 Accepted",
        "SIP/2.0 481 Call/Transaction Does Not Exist",
        "SIP/2.0 200",
        "SIP/2.0 200 ",
        "SIP/2.0 699 \u{e9}t\u{e9}",
        "SIP/2.0 099 Low",
        "SIP/2.0 700 High",
        "SIP/2.0 20 OK",
        "SIP/2.0 2000 OK",
        "SIP/2.1 200 OK",
        "sip/2.0 200 OK",
        "SIP/2.0  200 OK",
        "NOTIFY sip:a@h SIP/2.0",
    ]);
    let required = (
        via(),
        line(
            "From",
            Some("f"),
            &["<sip:a@h>;tag=1", "\"A, B\" <sip:a@h>;tag=2", "<junk"],
        ),
        line("To", Some("t"), &["<sip:b@h>;tag=3", "sip:b@h"]),
        line(
            "Call-ID",
            Some("i"),
            &["c1@h", "x", "a b", "", "k\"q", "id@"],
        ),
        line(
            "CSeq",
            None,
            &[
                "1 NOTIFY",
                "2\t NOTIFY",
                "3 SUBSCRIBE",
                "4 FOO",
                "5 notify",
                "x NOTIFY",
                "6",
                "2147483648 NOTIFY",
                "7 NOT IFY",
            ],
        ),
    );
    let extra = proptest::collection::vec(
        prop_oneof![
            4 => via(),
            6 => line("Content-Length", Some("l"), &["0", "00", "3", "x", ""]),
            4 => line("Supported", Some("k"), &["replaces, 100rel", "", "a,,b", "\"q\"", "a b"]),
            3 => line("Allow", None, &["INVITE, NOTIFY", "INVITE,"]),
            3 => line("Contact", Some("m"), &["<:::>", "<sip:b@h;ob>"]),
            2 => line("User-Agent", None, &["pj/2.1 (linux)", "x\u{1}y"]),
            2 => line("Expires", None, &["10", "abc"]),
            1 => line("Max-Forwards", None, &["70"]),
            1 => line("X-Thing", None, &["a\tb", "\"unbalanced", "\u{7f}", "a\rb", "c\r"]),
            2 => line("From", Some("f"), &["<sip:a@h>;tag=1"]),
            2 => line("Call-ID", Some("i"), &["c1@h"]),
            2 => line("CSeq", None, &["1 NOTIFY"]),
            1 => Just(" folded".to_string()),
            1 => Just("no colon".to_string()),
            1 => Just("Bad Name: x".to_string()),
        ],
        0..3,
    );
    // Each required header is there nineteen times in twenty.
    let keep = proptest::collection::vec(0u8..20, 5);
    let body = mostly_first(&["", "abc", "\r\n"]);
    let eol = mostly_first(&["\r\n", "\n"]);
    (status, required, extra, keep, body, eol)
        .prop_flat_map(|(status, (v, f, t, i, c), extra, keep, body, eol)| {
            let mut lines: Vec<String> = [v, f, t, i, c]
                .into_iter()
                .zip(keep)
                .filter(|(_, k)| *k != 0)
                .map(|(l, _)| l)
                .collect();
            lines.extend(extra);
            (
                Just(status),
                Just(lines).prop_shuffle(),
                Just(body),
                Just(eol),
            )
        })
        .prop_map(|(status, lines, body, eol)| {
            let mut text = format!("{status}{eol}");
            for l in lines {
                text.push_str(&l);
                text.push_str(eol);
            }
            text.push_str(eol);
            text.push_str(body);
            text.into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// The chunked count is the byte-by-byte count, across chunks and
    /// the tail.
    #[test]
    fn controls_counts_every_control_byte(
        bytes in proptest::collection::vec(
            prop_oneof![
                8 => proptest::sample::select(b"a \t\n:".to_vec()),
                // The edges of the word-at-a-time test: CR, the last
                // control byte, DEL and its neighbours, high bytes.
                2 => proptest::sample::select(b"\r\x1f\x20\x7e\x7f\x80\x9f\xff\x00".to_vec()),
                1 => any::<u8>(),
            ],
            0..5000,
        )
    ) {
        let naive = bytes
            .iter()
            .filter(|&&b| (b < 0x20 && b != b'\t' && b != b'\n') || b == 0x7f)
            .count();
        prop_assert_eq!(controls(&bytes), naive);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Whatever the mix of plain and unusual lines, the scan's answers
    /// are the parser's reading, and it never answers what the parser
    /// refuses.
    #[test]
    fn the_scan_never_disagrees_with_the_parser(text in message()) {
        prop_assert_eq!(agrees(&text, &Limits::DEFAULT).map(|_| ()), Ok(()));
    }

    /// The limits bind the scan as they bind the parser.
    #[test]
    fn limits_bind_the_scan_too(
        text in message(),
        line in 20usize..120,
        headers in 3usize..9,
        size in 100usize..400,
    ) {
        let limits = Limits {
            max_header_line: line,
            max_headers: headers,
            max_message_size: size,
            ..Limits::DEFAULT
        };
        prop_assert_eq!(agrees(&text, &limits).map(|_| ()), Ok(()));
    }
}

/// The generator is not vacuous: a good share of what it makes is plain
/// enough for the scan, and a share of the rest still parses, so the
/// property above compares readings rather than two refusals.
#[test]
fn the_generated_responses_exercise_both_paths() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut scanned, mut parsed_only) = (0, 0);
    for _ in 0..1000 {
        let text = message().new_tree(&mut runner).expect("tree").current();
        let answered = agrees(&text, &Limits::DEFAULT).expect("agrees");
        let parsed = parse(Bytes::from(text), Framing::Datagram, &Limits::DEFAULT).is_ok();
        scanned += usize::from(answered);
        parsed_only += usize::from(parsed && !answered);
    }
    assert!(scanned >= 150, "{scanned} of 1000 scanned");
    assert!(
        parsed_only >= 30,
        "{parsed_only} of 1000 left to the parser"
    );
}

/// Our own Via prefix is one the shortcut can vouch for, for IPv4, IPv6
/// and names; a prefix with another parameter, no `branch=` at its end or
/// a broken host is not.
#[test]
fn only_a_plain_prefix_ending_in_the_branch_is_our_own_via() {
    for good in [
        "SIP/2.0/UDP 127.0.0.1:5060;branch=",
        "SIP/2.0/UDP [::1]:5060;branch=",
        "SIP/2.0/TCP pres.example.com;branch=",
    ] {
        assert!(OwnVia::new(good).is_some(), "{good}");
    }
    for bad in [
        "SIP/2.0/UDP 127.0.0.1:5060;rport;branch=",
        "SIP/2.0/UDP 127.0.0.1:5060;branch",
        "SIP/2.0/UDP 127.0.0.1:5060",
        "SIP/2.0/UDP <h>;branch=",
        "SIP/2.0/UDP h:99999;branch=",
        "SIP/2.0 UDP h;branch=",
        "",
    ] {
        assert_eq!(OwnVia::new(bad), None, "{bad}");
    }
}

const OWN: &str = "SIP/2.0/UDP 127.0.0.1:5060;branch=";

/// A top Via after our prefix: mostly a branch of our shape with the
/// tails a peer may leave, sometimes anything.
fn own_via_value() -> impl Strategy<Value = String> {
    let branch = prop_oneof![
        4 => "z9hG4bK[0-9a-f]{16,32}",
        1 => "[a-zA-Z0-9;=, \"<.!%*_+`'~-]{0,12}",
    ];
    let tail = proptest::sample::select(vec![
        "",
        ";rport",
        ";rport=5061",
        ";rport=0050",
        ";rport=65535",
        ";rport=65536",
        ";rport=99999",
        ";rport=",
        ";rport;x",
        ";RPORT",
        ";received=127.0.0.1",
        " ",
        ",SIP/2.0/UDP h",
    ]);
    (branch, tail).prop_map(|(b, t)| format!("{OWN}{b}{t}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// What the shortcut vouches for, the full Via check accepts; and a
    /// response read with our prefix known reads exactly as without it.
    #[test]
    fn our_own_via_is_read_as_the_full_check_reads_it(value in own_via_value()) {
        let own = OwnVia::new(OWN).expect("a plain prefix");
        if own.vouches_for(value.as_bytes()) {
            prop_assert!(plain_via(value.as_bytes()).is_some(), "{}", value);
        }
        let text = format!(
            "SIP/2.0 200 OK\r\nVia: {value}\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\n\
Call-ID: c1\r\nCSeq: 3 NOTIFY\r\nContent-Length: 0\r\n\r\n"
        );
        let buf = Bytes::from(text);
        prop_assert_eq!(
            scan_own(&buf, &Limits::DEFAULT, Some(&own)),
            scan(&buf, &Limits::DEFAULT)
        );
    }
}

/// The shortcut is taken for the 200s a fan-out gets back: our prefix, a
/// branch of our shape and `;rport`.
#[test]
fn our_notifys_200s_take_the_shortcut() {
    let own = OwnVia::new(OWN).expect("a plain prefix");
    for tail in ["", ";rport", ";rport=5061"] {
        let value = format!("{OWN}z9hG4bK0123456789abcdef2a{tail}");
        assert!(own.vouches_for(value.as_bytes()), "{value}");
    }
    for other in [
        "SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK1;rport",
        "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1;received=127.0.0.1",
        "SIP/2.0/UDP 127.0.0.1:5060;branch=;rport",
    ] {
        assert!(!own.vouches_for(other.as_bytes()), "{other}");
    }
}
