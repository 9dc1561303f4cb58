//! Who is speaking: SIP digest authentication (RFC 3261 §22, RFC 8760,
//! RFC 7616) and trusted peers (RFC 3325 P-Asserted-Identity), sans-IO.
//!
//! The core asks [`Authenticator::check`] about every request the router
//! hands to a service (REGISTER, PUBLISH, SUBSCRIBE, SERVICE) before the
//! service sees it, with the request's origin and the time. The answer is
//! a [`Principal`] (a signed-in user, or a trusted peer and the identity
//! it asserts) or a [`Refusal`] to send instead:
//!
//! - no credentials: 401 with two challenges, SHA-256 first and MD5 second
//!   (RFC 8760 §2.4: the client takes the first it knows), `qop="auth"`,
//!   and a nonce bound to time and the server's secret ([`nonce`]); 407
//!   when the client spoke to us as a proxy (it sent Proxy-Authorization);
//! - a wrong password or an unknown user: 403, never a 200 and never a
//!   new challenge to guess against;
//! - the right password with an expired nonce (or one from before a
//!   restart): 401 `stale=true`, which clients answer without asking
//!   their user;
//! - the right password with a nonce count used before: a replay, 401
//!   with a fresh nonce (the replayer cannot answer it).
//!
//! What a principal may then do is [`rights`]'s business. Peers are
//! recognised by source address or by the names of the client
//! certificate mutual TLS verified; their P-Asserted-Identity is believed
//! only for the identities the configuration lets them assert, and
//! ignored from everyone else.

pub mod nonce;
pub mod rights;
mod settings;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::SystemTime;

use sip::digest::{self, Algorithm, Challenge, Qop, Secret};
use sip::typed::NameAddr;
use sip::{Header, HeaderAccess, HeaderName, Request, Response};

pub use nonce::{NonceCheck, Nonces};
pub use settings::{AuthSettings, Identities, Network, TrustedPeer, User};

/// Nonces whose counts are remembered at most (about 40 bytes each).
const NONCE_CAPACITY: usize = 100_000;

/// The header that carries a trusted peer's assertion (RFC 3325 §9.1).
const P_ASSERTED_IDENTITY: &str = "P-Asserted-Identity";

/// Where a request came from, as the transport knows it.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// The peer's address.
    pub addr: IpAddr,
    /// DNS names of the client certificate mutual TLS verified; empty
    /// otherwise.
    pub certificate_names: &'a [String],
}

/// Users who sign in besides `[[auth.users]]`: the directory's
/// ([`crate::directory`]), looked up by digest username after the
/// configured users, as of its last refresh (a user deleted from LDAP can
/// no longer sign in once the next refresh is in).
pub trait UserDirectory: Send + Sync + std::fmt::Debug {
    /// The user who signs in as `username`, if any.
    fn user(&self, username: &str) -> Option<Arc<User>>;
}

/// Who a request speaks for, once checked.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A user who answered a challenge with the right password.
    User(Arc<User>),
    /// A trusted peer, and the identity it asserted (or the From's, when it
    /// asserted none).
    Peer {
        /// The peer.
        peer: Arc<TrustedPeer>,
        /// The asserted AOR, normalized.
        asserted: String,
    },
}

impl Principal {
    /// The AOR the request speaks as.
    pub fn identity(&self) -> &str {
        match self {
            Principal::User(user) => &user.aor,
            Principal::Peer { asserted, .. } => asserted,
        }
    }

    /// True when it may publish and register for `aor`: itself, a
    /// delegate right, or a peer's configured users.
    pub fn may_act_for(&self, aor: &str) -> bool {
        match self {
            Principal::User(user) => user.aor == aor || user.publish_for.contains(aor),
            Principal::Peer { peer, .. } => peer.may_assert.contains(aor),
        }
    }

    /// For logs: `user alice` or `peer contact-center`.
    pub fn describe(&self) -> String {
        match self {
            Principal::User(user) => format!("user {}", user.username),
            Principal::Peer { peer, asserted } => format!("peer {} as {asserted}", peer.name),
        }
    }
}

/// A request not let through, and the answer to send instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// 401, 403, 407 or 400.
    pub status: u16,
    /// The reason phrase: says why, so a person reading a trace knows.
    pub reason: &'static str,
    /// The reason as a stable label, for `presenced_refusals_total` and
    /// the refusal log ([`crate::refusal_log`]); [`CHALLENGE`] for a
    /// plain challenge.
    pub label: &'static str,
    /// Challenges to send (in order), as WWW-Authenticate (401) or
    /// Proxy-Authenticate (407) values.
    pub challenges: Vec<String>,
    /// What to log (never a password or a digest).
    pub why: String,
}

/// The label of a plain challenge: not a refusal worth logging.
pub const CHALLENGE: &str = "challenge";

