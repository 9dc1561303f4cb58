//! Every rule of the registrar, with explicit time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use sip::{HeaderAccess, HeaderName, Message, Response};

use super::*;

type Reg = Registrar<u32>;

fn t0() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A REGISTER for alice with `extra` header lines (each ending in CRLF).
fn register(call_id: &str, cseq: u32, extra: &str) -> sip::Request {
    register_for("sip:alice@lab.test", call_id, cseq, extra)
}

fn register_for(to: &str, call_id: &str, cseq: u32, extra: &str) -> sip::Request {
    let text = format!(
        "REGISTER sip:lab.test SIP/2.0\r\n\
         Via: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK{call_id}{cseq}\r\n\
         From: <{to}>;tag=f1\r\nTo: <{to}>\r\nCall-ID: {call_id}\r\n\
         CSeq: {cseq} REGISTER\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    );
    match sip::parse::parse_datagram(Bytes::from(text)) {
        Ok(Message::Request(r)) => r,
        other => panic!("{other:?}"),
    }
}

/// The Contact line SIPE sends (captures/sipe/REGISTER.txt), with its
/// Supported header.
const SIPE: &str = "Contact: <sip:127.0.0.1:58666;transport=tcp;ms-opaque=d3470f2e1d>;\
methods=\"INVITE, MESSAGE, INFO, SUBSCRIBE, OPTIONS, BYE, CANCEL, NOTIFY, ACK, REFER, BENOTIFY\";\
proxy=replace;+sip.instance=\"<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>\"\r\n\
Supported: gruu-10, adhoclist, msrtc-event-categories, com.microsoft.msrtc.presence\r\n\
Event: registration\r\nAllow-Events: presence\r\nms-keep-alive: UAC;hop-hop=yes\r\n";

fn ctx(flow: u32, reliable: bool) -> RegisterContext<u32> {
    RegisterContext {
        txn: 7,
        flow,
        reliable,
        to_tag: "tt".into(),
        identity: Identity::Unverified,
    }
}

/// Runs one REGISTER over TCP flow 1; returns the store ops and response.
fn run(reg: &mut Reg, req: &sip::Request, now: SystemTime) -> (Vec<StoreOp<u32>>, Response) {
    run_on(reg, req, ctx(1, true), now)
}

fn run_on(
    reg: &mut Reg,
    req: &sip::Request,
    ctx: RegisterContext<u32>,
    now: SystemTime,
) -> (Vec<StoreOp<u32>>, Response) {
    let mut actions = reg.register(req, ctx, now).into_iter();
    let mut store = Vec::new();
    let first = actions.next().expect("an action");
    let respond = match first {
        Action::Store(ops) => {
            store = ops;
            actions.next().expect("a response after the store")
        }
        other => other,
    };
    let Action::Respond { txn: 7, resp } = respond else {
        panic!("expected the response, got {respond:?}")
    };
    assert!(actions.next().is_none());
    (store, resp)
}

fn values(resp: &Response, name: HeaderName) -> Vec<String> {
    resp.headers
        .all(name)
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect()
}

fn uri(s: &str) -> sip::Uri {
    sip::Uri::parse_str(s).expect("uri")
}

#[test]
fn sipe_sign_in_gets_what_lync_dialect_clients_read() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let (store, resp) = run(&mut reg, &register("c1", 1, SIPE), t0());
    assert_eq!(resp.status, 200);
    let [StoreOp::PutBinding(record)] = store.as_slice() else {
        panic!("one put, before the 200: {store:?}")
    };
    assert_eq!(record.aor, "sip:alice@lab.test");
    assert_eq!(
        record.key,
        "<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>"
    );
    assert_eq!((record.flow, record.reliable, record.cseq), (1, true, 1));
    // No Expires asked: the default, 3600.
    assert_eq!(values(&resp, HeaderName::Expires), ["3600"]);
    let contacts = values(&resp, HeaderName::Contact);
    let epid = binding::epid_token(binding::epid(
        "<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>",
    ));
    assert_eq!(
        contacts,
        [format!(
            "<sip:127.0.0.1:58666;transport=tcp;ms-opaque=d3470f2e1d>;expires=3600;\
             +sip.instance=\"<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>\";\
             gruu=\"sip:alice@lab.test;opaque=user:epid:{epid};gruu\""
        )]
    );
    assert_eq!(
        values(&resp, HeaderName::Supported),
        [
            "adhoclist",
            "msrtc-event-categories",
            "com.microsoft.msrtc.presence",
            "gruu-10"
        ]
    );
    assert_eq!(
        values(&resp, HeaderName::AllowEvents),
        [
            "vnd-microsoft-provisioning-v2,vnd-microsoft-roaming-contacts,\
          vnd-microsoft-roaming-self,presence,presence.winfo"
        ]
    );
    assert_eq!(resp.header_to().unwrap().tag().unwrap(), "tt");
}

