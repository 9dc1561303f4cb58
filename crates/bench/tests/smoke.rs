//! Smoke run: every workload at tiny sizes against the real presenced, over
//! UDP and TCP, so the load generator cannot rot. The real benchmark is far
//! too heavy for CI; this only checks that each scenario completes
//! operations and none fails.
//!
//! presenced is another package's binary, so Cargo does not build it for
//! this test; it is taken from the same target directory
//! (`target/<profile>/presenced`, there after `cargo test --workspace` or
//! `cargo build -p presenced`). If it is missing it is built into a target
//! directory of its own: building into ours would wait forever on the lock
//! this `cargo test` holds.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

/// How long one bench invocation may take before the test gives up.
const RUN_LIMIT: Duration = Duration::from_secs(25);

/// The presenced binary, found or built once for all tests of this run.
fn presenced_binary() -> PathBuf {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(find_or_build_presenced).clone()
}

fn find_or_build_presenced() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/smoke-HASH
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test executable lives in target/<profile>/deps");
    let name = format!("presenced{}", std::env::consts::EXE_SUFFIX);
    let bin = profile_dir.join(&name);
    if bin.exists() {
        return bin;
    }
    let profile = profile_dir
        .file_name()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let target = profile_dir
        .parent()
        .expect("target directory")
        .join("bench-smoke-presenced");
    eprintln!(
        "smoke: {} is missing; building presenced into {} (run `cargo build -p presenced` to skip this)",
        bin.display(),
        target.display()
    );
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "presenced", "--target-dir"])
        .arg(&target);
    if profile == "release" {
        cmd.arg("--release");
    }
    let status = cmd.status().expect("run cargo build");
    assert!(status.success(), "building presenced failed");
    let built = target
        .join(if profile == "release" {
            "release"
        } else {
            "debug"
        })
        .join(&name);
    assert!(built.exists(), "{} not built", built.display());
    built
}

/// A presenced process on loopback ports it picked; killed on drop.
struct Server {
    child: Child,
    udp: SocketAddr,
    tcp: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut child = Command::new(presenced_binary())
            .current_dir(dir.path())
            .args([
                "--listen",
                "udp:127.0.0.1:0",
                "--listen",
                "tcp:127.0.0.1:0",
                "--memory",
                "--http-listen",
                "off",
            ])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start presenced");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        // Keeps draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(bound) = listening(&line) {
                    let _ = tx.send(bound);
                }
            }
        });
        let (mut udp, mut tcp) = (None, None);
        let deadline = Instant::now() + Duration::from_secs(10);
        while udp.is_none() || tcp.is_none() {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok((t, a)) if t == "udp" => udp = Some(a),
                Ok((t, a)) if t == "tcp" => tcp = Some(a),
                Ok(_) => {}
                Err(_) => {
                    let _ = child.kill();
                    panic!("presenced did not report its listeners in time");
                }
            }
        }
        Server {
            child,
            udp: udp.expect("udp"),
            tcp: tcp.expect("tcp"),
            _dir: dir,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `... listening transport=udp addr=127.0.0.1:40123`
fn listening(line: &str) -> Option<(String, SocketAddr)> {
    let rest = &line[line.find("listening transport=")? + "listening transport=".len()..];
    let (transport, rest) = rest.split_once(" addr=")?;
    let addr = rest.split_whitespace().next()?.parse().ok()?;
    Some((transport.to_owned(), addr))
}

/// Runs `presenced-bench ARGS --json FILE` and returns the report.
fn bench(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("report.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_presenced-bench"))
        .args(args)
        .arg("--json")
        .arg(&json)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start presenced-bench");
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("presenced-bench {args:?} ran past {RUN_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut summary = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut out, &mut summary);
    }
    assert!(
        status.success(),
        "presenced-bench {args:?}: {status}\n{summary}"
    );
    let text = std::fs::read_to_string(&json).expect("report written");
    serde_json::from_str(&text).expect("report is JSON")
}

/// Every operation row completed something and nothing failed.
fn assert_clean(report: &serde_json::Value) {
    let ops = report["operations"].as_array().expect("operations");
    assert!(!ops.is_empty());
    for op in ops {
        let name = op["name"].as_str().unwrap_or("?");
        assert!(
            op["completed"].as_u64().unwrap_or(0) > 0,
            "{name}: nothing completed\n{report:#}"
        );
        assert_eq!(op["failed"].as_u64(), Some(0), "{name} failed\n{report:#}");
    }
}

