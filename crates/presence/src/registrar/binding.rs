//! One binding in memory, and the GRUUs (RFC 5627) that name it.

use std::sync::Arc;
use std::time::SystemTime;

use crate::flow::Flow;
use crate::publication::{fnv1a, to_ms};
use crate::store::BindingRecord;

/// One binding of an AOR (RFC 3261 §10.3), as the registrar keeps it.
///
/// Laid out for the capacity budget (../shared/DESIGN.md: 400 000
/// registrations at under 1 KiB each): the key is shared with the
/// registrar's indexes, the instance id *is* the key when there is one,
/// the GRUU token is a number, and the strings are boxed slices.
#[derive(Debug, Clone)]
pub(crate) struct Binding<F> {
    /// [`crate::store::BindingRecord::key`].
    pub(crate) key: Arc<str>,
    /// Whether `key` is the `+sip.instance` value (else the Contact URI).
    pub(crate) has_instance: bool,
    /// The Microsoft-style GRUU token of the instance.
    pub(crate) epid: Option<u64>,
    pub(crate) contact: Box<str>,
    pub(crate) call_id: Box<str>,
    pub(crate) cseq: u32,
    pub(crate) reliable: bool,
    pub(crate) expires_at: SystemTime,
    /// Set once the binding's TCP/TLS flow has closed: the binding ends
    /// then at the latest.
    pub(crate) grace_ends: Option<SystemTime>,
    pub(crate) flow: F,
}

impl<F: Flow> Binding<F> {
    /// When the binding ends: its expiry, or the end of its flow's grace
    /// period if that comes first.
    pub(crate) fn ends(&self) -> SystemTime {
        self.grace_ends
            .map_or(self.expires_at, |g| g.min(self.expires_at))
    }

    /// The `+sip.instance` value, if the UA sent one.
    pub(crate) fn instance(&self) -> Option<&str> {
        self.has_instance.then_some(&*self.key)
    }

    /// The flow whose closing must reach this binding, if any.
    pub(crate) fn watches_flow(&self) -> Option<&F> {
        (self.reliable && self.grace_ends.is_none()).then_some(&self.flow)
    }

    pub(crate) fn record(&self, aor: &str) -> BindingRecord<F> {
        BindingRecord {
            aor: aor.to_owned(),
            key: self.key.to_string(),
            contact: self.contact.to_string(),
            instance: self.instance().map(str::to_owned),
            call_id: self.call_id.to_string(),
            cseq: self.cseq,
            expires_at_ms: to_ms(self.expires_at),
            flow: self.flow.clone(),
            reliable: self.reliable,
        }
    }

    pub(crate) fn target(&self, aor: &str) -> Target<F> {
        Target {
            aor: aor.to_owned(),
            contact: self.contact.to_string(),
            instance: self.instance().map(str::to_owned),
            flow: self.flow.clone(),
            reliable: self.reliable,
            connected: !self.reliable || self.grace_ends.is_none(),
        }
    }
}

/// Where a request for a registered user goes: one live binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target<F> {
    /// The AOR the binding belongs to.
    pub aor: String,
    /// The registered Contact URI (the Request-URI of a request sent to
    /// this binding).
    pub contact: String,
    /// The UA instance (`+sip.instance`), if it sent one.
    pub instance: Option<String>,
    /// The flow the binding was registered on. For TCP/TLS this is the
    /// only way to reach the UA: a client's Contact names an ephemeral
    /// port it does not listen on (SIPE's does), so the server must reuse
    /// the connection (RFC 5626's "flow").
    pub flow: F,
    /// Whether `flow` is TCP/TLS.
    pub reliable: bool,
    /// False while a TCP/TLS binding waits out its grace period after its
    /// connection closed: the binding still exists (the UA may reconnect
    /// and refresh it), but nothing can be delivered to it until then.
    pub connected: bool,
}

