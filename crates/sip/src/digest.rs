//! HTTP Digest authentication as SIP uses it (RFC 3261 §22.4, RFC 8760
//! for SHA-256, RFC 7616 for the algorithm and `-sess` rules, RFC 2617
//! for `qop`): reading challenges, answering them, and checking answers.
//!
//! Both ends need it. presenced answers an upstream presence server's 401
//! or 407 when it subscribes as the presence provider, and challenges its
//! own users before they may register or publish. Neither side keeps
//! state here: the caller supplies the client nonce and the nonce count
//! (so tests are deterministic and the runtime owns randomness), and a
//! server checks a response against a stored HA1, never a clear password.
//!
//! Not here: choosing when to challenge, binding nonces to time, and
//! replay windows — those are a server's policy on top of [`Authorization`].

use std::fmt::{self, Write as _};

use md5::Md5;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::grammar;

/// A digest algorithm (RFC 7616 §3.2; RFC 8760 for SIP).
///
/// `-sess` variants fold the nonces into HA1, so a stored HA1 alone
/// cannot answer them; they exist for peers that ask for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// MD5: what every SIP client knows (RFC 2617).
    Md5,
    /// MD5 with the nonces in HA1.
    Md5Sess,
    /// SHA-256 (RFC 8760): what a modern peer should be offered first.
    Sha256,
    /// SHA-256 with the nonces in HA1.
    Sha256Sess,
}

impl Algorithm {
    /// The token on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Reads the token, case-insensitively (RFC 7616 §3.3: tokens).
    pub fn parse(s: &str) -> Option<Algorithm> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }

    /// True for the `-sess` variants.
    pub fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// The hex digest of the parts joined with `:`.
    fn hash(self, parts: &[&[u8]]) -> String {
        fn run<D: sha2::Digest>(parts: &[&[u8]]) -> String {
            let mut d = D::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    d.update(b":");
                }
                d.update(p);
            }
            hex(&d.finalize())
        }
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => run::<Md5>(parts),
            Algorithm::Sha256 | Algorithm::Sha256Sess => run::<Sha256>(parts),
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        // Writing to a String cannot fail.
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Quality of protection (RFC 2617 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// The request line is protected.
    Auth,
    /// The body too.
    AuthInt,
}

impl Qop {
    /// The token on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }

    fn parse(s: &str) -> Option<Qop> {
        if s.eq_ignore_ascii_case("auth") {
            Some(Qop::Auth)
        } else if s.eq_ignore_ascii_case("auth-int") {
            Some(Qop::AuthInt)
        } else {
            None
        }
    }
}

/// Why a digest header could not be read or answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The scheme is not `Digest`.
    #[error("not a Digest challenge or response")]
    NotDigest,
    /// The parameter list does not parse.
    #[error("malformed {0} parameter list")]
    Malformed(&'static str),
    /// A required parameter is absent.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A parameter has a value this side cannot use.
    #[error("unsupported {name}: {value}")]
    Unsupported {
        /// Which parameter.
        name: &'static str,
        /// Its value.
        value: String,
    },
    /// A stored HA1 cannot answer a `-sess` challenge or one of another
    /// algorithm.
    #[error("the stored HA1 does not fit algorithm {0}")]
    WrongSecret(Algorithm),
}

/// A `WWW-Authenticate` or `Proxy-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; shown to users and part of HA1.
    pub realm: String,
    /// The server's nonce.
    pub nonce: String,
    /// Echoed back unchanged.
    pub opaque: Option<String>,
    /// MD5 when absent (RFC 2617 §3.2.1).
    pub algorithm: Algorithm,
    /// The qop values offered; empty for an RFC 2069 challenge.
    pub qop: Vec<Qop>,
    /// True when the previous answer was right but its nonce too old: the
    /// client retries with the new nonce without asking for a password.
    pub stale: bool,
}

