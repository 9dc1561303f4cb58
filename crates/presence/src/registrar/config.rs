//! What the registrar is configured with, and what the runtime passes
//! with each REGISTER.

use std::time::Duration;

/// The registrar's configuration; the runtime fills it from `[registrar]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrarConfig {
    /// Shortest expiry accepted; below it (and not 0) the REGISTER gets
    /// 423 with Min-Expires (§10.3 step 7). Default 60.
    pub min_expires: u32,
    /// Longest expiry granted; a longer request is granted this. Default
    /// 7200, what Lync grants, so Lync-dialect clients refresh as often as
    /// they would there.
    pub max_expires: u32,
    /// Expiry granted to a Contact with neither an `expires` parameter nor
    /// an Expires header: 3600, RFC 3261 §10.2.1.1's suggestion.
    pub default_expires: u32,
    /// A binding made over a TCP/TLS flow ends this long after the flow
    /// closes (default 30 s, as for publications).
    pub flow_grace: Duration,
    /// Most bindings one AOR may hold (default 16): every device of a user
    /// registers separately, so a real user has a handful; the bound keeps
    /// one misbehaving client from growing the table without limit.
    pub max_bindings: usize,
    /// Option tags this server supports in the sense of a registrar's 200:
    /// each one the client also lists is answered with its own Supported
    /// header.
    pub supported: Vec<String>,
    /// Event packages for the 200's Allow-Events (SIPE subscribes only to
    /// those listed). The runtime passes the packages it serves.
    pub allow_events: Vec<String>,
    /// How often (seconds) a client that sends `ms-keep-alive` should
    /// send its CRLF keep-alives, answered in the 200's `ms-keep-alive:
    /// UAS; …; timeout=N` ([MS-SIPRE]); `None` answers nothing. The
    /// runtime sets it below its idle-connection timeout, so a quiet
    /// signed-in client keeps its connection (and with it, its binding's
    /// flow) instead of being cut off and re-registering.
    pub keep_alive_secs: Option<u32>,
}

impl Default for RegistrarConfig {
    fn default() -> Self {
        RegistrarConfig {
            min_expires: 60,
            max_expires: 7200,
            default_expires: 3600,
            flow_grace: Duration::from_secs(30),
            max_bindings: 16,
            supported: [
                "adhoclist",
                "msrtc-event-categories",
                "com.microsoft.msrtc.presence",
            ]
            .map(String::from)
            .to_vec(),
            allow_events: [
                "vnd-microsoft-provisioning-v2",
                "vnd-microsoft-roaming-contacts",
                "vnd-microsoft-roaming-self",
                "presence",
                "presence.winfo",
            ]
            .map(String::from)
            .to_vec(),
            keep_alive_secs: None,
        }
    }
}

/// Who a REGISTER is known to come from: the seam where authentication
/// plugs in (RFC 3261 §10.3 steps 3 and 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Nobody checked (the server has no accounts): any AOR may be
    /// registered, as by a registrar without authentication.
    Unverified,
    /// An authenticated user, by AOR; it may change only that AOR's
    /// bindings.
    Verified(String),
}

/// What the runtime passes with a REGISTER.
#[derive(Debug, Clone)]
pub struct RegisterContext<F> {
    /// Opaque, echoed in [`crate::engine::Action::Respond`].
    pub txn: u64,
    /// The flow it came in on.
    pub flow: F,
    /// Whether that flow is TCP/TLS.
    pub reliable: bool,
    /// The To tag of the answer.
    pub to_tag: String,
    /// Who sent it, as established before the registrar.
    pub identity: Identity,
}
