//! The watcher side of subscription dialogs (RFC 6665 §4.1): who watches
//! whom, the server's tag, CSeq on both sides, and the operation in
//! progress. A SUBSCRIBE operation is complete only when both its 2xx and
//! the NOTIFY that follows it have arrived, in either order (§4.1.2.4).
//!
//! Dialogs live in a `Vec` indexed by the number in their Call-ID, and hold
//! no strings but the server's tag, so a million of them fit in about a
//! hundred megabytes.

use std::time::Instant;

/// What a dialog is waiting for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// When the SUBSCRIBE was first sent.
    pub started: Instant,
    /// The 2xx has arrived.
    pub answered: bool,
    /// A new NOTIFY has arrived since `started`.
    pub notified: bool,
    /// Retransmissions of the SUBSCRIBE.
    pub retransmits: u32,
}

/// Where a dialog stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Created, nothing sent yet.
    Idle,
    /// A SUBSCRIBE is outstanding or its NOTIFY is awaited.
    Busy(Pending),
    /// Established and live.
    Active,
    /// Ended by the server, by an error, or by a timeout.
    Dead,
}

/// One subscription dialog.
#[derive(Debug, Clone)]
pub struct Dialog {
    /// The watcher identity.
    pub watcher: u32,
    /// The watched presentity.
    pub presentity: u32,
    /// The socket or connection it lives on.
    pub link: u16,
    /// Our CSeq, last used.
    pub cseq: u32,
    /// The highest NOTIFY CSeq seen, to drop retransmitted NOTIFYs.
    pub remote_cseq: u32,
    /// The server's tag, once known.
    pub remote_tag: Option<Box<[u8]>>,
    /// Where it stands.
    pub state: State,
    /// The highest marker of any NOTIFY (fan-out rounds).
    pub marker: u64,
    /// A batched dialog of the Microsoft dialect: `presentity` is unused,
    /// and its NOTIFYs carry RLMI lists.
    pub batched: bool,
}

impl Dialog {
    /// A dialog not yet started.
    pub fn new(watcher: u32, presentity: u32, link: u16) -> Dialog {
        Dialog {
            watcher,
            presentity,
            link,
            cseq: 0,
            remote_cseq: 0,
            remote_tag: None,
            state: State::Idle,
            marker: 0,
            batched: false,
        }
    }

    /// Begins a SUBSCRIBE (initial or refresh), returning its CSeq.
    pub fn begin(&mut self, now: Instant) -> u32 {
        self.cseq += 1;
        self.state = State::Busy(Pending {
            started: now,
            answered: false,
            notified: false,
            retransmits: 0,
        });
        self.cseq
    }

    /// The SUBSCRIBE got its 2xx. Returns the finished operation when the
    /// NOTIFY was already there.
    pub fn answered(&mut self, retransmits: u32) -> Option<Pending> {
        let State::Busy(p) = &mut self.state else {
            return None;
        };
        p.answered = true;
        p.retransmits = retransmits;
        self.finish_if_done()
    }

    /// A new NOTIFY (CSeq above any seen) arrived. Returns the finished
    /// operation when the 2xx was already there.
    pub fn notified(&mut self, terminated: bool) -> Option<Pending> {
        let done = match &mut self.state {
            State::Busy(p) => {
                p.notified = true;
                self.finish_if_done()
            }
            _ => None,
        };
        if terminated {
            self.state = State::Dead;
        }
        done
    }

    /// Whether a NOTIFY with this CSeq is new, remembering it if so.
    pub fn accept_notify_cseq(&mut self, cseq: u32) -> bool {
        if cseq <= self.remote_cseq && self.remote_cseq != 0 {
            return false;
        }
        self.remote_cseq = cseq;
        true
    }

    /// The operation failed; the dialog is unusable.
    pub fn fail(&mut self) -> Option<Pending> {
        let p = match self.state {
            State::Busy(p) => Some(p),
            _ => None,
        };
        self.state = State::Dead;
        p
    }

    fn finish_if_done(&mut self) -> Option<Pending> {
        match self.state {
            State::Busy(p) if p.answered && p.notified => {
                self.state = State::Active;
                Some(p)
            }
            _ => None,
        }
    }

    /// Whether it can take a refresh now.
    pub fn is_active(&self) -> bool {
        self.state == State::Active
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn complete_needs_both_in_either_order() {
        let now = Instant::now();
        let mut d = Dialog::new(1, 2, 0);
        assert_eq!(d.begin(now), 1);
        assert!(d.answered(0).is_none());
        assert!(d.notified(false).is_some());
        assert!(d.is_active());

        assert_eq!(d.begin(now), 2);
        assert!(d.notified(false).is_none());
        let p = d.answered(3).expect("done");
        assert_eq!(p.retransmits, 3);
        assert!(d.is_active());
    }

    #[test]
    fn notify_cseq_must_grow() {
        let mut d = Dialog::new(1, 2, 0);
        assert!(d.accept_notify_cseq(1));
        assert!(!d.accept_notify_cseq(1));
        assert!(d.accept_notify_cseq(5));
        assert!(!d.accept_notify_cseq(4));
    }

    #[test]
    fn terminated_notify_kills_the_dialog() {
        let mut d = Dialog::new(1, 2, 0);
        d.begin(Instant::now());
        d.answered(0);
        assert!(d.notified(true).is_some());
        assert_eq!(d.state, State::Dead);
        assert!(d.fail().is_none());
    }
}
