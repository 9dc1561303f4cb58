//! The sync engine in the server (issue 11): contact-center agents bound
//! to UC presentities, under the `[sync]` rules of the `rules` crate.
//!
//! - [`hub`]: the agents and what each change asks of the server
//!   (sans-IO; the core owns it and carries its [`Changes`] out: sync
//!   sources into the engine, tracked presentities, store writes through
//!   the commit gate, events);
//! - [`events`]: the event stream's log (ids, bounded history, replay
//!   after a reconnect), shared with the HTTP side;
//! - [`record`]: an agent as stored, so bindings and last states survive
//!   kill -9;
//! - [`remote`]: `presenced explain` asking the running server.
//!
//! The contact center's API is `crate::http::sync`; docs/api.md
//! describes it.

pub mod events;
pub mod hub;
pub mod record;
pub mod remote;

pub use events::{EventKind, EventLog, Replay, SyncEvent};
pub use hub::{AgentOverview, Binding, Changes, HubError, SyncHub};
pub use record::{AgentRecord, RecordError};
