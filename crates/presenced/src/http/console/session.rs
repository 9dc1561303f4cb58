//! Console sessions and the login lockout, with explicit time (every rule
//! a unit test): a session is a random 256-bit token the browser keeps in
//! an `HttpOnly; SameSite=Strict` cookie, known here only by its SHA-256,
//! with its own CSRF token; it ends when unused for the idle time, at the
//! maximum age, or at logout. A user name that failed its password
//! `max_failures` times in a row is locked for the lockout time: no
//! password is even checked while it is locked, right or wrong.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::config::ConsoleSettings;

/// Most live sessions; the oldest goes when a login would exceed it, so
/// logins in a loop cannot fill memory.
pub const MAX_SESSIONS: usize = 1024;

/// Most user names whose failures are remembered (unknown names count
/// too, so guessing names cannot fill memory either).
pub const MAX_FAILURE_RECORDS: usize = 4096;

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Who logged in.
    pub user: String,
    /// The token every state-changing request must carry.
    pub csrf: String,
    created: Instant,
    last_seen: Instant,
}

/// Why a login was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Wrong user name or password.
    Wrong,
    /// Too many failures: locked until this long from now.
    Locked(Duration),
}

#[derive(Debug, Default, Clone, Copy)]
struct Failures {
    count: u32,
    locked_until: Option<Instant>,
}

/// Every live session and every user name's recent failures.
#[derive(Debug)]
pub struct Sessions {
    idle: Duration,
    max_age: Duration,
    max_failures: u32,
    lockout: Duration,
    by_token: HashMap<[u8; 32], Session>,
    failures: HashMap<String, Failures>,
}

/// The key a token is known by.
fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

impl Sessions {
    /// An empty table with the configured times.
    pub fn new(settings: &ConsoleSettings) -> Sessions {
        Sessions {
            idle: settings.session_idle,
            max_age: settings.session_max,
            max_failures: settings.max_failures,
            lockout: settings.lockout,
            by_token: HashMap::new(),
            failures: HashMap::new(),
        }
    }

    /// Whether `user` may try a password now; `Err` while it is locked.
    pub fn may_try(&mut self, user: &str, now: Instant) -> Result<(), Refused> {
        match self.failures.get_mut(user) {
            Some(f) => match f.locked_until {
                Some(until) if until > now => Err(Refused::Locked(until - now)),
                Some(_) => {
                    *f = Failures::default();
                    Ok(())
                }
                None => Ok(()),
            },
            None => Ok(()),
        }
    }

    /// Records a wrong password for `user`; returns the refusal to show
    /// (a lockout once the failures reach the limit).
    pub fn failed(&mut self, user: &str, now: Instant) -> Refused {
        if self.failures.len() >= MAX_FAILURE_RECORDS && !self.failures.contains_key(user) {
            self.failures
                .retain(|_, f| f.locked_until.is_some_and(|until| until > now));
        }
        if self.failures.len() >= MAX_FAILURE_RECORDS && !self.failures.contains_key(user) {
            // Full of live lockouts: refuse without remembering.
            return Refused::Wrong;
        }
        let f = self.failures.entry(user.to_owned()).or_default();
        f.count += 1;
        if f.count >= self.max_failures {
            f.locked_until = Some(now + self.lockout);
            return Refused::Locked(self.lockout);
        }
        Refused::Wrong
    }

    /// Opens a session for `user` (its password was right) under `token`
    /// with `csrf`; the user's failures are forgotten.
    pub fn open(&mut self, user: &str, token: &str, csrf: &str, now: Instant) {
        self.failures.remove(user);
        self.expire(now);
        if self.by_token.len() >= MAX_SESSIONS {
            if let Some(oldest) = self
                .by_token
                .iter()
                .min_by_key(|(_, s)| s.created)
                .map(|(k, _)| *k)
            {
                self.by_token.remove(&oldest);
            }
        }
        self.by_token.insert(
            key(token),
            Session {
                user: user.to_owned(),
                csrf: csrf.to_owned(),
                created: now,
                last_seen: now,
            },
        );
    }

    /// The live session of `token`, marked used now; `None` (and the
    /// session gone) when it is unknown, idle too long or too old.
    pub fn check(&mut self, token: &str, now: Instant) -> Option<Session> {
        let k = key(token);
        let session = self.by_token.get_mut(&k)?;
        let live = now.duration_since(session.last_seen) < self.idle
            && now.duration_since(session.created) < self.max_age;
        if !live {
            self.by_token.remove(&k);
            return None;
        }
        session.last_seen = now;
        Some(session.clone())
    }