#[test]
fn a_plain_client_gets_no_dialect_headers_and_no_gruu() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register(
        "c1",
        1,
        "Contact: <sip:bob@192.0.2.1:5062>;+sip.instance=\"<urn:uuid:1>\"\r\nExpires: 600\r\n",
    );
    let (_, resp) = run(&mut reg, &req, t0());
    assert_eq!(
        values(&resp, HeaderName::Contact),
        ["<sip:bob@192.0.2.1:5062>;expires=600;+sip.instance=\"<urn:uuid:1>\""]
    );
    assert!(values(&resp, HeaderName::Supported).is_empty());
    assert_eq!(values(&resp, HeaderName::Expires), ["600"]);
}

#[test]
fn rfc5627_clients_get_a_pub_gruu_that_resolves_to_their_binding() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register(
        "c1",
        1,
        "Supported: gruu\r\nContact: <sip:a@192.0.2.1>;+sip.instance=\"<urn:uuid:f81d>\"\r\n",
    );
    let (_, resp) = run(&mut reg, &req, t0());
    let contact = &values(&resp, HeaderName::Contact)[0];
    assert!(
        contact.ends_with(";pub-gruu=\"sip:alice@lab.test;gr=urn:uuid:f81d\""),
        "{contact}"
    );
    assert_eq!(values(&resp, HeaderName::Supported), ["gruu"]);
    let other = register("c2", 1, "Contact: <sip:a@192.0.2.2>\r\n");
    run_on(&mut reg, &other, ctx(2, false), t0());
    let found = reg.targets(&uri("sip:alice@lab.test;gr=urn:uuid:f81d"), t0());
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].contact, "sip:a@192.0.2.1");
    assert_eq!(reg.targets(&uri("sip:alice@lab.test"), t0()).len(), 2);
    assert!(reg
        .targets(&uri("sip:alice@lab.test;gr=urn:uuid:other"), t0())
        .is_empty());
}

#[test]
fn a_lync_gruu_resolves_to_its_binding_and_flow() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run_on(&mut reg, &register("c1", 1, SIPE), ctx(5, true), t0());
    let plain = register("c2", 1, "Contact: <sip:alice@192.0.2.9>\r\n");
    run_on(&mut reg, &plain, ctx(6, false), t0());
    let epid = binding::epid_token(binding::epid(
        "<urn:uuid:a15780ab-975f-5b29-ada0-8b95adb48287>",
    ));
    let gruu = draft10_gruu("sip:alice@lab.test", &epid);
    let found = reg.targets(&uri(&gruu), t0());
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0].flow, found[0].reliable, found[0].connected),
        (5, true, true)
    );
    assert_eq!(found[0].aor, "sip:alice@lab.test");
    // The AOR reaches both; a host in other case is the same AOR.
    assert_eq!(reg.targets(&uri("sip:alice@LAB.test"), t0()).len(), 2);
    assert!(reg
        .targets(&uri("sip:alice@lab.test;opaque=user:epid:0;gruu"), t0())
        .is_empty());
    assert!(reg.targets(&uri("sip:carol@lab.test"), t0()).is_empty());
}

#[test]
fn expiry_comes_from_the_contact_then_the_header_then_the_default_and_is_clamped() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register(
        "c1",
        1,
        "Contact: <sip:a@h1>;expires=120, <sip:a@h2>\r\nContact: <sip:a@h3>;expires=99999\r\nExpires: 300\r\n",
    );
    let (store, resp) = run(&mut reg, &req, t0());
    assert_eq!(store.len(), 3);
    let mut contacts = values(&resp, HeaderName::Contact);
    contacts.sort();
    assert_eq!(
        contacts,
        [
            "<sip:a@h1>;expires=120",
            "<sip:a@h2>;expires=300",
            "<sip:a@h3>;expires=7200"
        ]
    );
    // The Expires header says the shortest interval granted.
    assert_eq!(values(&resp, HeaderName::Expires), ["120"]);
}

