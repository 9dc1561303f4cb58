#!/usr/bin/env python3
"""A pjsua2 (pjsip 2.15) presence watcher: SUBSCRIBE to one presentity, report every NOTIFY.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/pjsua_watcher.py --transport udp --server-port 26060 \
        --local-port 26110 --user bob --target sip:alice@127.0.0.1 --duration 60

One transport on 127.0.0.1:<local-port>; one account sip:<user>@127.0.0.1
without registration whose outbound proxy is sip:127.0.0.1:<server-port>;lr
(;transport=tcp for TCP); --target becomes a buddy with a presence
subscription at once (SUBSCRIBE Event: presence). Commands on stdin, one a
line:

    unsubscribe   Buddy.subscribePresence(False): SUBSCRIBE Expires: 0
    subscribe     Buddy.subscribePresence(True): a new subscription
    quit          exit (the account is shut down, which un-SUBSCRIBEs)

The SUBSCRIBE's Expires cannot be chosen: pjsua always asks for 600 s
(PJSIP_PRES_DEFAULT_EXPIRES, compiled in; AccountPresConfig.headers would
add a second Expires header). A short subscription is obtained by the server
granting less (its maximum expiry); pjsua then refreshes on its own, 5 s
before the expiry granted in the last 2xx or in the last NOTIFY's
Subscription-State (expires=), with an in-dialog SUBSCRIBE.

Output: JSON lines on stdout, each with "t" (Unix time, seconds). What goes
over the wire is read from pjsip's message log:

    {"event": "subscribe", "cseq": 1, "expires": 600, "in_dialog": false}
    {"event": "subscribe-response", "status": 200, "reason": "OK", "cseq": 1,
     "expires": 10, "in_dialog": false}
    {"event": "notify", "cseq": 2, "subscription_state": "active;expires=10",
     "state": "active", "expires": 10, "reason": null, "has_body": true,
     "basic": "open", "activities": ["busy"], "note": "In a meeting", "etag": null}
    {"event": "notify-response", "status": 200, "cseq": 2}
and what pjsua2 makes of it (Buddy.onBuddyState / onBuddyEvSubState):
    {"event": "buddy", "status": "online|offline|unknown", "activity": "busy|away|null",
     "note": "...", "sub_state": "ACTIVE", "term_code": 200, "term_reason": ""}
    {"event": "substate", "sub_state": "TERMINATED", "term_code": 200, "term_reason": "timeout"}
and {"event": "ready"}, {"event": "command", "cmd": ...}, {"event": "exit", ...}.
"in_dialog" of a subscribe-response tells whether the SUBSCRIBE it answers
had a To tag (a refresh or an un-SUBSCRIBE).

pjsua2 itself knows only the RPID activities away and busy; "activities" in
the notify events lists every RPID activity element of the PIDF (e.g.
on-the-phone). --dump-dir writes every SIP message pjsip sent or received
into that directory. The process ends after --duration seconds at the
latest. Exit status 0, or 3 on a setup error. Only loopback addresses are used.
"""
import argparse
import json
import os
import select
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pjsip_log  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--local-port", type=int, required=True)
    p.add_argument("--user", default="bob")
    p.add_argument("--target", default="sip:alice@127.0.0.1")
    p.add_argument("--password", default=None,
                   help="answer the server's digest challenges with this password (user: --user)")
    p.add_argument("--duration", type=float, default=60.0, help="hard bound on the run, seconds")
    p.add_argument("--log-level", type=int, default=0)
    p.add_argument("--dump-dir", default=None)
    return p.parse_args()


def to_int(v):
    return int(v) if v is not None and v.strip().isdigit() else None


