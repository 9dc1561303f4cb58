//! T-Server's push mode (seed 002): the `aggregated-states` option and
//! the agentStates XML file → one `[[sync.profiles]]` in push mode.
//!
//! Carried over: every row of the option whose state the XML defines,
//! every `<agentState ID availability>` with its `<activity LCID>`
//! texts. Left out, and listed with their line: rows whose state has no
//! XML entry (T-Server would publish nothing for them either), XML states
//! no row uses, entries without a usable ID or availability, activities
//! without an LCID, elements the format does not have.

use std::fmt::Write;

use super::tree::{self, Element};
use super::{quoted, texts_table, Import, Unmapped};
use crate::sync::ranges::MAX_AVAILABILITY;
use crate::sync::states::{AggregatedStates, ROWS};

const OPTION: &str = "aggregated-states";
const XML: &str = "agentStates XML";

/// One `<agentState>` as read.
struct State {
    id: String,
    availability: u32,
    texts: Vec<(u32, String)>,
    line: usize,
}

/// Converts. `option` is the option's value (`1=IDLE_OUT, …`), or an
/// `aggregated-states = …` line as copied from the Annex; `xml` is the
/// agentStates file. `profile` names the profile written.
pub fn import(profile: &str, option: &str, xml: &str) -> Result<Import, tree::TreeError> {
    let mut unmapped = Vec::new();
    let value = option
        .trim()
        .strip_prefix("aggregated-states")
        .map(|rest| rest.trim_start().trim_start_matches('=').trim_start())
        .unwrap_or(option.trim());
    let table = AggregatedStates::parse(value)
        .map_err(|(_, message)| tree::TreeError { line: 1, message })?;
    let root = tree::parse(xml)?;
    let mut states: Vec<State> = Vec::new();
    let mut visit: Vec<&Element> = root.children.iter().collect();
    while let Some(e) = visit.pop() {
        match e.name.as_str() {
            "agentStates" => visit.extend(e.children.iter().rev()),
            "agentState" => {
                if let Some(s) = state(e, &mut unmapped) {
                    states.push(s);
                }
            }
            other => unmapped.push(Unmapped {
                input: XML,
                line: e.line,
                what: format!("<{other}> is not part of the agentStates format"),
            }),
        }
    }
    states.sort_by_key(|s| s.line);
    let mut rows = AggregatedStates::default();
    for (n, id) in table.0.iter().enumerate() {
        let Some(id) = id else { continue };
        if states.iter().any(|s| &s.id == id) {
            rows.0[n] = Some(id.clone());
        } else {
            unmapped.push(Unmapped {
                input: OPTION,
                line: 1,
                what: format!("row {}={id}: no <agentState ID=\"{id}\"> in the XML, row left out (no change in that state)", n + 1),
            });
        }
    }
    let name = quoted(profile);
    let mut toml = format!("[sync]\nglobal = {{ EnterpriseVoice = {name}, Rcc = {name}, ImOnly = {name} }}\n\n[[sync.profiles]]\nname = {name}\n");
    let _ = writeln!(toml, "aggregated_states = {}", quoted(&rows.to_string()));
    toml.push_str("agent_states = [\n");
    for s in &states {
        if !rows.0.iter().flatten().any(|id| *id == s.id) {
            unmapped.push(Unmapped {
                input: XML,
                line: s.line,
                what: format!(
                    "<agentState ID=\"{}\"> is in no row of {OPTION}: kept, but never published",
                    s.id
                ),
            });
        }
        let _ = writeln!(
            toml,
            "  {{ id = {}, availability = {}, activity = {} }},",
            quoted(&s.id),
            s.availability,
            texts_table(&s.texts)
        );
    }
    toml.push_str("]\n");
    if rows.0.iter().all(Option::is_none) {
        unmapped.push(Unmapped {
            input: OPTION,
            line: 1,
            what: format!("no row of the {ROWS} could be mapped"),
        });
    }
    Ok(Import { toml, unmapped })
}

fn state(e: &Element, unmapped: &mut Vec<Unmapped>) -> Option<State> {
    let mut skip = |what: String| {
        unmapped.push(Unmapped {
            input: XML,
            line: e.line,
            what,
        });
        None
    };
    let Some(id) = e.attribute("ID").map(str::trim).filter(|s| !s.is_empty()) else {
        return skip("<agentState> without an ID: left out".into());
    };
    let availability = match e.attribute("availability").map(|a| a.trim().parse::<u32>()) {
        Some(Ok(n)) if n <= MAX_AVAILABILITY => n,
        Some(_) => {
            return skip(format!(
                "<agentState ID=\"{id}\">: availability {:?} is not 0–{MAX_AVAILABILITY}: left out",
                e.attribute("availability").unwrap_or("")
            ))
        }
        None => {
            return skip(format!(
                "<agentState ID=\"{id}\"> without an availability: left out"
            ))
        }
    };
    let mut texts = Vec::new();
    for child in &e.children {
        match (
            child.name.as_str(),
            child.attribute("LCID").map(|l| l.trim().parse::<u32>()),
        ) {
            ("activity", Some(Ok(lcid))) => texts.push((lcid, child.text.clone())),
            ("activity", _) => unmapped.push(Unmapped {
                input: XML,
                line: child.line,
                what: format!("<activity> of {id} without a numeric LCID: left out"),
            }),
            (other, _) => unmapped.push(Unmapped {
                input: XML,
                line: child.line,
                what: format!(
                    "<{other}> in <agentState ID=\"{id}\"> is not part of the format: left out"
                ),
            }),
        }
    }
    Some(State {
        id: id.to_owned(),
        availability,
        texts,
        line: e.line,
    })
}
