//! Which source gives a presentity its presence, per URI, as seed 004's
//! presence provider chooses it, in order:
//!
//! 1. **attendant** (seed: `AttendantServiceSource`): the URI matches one
//!    of the configured regex patterns; its presence is what attendant
//!    clients set through the API;
//! 2. **PSTN** (`PstnPresenceSource`): a `tel:` URI, or a SIP URI with
//!    `user=phone`, that is a valid E.164 line; its presence comes from
//!    the call state the contact center reports, so an agent in a call is
//!    never offered another one;
//! 3. **upstream** (`UcmaPresenceSource`): the fallback, one subscription
//!    on the upstream presence server.
//!
//! A disabled source is passed over. [`Sources::new`] refuses a set of
//! sources that leaves some URI without any, so every presentity the
//! provider serves has one. [`Sources::choose`] also records each step
//! of the reasoning, written out the way the seed's worked examples are
//! (`presenced explain`).
//!
//! Patterns are searched for anywhere in the URI, as the vendor's
//! `Regex.IsMatch` does (anchor them with `^…$` to match the whole URI),
//! and are matched against the presentity's address of record:
//! `sip:user@host` with the host in lower case and no parameters, or
//! `tel:+digits`.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::e164;

/// Largest compiled program of one pattern (regex's `size_limit`): an
/// administrator's pattern must not make matching slow or eat memory.
const MAX_REGEX_BYTES: usize = 1 << 20;

/// One of the provider's sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// Presence set by attendant clients through the API.
    Attendant,
    /// Presence derived from a PSTN line's call state.
    Pstn,
    /// Presence from the upstream presence server's subscription.
    Upstream,
}

impl SourceKind {
    /// The name in logs, metrics and the API.
    pub const fn as_str(self) -> &'static str {
        match self {
            SourceKind::Attendant => "attendant",
            SourceKind::Pstn => "pstn",
            SourceKind::Upstream => "upstream",
        }
    }

    /// The seed's element name, so its users recognise the source.
    pub fn seed_name(self) -> &'static str {
        match self {
            SourceKind::Attendant => "AttendantServiceSource",
            SourceKind::Pstn => "PstnPresenceSource",
            SourceKind::Upstream => "UcmaPresenceSource",
        }
    }

    /// The `[provider]` table that configures it.
    pub fn config_table(self) -> &'static str {
        match self {
            SourceKind::Attendant => "provider.attendant_service_source",
            SourceKind::Pstn => "provider.pstn_presence_source",
            SourceKind::Upstream => "provider.upstream_presence_source",
        }
    }
}

impl fmt::Display for SourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The provider's sources as configured.
#[derive(Debug, Clone)]
pub struct Sources {
    /// The attendant patterns in order; `None`: the source is disabled.
    attendant: Option<Vec<Regex>>,
    pstn: bool,
    upstream: bool,
}

impl PartialEq for Sources {
    fn eq(&self, other: &Self) -> bool {
        let patterns = |s: &Sources| {
            s.attendant
                .as_ref()
                .map(|p| p.iter().map(|r| r.as_str().to_owned()).collect::<Vec<_>>())
        };
        patterns(self) == patterns(other)
            && self.pstn == other.pstn
            && self.upstream == other.upstream
    }
}

impl Eq for Sources {}

impl Default for Sources {
    /// Seed 004's example: every source enabled, no attendant pattern.
    fn default() -> Self {
        Sources {
            attendant: Some(Vec::new()),
            pstn: true,
            upstream: true,
        }
    }
}

/// Why a set of sources is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourcesError {
    /// An attendant pattern that does not compile.
    #[error("pattern {index} ({pattern:?}) is not a valid regex: {message}")]
    Pattern {
        /// Its position in the list.
        index: usize,
        /// As written.
        pattern: String,
        /// The regex crate's complaint.
        message: String,
    },
    /// Some URI would have no source.
    #[error(
        "with the upstream source disabled, a URI that matches no attendant pattern and is no \
         E.164 line (such as sip:someone@example.com) has no presence source; enable \
         provider.upstream_presence_source or add a catch-all attendant pattern such as \".*\""
    )]
    Uncovered,
}

/// The outcome of [`Sources::choose`]: the source used, if any, and the
/// reasoning, one line per step with its depth (the seed's bullets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    /// The source used; `None` only for sources that [`Sources::new`]
    /// would refuse, or a URI that cannot be read.
    pub source: Option<SourceKind>,
    /// The steps, `(depth, text)`.
    pub steps: Vec<(usize, String)>,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (depth, text) in &self.steps {
            writeln!(f, "{:width$}- {text}", "", width = depth * 2)?;
        }
        Ok(())
    }
}

