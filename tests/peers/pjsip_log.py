"""Shared helpers for the pjsua2 presence drivers (not a driver itself).

pjsip prints every SIP message it sends or receives into its log (level 4+,
`msgLogging`), byte for byte, as

    TX 812 bytes Request msg PUBLISH/cseq=4711 (tdta0x...) to UDP 127.0.0.1:5060:
    <the message>
    --end msg--

`SipLog` is a pjsua2 LogWriter that cuts those messages out of the log (so
the drivers can see SIP-ETag, Subscription-State, raw PIDF bodies - none of
which pjsua2's API exposes), forwards the log to stderr up to a level, and
can write each message to a dump directory (fixtures).
"""
import os
import re
import sys
import time
import xml.etree.ElementTree as ET

MSG = re.compile(r"(RX|TX) (\d+) bytes (Request|Response) msg (\S+) \((\S+)\) (?:from|to) (\S+) (\S+?):\r?\n(.*?)\r?\n--end msg--", re.S)

PIDF = "urn:ietf:params:xml:ns:pidf"
RPID = "urn:ietf:params:xml:ns:pidf:rpid"
DM = "urn:ietf:params:xml:ns:pidf:data-model"


def headers(raw):
    """[(name_lower, value)] of a raw SIP message, folded lines unfolded; compact forms expanded."""
    compact = {"i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
               "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
               "v": "via", "o": "event", "u": "allow-events"}
    head = re.split(r"\r?\n\r?\n", raw, 1)[0]
    head = re.sub(r"\r?\n[ \t]+", " ", head)
    out = []
    for line in head.split("\n")[1:]:
        line = line.rstrip("\r")
        if ":" in line:
            n, v = line.split(":", 1)
            n = n.strip().lower()
            out.append((compact.get(n, n), v.strip()))
    return out


def header(raw, name):
    for n, v in headers(raw):
        if n == name.lower():
            return v
    return None


def body(raw):
    parts = re.split(r"\r?\n\r?\n", raw, 1)
    return parts[1] if len(parts) > 1 else ""


def param(value, name):
    if value is None:
        return None
    for p in value.split(";")[1:]:
        k, _, v = p.strip().partition("=")
        if k.lower() == name:
            return v.strip('"')
    return None


def parse_pidf(text):
    """{basic, activities, note} of a PIDF document (first tuple, any person), or None."""
    if not text.strip():
        return None
    try:
        root = ET.fromstring(text.encode("utf-8"))
    except ET.ParseError as exc:
        return {"error": "bad PIDF: %s" % exc}
    basics = [b.text.strip() for b in root.iter("{%s}basic" % PIDF) if b.text]
    acts = []
    for a in root.iter("{%s}activities" % RPID):
        for c in a:
            acts.append(c.tag.split("}", 1)[-1])
    notes = [n.text.strip() for n in root.iter() if n.tag in ("{%s}note" % PIDF, "{%s}note" % DM) and n.text]
    return {"basic": basics[0] if basics else None, "basics": basics,
            "activities": acts, "note": notes[0] if notes else None}


def make_log_writer(pj, level, on_message, dump_dir=None, name="pjsua2"):
    """A pj.LogWriter: forwards lines up to `level` to stderr, calls
    on_message(direction, kind, first_line_info, raw) for each SIP message."""

    if dump_dir:
        os.makedirs(dump_dir, exist_ok=True)

    class SipLog(pj.LogWriter):
        def __init__(self):
            pj.LogWriter.__init__(self)
            self.count = 0

        def write(self, entry):
            try:
                msg = entry.msg
                if entry.level <= level:
                    sys.stderr.write(msg if msg.endswith("\n") else msg + "\n")
                for m in MSG.finditer(msg):
                    direction, kind, info, raw = m.group(1), m.group(3), m.group(4), m.group(8)
                    self.count += 1
                    if dump_dir:
                        safe = re.sub(r"[^A-Za-z0-9]+", "-", info).strip("-")
                        path = os.path.join(dump_dir, "%s-%03d-%s-%s.sip" % (name, self.count, direction.lower(), safe))
                        with open(path, "w", newline="") as f:
                            f.write(raw)
                    on_message(direction, kind, info, raw)
            except Exception as exc:  # never let an exception cross into C
                sys.stderr.write("log writer error: %r\n" % exc)

    return SipLog()


def now():
    return round(time.time(), 3)


def start_endpoint(pj, args, name, on_message):
    """Creates and starts a pjsua2 Endpoint the way every driver here needs
    it: the library's event loop on the caller's thread, no audio device,
    SIP messages fed to `on_message` through the log writer, one transport
    on 127.0.0.1:args.local_port. Returns (endpoint, writer, transport id);
    the writer must stay referenced while the endpoint lives."""
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "%s-driver" % name
    writer = make_log_writer(pj, args.log_level, on_message, getattr(args, "dump_dir", None), name)
    cfg.logConfig.writer = writer
    cfg.logConfig.level = max(4, args.log_level)
    cfg.logConfig.consoleLevel = max(4, args.log_level)
    cfg.logConfig.msgLogging = True
    cfg.logConfig.decor = 0
    ep.libInit(cfg)
    ep.audDevManager().setNullDev()
    tcfg = pj.TransportConfig()
    tcfg.port = args.local_port
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    ttype = pj.PJSIP_TRANSPORT_UDP if args.transport == "udp" else pj.PJSIP_TRANSPORT_TCP
    tid = ep.transportCreate(ttype, tcfg)
    ep.libStart()
    return ep, writer, tid


def account_config(pj, args, id_uri, tid):
    """An account without registration whose every request goes to the
    server under test (outbound proxy on 127.0.0.1:args.server_port)."""
    suffix = ";transport=tcp" if args.transport == "tcp" else ""
    acfg = pj.AccountConfig()
    acfg.idUri = id_uri
    acfg.regConfig.registrarUri = ""
    acfg.regConfig.registerOnAdd = False
    acfg.sipConfig.transportId = tid
    acfg.sipConfig.proxies.append("sip:127.0.0.1:%d;lr%s" % (args.server_port, suffix))
    password = getattr(args, "password", None)
    if password is not None:
        # Digest credentials for any realm (the server's 401/407).
        user = getattr(args, "auth_user", None) or id_uri.split(":", 1)[1].split("@", 1)[0]
        acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", user, 0, password))
    return acfg
