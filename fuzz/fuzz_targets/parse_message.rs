#![no_main]
//! `cargo fuzz run parse_message` — see fuzz/README.md.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sip_fuzz::check_message(data));
