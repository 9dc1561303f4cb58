#!/usr/bin/env python3
"""Run pjsua2 (pjsip 2.15) as a presence client against a server on loopback.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/pjsua_presence.py --transport udp --server-port 5060 \
        --local-port 5090 --user alice --publish busy --note "In a meeting" \
        --subscribe sip:bob@127.0.0.1 --options --duration 8

One transport on 127.0.0.1:<local-port>; one account sip:<user>@127.0.0.1
without registration whose outbound proxy is sip:127.0.0.1:<server-port>;lr
(;transport=tcp for TCP), so every request goes to the server. Then:

- with --publish other than `none`: PUBLISH is enabled, and
  `Account.setOnlineStatus()` publishes the state (online, busy, away:
  basic open + RPID activity; offline: basic closed) with --note as the
  PIDF note (the PIDF body has bare LF line ends). The first PUBLISH has no
  Expires header; pjsip refreshes 5 s before the expiry the server granted,
  with a body-less PUBLISH carrying SIP-If-Match, and unpublishes
  (Expires: 0, SIP-If-Match) at shutdown;
- each --subscribe URI becomes a buddy with a presence subscription
  (SUBSCRIBE Event: presence, Expires: 600); every buddy state change is
  printed (no un-SUBSCRIBE goes out for a subscription that never got a
  NOTIFY);
- --options sends one out-of-dialog OPTIONS to sip:127.0.0.1:<server-port>;
- after --duration seconds the account is shut down (un-PUBLISH,
  un-SUBSCRIBE) and the library destroyed.

Output: JSON lines on stdout, e.g.
    {"event": "buddy", "uri": "sip:bob@127.0.0.1", "status": "busy",
     "statusText": "Busy", "activity": "busy", "note": "In a meeting",
     "subState": "ACTIVE"}
    {"event": "options", "status": 200, "reason": "OK"}
pjsip's log goes to stderr (--log-level). Exit status 0, or 3 on a setup error.
Only loopback addresses are ever used.
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pjsip_log import start_endpoint  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--local-port", type=int, required=True)
    p.add_argument("--user", default="alice")
    p.add_argument("--publish", choices=("none", "online", "busy", "away", "offline"), default="none")
    p.add_argument("--note", default="")
    p.add_argument("--subscribe", action="append", default=[], metavar="URI")
    p.add_argument("--options", action="store_true")
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--log-level", type=int, default=0)
    return p.parse_args()


def main():
    args = parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # pjsip logs to stdout: keep stdout for the JSON lines

    import pjsua2 as pj

    def emit(doc):
        out.write(json.dumps(doc) + "\n")
        out.flush()

    activity_name = {pj.PJRPID_ACTIVITY_UNKNOWN: None, pj.PJRPID_ACTIVITY_AWAY: "away",
                     pj.PJRPID_ACTIVITY_BUSY: "busy"}
    status_name = {pj.PJSUA_BUDDY_STATUS_UNKNOWN: "unknown", pj.PJSUA_BUDDY_STATUS_ONLINE: "online",
                   pj.PJSUA_BUDDY_STATUS_OFFLINE: "offline"}

    class Buddy(pj.Buddy):
        def onBuddyState(self):
            try:
                info = self.getInfo()
                ps = info.presStatus
                emit({"event": "buddy", "uri": info.uri,
                      "status": activity_name.get(ps.activity) or status_name.get(ps.status, str(ps.status)),
                      "statusText": ps.statusText, "activity": activity_name.get(ps.activity),
                      "note": ps.note, "subState": info.subStateName})
            except Exception as exc:
                emit({"event": "error", "where": "onBuddyState", "error": repr(exc)})

    class Account(pj.Account):
        def onSendRequest(self, prm):
            try:
                e = prm.e
                if e.type == pj.PJSIP_EVENT_TSX_STATE and e.body.tsxState.tsx.statusCode >= 200:
                    tsx = e.body.tsxState.tsx
                    emit({"event": tsx.method.lower(), "status": tsx.statusCode, "reason": tsx.statusText})
            except Exception as exc:
                emit({"event": "error", "where": "onSendRequest", "error": repr(exc)})

    try:
        ep, _writer, tid = start_endpoint(pj, args, "pjsua2-presence", lambda *_: None)

        suffix = ";transport=tcp" if args.transport == "tcp" else ""
        acfg = pj.AccountConfig()
        acfg.idUri = "sip:%s@127.0.0.1" % args.user
        acfg.regConfig.registrarUri = ""
        acfg.regConfig.registerOnAdd = False
        acfg.sipConfig.transportId = tid
        acfg.sipConfig.proxies.append("sip:127.0.0.1:%d;lr%s" % (args.server_port, suffix))
        acfg.presConfig.publishEnabled = args.publish != "none"
        acc = Account()
        acc.create(acfg)

        if args.publish != "none":
            ps = pj.PresenceStatus()
            ps.status = pj.PJSUA_BUDDY_STATUS_OFFLINE if args.publish == "offline" else pj.PJSUA_BUDDY_STATUS_ONLINE
            ps.activity = {"busy": pj.PJRPID_ACTIVITY_BUSY, "away": pj.PJRPID_ACTIVITY_AWAY}.get(
                args.publish, pj.PJRPID_ACTIVITY_UNKNOWN)
            ps.note = args.note
            acc.setOnlineStatus(ps)

        buddies = []
        for uri in args.subscribe:
            bcfg = pj.BuddyConfig()
            bcfg.uri = uri
            bcfg.subscribe = True
            b = Buddy()
            b.create(acc, bcfg)
            buddies.append(b)

        if args.options:
            prm = pj.SendRequestParam()
            prm.method = "OPTIONS"
            prm.txOption.targetUri = "sip:127.0.0.1:%d%s" % (args.server_port, suffix)
            acc.sendRequest(prm)

        end = time.monotonic() + args.duration
        while time.monotonic() < end:
            ep.libHandleEvents(20)

        # Shutdown: un-SUBSCRIBE and un-PUBLISH, and give them time to go out.
        for b in buddies:
            try:
                b.subscribePresence(False)
            except Exception:
                pass
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        acc.shutdown()
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            ep.libHandleEvents(20)
        code = 0
    except Exception as exc:
        emit({"event": "error", "error": repr(exc)})
        code = 3
    out.flush()
    sys.stderr.flush()
    os._exit(code)  # see pjsua_options.py: libDestroy() with pending transactions aborts


if __name__ == "__main__":
    sys.exit(main())