#[test]
fn too_brief_an_interval_gets_423_with_min_expires_and_changes_nothing() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register(
        "c1",
        1,
        "Contact: <sip:a@h1>;expires=600, <sip:a@h2>;expires=30\r\n",
    );
    let (store, resp) = run(&mut reg, &req, t0());
    assert_eq!(resp.status, 423);
    assert_eq!(values(&resp, HeaderName::MinExpires), ["60"]);
    assert!(store.is_empty());
    assert!(reg.is_empty());
    // The header form too; 0 is never too brief.
    let req = register("c1", 2, "Contact: <sip:a@h1>\r\nExpires: 59\r\n");
    assert_eq!(run(&mut reg, &req, t0()).1.status, 423);
    let req = register("c1", 3, "Contact: <sip:a@h1>\r\nExpires: 0\r\n");
    assert_eq!(run(&mut reg, &req, t0()).1.status, 200);
}

#[test]
fn refresh_and_unregister_one_binding() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let first = register("c1", 1, "Contact: <sip:a@h1>;expires=600\r\n");
    run(&mut reg, &first, t0());
    let refresh = register("c1", 2, "Contact: <sip:a@h1>;expires=900\r\n");
    let (store, resp) = run(&mut reg, &refresh, t0() + secs(100));
    assert!(matches!(store[..], [StoreOp::PutBinding(ref r)] if r.cseq == 2));
    assert_eq!(
        values(&resp, HeaderName::Contact),
        ["<sip:a@h1>;expires=900"]
    );
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(1000)));
    let gone = register("c1", 3, "Contact: <sip:a@h1>;expires=0\r\n");
    let (store, resp) = run(&mut reg, &gone, t0() + secs(200));
    assert_eq!(
        store,
        [StoreOp::DeleteBinding {
            aor: "sip:alice@lab.test".into(),
            key: "sip:a@h1".into()
        }]
    );
    assert!(values(&resp, HeaderName::Contact).is_empty());
    assert_eq!(values(&resp, HeaderName::Expires), ["0"]);
    assert!(reg.is_empty() && reg.poll_timeout().is_none());
}

#[test]
fn a_query_lists_the_bindings_and_changes_nothing() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run(
        &mut reg,
        &register("c1", 1, "Contact: <sip:a@h1>;expires=600\r\n"),
        t0(),
    );
    let (store, resp) = run(&mut reg, &register("q", 1, ""), t0() + secs(10));
    assert!(store.is_empty());
    assert_eq!(
        values(&resp, HeaderName::Contact),
        ["<sip:a@h1>;expires=590"]
    );
    assert!(values(&resp, HeaderName::Expires).is_empty());
}

#[test]
fn the_wildcard_removes_every_binding_and_needs_expires_zero_alone() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run(
        &mut reg,
        &register("c1", 1, "Contact: <sip:a@h1>, <sip:a@h2>\r\n"),
        t0(),
    );
    run(
        &mut reg,
        &register_for("sip:bob@lab.test", "b", 1, "Contact: <sip:b@h>\r\n"),
        t0(),
    );
    for bad in [
        "Contact: *\r\n",
        "Contact: *\r\nExpires: 60\r\n",
        "Contact: *\r\nContact: <sip:a@h3>\r\nExpires: 0\r\n",
    ] {
        let (store, resp) = run(&mut reg, &register("c9", 1, bad), t0());
        assert_eq!((resp.status, store.len()), (400, 0), "{bad}");
    }
    let (store, resp) = run(
        &mut reg,
        &register("c9", 1, "Contact: *\r\nExpires: 0\r\n"),
        t0(),
    );
    assert_eq!(resp.status, 200);
    assert_eq!(store.len(), 2);
    assert!(values(&resp, HeaderName::Contact).is_empty());
    assert_eq!(reg.len(), 1, "bob's binding stays");
}

