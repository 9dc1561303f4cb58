//! `usermodel`: the published Skype for Business user model, time-compressed.
//!
//! N users sign in spread evenly over a login window, in a seeded random
//! order. At sign-in a user PUBLISHes its state (a create), then SUBSCRIBEs
//! to its C contacts (seeded, distinct, recomputed from the seed rather
//! than stored), queued behind the common `--window` (and `--rate`), and
//! from then on changes state at Poisson-distributed times averaging
//! `change_mean` apart, each a modify under SIP-If-Match cycling through
//! online, busy, away and on-the-phone. The time compression (a factor F
//! shrinking the login window and the gaps between changes) lives in the
//! `Config` durations the caller computes.
//!
//! Once every user has signed in and its subscriptions have settled (or a
//! grace period after the window has passed), the steady phase runs for
//! `steady`. Every PUBLISH owes a NOTIFY to each watcher active when it was
//! sent; [`latency::Tracker`] times them, per phase of the PUBLISH. The
//! server's memory is read before, at the end of the steady phase (every
//! subscription live) and at the very end. With `cleanup`, every
//! subscription is then ended (Expires: 0) and every publication removed,
//! so that the next run against the same server (a search round) starts
//! from the same state. Subscriptions and publications are not refreshed:
//! the caller picks Expires above the run's length.
//!
//! In the batched mode (the Microsoft dialect, as Skype for Business
//! clients subscribe) a user opens ONE batched dialog over its C contacts
//! instead of C dialogs: each (user, contact) relation is a slot of the
//! tracker (`dialog × C + the contact's rank`), and the category parts of
//! the RLMI NOTIFYs pay the relations' owed NOTIFYs as single NOTIFYs do.

mod latency;
mod model;
mod verdict;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::core::{Core, Event};
use crate::scenario::hold::RssProbe;
use crate::scenario::{Pacer, Poll, Scenario};
use crate::stats::{MemoryReport, Metric, Verdict};

use model::{contacts, sign_in_order, Rng};

/// The states a user cycles through, as RPID activities (`None`: online).
const STATES: [Option<&str>; 4] = [None, Some("busy"), Some("away"), Some("on-the-phone")];

/// The knobs, in real (compressed) time.
#[derive(Debug, Clone)]
pub struct Config {
    /// N.
    pub users: u32,
    /// C, contacts per user (at most N - 1 are used).
    pub contacts: u32,
    /// The window users sign in over.
    pub login_window: Duration,
    /// Mean gap between a user's state changes.
    pub change_mean: Duration,
    /// Length of the measured steady phase.
    pub steady: Duration,
    /// Expires of every SUBSCRIBE and PUBLISH.
    pub expires: u32,
    /// Sign-in SUBSCRIBEs per second, 0 = as fast as the window allows.
    pub rate: f64,
    /// Most SUBSCRIBEs (and cleanup requests) outstanding.
    pub window: usize,
    /// Seed of the sign-in order, contacts and change times.
    pub seed: u64,
    /// A NOTIFY not there this long after its PUBLISH is a failure.
    pub notify_timeout: Duration,
    /// End subscriptions and publications at the end.
    pub cleanup: bool,
    /// The server process, for the report.
    pub server_pid: u32,
    /// The verdict's limit on the steady-phase PUBLISH → NOTIFY p99.
    pub p99_limit: Duration,
    /// The verdict's limit on failed over all operations.
    pub failure_limit: f64,
    /// One batched dialog per user over its contacts, not one per contact.
    pub batched: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Start,
    Login,
    Steady(Instant),
    Drain,
    Cleanup,
    Done,
}

/// A user as the generator keeps it: a few dozen bytes.
#[derive(Debug, Clone, Default)]
struct User {
    etag: Option<Bytes>,
    signed_in_at: Option<Instant>,
    version: u32,
    remaining: u32,
    state: u8,
    busy: bool,
    due: bool,
    failed_subscription: bool,
}

/// The scenario.
pub struct Usermodel {
    cfg: Config,
    phase: Phase,
    t0: Option<Instant>,
    order: Vec<u32>,
    signed_in: usize,
    users: Vec<User>,
    queue: VecDeque<(u32, u32)>,
    in_flight: usize,
    publishing: usize,
    pacer: Pacer,
    changes: BinaryHeap<Reverse<(Instant, u32)>>,
    rng: Rng,
    tracker: latency::Tracker,
    subscribe: Metric,
    signin: Metric,
    publish: Metric,
    probe: Option<RssProbe>,
    memory: MemoryReport,
    buf: Vec<u32>,
    steady_window: Option<(Instant, Instant)>,
    steady_publishes: u64,
    deferred: u64,
    backlog_at_steady: u64,
    cleanup_at: (u32, u32),
    cleanup_requests: u64,
    /// Batched mode: the sorted contacts of each batched dialog.
    batch_contacts: Vec<Box<[u32]>>,
    /// Batched mode: the contacts a user has (all users have as many).
    per_user: u32,
    /// Batched mode: category parts received.
    parts: u64,
    /// Batched mode: parts whose presentity the dialog does not watch.
    parts_unexpected: u64,
}

