//! The `[service]` section: rooms, gateway rules and themes (the `rules`
//! crate's [`rules::Directory`]), checked with the rest of the file.
//!
//! The shape and every check are the `rules` crate's; this file does the
//! I/O that crate leaves out — reading each named theme's
//! `presence_avatar_image.jpg` from `themes_dir` (relative to the config
//! file) — and turns a refusal's byte offset into the file's line and
//! column, like every other config error.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rules::theme::{DEFAULT_THEME, IMAGE_FILE};
use rules::{Directory, RawService, ThemeSource};

use super::{ConfigError, Source};

/// The `[service]` section, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceSettings {
    /// Rooms, rules and theme images.
    pub directory: Arc<Directory>,
    /// Where the theme folders are (watched for changes), if configured.
    pub themes_dir: Option<PathBuf>,
}

impl Source<'_> {
    /// Checks `[service]` and reads its theme images. `http` is where the
    /// HTTP listener will be, the default base of photo URLs.
    pub(super) fn service(
        &self,
        raw: RawService,
        http: Option<SocketAddr>,
    ) -> Result<ServiceSettings, ConfigError> {
        let dir = raw.themes_dir.as_ref().map(|d| self.path(d));
        let mut themes = BTreeMap::new();
        for (name, _) in raw.theme_names() {
            let source = match &dir {
                Some(dir) if rules::theme::valid_name(&name) => read_theme(dir, &name),
                _ if name == DEFAULT_THEME => ThemeSource::Builtin,
                // Refused by the directory with the line that names it.
                _ => continue,
            };
            themes.insert(name, source);
        }
        let base = http.map(|addr| format!("http://{addr}"));
        let directory = Directory::build(&raw, &themes, base.as_deref(), self.text)
            .map_err(|e| self.error(e.offset, &e.field, e.message))?;
        Ok(ServiceSettings {
            directory: Arc::new(directory),
            themes_dir: dir,
        })
    }
}

/// What `themes_dir/name/presence_avatar_image.jpg` holds; a missing
/// `default` folder means the built-in image.
fn read_theme(dir: &Path, name: &str) -> ThemeSource {
    let path = dir.join(name).join(IMAGE_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => ThemeSource::File {
            path: path.display().to_string(),
            bytes,
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && name == DEFAULT_THEME => {
            ThemeSource::Builtin
        }
        Err(e) => ThemeSource::Unreadable {
            path: path.display().to_string(),
            error: e.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use presence::{Dialect, ServiceContacts};

    use crate::config::Config;

    const ROOM: &str = "[service]\n[[service.rooms]]\naliases = [\"meet.alice@vc.example.com\"]\nname = \"Alice's meeting room\"\ndescription = \"Weekly team meeting\"\n";

    #[test]
    fn rooms_answer_with_photos_on_the_http_listener() {
        let config = Config::parse(Path::new("/etc/presenced/presenced.toml"), ROOM).unwrap();
        let card = config
            .service
            .directory
            .answer("sip:meet.alice@vc.example.com", Dialect::Microsoft)
            .expect("the room answers");
        let photo = card.photo.expect("a photo");
        assert!(
            photo
                .uri
                .starts_with("http://127.0.0.1:8088/service/themes/default/"),
            "{}",
            photo.uri
        );
    }

    #[test]
    fn a_bad_rule_is_refused_with_file_line_and_rule_name() {
        let text = format!(
            "{ROOM}[[service.gateway_rules]]\nname = \"vtc endpoints\"\nmatch = '[a-z]+-room(\\d\\d\\d@vc'\ndialects = [\"microsoft\"]\n"
        );
        let e = Config::parse(Path::new("/etc/presenced/presenced.toml"), &text)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/etc/presenced/presenced.toml:8:9: service.gateway_rules[0] \"vtc endpoints\".match: regex parse error"
            ),
            "{e}"
        );
    }

    #[test]
    fn theme_images_are_read_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let blue = dir.path().join("themes/blue");
        std::fs::create_dir_all(&blue).unwrap();
        std::fs::write(blue.join("presence_avatar_image.jpg"), b"not a picture").unwrap();
        let text = format!("{ROOM}theme = \"blue\"\n")
            .replace("[service]\n", "[service]\nthemes_dir = \"themes\"\n");
        let file = dir.path().join("presenced.toml");
        std::fs::write(&file, &text).unwrap();
        let e = Config::load(&file).unwrap_err().to_string();
        assert!(e.contains(":7:9: theme \"blue\": "), "{e}");
        assert!(
            e.contains("themes/blue/presence_avatar_image.jpg: not a JPEG image"),
            "{e}"
        );
        std::fs::write(
            blue.join("presence_avatar_image.jpg"),
            rules::theme::DEFAULT_IMAGE,
        )
        .unwrap();
        assert!(Config::load(&file).is_ok());
        // A theme nobody made a folder for.
        std::fs::write(&file, text.replace("\"blue\"", "\"green\"")).unwrap();
        let e = Config::load(&file).unwrap_err().to_string();
        assert!(
            e.contains("theme \"green\": ") && e.contains("cannot read"),
            "{e}"
        );
    }
}
