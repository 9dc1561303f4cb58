//! The `usermodel` subcommand: its flags, the translation of model time
//! into real time, and the search for the largest N a server holds.
//!
//! A search runs rounds against the same server, each a full `usermodel`
//! run under its own run id (so its names never meet an earlier round's)
//! that ends every subscription and publication it made before the next
//! round starts. N doubles from `--users` until a round fails (or
//! `--users-max` is reached), then bisects between the largest N held and
//! the smallest failed until they are within `--precision` of each other.

use std::time::Duration;

use anyhow::{bail, Context};
use bench::procfs;
use bench::scenario::hold::RssProbe;
use bench::scenario::usermodel::{self, Usermodel};
use bench::stats::Report;
use clap::Args;
use serde::Serialize;

use crate::{secs, Builder, Common};

/// Flags of `presenced-bench usermodel`.
#[derive(Debug, Clone, Args)]
pub struct UsermodelArgs {
    /// N, the users (with --search: the first round's N).
    #[arg(long, default_value_t = 1000)]
    users: u32,
    /// C, contacts each user subscribes to (at most N - 1).
    #[arg(long, default_value_t = 80)]
    contacts: u32,
    /// Model minutes over which all users sign in.
    #[arg(long, default_value_t = 120.0)]
    login_window_min: f64,
    /// State changes each user publishes per model hour.
    #[arg(long, default_value_t = 4.0)]
    changes_per_hour: f64,
    /// F: model time runs F times faster than real time (60: the 120-minute
    /// window takes 2 minutes, a user changes state 4×60 times an hour).
    #[arg(long, default_value_t = 60.0)]
    compression: f64,
    /// Real seconds of the measured steady phase after sign-in.
    #[arg(long, default_value_t = 60.0)]
    steady: f64,
    /// Seed of the sign-in order, the contacts and the change times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The verdict's limit on the steady-phase PUBLISH → NOTIFY p99, ms.
    #[arg(long, default_value_t = 1000)]
    p99_limit_ms: u64,
    /// The verdict's limit on failed over all operations.
    #[arg(long, default_value_t = 0.001)]
    max_failure_ratio: f64,
    /// Leave subscriptions and publications in place at the end.
    #[arg(long)]
    no_cleanup: bool,
    /// One batched dialog per user over its contacts (the Microsoft
    /// dialect, as Skype for Business clients subscribe), not one dialog
    /// per contact.
    #[arg(long)]
    batched: bool,
    /// The server's process id (VmRSS and CPU from /proc/PID).
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Search for the largest N held, starting at --users.
    #[arg(long)]
    search: bool,
    /// The largest N a search tries (implies --search).
    #[arg(long)]
    users_max: Option<u32>,
    /// A search stops when held and failed N are this close (relative).
    #[arg(long, default_value_t = 0.1)]
    precision: f64,
    /// Seconds between search rounds, for the server to settle.
    #[arg(long, default_value_t = 5.0)]
    round_gap: f64,
}

/// The long-run target of issue text: five Skype for Business pools.
const DEFAULT_USERS_MAX: u32 = 400_000;

impl UsermodelArgs {
    /// N of a single run.
    pub fn users(&self) -> u32 {
        self.users
    }

    /// Whether this is a search.
    pub fn searching(&self) -> bool {
        self.search || self.users_max.is_some()
    }

    /// The scenario's settings for `users` users, in real time; fails
    /// when subscriptions would expire before the run ends (they are not
    /// refreshed).
    fn config(&self, common: &Common, users: u32) -> anyhow::Result<usermodel::Config> {
        if !(self.compression > 0.0 && self.changes_per_hour > 0.0) {
            bail!("--compression and --changes-per-hour must be above 0");
        }
        let login_window = secs(self.login_window_min * 60.0 / self.compression)?;
        let change_mean = secs(3600.0 / (self.changes_per_hour * self.compression))?;
        let steady = secs(self.steady)?;
        let timeout = Duration::from_millis(common.t1_ms.max(1) * 64);
        // Login window, its grace (as long again, at least Timer F), the
        // steady phase and the drain.
        let longest = login_window * 2 + timeout * 2 + steady;
        if Duration::from_secs(u64::from(common.expires)) <= longest {
            bail!(
                "--expires {} s is shorter than the run can last ({:.0} s); subscriptions \
                 are not refreshed, so raise --expires or shorten the run",
                common.expires,
                longest.as_secs_f64()
            );
        }
        Ok(usermodel::Config {
            users,
            contacts: self.contacts,
            login_window,
            change_mean,
            steady,
            expires: common.expires,
            rate: common.rate,
            window: common.window,
            seed: self.seed,
            notify_timeout: timeout,
            cleanup: !self.no_cleanup,
            server_pid: self.server_pid.unwrap_or(0),
            p99_limit: Duration::from_millis(self.p99_limit_ms),
            failure_limit: self.max_failure_ratio,
            batched: self.batched,
        })
    }

