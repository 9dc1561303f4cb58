#!/usr/bin/env python3
"""A pjsua2 (pjsip 2.15) presence publisher driven by commands on stdin.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/pjsua_publisher.py --transport udp --server-port 26060 \
        --local-port 26100 --user alice --duration 60

One transport on 127.0.0.1:<local-port>; one account sip:<user>@127.0.0.1
without registration whose outbound proxy is sip:127.0.0.1:<server-port>;lr
(;transport=tcp for TCP), with PUBLISH enabled and the PIDF tuple id
`--tuple-id`. Creating the account sends nothing (without registration pjsua
starts its publication at the first setOnlineStatus: an initial PUBLISH
without Expires). Then one command per stdin line, each completed (final
response seen, 8 s at most) before the next is read:

    online [NOTE]        basic open, no activity     (Account.setOnlineStatus)
    busy [NOTE]          open + <rpid:busy/>          (setOnlineStatus, PJRPID_ACTIVITY_BUSY)
    away [NOTE]          open + <rpid:away/>          (setOnlineStatus, PJRPID_ACTIVITY_AWAY)
    offline [NOTE]       basic closed                 (setOnlineStatus)
    on-the-phone [NOTE]  open + <rpid:on-the-phone/>  (see below)
    quit                 un-PUBLISH (Expires: 0) and exit

pjsua2 cannot publish on-the-phone: its RPID activity enum has only
UNKNOWN, AWAY and BUSY, and its PIDF is built inside pjsua. So
`on-the-phone` sends the PUBLISH through pjsua2's own stack with
Account.sendRequest (pjsua_acc_send_request): a PIDF in pjsua's layout (same
entity and tuple id) whose person has <rpid:on-the-phone/>, with
`SIP-If-Match:` pjsua's current entity-tag (read from the log), i.e. a modify
of the same publication. The next native command then goes out with pjsua's
now stale entity-tag; the server answers 412 and pjsua starts a new
publication on its own (an initial PUBLISH with the new state; RFC 3903
§4.4). Once that is accepted the driver removes the on-the-phone
publication (PUBLISH Expires: 0, SIP-If-Match its entity-tag). pjsua does
not re-publish after a 412 while its status is offline, so `offline` right
after `on-the-phone` changes the on-the-phone publication to basic closed
instead (same layout, SIP-If-Match). The on-the-phone PUBLISH asks for
--custom-expires (3600) s; while it lives, the driver refreshes it the way
pjsua refreshes its own (body-less PUBLISH with SIP-If-Match, 5 s before the
granted expiry).

Output: JSON lines on stdout, each with "t" (Unix time, seconds):

    {"event": "ready", ...}
    {"event": "command", "cmd": "busy", "note": "..."}
    {"event": "publish", "status": 200, "reason": "OK", "etag": "a.1-2", "expires": 3600,
     "cseq": 4, "if_match": "a.1-1", "req_expires": null, "has_body": true,
     "basic": "open", "activities": ["busy"], "via": "pjsua|sendRequest"}
    {"event": "error", ...}
    {"event": "exit", "reason": "quit|stdin closed|duration"}

one "publish" per final response to a PUBLISH (initial, modify, pjsua's
body-less refresh, remove); etag is the response's SIP-ETag, expires its
Expires. pjsip's log goes to stderr (--log-level). --dump-dir writes every SIP
message pjsip sent or received into that directory (one file each).
The process ends after --duration seconds at the latest.
Exit status 0, or 3 on a setup error. Only loopback addresses are used.
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
    p.add_argument("--user", default="alice")
    p.add_argument("--tuple-id", default=None, help="PIDF tuple id (default: pj-<user>)")
    p.add_argument("--custom-expires", type=int, default=3600,
                   help="Expires of the hand-built on-the-phone PUBLISH")
    p.add_argument("--password", default=None,
                   help="answer the server's digest challenges with this password (user: --user)")
    p.add_argument("--auth-user", default=None,
                   help="the digest username, when it is not --user (someone else's credentials)")
    p.add_argument("--duration", type=float, default=60.0, help="hard bound on the run, seconds")
    p.add_argument("--log-level", type=int, default=0)
    p.add_argument("--dump-dir", default=None)
    return p.parse_args()


def pidf(entity, tuple_id, person_id, basic, activity, note):
    """A PIDF in pjsua's own layout (namespaces, tuple, dm:person)."""
    ts = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tuple_note = "  <note>%s</note>\n" % note if note else ""
    person = ""
    if activity or note:
        person = ' <dm:person id="%s">\n' % person_id
        if activity:
            person += "  <rpid:activities>\n   <rpid:%s />\n  </rpid:activities>\n" % activity
        if note:
            person += "  <dm:note>%s</dm:note>\n" % note
        person += " </dm:person>\n"
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model"'
            ' xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="%s">\n'
            ' <tuple id="%s">\n  <status>\n   <basic>%s</basic>\n  </status>\n'
            '  <timestamp>%s</timestamp>\n%s </tuple>\n%s</presence>\n'
            % (entity, tuple_id, basic, ts, tuple_note, person))


