//! Client non-INVITE transactions in Completed, kept as their keys.
//!
//! Over UDP a client non-INVITE transaction waits T4 (5 s) in Completed
//! after its final response, only to absorb retransmissions of that
//! response (RFC 3261 §17.1.2.2, Timer K). Nothing else can happen to it:
//! it never transmits again, its request is gone and the TU has had the
//! response. In a fan-out that is every NOTIFY: at a PUBLISH a second to
//! 10 000 watchers the layer holds 50 000 of them. Kept as whole
//! transactions in the slab (about 300 bytes each, with the peer and the
//! machine) they made the slab grow by copying, and fault in fresh pages,
//! at every round, and pushed a Timer K slot per NOTIFY into the timer
//! index. Here each is its key, the key's hash and its deadline, in
//! deadline order: Timer K is the same delay for all of them, so the
//! oldest is always the next to go, and expiry is a pop from the front.
//! The index by key is not touched when one goes (a random probe into a
//! table of tens of thousands, per NOTIFY): an index entry whose
//! sequence number has left the queue matches nothing, and such entries
//! are swept out in one pass when the index would otherwise grow.

use std::collections::VecDeque;
use std::time::Instant;

use hashbrown::HashTable;

use super::Key;
use crate::burst::{drained, give_back};

/// The completed transactions, oldest first, with an index by key.
#[derive(Debug, Default)]
pub(super) struct Completed {
    /// In deadline order (see [`Completed::insert`]).
    queue: VecDeque<Absorbing>,
    /// Key → sequence number: the entry of sequence `s` is at
    /// `queue[s - base]`, so popping the front moves no index entry.
    /// Sequence numbers below `base` are left behind by expiry and match
    /// nothing until [`Completed::sweep`] drops them.
    index: HashTable<u64>,
    /// The sequence number of `queue`'s front.
    base: u64,
}

/// One completed transaction: what matching a retransmitted response
/// needs, and when Timer K ends it.
#[derive(Debug)]
struct Absorbing {
    key: Key,
    /// `key`'s hash under the layer's hasher.
    hash: u64,
    until: Instant,
}

impl Completed {
    /// Keeps `key` (hashed to `hash`, not in the table) until `until`.
    /// A deadline earlier than the newest one (a caller's clock that went
    /// back) is raised to it, so the queue stays in order: the transaction
    /// absorbs a little longer, which is harmless.
    pub(super) fn insert(&mut self, key: Key, hash: u64, until: Instant) {
        if self.index.len() == self.index.capacity() && self.index.len() > self.queue.len() {
            // Full, with expired entries in it: drop those rather than
            // grow (a resize would also have to rehash them).
            self.sweep();
        }
        let until = self.queue.back().map_or(until, |b| b.until.max(until));
        let seq = self.base + self.queue.len() as u64;
        self.queue.push_back(Absorbing { key, hash, until });
        let (queue, base) = (&self.queue, self.base);
        self.index.insert_unique(hash, seq, |&s| {
            queue.get(offset(s, base)).map_or(0, |entry| entry.hash)
        });
    }

    /// Whether a completed transaction has this key (hashed to `hash`).
    pub(super) fn contains(&self, key: &Key, hash: u64) -> bool {
        let (queue, base) = (&self.queue, self.base);
        self.index
            .find(hash, |&s| {
                queue
                    .get(offset(s, base))
                    .is_some_and(|entry| entry.key == *key)
            })
            .is_some()
    }

    /// When the oldest one's Timer K fires.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.queue.front().map(|entry| entry.until)
    }

    /// How many are due at `now`: the ones [`Completed::pop_due`] will
    /// return.
    pub(super) fn due(&self, now: Instant) -> usize {
        self.queue.partition_point(|entry| entry.until <= now)
    }

    /// Ends the oldest one if its Timer K is due at `now`, returning its
    /// key for [`super::Output::Terminated`]. Its index entry stays
    /// behind, matching nothing (see the module documentation).
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Key> {
        if self.queue.front()?.until > now {
            return None;
        }
        let entry = self.queue.pop_front()?;
        self.base += 1;
        Some(entry.key)
    }

    /// Drops the index entries of the ones that ended: one pass over the
    /// table, instead of a probe per ended transaction.
    fn sweep(&mut self) {
        let base = self.base;
        self.index.retain(|s| *s >= base);
    }

    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }

    pub(super) fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Gives back the room a burst took (`crate::burst`).
    pub(super) fn shrink_after_burst(&mut self) {
        if self.index.len() > self.queue.len() && drained(self.queue.len(), self.index.capacity()) {
            // Only live entries may be rehashed into a smaller table.
            self.sweep();
        }
        let queue = &mut self.queue;
        give_back(queue.len(), queue.capacity(), |to| queue.shrink_to(to));
        let (queue, base) = (&self.queue, self.base);
        let index = &mut self.index;
        give_back(index.len(), index.capacity(), |to| {
            index.shrink_to(to, |&s| {
                queue.get(offset(s, base)).map_or(0, |entry| entry.hash)
            });
        });
    }
}

