//! presenced: a SIP presence server.
//!
//! The protocol work is sans-IO in the `sip` crate; this crate owns the
//! sockets, the tasks and the configuration. Reading order, top to bottom:
//!
//! - [`config`]: the TOML file and its validation;
//! - [`server`]: binds the listeners and starts the tasks;
//! - [`transport`]: UDP, TCP and TLS tasks, the connection table, the
//!   bounded queue into the core (503 under overload);
//! - [`sip_core`]: the task that drives the transaction layer;
//! - [`endpoint`]: what the core answers on its own (OPTIONS, 405, 420,
//!   481, 501...);
//! - [`application`]: the seam where the presence server plugs in.

pub mod application;
pub mod config;
pub mod endpoint;
pub mod server;
pub mod sip_core;
pub mod transport;
