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

#[test]
fn uri_corpus_replays() {
    assert!(replay("parse_uri", checks::check_uri) > 5);
}
