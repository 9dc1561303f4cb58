//! The presence provider's logic (seed 004): one upstream subscription per
//! presentity however many consumers watch it, started through a throttle,
//! restored when lost, retried after failures and given up on after too
//! many.
//!
//! Sans-IO like the rest of the crate. The [`Provider`] holds a
//! [`Subscriber`] per watched presentity and is fed consumer counts,
//! upstream responses and NOTIFYs, and the time; it returns [`Output`]s:
//! SUBSCRIBEs to send, upstream state to put into the presentity as a
//! source, and status changes (for consumers, logs and metrics). What must
//! be random (Call-IDs, tags, client nonces, retry jitter) comes from the
//! caller's [`Entropy`], so tests are deterministic.
//!
//! The rules, with the seed's option names:
//! - **Throttle**: at most `max_presence_subscriptions_per_second` initial
//!   SUBSCRIBEs start in any one-second window, in arrival order; restores
//!   and retries queue behind the same throttle. A queued presentity is
//!   `Queued`, which consumers show as pending, not as an error.
//! - **Self-healing**: a subscription the upstream ends with a reason that
//!   allows it (or loses: 481, a refresh timeout, a lapse) is queued again
//!   at once; a failed one is retried after
//!   `failed_presence_subscriptions_resubscribe_delay` (±10 % jitter, or
//!   the upstream's Retry-After if longer); after
//!   `max_failed_presence_subscriptions_per_uri` consecutive failures
//!   (0: never) the presentity is `Failed` and left alone until a consumer
//!   watches it anew. A state from the upstream resets the count.
//! - **Linger**: when the last consumer leaves, the subscription is kept
//!   for `linger` (a consumer often comes back at once: a client restart, a
//!   queue re-evaluated) and then ended with `Expires: 0`.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use sip::{HeaderAccess, Request, Response, Uri};

use crate::subscriber::{self, Ending, Fresh, Identity, Subscriber};

pub mod change;

/// The provider's knobs; the defaults are seed 004's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `max_presence_subscriptions_per_second` (seed: 15).
    pub max_subscriptions_per_second: u32,
    /// `failed_presence_subscriptions_resubscribe_delay` (seed: 900 s).
    pub resubscribe_delay: Duration,
    /// `max_failed_presence_subscriptions_per_uri` (seed: 3; 0 = never
    /// give up).
    pub max_failed_per_uri: u32,
    /// How long a subscription without consumers is kept.
    pub linger: Duration,
    /// What each upstream SUBSCRIBE asks for.
    pub subscription: subscriber::Settings,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_subscriptions_per_second: 15,
            resubscribe_delay: Duration::from_secs(900),
            max_failed_per_uri: 3,
            linger: Duration::from_secs(30),
            subscription: subscriber::Settings::default(),
        }
    }
}

/// Randomness the provider needs, from the runtime (tests pass fixed
/// values).
pub trait Entropy {
    /// Call-ID, tag and client nonce for a new dialog or a challenge.
    fn fresh(&mut self) -> Fresh;
    /// A number in [0, 1) for retry jitter.
    fn unit(&mut self) -> f64;
}

/// Where one presentity's upstream subscription stands: what consumers,
/// the API and the metrics see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Waiting for the throttle.
    Queued,
    /// SUBSCRIBE sent, or the upstream said `pending`: no state yet.
    Pending,
    /// The upstream is sending state.
    Live,
    /// Failed; tried again at `at` (`failures` so far).
    Retrying {
        /// When.
        at: Instant,
        /// Consecutive failures.
        failures: u32,
        /// The last failure.
        reason: String,
    },
    /// Given up after too many failures, or refused for good.
    Failed {
        /// The last failure.
        reason: String,
    },
}

impl Status {
    /// The upstream's state can be shown only while live: every other
    /// status means presence unknown, never a stale value.
    pub fn is_live(&self) -> bool {
        matches!(self, Status::Live)
    }
}

/// What the runtime must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this SUBSCRIBE to the upstream (add the Via, run a client
    /// transaction, hand its response to [`Provider::on_response`]).
    Send(Box<Request>),
    /// The upstream's state of `presentity`: put it in as the upstream
    /// source.
    State {
        /// Whose.
        presentity: String,
        /// Content-Type of the document.
        content_type: Bytes,
        /// The document.
        body: Bytes,
    },
    /// `presentity`'s upstream status changed. Anything but `Live` means
    /// the upstream source must be taken out (presence unknown).
    Status {
        /// Whose.
        presentity: String,
        /// The new status.
        status: Status,
    },
    /// No consumer is left and the linger is over: the upstream
    /// subscription is ended and the presentity forgotten.
    Released {
        /// Whose.
        presentity: String,
    },
}