/// The dialog number of a queued batched subscription (a user's batch).
const BATCH: u32 = u32::MAX;

impl Usermodel {
    /// A scenario with these settings; `probe` reads the server's VmRSS.
    pub fn new(cfg: Config, probe: Option<RssProbe>) -> Usermodel {
        Usermodel {
            order: sign_in_order(cfg.users, cfg.seed),
            users: vec![User::default(); cfg.users as usize],
            tracker: latency::Tracker::new(cfg.users, cfg.notify_timeout),
            pacer: Pacer::new(cfg.rate, cfg.window),
            rng: Rng::new(cfg.seed, u64::MAX - 1),
            memory: MemoryReport {
                server_pid: cfg.server_pid,
                ..MemoryReport::default()
            },
            phase: Phase::Start,
            t0: None,
            signed_in: 0,
            queue: VecDeque::new(),
            in_flight: 0,
            publishing: 0,
            changes: BinaryHeap::new(),
            subscribe: Metric::new("usermodel.subscribe"),
            signin: Metric::new("usermodel.signin"),
            publish: Metric::new("usermodel.publish"),
            probe,
            buf: Vec::new(),
            steady_window: None,
            steady_publishes: 0,
            deferred: 0,
            backlog_at_steady: 0,
            cleanup_at: (0, 0),
            cleanup_requests: 0,
            batch_contacts: Vec::new(),
            per_user: cfg.contacts.min(cfg.users.saturating_sub(1)),
            parts: 0,
            parts_unexpected: 0,
            cfg,
        }
    }

    fn read_rss(&mut self) -> Option<u64> {
        self.probe.as_mut().and_then(|p| p())
    }

    /// When the `k`-th user of the order signs in.
    fn sign_in_time(&self, t0: Instant, k: usize) -> Instant {
        let share = k as f64 / f64::from(self.cfg.users.max(1));
        t0 + self.cfg.login_window.mul_f64(share)
    }

    fn sign_in_due(&mut self, core: &mut Core, t0: Instant, now: Instant) -> Option<Instant> {
        while let Some(&u) = self.order.get(self.signed_in) {
            let at = self.sign_in_time(t0, self.signed_in);
            if at > now {
                return Some(at);
            }
            self.signed_in += 1;
            self.send_publish(core, u, true, now);
            contacts(
                u,
                self.cfg.users,
                self.cfg.contacts,
                self.cfg.seed,
                &mut self.buf,
            );
            let user = &mut self.users[u as usize];
            user.signed_in_at = Some(at);
            user.remaining = self.buf.len() as u32;
            if self.cfg.batched {
                if !self.buf.is_empty() {
                    self.queue.push_back((u, BATCH));
                    user.remaining = 1;
                }
            } else {
                self.queue.extend(self.buf.iter().map(|&c| (u, c)));
            }
            if user.remaining == 0 {
                self.signin.ok(now.saturating_duration_since(at), 0);
            }
        }
        None
    }

    fn start_subscribes(&mut self, core: &mut Core, now: Instant) -> Option<Instant> {
        while !self.queue.is_empty() && self.pacer.ready(now, self.in_flight) {
            let Some((w, p)) = self.queue.pop_front() else {
                break;
            };
            if p == BATCH {
                contacts(
                    w,
                    self.cfg.users,
                    self.cfg.contacts,
                    self.cfg.seed,
                    &mut self.buf,
                );
                self.buf.sort_unstable();
                let d = core.add_batch(w);
                debug_assert_eq!(d as usize, self.batch_contacts.len());
                core.subscribe_batch(d, &self.buf, self.cfg.expires, now);
                self.batch_contacts
                    .push(self.buf.clone().into_boxed_slice());
                self.in_flight += 1;
                continue;
            }
            let d = core.add_dialog(w, p);
            core.subscribe(d, self.cfg.expires, now);
            self.in_flight += 1;
        }
        if self.queue.is_empty() {
            None
        } else {
            self.pacer.wake()
        }
    }

