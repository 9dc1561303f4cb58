//! `presenced-bench`: a SIP presence load generator that talks to any
//! server over UDP or TCP (presenced, Kamailio, ...).
//!
//! The protocol side has no I/O, like the server's own crates, so every
//! rule is a unit test with explicit time against a fake server
//! (`testkit`):
//! - [`template`]: request text and the naming scheme of a run;
//! - [`txn`]: client transactions with RFC 3261 retransmission timers;
//! - [`dialog`]: the watcher side of subscription dialogs;
//! - [`core`]: matching responses and NOTIFYs, the transmit queue;
//! - [`rlmi`]: reading batched NOTIFYs (RLMI multipart) of the Microsoft dialect;
//! - [`scenario`]: the workloads (`subscribe`, `fanout`, `publish`,
//!   `hold`) and the [`scenario::Engine`] that pairs one with the core;
//! - [`stats`]: HDR histograms and the JSON report.
//!
//! [`runtime`] owns the sockets and the clock ([`stream`] frames TCP); [`ceiling`] measures the
//! loopback's own packet rate; [`procfs`] reads the server's memory; [`flood`] floods from one
//! address (no I/O-free core: it is an attacker, not a client); [`api`] is the small HTTP/1.1
//! client `sync-bench` drives presenced's sync API with; [`server`] starts presenced for the
//! benchmarks that run it themselves.

pub mod api;
pub mod ceiling;
pub mod core;
pub mod dialog;
pub mod flood;
pub mod notify_scan;
pub mod procfs;
pub mod rlmi;
pub mod runtime;
pub mod scenario;
pub mod server;
pub mod stats;
pub mod stream;
pub mod template;
pub mod txn;

#[cfg(test)]
mod testkit;