/// Counts for metrics and the API.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Presentities with an upstream subscription sending state.
    pub live: usize,
    /// Sent, or pending upstream.
    pub pending: usize,
    /// Waiting for the throttle.
    pub queued: usize,
    /// Waiting to retry after a failure.
    pub retrying: usize,
    /// Given up.
    pub failed: usize,
    /// Consumers over all presentities.
    pub consumers: usize,
    /// The most consumers of one presentity (consumers per presentity:
    /// the mean is `consumers` over the subscriptions; a label per
    /// presentity would not scale, the API tells one presentity's).
    pub max_consumers: usize,
    /// Presentities waiting in the throttle's queue.
    pub throttle_queue: usize,
    /// Subscriptions restored or retried since start.
    pub resubscriptions: u64,
}

/// One presentity's upstream subscription.
#[derive(Debug)]
struct Entry {
    subscriber: Subscriber,
    consumers: usize,
    status: Status,
    failures: u32,
    /// When a consumer-less subscription is released.
    linger_until: Option<Instant>,
    /// The time this entry is filed under in the timer index.
    filed: Option<Instant>,
    /// Whether the next start is a restore or retry (for the count).
    restart: bool,
}

/// The provider; see the module documentation.
#[derive(Debug)]
pub struct Provider {
    settings: Settings,
    identity: Identity,
    entries: HashMap<String, Entry>,
    /// Call-ID of each entry's current dialog → presentity.
    by_call_id: HashMap<String, String>,
    /// Presentities waiting for the throttle, in arrival order.
    queue: VecDeque<String>,
    /// Start times within the last second (the throttle's window).
    starts: VecDeque<Instant>,
    /// Each entry's next deadline.
    timers: BTreeSet<(Instant, String)>,
    resubscriptions: u64,
    /// Whether the upstream can be reached: while it cannot (its
    /// connection is down), the throttle's queue waits instead of sending
    /// SUBSCRIBEs that could only fail and count against their URIs.
    reachable: bool,
}

impl Provider {
    /// A provider subscribing as `identity`.
    pub fn new(settings: Settings, identity: Identity) -> Provider {
        Provider {
            settings,
            identity,
            entries: HashMap::new(),
            by_call_id: HashMap::new(),
            queue: VecDeque::new(),
            starts: VecDeque::new(),
            timers: BTreeSet::new(),
            resubscriptions: 0,
            reachable: true,
        }
    }

    /// The upstream became reachable over a new flow whose address is
    /// `contact`: the next dialogs name it, and the queue drains again
    /// through the throttle.
    pub fn reachable(
        &mut self,
        contact: Uri,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        self.identity.contact = contact.clone();
        for entry in self.entries.values_mut() {
            entry.subscriber.set_contact(contact.clone());
        }
        self.reachable = true;
        self.drain_queue(entropy, now)
    }

    /// The flow to the upstream is gone (its connection closed, was reset
    /// or refused): every subscription under way is lost with it and
    /// queued again exactly as when the upstream loses a dialog (a 481 on
    /// refresh), and nothing starts until [`Provider::reachable`].
    pub fn unreachable(
        &mut self,
        reason: &str,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        self.reachable = false;
        let mut keys: Vec<String> = self
            .entries
            .iter()
            .filter(|(_, e)| e.subscriber.is_live())
            .map(|(k, _)| k.clone())
            .collect();
        // Arrival order is lost in the map; the address order at least
        // makes the requeue deterministic.
        keys.sort();
        let mut out = Vec::new();
        for key in keys {
            let outputs = match self.entries.get_mut(&key) {
                Some(entry) => entry.subscriber.lost(reason),
                None => continue,
            };
            out.extend(self.apply(&key, outputs, entropy, now));
            self.refile(&key);
        }
        out
    }

