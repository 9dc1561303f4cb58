//! The service directory: rooms and gateway rules, checked and compiled
//! once at load, answering "who answers for this address, for this
//! dialect?" without I/O.
//!
//! Precedence within the directory: a **room** whose alias the address is
//! (after its PIN suffix is cut off) answers for both dialects; otherwise
//! the **first gateway rule**, in file order, whose regex matches the whole
//! alias and whose `dialects` include the watcher's; otherwise nothing —
//! never a false Available, so a mistyped address shows no presence and
//! the user notices (seed 000). A person who publishes wins over all of
//! these; that is the engine's part (`presence::engine`'s service module).

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use presence::msrtc::category::Photo;
use presence::{Dialect, ServiceCard, ServiceContacts};
use regex::{Regex, RegexBuilder, RegexSet, RegexSetBuilder};
use toml::Spanned;

use crate::config::{RawRoom, RawRule, RawService};
use crate::theme::{self, ImageError, ThemeImage, DEFAULT_THEME};

/// Longest description clients are given (the issue's "under 1 024
/// characters").
pub const MAX_DESCRIPTION_CHARS: usize = 1023;

/// Longest display name.
pub const MAX_NAME_CHARS: usize = 256;

/// Bound on a compiled gateway regex, so a rule cannot make every lookup
/// slow or eat memory (regex's own `size_limit`).
pub const MAX_REGEX_BYTES: usize = 1 << 20;

/// A checked room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Room {
    /// Its aliases, `user@host` with the host lowercased; the first one
    /// names the room (occupancy, logs).
    pub aliases: Vec<String>,
    /// The display name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The theme folder's name.
    pub theme: String,
    /// The config line of its `[[service.rooms]]` entry.
    pub line: usize,
}

/// A checked gateway rule.
#[derive(Debug, Clone)]
pub struct GatewayRule {
    /// Its name.
    pub name: String,
    /// The regex as written.
    pub pattern: String,
    /// Compiled, anchored at both ends.
    pub regex: Regex,
    /// The dialects it answers.
    pub dialects: Vec<Dialect>,
    /// The theme folder's name.
    pub theme: String,
    /// The display-name template.
    pub display_name: Option<String>,
    /// The description.
    pub description: Option<String>,
    /// The config line of its entry.
    pub line: usize,
}

impl PartialEq for GatewayRule {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
            && self.pattern == other.pattern
            && self.dialects == other.dialects
            && self.theme == other.theme
            && self.display_name == other.display_name
            && self.description == other.description
    }
}

/// What the runtime found in a theme folder.
#[derive(Debug, Clone)]
pub enum ThemeSource {
    /// No folder was looked at: the built-in image (only for `default`).
    Builtin,
    /// The file's bytes.
    File {
        /// The path, for messages.
        path: String,
        /// Its content.
        bytes: Vec<u8>,
    },
    /// The file could not be read.
    Unreadable {
        /// The path.
        path: String,
        /// What the OS said.
        error: String,
    },
}

/// A refusal, at a byte offset of the config text, naming the field (and
/// the rule or room).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ServiceError {
    /// Byte offset of the offending value in the file.
    pub offset: usize,
    /// `service.gateway_rules[1] "vtc endpoints".match` and the like.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

/// Which entry answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answerer {
    /// The room at this index.
    Room(usize),
    /// The gateway rule at this index.
    Rule(usize),
}

/// The checked `[service]` configuration; see the module documentation.
#[derive(Debug, Clone)]
pub struct Directory {
    pub(crate) rooms: Vec<Room>,
    /// Alias → room index.
    by_alias: HashMap<String, usize>,
    pub(crate) rules: Vec<GatewayRule>,
    /// All rules' regexes, so one pass finds every rule that matches.
    set: RegexSet,
    pub(crate) themes: BTreeMap<String, ThemeImage>,
    /// `service.public_url`: the base of photo URLs when set.
    public_url: Option<String>,
    /// The HTTP listener's own address, the base otherwise; no photos
    /// without either.
    listener_base: Option<String>,
    /// SHA-256 of the occupancy token; no occupancy feed without it.
    occupancy_token: Option<[u8; 32]>,
}

impl Default for Directory {
    fn default() -> Self {
        let mut themes = BTreeMap::new();
        themes.insert(DEFAULT_THEME.to_owned(), ThemeImage::builtin());
        Directory {
            rooms: Vec::new(),
            by_alias: HashMap::new(),
            rules: Vec::new(),
            set: RegexSet::empty(),
            themes,
            public_url: None,
            listener_base: None,
            occupancy_token: None,
        }
    }
}