#[test]
fn out_of_order_requests_get_500_and_change_nothing() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run(
        &mut reg,
        &register("c1", 5, "Contact: <sip:a@h1>;expires=600\r\n"),
        t0(),
    );
    // Same Call-ID, CSeq not higher: a delayed request.
    for cseq in [4, 5] {
        let late = register("c1", cseq, "Contact: <sip:a@h1>;expires=0\r\n");
        let (store, resp) = run(&mut reg, &late, t0());
        assert_eq!((resp.status, store.len()), (500, 0));
        assert_eq!(reason(&resp), "Out of order REGISTER");
    }
    // The wildcard obeys the same rule.
    let late = register("c1", 3, "Contact: *\r\nExpires: 0\r\n");
    assert_eq!(run(&mut reg, &late, t0()).1.status, 500);
    // Another Call-ID (a rebooted UA) may replace or remove it whatever
    // its CSeq.
    let other = register("c2", 1, "Contact: <sip:a@h1>;expires=0\r\n");
    assert_eq!(run(&mut reg, &other, t0()).1.status, 200);
    assert!(reg.is_empty());
}

#[test]
fn one_refused_contact_fails_the_whole_request() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run(
        &mut reg,
        &register("c1", 5, "Contact: <sip:a@h1>\r\n"),
        t0(),
    );
    let req = register("c1", 4, "Contact: <sip:a@h2>, <sip:a@h1>\r\n");
    let (store, resp) = run(&mut reg, &req, t0());
    assert_eq!((resp.status, store.len()), (500, 0));
    assert_eq!(reg.len(), 1);
}

#[test]
fn bindings_expire_at_their_deadline() {
    let mut reg = Reg::new(RegistrarConfig::default());
    run(
        &mut reg,
        &register("c1", 1, "Contact: <sip:a@h1>;expires=60\r\n"),
        t0(),
    );
    run(
        &mut reg,
        &register("c2", 1, "Contact: <sip:a@h2>;expires=120\r\n"),
        t0(),
    );
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(60)));
    assert!(reg.handle_timeout(t0() + secs(59)).is_empty());
    // Past its end a binding is gone for lookups even before the timer.
    assert_eq!(
        reg.targets(&uri("sip:alice@lab.test"), t0() + secs(60))
            .len(),
        1
    );
    let out = reg.handle_timeout(t0() + secs(60));
    let [Action::Store(ops)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert!(matches!(&ops[..], [StoreOp::DeleteBinding { key, .. }] if key == "sip:a@h1"));
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(120)));
    assert_eq!(reg.len(), 1);
}

#[test]
fn a_closed_flow_leaves_a_grace_period_that_a_refresh_on_a_new_flow_ends() {
    let config = RegistrarConfig::default();
    let mut reg = Reg::new(config.clone());
    run_on(&mut reg, &register("c1", 1, SIPE), ctx(1, true), t0());
    run_on(
        &mut reg,
        &register("c2", 1, "Contact: <sip:a@udp>\r\n"),
        ctx(1, false),
        t0(),
    );
    reg.flow_closed(&1, t0() + secs(10));
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(40)));
    let targets = reg.targets(&uri("sip:alice@lab.test"), t0() + secs(11));
    let connected: Vec<bool> = targets.iter().map(|t| t.connected).collect();
    assert_eq!(
        connected.iter().filter(|c| !**c).count(),
        1,
        "only the TCP binding waits"
    );
    // SIPE reconnects and re-registers on flow 2: the grace period ends.
    run_on(
        &mut reg,
        &register("c1", 2, SIPE),
        ctx(2, true),
        t0() + secs(20),
    );
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(3600)));
    assert!(reg.handle_timeout(t0() + secs(40)).is_empty());
    // And the old flow closing again changes nothing; the new one does.
    reg.flow_closed(&1, t0() + secs(50));
    assert_eq!(reg.poll_timeout(), Some(t0() + secs(3600)));
    reg.flow_closed(&2, t0() + secs(50));
    let out = reg.handle_timeout(t0() + secs(80));
    assert!(matches!(&out[..], [Action::Store(ops)] if ops.len() == 1));
    assert_eq!(reg.len(), 1, "the UDP binding has no flow to lose");
}