    /// Sends user `u`'s next state: its first (a create) or a change.
    fn send_publish(&mut self, core: &mut Core, u: u32, first: bool, now: Instant) {
        let steady = matches!(self.phase, Phase::Steady(_));
        let Some(user) = self.users.get_mut(u as usize) else {
            return;
        };
        if !first {
            user.state = (user.state + 1) % STATES.len() as u8;
        }
        user.version += 1;
        user.busy = true;
        user.due = false;
        let activity = STATES[usize::from(user.state)];
        core.publish_activity(
            u,
            self.cfg.expires,
            user.etag.as_deref(),
            Some(u64::from(user.version)),
            activity,
            now,
        );
        self.tracker.published(u, user.version, steady, now);
        self.publishing += 1;
        if steady {
            self.steady_publishes += 1;
        }
        let gap = self.rng.exponential(self.cfg.change_mean.as_secs_f64());
        let gap = Duration::try_from_secs_f64(gap).unwrap_or(self.cfg.change_mean);
        self.changes.push(Reverse((now + gap, u)));
    }

    fn changes_due(&mut self, core: &mut Core, now: Instant) -> Option<Instant> {
        while let Some(&Reverse((at, u))) = self.changes.peek() {
            if at > now {
                return Some(at);
            }
            self.changes.pop();
            match self.users.get_mut(u as usize) {
                // One PUBLISH at a time per user: the next needs the
                // entity-tag this one returns (RFC 3903 §4.4).
                Some(user) if user.busy => {
                    user.due = true;
                    self.deferred += 1;
                }
                Some(_) => self.send_publish(core, u, false, now),
                None => {}
            }
        }
        None
    }

    fn begin_steady(&mut self, now: Instant) {
        self.backlog_at_steady = (self.queue.len() + self.in_flight) as u64;
        self.subscribe.close(now);
        self.signin.close(now);
        self.tracker.login.close(now);
        self.tracker.steady.open(now);
        self.steady_window = Some((now, now));
        self.phase = Phase::Steady(now + self.cfg.steady);
    }

    fn end_steady(&mut self, now: Instant) {
        self.tracker.steady.close(now);
        self.publish.close(now);
        if let Some((start, _)) = self.steady_window {
            self.steady_window = Some((start, now));
        }
        let live = self.tracker.active_watchers();
        self.memory.subscriptions = live;
        self.memory.rss_after_kib = self.read_rss();
        if let (Some(before), Some(after)) = (self.memory.rss_before_kib, self.memory.rss_after_kib)
        {
            if live > 0 {
                let grown = after.saturating_sub(before) as f64 * 1024.0;
                self.memory.bytes_per_subscription = Some(grown / live as f64);
            }
        }
        self.phase = Phase::Drain;
    }

    /// Ends what is live, a window's worth at a time; true when all is done.
    fn clean_up(&mut self, core: &mut Core, now: Instant) -> bool {
        let mut room = self.cfg.window.max(1).saturating_sub(core.outstanding());
        while room > 0 {
            let (d, u) = self.cleanup_at;
            if d < core.dialog_count() {
                self.cleanup_at.0 += 1;
                if core.dialog(d).is_some_and(|x| x.is_active()) {
                    core.subscribe(d, 0, now);
                    room -= 1;
                    self.cleanup_requests += 1;
                }
            } else if let Some(user) = self.users.get_mut(u as usize) {
                self.cleanup_at.1 += 1;
                if let Some(etag) = user.etag.take() {
                    core.publish(u, 0, Some(&etag), None, now);
                    room -= 1;
                    self.cleanup_requests += 1;
                }
            } else {
                break;
            }
        }
        let all_sent = self.cleanup_at.0 >= core.dialog_count()
            && self.cleanup_at.1 as usize >= self.users.len();
        all_sent && core.outstanding() == 0
    }

    /// Failed requests over requests, and missing NOTIFYs over NOTIFYs,
    /// apart (see [`verdict::Failures`]).
    fn failures(&self) -> verdict::Failures {
        verdict::Failures {
            requests: verdict::ratio(&[&self.subscribe, &self.publish]),
            notifies: verdict::ratio(&[&self.tracker.login, &self.tracker.steady]),
        }
    }
}

fn earliest(times: &[Option<Instant>]) -> Option<Instant> {
    times.iter().flatten().copied().min()
}

