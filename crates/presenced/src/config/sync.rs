//! The `[sync]` section: the sync engine's profiles, augmentations and
//! mappings (the `rules` crate's [`rules::sync::SyncRules`]), checked
//! with the rest of the file. Refusals and warnings get the file, line
//! and column like every other config error; the warnings (states that
//! nothing maps) are kept for `check-config` and the reload log.

use std::sync::Arc;

use rules::sync::{RawSync, SyncRules};

use super::{ConfigError, Source};

/// The `[sync]` section, checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncSettings {
    /// The rules.
    pub rules: Arc<SyncRules>,
    /// `file:line:column: field: message` for each warning.
    pub warnings: Vec<String>,
}

impl Source<'_> {
    /// Checks `[sync]`.
    pub(super) fn sync(&self, raw: RawSync) -> Result<SyncSettings, ConfigError> {
        let (rules, warnings) = SyncRules::build(&raw, self.text)
            .map_err(|e| self.error(e.offset, &e.field, e.message))?;
        let warnings = warnings
            .into_iter()
            .map(|w| self.error(w.offset, &w.field, w.message).to_string())
            .collect();
        Ok(SyncSettings {
            rules: Arc::new(rules),
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::Config;

    #[test]
    fn push_and_pull_together_are_refused_with_file_line_and_field() {
        let text = "[sync]\n[[sync.profiles]]\nname = \"both\"\naggregated_states = \"1=A\"\nagent_states = [{ id = \"A\", availability = 3500 }]\ndnd_off_ranges = \"3000-5999\"\n";
        let e = Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/presenced/presenced.toml:6:18: sync.profiles[0] \"both\".dnd_off_ranges: push mode (aggregated_states) and pull mode (dnd_off_ranges) are exclusive per profile"),
            "{e}"
        );
    }

    #[test]
    fn unmapped_rows_are_warnings_with_lines() {
        let text = "[sync]\nglobal = { Rcc = \"p\" }\n[[sync.profiles]]\nname = \"p\"\naggregated_states = \"2=READY\"\nagent_states = [{ id = \"READY\", availability = 3500 }]\n";
        let config = Config::parse(Path::new("/etc/presenced/presenced.toml"), text).unwrap();
        assert_eq!(config.sync.warnings.len(), 14);
        assert!(config.sync.warnings[0].starts_with("/etc/presenced/presenced.toml:5:21: sync.profiles[0] \"p\".aggregated_states: row 1 (Logout × Idle) has no aggregated state"), "{:?}", config.sync.warnings);
    }
}
