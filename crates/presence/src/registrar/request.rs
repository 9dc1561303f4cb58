//! What a REGISTER asks for (RFC 3261 §10.3 steps 5 to 7), read and checked
//! before anything changes, and why one is refused.

use bytes::Bytes;
use sip::header::{Header, HeaderName};
use sip::typed::{NameAddr, TypedError};
use sip::uri::Scheme;
use sip::HeaderAccess;

/// Why a REGISTER was refused. Each variant is one status code of
/// RFC 3261 §10.3; the text is the reason phrase, so the client's log (and
/// ours) says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// The To URI is not a sip:/sips: address-of-record (step 5): 404.
    #[error("Not Found")]
    NotFound,
    /// The authenticated user may not change this AOR's bindings (step 4):
    /// 403.
    #[error("Forbidden")]
    Forbidden,
    /// A header the rules read does not follow its grammar: 400.
    #[error("{0}")]
    BadHeader(TypedError),
    /// `Contact: *` with another Contact or with an Expires other than 0
    /// (step 6): 400.
    #[error("Invalid wildcard Contact")]
    BadWildcard,
    /// A binding asked for a non-zero expiry below the minimum (step 7):
    /// 423 with Min-Expires, and no binding of the request changes.
    #[error("Interval Too Brief")]
    IntervalTooBrief {
        /// The minimum, for Min-Expires.
        min: u32,
    },
    /// A binding was last changed by a REGISTER of the same Call-ID with a
    /// CSeq at least as high (steps 6 and 7): the request is a delayed or
    /// reordered one and "the update MUST be aborted and the request
    /// fails". Step 8 names 500 for a request whose updates cannot all be
    /// committed, which is the case here.
    #[error("Out of order REGISTER")]
    OutOfOrder,
    /// The AOR would hold more than
    /// [`super::RegistrarConfig::max_bindings`] bindings: 403, as for too
    /// many publications (the refusal lasts until a binding ends).
    #[error("Too many bindings")]
    TooManyBindings,
}

impl RegisterError {
    /// The status code of the answer.
    pub fn status(&self) -> u16 {
        match self {
            RegisterError::NotFound => 404,
            RegisterError::Forbidden | RegisterError::TooManyBindings => 403,
            RegisterError::BadHeader(_) | RegisterError::BadWildcard => 400,
            RegisterError::IntervalTooBrief { .. } => 423,
            RegisterError::OutOfOrder => 500,
        }
    }

    /// The answer to `req`, with Min-Expires on a 423 (RFC 3261 §10.3
    /// step 7).
    pub fn response(&self, req: &sip::Request, to_tag: &str) -> sip::Response {
        let reason: String = self
            .to_string()
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .take(200)
            .collect();
        let mut resp =
            sip::Response::to_request(req, self.status(), Some(to_tag)).with_reason(reason);
        if let RegisterError::IntervalTooBrief { min } = self {
            resp.headers
                .push(Header::new(HeaderName::MinExpires, min.to_string()));
        }
        resp
    }
}

/// One Contact of a REGISTER, as the registrar uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requested {
    /// [`crate::store::BindingRecord::key`].
    pub(crate) key: String,
    /// The Contact URI as written.
    pub(crate) contact: String,
    /// `+sip.instance`, unquoted.
    pub(crate) instance: Option<String>,
    /// Its `expires` parameter, if any.
    pub(crate) expires: Option<u32>,
}

/// The Contact headers of a REGISTER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Contacts {
    /// None: the request asks for the current bindings (§10.2.3).
    Query,
    /// `*`: remove every binding (§10.2.2).
    Wildcard,
    /// Add, refresh or remove these.
    List(Vec<Requested>),
}

/// The fields of a REGISTER the registrar reads, parsed once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Register {
    /// The AOR from To (§10.3 step 5).
    pub(crate) aor: String,
    pub(crate) call_id: String,
    pub(crate) cseq: u32,
    /// The Expires header, if any.
    pub(crate) expires: Option<u32>,
    pub(crate) contacts: Contacts,
    /// Option tags of the client's Supported headers, lowercased.
    pub(crate) supported: Vec<String>,
    /// The client sent `ms-keep-alive` (Microsoft's keep-alive
    /// negotiation), so it reads the server's in the 200.
    pub(crate) keep_alive: bool,
}

/// Reads a REGISTER; every grammar error becomes a 400 naming the header.
pub(crate) fn read(req: &sip::Request) -> Result<Register, RegisterError> {
    let to = req.header_to().map_err(RegisterError::BadHeader)?;
    if !matches!(to.uri.scheme(), Scheme::Sip | Scheme::Sips) || to.uri.user().is_none() {
        return Err(RegisterError::NotFound);
    }
    let call_id = req.call_id().map_err(RegisterError::BadHeader)?;
    let cseq = req.cseq().map_err(RegisterError::BadHeader)?.seq;
    let expires = match req.headers.value(HeaderName::Expires) {
        Some(v) => Some(delta(HeaderName::Expires, v)?),
        None => None,
    };
    let supported = req
        .headers
        .values(HeaderName::Supported)
        .map(|t| String::from_utf8_lossy(&t).trim().to_ascii_lowercase())
        .collect();
    Ok(Register {
        aor: to.uri.aor(),
        call_id: String::from_utf8_lossy(&call_id).into_owned(),
        cseq,
        expires,
        contacts: contacts(req, expires)?,
        supported,
        keep_alive: req.headers.get_other("ms-keep-alive").is_some(),
    })
}

fn contacts(req: &sip::Request, header_expires: Option<u32>) -> Result<Contacts, RegisterError> {
    let values: Vec<Bytes> = req.headers.values(HeaderName::Contact).collect();
    if values.is_empty() {
        return Ok(Contacts::Query);
    }
    if values.iter().any(|v| v.trim_ascii() == b"*") {
        // §10.3 step 6: `*` alone, and only to remove everything.
        if values.len() != 1 || header_expires != Some(0) {
            return Err(RegisterError::BadWildcard);
        }
        return Ok(Contacts::Wildcard);
    }
    let mut list = Vec::with_capacity(values.len());
    for value in &values {
        let addr =
            NameAddr::parse_for(HeaderName::Contact, value).map_err(RegisterError::BadHeader)?;
        let expires = match addr.params.value("expires") {
            Some(v) => Some(delta(HeaderName::Contact, &v)?),
            None => None,
        };
        let contact = String::from_utf8_lossy(addr.uri.as_bytes()).into_owned();
        let instance = addr
            .params
            .value("+sip.instance")
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .filter(|v| !v.is_empty() && !v.contains('\n'));
        let key = instance.clone().unwrap_or_else(|| contact.clone());
        list.push(Requested {
            key,
            contact,
            instance,
            expires,
        });
    }
    Ok(Contacts::List(list))
}

/// A delta-seconds value; larger than 2^32-1 is taken as 2^32-1 (the
/// maximum clamps it anyway).
fn delta(name: HeaderName, v: &[u8]) -> Result<u32, RegisterError> {
    let secs = sip::typed::parse_delta(name, v, u64::MAX).map_err(RegisterError::BadHeader)?;
    Ok(u32::try_from(secs).unwrap_or(u32::MAX))
}

/// `t` as an RFC 1123 date in GMT, the form of the Date header (RFC 3261
/// §20.17): a registrar's 200 SHOULD carry one (§10.3 step 8) so that a
/// UA without a clock can set it. Also the console's way of showing a
/// time, so no date crate is needed for either.
pub fn http_date(t: std::time::SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Howard Hinnant's civil_from_days, for days since 1970-01-01 >= 0.
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}