def main():
    args = parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # pjsip logs to stdout: keep stdout for the JSON lines

    import pjsua2 as pj

    def emit(doc):
        doc["t"] = pjsip_log.now()
        out.write(json.dumps(doc) + "\n")
        out.flush()

    sent_in_dialog = {}  # SUBSCRIBE CSeq -> whether the request had a To tag

    def on_message(direction, kind, info, raw):
        parts = (pjsip_log.header(raw, "cseq") or "").split()
        if len(parts) != 2:
            return
        cseq, method = int(parts[0]), parts[1]
        in_dialog = pjsip_log.param(pjsip_log.header(raw, "to"), "tag") is not None
        first = raw.split("\r\n", 1)[0]
        if method == "SUBSCRIBE" and direction == "TX" and kind == "Request":
            sent_in_dialog[cseq] = in_dialog
            emit({"event": "subscribe", "cseq": cseq, "expires": to_int(pjsip_log.header(raw, "expires")),
                  "in_dialog": in_dialog})
        elif method == "SUBSCRIBE" and direction == "RX" and kind == "Response":
            status = int(first.split(" ", 2)[1])
            if status >= 200:
                emit({"event": "subscribe-response", "status": status,
                      "reason": first.split(" ", 2)[2] if first.count(" ") >= 2 else "",
                      "cseq": cseq, "expires": to_int(pjsip_log.header(raw, "expires")),
                      "in_dialog": sent_in_dialog.get(cseq)})
        elif method == "NOTIFY" and direction == "RX" and kind == "Request":
            ss = pjsip_log.header(raw, "subscription-state")
            text = pjsip_log.body(raw)
            doc = pjsip_log.parse_pidf(text) or {}
            emit({"event": "notify", "cseq": cseq, "subscription_state": ss,
                  "state": ss.split(";", 1)[0].strip().lower() if ss else None,
                  "expires": to_int(pjsip_log.param(ss, "expires")),
                  "reason": pjsip_log.param(ss, "reason"),
                  "has_body": bool(text.strip()),
                  "content_type": pjsip_log.header(raw, "content-type"),
                  "basic": doc.get("basic"), "activities": doc.get("activities"),
                  "note": doc.get("note"), "pidf_error": doc.get("error"),
                  "etag": pjsip_log.header(raw, "sip-etag")})
        elif method == "NOTIFY" and direction == "TX" and kind == "Response":
            emit({"event": "notify-response", "status": int(first.split(" ", 2)[1]), "cseq": cseq})

    ep = None
    try:
        ep, writer, tid = pjsip_log.start_endpoint(pj, args, "pjsua2-watcher", on_message)

        activity_name = {pj.PJRPID_ACTIVITY_UNKNOWN: None, pj.PJRPID_ACTIVITY_AWAY: "away",
                         pj.PJRPID_ACTIVITY_BUSY: "busy"}
        status_name = {pj.PJSUA_BUDDY_STATUS_UNKNOWN: "unknown", pj.PJSUA_BUDDY_STATUS_ONLINE: "online",
                       pj.PJSUA_BUDDY_STATUS_OFFLINE: "offline"}

        class Buddy(pj.Buddy):
            def onBuddyState(self):
                try:
                    info = self.getInfo()
                    ps = info.presStatus
                    emit({"event": "buddy", "uri": info.uri, "status": status_name.get(ps.status, str(ps.status)),
                          "activity": activity_name.get(ps.activity), "note": ps.note,
                          "status_text": ps.statusText, "sub_state": info.subStateName,
                          "term_code": info.subTermCode, "term_reason": info.subTermReason})
                except Exception as exc:
                    emit({"event": "error", "where": "onBuddyState", "error": repr(exc)})

            def onBuddyEvSubState(self, prm):
                try:
                    info = self.getInfo()
                    emit({"event": "substate", "sub_state": info.subStateName,
                          "term_code": info.subTermCode, "term_reason": info.subTermReason})
                except Exception as exc:
                    emit({"event": "error", "where": "onBuddyEvSubState", "error": repr(exc)})


        acfg = pjsip_log.account_config(pj, args, "sip:%s@127.0.0.1" % args.user, tid)
        acfg.presConfig.publishEnabled = False
        acc = pj.Account()
        acc.create(acfg)
        emit({"event": "ready", "peer": "pjsua2", "uri": acfg.idUri, "target": args.target,
              "transport": args.transport})

        bcfg = pj.BuddyConfig()
        bcfg.uri = args.target
        bcfg.subscribe = True
        buddy = Buddy()
        buddy.create(acc, bcfg)

        end = time.monotonic() + args.duration
        buf = b""
        reason = "duration"
        stdin_open = True
        while time.monotonic() < end:
            ep.libHandleEvents(10)
            if not stdin_open:
                continue
            r, _, _ = select.select([0], [], [], 0)
            if not r:
                continue
            chunk = os.read(0, 4096)
            if not chunk:
                stdin_open = False
                reason = "stdin closed"
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                cmd = line.decode("utf-8", "replace").strip()
                if not cmd:
                    continue
                emit({"event": "command", "cmd": cmd})
                if cmd == "unsubscribe":
                    buddy.subscribePresence(False)
                elif cmd == "subscribe":
                    buddy.subscribePresence(True)
                elif cmd == "quit":
                    reason = "quit"
                    end = time.monotonic()
                    break
                else:
                    emit({"event": "error", "error": "unknown command %r" % cmd})
        acc.shutdown()
        stop = time.monotonic() + 1.0
        while time.monotonic() < stop:
            ep.libHandleEvents(10)
        emit({"event": "exit", "reason": reason})
        code = 0
    except Exception as exc:
        emit({"event": "error", "error": repr(exc)})
        code = 3
    out.flush()
    sys.stderr.flush()
    os._exit(code)  # see pjsua_options.py: libDestroy() with pending transactions aborts


if __name__ == "__main__":
    sys.exit(main())