    /// What the report's `params` say, beside the common flags.
    fn params(&self, cfg: &usermodel::Config) -> serde_json::Value {
        serde_json::json!({
            "users": cfg.users, "contacts": self.contacts,
            "login_window_min": self.login_window_min,
            "changes_per_hour": self.changes_per_hour, "compression": self.compression,
            "steady_s": self.steady, "seed": self.seed,
            "login_window_s": cfg.login_window.as_secs_f64(),
            "change_mean_s": cfg.change_mean.as_secs_f64(),
            "rate_equivalent_users": f64::from(cfg.users) * self.compression,
            "p99_limit_ms": self.p99_limit_ms, "max_failure_ratio": self.max_failure_ratio,
            "cleanup": cfg.cleanup, "server_pid": self.server_pid, "batched": cfg.batched,
        })
    }

    /// The params and the scenario builder of a run with `users` users.
    pub fn build(
        &self,
        common: &Common,
        users: u32,
    ) -> anyhow::Result<(serde_json::Value, Builder)> {
        let cfg = self.config(common, users)?;
        let params = self.params(&cfg);
        let probe = self
            .server_pid
            .map(|pid| -> RssProbe { Box::new(move || procfs::read_vm_rss(pid)) });
        Ok((
            params,
            Box::new(move || Box::new(Usermodel::new(cfg, probe))),
        ))
    }
}

/// One round of a search.
#[derive(Debug, Serialize)]
struct Round {
    users: u32,
    held: bool,
    report: Report,
}

/// What `--search --json` writes.
#[derive(Debug, Serialize)]
struct SearchReport {
    tool: &'static str,
    version: &'static str,
    scenario: &'static str,
    mode: &'static str,
    server: String,
    transport: String,
    precision: f64,
    users_max: u32,
    /// The largest N a round held; `null` when none did.
    largest_users_held: Option<u32>,
    /// The smallest N a round failed; `null` when none did.
    smallest_users_failed: Option<u32>,
    rounds: Vec<Round>,
}

/// The next N to try, or `None` when the search is over.
fn next_users(
    held: Option<u32>,
    failed: Option<u32>,
    last: u32,
    max: u32,
    precision: f64,
) -> Option<u32> {
    match (held, failed) {
        (_, None) if last >= max => None,
        (_, None) => Some(last.saturating_mul(2).min(max)),
        (None, Some(f)) => (f >= 4).then_some(f / 2),
        (Some(h), Some(f)) => {
            let mid = h + (f - h) / 2;
            let close = f64::from(f - h) <= precision * f64::from(h);
            (!close && mid > h && mid < f).then_some(mid)
        }
    }
}

/// Runs the search; prints each round and the result, writes the JSON.
pub fn search(common: &Common, args: &UsermodelArgs) -> anyhow::Result<()> {
    let max = args.users_max.unwrap_or(DEFAULT_USERS_MAX).max(args.users);
    let (mut held, mut failed) = (None::<u32>, None::<u32>);
    let mut rounds = Vec::new();
    let mut users = args.users.max(2);
    loop {
        println!(
            "usermodel search: round {} with N = {users}",
            rounds.len() + 1
        );
        let (params, build) = args.build(common, users)?;
        let report = crate::run(common, params, "usermodel", build, args.server_pid)?;
        crate::summary::report(&report);
        let ok = report.verdict.as_ref().is_some_and(|v| v.held);
        let interrupted = report.extra.contains_key("interrupted");
        rounds.push(Round {
            users,
            held: ok,
            report,
        });
        if interrupted {
            break;
        }
        if ok {
            held = held.max(Some(users));
        } else {
            failed = Some(failed.map_or(users, |f: u32| f.min(users)));
        }
        let Some(next) = next_users(held, failed, users, max, args.precision) else {
            break;
        };
        users = next;
        std::thread::sleep(secs(args.round_gap.clamp(0.0, 600.0))?);
    }
    println!(
        "usermodel search: largest N held {}, smallest N failed {} ({} rounds)",
        held.map_or("none".to_owned(), |n| n.to_string()),
        failed.map_or("none".to_owned(), |n| n.to_string()),
        rounds.len()
    );
    let report = SearchReport {
        tool: "presenced-bench",
        version: env!("CARGO_PKG_VERSION"),
        scenario: "usermodel",
        mode: "search",
        server: common.server.to_string(),
        transport: common.transport.to_string(),
        precision: args.precision,
        users_max: max,
        largest_users_held: held,
        smallest_users_failed: failed,
        rounds,
    };
    if let Some(path) = &common.json {
        crate::write_json(path, &report).context("search report")?;
    }
    if held.is_none() {
        std::process::exit(3);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::next_users;

    #[test]
    fn doubles_then_bisects_to_the_precision() {
        assert_eq!(next_users(Some(1000), None, 1000, 400_000, 0.1), Some(2000));
        assert_eq!(next_users(Some(1000), None, 1000, 1500, 0.1), Some(1500));
        assert_eq!(next_users(Some(1500), None, 1500, 1500, 0.1), None);
        assert_eq!(
            next_users(Some(4000), Some(8000), 8000, 400_000, 0.1),
            Some(6000)
        );
        assert_eq!(
            next_users(Some(6000), Some(7000), 7000, 400_000, 0.1),
            Some(6500)
        );
        assert_eq!(next_users(Some(6000), Some(6500), 6500, 400_000, 0.1), None);
        // The first round failed: halve until something holds.
        assert_eq!(next_users(None, Some(1000), 1000, 400_000, 0.1), Some(500));
        assert_eq!(next_users(None, Some(3), 3, 400_000, 0.1), None);
    }
}
