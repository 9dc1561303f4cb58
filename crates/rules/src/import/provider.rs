//! The presence provider's XML (seed 004: `<PresenceProvider>` inside
//! the UCC's `<config>`) → presenced's `[provider]` TOML.
//!
//! What maps: the three attributes of `<PresenceProvider>` (same names in
//! snake case), each source's `enabled`, the attendant `<Match pattern>`s
//! in order, and the application endpoint's `OwnerUri` as `from` (the
//! identity presenced subscribes as). What has no place is listed with
//! its line: UCMA's `ApplicationId`, the hybrid `<UserEndpoint>`
//! (presenced subscribes from one identity), a `PoolFqdn` (presenced's
//! `upstream` is an address and a transport, written by hand), patterns
//! that are empty (they would match every URI) or not valid in Rust's
//! regex syntax, and anything unknown. A source element that is absent
//! is written as disabled, as the vendor's service leaves it off.

use std::fmt::Write;

use super::tree::{self, Element};
use super::{quoted, Import, Unmapped};
use crate::sources::Sources;

const XML: &str = "PresenceProvider XML";

/// Whether `xml` is this format: its root, or the root's child, is
/// `<PresenceProvider>` (the seed shows it inside `<config>`).
pub fn detect(xml: &str) -> bool {
    tree::parse(xml).is_ok_and(|root| find(&root).is_some())
}

fn find(root: &Element) -> Option<&Element> {
    let is = |e: &&Element| e.name.eq_ignore_ascii_case("PresenceProvider");
    root.children.iter().find(is).or_else(|| {
        root.children
            .iter()
            .flat_map(|c| c.children.iter())
            .find(is)
    })
}

/// The unmapped-part collector and the TOML being written.
struct Writer {
    toml: String,
    unmapped: Vec<Unmapped>,
}

impl Writer {
    fn skip(&mut self, line: usize, what: impl Into<String>) {
        self.unmapped.push(Unmapped {
            input: XML,
            line,
            what: what.into(),
        });
    }

    /// `enabled="true|false"` (absent: true, as the seed's example has it
    /// on every source that is there).
    fn enabled(&mut self, e: &Element) -> bool {
        let Some(text) = e.attribute("enabled") else {
            return true;
        };
        text.trim().parse::<bool>().unwrap_or_else(|_| {
            self.skip(
                e.line,
                format!("<{} enabled={text:?}>: not true or false; enabled", e.name),
            );
            true
        })
    }

    /// A numeric attribute of `<PresenceProvider>`, written under `key`.
    fn number(&mut self, e: &Element, attribute: &str, key: &str) {
        let Some(text) = e.attribute(attribute) else {
            return;
        };
        match text.trim().parse::<u64>() {
            Ok(n) => {
                let _ = writeln!(self.toml, "{key} = {n}");
            }
            Err(_) => self.skip(
                e.line,
                format!("{attribute}={text:?}: not a whole number; presenced's default kept"),
            ),
        }
    }

    /// Attributes of `e` other than `known`, listed as left out.
    fn others(&mut self, e: &Element, known: &[&str]) {
        for (name, value) in &e.attributes {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(name)) {
                self.skip(
                    e.line,
                    format!(
                        "<{} {name}={value:?}>: no such setting in presenced",
                        e.name
                    ),
                );
            }
        }
    }
}

