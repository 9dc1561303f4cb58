//! The server under test, when a benchmark starts it itself
//! (`provider-bench`, `sync-bench`): presenced on a config file, quiet,
//! killed when the guard drops so no run leaves a server behind.

use std::net::UdpSocket;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A free loopback port (UDP; presenced's listeners bind TCP on it too).
pub fn free_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// presenced, killed on drop.
#[derive(Debug)]
pub struct Presenced(Child);

impl Presenced {
    /// Starts `binary --config config` with warnings-only logging and no
    /// output (a benchmark's terminal is for its report).
    pub fn start(binary: &Path, config: &Path) -> std::io::Result<Presenced> {
        Command::new(binary)
            .arg("--config")
            .arg(config)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Presenced)
    }
}

impl Drop for Presenced {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
