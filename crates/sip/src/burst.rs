//! Giving back the room a burst took.
//!
//! Vectors, queues and hash tables never shrink by themselves: after a
//! fan-out or a login storm (over UDP every SUBSCRIBE's transaction lives
//! 32 s, every NOTIFY's 5 s after its 200) they would keep the capacity of
//! the peak for the life of the process. The transaction layer's tables,
//! its timer queues and the core's maps all give room back by the one
//! rule here, so it is tuned in one place: once a table of more than 1024
//! slots uses less than an eighth of them, it shrinks to twice what it
//! holds, which leaves the next burst room to start without regrowing at
//! once, and cannot shrink and regrow on every call (it shrinks only far
//! below where it would have to grow again).

/// Tables this small are never shrunk: the room costs little, and a
/// server at rest keeps some.
const KEPT: usize = 1024;

/// Whether a table holding `len` of its `capacity` slots has drained
/// after a burst and should give room back.
pub fn drained(len: usize, capacity: usize) -> bool {
    capacity > KEPT && len < capacity / 8
}

/// Calls `shrink_to` with twice `len` when the table has [`drained`]; the
/// caller says how its table shrinks.
pub fn give_back(len: usize, capacity: usize, shrink_to: impl FnOnce(usize)) {
    if drained(len, capacity) {
        shrink_to(len * 2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_large_table_under_an_eighth_full_gives_room_back() {
        assert!(!drained(0, 1024), "small tables keep their room");
        assert!(drained(0, 1025));
        assert!(drained(255, 2048));
        assert!(!drained(256, 2048), "an eighth full is not drained");
        let mut asked = None;
        give_back(100, 4096, |to| asked = Some(to));
        assert_eq!(asked, Some(200), "twice what it holds");
        give_back(600, 4096, |_| panic!("not drained"));
    }

    /// Shrinking to twice the length leaves a table far from the point
    /// where it would shrink again: shrinking cannot repeat on every call.
    #[test]
    fn a_shrunk_table_is_not_drained_again_at_once() {
        for len in 129..10_000 {
            let capacity = 16 * len;
            if drained(len, capacity) {
                assert!(!drained(len, len * 2), "{len}");
            }
        }
    }
}
