//! The hasher of the hot tables: transactions, dialogs, NOTIFYs in flight.
//!
//! The standard library's SipHash-1-3 was 7 % of the server's CPU in a
//! 10 000-watcher fan-out (crates/bench/README.md): every NOTIFY is hashed
//! into three or four tables (the transaction layer, the core's NOTIFY
//! index, the engine's dialog table and its in-flight index) and again
//! when its 200 comes back. foldhash is several times faster on the short
//! keys these tables hold (a 16-byte dialog key, a branch, a u64).
//!
//! Why a *keyed* fast hash rather than an unkeyed one (FxHash): some of
//! these keys are chosen by peers. A server transaction's key is the
//! branch and sent-by of the peer's Via; a dialog key holds the
//! watcher's Call-ID and From tag. With an unkeyed hash anyone could
//! compute colliding Call-IDs offline and turn each lookup into a walk
//! of one long probe chain (HashDoS). `foldhash::fast::RandomState` draws
//! a random seed per process and mixes a per-table one into it, so
//! collisions cannot be precomputed; what it does not promise (it calls
//! itself "minimally DoS-resistant") is resistance to an attacker who
//! recovers the seed by timing a long-running server, which would need
//! far more traffic than the rate limits and the 503 of a full queue let
//! through. Tables keyed only by our own ids (NotifyIds, the engine's
//! transaction numbers) use it too: a seeded hash costs no more there,
//! and one hasher keeps the choice in one place.
//!
//! Iteration order depends on the seed, as with `RandomState`: nothing may
//! rely on it (the engine's ordered indexes are `BTreeSet`s).

/// A `HashMap` with the hot tables' hasher.
pub type HashMap<K, V> = std::collections::HashMap<K, V, State>;

/// A `HashSet` with the hot tables' hasher.
pub type HashSet<T> = std::collections::HashSet<T, State>;

/// The hot tables' `BuildHasher`: foldhash, seeded per process and table.
pub type State = foldhash::fast::RandomState;

/// An empty map with the hot tables' hasher.
pub fn map<K, V>() -> HashMap<K, V> {
    HashMap::with_hasher(State::default())
}

/// An empty set with the hot tables' hasher.
pub fn set<T>() -> HashSet<T> {
    HashSet::with_hasher(State::default())
}