/// Equal when everything configured is: rooms, rules, themes, photo
/// base and token (the alias index and the regex set follow from them).
impl PartialEq for Directory {
    fn eq(&self, other: &Self) -> bool {
        self.rooms == other.rooms
            && self.rules == other.rules
            && self.themes == other.themes
            && self.public_url == other.public_url
            && self.listener_base == other.listener_base
            && self.occupancy_token == other.occupancy_token
    }
}

impl Eq for Directory {}

/// The text's 1-based line at a byte offset.
fn line_at(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map_or(0, |before| before.matches('\n').count() + 1)
}

fn refuse<T>(at: &Spanned<T>, field: String, message: impl Into<String>) -> ServiceError {
    ServiceError {
        offset: at.span().start,
        field,
        message: message.into(),
    }
}

/// `user@host` of an alias as configured (`sip:` accepted), host
/// lowercased as presentity keys have it.
fn normalize_alias(alias: &str) -> Result<String, &'static str> {
    let bare = alias
        .strip_prefix("sip:")
        .or_else(|| alias.strip_prefix("sips:"))
        .unwrap_or(alias);
    let Some((user, host)) = bare.rsplit_once('@') else {
        return Err("an alias is user@host");
    };
    if user.is_empty() || host.is_empty() || bare.contains(char::is_whitespace) {
        return Err("an alias is user@host, without spaces");
    }
    if crate::pin::strip(bare).is_some() {
        return Err("an alias has no **PIN suffix (callers add their own)");
    }
    Ok(format!("{user}@{}", host.to_ascii_lowercase()))
}

fn text_limit(
    value: &Option<Spanned<String>>,
    field: impl Fn() -> String,
) -> Result<Option<String>, ServiceError> {
    let Some(v) = value else { return Ok(None) };
    let chars = v.get_ref().chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(refuse(
            v,
            field(),
            format!("{chars} characters; the limit is {MAX_DESCRIPTION_CHARS}"),
        ));
    }
    Ok(Some(v.get_ref().clone()).filter(|d| !d.is_empty()))
}

impl Directory {
    /// Checks and compiles the section. `themes` holds what the runtime
    /// read for every name of [`RawService::theme_names`]; `photo_base` is
    /// the default base of photo URLs (`public_url` overrides it); `text`
    /// is the config file, for the lines `explain` shows. The first error
    /// found is returned.
    pub fn build(
        raw: &RawService,
        themes: &BTreeMap<String, ThemeSource>,
        photo_base: Option<&str>,
        text: &str,
    ) -> Result<Directory, ServiceError> {
        let mut directory = Directory::default();
        directory.load_themes(raw, themes)?;
        for (i, room) in raw.rooms.iter().enumerate() {
            directory.add_room(i, room, text)?;
        }
        for (i, rule) in raw.gateway_rules.iter().enumerate() {
            directory.add_rule(i, rule, text)?;
        }
        let patterns = directory.rules.iter().map(|r| r.regex.as_str());
        directory.set = RegexSetBuilder::new(patterns)
            .size_limit(MAX_REGEX_BYTES * directory.rules.len().max(1))
            .build()
            .map_err(|e| ServiceError {
                offset: 0,
                field: "service.gateway_rules".to_owned(),
                message: e.to_string(),
            })?;
        directory.listener_base = photo_base.map(|b| b.trim_end_matches('/').to_owned());
        directory.public_url = match &raw.public_url {
            Some(url) => {
                let u = url.get_ref().trim_end_matches('/');
                if !(u.starts_with("http://") || u.starts_with("https://")) || u.contains(' ') {
                    return Err(refuse(
                        url,
                        "service.public_url".to_owned(),
                        "must be an http:// or https:// URL",
                    ));
                }
                Some(u.to_owned())
            }
            None => None,
        };
        if let Some(token) = &raw.occupancy_token_sha256 {
            directory.occupancy_token = Some(parse_sha256(token.get_ref()).ok_or_else(|| {
                refuse(
                    token,
                    "service.occupancy_token_sha256".to_owned(),
                    "must be 64 hex digits: the SHA-256 of the token (printf %s TOKEN | sha256sum)",
                )
            })?);
        }
        Ok(directory)
    }