impl Refusal {
    fn forbidden(reason: &'static str, label: &'static str, why: String) -> Refusal {
        Refusal {
            status: 403,
            reason,
            label,
            challenges: Vec::new(),
            why,
        }
    }

    /// The response to `req`.
    pub fn response(&self, req: &Request, to_tag: &str) -> Response {
        let mut resp =
            Response::to_request(req, self.status, Some(to_tag)).with_reason(self.reason);
        let name = if self.status == 407 {
            HeaderName::ProxyAuthenticate
        } else {
            HeaderName::WwwAuthenticate
        };
        for challenge in &self.challenges {
            resp.headers.push(Header::new(name, challenge.clone()));
        }
        resp
    }

    /// True for a plain challenge (no credentials yet): every client's
    /// first request gets one, so it is neither a refusal worth a log line
    /// nor one to count by reason. A stale nonce is logged (once per
    /// source per interval): a client that keeps answering with stale
    /// nonces is stuck or replaying.
    pub fn is_routine(&self) -> bool {
        self.label == CHALLENGE
    }
}

/// The authentication policy of one realm.
#[derive(Debug)]
pub struct Authenticator {
    realm: String,
    algorithms: Vec<Algorithm>,
    md5_only_user_agents: Vec<String>,
    users: sip::hash::HashMap<String, Arc<User>>,
    /// Consulted after `users`.
    directory: Option<Arc<dyn UserDirectory>>,
    peers: Vec<Arc<TrustedPeer>>,
    nonces: Nonces,
}

impl Authenticator {
    /// A policy from the configuration and a secret for the nonces
    /// (random per process: nonces from before a restart are then
    /// answered `stale=true`, which clients handle silently).
    pub fn new(settings: &AuthSettings, secret: [u8; 32]) -> Authenticator {
        let mut users = sip::hash::map();
        for user in &settings.users {
            users.insert(user.username.clone(), Arc::new(user.clone()));
        }
        Authenticator {
            realm: settings.realm.clone(),
            algorithms: settings.algorithms.clone(),
            md5_only_user_agents: settings.md5_only_user_agents.clone(),
            users,
            directory: None,
            peers: settings
                .trusted_peers
                .iter()
                .cloned()
                .map(Arc::new)
                .collect(),
            nonces: Nonces::new(
                secret,
                &settings.realm,
                settings.nonce_lifetime,
                NONCE_CAPACITY,
            ),
        }
    }

    /// Also signs in the users of `directory`, after the configured ones
    /// (a configured user with the same username wins). Rights are the
    /// same: a directory user acts only as itself.
    pub fn with_directory(mut self, directory: Arc<dyn UserDirectory>) -> Authenticator {
        self.directory = Some(directory);
        self
    }

    /// The user who signs in as `username`: configured, else the
    /// directory's.
    fn user(&self, username: &str) -> Option<Arc<User>> {
        self.users
            .get(username)
            .cloned()
            .or_else(|| self.directory.as_ref()?.user(username))
    }

