//! The transaction layer's timer index: each armed transaction's earliest
//! deadline, taken in `(deadline, id)` order.
//!
//! Nearly every deadline a transaction arms is "now plus one of a handful
//! of fixed delays" (T1 and its doublings, T2, T4, 64·T1), and the layer's
//! clock only moves forward. Deadlines armed with the same delay therefore
//! arrive in order, so each delay gets a lane: a FIFO queue whose front is
//! its earliest slot. Equal deadlines in one lane (the 200s to a chunk of
//! NOTIFYs, taken in one turn, arm their Timer K for the same instant) stay
//! in the order they were armed. Arming is a push at the back and firing a pop at the
//! front, both O(1) and sequential in memory, where the binary heap this
//! replaces sifted a slot through about 17 levels of a heap that
//! no longer fit in the cache (a third of the layer's instructions in a
//! 10 000-watcher fan-out). A slot that would break a lane's order (an
//! unusual delay once every lane is busy, or a clock that went backwards)
//! goes to a binary heap instead, so the order never depends on the
//! caller. The earliest slot overall is the least of the lanes' fronts and
//! the heap's top: a few comparisons.
//!
//! Like the heap before it, the index keeps stale slots (a moved or ended
//! timer) until they come to the front; [`super::layer`] drops them there.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::burst::give_back;

/// Lanes kept at most: the RFC timers need six (T1, 2·T1, 4·T1, T2, T4,
/// 64·T1); the rest cover a changed configuration without a heap.
const MAX_LANES: usize = 8;

/// A timer slot: live while its transaction's id and wake-up still match
/// (checked by the layer).
#[derive(Debug)]
pub(super) struct Slot {
    /// When it fires.
    pub(super) at: Instant,
    /// Its transaction's id: unique, so it orders equal deadlines by age.
    pub(super) id: u64,
    /// Its transaction's index in the layer's slab: checking the slot is
    /// an array access, not a hash lookup, and the slot is 32 bytes
    /// instead of carrying a clone of the key.
    pub(super) entry: usize,
}

impl Slot {
    fn order(&self) -> (Instant, u64) {
        (self.at, self.id)
    }
}

/// Reversed, so that `BinaryHeap` (a max-heap) yields the earliest
/// deadline first, and of equal deadlines the oldest transaction.
impl Ord for Slot {
    fn cmp(&self, other: &Self) -> Ordering {
        other.order().cmp(&self.order())
    }
}

impl PartialOrd for Slot {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Ids are unique, so slots are equal only to themselves.
impl PartialEq for Slot {
    fn eq(&self, other: &Self) -> bool {
        self.order() == other.order()
    }
}

impl Eq for Slot {}

/// Slots armed with one delay, in firing order.
#[derive(Debug)]
struct Lane {
    delay: Duration,
    slots: VecDeque<Slot>,
}

/// Where the earliest slot is.
#[derive(Debug, Clone, Copy)]
enum Front {
    Lane(usize),
    Heap,
}

/// The timer index (see the module documentation). Slots come out by
/// deadline; equal deadlines by transaction age, except within one lane,
/// where they come out in the order they were armed.
///
/// It also remembers where its earliest slot is and whether that slot may
/// have gone stale ([`Wakeups::disarmed`], a pop): the layer checks the
/// front against its table only then, instead of after every input.
#[derive(Debug, Default)]
pub(super) struct Wakeups {
    lanes: Vec<Lane>,
    heap: BinaryHeap<Slot>,
    /// Where the earliest slot is, kept on every push and pop.
    front: Option<Front>,
    /// The earliest slot may be stale: popped past, or its timer moved.
    unsure: bool,
    /// The lane the last slot went to (lanes are never removed).
    last: Option<usize>,
}

impl Wakeups {
    /// Adds a slot armed at `now`: into the lane of its delay when that
    /// keeps the lane in order, else into the heap.
    pub(super) fn push(&mut self, slot: Slot, now: Instant) {
        // A turn arms many timers for one instant (a chunk of NOTIFYs'
        // Timer E, a batch of 200s' Timer K): such a slot joins the lane
        // the last one went to, behind its twin, without working out its
        // delay. Any lane whose back is not later keeps its order.
        let lane = match self
            .last
            .filter(|&i| self.lanes[i].slots.back().is_some_and(|b| b.at == slot.at))
        {
            Some(i) => Some(i),
            None => self.lane_for(slot.at.saturating_duration_since(now)),
        };
        let earlier = self.peek().is_none_or(|f| slot.order() < f.order());
        let went = match lane {
            Some(i) if self.lanes[i].slots.back().is_none_or(|b| b.at <= slot.at) => {
                self.lanes[i].slots.push_back(slot);
                self.last = Some(i);
                Front::Lane(i)
            }
            _ => {
                self.heap.push(slot);
                Front::Heap
            }
        };
        // A lane's new slot is its back, so the new front only when it is
        // earlier than the old front (or the index was empty); a heap push
        // then is the heap's top.
        if earlier {
            self.front = Some(went);
        }
    }