impl Scenario for Usermodel {
    fn poll(&mut self, core: &mut Core, now: Instant) -> Poll {
        loop {
            match self.phase {
                Phase::Start => {
                    self.t0 = Some(now);
                    self.memory.rss_before_kib = self.read_rss();
                    self.subscribe.open(now);
                    self.signin.open(now);
                    self.publish.open(now);
                    self.tracker.login.open(now);
                    self.phase = Phase::Login;
                }
                Phase::Login => {
                    let t0 = self.t0.unwrap_or(now);
                    let signin = self.sign_in_due(core, t0, now);
                    let pace = self.start_subscribes(core, now);
                    let change = self.changes_due(core, now);
                    let expiry = self.tracker.expire(now);
                    // A server that cannot keep up gets as long again as
                    // the window (at least Timer F) before the steady
                    // phase begins with the backlog counted.
                    let grace = self.cfg.login_window.max(self.cfg.notify_timeout);
                    let give_up = t0 + self.cfg.login_window + grace;
                    let settled = self.signed_in == self.order.len()
                        && self.queue.is_empty()
                        && self.in_flight == 0;
                    if settled || now >= give_up {
                        self.begin_steady(now);
                        continue;
                    }
                    let next = earliest(&[signin, pace, change, expiry, Some(give_up)]);
                    return Poll::Wake(next);
                }
                Phase::Steady(end) if now >= end => self.end_steady(now),
                Phase::Steady(end) => {
                    let pace = self.start_subscribes(core, now);
                    let change = self.changes_due(core, now);
                    let expiry = self.tracker.expire(now);
                    return Poll::Wake(earliest(&[pace, change, expiry, Some(end)]));
                }
                Phase::Drain => {
                    // Sign-ins still queued when the steady phase ends are
                    // dropped (`subscriptions_never_sent`).
                    let expiry = self.tracker.expire(now);
                    if self.tracker.owed() > 0 || self.publishing > 0 || self.in_flight > 0 {
                        return Poll::Wake(expiry);
                    }
                    self.phase = if self.cfg.cleanup {
                        Phase::Cleanup
                    } else {
                        self.memory.rss_end_kib = self.read_rss();
                        Phase::Done
                    };
                }
                Phase::Cleanup => {
                    if !self.clean_up(core, now) {
                        return Poll::Wake(None);
                    }
                    self.memory.rss_end_kib = self.read_rss();
                    self.phase = Phase::Done;
                }
                Phase::Done => return Poll::Done,
            }
        }
    }

    fn on_event(&mut self, core: &mut Core, event: Event, now: Instant) {
        if self.phase == Phase::Cleanup {
            return;
        }
        match event {
            Event::Subscribed { dialog, result } => {
                self.in_flight = self.in_flight.saturating_sub(1);
                let Some(x) = core.dialog(dialog) else {
                    return;
                };
                let (w, p, active) = (x.watcher, x.presentity, x.is_active());
                match result {
                    Ok(done) => self.subscribe.ok(done.latency, done.retransmits),
                    Err(f) => self.subscribe.fail(f.why, f.retransmits),
                }
                if active && x.batched {
                    let base = dialog as usize * self.per_user as usize;
                    if let Some(cs) = self.batch_contacts.get(dialog as usize) {
                        for (k, &c) in cs.iter().enumerate() {
                            self.tracker.activated((base + k) as u32, c);
                        }
                    }
                } else if active {
                    self.tracker.activated(dialog, p);
                }
                let Some(user) = self.users.get_mut(w as usize) else {
                    return;
                };
                user.failed_subscription |= result.is_err();
                user.remaining = user.remaining.saturating_sub(1);
                if let (0, Some(at)) = (user.remaining, user.signed_in_at) {
                    self.signin.ok(now.saturating_duration_since(at), 0);
                }
            }
            Event::Published {
                presentity,
                result,
                etag,
            } => {
                let Some(user) = self.users.get_mut(presentity as usize) else {
                    return;
                };
                if !user.busy {
                    return;
                }
                user.busy = false;
                self.publishing = self.publishing.saturating_sub(1);
                match result {
                    Ok(done) => {
                        self.publish.ok(done.latency, done.retransmits);
                        user.etag = etag;
                    }
                    Err(f) => {
                        self.publish.fail(f.why, f.retransmits);
                        // The next change starts a new publication.
                        user.etag = None;
                        self.tracker.publish_failed(presentity, user.version);
                    }
                }
                let due = std::mem::take(&mut user.due);
                if due && matches!(self.phase, Phase::Login | Phase::Steady(_)) {
                    self.send_publish(core, presentity, false, now);
                }
            }
            Event::Batch { dialog, body, at } => {
                let dead = core
                    .dialog(dialog)
                    .is_some_and(|x| x.state == crate::dialog::State::Dead);
                let Some(cs) = self.batch_contacts.get(dialog as usize) else {
                    return;
                };
                let base = dialog as usize * self.per_user as usize;
                if dead {
                    for (k, &c) in cs.iter().enumerate() {
                        self.tracker.ended((base + k) as u32, c);
                    }
                    return;
                }
                self.parts += body.parts.len() as u64;
                for part in &body.parts {
                    match cs.binary_search(&part.presentity) {
                        Ok(k) => self.tracker.notified(
                            (base + k) as u32,
                            part.presentity,
                            part.marker,
                            at,
                        ),
                        Err(_) => self.parts_unexpected += 1,
                    }
                }
            }
            Event::Notify { dialog, marker, at } => {
                let Some(x) = core.dialog(dialog) else {
                    return;
                };
                let p = x.presentity;
                if x.state == crate::dialog::State::Dead {
                    self.tracker.ended(dialog, p);
                } else {
                    self.tracker.notified(dialog, p, marker, at);
                }
            }
        }
    }

