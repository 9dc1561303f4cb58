//! presenced: a SIP presence server.
//!
//! The protocol work is sans-IO in the `sip` crate; this crate owns the
//! sockets, the tasks and the configuration. Reading order, top to bottom:
//!
//! - [`config`]: the TOML file and its validation;
//! - [`server`]: binds the listeners and starts the tasks;
//! - [`transport`]: UDP, TCP and TLS tasks (certificates reloaded on
//!   change, mutual TLS for trusted peers), the connection table, the
//!   per-source flood limit before parsing, the bounded queue into the
//!   core (503 under overload);
//! - [`auth`]: who is speaking (digest, trusted peers) and what it may
//!   do, sans-IO; [`flood`]: the rate limits per source and per user;
//!   [`refusal_log`]: refusals logged once per source per interval;
//! - [`sip_core`]: the task that drives the transaction layer and the
//!   presence engine (`presence::Engine`), holding each 2xx until the store
//!   has made its change durable;
//! - [`outbound`]: Via, branch and Contact of the NOTIFYs we send;
//! - [`commit_gate`]: the rule that no response leaves before its store
//!   commit, as a sans-IO unit;
//! - [`router`]: which service serves a request, by method and event
//!   package; the one registry the Allow/Allow-Events headers and the
//!   405/489 answers come from;
//! - [`endpoint`]: what the core answers on its own (OPTIONS, 405, 420,
//!   481, 501...);
//! - [`store`]: the durable store (redb), group-committed;
//! - [`reload`]: the live configuration and its reload (file watch,
//!   SIGHUP);
//! - [`directory`]: the company directory — the LDAP refresh task, the
//!   last good snapshot, the address book merged with `[service]`;
//! - [`http`] and [`metrics`]: `/metrics` and `/health`, the operator
//!   API (directory search included).

pub mod auth;
pub mod commit_gate;
pub mod config;
pub mod control;
pub mod directory;
pub mod endpoint;
pub mod explain;
pub mod flood;
pub mod history;
pub mod http;
pub mod latency;
pub mod metrics;
pub mod outbound;
pub mod provided;
pub mod refusal_log;
pub mod reload;
pub mod router;
pub mod server;
pub mod sip_core;
pub mod store;
pub mod sync;
pub mod transport;