    /// The lane for slots armed with `delay`: its own, a new one, or a
    /// drained one that takes the delay; `None` when every lane is busy.
    fn lane_for(&mut self, delay: Duration) -> Option<usize> {
        match self.lanes.iter().position(|l| l.delay == delay) {
            Some(i) => Some(i),
            None if self.lanes.len() < MAX_LANES => {
                self.lanes.push(Lane {
                    delay,
                    slots: VecDeque::new(),
                });
                Some(self.lanes.len() - 1)
            }
            // A lane that has drained takes the new delay.
            None => self
                .lanes
                .iter()
                .position(|l| l.slots.is_empty())
                .inspect(|&i| {
                    self.lanes[i].delay = delay;
                }),
        }
    }

    /// The earliest slot, stale or not.
    pub(super) fn peek(&self) -> Option<&Slot> {
        match self.front? {
            Front::Lane(i) => self.lanes[i].slots.front(),
            Front::Heap => self.heap.peek(),
        }
    }

    /// Takes the earliest slot; the next one may be stale.
    pub(super) fn pop(&mut self) -> Option<Slot> {
        let slot = match self.front? {
            Front::Lane(i) => {
                let slots = &mut self.lanes[i].slots;
                let slot = slots.pop_front();
                // Room is given back (`crate::burst`) where slots leave, on the
                // queue they left, instead of on every queue after every call.
                give_back(slots.len(), slots.capacity(), |n| slots.shrink_to(n));
                slot
            }
            Front::Heap => {
                let slot = self.heap.pop();
                let heap = &mut self.heap;
                give_back(heap.len(), heap.capacity(), |n| heap.shrink_to(n));
                slot
            }
        };
        self.front = self.scan_front();
        self.unsure = self.front.is_some();
        slot
    }

    /// A transaction's timer at `at` was moved or ended: if that was the
    /// earliest slot, it is stale now.
    pub(super) fn disarmed(&mut self, at: Instant, id: u64) {
        if self.peek().is_some_and(|f| f.order() == (at, id)) {
            self.unsure = true;
        }
    }

    /// Whether the earliest slot must be checked before it is trusted.
    pub(super) fn is_unsure(&self) -> bool {
        self.unsure
    }

    /// The earliest slot is live (checked by the layer).
    pub(super) fn settled(&mut self) {
        self.unsure = false;
    }

    /// Slots held, stale ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len() + self.lanes.iter().map(|l| l.slots.len()).sum::<usize>()
    }

