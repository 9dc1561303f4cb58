//! Sans-IO SIP for presenced.
//!
//! This crate turns bytes into messages and messages into bytes, and runs the
//! RFC 3261 §17 transaction state machines; it never touches a socket or a
//! clock. The runtime crate feeds it received bytes and the current time and
//! carries out the actions it returns, which is what lets every protocol case
//! be a deterministic unit test (the quinn-proto split).
//!
//! - [`parse`] / [`framing`]: zero-copy parser, datagram and stream framing,
//!   bounded by [`Limits`];
//! - [`message`], [`header`], [`uri`], [`typed`]: the message model and typed
//!   header views;
//! - [`encode`](mod@encode): the lossless serializer;
//! - [`rejection`]: stateless answers to unparsable requests;
//! - [`transaction`]: client and server transactions with timers A–K;
//! - [`digest`]: digest authentication (MD5, SHA-256), both ends.

pub mod burst;
pub mod digest;
pub mod encode;
pub mod error;
pub mod framing;
pub mod grammar;
pub mod hash;
pub mod header;
pub mod limits;
pub mod message;
pub mod method;
pub mod params;
pub mod parse;
pub mod rejection;
pub mod transaction;
pub mod typed;
pub mod uri;

pub use error::ParseError;
pub use header::{Header, HeaderName, Headers};
pub use limits::Limits;
pub use message::{HeaderAccess, Message, Request, Response};
pub use method::Method;
pub use uri::Uri;