    fn metrics(&self) -> Vec<&Metric> {
        vec![
            &self.subscribe,
            &self.signin,
            &self.publish,
            &self.tracker.login,
            &self.tracker.steady,
        ]
    }

    fn memory(&self) -> Option<MemoryReport> {
        Some(self.memory.clone())
    }

    fn extra(&self) -> BTreeMap<String, f64> {
        let steady_s = self
            .steady_window
            .map_or(0.0, |(a, b)| b.saturating_duration_since(a).as_secs_f64());
        let mean = self.cfg.change_mean.as_secs_f64();
        let per_user = match (self.memory.rss_before_kib, self.memory.rss_after_kib) {
            (Some(b), Some(a)) if self.cfg.users > 0 => {
                a.saturating_sub(b) as f64 * 1024.0 / f64::from(self.cfg.users)
            }
            _ => f64::NAN,
        };
        let failed_users = self.users.iter().filter(|u| u.failed_subscription).count();
        let mut out = BTreeMap::from([
            ("users".to_owned(), f64::from(self.cfg.users)),
            (
                "contacts".to_owned(),
                f64::from(self.cfg.contacts.min(self.cfg.users.saturating_sub(1))),
            ),
            (
                "subscriptions_established".to_owned(),
                self.subscribe.completed() as f64,
            ),
            (
                "subscriptions_live".to_owned(),
                self.memory.subscriptions as f64,
            ),
            (
                "signin_backlog_at_steady".to_owned(),
                self.backlog_at_steady as f64,
            ),
            (
                "users_with_failed_subscriptions".to_owned(),
                failed_users as f64,
            ),
            ("steady_s".to_owned(), steady_s),
            (
                "publish_rate_target_per_s".to_owned(),
                if mean > 0.0 {
                    f64::from(self.cfg.users) / mean
                } else {
                    0.0
                },
            ),
            (
                "publish_rate_per_s".to_owned(),
                if steady_s > 0.0 {
                    self.steady_publishes as f64 / steady_s
                } else {
                    0.0
                },
            ),
            ("publishes_deferred".to_owned(), self.deferred as f64),
            (
                "subscriptions_never_sent".to_owned(),
                self.queue.len() as f64,
            ),
            ("failure_ratio".to_owned(), self.failures().requests),
            ("notify_failure_ratio".to_owned(), self.failures().notifies),
            ("cleanup_requests".to_owned(), self.cleanup_requests as f64),
        ]);
        if per_user.is_finite() {
            out.insert("bytes_per_user".to_owned(), per_user);
        }
        if self.cfg.batched {
            let dialogs = self.batch_contacts.len() as f64;
            out.insert("batched".to_owned(), 1.0);
            out.insert("batched_dialogs".to_owned(), dialogs);
            out.insert("category_parts".to_owned(), self.parts as f64);
            out.insert("parts_unexpected".to_owned(), self.parts_unexpected as f64);
            if let (Some(b), Some(a)) = (self.memory.rss_before_kib, self.memory.rss_after_kib) {
                let grown = a.saturating_sub(b) as f64 * 1024.0;
                let live = self.memory.subscriptions;
                if live > 0 && dialogs > 0.0 {
                    out.insert("bytes_per_watched_contact".to_owned(), grown / live as f64);
                    out.insert("bytes_per_batched_dialog".to_owned(), grown / dialogs);
                }
            }
        }
        out.insert(
            "held".to_owned(),
            f64::from(u8::from(self.verdict().is_some_and(|v| v.held))),
        );
        out
    }

    fn verdict(&self) -> Option<Verdict> {
        Some(verdict::judge(
            &self.tracker.steady,
            self.failures(),
            self.backlog_at_steady,
            self.cfg.p99_limit,
            self.cfg.failure_limit,
        ))
    }
}

#[cfg(test)]
mod tests;