def main():
    args = parse_args()
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # pjsip logs to stdout: keep stdout for the JSON lines

    import pjsua2 as pj

    def emit(doc):
        doc["t"] = pjsip_log.now()
        out.write(json.dumps(doc) + "\n")
        out.flush()

    entity = "sip:%s@127.0.0.1" % args.user
    tuple_id = args.tuple_id or "pj-%s" % args.user
    person_id = "pid-%s" % args.user
    st = {"etag": None,          # pjsua's own publication (last 2xx SIP-ETag of a pjsua PUBLISH)
          "custom_etag": None,   # the on-the-phone publication
          "requests": {},        # cseq -> request info
          "responses": [],       # publish events, in order
          "custom_cseqs": set(),
          "custom_call_ids": set(),
          "sending_custom": False,
          "custom_refresh_at": None}

    def on_message(direction, kind, info, raw):
        cseq_hdr = pjsip_log.header(raw, "cseq") or ""
        parts = cseq_hdr.split()
        if len(parts) != 2 or parts[1] != "PUBLISH":
            return
        cseq = int(parts[0])
        if direction == "TX" and kind == "Request":
            call_id = pjsip_log.header(raw, "call-id")
            if st["sending_custom"]:
                st["custom_call_ids"].add(call_id)
            if call_id in st["custom_call_ids"]:
                st["custom_cseqs"].add(cseq)
            doc = pjsip_log.parse_pidf(pjsip_log.body(raw)) or {}
            st["requests"][cseq] = {
                "if_match": pjsip_log.header(raw, "sip-if-match"),
                "req_expires": pjsip_log.header(raw, "expires"),
                "has_body": bool(pjsip_log.body(raw).strip()),
                "basic": doc.get("basic"), "activities": doc.get("activities")}
        elif direction == "RX" and kind == "Response":
            status = int(raw.split(" ", 2)[1])
            if status < 200:
                return
            req = st["requests"].get(cseq, {})
            via = "sendRequest" if cseq in st["custom_cseqs"] else "pjsua"
            etag = pjsip_log.header(raw, "sip-etag")
            exp = pjsip_log.header(raw, "expires")
            ev = {"event": "publish", "status": status,
                  "reason": raw.split("\r\n", 1)[0].split(" ", 2)[2] if raw.count(" ") >= 2 else "",
                  "etag": etag, "expires": int(exp) if exp and exp.isdigit() else None,
                  "cseq": cseq, "via": via}
            ev.update(req)
            if 200 <= status < 300:
                if via == "pjsua":
                    st["etag"] = etag
                elif req.get("req_expires") == "0":
                    st["custom_etag"] = None
                    st["custom_refresh_at"] = None
                else:
                    st["custom_etag"] = etag
                    # refresh like pjsua does: 5 s before the granted expiry
                    granted = ev["expires"] or args.custom_expires
                    st["custom_refresh_at"] = time.monotonic() + max(1, granted - 5)
            st["responses"].append(ev)
            emit(ev)

    ep = None
    try:
        ep, writer, tid = pjsip_log.start_endpoint(pj, args, "pjsua2-publisher", on_message)

        acfg = pjsip_log.account_config(pj, args, entity, tid)
        acfg.presConfig.publishEnabled = True
        acfg.presConfig.pidfTupleId = tuple_id
        acc = pj.Account()
        acc.create(acfg)
        emit({"event": "ready", "peer": "pjsua2", "uri": entity, "transport": args.transport,
              "tuple_id": tuple_id})

        end = time.monotonic() + args.duration

        def pump(seconds, until=None):
            stop = min(time.monotonic() + seconds, end)
            while time.monotonic() < stop:
                ep.libHandleEvents(10)
                if until is not None and until():
                    return True
            return until() if until is not None else True

        def send_custom(extra_headers, body):
            prm = pj.SendRequestParam()
            prm.method = "PUBLISH"
            prm.txOption.targetUri = entity
            for name, value in extra_headers:
                h = pj.SipHeader()
                h.hName = name
                h.hValue = value
                prm.txOption.headers.append(h)
            if body:
                prm.txOption.contentType = "application/pidf+xml"
                prm.txOption.msgBody = body
            n = len(st["responses"])
            # pjsip logs the request while sendRequest() runs: that is how
            # the log callback tells it from pjsua's own PUBLISHes
            st["sending_custom"] = True
            try:
                acc.sendRequest(prm)
            finally:
                st["sending_custom"] = False
            pump(8, lambda: any(r["via"] == "sendRequest" for r in st["responses"][n:]))

        def native(cmd, note):
            ps = pj.PresenceStatus()
            ps.status = pj.PJSUA_BUDDY_STATUS_OFFLINE if cmd == "offline" else pj.PJSUA_BUDDY_STATUS_ONLINE
            ps.activity = {"busy": pj.PJRPID_ACTIVITY_BUSY, "away": pj.PJRPID_ACTIVITY_AWAY}.get(
                cmd, pj.PJRPID_ACTIVITY_UNKNOWN)
            ps.note = note
            n = len(st["responses"])
            acc.setOnlineStatus(ps)
            # one command at a time: wait for the final response (pjsua
            # queues a modify while another PUBLISH is pending)
            pump(8, lambda: len(st["responses"]) > n)
            if st["custom_etag"]:
                # pjsua's entity-tag is stale: expect 412. Going online/busy/
                # away, pjsua then starts a new publication on its own; once
                # it is accepted the on-the-phone one is removed. Going
                # offline, pjsua publishes nothing after the 412 (it does not
                # re-publish while offline), so the on-the-phone publication
                # itself is changed to closed.
                if cmd == "offline":
                    send_custom([("Event", "presence"), ("Expires", str(args.custom_expires)),
                                 ("SIP-If-Match", st["custom_etag"])],
                                pidf(entity, tuple_id, person_id, "closed", None, note))
                    return

                def recovered():
                    return any(r["via"] == "pjsua" and 200 <= r["status"] < 300
                               for r in st["responses"][n:])
                if pump(8, recovered):
                    send_custom([("Event", "presence"), ("Expires", "0"),
                                 ("SIP-If-Match", st["custom_etag"])], None)
                else:
                    emit({"event": "error", "error": "pjsua did not recover its publication"})

        def on_the_phone(note):
            hdrs = [("Event", "presence"), ("Expires", str(args.custom_expires))]
            tag = st["custom_etag"] or st["etag"]
            if tag:
                hdrs.append(("SIP-If-Match", tag))
            send_custom(hdrs, pidf(entity, tuple_id, person_id, "open", "on-the-phone", note))

        buf = b""
        reason = "duration"
        stdin_open = True
        while time.monotonic() < end:
            ep.libHandleEvents(10)
            if st["custom_etag"] and st["custom_refresh_at"] and time.monotonic() >= st["custom_refresh_at"]:
                st["custom_refresh_at"] = None
                send_custom([("Event", "presence"), ("Expires", str(args.custom_expires)),
                             ("SIP-If-Match", st["custom_etag"])], None)
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
                words = line.decode("utf-8", "replace").strip().split(None, 1)
                if not words:
                    continue
                cmd, note = words[0], (words[1] if len(words) > 1 else "")
                emit({"event": "command", "cmd": cmd, "note": note})
                if cmd in ("online", "busy", "away", "offline"):
                    native(cmd, note)
                elif cmd == "on-the-phone":
                    on_the_phone(note)
                elif cmd == "quit":
                    reason = "quit"
                    end = time.monotonic()
                    break
                else:
                    emit({"event": "error", "error": "unknown command %r" % cmd})
        # un-PUBLISH: the custom publication by hand, pjsua's own by shutdown()
        end = time.monotonic() + 5
        if st["custom_etag"]:
            send_custom([("Event", "presence"), ("Expires", "0"),
                         ("SIP-If-Match", st["custom_etag"])], None)
        n = len(st["responses"])
        acc.shutdown()
        pump(2, lambda: len(st["responses"]) > n)
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