impl Challenge {
    /// Reads a challenge header value. A challenge with an algorithm this
    /// side does not know is an [`DigestError::Unsupported`] error, so a
    /// client can skip it for the next one (RFC 8760 §2.4).
    pub fn parse(value: &str) -> Result<Challenge, DigestError> {
        let params = digest_params(value, "challenge")?;
        let algorithm = params.algorithm()?;
        // qop is a quoted, comma-separated list; unknown values are skipped.
        let qop = params
            .get("qop")
            .map(|q| q.split(',').filter_map(|t| Qop::parse(t.trim())).collect())
            .unwrap_or_default();
        Ok(Challenge {
            realm: params.required("realm")?,
            nonce: params.required("nonce")?,
            opaque: params.get("opaque").map(str::to_owned),
            algorithm,
            qop,
            stale: params
                .get("stale")
                .is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// The challenge as a header value, for a server's 401 or 407.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest realm={}, nonce={}",
            quote(&self.realm),
            quote(&self.nonce)
        );
        if let Some(opaque) = &self.opaque {
            let _ = write!(s, ", opaque={}", quote(opaque));
        }
        let _ = write!(s, ", algorithm={}", self.algorithm);
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(|q| q.as_str()).collect();
            let _ = write!(s, ", qop={}", quote(&list.join(",")));
        }
        if self.stale {
            s.push_str(", stale=true");
        }
        s
    }
}

/// Picks the challenge to answer from those a response carries, in their
/// order: the first whose algorithm this side supports (RFC 8760 §2.4;
/// servers list their preferred algorithm first). Unreadable ones are
/// skipped.
pub fn choose<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values.into_iter().find_map(|v| Challenge::parse(v).ok())
}

/// What proves the user's identity.
#[derive(Debug, Clone, Copy)]
pub enum Secret<'a> {
    /// The password itself (a client's configured upstream credentials).
    Password(&'a str),
    /// `H(username:realm:password)` in hex, as a server stores it; only
    /// good for the algorithm it was made with, and not for `-sess`.
    Ha1 {
        /// The algorithm of the hash.
        algorithm: Algorithm,
        /// Lower-case hex.
        hex: &'a str,
    },
}

/// `H(username:realm:password)`, the value a server stores instead of the
/// password (RFC 8760 §2.3 suggests keeping one per algorithm).
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    algorithm.hash(&[username.as_bytes(), realm.as_bytes(), password.as_bytes()])
}

/// What the client puts in a request's answer besides the challenge.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The request's method, as on the request line.
    pub method: &'a str,
    /// The digest-uri: the Request-URI as sent.
    pub uri: &'a str,
    /// The body, for `auth-int`.
    pub body: &'a [u8],
}

/// An `Authorization` or `Proxy-Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Who.
    pub username: String,
    /// The realm answered.
    pub realm: String,
    /// The server's nonce answered.
    pub nonce: String,
    /// The digest-uri.
    pub uri: String,
    /// The hex response.
    pub response: String,
    /// The algorithm used.
    pub algorithm: Algorithm,
    /// The client nonce (with qop).
    pub cnonce: Option<String>,
    /// Echoed from the challenge.
    pub opaque: Option<String>,
    /// The qop used, if the challenge offered one.
    pub qop: Option<Qop>,
    /// The nonce count (with qop): how many requests used this nonce.
    pub nc: Option<u32>,
}

