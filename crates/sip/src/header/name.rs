//! Header field names, including the compact forms of RFC 3261 §7.3.3.
//!
//! Names are matched case-insensitively once, at parse time, into a small
//! `Copy` enum, so every later lookup is an integer comparison. The spelling
//! that was on the wire is kept beside it in [`super::Header`], which is what
//! makes the serializer lossless.

/// A header field name known to this crate, or [`HeaderName::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HeaderName {
    /// `Accept`, RFC 3261 §20.1.
    Accept,
    /// `Accept-Contact` (compact `a`), RFC 3841.
    AcceptContact,
    /// `Accept-Encoding`, RFC 3261 §20.2.
    AcceptEncoding,
    /// `Accept-Language`, RFC 3261 §20.3.
    AcceptLanguage,
    /// `Alert-Info`, RFC 3261 §20.4.
    AlertInfo,
    /// `Allow`, RFC 3261 §20.5.
    Allow,
    /// `Allow-Events` (compact `u`), RFC 6665 §8.2.2.
    AllowEvents,
    /// `Authentication-Info`, RFC 3261 §20.6.
    AuthenticationInfo,
    /// `Authorization`, RFC 3261 §20.7.
    Authorization,
    /// `Call-ID` (compact `i`), RFC 3261 §20.8.
    CallId,
    /// `Call-Info`, RFC 3261 §20.9.
    CallInfo,
    /// `Contact` (compact `m`), RFC 3261 §20.10.
    Contact,
    /// `Content-Disposition`, RFC 3261 §20.11.
    ContentDisposition,
    /// `Content-Encoding` (compact `e`), RFC 3261 §20.12.
    ContentEncoding,
    /// `Content-Language`, RFC 3261 §20.13.
    ContentLanguage,
    /// `Content-Length` (compact `l`), RFC 3261 §20.14.
    ContentLength,
    /// `Content-Type` (compact `c`), RFC 3261 §20.15.
    ContentType,
    /// `CSeq`, RFC 3261 §20.16.
    CSeq,
    /// `Date`, RFC 3261 §20.17.
    Date,
    /// `Error-Info`, RFC 3261 §20.18.
    ErrorInfo,
    /// `Event` (compact `o`), RFC 6665 §8.2.1.
    Event,
    /// `Expires`, RFC 3261 §20.19.
    Expires,
    /// `From` (compact `f`), RFC 3261 §20.20.
    From,
    /// `Identity` (compact `y`), RFC 8224.
    Identity,
    /// `In-Reply-To`, RFC 3261 §20.21.
    InReplyTo,
    /// `Max-Forwards`, RFC 3261 §20.22.
    MaxForwards,
    /// `MIME-Version`, RFC 3261 §20.24.
    MimeVersion,
    /// `Min-Expires`, RFC 3261 §20.23.
    MinExpires,
    /// `Min-SE`, RFC 4028.
    MinSe,
    /// `Organization`, RFC 3261 §20.25.
    Organization,
    /// `Path`, RFC 3327.
    Path,
    /// `Priority`, RFC 3261 §20.26.
    Priority,
    /// `Proxy-Authenticate`, RFC 3261 §20.27.
    ProxyAuthenticate,
    /// `Proxy-Authorization`, RFC 3261 §20.28.
    ProxyAuthorization,
    /// `Proxy-Require`, RFC 3261 §20.29.
    ProxyRequire,
    /// `RAck`, RFC 3262.
    RAck,
    /// `Reason`, RFC 3326.
    Reason,
    /// `Record-Route`, RFC 3261 §20.30.
    RecordRoute,
    /// `Refer-To` (compact `r`), RFC 3515.
    ReferTo,
    /// `Referred-By` (compact `b`), RFC 3892.
    ReferredBy,
    /// `Reject-Contact` (compact `j`), RFC 3841.
    RejectContact,
    /// `Reply-To`, RFC 3261 §20.31.
    ReplyTo,
    /// `Request-Disposition` (compact `d`), RFC 3841.
    RequestDisposition,
    /// `Require`, RFC 3261 §20.32.
    Require,
    /// `Retry-After`, RFC 3261 §20.33.
    RetryAfter,
    /// `Route`, RFC 3261 §20.34.
    Route,
    /// `RSeq`, RFC 3262.
    RSeq,
    /// `Server`, RFC 3261 §20.35.
    Server,
    /// `Session-Expires` (compact `x`), RFC 4028.
    SessionExpires,
    /// `SIP-ETag`, RFC 3903 §11.3.1.
    SipEtag,
    /// `SIP-If-Match`, RFC 3903 §11.3.2.
    SipIfMatch,
    /// `Subject` (compact `s`), RFC 3261 §20.36.
    Subject,
    /// `Subscription-State`, RFC 6665 §8.2.3.
    SubscriptionState,
    /// `Supported` (compact `k`), RFC 3261 §20.37.
    Supported,
    /// `Suppress-If-Match`, RFC 5839 §7.1.
    SuppressIfMatch,
    /// `Timestamp`, RFC 3261 §20.38.
    Timestamp,
    /// `To` (compact `t`), RFC 3261 §20.39.
    To,
    /// `Unsupported`, RFC 3261 §20.40.
    Unsupported,
    /// `User-Agent`, RFC 3261 §20.41.
    UserAgent,
    /// `Via` (compact `v`), RFC 3261 §20.42.
    Via,
    /// `Warning`, RFC 3261 §20.43.
    Warning,
    /// `WWW-Authenticate`, RFC 3261 §20.44.
    WwwAuthenticate,
    /// Any other name; compare the raw name to tell them apart.
    Other,
}

