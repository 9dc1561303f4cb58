//! The PIDF codec's exact behaviour, pinned: for every vector in
//! `tests/vectors/pidf/` and for a fixed, seeded set of generated
//! documents (clean and mangled), the bytes `render` writes, the model
//! `parse` reads and the text of every refusal.
//!
//! The round-trip tests say the codec is consistent with itself; these say
//! it has not changed. A NOTIFY body is what a watcher sees and an error's
//! text is the reason phrase of a 400, so a faster reader or writer must
//! give the same answers byte for byte. After a deliberate change of
//! output, `PRESENCE_BLESS=1 cargo test -p presence --test pidf_golden`
//! writes the new expectations.

use std::fmt::Write as _;
use std::path::PathBuf;

use presence::pidf;
use presence::XmlLimits;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

mod pidf_strategy;

fn golden(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/vectors/pidf-golden")
        .join(name)
}

/// Compares `actual` with the golden file `name`, or writes it when
/// blessing.
fn check(name: &str, actual: &str) {
    let path = golden(name);
    if std::env::var_os("PRESENCE_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (bless with PRESENCE_BLESS=1)", path.display()));
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "{name} differs from its golden file at line {}:\n expected {:?}\n   actual {:?}",
            line + 1,
            expected.lines().nth(line),
            actual.lines().nth(line)
        );
    }
}

/// FNV-1a, to pin a model's full `Debug` form in one line.
fn fnv(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One input's outcome: the refusal's text, or the model's digest and the
/// document rendered again.
fn outcome(out: &mut String, bytes: &[u8]) {
    match pidf::parse(bytes, &XmlLimits::DEFAULT) {
        Ok(doc) => {
            let _ = writeln!(out, "model {:016x}", fnv(&format!("{doc:?}")));
            out.push_str(&pidf::render(&doc));
        }
        Err(e) => {
            let _ = writeln!(out, "error {e}");
        }
    }
}

#[test]
fn vectors_read_and_render_as_before() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/pidf");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    let mut out = String::new();
    for name in names {
        let _ = writeln!(out, "== {name}");
        outcome(&mut out, &std::fs::read(dir.join(&name)).unwrap());
    }
    check("vectors.txt", &out);
}

#[test]
fn generated_documents_read_and_render_as_before() {
    let mut runner = TestRunner::deterministic();
    let mut out = String::new();
    for i in 0..48 {
        let doc = pidf_strategy::document()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        let rendered = pidf::render(&doc);
        let _ = writeln!(out, "== {i}");
        out.push_str(&rendered);
        // The same bytes cut and with one byte replaced: the refusals'
        // texts (and positions) are pinned too.
        let mut bytes = rendered.into_bytes();
        let at = (i * 37) % bytes.len().max(1);
        if let Some(b) = bytes.get_mut(at) {
            *b = [b'<', b'&', b'"', 0, b'>', b'x', 0xc3][i % 7];
        }
        let _ = writeln!(out, "-- mangled at {at}");
        outcome(&mut out, &bytes);
        bytes.truncate(at);
        let _ = writeln!(out, "-- cut at {at}");
        outcome(&mut out, &bytes);
    }
    check("generated.txt", &out);
}
