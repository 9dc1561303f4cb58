#!/usr/bin/env python3
"""Send one out-of-dialog OPTIONS with pjsua2 (pjsip 2.15) and report the answer.

Command line (what a test runs; reproduce by hand the same way):

    python3 tests/peers/pjsua_options.py --transport udp --server-port 5060 \
        --local-port 5090 --timeout 5

    python3 tests/peers/pjsua_options.py --transport tcp --server-port 5060 \
        --local-port 5090 --timeout 5

It opens one transport on 127.0.0.1:<local-port>, creates an account with no
registration (sip:pjsua@127.0.0.1:<local-port>) and sends
`OPTIONS sip:127.0.0.1:<server-port>` (`;transport=tcp` for TCP) with
`Account.sendRequest()` (pjsua_acc_send_request, pjsip >= 2.14). The final
response is printed as one JSON line on stdout:

    {"peer": "pjsua2", "transport": "udp", "status": 200, "reason": "OK",
     "allow": "INVITE, ACK, ...", "response": "<raw response, with --raw>"}

`allow` is the raw value of the Allow header(s) (joined with ", " when there
are several), or null when the response has none. pjsip's own log goes to
stderr (level set by --log-level), never to stdout.

Exit status: 0 for a 2xx, 1 for another final response from the server,
2 when no response came (timeout, or a 408/503 that pjsip made up locally
after a transport error), 3 for a usage or setup error.

Requires: `pip install pjsua2-python` (binary wheel of pjsip 2.15.1).
Only loopback addresses are ever used.
"""
import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pjsip_log import start_endpoint  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    p.add_argument("--server-port", type=int, required=True)
    p.add_argument("--local-port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the final response")
    p.add_argument("--server-host", default="127.0.0.1", choices=("127.0.0.1",), help="loopback only")
    p.add_argument("--log-level", type=int, default=0, help="pjsip log level on stderr (0-6)")
    p.add_argument("--raw", action="store_true", help="include the raw response in the JSON")
    return p.parse_args()


def header_values(raw, name):
    """Values of every `name` header of a raw SIP message (unfolded)."""
    head = raw.split("\r\n\r\n", 1)[0]
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    out = []
    for line in head.split("\n")[1:]:
        line = line.rstrip("\r")
        if ":" not in line:
            continue
        n, v = line.split(":", 1)
        if n.strip().lower() == name.lower():
            out.append(v.strip())
    return out


def main():
    args = parse_args()
    # pjsip writes its log to stdout; keep the real stdout for our one JSON
    # line and send everything else to stderr.
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)

    import pjsua2 as pj

    result = {}

    class Acc(pj.Account):
        def onSendRequest(self, prm):
            try:
                e = prm.e
                if e.type != pj.PJSIP_EVENT_TSX_STATE:
                    return
                tsx = e.body.tsxState.tsx
                if tsx.statusCode < 200:
                    return
                if "status" in result:
                    return
                raw = ""
                if e.body.tsxState.type == pj.PJSIP_EVENT_RX_MSG:
                    raw = e.body.tsxState.src.rdata.wholeMsg
                result["status"] = tsx.statusCode
                result["reason"] = tsx.statusText
                result["raw"] = raw
            except Exception as exc:  # never let an exception cross into C
                result["error"] = repr(exc)

    code = 3
    try:
        ep, _writer, tid = start_endpoint(pj, args, "pjsua2-options", lambda *_: None)

        acfg = pj.AccountConfig()
        acfg.idUri = "sip:pjsua@127.0.0.1:%d" % args.local_port
        acfg.regConfig.registrarUri = ""
        acfg.regConfig.registerOnAdd = False
        acfg.sipConfig.transportId = tid
        acfg.presConfig.publishEnabled = False
        acc = Acc()
        acc.create(acfg)

        target = "sip:%s:%d" % (args.server_host, args.server_port)
        if args.transport == "tcp":
            target += ";transport=tcp"
        prm = pj.SendRequestParam()
        prm.method = "OPTIONS"
        prm.txOption.targetUri = target
        acc.sendRequest(prm)

        deadline = time.monotonic() + args.timeout
        while "status" not in result and "error" not in result and time.monotonic() < deadline:
            ep.libHandleEvents(20)

        doc = {"peer": "pjsua2", "transport": args.transport, "target": target}
        if "error" in result:
            doc["error"] = result["error"]
            code = 3
        elif "status" not in result:
            doc.update(status=None, reason="timeout", allow=None)
            code = 2
        else:
            raw = result["raw"]
            allow = header_values(raw, "Allow") if raw else []
            doc.update(status=result["status"], reason=result["reason"],
                       allow=", ".join(allow) if allow else None)
            if not raw:
                doc["local"] = True  # made up by pjsip: nothing came back
                code = 2
            else:
                code = 0 if 200 <= result["status"] < 300 else 1
            if args.raw:
                doc["response"] = raw
        out.write(json.dumps(doc) + "\n")
    except Exception as exc:
        out.write(json.dumps({"peer": "pjsua2", "transport": args.transport, "error": repr(exc)}) + "\n")
        code = 3
    out.flush()
    sys.stderr.flush()
    # No libDestroy(): with a transaction still pending (timeout) it calls back
    # into the destroyed account and pjsip aborts; it also costs a second.
    # The process ends here and the OS closes the sockets.
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