fn every_scenario(server: &Server, transport: &str, addr: SocketAddr) {
    let addr = addr.to_string();
    let common = [
        "--server",
        &addr,
        "--transport",
        transport,
        "--sockets",
        "2",
        "--window",
        "10",
    ];
    let run = |scenario: &str, extra: &[&str]| {
        let mut args = vec![scenario];
        args.extend_from_slice(&common);
        args.extend_from_slice(extra);
        let report = bench(&args);
        assert_eq!(report["scenario"], scenario);
        assert_eq!(report["transport"], transport);
        assert_clean(&report);
        report
    };
    run(
        "subscribe",
        &[
            "--watchers",
            "20",
            "--presentities",
            "2",
            "--duration",
            "1",
            "--refresh-duration",
            "1",
        ],
    );
    let fanout = run(
        "fanout",
        &["--watchers", "20", "--rounds", "3", "--gap-ms", "20"],
    );
    assert_eq!(fanout["extra"]["watchers_missed"], 0.0);
    run(
        "publish",
        &["--watchers", "20", "--presentities", "2", "--duration", "1"],
    );
    let pid = server.child.id().to_string();
    let hold = run(
        "hold",
        &[
            "--subscriptions",
            "20",
            "--watchers",
            "20",
            "--presentities",
            "2",
            "--settle-ms",
            "100",
            "--duration",
            "0.1",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(hold["memory"]["subscriptions"], 20);
    assert!(
        hold["memory"]["rss_after_kib"]
            .as_u64()
            .is_some_and(|k| k > 0),
        "{hold:#}"
    );
    // 20 users signing in over 1 s (2 model minutes at F = 120), each
    // changing state every 0.5 s on average (60/h at F = 120), 1 s steady.
    let usermodel = run(
        "usermodel",
        &[
            "--users",
            "20",
            "--contacts",
            "5",
            "--login-window-min",
            "2",
            "--changes-per-hour",
            "60",
            "--compression",
            "120",
            "--steady",
            "1",
            "--server-pid",
            &pid,
        ],
    );
    assert_eq!(usermodel["verdict"]["held"], true, "{usermodel:#}");
    assert_eq!(usermodel["extra"]["subscriptions_live"], 100.0);
    assert!(usermodel["extra"]["generator_cpu_s"].as_f64().is_some());
    batched(&run, &pid, transport);
}

/// The batched modes (the Microsoft dialect): one dialog per user over
/// its contacts; every first NOTIFY carries a part per contact, and state
/// changes reach each watcher through the parts (BENOTIFY over TCP).
fn batched(run: &dyn Fn(&str, &[&str]) -> serde_json::Value, pid: &str, transport: &str) {
    let hold = run(
        "hold",
        &[
            "--batched",
            "--users",
            "10",
            "--contacts",
            "4",
            "--settle-ms",
            "100",
            "--duration",
            "0.1",
            "--server-pid",
            pid,
        ],
    );
    assert_eq!(hold["memory"]["subscriptions"], 40, "{hold:#}");
    assert_eq!(hold["extra"]["batched_dialogs"], 10.0, "{hold:#}");
    assert_eq!(hold["extra"]["first_notify_parts_missing"], 0.0, "{hold:#}");
    assert_eq!(hold["extra"]["resources_not_active"], 0.0, "{hold:#}");
    assert_eq!(hold["messages"]["batched_parts"], 40, "{hold:#}");
    let usermodel = run(
        "usermodel",
        &[
            "--batched",
            "--users",
            "20",
            "--contacts",
            "5",
            "--login-window-min",
            "2",
            "--changes-per-hour",
            "60",
            "--compression",
            "120",
            "--steady",
            "1",
            "--server-pid",
            pid,
        ],
    );
    assert_eq!(usermodel["verdict"]["held"], true, "{usermodel:#}");
    assert_eq!(usermodel["extra"]["batched_dialogs"], 20.0, "{usermodel:#}");
    assert_eq!(
        usermodel["extra"]["subscriptions_live"], 100.0,
        "{usermodel:#}"
    );
    assert_eq!(usermodel["extra"]["parts_unexpected"], 0.0, "{usermodel:#}");
    let steady = usermodel["operations"]
        .as_array()
        .and_then(|ops| ops.iter().find(|o| o["name"] == "usermodel.notify.steady"))
        .expect("steady row");
    assert!(
        steady["completed"].as_u64().is_some_and(|n| n > 0),
        "{usermodel:#}"
    );
    if transport == "tcp" {
        assert!(
            usermodel["messages"]["benotifies"]
                .as_u64()
                .is_some_and(|n| n > 0),
            "updates over TCP come as BENOTIFY\n{usermodel:#}"
        );
    }
}

#[test]
fn every_scenario_over_udp() {
    let server = Server::start();
    every_scenario(&server, "udp", server.udp);
}

#[test]
fn every_scenario_over_tcp() {
    let server = Server::start();
    every_scenario(&server, "tcp", server.tcp);
}

#[test]
fn loopback_ceiling_runs() {
    let report = bench(&["ceiling", "--duration", "0.2", "--window", "4"]);
    assert!(
        report["round_trips"].as_u64().is_some_and(|n| n > 0),
        "{report:#}"
    );
}