/// Converts the `<PresenceProvider>` element of `xml`.
pub fn import(xml: &str) -> Result<Import, tree::TreeError> {
    let root = tree::parse(xml)?;
    let provider = find(&root).ok_or_else(|| tree::TreeError {
        line: 1,
        message: "no <PresenceProvider> element".into(),
    })?;
    let mut w = Writer {
        toml: String::from(
            "# Imported from seed 004's <PresenceProvider>; set `upstream` to the\n\
             # presence server (udp:address:port) to turn the provider on.\n[provider]\n",
        ),
        unmapped: Vec::new(),
    };
    const RATE: &str = "maxPresenceSubscriptionsPerSecond";
    const DELAY: &str = "failedPresenceSubscriptionsResubscribeDelay";
    const FAILURES: &str = "maxFailedPresenceSubscriptionsPerUri";
    w.number(provider, RATE, "max_presence_subscriptions_per_second");
    w.number(
        provider,
        DELAY,
        "failed_presence_subscriptions_resubscribe_delay",
    );
    w.number(
        provider,
        FAILURES,
        "max_failed_presence_subscriptions_per_uri",
    );
    w.others(provider, &[RATE, DELAY, FAILURES]);

    let mut ucma = None;
    let mut pstn = None;
    let mut attendant = None;
    for child in &provider.children {
        let slot = match child.name.to_ascii_lowercase().as_str() {
            "ucmapresencesource" => &mut ucma,
            "pstnpresencesource" => &mut pstn,
            "attendantservicesource" => &mut attendant,
            _ => {
                w.skip(
                    child.line,
                    format!("<{}>: not a source presenced knows; left out", child.name),
                );
                continue;
            }
        };
        if slot.is_some() {
            w.skip(child.line, format!("a second <{}>: left out", child.name));
        } else {
            *slot = Some(child);
        }
    }

    let upstream_on = ucma.is_some_and(|e| w.enabled(e));
    if let Some(e) = ucma {
        upstream_source(&mut w, e);
    }
    let pstn_on = pstn.is_some_and(|e| w.enabled(e));
    if let Some(e) = pstn {
        w.others(e, &["enabled"]);
        for c in &e.children {
            w.skip(
                c.line,
                format!("<{}> in <PstnPresenceSource>: left out", c.name),
            );
        }
    }
    let attendant_on = attendant.is_some_and(|e| w.enabled(e));
    let patterns = attendant.map(|e| patterns(&mut w, e)).unwrap_or_default();

    let _ = writeln!(w.toml, "\n[provider.attendant_service_source]");
    let _ = writeln!(w.toml, "enabled = {attendant_on}");
    let list: Vec<String> = patterns.iter().map(|p| quoted(p)).collect();
    let _ = writeln!(w.toml, "patterns = [{}]", list.join(", "));
    let _ = writeln!(
        w.toml,
        "\n[provider.pstn_presence_source]\nenabled = {pstn_on}"
    );
    let _ = writeln!(
        w.toml,
        "\n[provider.upstream_presence_source]\nenabled = {upstream_on}"
    );
    // In the file's order, whatever order they were found in.
    w.unmapped.sort_by_key(|u| u.line);
    Ok(Import {
        toml: w.toml,
        unmapped: w.unmapped,
    })
}

/// `<UcmaPresenceSource>`: the application endpoint's owner becomes
/// `from`; the rest is UCMA's or the hybrid topology's.
fn upstream_source(w: &mut Writer, e: &Element) {
    if let Some(id) = e.attribute("ApplicationId") {
        w.skip(
            e.line,
            format!(
                "ApplicationId={id:?}: a UCMA application id; presenced is known to the \
                 upstream by `from` (and `username`)"
            ),
        );
    }
    w.others(e, &["enabled", "ApplicationId"]);
    let mut owner = None;
    for c in &e.children {
        match c.name.to_ascii_lowercase().as_str() {
            "applicationendpoint" if owner.is_none() => {
                w.others(c, &["OwnerUri"]);
                match c.attribute("OwnerUri").map(str::trim) {
                    Some(uri) if !uri.is_empty() => owner = Some(uri.to_owned()),
                    _ => w.skip(
                        c.line,
                        "<ApplicationEndpoint> without an OwnerUri: presenced's default `from` kept",
                    ),
                }
            }
            "userendpoint" => {
                let user = c.attribute("UserUri").unwrap_or_default();
                let pool = c.attribute("PoolFqdn").unwrap_or_default();
                w.skip(
                    c.line,
                    format!(
                        "<UserEndpoint UserUri={user:?} PoolFqdn={pool:?}>: presenced subscribes \
                         from one identity (`from`); a pool goes into `upstream` by hand"
                    ),
                );
            }
            _ => w.skip(
                c.line,
                format!("<{}> in <UcmaPresenceSource>: left out", c.name),
            ),
        }
    }
    if let Some(owner) = owner {
        let from = if owner.contains(':') {
            owner
        } else {
            format!("sip:{owner}")
        };
        let _ = writeln!(w.toml, "from = {}", quoted(&from));
    }
}

/// The `<Match pattern>`s that compile, in order.
fn patterns(w: &mut Writer, e: &Element) -> Vec<String> {
    w.others(e, &["enabled"]);
    let mut out = Vec::new();
    for c in &e.children {
        if !c.name.eq_ignore_ascii_case("Match") {
            w.skip(
                c.line,
                format!("<{}> in <AttendantServiceSource>: left out", c.name),
            );
            continue;
        }
        w.others(c, &["pattern"]);
        let pattern = c.attribute("pattern").unwrap_or_default();
        if pattern.is_empty() {
            w.skip(
                c.line,
                "<Match pattern=\"\">: an empty pattern would match every URI; left out",
            );
            continue;
        }
        let one = [pattern.to_owned()];
        match Sources::new(Some(&one), false, true) {
            Ok(_) => out.push(pattern.to_owned()),
            Err(e) => {
                // regex's message draws the pattern over several lines;
                // its last line says what is wrong.
                let why = match &e {
                    crate::sources::SourcesError::Pattern { message, .. } => {
                        message.lines().last().unwrap_or_default().to_owned()
                    }
                    other => other.to_string(),
                };
                w.skip(
                    c.line,
                    format!(
                        "<Match pattern={pattern:?}>: not a valid Rust regex ({why}); left out"
                    ),
                )
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