    /// A consumer starts watching `presentity`. The first one queues its
    /// upstream subscription; a later one only counts (and brings a
    /// lingering or failed subscription back).
    pub fn watch(
        &mut self,
        presentity: &Uri,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        let key = presentity.aor();
        let mut out = Vec::new();
        match self.entries.get_mut(&key) {
            Some(entry) => {
                entry.consumers += 1;
                entry.linger_until = None;
                if matches!(entry.status, Status::Failed { .. }) {
                    // A new consumer asks anew: one more round of tries.
                    entry.failures = 0;
                    entry.restart = true;
                    entry.status = Status::Queued;
                    self.queue.push_back(key.clone());
                    out.push(status_output(&key, Status::Queued));
                }
            }
            None => {
                let subscriber = Subscriber::new(
                    presentity.clone(),
                    self.identity.clone(),
                    self.settings.subscription.clone(),
                );
                self.entries.insert(
                    key.clone(),
                    Entry {
                        subscriber,
                        consumers: 1,
                        status: Status::Queued,
                        failures: 0,
                        linger_until: None,
                        filed: None,
                        restart: false,
                    },
                );
                self.queue.push_back(key.clone());
                out.push(status_output(&key, Status::Queued));
            }
        }
        out.extend(self.drain_queue(entropy, now));
        self.refile(&key);
        out
    }

    /// A consumer stops watching `presentity`; the last one starts the
    /// linger.
    pub fn unwatch(&mut self, presentity: &Uri, now: Instant) -> Vec<Output> {
        let key = presentity.aor();
        if let Some(entry) = self.entries.get_mut(&key) {
            entry.consumers = entry.consumers.saturating_sub(1);
            if entry.consumers == 0 {
                entry.linger_until = Some(now + self.settings.linger);
            }
        }
        self.refile(&key);
        Vec::new()
    }

    /// The status of `presentity`'s upstream subscription, if it has one.
    pub fn status(&self, presentity: &Uri) -> Option<&Status> {
        self.entries.get(&presentity.aor()).map(|e| &e.status)
    }

    /// Consumers of `presentity`.
    pub fn consumers(&self, presentity: &Uri) -> usize {
        self.entries
            .get(&presentity.aor())
            .map_or(0, |e| e.consumers)
    }

