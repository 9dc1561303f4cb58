//! Replays the fuzz corpus and every crash regression on stable Rust, so
//! that a bug the nightly-only fuzzers once found can never come back
//! unnoticed on a machine without nightly.

#[path = "../../../fuzz/src/lib.rs"]
mod checks;

use std::path::Path;

fn replay(dir: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    let mut count = 0;
    for sub in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(sub).join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let data = std::fs::read(entry.path()).expect("readable corpus file");
            check(&data);
            count += 1;
        }
    }
    count
}

#[test]
fn message_corpus_replays() {
    assert!(replay("parse_message", checks::check_message) >= 8);
}

/// The torture vectors and real-client fixtures are the best seeds the
/// fuzzer has (`fuzz/README.md` says how to add them to a fuzzing run); here
/// they go through the same invariants as the corpus.
#[test]
fn vectors_pass_the_fuzz_invariants() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut count = 0;
    for dir in ["rfc4475", "clients"] {
        for entry in std::fs::read_dir(root.join(dir))
            .expect("vector directory")
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "sip") {
                let data = std::fs::read(entry.path()).expect("readable vector");
                checks::check_message(&data);
                count += 1;
            }
        }
    }
    assert!(count >= 49 + 10, "only {count} vectors found");
}

#[test]
fn uri_corpus_replays() {
    assert!(replay("parse_uri", checks::check_uri) > 5);
}