impl Sources {
    /// Compiles the sources: `attendant` is `None` when that source is
    /// disabled, else its patterns in order.
    pub fn new(
        attendant: Option<&[String]>,
        pstn: bool,
        upstream: bool,
    ) -> Result<Sources, SourcesError> {
        let attendant = match attendant {
            None => None,
            Some(patterns) => Some(
                patterns
                    .iter()
                    .enumerate()
                    .map(|(index, pattern)| {
                        RegexBuilder::new(pattern)
                            .size_limit(MAX_REGEX_BYTES)
                            .build()
                            .map_err(|e| SourcesError::Pattern {
                                index,
                                pattern: pattern.clone(),
                                message: e.to_string(),
                            })
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        // A pattern that matches the empty string is found in every URI
        // (the search is unanchored), so it covers what the upstream would.
        let catch_all = attendant
            .as_ref()
            .is_some_and(|p| p.iter().any(|r| r.is_match("")));
        if !upstream && !catch_all {
            return Err(SourcesError::Uncovered);
        }
        Ok(Sources {
            attendant,
            pstn,
            upstream,
        })
    }

    /// Whether `kind` is enabled.
    pub fn enabled(&self, kind: SourceKind) -> bool {
        match kind {
            SourceKind::Attendant => self.attendant.is_some(),
            SourceKind::Pstn => self.pstn,
            SourceKind::Upstream => self.upstream,
        }
    }

    /// The attendant patterns as written (empty when disabled).
    pub fn attendant_patterns(&self) -> impl Iterator<Item = &str> {
        self.attendant.iter().flatten().map(Regex::as_str)
    }

    /// The source of `uri` (`sip:`, `sips:` or `tel:`; a bare
    /// `user@host` is read as `sip:`), with the reasoning.
    /// A `**PIN` suffix (a room's, `crate::pin`) is cut off first and
    /// never shown.
    pub fn choose(&self, uri: &str) -> Choice {
        let stripped = crate::pin::strip(uri);
        let uri = stripped.as_deref().unwrap_or(uri);
        let mut trace = Trace(Some(vec![(
            0,
            format!("Which presence source is used by {uri}?"),
        )]));
        let text = if uri.contains(':') {
            uri.to_owned()
        } else {
            format!("sip:{uri}")
        };
        let source = match sip::Uri::parse_str(&text) {
            Ok(parsed) => self.decide(&parsed, &mut trace),
            Err(e) => {
                trace.push(1, || {
                    format!("'{uri}' is not a SIP or tel URI ({e}): no source")
                });
                None
            }
        };
        Choice {
            source,
            steps: trace.0.unwrap_or_default(),
        }
    }

    /// The source of a presentity, without the reasoning (the runtime's
    /// question when a presentity gains its first watcher).
    pub fn source_of(&self, uri: &sip::Uri) -> Option<SourceKind> {
        self.decide(uri, &mut Trace(None))
    }

    fn decide(&self, uri: &sip::Uri, trace: &mut Trace) -> Option<SourceKind> {
        let aor = uri.aor();
        let source = self
            .attendant_step(&aor, trace)
            .or_else(|| self.pstn_step(uri, &aor, trace))
            .or_else(|| self.upstream_step(trace));
        if source.is_none() {
            trace.push(1, || "No source is left: no presence".to_owned());
        }
        source
    }

    fn attendant_step(&self, aor: &str, trace: &mut Trace) -> Option<SourceKind> {
        let kind = SourceKind::Attendant;
        let Some(patterns) = &self.attendant else {
            trace.push(1, || disabled(kind));
            return None;
        };
        trace.push(1, || enabled(kind));
        if patterns.is_empty() {
            trace.push(2, || "no pattern is configured".to_owned());
        }
        for pattern in patterns {
            let pattern_text = pattern.as_str();
            if pattern.is_match(aor) {
                trace.push(2, || {
                    format!("'{aor}' matches the pattern '{pattern_text}'")
                });
                trace.push(3, || used(kind));
                return Some(kind);
            }
            trace.push(2, || {
                format!("'{aor}' does not match the pattern '{pattern_text}'")
            });
        }
        None
    }

    fn pstn_step(&self, uri: &sip::Uri, aor: &str, trace: &mut Trace) -> Option<SourceKind> {
        let kind = SourceKind::Pstn;
        if !self.pstn {
            trace.push(1, || disabled(kind));
            return None;
        }
        trace.push(1, || enabled(kind));
        match line_of(uri) {
            Ok((number, how)) => {
                trace.push(2, || {
                    format!("'{aor}' matches an E164 lineuri ({number}; {how})")
                });
                trace.push(3, || used(kind));
                Some(kind)
            }
            Err(why) => {
                trace.push(2, || {
                    format!("'{aor}' does not match an E164 lineuri: {why}")
                });
                None
            }
        }
    }

    fn upstream_step(&self, trace: &mut Trace) -> Option<SourceKind> {
        let kind = SourceKind::Upstream;
        if !self.upstream {
            trace.push(1, || disabled(kind));
            return None;
        }
        trace.push(1, || enabled(kind));
        trace.push(2, || used(kind));
        Some(kind)
    }
}

/// The reasoning being written, or `None` when only the answer is
/// wanted (then no text is built).
struct Trace(Option<Vec<(usize, String)>>);

impl Trace {
    fn push(&mut self, depth: usize, line: impl FnOnce() -> String) {
        if let Some(steps) = &mut self.0 {
            steps.push((depth, line()));
        }
    }
}

/// The E.164 line a URI names, and how it was recognised; or why it is
/// none. A `sip:` presentity key has lost its parameters, so a user part
/// that is a global number (`sip:+31612345678@host`) counts as
/// `user=phone` too.
pub fn line_of(uri: &sip::Uri) -> Result<(e164::LineNumber, &'static str), String> {
    let user = uri
        .user()
        .map(|u| String::from_utf8_lossy(u).into_owned())
        .unwrap_or_default();
    match uri.scheme() {
        sip::uri::Scheme::Tel => e164::parse(&user)
            .map(|n| (n, "a tel: URI"))
            .map_err(|e| e.to_string()),
        sip::uri::Scheme::Sip | sip::uri::Scheme::Sips => {
            let phone = uri
                .params()
                .value("user")
                .is_some_and(|v| v.eq_ignore_ascii_case(b"phone"));
            let how = if phone {
                "a SIP URI with user=phone"
            } else if user.starts_with('+') {
                "a SIP URI whose user part is a global number (user=phone implied)"
            } else {
                return Err("it is a SIP URI without user=phone".to_owned());
            };
            // RFC 3966 §3: the number may carry its own parameters (;ext=…).
            let number = user.split(';').next().unwrap_or_default();
            e164::parse(number)
                .map(|n| (n, how))
                .map_err(|e| e.to_string())
        }
        sip::uri::Scheme::Other => Err("it is neither a tel: nor a SIP URI".to_owned()),
    }
}

/// A PSTN line's call state as the contact center reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallState {
    /// No call: the line can be offered one.
    Idle,
    /// A call is being offered to the line.
    Ringing,
    /// In a call.
    Connected,
    /// A call on hold: still the agent's.
    Held,
}

impl std::str::FromStr for CallState {
    type Err = String;

    fn from_str(s: &str) -> Result<CallState, String> {
        match s {
            "idle" => Ok(CallState::Idle),
            "ringing" => Ok(CallState::Ringing),
            "connected" => Ok(CallState::Connected),
            "held" => Ok(CallState::Held),
            other => Err(format!(
                "{other:?} is not a call state (idle, ringing, connected, held)"
            )),
        }
    }
}

impl CallState {
    /// The presence the PSTN source shows for the line (seed 004: "your
    /// PSTN Agents will not be called by a UCC if they are already in
    /// call"): Available while idle; Busy, on the phone, from the moment
    /// a call is offered until it ends, so no second call is offered.
    pub fn presence(self) -> presence::SyncState {
        use presence::availability::{Availability, CustomTexts, Lcid};
        let (availability, text) = match self {
            CallState::Idle => (Availability::new(3500), None),
            CallState::Ringing => (Availability::new(6500), Some("Ringing")),
            CallState::Connected => (Availability::new(6500), Some("In a call")),
            CallState::Held => (Availability::new(6500), Some("In a call (on hold)")),
        };
        let mut texts = CustomTexts::new();
        if let Some(text) = text {
            texts.insert(Lcid::EN_US, text);
        }
        presence::SyncState {
            availability,
            texts,
        }
    }
}

fn enabled(kind: SourceKind) -> String {
    format!("The {} is enabled", kind.seed_name())
}

fn disabled(kind: SourceKind) -> String {
    format!(
        "The {} is disabled ({}.enabled = false)",
        kind.seed_name(),
        kind.config_table()
    )
}

fn used(kind: SourceKind) -> String {
    format!("The {} is used", kind.seed_name())
}

#[cfg(test)]
mod tests;
