//! The `[console]` section: who may log in to the web console on the
//! HTTP listener, and how sessions and lockouts behave.
//!
//! Off unless a user is configured. Passwords are stored as argon2 PHC
//! strings (`presenced hash-password` makes one), never in clear.
//!
//! ```toml
//! [console]
//! session_idle_secs = 1800     # a session unused this long ends
//! session_max_secs = 28800     # and every session ends after this
//! max_failures = 5             # wrong passwords in a row before a lockout
//! lockout_secs = 300           # how long a locked user name stays locked
//! cookie_secure = false        # mark the cookie Secure (behind an HTTPS proxy; always with [http] tls_cert)
//! [[console.users]]
//! name = "admin"
//! password_argon2 = "$argon2id$v=19$m=19456,t=2,p=1$..."
//! ```

use std::fmt;
use std::time::Duration;

use argon2::PasswordHash;
use serde::Deserialize;
use toml::Spanned;

use super::{unspanned, ConfigError, Source};

/// The `[console]` section, validated.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleSettings {
    /// Who may log in; empty turns the console off.
    pub users: Vec<ConsoleUser>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// Every session ends this long after its login.
    pub session_max: Duration,
    /// Wrong passwords in a row for one user name before it is locked.
    pub max_failures: u32,
    /// How long a locked user name stays locked.
    pub lockout: Duration,
    /// Whether the session cookie carries `Secure` (set, whatever the
    /// file says, when the HTTP listener serves HTTPS).
    pub cookie_secure: bool,
}

/// One console user.
#[derive(Clone, PartialEq, Eq)]
pub struct ConsoleUser {
    /// The login name.
    pub name: String,
    /// The argon2 PHC string of the password.
    pub password_argon2: String,
}

impl fmt::Debug for ConsoleSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.users.iter().map(|u| u.name.as_str()).collect();
        f.debug_struct("ConsoleSettings")
            .field("users", &names)
            .field("session_idle", &self.session_idle)
            .field("session_max", &self.session_max)
            .field("max_failures", &self.max_failures)
            .field("lockout", &self.lockout)
            .field("cookie_secure", &self.cookie_secure)
            .finish()
    }
}

impl ConsoleSettings {
    /// Whether the console is served (a user is configured).
    pub fn is_on(&self) -> bool {
        !self.users.is_empty()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawConsole {
    users: Vec<Spanned<RawUser>>,
    session_idle_secs: Spanned<u64>,
    session_max_secs: Spanned<u64>,
    max_failures: Spanned<u32>,
    lockout_secs: Spanned<u64>,
    cookie_secure: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    password_argon2: Spanned<String>,
}

impl Default for RawConsole {
    fn default() -> Self {
        RawConsole {
            users: Vec::new(),
            session_idle_secs: unspanned(1800),
            session_max_secs: unspanned(28_800),
            max_failures: unspanned(5),
            lockout_secs: unspanned(300),
            cookie_secure: false,
        }
    }
}

impl Source<'_> {
    pub(super) fn console(&self, raw: RawConsole) -> Result<ConsoleSettings, ConfigError> {
        let mut users: Vec<ConsoleUser> = Vec::new();
        for (i, user) in raw.users.iter().enumerate() {
            let user = user.get_ref();
            let field = format!("console.users[{i}]");
            let name = user.name.get_ref().trim();
            if name.is_empty() || name.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(self.error(
                    user.name.span().start,
                    &format!("{field}.name"),
                    "a user name is one word without spaces",
                ));
            }
            if users.iter().any(|u| u.name == name) {
                return Err(self.error(
                    user.name.span().start,
                    &format!("{field}.name"),
                    format!("user {name:?} is configured twice"),
                ));
            }
            let hash = user.password_argon2.get_ref().trim();
            let parsed = PasswordHash::new(hash).ok().filter(|h| {
                matches!(h.algorithm.as_str(), "argon2id" | "argon2i" | "argon2d")
                    && h.hash.is_some()
            });
            if parsed.is_none() {
                return Err(self.error(
                    user.password_argon2.span().start,
                    &format!("{field}.password_argon2"),
                    "not an argon2 PHC string ($argon2id$v=19$m=...$salt$hash); \
                     `presenced hash-password` makes one",
                ));
            }
            users.push(ConsoleUser {
                name: name.to_owned(),
                password_argon2: hash.to_owned(),
            });
        }
        let idle = self.range(
            "console.session_idle_secs",
            &raw.session_idle_secs,
            60,
            86_400,
        )?;
        let max = self.range(
            "console.session_max_secs",
            &raw.session_max_secs,
            idle,
            7 * 86_400,
        )?;
        let max_failures = self.range("console.max_failures", &raw.max_failures, 1, 100)?;
        let lockout = self.range("console.lockout_secs", &raw.lockout_secs, 1, 86_400)?;
        Ok(ConsoleSettings {
            users,
            session_idle: Duration::from_secs(idle),
            session_max: Duration::from_secs(max),
            max_failures,
            lockout: Duration::from_secs(lockout),
            cookie_secure: raw.cookie_secure,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::config::Config;

    /// A well-formed argon2id PHC string (what the checks look at).
    const HASH: &str =
        "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Sx5mJ8dGOO5JVHe0I4cDIOCyKUcwVE9dvYZ7hxcA0pk";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/etc/presenced/presenced.toml"), text)
    }

    #[test]
    fn off_without_users_and_the_hash_never_shown() {
        let c = Config::default().console;
        assert!(!c.is_on());
        assert_eq!(c.max_failures, 5);
        assert_eq!(c.lockout, Duration::from_secs(300));
        let c = parse(&format!(
            "[console]\nlockout_secs = 60\n[[console.users]]\nname = \"admin\"\npassword_argon2 = \"{HASH}\"\n"
        ))
        .unwrap()
        .console;
        assert!(c.is_on());
        assert_eq!(c.users[0].name, "admin");
        assert_eq!(c.lockout, Duration::from_secs(60));
        assert!(!format!("{c:?}").contains("argon2id"), "{c:?}");
    }

    #[test]
    fn bad_users_name_the_field() {
        let e = |text: &str| parse(text).unwrap_err().to_string();
        assert!(
            e("[[console.users]]\nname = \"admin\"\npassword_argon2 = \"hunter2\"\n")
                .contains(":3:19: console.users[0].password_argon2: not an argon2 PHC string")
        );
        assert!(e(&format!(
            "[[console.users]]\nname = \"a b\"\npassword_argon2 = \"{HASH}\"\n"
        ))
        .contains("console.users[0].name: a user name is one word"));
        assert!(e(&format!(
            "[[console.users]]\nname = \"a\"\npassword_argon2 = \"{HASH}\"\n\
             [[console.users]]\nname = \"a\"\npassword_argon2 = \"{HASH}\"\n"
        ))
        .contains("console.users[1].name: user \"a\" is configured twice"));
        assert!(
            e("[console]\nmax_failures = 0\n").contains("console.max_failures: 0 is out of range")
        );
    }
}
