#!/usr/bin/env python3
"""Send one out-of-dialog OPTIONS with baresip (1.0.0, Debian baresip-core) and report the answer.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/baresip_options.py --transport udp --server-port 5060 \
        --local-port 5100 --timeout 5

    python3 tests/peers/baresip_options.py --transport tcp --server-port 5060 \
        --local-port 5100 --timeout 5

What it runs underneath (DIR is a fresh temporary config directory):

    baresip -f DIR -s -t <timeout+2> \
        -e '/options sip:options@127.0.0.1:<server-port>;transport=udp|tcp'

DIR/config has `sip_listen 127.0.0.1:<local-port>`, `net_interface 127.0.0.1`
and only the `account` and `menu` modules (no audio, video or UI module);
DIR/accounts has one account without registration
(`<sip:baresip@127.0.0.1>;regint=0;mwi=no`). `-e` types the command into
baresip's command interpreter at start-up (it works in 1.0.0; the `menu`
module provides `/options`). `-s` makes baresip print every SIP message it
sends and receives on stdout, byte for byte, between an ANSI-coloured
`#` + `PROTO src -> dst` line and an ANSI reset; the final response to the
OPTIONS is taken from there. baresip is stopped (SIGTERM to its own PID) as
soon as the final response is seen; `-t` bounds it otherwise.

Quirk: baresip's `/options` completes a URI without a user part by
appending `@<account domain>` (`sip:127.0.0.1:5060` becomes
`sip:127.0.0.1:5060@127.0.0.1`, sent to port 5060), so the target always
has a user part (`--user`, default `options`).

Output: one JSON line on stdout, like tests/peers/pjsua_options.py:

    {"peer": "baresip", "transport": "udp", "status": 200, "reason": "OK",
     "allow": "INVITE, ACK, ...", "request": "<raw, with --raw>", "response": "<raw, with --raw>"}

Exit status: 0 for a 2xx, 1 for another final response from the server,
2 when no response came within --timeout, 3 for a usage or setup error.
Only loopback addresses are ever used.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

# printed by the menu module when the OPTIONS transaction fails locally
ERROR = re.compile(rb"options reply error: ([^\x1b\n]*)")
TRACE = re.compile(rb"#\n(UDP|TCP|TLS|WS|WSS) (\S+) -> (\S+)\n(.*?)\x1b\[;m", re.S)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--local-port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the final response")
    p.add_argument("--user", default="options", help="user part of the target URI")
    p.add_argument("--baresip", default="baresip", help="baresip binary")
    p.add_argument("--raw", action="store_true", help="include the raw request and response in the JSON")
    p.add_argument("--keep", action="store_true", help="keep the config dir and full output (path on stderr)")
    return p.parse_args()


def header_values(raw, name):
    head = raw.split("\r\n\r\n", 1)[0]
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    out = []
    for line in head.split("\n")[1:]:
        line = line.rstrip("\r")
        if ":" in line:
            n, v = line.split(":", 1)
            if n.strip().lower() == name.lower():
                out.append(v.strip())
    return out


def final_options_response(buf):
    """(request, response) texts from baresip's -s trace; response None if no final one yet."""
    req = resp = None
    for m in TRACE.finditer(buf):
        src, dst = m.group(2).decode(), m.group(3).decode()
        msg = m.group(4).decode("utf-8", "replace")
        cseq = " ".join(header_values(msg, "CSeq"))
        if not cseq.endswith("OPTIONS"):
            continue
        if msg.startswith("OPTIONS ") and src.startswith("127.0.0.1:") and req is None:
            req = msg
        elif msg.startswith("SIP/2.0 "):
            parts = msg.split("\r\n", 1)[0].split(" ", 2)
            if len(parts) >= 2 and parts[1].isdigit() and int(parts[1]) >= 200:
                return req, msg
    return req, resp


def main():
    args = parse_args()
    target = "sip:%s@127.0.0.1:%d;transport=%s" % (args.user, args.server_port, args.transport)
    d = tempfile.mkdtemp(prefix="baresip-options-")
    with open(os.path.join(d, "config"), "w") as f:
        f.write(
            "poll_method\t\tpoll\n"
            "sip_listen\t\t127.0.0.1:%d\n"
            "net_interface\t\t127.0.0.1\n"
            "module_path\t\t/usr/lib/baresip/modules\n"
            "module_app\t\taccount.so\n"
            "module_app\t\tmenu.so\n"
            "audio_player\t\tnothing\n"
            "audio_source\t\tnothing\n" % args.local_port
        )
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write("<sip:baresip@127.0.0.1>;regint=0;mwi=no\n")

    cmd = [args.baresip, "-f", d, "-s", "-t", str(int(args.timeout) + 2), "-e", "/options " + target]
    doc = {"peer": "baresip", "transport": args.transport, "target": target}
    buf = b""
    code = 3
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    except OSError as exc:
        doc["error"] = repr(exc)
        print(json.dumps(doc))
        shutil.rmtree(d, ignore_errors=True)
        return 3
    deadline = time.monotonic() + args.timeout
    req = resp = None
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([proc.stdout], [], [], 0.05)
            if r:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break  # baresip exited
                buf += chunk
                req, resp = final_options_response(buf)
                if resp is not None or ERROR.search(buf):
                    break
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        rest = proc.stdout.read()
        if rest:
            buf += rest

    if resp is None:
        err = ERROR.search(buf)
        if req is None and b"init failed" in buf:
            doc["error"] = "baresip failed: " + buf.decode("utf-8", "replace")[-400:]
            code = 3
        elif err:
            # e.g. "Connection refused" over TCP: nothing came back
            doc.update(status=None, reason=err.group(1).decode("utf-8", "replace"), allow=None)
            code = 2
        else:
            doc.update(status=None, reason="timeout", allow=None)
            code = 2
    else:
        status_line = resp.split("\r\n", 1)[0].split(" ", 2)
        status = int(status_line[1])
        allow = header_values(resp, "Allow")
        doc.update(status=status, reason=status_line[2] if len(status_line) > 2 else "",
                   allow=", ".join(allow) if allow else None)
        code = 0 if 200 <= status < 300 else 1
    if args.raw:
        doc["request"] = req
        doc["response"] = resp
    print(json.dumps(doc))
    sys.stdout.flush()
    if args.keep:
        with open(os.path.join(d, "baresip.out"), "wb") as f:
            f.write(buf)
        print("baresip config and output kept in " + d, file=sys.stderr)
    else:
        shutil.rmtree(d, ignore_errors=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