    fn load_themes(
        &mut self,
        raw: &RawService,
        themes: &BTreeMap<String, ThemeSource>,
    ) -> Result<(), ServiceError> {
        for (name, offset) in raw.theme_names() {
            let at = |message: String| ServiceError {
                offset,
                field: format!("theme \"{name}\""),
                message,
            };
            if !theme::valid_name(&name) {
                return Err(at(
                    "a theme name is letters, digits, '.', '_' and '-' (a folder name)".into(),
                ));
            }
            let image = match themes.get(&name) {
                Some(ThemeSource::Builtin) if name == DEFAULT_THEME => ThemeImage::builtin(),
                Some(ThemeSource::File { path, bytes }) => {
                    ThemeImage::new(bytes).map_err(|e: ImageError| at(format!("{path}: {e}")))?
                }
                Some(ThemeSource::Unreadable { path, error }) => {
                    return Err(at(format!("{path}: cannot read: {error}")))
                }
                _ => {
                    return Err(at(format!(
                        "no such theme (a folder with {} in service.themes_dir)",
                        theme::IMAGE_FILE
                    )))
                }
            };
            self.themes.insert(name, image);
        }
        Ok(())
    }

    fn add_room(
        &mut self,
        i: usize,
        spanned: &Spanned<RawRoom>,
        text: &str,
    ) -> Result<(), ServiceError> {
        let room = spanned.get_ref();
        let field = |key: &str| format!("service.rooms[{i}].{key}");
        if room.aliases.get_ref().is_empty() {
            return Err(refuse(
                &room.aliases,
                field("aliases"),
                "a room needs an alias",
            ));
        }
        let mut aliases = Vec::new();
        for alias in room.aliases.get_ref() {
            let normal = normalize_alias(alias.get_ref()).map_err(|m| {
                refuse(
                    alias,
                    field("aliases"),
                    format!("{:?}: {m}", alias.get_ref()),
                )
            })?;
            if let Some(&other) = self.by_alias.get(&normal) {
                return Err(refuse(
                    alias,
                    field("aliases"),
                    format!("{normal} is already an alias of service.rooms[{other}]"),
                ));
            }
            self.by_alias.insert(normal.clone(), self.rooms.len());
            aliases.push(normal);
        }
        let name = room.name.get_ref().trim();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(refuse(
                &room.name,
                field("name"),
                format!("a name of 1 to {MAX_NAME_CHARS} characters is needed"),
            ));
        }
        let description = text_limit(&room.description, || field("description"))?;
        self.rooms.push(Room {
            aliases,
            name: name.to_owned(),
            description,
            theme: theme_of(&room.theme),
            line: line_at(text, spanned.span().start),
        });
        Ok(())
    }

    fn add_rule(
        &mut self,
        i: usize,
        spanned: &Spanned<RawRule>,
        text: &str,
    ) -> Result<(), ServiceError> {
        let rule = spanned.get_ref();
        let name = rule.name.get_ref().trim().to_owned();
        let field = |key: &str| format!("service.gateway_rules[{i}] \"{name}\".{key}");
        if name.is_empty() {
            return Err(refuse(
                &rule.name,
                format!("service.gateway_rules[{i}].name"),
                "a rule needs a name",
            ));
        }
        if let Some(other) = self.rules.iter().position(|r| r.name == name) {
            return Err(refuse(
                &rule.name,
                field("name"),
                format!("service.gateway_rules[{other}] has the same name"),
            ));
        }
        let regex = RegexBuilder::new(&format!("^(?:{})$", rule.pattern.get_ref()))
            .size_limit(MAX_REGEX_BYTES)
            .build()
            .map_err(|e| refuse(&rule.pattern, field("match"), first_lines(&e.to_string())))?;
        let mut dialects = Vec::new();
        for d in rule.dialects.get_ref() {
            let dialect = match d.get_ref().as_str() {
                "microsoft" => Dialect::Microsoft,
                "ietf" => Dialect::Ietf,
                other => {
                    return Err(refuse(
                        d,
                        field("dialects"),
                        format!("{other:?} is not a dialect (microsoft or ietf)"),
                    ))
                }
            };
            if !dialects.contains(&dialect) {
                dialects.push(dialect);
            }
        }
        if dialects.is_empty() {
            return Err(refuse(
                &rule.dialects,
                field("dialects"),
                "name at least one dialect (microsoft, ietf)",
            ));
        }
        if let Some(template) = &rule.display_name {
            check_template(template.get_ref(), &regex)
                .map_err(|m| refuse(template, field("display_name"), m))?;
        }
        let description = text_limit(&rule.description, || field("description"))?;
        self.rules.push(GatewayRule {
            name,
            pattern: rule.pattern.get_ref().clone(),
            regex,
            dialects,
            theme: theme_of(&rule.theme),
            display_name: rule.display_name.as_ref().map(|t| t.get_ref().clone()),
            description,
            line: line_at(text, spanned.span().start),
        });
        Ok(())
    }

    /// `user@host` of a presentity key, PIN suffix cut off (borrowed when
    /// there is none: this runs for every NOTIFY about an address nobody
    /// publishes for).
    pub fn alias_of(presentity: &str) -> Cow<'_, str> {
        let bare = presentity
            .split_once(':')
            .filter(|(scheme, _)| matches!(*scheme, "sip" | "sips"))
            .map_or(presentity, |(_, rest)| rest);
        match crate::pin::strip(bare) {
            Some(plain) => Cow::Owned(plain),
            None => Cow::Borrowed(bare),
        }
    }

    /// Who answers for `presentity` in `dialect`, and the alias it was
    /// looked up as.
    pub fn resolve<'a>(
        &self,
        presentity: &'a str,
        dialect: Dialect,
    ) -> Option<(Answerer, Cow<'a, str>)> {
        if self.by_alias.is_empty() && self.rules.is_empty() {
            return None;
        }
        let alias = Self::alias_of(presentity);
        if let Some(&room) = self.by_alias.get(&*alias) {
            return Some((Answerer::Room(room), alias));
        }
        let rule = self
            .set
            .matches(&alias)
            .into_iter()
            .find(|&i| self.rules[i].dialects.contains(&dialect))?;
        Some((Answerer::Rule(rule), alias))
    }

    /// The card of an answer.
    fn card(&self, answerer: Answerer, alias: &str) -> ServiceCard {
        match answerer {
            Answerer::Room(i) => {
                let room = &self.rooms[i];
                ServiceCard {
                    room: Some(room.aliases[0].as_str().into()),
                    display_name: room.name.clone(),
                    description: room.description.clone(),
                    photo: self.photo(&room.theme),
                }
            }
            Answerer::Rule(i) => {
                let rule = &self.rules[i];
                let display_name = match (&rule.display_name, rule.regex.captures(alias)) {
                    (Some(template), Some(captures)) => {
                        let mut name = String::new();
                        captures.expand(template, &mut name);
                        name
                    }
                    _ => alias.to_owned(),
                };
                ServiceCard {
                    room: None,
                    display_name,
                    description: rule.description.clone(),
                    photo: self.photo(&rule.theme),
                }
            }
        }
    }

    /// The photo of a theme, when photo URLs have a base.
    fn photo(&self, theme: &str) -> Option<Photo> {
        let base = self.public_url.as_ref().or(self.listener_base.as_ref())?;
        let image = self.themes.get(theme)?;
        Some(Photo {
            uri: format!("{base}/service/themes/{theme}/{}.jpg", image.hash()),
            hash: image.hash().to_owned(),
        })
    }

    /// The same directory with photo URLs based on the HTTP listener's
    /// bound address (`http://127.0.0.1:8088`), unless `public_url` is
    /// set: the port is known only once the listener is bound.
    pub fn with_listener_base(&self, base: &str) -> Directory {
        Directory {
            listener_base: Some(base.trim_end_matches('/').to_owned()),
            ..self.clone()
        }
    }

    /// A theme's image, if `hash` is its current hash: what the HTTP
    /// listener serves at the photo URL (an old URL is not found).
    pub fn image(&self, theme: &str, hash: &str) -> Option<&ThemeImage> {
        self.themes.get(theme).filter(|image| image.hash() == hash)
    }

    /// The room an address belongs to (any alias, PIN or not), by its
    /// first alias: how the occupancy feed names rooms.
    pub fn room_id(&self, address: &str) -> Option<Arc<str>> {
        let alias = Self::alias_of(address);
        let &room = self.by_alias.get(&*alias)?;
        Some(self.rooms[room].aliases[0].as_str().into())
    }

    /// The rooms, in configuration order (the console's list).
    pub fn rooms(&self) -> &[Room] {
        &self.rooms
    }

    /// The gateway rules, in the order they are tried.
    pub fn rules(&self) -> &[GatewayRule] {
        &self.rules
    }

    /// The current SHA-256 of a theme's image: the name its photo URL
    /// has (`/service/themes/{theme}/{hash}.jpg`).
    pub fn theme_hash(&self, theme: &str) -> Option<&str> {
        self.themes.get(theme).map(ThemeImage::hash)
    }

    /// The SHA-256 of the occupancy feed's token, if the feed is on.
    pub fn occupancy_token(&self) -> Option<&[u8; 32]> {
        self.occupancy_token.as_ref()
    }

    /// One line for the log: what is configured.
    pub fn summary(&self) -> String {
        format!(
            "{} rooms ({} aliases), {} gateway rules, {} themes",
            self.rooms.len(),
            self.by_alias.len(),
            self.rules.len(),
            self.themes.len()
        )
    }

    /// What changed from `self` to `new`, one line each, for the reload
    /// log: rooms by first alias, rules by name, themes by name.
    pub fn changes(&self, new: &Directory) -> Vec<String> {
        let mut lines = Vec::new();
        let room_key = |r: &Room| r.aliases[0].clone();
        diff(&mut lines, "room", &self.rooms, &new.rooms, room_key);
        diff(&mut lines, "gateway rule", &self.rules, &new.rules, |r| {
            r.name.clone()
        });
        let old_order: Vec<&str> = self.rules.iter().map(|r| r.name.as_str()).collect();
        let new_order: Vec<&str> = new.rules.iter().map(|r| r.name.as_str()).collect();
        let kept: Vec<&&str> = new_order.iter().filter(|n| old_order.contains(n)).collect();
        let was: Vec<&&str> = old_order.iter().filter(|n| new_order.contains(n)).collect();
        if kept != was {
            lines.push("gateway rules reordered".to_owned());
        }
        for (name, image) in &new.themes {
            match self.themes.get(name) {
                None => lines.push(format!("theme {name} added")),
                Some(old) if old.hash() != image.hash() => {
                    lines.push(format!("theme {name} changed (image {})", image.hash()))
                }
                Some(_) => {}
            }
        }
        if self.public_url != new.public_url {
            lines.push("service.public_url changed".to_owned());
        }
        if self.occupancy_token != new.occupancy_token {
            lines.push("occupancy token changed".to_owned());
        }
        lines
    }
}

