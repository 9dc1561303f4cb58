//! The CIC Lync Presence Integration Service's XML (seed 003) →
//! `[sync]` profiles with augmentations, conditions and mappings.
//!
//! Names change as in [`crate::sync::config`]: `icStatus` → `cc_status`,
//! `lyncPresenceFromIc` → `availability`, `lyncPresenceToIcStart`/`End`
//! → `accept`, `OneWayToIc` → `OneWayToCc`, `OneWayToLync` →
//! `OneWayToUc`. A `scope="Global"` profile becomes the global profile of
//! its qualifier's user type, a `Custom` one keeps its qualifier as name
//! and its `<users>`, a `User` one (older files) becomes that user's.
//! Values are read from attributes or from child elements' text, as the
//! seed does not fix which. Everything inside `<profiles>` that has no
//! place is listed with its line; settings outside it (`<lyncFarm>`,
//! UCMA) do not concern presenced and are passed over.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::tree::{self, Element};
use super::{quoted, Import, Unmapped};
use crate::sync::states::{SyncDirection, UserState, UserType};

const XML: &str = "CIC XML";

/// A value from an attribute or a child element's text.
fn value<'e>(e: &'e Element, name: &str) -> Option<&'e str> {
    e.attribute(name)
        .or_else(|| e.all(name).next().map(|c| c.text.as_str()))
        .map(str::trim)
}

fn flag(e: &Element, name: &str, default: bool, unmapped: &mut Vec<Unmapped>) -> bool {
    match value(e, name).map(str::to_ascii_lowercase).as_deref() {
        None => default,
        Some("true") => true,
        Some("false") => false,
        Some(other) => {
            unmapped.push(Unmapped {
                input: XML,
                line: e.line,
                what: format!("{name}={other:?} is not true or false: {default} used"),
            });
            default
        }
    }
}

/// Converts the file's `<profiles>`.
pub fn import(xml: &str) -> Result<Import, tree::TreeError> {
    let root = tree::parse(xml)?;
    let mut unmapped = Vec::new();
    let mut found = None;
    let mut visit = vec![&root];
    while let Some(e) = visit.pop() {
        if e.name.eq_ignore_ascii_case("profiles") {
            found = Some(e);
            break;
        }
        visit.extend(e.children.iter().rev());
    }
    let Some(profiles) = found else {
        return Err(tree::TreeError {
            line: 1,
            message: "no <profiles> element".into(),
        });
    };
    let mut global: BTreeMap<&'static str, String> = BTreeMap::new();
    let mut users: BTreeMap<String, String> = BTreeMap::new();
    let mut body = String::new();
    for p in &profiles.children {
        if !p.name.eq_ignore_ascii_case("profile") {
            unmapped.push(Unmapped {
                input: XML,
                line: p.line,
                what: format!("<{}> in <profiles>: left out", p.name),
            });
            continue;
        }
        let scope = value(p, "scope").unwrap_or("").to_ascii_lowercase();
        let qualifier = value(p, "qualifier").unwrap_or("").to_owned();
        let name = match scope.as_str() {
            "global" => match qualifier.parse::<UserType>() {
                Ok(t) => {
                    let name = format!("global-{}", t.as_str().to_ascii_lowercase());
                    global.insert(t.as_str(), name.clone());
                    name
                }
                Err(e) => {
                    unmapped.push(Unmapped {
                        input: XML,
                        line: p.line,
                        what: format!("global profile's qualifier {e}: profile left out"),
                    });
                    continue;
                }
            },
            "custom" if !qualifier.is_empty() => qualifier.clone(),
            "user" if !qualifier.is_empty() => {
                let name = format!("user-{qualifier}");
                users.insert(qualifier.clone(), name.clone());
                name
            }
            _ => {
                unmapped.push(Unmapped { input: XML, line: p.line, what: format!("profile with scope {scope:?} and qualifier {qualifier:?}: not Global, Custom or User with a qualifier; left out") });
                continue;
            }
        };
        let _ = writeln!(body, "\n[[sync.profiles]]\nname = {}", quoted(&name));
        let listed: Vec<String> = p
            .all("users")
            .flat_map(|u| u.all("user"))
            .map(|u| {
                value(u, "name")
                    .filter(|s| !s.is_empty())
                    .unwrap_or(&u.text)
                    .to_owned()
            })
            .filter(|u| !u.is_empty())
            .map(|u| quoted(&u))
            .collect();
        if !listed.is_empty() {
            let _ = writeln!(body, "users = [{}]", listed.join(", "));
        }
        for child in &p.children {
            let known = ["users", "augmentationConfigurations", "scope", "qualifier"];
            if !known.iter().any(|k| child.name.eq_ignore_ascii_case(k)) {
                unmapped.push(Unmapped {
                    input: XML,
                    line: child.line,
                    what: format!("<{}> in profile {name:?}: left out", child.name),
                });
            }
        }
        for aug in p
            .all("augmentationConfigurations")
            .flat_map(|a| a.children.iter())
        {
            augmentation(aug, &name, &mut body, &mut unmapped);
        }
    }
    let mut toml = String::from("[sync]\n");
    if !global.is_empty() {
        let entries: Vec<String> = global
            .iter()
            .map(|(t, p)| format!("{t} = {}", quoted(p)))
            .collect();
        let _ = writeln!(toml, "global = {{ {} }}", entries.join(", "));
    }
    if !users.is_empty() {
        let entries: Vec<String> = users
            .iter()
            .map(|(u, p)| format!("{} = {}", quoted(u), quoted(p)))
            .collect();
        let _ = writeln!(toml, "users = {{ {} }}", entries.join(", "));
    }
    toml.push_str(&body);
    Ok(Import { toml, unmapped })
}