/// The GRUU forms a registrar hands out (RFC 5627), chosen by the option
/// tag the client lists in Supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GruuForm {
    /// RFC 5627 (`Supported: gruu`): `pub-gruu="sip:aor;gr=urn:uuid:…"`,
    /// the instance id itself in the `gr` parameter.
    Rfc5627,
    /// Microsoft's draft-10 form (`Supported: gruu-10`, Lync and SIPE):
    /// `gruu="sip:aor;opaque=user:epid:TOKEN;gruu"`. SIPE takes this value
    /// as its Contact for every later request.
    Draft10,
}

impl GruuForm {
    /// The form the client asked for; RFC 5627 wins when both are listed.
    pub(crate) fn negotiate(supported: &[String]) -> Option<GruuForm> {
        if supported.iter().any(|t| t == "gruu") {
            Some(GruuForm::Rfc5627)
        } else if supported.iter().any(|t| t == "gruu-10") {
            Some(GruuForm::Draft10)
        } else {
            None
        }
    }

    /// The option tag of this form, for the 200's Supported.
    pub(crate) fn option_tag(self) -> &'static str {
        match self {
            GruuForm::Rfc5627 => "gruu",
            GruuForm::Draft10 => "gruu-10",
        }
    }

    /// The Contact parameter carrying the GRUU of `instance` of `aor`.
    pub(crate) fn param(self, aor: &str, instance: &str, epid: u64) -> String {
        match self {
            GruuForm::Rfc5627 => format!("pub-gruu=\"{}\"", rfc5627_gruu(aor, instance)),
            GruuForm::Draft10 => format!("gruu=\"{}\"", draft10_gruu(aor, &epid_token(epid))),
        }
    }
}

/// RFC 5627 §3.1's public GRUU: the AOR with `gr` set to the instance id
/// (its `<…>` removed).
pub fn rfc5627_gruu(aor: &str, instance: &str) -> String {
    let id = instance
        .strip_prefix('<')
        .and_then(|i| i.strip_suffix('>'))
        .unwrap_or(instance);
    format!("{aor};gr={id}")
}

/// The Lync-style GRUU: the AOR with `opaque=user:epid:TOKEN;gruu`.
pub fn draft10_gruu(aor: &str, epid: &str) -> String {
    format!("{aor};opaque=user:epid:{epid};gruu")
}

/// The endpoint id of a Lync-style GRUU: a hash of the instance id, so it
/// is the same for every registration of one instance (RFC 5627 §3.2: a
/// public GRUU is stable) and across restarts (FNV-1a does not depend on
/// the process), and its token ([`epid_token`]) is made only of URI-safe
/// hex digits whatever the instance text holds.
pub(crate) fn epid(instance: &str) -> u64 {
    fnv1a(instance.as_bytes())
}

/// The text of an endpoint id in a GRUU: 16 hex digits.
pub(crate) fn epid_token(epid: u64) -> String {
    format!("{epid:016x}")
}

/// What a URI names for [`super::Registrar::targets`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Named {
    /// Every binding of the AOR.
    Aor(String),
    /// The binding of this instance (an RFC 5627 `gr` GRUU).
    Instance(String, String),
    /// The binding with this endpoint id (a Lync-style GRUU); `None`
    /// when the token is not one of ours (it names no binding).
    Epid(String, Option<u64>),
}

impl Named {
    pub(crate) fn of(uri: &sip::Uri) -> Named {
        let aor = uri.aor();
        let params = uri.params();
        if let Some(gr) = params.value("gr") {
            let id = String::from_utf8_lossy(&gr).into_owned();
            return Named::Instance(aor, format!("<{id}>"));
        }
        if params.has("gruu") {
            if let Some(token) = params
                .value("opaque")
                .and_then(|o| o.strip_prefix(b"user:epid:").map(<[u8]>::to_vec))
            {
                let epid = std::str::from_utf8(&token)
                    .ok()
                    .filter(|t| t.len() == 16)
                    .and_then(|t| u64::from_str_radix(t, 16).ok());
                return Named::Epid(aor, epid);
            }
        }
        Named::Aor(aor)
    }
}