/// Added, removed and changed entries of two lists, by key.
fn diff<T: PartialEq>(
    lines: &mut Vec<String>,
    what: &str,
    old: &[T],
    new: &[T],
    key: impl Fn(&T) -> String,
) {
    for n in new {
        match old.iter().find(|o| key(o) == key(n)) {
            None => lines.push(format!("{what} {} added", key(n))),
            Some(o) if o != n => lines.push(format!("{what} {} changed", key(n))),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|n| key(n) == key(o)) {
            lines.push(format!("{what} {} removed", key(o)));
        }
    }
}

impl ServiceContacts for Directory {
    fn answer(&self, presentity: &str, dialect: Dialect) -> Option<ServiceCard> {
        let (answerer, alias) = self.resolve(presentity, dialect)?;
        Some(self.card(answerer, &alias))
    }

    fn canonical(&self, presentity: &str) -> Option<String> {
        let plain = crate::pin::strip(presentity)?;
        let answers = Dialect::ALL
            .iter()
            .any(|d| self.resolve(&plain, *d).is_some());
        answers.then_some(plain)
    }
}

fn theme_of(theme: &Option<Spanned<String>>) -> String {
    theme
        .as_ref()
        .map_or_else(|| DEFAULT_THEME.to_owned(), |t| t.get_ref().clone())
}

/// regex's messages draw the pattern over several lines; the log and the
/// config error keep them, indented under the field.
fn first_lines(message: &str) -> String {
    message.trim_end().replace('\n', "\n    ")
}

/// A display-name template may name only groups the regex has.
fn check_template(template: &str, regex: &Regex) -> Result<(), String> {
    let names: Vec<&str> = regex.capture_names().flatten().collect();
    let groups = regex.captures_len();
    let mut rest = template;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
            continue;
        }
        let (reference, tail) = match rest.strip_prefix('{') {
            Some(braced) => match braced.find('}') {
                Some(end) => (&braced[..end], &braced[end + 1..]),
                None => return Err("an unclosed ${ in the template".to_owned()),
            },
            None => {
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                (&rest[..end], &rest[end..])
            }
        };
        let known = match reference.parse::<usize>() {
            Ok(n) => n < groups,
            Err(_) => names.contains(&reference),
        };
        if !known {
            return Err(format!(
                "${reference} names no group of the rule's match (it has {} groups{})",
                groups - 1,
                if names.is_empty() {
                    String::new()
                } else {
                    format!(": {}", names.join(", "))
                }
            ));
        }
        rest = tail;
    }
    Ok(())
}

fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests;
