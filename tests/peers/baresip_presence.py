#!/usr/bin/env python3
"""baresip (1.0.0, Debian baresip-core) as a presence publisher (open/closed) and/or watcher.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/baresip_presence.py --transport udp --server-port 26060 \
        --local-port 26120 --user carol --publish --watch sip:alice@127.0.0.1 \
        --pubint 60 --duration 60

What it runs underneath (DIR is a fresh temporary config directory):

    baresip -f DIR -s -t <duration+2>

DIR/config loads only account, contact, presence, menu and cons (no audio),
`sip_listen 127.0.0.1:<local-port>`, `cons_listen 127.0.0.1:<local-port+2>`.
DIR/accounts has one account

    "<user>" <sip:<user>@127.0.0.1;transport=udp>;regint=0;pubint=<pubint>;
        outbound="sip:127.0.0.1:<server-port>;transport=udp";answermode=auto;mwi=no

(`pubint` only with --publish: it turns PUBLISH on; without registration
(regint=0) baresip publishes and subscribes right away). Each --watch URI is
a contact line `<URI>;presence=p2p` (without `;presence=p2p` baresip never
subscribes). Commands on stdin, one a line:

    online | offline   sent to baresip's `cons` module (UDP, 127.0.0.1:<local-port+2>)
                       as /presence_online, /presence_offline: a PUBLISH open/closed
    quit               SIGTERM to baresip (it un-PUBLISHes and un-SUBSCRIBEs)

baresip cannot publish an RPID activity (busy/away/on-the-phone) and has no
command to un-SUBSCRIBE one contact. The first PUBLISH is basic open.

Output: JSON lines on stdout, each with "t", read from baresip's `-s` SIP trace:

    {"event": "publish", "status": 200, "reason": "OK", "etag": "...", "expires": 60,
     "req_expires": "60", "if_match": null, "has_body": true, "basic": "open"}
    {"event": "subscribe", "expires": 600, "in_dialog": false}
    {"event": "subscribe-response", "status": 200, "expires": 10, "in_dialog": false}
    {"event": "notify", "subscription_state": "active;expires=10", "state": "active",
     "expires": 10, "reason": null, "has_body": true, "basic": "open",
     "activities": ["busy"], "note": "...", "etag": null}
    {"event": "notify-response", "status": 200}
plus {"event": "ready"}, {"event": "command"}, {"event": "exit"}. "in_dialog"
of a subscribe-response tells whether the SUBSCRIBE it answers had a To tag
(a refresh or an un-SUBSCRIBE).
--dump-dir writes every traced SIP message into that directory.
Exit status 0, or 3 on a setup error. Only loopback addresses are used.
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pjsip_log  # noqa: E402  (header/PIDF helpers only)

TRACE = re.compile(rb"#\n(UDP|TCP|TLS|WS|WSS) (\S+) -> (\S+)\n(.*?)\x1b\[;m", re.S)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--local-port", type=int, required=True)
    p.add_argument("--user", default="carol")
    p.add_argument("--publish", action="store_true", help="enable PUBLISH (pubint)")
    p.add_argument("--pubint", type=int, default=60, help="PUBLISH Expires / refresh interval")
    p.add_argument("--watch", action="append", default=[], metavar="URI")
    p.add_argument("--password", default=None,
                   help="answer the server's digest challenges with this password (auth_pass)")
    p.add_argument("--duration", type=float, default=60.0)
    p.add_argument("--baresip", default="baresip")
    p.add_argument("--dump-dir", default=None)
    p.add_argument("--keep", action="store_true", help="keep the config dir and full output")
    return p.parse_args()


def main():
    args = parse_args()

    def emit(doc):
        doc["t"] = pjsip_log.now()
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()

    if args.dump_dir:
        os.makedirs(args.dump_dir, exist_ok=True)
    d = tempfile.mkdtemp(prefix="baresip-presence-")
    cons_port = args.local_port + 2
    with open(os.path.join(d, "config"), "w") as f:
        f.write("poll_method\t\tpoll\n"
                "sip_listen\t\t127.0.0.1:%d\n"
                "net_interface\t\t127.0.0.1\n"
                "module_path\t\t/usr/lib/baresip/modules\n"
                "module\t\t\tcons.so\n"
                "module_app\t\taccount.so\n"
                "module_app\t\tcontact.so\n"
                "module_app\t\tpresence.so\n"
                "module_app\t\tmenu.so\n"
                "cons_listen\t\t127.0.0.1:%d\n"
                "audio_player\t\tnothing\n"
                "audio_source\t\tnothing\n" % (args.local_port, cons_port))
    t = args.transport
    auth = ";auth_user=%s;auth_pass=%s" % (args.user, args.password) if args.password else ""
    acc = ('"%s" <sip:%s@127.0.0.1;transport=%s>%s;regint=0;%soutbound="sip:127.0.0.1:%d;transport=%s";'
           "answermode=auto;mwi=no\n" % (args.user, args.user, t, auth,
                                          ("pubint=%d;" % args.pubint) if args.publish else "",
                                          args.server_port, t))
    with open(os.path.join(d, "accounts"), "w") as f:
        f.write(acc)
    with open(os.path.join(d, "contacts"), "w") as f:
        for i, uri in enumerate(args.watch):
            f.write('"Buddy%d" <%s>;presence=p2p\n' % (i, uri))

    cmd = [args.baresip, "-f", d, "-s", "-t", str(int(args.duration) + 2)]
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
    except OSError as exc:
        emit({"event": "error", "error": repr(exc)})
        shutil.rmtree(d, ignore_errors=True)
        return 3
    emit({"event": "ready", "peer": "baresip", "pid": proc.pid, "uri": "sip:%s@127.0.0.1" % args.user,
          "transport": t, "watch": args.watch, "publish": args.publish})

    buf = b""
    pos = 0
    count = 0
    requests = {}  # (call-id, cseq) -> request info, PUBLISH
    sent_in_dialog = {}  # (call-id, cseq) -> whether the SUBSCRIBE had a To tag
    cons = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def handle(src, dst, raw):
        nonlocal count
        count += 1
        first = raw.split("\r\n", 1)[0]
        outgoing = src == "127.0.0.1:%d" % args.local_port or not dst.endswith(":%d" % args.local_port)
        if args.dump_dir:
            safe = re.sub(r"[^A-Za-z0-9]+", "-", first[:40]).strip("-")
            with open(os.path.join(args.dump_dir, "baresip-%03d-%s-%s.sip" % (count, "tx" if outgoing else "rx", safe)),
                      "w", newline="") as f:
                f.write(raw)
        parts = (pjsip_log.header(raw, "cseq") or "").split()
        if len(parts) != 2:
            return
        cseq, method = int(parts[0]), parts[1]
        key = (pjsip_log.header(raw, "call-id"), cseq)
        is_resp = raw.startswith("SIP/2.0 ")
        status = int(first.split(" ", 2)[1]) if is_resp else None
        reason = first.split(" ", 2)[2] if is_resp and first.count(" ") >= 2 else ""
        in_dialog = pjsip_log.param(pjsip_log.header(raw, "to"), "tag") is not None
        text = pjsip_log.body(raw)
        if method == "PUBLISH" and not is_resp:
            doc = pjsip_log.parse_pidf(text) or {}
            requests[key] = {"if_match": pjsip_log.header(raw, "sip-if-match"),
                             "req_expires": pjsip_log.header(raw, "expires"),
                             "has_body": bool(text.strip()), "basic": doc.get("basic"),
                             "activities": doc.get("activities")}
        elif method == "PUBLISH" and status >= 200:
            exp = pjsip_log.header(raw, "expires")
            ev = {"event": "publish", "status": status, "reason": reason,
                  "etag": pjsip_log.header(raw, "sip-etag"),
                  "expires": int(exp) if exp and exp.isdigit() else None, "cseq": cseq}
            ev.update(requests.get(key, {}))
            emit(ev)
        elif method == "SUBSCRIBE" and not is_resp:
            sent_in_dialog[key] = in_dialog
            exp = pjsip_log.header(raw, "expires")
            emit({"event": "subscribe", "cseq": cseq, "expires": int(exp) if exp and exp.isdigit() else None,
                  "in_dialog": in_dialog})
        elif method == "SUBSCRIBE" and status >= 200:
            exp = pjsip_log.header(raw, "expires")
            emit({"event": "subscribe-response", "status": status, "reason": reason, "cseq": cseq,
                  "expires": int(exp) if exp and exp.isdigit() else None,
                  "in_dialog": sent_in_dialog.get(key)})
        elif method == "NOTIFY" and not is_resp:
            ss = pjsip_log.header(raw, "subscription-state")
            doc = pjsip_log.parse_pidf(text) or {}
            exp = pjsip_log.param(ss, "expires")
            emit({"event": "notify", "cseq": cseq, "subscription_state": ss,
                  "state": ss.split(";", 1)[0].strip().lower() if ss else None,
                  "expires": int(exp) if exp and exp.isdigit() else None,
                  "reason": pjsip_log.param(ss, "reason"), "has_body": bool(text.strip()),
                  "content_type": pjsip_log.header(raw, "content-type"),
                  "basic": doc.get("basic"), "activities": doc.get("activities"),
                  "note": doc.get("note"), "pidf_error": doc.get("error"),
                  "etag": pjsip_log.header(raw, "sip-etag")})
        elif method == "NOTIFY" and status >= 200:
            emit({"event": "notify-response", "status": status, "cseq": cseq})

    end = time.monotonic() + args.duration
    inbuf = b""
    stdin_open = True
    reason = "duration"
    try:
        while time.monotonic() < end and proc.poll() is None:
            fds = [proc.stdout] + ([0] if stdin_open else [])
            r, _, _ = select.select(fds, [], [], 0.05)
            if proc.stdout in r:
                chunk = proc.stdout.read1(65536)
                if not chunk:
                    break
                buf += chunk
                for m in TRACE.finditer(buf, pos):
                    pos = m.end()
                    handle(m.group(2).decode(), m.group(3).decode(), m.group(4).decode("utf-8", "replace"))
            if 0 in r:
                chunk = os.read(0, 4096)
                if not chunk:
                    stdin_open = False
                    reason = "stdin closed"
                    break
                inbuf += chunk
                while b"\n" in inbuf:
                    line, inbuf = inbuf.split(b"\n", 1)
                    c = line.decode("utf-8", "replace").strip()
                    if not c:
                        continue
                    emit({"event": "command", "cmd": c})
                    if c in ("online", "offline"):
                        cons.sendto(("/presence_%s\n" % c).encode(), ("127.0.0.1", cons_port))
                    elif c == "quit":
                        reason = "quit"
                        end = time.monotonic()
                        break
                    else:
                        emit({"event": "error", "error": "unknown command %r (baresip: online/offline only)" % c})
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            stop = time.monotonic() + 3
            while time.monotonic() < stop and proc.poll() is None:
                r, _, _ = select.select([proc.stdout], [], [], 0.05)
                if r:
                    chunk = proc.stdout.read1(65536)
                    if chunk:
                        buf += chunk
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        rest = proc.stdout.read()
        if rest:
            buf += rest
        for m in TRACE.finditer(buf, pos):
            pos = m.end()
            handle(m.group(2).decode(), m.group(3).decode(), m.group(4).decode("utf-8", "replace"))
        if b"init failed" in buf or b"module not found" in buf:
            emit({"event": "error", "error": "baresip: " + buf.decode("utf-8", "replace")[-400:]})
        emit({"event": "exit", "reason": reason, "code": proc.returncode})
        if args.keep:
            with open(os.path.join(d, "baresip.out"), "wb") as f:
                f.write(buf)
            sys.stderr.write("baresip config and output kept in %s\n" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
