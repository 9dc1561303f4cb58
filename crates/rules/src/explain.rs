//! `presenced explain URI` for service contacts: which room or gateway
//! rule answers for an address, for each dialect, and why — which regex
//! matched, which rules were passed over and for what reason, which
//! theme and image — or why nothing does.

use std::fmt;

use presence::Dialect;

use crate::directory::{Answerer, Directory};

/// The explanation, one line per fact; shown with `Display`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The lines, without indentation.
    pub lines: Vec<String>,
    /// Whether some room or rule answers in some dialect.
    pub answered: bool,
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.lines {
            writeln!(f, "{line}")?;
        }
        Ok(())
    }
}

impl Directory {
    /// Explains what `uri` (`sip:user@host` or `user@host`) gets. The PIN
    /// of a `**PIN` suffix is never shown.
    pub fn explain(&self, uri: &str) -> Explanation {
        let alias = Directory::alias_of(uri);
        let mut lines = vec![format!("service contact lookup for {alias}")];
        if crate::pin::strip(uri).is_some() {
            lines.push(
                "  a **PIN suffix was cut off before the lookup (the PIN is not shown)".into(),
            );
        }
        let mut answered = false;
        for dialect in Dialect::ALL {
            let who = match dialect {
                Dialect::Microsoft => "microsoft watchers (msrtc categories, batched lists)",
                Dialect::Ietf => "ietf watchers (PIDF)",
            };
            match self.resolve(&alias, dialect) {
                Some((Answerer::Room(i), _)) => {
                    answered = true;
                    let room = &self.rooms[i];
                    lines.push(format!(
                        "  {who}: room {:?} (service.rooms[{i}], line {}) answers Available: {alias} is one of its aliases [{}]; theme {}",
                        room.name,
                        room.line,
                        room.aliases.join(", "),
                        self.theme_line(&room.theme),
                    ));
                }
                Some((Answerer::Rule(i), _)) => {
                    answered = true;
                    self.passed_over(&alias, dialect, i, &mut lines);
                    let rule = &self.rules[i];
                    let card = presence::ServiceContacts::answer(self, &alias, dialect);
                    lines.push(format!(
                        "  {who}: gateway rule {:?} (service.gateway_rules[{i}], line {}) answers Available: match '{}' matches the whole alias; dialects [{}]; theme {}; display name {:?}",
                        rule.name,
                        rule.line,
                        rule.pattern,
                        dialect_list(&rule.dialects),
                        self.theme_line(&rule.theme),
                        card.map(|c| c.display_name).unwrap_or_default(),
                    ));
                }
                None => {
                    self.passed_over(&alias, dialect, self.rules.len(), &mut lines);
                    lines.push(format!(
                        "  {who}: no room has this alias and no gateway rule answers: no presence (the unknown-presentity policy applies), never Available"
                    ));
                }
            }
        }
        lines.push("  precedence: a person who publishes for this address wins over any room or rule; a room wins over the rules; rules are tried in file order".into());
        Explanation { lines, answered }
    }

    /// The rules before `until` that did not answer, and why.
    fn passed_over(&self, alias: &str, dialect: Dialect, until: usize, lines: &mut Vec<String>) {
        for rule in self.rules.iter().take(until) {
            let why = if !rule.regex.is_match(alias) {
                format!("match '{}' does not match", rule.pattern)
            } else {
                format!(
                    "matches, but applies to [{}] only, not {dialect}",
                    dialect_list(&rule.dialects)
                )
            };
            lines.push(format!(
                "    passed over for {dialect}: gateway rule {:?} (line {}): {why}",
                rule.name, rule.line
            ));
        }
    }

    fn theme_line(&self, theme: &str) -> String {
        match self.themes.get(theme) {
            Some(image) => format!("{theme} (image sha256 {})", image.hash()),
            None => theme.to_owned(),
        }
    }
}

fn dialect_list(dialects: &[Dialect]) -> String {
    dialects
        .iter()
        .map(|d| d.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::config::RawService;
    use crate::directory::{Directory, ThemeSource};

    #[derive(serde::Deserialize)]
    struct File {
        service: RawService,
    }

    fn directory() -> Directory {
        let text = "[service]\n[[service.rooms]]\naliases = [\"meet.alice@vc.example.com\"]\nname = \"Alice's room\"\n\
                    [[service.gateway_rules]]\nname = \"vtc\"\nmatch = '[a-z]+-room\\d\\d\\d@vc\\.example\\.com'\ndialects = [\"microsoft\"]\n";
        let file: File = toml::from_str(text).unwrap();
        let mut themes = BTreeMap::new();
        themes.insert("default".to_owned(), ThemeSource::Builtin);
        Directory::build(&file.service, &themes, None, text).unwrap()
    }

    #[test]
    fn a_room_is_explained_with_its_line_and_the_pin_hidden() {
        let e = directory().explain("sip:meet.alice**4321@vc.example.com");
        let text = e.to_string();
        assert!(e.answered);
        assert!(!text.contains("4321"), "{text}");
        assert!(text.contains("PIN suffix was cut off"), "{text}");
        assert!(
            text.contains("room \"Alice's room\" (service.rooms[0], line 2) answers Available"),
            "{text}"
        );
        assert!(text.contains("theme default (image sha256 "), "{text}");
    }

    #[test]
    fn a_dialect_restricted_rule_is_explained_per_dialect() {
        let text = directory()
            .explain("sip:oslo-room042@vc.example.com")
            .to_string();
        assert!(
            text.contains("microsoft watchers (msrtc categories, batched lists): gateway rule \"vtc\" (service.gateway_rules[0], line 5) answers Available"),
            "{text}"
        );
        assert!(
            text.contains("passed over for ietf: gateway rule \"vtc\" (line 5): matches, but applies to [microsoft] only, not ietf"),
            "{text}"
        );
        assert!(
            text.contains("ietf watchers (PIDF): no room has this alias"),
            "{text}"
        );
    }

    #[test]
    fn nothing_answering_says_why() {
        let e = directory().explain("sip:osloroom42@vc.example.com");
        assert!(!e.answered);
        let text = e.to_string();
        assert!(
            text.contains("match '[a-z]+-room\\d\\d\\d@vc\\.example\\.com' does not match"),
            "{text}"
        );
        assert!(text.contains("never Available"), "{text}");
    }
}
