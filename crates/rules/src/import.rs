//! `presenced import`: the vendors' files → presenced's `[sync]` TOML,
//! with a list of what could not be carried over and where.
//!
//! - [`tserver`]: T-Server's `aggregated-states` option and its
//!   agentStates XML (seed 002) → one push-mode profile;
//! - [`cic`]: the CIC Lync Presence Integration Service's XML (seed 003:
//!   profiles with scope and qualifier, users, augmentation
//!   configurations with conditions and presence mappings) → profiles.
//!
//! Nothing here reads files; the output is text the caller prints, and
//! it is meant to pass [`crate::sync::SyncRules::build`] as it is.

pub mod cic;
pub mod provider;
pub mod tree;
pub mod tserver;

use std::fmt::{self, Write};

/// A part of the input that has no place in the output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmapped {
    /// Which input (`agentStates XML`, `aggregated-states`, `CIC XML`).
    pub input: &'static str,
    /// 1-based line in it.
    pub line: usize,
    /// What was left out and why.
    pub what: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}: {}", self.input, self.line, self.what)
    }
}

/// The converted configuration and what was left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Import {
    /// The `[sync]` section, TOML.
    pub toml: String,
    /// What could not be mapped.
    pub unmapped: Vec<Unmapped>,
}

/// A TOML basic string with its quotes.
pub(crate) fn quoted(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// `{ 1033 = "…", 3082 = "…" }`.
pub(crate) fn texts_table(texts: &[(u32, String)]) -> String {
    let mut out = String::from("{ ");
    for (i, (lcid, text)) in texts.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{lcid} = {}", quoted(text));
    }
    out.push_str(" }");
    out
}