impl HeaderName {
    /// Looks a name up case-insensitively, compact forms included.
    pub fn from_bytes(name: &[u8]) -> HeaderName {
        let mut lower = [0u8; 24];
        if name.len() > lower.len() {
            return HeaderName::Other;
        }
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        match &lower[..name.len()] {
            b"accept" => HeaderName::Accept,
            b"accept-contact" | b"a" => HeaderName::AcceptContact,
            b"accept-encoding" => HeaderName::AcceptEncoding,
            b"accept-language" => HeaderName::AcceptLanguage,
            b"alert-info" => HeaderName::AlertInfo,
            b"allow" => HeaderName::Allow,
            b"allow-events" | b"u" => HeaderName::AllowEvents,
            b"authentication-info" => HeaderName::AuthenticationInfo,
            b"authorization" => HeaderName::Authorization,
            b"call-id" | b"i" => HeaderName::CallId,
            b"call-info" => HeaderName::CallInfo,
            b"contact" | b"m" => HeaderName::Contact,
            b"content-disposition" => HeaderName::ContentDisposition,
            b"content-encoding" | b"e" => HeaderName::ContentEncoding,
            b"content-language" => HeaderName::ContentLanguage,
            b"content-length" | b"l" => HeaderName::ContentLength,
            b"content-type" | b"c" => HeaderName::ContentType,
            b"cseq" => HeaderName::CSeq,
            b"date" => HeaderName::Date,
            b"error-info" => HeaderName::ErrorInfo,
            b"event" | b"o" => HeaderName::Event,
            b"expires" => HeaderName::Expires,
            b"from" | b"f" => HeaderName::From,
            b"identity" | b"y" => HeaderName::Identity,
            b"in-reply-to" => HeaderName::InReplyTo,
            b"max-forwards" => HeaderName::MaxForwards,
            b"mime-version" => HeaderName::MimeVersion,
            b"min-expires" => HeaderName::MinExpires,
            b"min-se" => HeaderName::MinSe,
            b"organization" => HeaderName::Organization,
            b"path" => HeaderName::Path,
            b"priority" => HeaderName::Priority,
            b"proxy-authenticate" => HeaderName::ProxyAuthenticate,
            b"proxy-authorization" => HeaderName::ProxyAuthorization,
            b"proxy-require" => HeaderName::ProxyRequire,
            b"rack" => HeaderName::RAck,
            b"reason" => HeaderName::Reason,
            b"record-route" => HeaderName::RecordRoute,
            b"refer-to" | b"r" => HeaderName::ReferTo,
            b"referred-by" | b"b" => HeaderName::ReferredBy,
            b"reject-contact" | b"j" => HeaderName::RejectContact,
            b"reply-to" => HeaderName::ReplyTo,
            b"request-disposition" | b"d" => HeaderName::RequestDisposition,
            b"require" => HeaderName::Require,
            b"retry-after" => HeaderName::RetryAfter,
            b"route" => HeaderName::Route,
            b"rseq" => HeaderName::RSeq,
            b"server" => HeaderName::Server,
            b"session-expires" | b"x" => HeaderName::SessionExpires,
            b"sip-etag" => HeaderName::SipEtag,
            b"sip-if-match" => HeaderName::SipIfMatch,
            b"subject" | b"s" => HeaderName::Subject,
            b"subscription-state" => HeaderName::SubscriptionState,
            b"supported" | b"k" => HeaderName::Supported,
            b"suppress-if-match" => HeaderName::SuppressIfMatch,
            b"timestamp" => HeaderName::Timestamp,
            b"to" | b"t" => HeaderName::To,
            b"unsupported" => HeaderName::Unsupported,
            b"user-agent" => HeaderName::UserAgent,
            b"via" | b"v" => HeaderName::Via,
            b"warning" => HeaderName::Warning,
            b"www-authenticate" => HeaderName::WwwAuthenticate,
            _ => HeaderName::Other,
        }
    }

