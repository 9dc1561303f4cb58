//! The `[service]` section of presenced's TOML file, as serde reads it.
//!
//! The shape follows the seed's vocabulary so that its users recognise it
//! (rooms with aliases, name and description; ordered gateway rules with
//! a destination-alias regex and the incoming dialects they apply to), and
//! every value keeps its position ([`toml::Spanned`]) so that a refusal
//! names the line. [`crate::Directory::build`] turns it into the checked
//! directory; the runtime reads the theme images in between.
//!
//! ```toml
//! [service]
//! themes_dir = "themes"            # one folder per theme, each with presence_avatar_image.jpg
//! public_url = "https://presence.example.com:8443"  # base of photo URLs; default http://[http] listen
//! occupancy_token_sha256 = "9f86d08188…"            # SHA-256 (hex) of the occupancy feed's token
//! [[service.rooms]]
//! aliases = ["meet.alice@vc.example.com"]
//! name = "Alice's meeting room"
//! description = "Weekly team meeting"
//! theme = "blue"                   # optional
//! [[service.gateway_rules]]
//! name = "vtc endpoints"
//! match = '([a-z]+)-room(\d\d\d)@vc\.example\.com'   # the whole alias must match
//! dialects = ["microsoft"]         # "microsoft", "ietf", or both
//! theme = "blue"                   # optional
//! display_name = "VTC $1 room $2"  # optional, from the regex's captures
//! description = "Video endpoint"   # optional
//! ```

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

/// `[service]` as written; every key optional.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    /// The folder of theme folders (relative to the config file).
    pub themes_dir: Option<Spanned<PathBuf>>,
    /// Where clients reach presenced's HTTP listener, for photo URLs.
    pub public_url: Option<Spanned<String>>,
    /// Lowercase hex SHA-256 of the occupancy feed's bearer token: the
    /// token itself is never written into the file.
    pub occupancy_token_sha256: Option<Spanned<String>>,
    /// The rooms.
    #[serde(default)]
    pub rooms: Vec<Spanned<RawRoom>>,
    /// The gateway rules, in the order they are tried.
    #[serde(default)]
    pub gateway_rules: Vec<Spanned<RawRule>>,
}

/// `[[service.rooms]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoom {
    /// `user@host` addresses the room answers for (a `sip:` prefix is
    /// accepted).
    pub aliases: Spanned<Vec<Spanned<String>>>,
    /// The display name.
    pub name: Spanned<String>,
    /// The description (under 1 024 characters).
    #[serde(default)]
    pub description: Option<Spanned<String>>,
    /// The theme folder's name.
    #[serde(default)]
    pub theme: Option<Spanned<String>>,
}

/// `[[service.gateway_rules]]` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRule {
    /// The rule's name, used in errors, logs and `explain`.
    pub name: Spanned<String>,
    /// The regex the whole alias (`user@host`) must match.
    #[serde(rename = "match")]
    pub pattern: Spanned<String>,
    /// The watcher dialects the rule answers: `microsoft`, `ietf`.
    pub dialects: Spanned<Vec<Spanned<String>>>,
    /// The theme folder's name.
    #[serde(default)]
    pub theme: Option<Spanned<String>>,
    /// The display name, `$1`/`${name}` replaced from the captures;
    /// default the alias itself.
    #[serde(default)]
    pub display_name: Option<Spanned<String>>,
    /// The description (under 1 024 characters).
    #[serde(default)]
    pub description: Option<Spanned<String>>,
}

impl RawService {
    /// Every theme a room or rule names, with the position of its first
    /// mention, plus [`crate::theme::DEFAULT_THEME`] (at the section's
    /// start): the folders the runtime must read before
    /// [`crate::Directory::build`].
    pub fn theme_names(&self) -> Vec<(String, usize)> {
        let mut names: Vec<(String, usize)> = vec![(crate::theme::DEFAULT_THEME.to_owned(), 0)];
        let named = self
            .rooms
            .iter()
            .filter_map(|r| r.get_ref().theme.as_ref())
            .chain(
                self.gateway_rules
                    .iter()
                    .filter_map(|r| r.get_ref().theme.as_ref()),
            );
        for theme in named {
            if !names.iter().any(|(n, _)| n == theme.get_ref()) {
                names.push((theme.get_ref().clone(), theme.span().start));
            }
        }
        names
    }
}