impl Authorization {
    /// Answers `challenge` for `request` (RFC 2617 §3.2.2, RFC 7616 §3.4).
    /// `cnonce` and `nc` come from the caller: a fresh random client
    /// nonce, and the count of requests sent with this server nonce.
    /// `auth` is preferred when offered; `auth-int` is used only when it is
    /// the only qop offered.
    pub fn answer(
        challenge: &Challenge,
        request: Request<'_>,
        username: &str,
        secret: Secret<'_>,
        cnonce: &str,
        nc: u32,
    ) -> Result<Authorization, DigestError> {
        let qop = if challenge.qop.contains(&Qop::Auth) {
            Some(Qop::Auth)
        } else if challenge.qop.contains(&Qop::AuthInt) {
            Some(Qop::AuthInt)
        } else {
            None
        };
        let mut auth = Authorization {
            username: username.to_owned(),
            realm: challenge.realm.clone(),
            nonce: challenge.nonce.clone(),
            uri: request.uri.to_owned(),
            response: String::new(),
            algorithm: challenge.algorithm,
            cnonce: qop.map(|_| cnonce.to_owned()),
            opaque: challenge.opaque.clone(),
            qop,
            nc: qop.map(|_| nc),
        };
        let ha1 = auth.session_ha1(secret)?;
        auth.response = auth.expected(&ha1, request.method, request.body);
        Ok(auth)
    }

    /// Reads an `Authorization` header value.
    pub fn parse(value: &str) -> Result<Authorization, DigestError> {
        let params = digest_params(value, "credentials")?;
        let algorithm = params.algorithm()?;
        let qop = match params.get("qop") {
            None => None,
            Some(q) => Some(Qop::parse(q).ok_or_else(|| DigestError::Unsupported {
                name: "qop",
                value: q.to_owned(),
            })?),
        };
        let nc = match params.get("nc") {
            None => None,
            Some(n) => Some(
                u32::from_str_radix(n, 16).map_err(|_| DigestError::Unsupported {
                    name: "nc",
                    value: n.to_owned(),
                })?,
            ),
        };
        let auth = Authorization {
            username: params.required("username")?,
            realm: params.required("realm")?,
            nonce: params.required("nonce")?,
            uri: params.required("uri")?,
            response: params.required("response")?,
            algorithm,
            cnonce: params.get("cnonce").map(str::to_owned),
            opaque: params.get("opaque").map(str::to_owned),
            qop,
            nc,
        };
        // RFC 2617 §3.2.2: with qop, cnonce and nc are required.
        if auth.qop.is_some() {
            if auth.cnonce.is_none() {
                return Err(DigestError::Missing("cnonce"));
            }
            if auth.nc.is_none() {
                return Err(DigestError::Missing("nc"));
            }
        }
        Ok(auth)
    }

