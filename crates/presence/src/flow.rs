//! The runtime's transport flows, as the engine sees them.
//!
//! A subscription's NOTIFYs go back on the flow its SUBSCRIBE came in on
//! (connection reuse, so watchers behind NAT and on TCP are reachable), and
//! a publication made over a connection ends when that connection is gone.
//! The engine needs only to store, compare and return flows; what a flow
//! *is* (transport, local and remote address) belongs to the runtime, so it
//! is a type parameter here.

use std::fmt::Debug;
use std::hash::Hash;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// What the engine requires of the runtime's flow type: comparable (to find
/// the publications of a closed connection), hashable, and serialisable,
/// because subscriptions are persisted with the flow they answer on.
pub trait Flow: Clone + Eq + Hash + Debug + Serialize + DeserializeOwned {}

impl<T: Clone + Eq + Hash + Debug + Serialize + DeserializeOwned> Flow for T {}