fn augmentation(a: &Element, profile: &str, out: &mut String, unmapped: &mut Vec<Unmapped>) {
    if !a.name.eq_ignore_ascii_case("augmentationConfiguration") {
        unmapped.push(Unmapped {
            input: XML,
            line: a.line,
            what: format!(
                "<{}> in profile {profile:?}'s augmentations: left out",
                a.name
            ),
        });
        return;
    }
    let name = value(a, "name")
        .filter(|n| !n.is_empty())
        .map_or_else(|| format!("line {}", a.line), str::to_owned);
    let order = match value(a, "order").map(str::parse::<u32>) {
        Some(Ok(n)) => n,
        _ => {
            unmapped.push(Unmapped {
                input: XML,
                line: a.line,
                what: format!("augmentation {name:?} without a numeric order: left out"),
            });
            return;
        }
    };
    let _ = writeln!(
        out,
        "\n[[sync.profiles.augmentations]]\nname = {}\norder = {order}",
        quoted(&name)
    );
    let _ = writeln!(
        out,
        "enable_cc_to_uc = {}",
        flag(a, "enableIcToLyncSync", true, unmapped)
    );
    let _ = writeln!(
        out,
        "enable_uc_to_cc = {}",
        flag(a, "enableLyncToIcSync", true, unmapped)
    );
    let _ = writeln!(
        out,
        "add_in_queue_text = {}",
        flag(a, "addInQueueText", false, unmapped)
    );
    let mut conditions = Vec::new();
    for c in a.all("conditions").flat_map(|c| c.children.iter()) {
        let cname = value(c, "name").unwrap_or("");
        let user_state = cname.eq_ignore_ascii_case("UserState");
        if !user_state && !cname.eq_ignore_ascii_case("UserType") {
            unmapped.push(Unmapped { input: XML, line: c.line, what: format!("condition {cname:?} is not UserState or UserType: left out (the augmentation then applies more widely)") });
            continue;
        }
        let mut quals = Vec::new();
        for q in c.all("qualifications").flat_map(|q| q.children.iter()) {
            let v = value(q, "value")
                .or_else(|| value(q, "name"))
                .filter(|s| !s.is_empty())
                .unwrap_or(&q.text);
            let parsed = if user_state {
                v.parse::<UserState>().map(|s| s.as_str())
            } else {
                v.parse::<UserType>().map(|t| t.as_str())
            };
            match parsed {
                Ok(s) => quals.push(quoted(s)),
                Err(e) => unmapped.push(Unmapped {
                    input: XML,
                    line: q.line,
                    what: format!("qualification {e}: left out"),
                }),
            }
        }
        if quals.is_empty() {
            unmapped.push(Unmapped {
                input: XML,
                line: c.line,
                what: format!("condition {cname:?} has no usable qualification: left out"),
            });
            continue;
        }
        conditions.push(format!(
            "  {{ name = {}, qualifications = [{}] }},",
            quoted(if user_state { "UserState" } else { "UserType" }),
            quals.join(", ")
        ));
    }
    if !conditions.is_empty() {
        let _ = writeln!(out, "conditions = [\n{}\n]", conditions.join("\n"));
    }
    let mut mappings = Vec::new();
    for m in a.all("presenceMap").flat_map(|m| m.children.iter()) {
        if let Some(line) = mapping(m, unmapped) {
            mappings.push(line);
        }
    }
    if !mappings.is_empty() {
        let _ = writeln!(out, "mappings = [\n{}\n]", mappings.join("\n"));
    }
}

fn mapping(m: &Element, unmapped: &mut Vec<Unmapped>) -> Option<String> {
    let mut skip = |what: String| {
        unmapped.push(Unmapped {
            input: XML,
            line: m.line,
            what,
        });
        None
    };
    let Some(status) = value(m, "icStatus").filter(|s| !s.is_empty()) else {
        return skip("<presenceMapping> without icStatus: left out".into());
    };
    let direction = match value(m, "direction").unwrap_or("").to_ascii_lowercase().as_str() {
        "twoway" => SyncDirection::TwoWay,
        "onewaytoic" => SyncDirection::OneWayToCc,
        "onewaytolync" => SyncDirection::OneWayToUc,
        "none" => SyncDirection::None,
        other => return skip(format!("mapping {status:?}: direction {other:?} is not TwoWay, OneWayToIc, OneWayToLync or None: left out")),
    };
    let number = |name: &str| {
        value(m, name)
            .filter(|s| !s.is_empty())
            .map(str::parse::<u32>)
    };
    let mut line = format!("  {{ cc_status = {}", quoted(status));
    match number("lyncPresenceFromIc") {
        Some(Ok(n)) => {
            let _ = write!(line, ", availability = {n}");
        }
        Some(Err(_)) => {
            return skip(format!(
                "mapping {status:?}: lyncPresenceFromIc is not a number: left out"
            ))
        }
        None if direction.to_uc() => {
            return skip(format!(
                "mapping {status:?}: {direction} without lyncPresenceFromIc: left out"
            ))
        }
        None => {}
    }
    match (number("lyncPresenceToIcStart"), number("lyncPresenceToIcEnd")) {
        (Some(Ok(a)), Some(Ok(b))) => { let _ = write!(line, ", accept = \"{a}-{b}\""); }
        (None, None) if !direction.to_cc() => {}
        _ => return skip(format!("mapping {status:?}: lyncPresenceToIcStart/End missing or not numbers for {direction}: left out")),
    }
    let _ = write!(line, ", direction = {} }},", quoted(direction.as_str()));
    Some(line)
}