    /// Up to `max` presentities whose upstream subscription is not live,
    /// failed ones first, then by address, with their status and
    /// consumers: what an operator looks at when presence is missing.
    /// Walks every entry, so it is for on-demand views, never the hot
    /// path.
    pub fn not_live(&self, max: usize) -> Vec<(String, Status, usize)> {
        let rank = |s: &Status| match s {
            Status::Failed { .. } => 0,
            Status::Retrying { .. } => 1,
            Status::Pending => 2,
            Status::Queued => 3,
            Status::Live => 4,
        };
        let mut found: Vec<(String, Status, usize)> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.status.is_live())
            .map(|(p, e)| (p.clone(), e.status.clone(), e.consumers))
            .collect();
        found.sort_by(|a, b| rank(&a.1).cmp(&rank(&b.1)).then_with(|| a.0.cmp(&b.0)));
        found.truncate(max);
        found
    }

    /// Whether a dialog of ours has this Call-ID (the endpoint's check
    /// before an in-dialog NOTIFY goes further).
    pub fn has_dialog(&self, call_id: &[u8]) -> bool {
        std::str::from_utf8(call_id).is_ok_and(|c| self.by_call_id.contains_key(c))
    }

    /// Counts for metrics.
    pub fn stats(&self) -> Stats {
        let mut s = Stats {
            resubscriptions: self.resubscriptions,
            ..Stats::default()
        };
        s.throttle_queue = self.queue.len();
        for e in self.entries.values() {
            s.consumers += e.consumers;
            s.max_consumers = s.max_consumers.max(e.consumers);
            match e.status {
                Status::Live => s.live += 1,
                Status::Pending => s.pending += 1,
                Status::Queued => s.queued += 1,
                Status::Retrying { .. } => s.retrying += 1,
                Status::Failed { .. } => s.failed += 1,
            }
        }
        s
    }

    /// The response to an upstream SUBSCRIBE.
    pub fn on_response(
        &mut self,
        resp: &Response,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        let Some(key) = self.owner(resp.call_id().ok()) else {
            return Vec::new();
        };
        let fresh = entropy.fresh();
        let outputs = match self.entries.get_mut(&key) {
            Some(entry) => entry.subscriber.on_response(resp, &fresh, now),
            None => return Vec::new(),
        };
        let mut out = self.apply(&key, outputs, entropy, now);
        self.refile(&key);
        out.extend(self.drain_queue(entropy, now));
        out
    }

    /// A NOTIFY from the upstream: the status to answer it with, and what
    /// follows.
    pub fn on_notify(
        &mut self,
        req: &Request,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> (u16, Vec<Output>) {
        let Some(key) = self.owner(req.call_id().ok()) else {
            return (481, Vec::new());
        };
        let (status, outputs) = match self.entries.get_mut(&key) {
            Some(entry) => entry.subscriber.on_notify(req, now),
            None => return (481, Vec::new()),
        };
        let mut out = self.apply(&key, outputs, entropy, now);
        self.refile(&key);
        out.extend(self.drain_queue(entropy, now));
        (status, out)
    }

    /// When [`Provider::on_timeout`] must next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let entry = self.timers.first().map(|(at, _)| *at);
        let throttle = (self.reachable && !self.queue.is_empty())
            .then(|| self.next_slot())
            .flatten();
        [entry, throttle].into_iter().flatten().min()
    }

    /// Refreshes, retries, releases and starts what is due.
    pub fn on_timeout(&mut self, entropy: &mut dyn Entropy, now: Instant) -> Vec<Output> {
        let mut out = Vec::new();
        while let Some((at, key)) = self.timers.first().cloned() {
            if at > now {
                break;
            }
            self.timers.remove(&(at, key.clone()));
            if let Some(entry) = self.entries.get_mut(&key) {
                entry.filed = None;
            }
            out.extend(self.due(&key, entropy, now));
            self.refile(&key);
        }
        out.extend(self.drain_queue(entropy, now));
        out
    }

    /// Ends every upstream subscription (shutdown): `Expires: 0` where a
    /// dialog exists.
    pub fn shutdown(&mut self) -> Vec<Output> {
        let mut out = Vec::new();
        for entry in self.entries.values_mut() {
            for o in entry.subscriber.unsubscribe() {
                if let subscriber::Output::Send(req) = o {
                    out.push(Output::Send(req));
                }
            }
        }
        out
    }

    /// What is due for `key` at `now`: a release, a retry, or the
    /// subscriber's own timer.
    fn due(&mut self, key: &str, entropy: &mut dyn Entropy, now: Instant) -> Vec<Output> {
        let Some(entry) = self.entries.get_mut(key) else {
            return Vec::new();
        };
        if entry.consumers == 0 && entry.linger_until.is_some_and(|t| t <= now) {
            return self.release(key);
        }
        if let Status::Retrying { at, .. } = entry.status {
            if at <= now {
                entry.status = Status::Queued;
                entry.restart = true;
                self.queue.push_back(key.to_owned());
                return vec![status_output(key, Status::Queued)];
            }
            return Vec::new();
        }
        let outputs = entry.subscriber.on_timeout(now);
        self.apply(key, outputs, entropy, now)
    }

    /// Ends and forgets `key`.
    fn release(&mut self, key: &str) -> Vec<Output> {
        let Some(mut entry) = self.entries.remove(key) else {
            return Vec::new();
        };
        if let Some(call_id) = entry.subscriber.call_id() {
            self.by_call_id.remove(call_id);
        }
        if let Some(at) = entry.filed {
            self.timers.remove(&(at, key.to_owned()));
        }
        self.queue.retain(|k| k != key);
        let mut out: Vec<Output> = entry
            .subscriber
            .unsubscribe()
            .into_iter()
            .filter_map(|o| match o {
                subscriber::Output::Send(req) => Some(Output::Send(req)),
                _ => None,
            })
            .collect();
        out.push(Output::Released {
            presentity: key.to_owned(),
        });
        out
    }

    /// Turns a subscriber's outputs into the provider's, and its endings
    /// into requeues, retries or failures.
    fn apply(
        &mut self,
        key: &str,
        outputs: Vec<subscriber::Output>,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        let mut out = Vec::new();
        for o in outputs {
            match o {
                subscriber::Output::Send(req) => out.push(Output::Send(req)),
                subscriber::Output::Pending => {
                    out.extend(self.set_status(key, Status::Pending));
                }
                subscriber::Output::Active => {
                    if let Some(entry) = self.entries.get_mut(key) {
                        entry.failures = 0;
                    }
                    out.extend(self.set_status(key, Status::Live));
                }
                subscriber::Output::State { content_type, body } => {
                    if let Some(entry) = self.entries.get_mut(key) {
                        entry.failures = 0;
                    }
                    out.extend(self.set_status(key, Status::Live));
                    out.push(Output::State {
                        presentity: key.to_owned(),
                        content_type,
                        body,
                    });
                }
                subscriber::Output::Ended(ending) => {
                    out.extend(self.ended(key, ending, entropy, now));
                }
            }
        }
        out
    }

    /// A subscription ended: queue it again, retry it later, or give up.
    fn ended(
        &mut self,
        key: &str,
        ending: Ending,
        entropy: &mut dyn Entropy,
        now: Instant,
    ) -> Vec<Output> {
        let Some(entry) = self.entries.get_mut(key) else {
            return Vec::new();
        };
        if let Some(call_id) = entry.subscriber.call_id() {
            self.by_call_id.remove(call_id);
        }
        if entry.consumers == 0 && entry.linger_until.is_some() {
            // Nobody is waiting for it: let the linger release it.
            return Vec::new();
        }
        let status = match ending {
            Ending::Unsubscribed => return Vec::new(),
            Ending::Retry { after, .. } if after.is_zero() => {
                entry.restart = true;
                self.queue.push_back(key.to_owned());
                Status::Queued
            }
            Ending::Retry { after, reason } => Status::Retrying {
                at: now + after,
                failures: entry.failures,
                reason,
            },
            Ending::Failed {
                reason,
                retry_after,
                permanent,
            } => {
                entry.failures += 1;
                let limit = self.settings.max_failed_per_uri;
                if permanent || (limit > 0 && entry.failures >= limit) {
                    Status::Failed { reason }
                } else {
                    // ±10 % so a burst of failures does not come back as
                    // a burst.
                    let base = self.settings.resubscribe_delay;
                    let jitter = base.mul_f64(0.2 * entropy.unit());
                    let delay = (base.mul_f64(0.9) + jitter).max(retry_after.unwrap_or_default());
                    Status::Retrying {
                        at: now + delay,
                        failures: entry.failures,
                        reason,
                    }
                }
            }
        };
        self.set_status(key, status)
    }

    fn set_status(&mut self, key: &str, status: Status) -> Vec<Output> {
        match self.entries.get_mut(key) {
            Some(entry) if entry.status != status => {
                entry.status = status.clone();
                vec![status_output(key, status)]
            }
            _ => Vec::new(),
        }
    }

    /// Starts queued subscriptions while the throttle allows.
    fn drain_queue(&mut self, entropy: &mut dyn Entropy, now: Instant) -> Vec<Output> {
        let window = Duration::from_secs(1);
        let mut out = Vec::new();
        while let Some(front) = self.starts.front() {
            if now.duration_since(*front) >= window {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        let limit = self.settings.max_subscriptions_per_second.max(1) as usize;
        while self.reachable && self.starts.len() < limit {
            let Some(key) = self.queue.pop_front() else {
                break;
            };
            let Some(entry) = self.entries.get_mut(&key) else {
                continue;
            };
            if entry.status != Status::Queued {
                continue;
            }
            if std::mem::take(&mut entry.restart) {
                self.resubscriptions += 1;
            }
            let fresh = entropy.fresh();
            let outputs = entry.subscriber.start(&fresh);
            self.by_call_id.insert(fresh.call_id.clone(), key.clone());
            self.starts.push_back(now);
            out.extend(self.set_status(&key, Status::Pending));
            out.extend(self.apply(&key, outputs, entropy, now));
            self.refile(&key);
        }
        out
    }

    /// When the throttle next lets one start: every entry point drains the
    /// queue while the window has room, so a waiting queue means a full
    /// window, which frees a place when its oldest start turns a second
    /// old.
    fn next_slot(&self) -> Option<Instant> {
        self.starts.front().map(|t| *t + Duration::from_secs(1))
    }

    /// The presentity whose dialog has this Call-ID.
    fn owner(&self, call_id: Option<Bytes>) -> Option<String> {
        let call_id = call_id?;
        let call_id = std::str::from_utf8(&call_id).ok()?;
        self.by_call_id.get(call_id).cloned()
    }

    /// Files `key` under its next deadline in the timer index.
    fn refile(&mut self, key: &str) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let next = match &entry.status {
            Status::Retrying { at, .. } => Some(*at),
            _ => entry.subscriber.poll_timeout(),
        };
        let next = match (next, entry.linger_until) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if next == entry.filed {
            return;
        }
        if let Some(old) = entry.filed.take() {
            self.timers.remove(&(old, key.to_owned()));
        }
        if let Some(at) = next {
            self.timers.insert((at, key.to_owned()));
            entry.filed = Some(at);
        }
    }
}

fn status_output(key: &str, status: Status) -> Output {
    Output::Status {
        presentity: key.to_owned(),
        status,
    }
}

#[cfg(test)]
mod tests;
