//! SIP request methods.

use bytes::Bytes;
use std::fmt;

use crate::grammar;

/// A request method. The methods a presence server acts on are variants so
/// that dispatch is a `match`; any other token is kept verbatim, because an
/// unknown method must still be answered (501) and echoed in CSeq.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Method {
    /// RFC 3261.
    Invite,
    /// RFC 3261.
    Ack,
    /// RFC 3261.
    Bye,
    /// RFC 3261.
    Cancel,
    /// RFC 3261.
    Options,
    /// RFC 3261.
    Register,
    /// RFC 6665.
    Subscribe,
    /// RFC 6665.
    Notify,
    /// RFC 3903.
    Publish,
    /// RFC 3428.
    Message,
    /// RFC 6086.
    Info,
    /// RFC 3262.
    Prack,
    /// RFC 3311.
    Update,
    /// RFC 3515.
    Refer,
    /// Microsoft's unanswered NOTIFY ([MS-SIP]); named so Lync dialogs can be matched.
    Benotify,
    /// Microsoft's SERVICE ([MS-SIP] §2.2.1): category publishing, contact
    /// list changes and other requests of that dialect to its server.
    Service,
    /// Any other token, exactly as received (methods are case-sensitive).
    Extension(Bytes),
}

impl Method {
    /// Parses a method token. Methods are case-sensitive (RFC 3261 §7.1), so
    /// `invite` is an extension method, not INVITE.
    pub fn from_bytes(b: Bytes) -> Option<Method> {
        if !grammar::is_token_str(&b) {
            return None;
        }
        Some(Method::known(&b).unwrap_or(Method::Extension(b)))
    }

    /// The variant a method token names, `None` for an extension method:
    /// a reader that has the token as a slice (the plain-response scan)
    /// takes a reference to the buffer only for an extension.
    pub fn known(b: &[u8]) -> Option<Method> {
        Some(match b {
            b"INVITE" => Method::Invite,
            b"ACK" => Method::Ack,
            b"BYE" => Method::Bye,
            b"CANCEL" => Method::Cancel,
            b"OPTIONS" => Method::Options,
            b"REGISTER" => Method::Register,
            b"SUBSCRIBE" => Method::Subscribe,
            b"NOTIFY" => Method::Notify,
            b"PUBLISH" => Method::Publish,
            b"MESSAGE" => Method::Message,
            b"INFO" => Method::Info,
            b"PRACK" => Method::Prack,
            b"UPDATE" => Method::Update,
            b"REFER" => Method::Refer,
            b"BENOTIFY" => Method::Benotify,
            b"SERVICE" => Method::Service,
            _ => return None,
        })
    }

    /// The method as it appears on the wire.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            Method::Invite => b"INVITE",
            Method::Ack => b"ACK",
            Method::Bye => b"BYE",
            Method::Cancel => b"CANCEL",
            Method::Options => b"OPTIONS",
            Method::Register => b"REGISTER",
            Method::Subscribe => b"SUBSCRIBE",
            Method::Notify => b"NOTIFY",
            Method::Publish => b"PUBLISH",
            Method::Message => b"MESSAGE",
            Method::Info => b"INFO",
            Method::Prack => b"PRACK",
            Method::Update => b"UPDATE",
            Method::Refer => b"REFER",
            Method::Benotify => b"BENOTIFY",
            Method::Service => b"SERVICE",
            Method::Extension(b) => b,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(
            Method::from_bytes(Bytes::from_static(b"SUBSCRIBE")),
            Some(Method::Subscribe)
        );
        assert_eq!(
            Method::from_bytes(Bytes::from_static(b"subscribe")),
            Some(Method::Extension(Bytes::from_static(b"subscribe")))
        );
        assert_eq!(Method::from_bytes(Bytes::from_static(b"BAD METHOD")), None);
        assert_eq!(Method::from_bytes(Bytes::new()), None);
    }
}