    /// Decides who `req` speaks for, or how to refuse it.
    pub fn check(
        &mut self,
        req: &Request,
        origin: Origin<'_>,
        now: SystemTime,
    ) -> Result<Principal, Refusal> {
        if let Some(peer) = self.peer(origin) {
            return assert_identity(peer, req);
        }
        let proxy = req.headers.get(HeaderName::Authorization).is_none()
            && req.headers.get(HeaderName::ProxyAuthorization).is_some();
        let name = if proxy {
            HeaderName::ProxyAuthorization
        } else {
            HeaderName::Authorization
        };
        // Credentials for another realm (a proxy's on the way) are not ours.
        let answer = req
            .headers
            .all(name)
            .filter_map(|h| std::str::from_utf8(&h.value).ok())
            .filter_map(|v| digest::Authorization::parse(v).ok())
            .find(|a| a.realm == self.realm);
        let Some(answer) = answer else {
            return Err(self.challenge(req, proxy, false, now, "no credentials".into()));
        };
        let Some(user) = self.user(&answer.username) else {
            return Err(Refusal::forbidden(
                "Wrong credentials",
                "wrong_credentials",
                format!("unknown user {:?}", answer.username),
            ));
        };
        let hash = match answer.algorithm {
            Algorithm::Sha256 => user.ha1_sha256.as_deref(),
            Algorithm::Md5 => user.ha1_md5.as_deref(),
            Algorithm::Md5Sess | Algorithm::Sha256Sess => None,
        };
        let Some(hex) = hash else {
            return Err(Refusal::forbidden(
                "No credentials for this algorithm",
                "no_credentials_for_algorithm",
                format!(
                    "user {} answered with {}, which has no stored HA1",
                    user.username, answer.algorithm
                ),
            ));
        };
        let (Some(Qop::Auth | Qop::AuthInt), Some(nc)) = (answer.qop, answer.nc) else {
            // Without qop there is no nonce count, so no replay protection.
            return Err(Refusal::forbidden(
                "Digest without qop refused",
                "digest_without_qop",
                format!("user {} answered without qop", user.username),
            ));
        };
        if answer.uri != req.uri.to_string() {
            return Err(Refusal {
                status: 400,
                reason: "Digest uri does not match the Request-URI",
                label: "digest_uri_mismatch",
                challenges: Vec::new(),
                why: format!("digest uri {:?} is not {}", answer.uri, req.uri),
            });
        }
        let secret = Secret::Ha1 {
            algorithm: answer.algorithm,
            hex,
        };
        let method = String::from_utf8_lossy(req.method.as_bytes());
        if !answer.verify(&method, &req.body, secret) {
            return Err(Refusal::forbidden(
                "Wrong credentials",
                "wrong_credentials",
                format!("wrong password for user {}", user.username),
            ));
        }
        // A stale nonce is answered with a fresh challenge (stale=true:
        // clients retry without asking their user); a replayed count with a
        // fresh challenge too, which the replayer cannot answer.
        let (stale, reason, label, why) = match self.nonces.check(&answer.nonce, nc, now) {
            NonceCheck::Fresh => return Ok(Principal::User(user)),
            NonceCheck::Stale | NonceCheck::Foreign => (
                true,
                None,
                "stale_nonce",
                format!("stale nonce from user {}", user.username),
            ),
            NonceCheck::Replayed => (
                false,
                Some("Replayed nonce count"),
                "replayed_nonce",
                format!("replayed nonce count {nc} for user {}", user.username),
            ),
        };
        let mut refusal = self.challenge(req, proxy, stale, now, why);
        refusal.reason = reason.unwrap_or(refusal.reason);
        refusal.label = label;
        Err(refusal)
    }

    /// The trusted peer `origin` is, if any.
    fn peer(&self, origin: Origin<'_>) -> Option<Arc<TrustedPeer>> {
        self.peers
            .iter()
            .find(|p| {
                p.addresses.iter().any(|n| n.contains(origin.addr))
                    || origin
                        .certificate_names
                        .iter()
                        .any(|name| p.certificate_names.contains(name))
            })
            .cloned()
    }

    /// A 401 (or 407) with a new nonce, one challenge per configured
    /// algorithm (SHA-256 then MD5 by default), MD5 alone for the user
    /// agents that cannot skip a challenge they do not know.
    fn challenge(
        &mut self,
        req: &Request,
        proxy: bool,
        stale: bool,
        now: SystemTime,
        why: String,
    ) -> Refusal {
        let nonce = self.nonces.mint(now);
        let md5_only = req.headers.value(HeaderName::UserAgent).is_some_and(|ua| {
            let ua = ua.to_ascii_lowercase();
            self.md5_only_user_agents
                .iter()
                .any(|prefix| ua.starts_with(prefix.as_bytes()))
        });
        let challenges = self
            .algorithms
            .iter()
            .copied()
            .filter(|a| !md5_only || *a == Algorithm::Md5)
            .map(|algorithm| {
                Challenge {
                    realm: self.realm.clone(),
                    nonce: nonce.clone(),
                    opaque: None,
                    algorithm,
                    qop: vec![Qop::Auth],
                    stale,
                }
                .to_header_value()
            })
            .collect();
        Refusal {
            status: if proxy { 407 } else { 401 },
            reason: if proxy {
                "Proxy Authentication Required"
            } else {
                "Unauthorized"
            },
            label: CHALLENGE,
            challenges,
            why,
        }
    }
}

/// A trusted peer's request: the identity it asserts (P-Asserted-Identity,
/// else the From), if the configuration lets it.
fn assert_identity(peer: Arc<TrustedPeer>, req: &Request) -> Result<Principal, Refusal> {
    let asserted = match req.headers.get_other(P_ASSERTED_IDENTITY) {
        Some(h) => NameAddr::parse(&h.value).map(|n| n.uri.aor()),
        None => req.header_from().map(|n| n.uri.aor()),
    };
    let Ok(asserted) = asserted else {
        return Err(Refusal {
            status: 400,
            reason: "Unreadable asserted identity",
            label: "unreadable_identity",
            challenges: Vec::new(),
            why: format!("peer {}: unreadable P-Asserted-Identity or From", peer.name),
        });
    };
    if !peer.may_assert.contains(&asserted) {
        return Err(Refusal::forbidden(
            "Peer may not assert this identity",
            "peer_may_not_assert",
            format!("peer {} may not assert {asserted}", peer.name),
        ));
    }
    Ok(Principal::Peer { peer, asserted })
}

#[cfg(test)]
mod tests;
