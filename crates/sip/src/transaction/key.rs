//! Transaction identity and matching (RFC 3261 §17.1.3, §17.2.3).
//!
//! A [`Key`] is what a message must share with the request that created a
//! transaction to belong to it. RFC 3261 elements make the top Via branch
//! globally unique (it starts with the magic cookie `z9hG4bK`), so the
//! branch, the sent-by and the method suffice; for RFC 2543 peers, whose
//! branches carry no such promise, the server falls back to the dialog and
//! request identifiers. Keys are computed once per message and used as
//! hash-map keys, so lookups cost one hash regardless of how many
//! transactions are alive.

use bytes::Bytes;

use super::TransactionError;
use crate::message::{HeaderAccess, Request, Response};
use crate::method::Method;

/// Which side of the transaction this process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We sent the request.
    Client,
    /// We received the request.
    Server,
}

/// Identifies one transaction in the [`Layer`](super::Layer).
///
/// Opaque on purpose: the matching rules differ by role and by the age of
/// the peer's implementation, and callers only need equality and hashing
/// (to correlate outputs with their own state). An ACK's key is that of its
/// INVITE, because the ACK of a non-2xx response is part of the INVITE
/// transaction (§17.2.3); a CANCEL has a key of its own (§9.2).
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct Key {
    role: Role,
    /// The request method, with ACK folded into INVITE.
    method: Method,
    id: Id,
}

#[derive(Clone, PartialEq, Eq, Hash, Debug)]
enum Id {
    /// RFC 3261 matching: the branch (a token, so compared
    /// case-insensitively, §7.3.1) and, on the server side, the sent-by of
    /// the top Via, which keeps two clients that chose the same branch apart.
    Branch { branch: Bytes, sent_by: Bytes },
    /// RFC 2543 fallback (§17.2.3), boxed to keep the common case small.
    Legacy(Box<Legacy>),
}

/// The identifiers an RFC 2543 request shares with its retransmissions:
/// Request-URI, To tag, From tag, Call-ID, CSeq number and the top Via.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
struct Legacy {
    /// Compared byte for byte: a retransmission repeats it exactly, and an
    /// ACK for a non-2xx response copies it from the INVITE (§17.1.1.3).
    request_uri: Bytes,
    to_tag: Option<Bytes>,
    from_tag: Option<Bytes>,
    call_id: Bytes,
    cseq: u32,
    /// Sent-by and branch (if any) of the top Via, lowercased.
    via: Bytes,
}

impl Key {
    /// The key of the server transaction `req` belongs to (§17.2.3): branch,
    /// sent-by and method when the branch carries the magic cookie, the
    /// RFC 2543 identifiers otherwise. ACK yields the INVITE's key.
    pub fn for_server_request(req: &Request) -> Result<Key, TransactionError> {
        let via = req.top_via()?;
        let method = key_method(&req.method);
        if via.has_rfc3261_branch() {
            let branch = via.branch().map(lower).unwrap_or_default();
            let sent_by = Bytes::from(via.sent_by().to_ascii_lowercase());
            return Ok(Key {
                role: Role::Server,
                method,
                id: Id::Branch { branch, sent_by },
            });
        }
        let mut via_id = via.sent_by().into_bytes();
        if let Some(b) = via.branch() {
            via_id.push(b';');
            via_id.extend_from_slice(b);
        }
        via_id.make_ascii_lowercase();
        let legacy = Legacy {
            request_uri: Bytes::copy_from_slice(req.uri.as_bytes()),
            to_tag: req.header_to()?.tag().as_ref().map(lower),
            from_tag: req.header_from()?.tag().as_ref().map(lower),
            call_id: Bytes::copy_from_slice(&req.call_id()?),
            cseq: req.cseq()?.seq,
            via: Bytes::from(via_id),
        };
        Ok(Key {
            role: Role::Server,
            method,
            id: Id::Legacy(Box::new(legacy)),
        })
    }

