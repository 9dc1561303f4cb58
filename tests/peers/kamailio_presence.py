#!/usr/bin/env python3
"""Start and stop Kamailio 5.6 as a reference presence server on loopback.

Command lines (what a test runs; reproduce by hand the same way):

    python3 tests/peers/kamailio_presence.py start --port 26060 --run-dir RUN \
        [--max-expires 10] [--shm 512] \
        [--tls-port 26061 --tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]]
    python3 tests/peers/kamailio_presence.py stop --run-dir RUN [--signal KILL]

`start` copies the db_text tables (/usr/share/kamailio/dbtext/kamailio/) into
RUN/db (kept if already there), then runs, in a new process group (session)
whose id is Kamailio's PID:

    kamailio -DD -E -m 512 -M 16 -f tests/peers/kamailio/presence.cfg \
        -l udp:127.0.0.1:PORT -l tcp:127.0.0.1:PORT -Y RUN -P RUN/kamailio.pid \
        -A 'DBURL="text://RUN/db"' -A 'MAX_EXPIRES=N' -A 'MIN_EXPIRES=M'

(with --tls-port also `-l tls:127.0.0.1:TLS_PORT -A WITH_TLS -A 'TLS_CERT="…"'
-A 'TLS_KEY="…"'`, which loads the tls module: kamailio-tls-modules) with
stdout and stderr appended to RUN/kamailio.log. It waits (bounded by
--timeout) until an OPTIONS over UDP gets an answer, records the PID in
RUN/launcher.pid, prints one JSON line and exits, leaving Kamailio running:

    {"event": "ready", "pid": 1234, "port": 26060, "run_dir": "RUN",
     "log": "RUN/kamailio.log"}

`stop` sends --signal (TERM, default, or KILL) to that process group (the
main process and its children, by the recorded PID), waits until they are
gone and prints {"event": "stopped", "pid": 1234, "signal": "KILL"}.

Exit status: 0 on success, 1 when Kamailio did not come up (the tail of its
log is in the JSON "error"), 3 on a usage or setup error (no kamailio: install
it as root with `apt-get install -y --no-install-recommends kamailio
kamailio-presence-modules`). Only 127.0.0.1 is ever used.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
CFG = os.path.join(HERE, "kamailio", "presence.cfg")
TABLES = "/usr/share/kamailio/dbtext/kamailio"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("start")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--run-dir", required=True)
    s.add_argument("--max-expires", type=int, default=3600,
                   help="presence max_expires: SUBSCRIBE/PUBLISH expiry granted at most")
    s.add_argument("--min-expires", type=int, default=0)
    s.add_argument("--shm", type=int, default=512, help="shared memory, MB")
    s.add_argument("--timeout", type=float, default=10.0)
    s.add_argument("--kamailio", default="kamailio")
    s.add_argument("--tls-port", type=int, default=0,
                   help="also listen on tls:127.0.0.1:PORT (needs kamailio-tls-modules)")
    s.add_argument("--tls-cert", help="PEM certificate of the TLS listener")
    s.add_argument("--tls-key", help="PEM private key of the TLS listener")
    s.add_argument("--tls-client-ca",
                   help="require TLS clients to present a certificate from this PEM CA")
    t = sub.add_parser("stop")
    t.add_argument("--run-dir", required=True)
    t.add_argument("--signal", choices=("TERM", "KILL"), default="TERM")
    t.add_argument("--timeout", type=float, default=10.0)
    return p.parse_args()


def probe(port, timeout):
    """True when something answers an OPTIONS on 127.0.0.1:port/udp."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", 0))
        lp = s.getsockname()[1]
        msg = ("OPTIONS sip:127.0.0.1:%d SIP/2.0\r\n"
               "Via: SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bKprobe%d;rport\r\n"
               "Max-Forwards: 70\r\nFrom: <sip:probe@127.0.0.1>;tag=p%d\r\n"
               "To: <sip:127.0.0.1:%d>\r\nCall-ID: probe%d@127.0.0.1\r\n"
               "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
               % (port, lp, time.time_ns(), lp, port, time.time_ns())).encode()
        s.sendto(msg, ("127.0.0.1", port))
        s.settimeout(timeout)
        data, _ = s.recvfrom(65536)
        return data.startswith(b"SIP/2.0 ")
    except OSError:
        return False
    finally:
        s.close()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid):
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(args):
    run = os.path.abspath(args.run_dir)
    os.makedirs(run, exist_ok=True)
    db = os.path.join(run, "db")
    if not os.path.isdir(db):
        if not os.path.isdir(TABLES):
            print(json.dumps({"event": "error", "error": "no %s: install kamailio" % TABLES}))
            return 3
        shutil.copytree(TABLES, db)
    if shutil.which(args.kamailio) is None:
        print(json.dumps({"event": "error", "error": "kamailio not found; as root: apt-get install -y "
                          "--no-install-recommends kamailio kamailio-presence-modules"}))
        return 3
    log_path = os.path.join(run, "kamailio.log")
    cmd = [args.kamailio, "-DD", "-E", "-m", str(args.shm), "-M", "16", "-f", CFG,
           "-l", "udp:127.0.0.1:%d" % args.port, "-l", "tcp:127.0.0.1:%d" % args.port,
           "-Y", run, "-P", os.path.join(run, "kamailio.pid"),
           "-A", 'DBURL="text://%s"' % db,
           "-A", "MAX_EXPIRES=%d" % args.max_expires,
           "-A", "MIN_EXPIRES=%d" % args.min_expires]
    if args.tls_port:
        if not (args.tls_cert and args.tls_key):
            print(json.dumps({"event": "error", "error": "--tls-port needs --tls-cert and --tls-key"}))
            return 3
        cmd += ["-l", "tls:127.0.0.1:%d" % args.tls_port, "-A", "WITH_TLS",
                "-A", 'TLS_CERT="%s"' % os.path.abspath(args.tls_cert),
                "-A", 'TLS_KEY="%s"' % os.path.abspath(args.tls_key)]
        if args.tls_client_ca:
            cmd += ["-A", 'TLS_CA="%s"' % os.path.abspath(args.tls_client_ca)]
    log = open(log_path, "ab")
    log.write(("\n=== %s\n" % " ".join(cmd)).encode())
    log.flush()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    with open(os.path.join(run, "launcher.pid"), "w") as f:
        f.write("%d\n" % proc.pid)
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if probe(args.port, 0.2):
            print(json.dumps({"event": "ready", "pid": proc.pid, "port": args.port,
                              "run_dir": run, "log": log_path}))
            return 0
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with open(log_path, "rb") as f:
        tail = f.read()[-1500:].decode("utf-8", "replace")
    print(json.dumps({"event": "error", "error": "kamailio did not answer on udp:127.0.0.1:%d: %s"
                      % (args.port, tail)}))
    return 1


def stop(args):
    run = os.path.abspath(args.run_dir)
    try:
        with open(os.path.join(run, "launcher.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError) as exc:
        print(json.dumps({"event": "error", "error": "no launcher.pid in %s: %r" % (run, exc)}))
        return 3
    sig = signal.SIGKILL if args.signal == "KILL" else signal.SIGTERM
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        pass
    deadline = time.monotonic() + args.timeout
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if group_alive(pid):
        os.killpg(pid, signal.SIGKILL)
        while group_alive(pid) and time.monotonic() < deadline + 5:
            time.sleep(0.02)
    os.unlink(os.path.join(run, "launcher.pid"))
    print(json.dumps({"event": "stopped", "pid": pid, "signal": args.signal}))
    return 0


def main():
    args = parse_args()
    return start(args) if args.cmd == "start" else stop(args)


if __name__ == "__main__":
    sys.exit(main())
