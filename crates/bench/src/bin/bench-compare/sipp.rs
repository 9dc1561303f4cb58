//! SIPp as the cross-check of our generator: bench/sipp/subscribe_uac.xml
//! at a fixed rate, read back from SIPp's statistics file (`-trace_stat`).

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use serde::Serialize;

/// What one SIPp run did.
#[derive(Debug, Clone, Serialize)]
pub struct SippRun {
    pub command: String,
    pub exit_code: Option<i32>,
    pub successful_calls: u64,
    pub failed_calls: u64,
    pub retransmissions: u64,
    /// Seconds from SIPp's start to its last statistics line.
    pub elapsed_s: f64,
    /// successful_calls / elapsed_s.
    pub rate_per_s: f64,
}

/// A SIPp run's knobs.
pub struct SippJob<'a> {
    pub sipp: &'a Path,
    pub scenario: &'a Path,
    pub server: SocketAddr,
    pub tcp: bool,
    pub local_port: u16,
    pub rate: f64,
    pub calls: u64,
    pub window: usize,
    pub watchers: u32,
    pub presentities: u32,
    pub expires: u32,
    pub work_dir: &'a Path,
}

/// Runs SIPp to the end and parses its final statistics.
pub fn run(job: &SippJob<'_>) -> anyhow::Result<SippRun> {
    fs::create_dir_all(job.work_dir)
        .with_context(|| format!("create {}", job.work_dir.display()))?;
    let inf = job.work_dir.join("subs.csv");
    let mut lines = String::from("SEQUENTIAL\n");
    let tag = std::process::id();
    let (w, p) = (job.watchers.max(1), job.presentities.max(1));
    // presenced-bench's layout (scenario::Layout::place): call k is watcher
    // k mod W subscribing to presentity (watcher + k div W) mod P, so the two
    // tools create the same number of distinct watcher/presentity pairs
    // (Kamailio's cost per new dialog depends on it).
    let pairs = u64::from(w) * u64::from(p);
    for k in 0..job.calls.clamp(1, pairs) {
        let watcher = k % u64::from(w);
        let presentity = (watcher + k / u64::from(w)) % u64::from(p);
        lines.push_str(&format!("w{watcher}.sipp{tag};p{presentity}.sipp{tag}\n"));
    }
    fs::write(&inf, lines).with_context(|| format!("write {}", inf.display()))?;
    let stat = job.work_dir.join("stat.csv");
    let _ = fs::remove_file(&stat);
    // Flat out (rate 0): SIPp's rate is set far above what either server
    // does and -l (the window) is what limits it, as --window limits ours.
    let rate = if job.rate > 0.0 { job.rate } else { 100_000.0 };
    let mut cmd = Command::new(job.sipp);
    cmd.current_dir(job.work_dir)
        .arg("-sf")
        .arg(job.scenario)
        .arg("-inf")
        .arg(&inf)
        .args(["-set", "expires", &job.expires.to_string()])
        .args(["-i", "127.0.0.1", "-p", &job.local_port.to_string()])
        .args(["-t", if job.tcp { "t1" } else { "u1" }])
        .args(["-r", &format!("{rate}"), "-rp", "1000"])
        .args(["-m", &job.calls.to_string()])
        .args(["-l", &job.window.to_string()])
        .args(["-aa", "-nostdin", "-timeout", "120s"])
        .args(["-trace_stat", "-fd", "1", "-stf"])
        .arg(&stat)
        .arg(job.server.to_string())
        .stdin(Stdio::null());
    let command = format!("{cmd:?}");
    let log = job.work_dir.join("sipp.log");
    let out = fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
    let err = out.try_clone()?;
    let status = cmd
        .stdout(out)
        .stderr(err)
        .status()
        .with_context(|| format!("run {command}"))?;
    let text = fs::read_to_string(&stat).with_context(|| {
        format!(
            "SIPp wrote no statistics ({}); see {}",
            stat.display(),
            log.display()
        )
    })?;
    let mut run = parse_stat(&text).with_context(|| format!("parse {}", stat.display()))?;
    run.command = command;
    run.exit_code = status.code();
    Ok(run)
}

/// The SIPp binary, or an error saying how to install it.
pub fn find_sipp() -> anyhow::Result<PathBuf> {
    match crate::servers::which("sipp") {
        Some(p) => Ok(p),
        None => bail!(
            "sipp not found; as root run: apt-get install -y --no-install-recommends sip-tester"
        ),
    }
}

/// Reads the last line of a `-trace_stat` CSV (`;`-separated, a header line
/// first). Times are `date<TAB>time<TAB>epoch.micros`.
pub fn parse_stat(text: &str) -> anyhow::Result<SippRun> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .context("empty statistics file")?
        .split(';')
        .collect();
    let last: Vec<&str> = lines
        .next_back()
        .context("no statistics line")?
        .split(';')
        .collect();
    let get = |name: &str| -> anyhow::Result<&str> {
        let i = header
            .iter()
            .position(|h| *h == name)
            .with_context(|| format!("no column {name}"))?;
        last.get(i)
            .copied()
            .with_context(|| format!("short line: no {name}"))
    };
    let count = |name: &str| -> anyhow::Result<u64> {
        get(name)?
            .trim()
            .parse()
            .with_context(|| format!("{name} is not a count"))
    };
    let epoch = |name: &str| -> anyhow::Result<f64> {
        let v = get(name)?;
        v.rsplit('\t')
            .next()
            .and_then(|s| s.trim().parse::<f64>().ok())
            .with_context(|| format!("{name} has no epoch time: {v:?}"))
    };
    let elapsed_s = (epoch("CurrentTime")? - epoch("StartTime")?).max(0.0);
    let successful_calls = count("SuccessfulCall(C)")?;
    let rate_per_s = if elapsed_s > 0.0 {
        successful_calls as f64 / elapsed_s
    } else {
        0.0
    };
    Ok(SippRun {
        command: String::new(),
        exit_code: None,
        successful_calls,
        failed_calls: count("FailedCall(C)")?,
        retransmissions: count("Retransmissions(C)").unwrap_or(0),
        elapsed_s,
        rate_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_last_line() {
        let text = "StartTime;LastResetTime;CurrentTime;SuccessfulCall(C);FailedCall(C);Retransmissions(C)\n\
            2026-11-30\t00:58:42.25\t100.0;x;2026-11-30\t00:58:42.25\t100.0;0;0;0\n\
            2026-11-30\t00:58:42.25\t100.0;x;2026-11-30\t00:58:44.25\t102.0;1000;2;7\n";
        let run = parse_stat(text).expect("parses");
        assert_eq!(run.successful_calls, 1000);
        assert_eq!(run.failed_calls, 2);
        assert_eq!(run.retransmissions, 7);
        assert!((run.rate_per_s - 500.0).abs() < 1e-9);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse_stat("").is_err());
        assert!(parse_stat("a;b\n1;2\n").is_err());
    }
}