    /// True when the response is the one `secret` gives for `method` (and
    /// `body`, under auth-int), compared in constant time. Whether the
    /// nonce is fresh and the count new is the caller's policy.
    pub fn verify(&self, method: &str, body: &[u8], secret: Secret<'_>) -> bool {
        let Ok(ha1) = self.session_ha1(secret) else {
            return false;
        };
        let expected = self.expected(&ha1, method, body);
        let given = self.response.to_ascii_lowercase();
        expected.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// The header value.
    pub fn to_header_value(&self) -> String {
        let mut s = format!(
            "Digest username={}, realm={}, nonce={}, uri={}, response={}, algorithm={}",
            quote(&self.username),
            quote(&self.realm),
            quote(&self.nonce),
            quote(&self.uri),
            quote(&self.response),
            self.algorithm
        );
        if let Some(cnonce) = &self.cnonce {
            let _ = write!(s, ", cnonce={}", quote(cnonce));
        }
        if let Some(opaque) = &self.opaque {
            let _ = write!(s, ", opaque={}", quote(opaque));
        }
        if let Some(qop) = self.qop {
            let _ = write!(s, ", qop={}", qop.as_str());
        }
        if let Some(nc) = self.nc {
            let _ = write!(s, ", nc={nc:08x}");
        }
        s
    }

    /// HA1 for this answer: from the password, or the stored hash, with
    /// the nonces folded in for `-sess`.
    fn session_ha1(&self, secret: Secret<'_>) -> Result<String, DigestError> {
        let base = match secret {
            Secret::Password(p) => ha1(self.algorithm, &self.username, &self.realm, p),
            // A stored HA1 is the plain algorithm's; the -sess form needs
            // the nonces, which it can take, but only of its own hash.
            Secret::Ha1 { algorithm, hex } => {
                let plain = match self.algorithm {
                    Algorithm::Md5Sess => Algorithm::Md5,
                    Algorithm::Sha256Sess => Algorithm::Sha256,
                    a => a,
                };
                if algorithm != plain {
                    return Err(DigestError::WrongSecret(self.algorithm));
                }
                hex.to_ascii_lowercase()
            }
        };
        if !self.algorithm.is_session() {
            return Ok(base);
        }
        let cnonce = self.cnonce.as_deref().unwrap_or("");
        Ok(self
            .algorithm
            .hash(&[base.as_bytes(), self.nonce.as_bytes(), cnonce.as_bytes()]))
    }

    /// The response value for `ha1`.
    fn expected(&self, ha1: &str, method: &str, body: &[u8]) -> String {
        let ha2 = match self.qop {
            Some(Qop::AuthInt) => {
                let body_hash = self.algorithm.hash(&[body]);
                self.algorithm
                    .hash(&[method.as_bytes(), self.uri.as_bytes(), body_hash.as_bytes()])
            }
            _ => self
                .algorithm
                .hash(&[method.as_bytes(), self.uri.as_bytes()]),
        };
        match (self.qop, &self.cnonce, self.nc) {
            (Some(qop), Some(cnonce), Some(nc)) => {
                let nc = format!("{nc:08x}");
                self.algorithm.hash(&[
                    ha1.as_bytes(),
                    self.nonce.as_bytes(),
                    nc.as_bytes(),
                    cnonce.as_bytes(),
                    qop.as_str().as_bytes(),
                    ha2.as_bytes(),
                ])
            }
            // RFC 2069 compatibility: no qop.
            _ => self
                .algorithm
                .hash(&[ha1.as_bytes(), self.nonce.as_bytes(), ha2.as_bytes()]),
        }
    }
}

/// The auth-params of a `Digest` header value, unquoted.
struct Params(Vec<(String, String)>);

impl Params {
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `algorithm` parameter; MD5 when absent (RFC 2617 §3.2.1).
    fn algorithm(&self) -> Result<Algorithm, DigestError> {
        match self.get("algorithm") {
            None => Ok(Algorithm::Md5),
            Some(a) => Algorithm::parse(a).ok_or_else(|| DigestError::Unsupported {
                name: "algorithm",
                value: a.to_owned(),
            }),
        }
    }

    fn required(&self, name: &'static str) -> Result<String, DigestError> {
        self.get(name)
            .map(str::to_owned)
            .ok_or(DigestError::Missing(name))
    }
}

/// Splits `Digest a=b, c="d"` into its parameters (RFC 3261 §25.1
/// `digest-cln`; RFC 7235 auth-param).
fn digest_params(value: &str, what: &'static str) -> Result<Params, DigestError> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(char::is_whitespace).unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    let bytes = rest.as_bytes();
    let parts = grammar::split_commas(bytes).map_err(|_| DigestError::Malformed(what))?;
    let mut params = Vec::with_capacity(parts.len());
    for (a, b) in parts {
        let part = rest.get(a..b).ok_or(DigestError::Malformed(what))?.trim();
        if part.is_empty() {
            continue;
        }
        let (name, raw) = part.split_once('=').ok_or(DigestError::Malformed(what))?;
        let name = name.trim();
        if !grammar::is_token_str(name.as_bytes()) {
            return Err(DigestError::Malformed(what));
        }
        params.push((
            name.to_owned(),
            unquote(raw.trim()).ok_or(DigestError::Malformed(what))?,
        ));
    }
    Ok(Params(params))
}

/// A token as is, or a quoted-string without its quotes and escapes.
fn unquote(raw: &str) -> Option<String> {
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(raw.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// A quoted-string, escaping `"` and `\`.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests;