#[test]
fn an_old_flow_closing_after_the_refresh_on_a_new_one_leaves_the_binding_alone() {
    // The client reconnects and registers again before the server has
    // noticed its old connection close.
    let mut reg = Reg::new(RegistrarConfig::default());
    run_on(&mut reg, &register("c1", 1, SIPE), ctx(1, true), t0());
    run_on(
        &mut reg,
        &register("c1", 2, SIPE),
        ctx(2, true),
        t0() + secs(5),
    );
    reg.flow_closed(&1, t0() + secs(6));
    assert_eq!(
        reg.poll_timeout(),
        Some(t0() + secs(3605)),
        "no grace period"
    );
    let targets = reg.targets(&uri("sip:alice@lab.test"), t0() + secs(7));
    assert_eq!(targets.len(), 1);
    assert!(targets[0].connected);
    assert_eq!(targets[0].flow, 2);
}

#[test]
fn restore_keeps_live_bindings_drops_expired_ones_and_keeps_the_order_rule() {
    let mut before = Reg::new(RegistrarConfig::default());
    let (mut ops, _) = run_on(&mut before, &register("c1", 3, SIPE), ctx(1, true), t0());
    let udp = register("c2", 1, "Contact: <sip:a@udp>;expires=60\r\n");
    ops.extend(run_on(&mut before, &udp, ctx(4, false), t0()).0);
    let records: Vec<BindingRecord<u32>> = ops
        .into_iter()
        .map(|op| match op {
            StoreOp::PutBinding(r) => r,
            other => panic!("{other:?}"),
        })
        .collect();
    let mut after = Reg::new(RegistrarConfig::default());
    let now = t0() + secs(100);
    let out = after.restore(records, now);
    assert!(
        matches!(&out[..], [Action::Store(ops)] if matches!(&ops[..], [StoreOp::DeleteBinding { key, .. }] if key == "sip:a@udp"))
    );
    let targets = after.targets(&uri("sip:alice@lab.test"), now);
    assert_eq!(targets.len(), 1);
    assert!(!targets[0].connected, "its connection did not survive");
    // The TCP binding waits for its UA to reconnect...
    assert_eq!(after.poll_timeout(), Some(now + secs(30)));
    // ...and a late copy of the old REGISTER is still refused.
    let late = register("c1", 3, SIPE);
    assert_eq!(run(&mut after, &late, now).1.status, 500);
    let refresh = register("c1", 4, SIPE);
    assert_eq!(
        run_on(&mut after, &refresh, ctx(9, true), now).1.status,
        200
    );
    assert_eq!(after.poll_timeout(), Some(now + secs(3600)));
}

#[test]
fn an_aor_holds_at_most_max_bindings() {
    let config = RegistrarConfig {
        max_bindings: 2,
        ..RegistrarConfig::default()
    };
    let mut reg = Reg::new(config);
    run(
        &mut reg,
        &register("c1", 1, "Contact: <sip:a@h1>, <sip:a@h2>\r\n"),
        t0(),
    );
    let third = register("c3", 1, "Contact: <sip:a@h3>\r\n");
    let actions = reg.register(&third, ctx(3, true), t0());
    let [Action::Respond { resp, .. }, Action::Refused {
        refusal,
        flow,
        subject,
    }] = &actions[..]
    else {
        panic!("expected a 403 and the report of the refusal, got {actions:?}")
    };
    assert_eq!(resp.status, 403);
    // The runtime logs it against the source of flow 3.
    assert_eq!(
        (*refusal, *flow, subject.as_str()),
        (crate::Refusal::TooManyBindings, 3, "sip:alice@lab.test")
    );
    // Replacing one in the same request is fine.
    let swap = register("c3", 2, "Contact: <sip:a@h3>, <sip:a@h1>;expires=0\r\n");
    assert_eq!(run(&mut reg, &swap, t0()).1.status, 200);
    // Refreshing an existing one is fine, and so is the same key twice.
    let again = register("c3", 3, "Contact: <sip:a@h3>, <sip:a@h3>\r\n");
    assert_eq!(run(&mut reg, &again, t0()).1.status, 200);
    assert_eq!(reg.len(), 2);
}