    /// Ends the session of `token`.
    pub fn close(&mut self, token: &str) {
        self.by_token.remove(&key(token));
    }

    /// How many sessions are open.
    pub fn len(&self) -> usize {
        self.by_token.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.by_token.is_empty()
    }

    fn expire(&mut self, now: Instant) {
        let (idle, max_age) = (self.idle, self.max_age);
        self.by_token.retain(|_, s| {
            now.duration_since(s.last_seen) < idle && now.duration_since(s.created) < max_age
        });
    }
}

/// `n` random bytes from the OS as lowercase hex: session tokens, CSRF
/// tokens.
pub fn random_hex(n: usize) -> Result<String, getrandom::Error> {
    let mut bytes = vec![0u8; n];
    getrandom::fill(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn sessions() -> (Sessions, Instant) {
        let mut settings = Config::default().console;
        settings.session_idle = Duration::from_secs(60);
        settings.session_max = Duration::from_secs(300);
        settings.max_failures = 3;
        settings.lockout = Duration::from_secs(100);
        (Sessions::new(&settings), Instant::now())
    }

    #[test]
    fn sessions_end_when_idle_too_old_or_closed() {
        let (mut s, t0) = sessions();
        s.open("admin", "tok", "csrf", t0);
        let got = s.check("tok", t0 + Duration::from_secs(59)).unwrap();
        assert_eq!((got.user.as_str(), got.csrf.as_str()), ("admin", "csrf"));
        assert!(s.check("other", t0).is_none());
        // Used at 59 s: still live at 118 s, idle at 179 s.
        assert!(s.check("tok", t0 + Duration::from_secs(118)).is_some());
        assert!(s.check("tok", t0 + Duration::from_secs(179)).is_none());
        assert!(s.is_empty());
        // Kept busy, it still ends at the maximum age.
        s.open("admin", "tok2", "c", t0);
        for i in 1..=5 {
            assert!(s.check("tok2", t0 + Duration::from_secs(50 * i)).is_some());
        }
        assert!(s.check("tok2", t0 + Duration::from_secs(300)).is_none());
        s.open("admin", "tok3", "c", t0);
        s.close("tok3");
        assert!(s.check("tok3", t0).is_none());
    }

    #[test]
    fn repeated_failures_lock_the_name_for_the_lockout() {
        let (mut s, t0) = sessions();
        assert_eq!(s.may_try("admin", t0), Ok(()));
        assert_eq!(s.failed("admin", t0), Refused::Wrong);
        assert_eq!(s.failed("admin", t0), Refused::Wrong);
        assert_eq!(
            s.failed("admin", t0),
            Refused::Locked(Duration::from_secs(100))
        );
        assert_eq!(
            s.may_try("admin", t0 + Duration::from_secs(40)),
            Err(Refused::Locked(Duration::from_secs(60)))
        );
        // Another name is not affected.
        assert_eq!(s.may_try("ops", t0), Ok(()));
        // After the lockout, a fresh count.
        assert_eq!(s.may_try("admin", t0 + Duration::from_secs(100)), Ok(()));
        assert_eq!(s.failed("admin", t0), Refused::Wrong);
        // A success forgets the failures.
        s.open("admin", "tok", "c", t0);
        assert_eq!(s.failed("admin", t0), Refused::Wrong);
        assert_eq!(s.failed("admin", t0), Refused::Wrong);
    }

    #[test]
    fn the_tables_are_bounded() {
        let (mut s, t0) = sessions();
        for i in 0..MAX_SESSIONS + 10 {
            s.open(
                "admin",
                &format!("t{i}"),
                "c",
                t0 + Duration::from_millis(i as u64),
            );
        }
        assert_eq!(s.len(), MAX_SESSIONS);
        assert!(s.check("t0", t0).is_none(), "the oldest went first");
        for i in 0..MAX_FAILURE_RECORDS + 10 {
            s.failed(&format!("guess{i}"), t0);
        }
        assert!(s.failures.len() <= MAX_FAILURE_RECORDS);
        let tokens: Vec<String> = (0..2).map(|_| random_hex(32).unwrap()).collect();
        assert_eq!(tokens[0].len(), 64);
        assert_ne!(tokens[0], tokens[1]);
    }
}
