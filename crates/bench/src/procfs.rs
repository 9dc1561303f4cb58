//! What Linux tells about the server from outside: its resident memory
//! (`/proc/PID/status`), and datagrams the kernel dropped because a
//! socket's receive buffer was full (`/proc/net/udp`, `/proc/net/snmp`),
//! which is what turns a UDP burst into retransmissions and latency.

/// VmRSS in KiB from the text of a `/proc/PID/status` file.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let mut words = line["VmRSS:".len()..].split_whitespace();
    let kib = words.next()?.parse().ok()?;
    (words.next() == Some("kB")).then_some(kib)
}

/// VmRSS of process `pid` in KiB; `None` when it cannot be read (not
/// Linux, no such process, another user's process without permission).
pub fn read_vm_rss(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    vm_rss_kib(&text)
}

/// User plus system CPU time in clock ticks, from the text of a
/// `/proc/PID/stat` file (fields 14 and 15, counted after the command
/// name, which may itself hold spaces and parentheses).
pub fn cpu_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// CPU seconds process `pid` has used so far, so a run can tell whether
/// the generator (or the server) was saturated; `None` when unreadable.
pub fn read_cpu_seconds(pid: u32) -> Option<f64> {
    let ticks = cpu_ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)?;
    // SAFETY: sysconf has no preconditions.
    let per_s = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (per_s > 0).then(|| ticks as f64 / per_s as f64)
}

/// Drops counted on the UDP sockets bound to local `port`, from the text
/// of `/proc/net/udp` or `/proc/net/udp6` (last column of each row).
pub fn udp_port_drops(table: &str, port: u16) -> u64 {
    let want = format!("{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let mut cols = row.split_whitespace();
            let local = cols.nth(1)?;
            let (_, p) = local.rsplit_once(':')?;
            (p == want).then(|| row.split_whitespace().last()?.parse::<u64>().ok())?
        })
        .sum()
}

/// Drops on the sockets of local UDP `port`, IPv4 and IPv6 together.
pub fn read_udp_port_drops(port: u16) -> Option<u64> {
    let v4 = std::fs::read_to_string("/proc/net/udp").ok()?;
    let v6 = std::fs::read_to_string("/proc/net/udp6").unwrap_or_default();
    Some(udp_port_drops(&v4, port) + udp_port_drops(&v6, port))
}

/// The host's `Udp: RcvbufErrors` from the text of `/proc/net/snmp`:
/// datagrams dropped for a full receive buffer, on any socket.
pub fn udp_rcvbuf_errors(snmp: &str) -> Option<u64> {
    let mut rows = snmp.lines().filter(|l| l.starts_with("Udp:"));
    let names = rows.next()?;
    let values = rows.next()?;
    let at = names.split_whitespace().position(|n| n == "RcvbufErrors")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// [`udp_rcvbuf_errors`] of this host.
pub fn read_udp_rcvbuf_errors() -> Option<u64> {
    udp_rcvbuf_errors(&std::fs::read_to_string("/proc/net/snmp").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_socket_drops_and_host_buffer_errors() {
        let udp = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n\
                   13496: 0100007F:3AD4 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 148391 2 000000003a307370 13980\n\
                   13497: 0100007F:3AD5 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 148392 2 000000003a307371 7\n";
        assert_eq!(udp_port_drops(udp, 15060), 13980);
        assert_eq!(udp_port_drops(udp, 5060), 0);
        let snmp = "Udp: InDatagrams NoPorts InErrors OutDatagrams RcvbufErrors SndbufErrors\n\
                    Udp: 830834 98 13980 845126 13979 0\n";
        assert_eq!(udp_rcvbuf_errors(snmp), Some(13979));
        assert_eq!(udp_rcvbuf_errors("Tcp: 1\n"), None);
    }

    #[test]
    fn reads_the_vmrss_line() {
        let text = "Name:\tpresenced\nVmPeak:\t  99 kB\nVmRSS:\t   123456 kB\nThreads:\t3\n";
        assert_eq!(vm_rss_kib(text), Some(123_456));
        assert_eq!(vm_rss_kib("VmRSS: lots\n"), None);
        assert_eq!(vm_rss_kib("Name: x\n"), None);
    }

    #[test]
    fn reads_our_own_process() {
        assert!(read_vm_rss(std::process::id()).is_some_and(|k| k > 0));
        assert!(read_cpu_seconds(std::process::id()).is_some_and(|s| s >= 0.0));
    }

    #[test]
    fn reads_cpu_ticks_past_an_awkward_command_name() {
        let stat = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 99";
        assert_eq!(cpu_ticks(stat), Some(300));
        assert_eq!(cpu_ticks("4242 (x) S 1"), None);
    }
}