#[test]
fn a_verified_identity_may_change_only_its_own_aor() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register("c1", 1, "Contact: <sip:a@h1>\r\n");
    let mut as_bob = ctx(1, true);
    as_bob.identity = Identity::Verified("sip:bob@lab.test".into());
    let (store, resp) = run_on(&mut reg, &req, as_bob, t0());
    assert_eq!((resp.status, store.len()), (403, 0));
    let mut as_alice = ctx(1, true);
    as_alice.identity = Identity::Verified("sip:alice@lab.test".into());
    assert_eq!(run_on(&mut reg, &req, as_alice, t0()).1.status, 200);
}

#[test]
fn an_aor_that_is_no_sip_user_gets_404() {
    // (Malformed Contact and Expires values never get here: the parser
    // answers them 400 naming the header.)
    let mut reg = Reg::new(RegistrarConfig::default());
    let cases = [
        (
            register_for("tel:+31612345678", "c1", 1, "Contact: <sip:a@h1>\r\n"),
            404,
        ),
        (
            register_for("sip:lab.test", "c1", 1, "Contact: <sip:a@h1>\r\n"),
            404,
        ),
    ];
    for (req, status) in cases {
        let (store, resp) = run(&mut reg, &req, t0());
        assert_eq!((resp.status, store.len()), (status, 0), "{req:?}");
    }
    assert!(reg.is_empty());
}

#[test]
fn a_huge_expires_is_clamped_not_refused() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let req = register("c1", 1, "Contact: <sip:a@h1>\r\nExpires: 4294967295\r\n");
    let (_, resp) = run(&mut reg, &req, t0());
    assert_eq!(values(&resp, HeaderName::Expires), ["7200"]);
}

fn reason(resp: &Response) -> String {
    String::from_utf8_lossy(&resp.reason).into_owned()
}

#[test]
fn the_200_carries_the_date() {
    let mut reg = Reg::new(RegistrarConfig::default());
    let (_, resp) = run(
        &mut reg,
        &register("c1", 1, "Contact: <sip:a@h1>\r\n"),
        t0(),
    );
    // 1_800_000_000 s after the epoch.
    assert_eq!(
        values(&resp, HeaderName::Date),
        ["Fri, 15 Jan 2027 08:00:00 GMT"]
    );
    assert_eq!(
        request::http_date(UNIX_EPOCH + secs(951_782_400)),
        "Tue, 29 Feb 2000 00:00:00 GMT"
    );
    assert_eq!(
        request::http_date(UNIX_EPOCH),
        "Thu, 01 Jan 1970 00:00:00 GMT"
    );
}

/// Memory per registration is a capacity target (< 1 KiB, ../shared/
/// DESIGN.md). The binding is its largest part; over a flow the size of
/// the server's (two socket addresses, a transport and a connection id:
/// 80 bytes) it must stay within jemalloc's 256-byte class. With the AOR's
/// vector slot, the shared AOR and key, the contact and Call-ID, the
/// deadline entry and the flow index, a single-binding AOR costs about
/// 700 bytes.
#[test]
fn binding_footprint() {
    #[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    struct ServerSizedFlow([u64; 10]);
    let size = std::mem::size_of::<binding::Binding<ServerSizedFlow>>();
    assert!(size <= 256, "Binding is {size} bytes");
}

#[test]
fn ms_keep_alive_is_answered_when_asked_and_configured() {
    let config = RegistrarConfig {
        keep_alive_secs: Some(150),
        ..RegistrarConfig::default()
    };
    let mut reg = Reg::new(config);
    let (_, resp) = run(&mut reg, &register("c1", 1, SIPE), t0());
    let keep_alive: Vec<String> = resp
        .headers
        .iter()
        .filter(|h| h.is("ms-keep-alive"))
        .map(|h| String::from_utf8_lossy(&h.value).into_owned())
        .collect();
    assert_eq!(
        keep_alive,
        ["UAS; tcp=no; hop-hop=yes; end-point=no; timeout=150"]
    );
    // A client that did not ask gets none, nor does anyone by default.
    let (_, resp) = run(&mut reg, &register("c2", 1, "Contact: <sip:a@h>\r\n"), t0());
    assert!(resp.headers.get_other("ms-keep-alive").is_none());
    let mut quiet = Reg::new(RegistrarConfig::default());
    let (_, resp) = run(&mut quiet, &register("c1", 1, SIPE), t0());
    assert!(resp.headers.get_other("ms-keep-alive").is_none());
}