    fn scan_front(&self) -> Option<Front> {
        let mut best = self.heap.peek().map(|s| (s.order(), Front::Heap));
        for (i, lane) in self.lanes.iter().enumerate() {
            if let Some(s) = lane.slots.front() {
                if best.is_none_or(|(order, _)| s.order() < order) {
                    best = Some((s.order(), Front::Lane(i)));
                }
            }
        }
        best.map(|(_, front)| front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn slot(base: Instant, at_ms: u64, id: u64) -> Slot {
        Slot {
            at: base + Duration::from_millis(at_ms),
            id,
            entry: id as usize,
        }
    }

    /// Slots come out in deadline order whatever lane or heap they went
    /// to: arming times only move forward, delays are drawn from a few
    /// RFC-like values and some odd ones (more than the lanes hold), and
    /// ids are not always increasing with the arming time.
    #[test]
    fn pops_in_deadline_then_id_order() {
        proptest!(|(ops in proptest::collection::vec((0u64..50, 0usize..12, 0u64..4), 1..300))| {
            let delays = [500u64, 1000, 2000, 4000, 5000, 32000, 0, 7, 13, 600, 3, 250];
            let base = Instant::now();
            let mut wakeups = Wakeups::default();
            let mut now_ms = 0;
            let mut expected = Vec::new();
            for (n, (step, delay, id_skew)) in ops.into_iter().enumerate() {
                now_ms += step;
                let id = n as u64 + id_skew * 1000;
                let s = slot(base, now_ms + delays[delay], id);
                expected.push(s.at);
                wakeups.push(s, base + Duration::from_millis(now_ms));
            }
            prop_assert_eq!(wakeups.len(), expected.len());
            expected.sort();
            let mut popped = Vec::new();
            while let Some(s) = wakeups.pop() {
                popped.push(s.at);
            }
            prop_assert_eq!(popped, expected);
            prop_assert_eq!(wakeups.len(), 0);
        });
    }

    /// The common case stays out of the heap: fixed delays armed as the
    /// clock advances each keep their own lane.
    #[test]
    fn fixed_delays_use_lanes_not_the_heap() {
        let base = Instant::now();
        let mut wakeups = Wakeups::default();
        for i in 0..100u64 {
            let now = base + Duration::from_millis(i);
            wakeups.push(slot(base, i + 500, 2 * i), now);
            wakeups.push(slot(base, i + 5000, 2 * i + 1), now);
        }
        // Equal deadlines armed out of id order (200s taken in one turn)
        // stay in their lane too.
        wakeups.push(slot(base, 5099, 1_001), base + Duration::from_millis(99));
        wakeups.push(slot(base, 5099, 1_000), base + Duration::from_millis(99));
        assert_eq!(wakeups.heap.len(), 0);
        assert_eq!(wakeups.lanes.len(), 2);
        assert_eq!(wakeups.peek().map(|s| s.id), Some(0));
    }

    /// Only a moved front, or a pop, makes the layer look at the front
    /// again; moving any other timer does not.
    #[test]
    fn the_front_is_unsure_only_when_it_may_be_stale() {
        let base = Instant::now();
        let mut wakeups = Wakeups::default();
        wakeups.push(slot(base, 500, 1), base);
        wakeups.push(slot(base, 600, 2), base + Duration::from_millis(100));
        wakeups.disarmed(base + Duration::from_millis(600), 2);
        assert!(!wakeups.is_unsure(), "not the front");
        wakeups.disarmed(base + Duration::from_millis(500), 1);
        assert!(wakeups.is_unsure());
        wakeups.settled();
        assert_eq!(wakeups.pop().map(|s| s.id), Some(1));
        assert!(wakeups.is_unsure(), "the next front is unchecked");
        assert_eq!(wakeups.peek().map(|s| s.id), Some(2));
        assert!(wakeups.pop().is_some());
        assert!(!wakeups.is_unsure(), "nothing left to check");
    }

    /// A clock that goes backwards cannot break a lane's order: the slot
    /// goes to the heap and still comes out first.
    #[test]
    fn an_out_of_order_slot_goes_to_the_heap() {
        let base = Instant::now();
        let mut wakeups = Wakeups::default();
        wakeups.push(slot(base, 600, 1), base + Duration::from_millis(100));
        wakeups.push(slot(base, 550, 2), base + Duration::from_millis(50));
        assert_eq!(wakeups.heap.len(), 1);
        assert_eq!(wakeups.pop().map(|s| s.id), Some(2));
        assert_eq!(wakeups.pop().map(|s| s.id), Some(1));
        assert!(wakeups.pop().is_none());
    }
}