    /// The key of the client transaction a request the TU sends will
    /// create (§17.1.3: top Via branch and CSeq method). The branch must
    /// carry the magic cookie: it is the only thing that ties responses to
    /// the request, so it has to be unique (§8.1.1.7).
    pub fn for_client_request(req: &Request) -> Result<Key, TransactionError> {
        let via = req.top_via()?;
        let cseq = req.cseq()?;
        if cseq.method != req.method {
            return Err(TransactionError::CSeqMismatch);
        }
        if !via.has_rfc3261_branch() {
            return Err(TransactionError::MissingBranch);
        }
        let branch = via.branch().map(lower).unwrap_or_default();
        Ok(Key {
            role: Role::Client,
            method: key_method(&cseq.method),
            id: Id::Branch {
                branch,
                sent_by: Bytes::new(),
            },
        })
    }

    /// The key of a client transaction the TU starts with a request it
    /// encoded itself ([`Layer::send_encoded_request`](super::Layer::send_encoded_request)):
    /// the branch of the top Via it wrote and the method. The branch must
    /// carry the magic cookie, as in [`Key::for_client_request`].
    pub fn for_client(method: &Method, branch: &str) -> Result<Key, TransactionError> {
        if !branch.starts_with("z9hG4bK") {
            return Err(TransactionError::MissingBranch);
        }
        Ok(Key {
            role: Role::Client,
            method: key_method(method),
            id: Id::Branch {
                branch: Bytes::from(branch.to_ascii_lowercase()),
                sent_by: Bytes::new(),
            },
        })
    }

    /// The key of the client transaction a response belongs to (§17.1.3):
    /// the top Via branch and the CSeq method, which tells the response to
    /// a CANCEL from the response to the INVITE it cancels.
    pub fn for_response(resp: &Response) -> Result<Key, TransactionError> {
        let via = resp.top_via()?;
        let cseq = resp.cseq()?;
        let branch = via
            .branch()
            .map(lower)
            .ok_or(TransactionError::MissingBranch)?;
        Ok(Key {
            role: Role::Client,
            method: key_method(&cseq.method),
            id: Id::Branch {
                branch,
                sent_by: Bytes::new(),
            },
        })
    }

    /// Whether we sent (client) or received (server) the request.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The method of the request that created the transaction.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The branch, lowercased, for RFC 3261 transactions; `None` for
    /// transactions matched by the RFC 2543 rules.
    pub fn branch(&self) -> Option<&Bytes> {
        match &self.id {
            Id::Branch { branch, .. } => Some(branch),
            Id::Legacy(_) => None,
        }
    }

    /// The same transaction identity with another method: the INVITE a
    /// CANCEL names shares everything but the method with it (§9.2).
    pub(crate) fn with_method(&self, method: Method) -> Key {
        Key {
            method,
            ..self.clone()
        }
    }

    /// For an RFC 2543 ACK: its key, and the key its INVITE had if the
    /// INVITE carried no To tag (the ACK carries the tag of our response,
    /// §17.2.3), with the tag the ACK must then match.
    pub(crate) fn untagged_invite(&self) -> Option<(Key, Bytes)> {
        match &self.id {
            Id::Legacy(l) => {
                let tag = l.to_tag.clone()?;
                let untagged = Legacy {
                    to_tag: None,
                    ..(**l).clone()
                };
                Some((
                    Key {
                        id: Id::Legacy(Box::new(untagged)),
                        ..self.clone()
                    },
                    tag,
                ))
            }
            Id::Branch { .. } => None,
        }
    }
}

/// The To tag of a response, lowercased like the tags in keys.
pub(crate) fn to_tag(resp: &Response) -> Option<Bytes> {
    resp.header_to().ok()?.tag().as_ref().map(lower)
}

/// A lowercased copy of a token. Always a copy, never a slice: a key lives
/// as long as its transaction (32 s and more), and a slice would pin the
/// whole receive buffer for that long.
fn lower(b: &Bytes) -> Bytes {
    Bytes::from(b.to_ascii_lowercase())
}

/// The method, with ACK folded into INVITE (§17.2.3) and an extension
/// method copied out of the receive buffer like everything else in a key.
fn key_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        Method::Extension(b) => Method::Extension(Bytes::copy_from_slice(b)),
        other => other.clone(),
    }
}