/// Where sequence number `seq` sits in the queue whose front is `base`
/// (past the end when it is no longer there).
fn offset(seq: u64, base: u64) -> usize {
    usize::try_from(seq.wrapping_sub(base)).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::method::Method;

    fn key(n: u64) -> Key {
        let branch = format!("z9hG4bK{:016x}{n:x}", 0xfeed_u64);
        Key::for_client(&Method::Notify, &branch).expect("a branch of our shape")
    }

    #[test]
    fn keys_are_found_until_their_deadline_in_insertion_order() {
        let t0 = Instant::now();
        let mut table = Completed::default();
        for n in 0..5 {
            table.insert(key(n), n * 7, t0 + Duration::from_secs(n + 1));
        }
        assert_eq!(table.len(), 5);
        assert!(table.contains(&key(3), 21));
        assert!(!table.contains(&key(9), 63));
        assert_eq!(table.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(table.pop_due(t0), None, "nothing is due yet");
        let now = t0 + Duration::from_secs(3);
        assert_eq!(table.pop_due(now), Some(key(0)));
        assert_eq!(table.pop_due(now), Some(key(1)));
        assert_eq!(table.pop_due(now), Some(key(2)));
        assert_eq!(table.pop_due(now), None);
        assert!(!table.contains(&key(1), 7), "an ended one absorbs nothing");
        assert!(table.contains(&key(4), 28));
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn expired_index_entries_are_swept_instead_of_growing_the_index() {
        let t0 = Instant::now();
        let mut table = Completed::default();
        let hash = |n: u64| n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // Steady state: as many arrive as leave, far more than the index
        // holds, yet it never grows past its first size.
        for n in 0..3_000 {
            table.insert(key(n), hash(n), t0);
        }
        let capacity = table.index.capacity();
        for n in 3_000..100_000 {
            assert_eq!(table.pop_due(t0), Some(key(n - 3_000)));
            table.insert(key(n), hash(n), t0);
            assert!(!table.contains(&key(n - 3_000), hash(n - 3_000)));
        }
        // Tombstones move its reported room a little; it never doubled.
        assert!(table.index.capacity() < 2 * capacity);
        assert!(table.index.len() <= table.index.capacity());
        assert_eq!(table.len(), 3_000);
        for n in 97_000..100_000 {
            assert!(table.contains(&key(n), hash(n)));
        }
        assert_eq!(table.due(t0), 3_000);
        assert_eq!(table.due(t0 - Duration::from_millis(1)), 0);
    }

    #[test]
    fn an_earlier_deadline_after_a_later_one_waits_behind_it() {
        let t0 = Instant::now();
        let mut table = Completed::default();
        table.insert(key(1), 1, t0 + Duration::from_secs(5));
        table.insert(key(2), 2, t0 + Duration::from_secs(1));
        assert_eq!(table.pop_due(t0 + Duration::from_secs(2)), None);
        assert_eq!(table.pop_due(t0 + Duration::from_secs(5)), Some(key(1)));
        assert_eq!(table.pop_due(t0 + Duration::from_secs(5)), Some(key(2)));
        assert!(table.is_empty());
    }

    #[test]
    fn a_burst_gives_its_room_back_and_keeps_what_is_left() {
        let t0 = Instant::now();
        let mut table = Completed::default();
        for n in 0..20_000 {
            table.insert(key(n), n.wrapping_mul(0x9e37_79b9_7f4a_7c15), t0);
        }
        let peak = (table.queue.capacity(), table.index.capacity());
        while table.len() > 100 {
            table.pop_due(t0);
        }
        table.shrink_after_burst();
        assert!(table.queue.capacity() < peak.0 / 8);
        assert!(table.index.capacity() < peak.1 / 8);
        for n in 19_900..20_000 {
            assert!(table.contains(&key(n), n.wrapping_mul(0x9e37_79b9_7f4a_7c15)));
        }
    }
}
