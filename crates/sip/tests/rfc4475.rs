//! RFC 4475 torture messages (tests/vectors/rfc4475/*.sip) against the
//! parser. `expected.tsv` beside them says, for each message, whether it is
//! valid, invalid at the syntax level, or an application-level case, the
//! status a server answers, and the header at fault.
//!
//! - valid: parses, and survives a serialize/parse round trip;
//! - invalid: is rejected, with the status the RFC asks for and a reason
//!   phrase that names the header at fault;
//! - app: parses unless the parser itself can already tell (then with the
//!   same status); the server's own answers to these are checked by the
//!   presenced endpoint tests.

use std::path::PathBuf;

use bytes::Bytes;
use sip::parse::{parse, Framing};
use sip::Limits;

struct Case {
    file: String,
    kind: String,
    status: u16,
    header: String,
}

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rfc4475")
}

fn cases() -> Vec<Case> {
    let table = std::fs::read_to_string(dir().join("expected.tsv")).expect("expected.tsv");
    table
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("file\t"))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert!(f.len() >= 4, "expected.tsv line has 4 columns: {l}");
            Case {
                file: f[0].to_string(),
                kind: f[1].to_string(),
                status: f[2].parse().expect("status column"),
                header: f[3].to_string(),
            }
        })
        .collect()
}

fn load(c: &Case) -> Bytes {
    let name = if c.file.ends_with(".sip") {
        c.file.clone()
    } else {
        format!("{}.sip", c.file)
    };
    Bytes::from(std::fs::read(dir().join(&name)).unwrap_or_else(|e| panic!("{name}: {e}")))
}

#[test]
fn every_vector_is_listed() {
    let listed: Vec<String> = cases()
        .iter()
        .map(|c| c.file.trim_end_matches(".sip").to_string())
        .collect();
    let mut files = 0;
    for entry in std::fs::read_dir(dir()).expect("vector dir").flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if let Some(stem) = name.strip_suffix(".sip") {
            files += 1;
            assert!(
                listed.iter().any(|l| l == stem),
                "{name} is not in expected.tsv"
            );
        }
    }
    assert_eq!(files, listed.len());
    assert!(files >= 49, "RFC 4475 has 49 messages, found {files}");
}

#[test]
fn valid_messages_parse_and_round_trip() {
    for c in cases().iter().filter(|c| c.kind == "valid") {
        let wire = load(c);
        let m = parse(wire, Framing::Datagram, &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: valid message rejected: {e}", c.file));
        let again = parse(Bytes::from(m.encode()), Framing::Stream, &Limits::DEFAULT)
            .unwrap_or_else(|e| panic!("{}: serialized form rejected: {e}", c.file));
        assert_eq!(again.body(), m.body(), "{}", c.file);
    }
}

#[test]
fn invalid_messages_are_rejected_with_the_right_answer() {
    for c in cases().iter().filter(|c| c.kind == "invalid") {
        let err = match parse(load(c), Framing::Datagram, &Limits::DEFAULT) {
            Ok(_) => panic!("{}: invalid message accepted", c.file),
            Err(e) => e,
        };
        assert_eq!(err.status(), c.status, "{}: {err}", c.file);
        if c.header != "-" {
            let reason = err.reason().to_ascii_lowercase();
            let wanted = c.header.to_ascii_lowercase();
            assert!(
                wanted.split('|').any(|w| reason.contains(w)),
                "{}: reason {reason:?} does not name {}",
                c.file,
                c.header
            );
        }
    }
}

#[test]
fn application_cases_parse_or_fail_with_their_status() {
    for c in cases().iter().filter(|c| c.kind == "app") {
        if let Err(e) = parse(load(c), Framing::Datagram, &Limits::DEFAULT) {
            assert_eq!(e.status(), c.status, "{}: {e}", c.file);
        }
    }
}