    /// The canonical spelling, used when this crate creates a header.
    pub fn as_str(self) -> &'static str {
        match self {
            HeaderName::Accept => "Accept",
            HeaderName::AcceptContact => "Accept-Contact",
            HeaderName::AcceptEncoding => "Accept-Encoding",
            HeaderName::AcceptLanguage => "Accept-Language",
            HeaderName::AlertInfo => "Alert-Info",
            HeaderName::Allow => "Allow",
            HeaderName::AllowEvents => "Allow-Events",
            HeaderName::AuthenticationInfo => "Authentication-Info",
            HeaderName::Authorization => "Authorization",
            HeaderName::CallId => "Call-ID",
            HeaderName::CallInfo => "Call-Info",
            HeaderName::Contact => "Contact",
            HeaderName::ContentDisposition => "Content-Disposition",
            HeaderName::ContentEncoding => "Content-Encoding",
            HeaderName::ContentLanguage => "Content-Language",
            HeaderName::ContentLength => "Content-Length",
            HeaderName::ContentType => "Content-Type",
            HeaderName::CSeq => "CSeq",
            HeaderName::Date => "Date",
            HeaderName::ErrorInfo => "Error-Info",
            HeaderName::Event => "Event",
            HeaderName::Expires => "Expires",
            HeaderName::From => "From",
            HeaderName::Identity => "Identity",
            HeaderName::InReplyTo => "In-Reply-To",
            HeaderName::MaxForwards => "Max-Forwards",
            HeaderName::MimeVersion => "MIME-Version",
            HeaderName::MinExpires => "Min-Expires",
            HeaderName::MinSe => "Min-SE",
            HeaderName::Organization => "Organization",
            HeaderName::Path => "Path",
            HeaderName::Priority => "Priority",
            HeaderName::ProxyAuthenticate => "Proxy-Authenticate",
            HeaderName::ProxyAuthorization => "Proxy-Authorization",
            HeaderName::ProxyRequire => "Proxy-Require",
            HeaderName::RAck => "RAck",
            HeaderName::Reason => "Reason",
            HeaderName::RecordRoute => "Record-Route",
            HeaderName::ReferTo => "Refer-To",
            HeaderName::ReferredBy => "Referred-By",
            HeaderName::RejectContact => "Reject-Contact",
            HeaderName::ReplyTo => "Reply-To",
            HeaderName::RequestDisposition => "Request-Disposition",
            HeaderName::Require => "Require",
            HeaderName::RetryAfter => "Retry-After",
            HeaderName::Route => "Route",
            HeaderName::RSeq => "RSeq",
            HeaderName::Server => "Server",
            HeaderName::SessionExpires => "Session-Expires",
            HeaderName::SipEtag => "SIP-ETag",
            HeaderName::SipIfMatch => "SIP-If-Match",
            HeaderName::Subject => "Subject",
            HeaderName::SubscriptionState => "Subscription-State",
            HeaderName::Supported => "Supported",
            HeaderName::SuppressIfMatch => "Suppress-If-Match",
            HeaderName::Timestamp => "Timestamp",
            HeaderName::To => "To",
            HeaderName::Unsupported => "Unsupported",
            HeaderName::UserAgent => "User-Agent",
            HeaderName::Via => "Via",
            HeaderName::Warning => "Warning",
            HeaderName::WwwAuthenticate => "WWW-Authenticate",
            HeaderName::Other => "",
        }
    }

    /// Whether the header may hold several comma-separated values on one
    /// line (RFC 3261 §7.3.1). Headers whose grammar contains commas of its
    /// own (Date, Authorization, Warning text) are single-valued here.
    pub fn is_list(self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::RequestDisposition
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_long_forms_agree() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"VIA"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"call-id"), HeaderName::CallId);
        assert_eq!(HeaderName::from_bytes(b"o"), HeaderName::Event);
        assert_eq!(HeaderName::from_bytes(b"u"), HeaderName::AllowEvents);
        assert_eq!(HeaderName::from_bytes(b"sip-etag"), HeaderName::SipEtag);
        assert_eq!(HeaderName::from_bytes(b"X-Custom"), HeaderName::Other);
        assert_eq!(
            HeaderName::from_bytes(b"a-very-long-header-name-beyond-the-buffer"),
            HeaderName::Other
        );
    }

    #[test]
    fn canonical_names_round_trip() {
        for name in [
            HeaderName::Via,
            HeaderName::WwwAuthenticate,
            HeaderName::SubscriptionState,
            HeaderName::CSeq,
        ] {
            assert_eq!(HeaderName::from_bytes(name.as_str().as_bytes()), name);
        }
    }
}
