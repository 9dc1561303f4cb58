//! The registrar (RFC 3261 §10.3), sans-IO: which contacts each
//! address-of-record (AOR) is bound to, for how long, and over which flow
//! requests for it are delivered.
//!
//! [`Registrar::register`] answers one REGISTER with the same ordered
//! [`Action`]s as the presence engine: an [`Action::Store`] with the
//! binding records comes **before** the 200, so the runtime's commit gate
//! holds the 200 until the bindings are durable ("nothing lost", as for
//! publications). Expiry follows the mini-redis pattern of the engine: a
//! `BTreeSet<(deadline, aor, key)>` whose first entry is the next binding
//! to end; the runtime sleeps until [`Registrar::poll_timeout`] and calls
//! [`Registrar::handle_timeout`].
//!
//! Decisions, each a unit test in `registrar/tests.rs`:
//! - **Authentication** is not done here. The registrar takes an
//!   [`Identity`] the caller established (§10.3 steps 3 and 4): a digest
//!   or NTLM challenge goes in front of [`Registrar::register`] later,
//!   and passes [`Identity::Verified`] with the user's AOR, which may then
//!   only change its own bindings (403 otherwise). Today's core passes
//!   [`Identity::Unverified`], as the server has no accounts yet.
//! - **Binding identity**: a binding is keyed by `+sip.instance` when the
//!   UA sends one (RFC 5626 §6, RFC 5627), so a client whose Contact
//!   changes (a new ephemeral port after a reconnect) refreshes its
//!   binding rather than adding a second one; otherwise by the Contact
//!   URI as written.
//! - **Ordering** (§10.3 steps 6 and 7): a REGISTER with the Call-ID of a
//!   binding and a CSeq not above the stored one is a late retransmission
//!   or a reordered request; nothing of it is applied and it gets 500.
//!   Every check of a request runs before any change, so a request is
//!   applied whole or not at all (step 8).
//! - **Flows**: the flow a REGISTER arrived on is kept with the binding,
//!   and [`Registrar::targets`] returns it, because a TCP/TLS client can
//!   be reached only over its own connection. When that connection closes
//!   the binding is **not** dropped at once: like a flow-bound
//!   publication it ends [`RegistrarConfig::flow_grace`] later, unless the
//!   UA reconnects and refreshes it first (SIPE re-registers on a new
//!   connection at once). Dropping at once would make a restart (which
//!   closes every connection) wipe every TCP binding the store just gave
//!   back, and would turn a brief network blip into a sign-out. During the
//!   grace period the binding is reported with `connected: false`.
//! - **GRUUs** (RFC 5627): a UA that sends `+sip.instance` and lists
//!   `gruu` or Microsoft's `gruu-10` in Supported gets a public GRUU in
//!   its Contact (`pub-gruu="…;gr=…"` or `gruu="…;opaque=user:epid:…;gruu"`);
//!   both are derived from the instance, so they are stable, need no
//!   storage, and [`Registrar::targets`] resolves them to that one
//!   binding.
//! - **The 200** carries what Lync-dialect clients read (see
//!   `docs/interop.md`): `Expires`, one Contact header per binding with
//!   `;expires=N` and its `+sip.instance`, one `Supported` header per
//!   option tag (SIPE reads them one line at a time), and `Allow-Events`
//!   (SIPE subscribes only to the packages listed there).

mod binding;
mod config;
mod request;
#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sip::header::{Header, HeaderName};

pub use binding::{draft10_gruu, rfc5627_gruu, GruuForm, Target};
pub use config::{Identity, RegisterContext, RegistrarConfig};
pub use request::{http_date, RegisterError};

use crate::engine::Action;
use crate::flow::Flow;
use crate::publication::{from_ms, later};
use crate::store::{BindingRecord, StoreOp};
use binding::{epid, Binding, Named};
use request::{Contacts, Register, Requested};

/// A binding's (AOR, key), shared with the table.
type Name = (Arc<str>, Arc<str>);

/// The registrar; see the module documentation.
///
/// Memory per registration is a capacity target (../shared/DESIGN.md:
/// 400 000 at under 1 KiB each), so the AOR and key strings are shared
/// between the table and its two indexes, and an AOR's bindings are a
/// small vector (a user has a handful; a B-tree node is 11 entries wide
/// even for one).
#[derive(Debug)]
pub struct Registrar<F> {
    config: RegistrarConfig,
    aors: HashMap<Arc<str>, Vec<Binding<F>>>,
    /// When each binding ends: (end, aor, key).
    deadlines: BTreeSet<(SystemTime, Arc<str>, Arc<str>)>,
    /// The bindings tied to each open TCP/TLS flow.
    flows: HashMap<F, Vec<Name>>,
    count: usize,
}

impl<F: Flow> Registrar<F> {
    /// A registrar with no bindings.
    pub fn new(config: RegistrarConfig) -> Self {
        Registrar {
            config,
            aors: HashMap::new(),
            deadlines: BTreeSet::new(),
            flows: HashMap::new(),
            count: 0,
        }
    }

    /// Answers one REGISTER (RFC 3261 §10.3): a Store of the changed
    /// bindings, then the response. A refused request changes nothing and
    /// gets only its error response (and, refused by the bound on
    /// bindings, the report of that refusal).
    pub fn register(
        &mut self,
        req: &sip::Request,
        ctx: RegisterContext<F>,
        now: SystemTime,
    ) -> Vec<Action<F>> {
        let txn = ctx.txn;
        match self.try_register(req, &ctx, now) {
            Ok((store, resp)) => {
                let mut out = Vec::with_capacity(2);
                if !store.is_empty() {
                    out.push(Action::Store(store));
                }
                out.push(Action::Respond { txn, resp });
                out
            }
            Err(e) => {
                let mut out = vec![Action::Respond {
                    txn,
                    resp: e.response(req, &ctx.to_tag),
                }];
                if e == RegisterError::TooManyBindings {
                    out.push(Action::Refused {
                        refusal: crate::Refusal::TooManyBindings,
                        flow: ctx.flow.clone(),
                        subject: sip::HeaderAccess::header_to(req)
                            .map(|n| n.uri.aor())
                            .unwrap_or_default(),
                    });
                }
                out
            }
        }
    }

    fn try_register(
        &mut self,
        req: &sip::Request,
        ctx: &RegisterContext<F>,
        now: SystemTime,
    ) -> Result<(Vec<StoreOp<F>>, sip::Response), RegisterError> {
        let reg = request::read(req)?;
        if let Identity::Verified(user) = &ctx.identity {
            if *user != reg.aor {
                return Err(RegisterError::Forbidden);
            }
        }
        let mut store = Vec::new();
        let mut granted = None;
        match &reg.contacts {
            Contacts::Query => {}
            Contacts::Wildcard => {
                let keys: Vec<Arc<str>> = self.live(&reg.aor, now).map(|b| b.key.clone()).collect();
                for key in &keys {
                    self.check_order(&reg, key, now)?;
                }
                for key in keys {
                    self.remove(&reg.aor, &key, &mut store);
                }
                granted = Some(0);
            }
            Contacts::List(list) => {
                let plan = self.plan(&reg, list, now)?;
                granted = plan.iter().filter(|(_, e)| *e > 0).map(|(_, e)| *e).min();
                granted = granted.or(Some(0));
                for (requested, expires) in plan {
                    if expires == 0 {
                        self.remove(&reg.aor, &requested.key, &mut store);
                    } else {
                        self.bind(&reg, requested, expires, ctx, now, &mut store);
                    }
                }
            }
        }
        Ok((store, self.ok_response(req, ctx, &reg, granted, now)))
    }

    /// §10.3 step 7 for every Contact, before anything changes: the
    /// expiry each gets (0 = remove), or why the request fails.
    fn plan<'a>(
        &self,
        reg: &Register,
        list: &'a [Requested],
        now: SystemTime,
    ) -> Result<Vec<(&'a Requested, u32)>, RegisterError> {
        let c = &self.config;
        let mut plan = Vec::with_capacity(list.len());
        for requested in list {
            let asked = requested
                .expires
                .or(reg.expires)
                .unwrap_or(c.default_expires);
            if asked != 0 && asked < c.min_expires {
                return Err(RegisterError::IntervalTooBrief { min: c.min_expires });
            }
            self.check_order(reg, &requested.key, now)?;
            plan.push((requested, asked.min(c.max_expires)));
        }
        // The AOR's bindings once the request is applied (a key listed
        // twice counts once: the last occurrence wins).
        let mut keys: BTreeSet<&str> = self.live(&reg.aor, now).map(|b| &*b.key).collect();
        for (requested, expires) in &plan {
            if *expires == 0 {
                keys.remove(requested.key.as_str());
            } else {
                keys.insert(&requested.key);
            }
        }
        let adds = plan.iter().any(|(_, e)| *e > 0);
        if adds && keys.len() > c.max_bindings {
            return Err(RegisterError::TooManyBindings);
        }
        Ok(plan)
    }

    /// Fails when `key`'s live binding was last changed by this Call-ID
    /// with a CSeq at least as high (§10.3 steps 6 and 7).
    fn check_order(&self, reg: &Register, key: &str, now: SystemTime) -> Result<(), RegisterError> {
        match self.get(&reg.aor, key) {
            Some(b) if b.ends() > now && *b.call_id == *reg.call_id && reg.cseq <= b.cseq => {
                Err(RegisterError::OutOfOrder)
            }
            _ => Ok(()),
        }
    }

    /// Adds or refreshes a binding; a refresh over another flow moves it
    /// there and cancels a grace period begun by the old one.
    fn bind(
        &mut self,
        reg: &Register,
        requested: &Requested,
        expires: u32,
        ctx: &RegisterContext<F>,
        now: SystemTime,
        store: &mut Vec<StoreOp<F>>,
    ) {
        self.take(&reg.aor, &requested.key);
        let binding = Binding {
            key: Arc::from(requested.key.as_str()),
            has_instance: requested.instance.is_some(),
            epid: requested.instance.as_deref().map(epid),
            contact: requested.contact.as_str().into(),
            call_id: reg.call_id.as_str().into(),
            cseq: reg.cseq,
            reliable: ctx.reliable,
            expires_at: later(now, Duration::from_secs(u64::from(expires))),
            grace_ends: None,
            flow: ctx.flow.clone(),
        };
        store.push(StoreOp::PutBinding(binding.record(&reg.aor)));
        self.insert(&reg.aor, binding);
    }

    /// Removes a binding, with its store delete; absent is fine.
    fn remove(&mut self, aor: &str, key: &str, store: &mut Vec<StoreOp<F>>) {
        if self.take(aor, key).is_some() {
            store.push(StoreOp::DeleteBinding {
                aor: aor.to_owned(),
                key: key.to_owned(),
            });
        }
    }

    /// The 200 (§10.3 step 8): every live binding of the AOR with its
    /// remaining expiry, and the headers Lync-dialect clients read.
    fn ok_response(
        &self,
        req: &sip::Request,
        ctx: &RegisterContext<F>,
        reg: &Register,
        granted: Option<u32>,
        now: SystemTime,
    ) -> sip::Response {
        let mut resp = sip::Response::to_request(req, 200, Some(&ctx.to_tag));
        let gruu = GruuForm::negotiate(&reg.supported);
        let mut gruu_given = false;
        for b in self.live(&reg.aor, now) {
            let left = b.expires_at.duration_since(now).unwrap_or_default();
            // Rounded up: a binding granted 3600 s a few ms ago still
            // shows 3600, as the client expects.
            let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
            let mut value = format!("<{}>;expires={secs}", b.contact);
            if let Some(instance) = b.instance() {
                value.push_str(&format!(";+sip.instance=\"{instance}\""));
                if let (Some(form), Some(epid)) = (gruu, b.epid) {
                    value.push(';');
                    value.push_str(&form.param(&reg.aor, instance, epid));
                    gruu_given = true;
                }
            }
            resp.headers.push(Header::new(HeaderName::Contact, value));
        }
        if let Some(secs) = granted {
            resp.headers
                .push(Header::new(HeaderName::Expires, secs.to_string()));
        }
        resp.headers
            .push(Header::new(HeaderName::Date, request::http_date(now)));
        let mut tags: Vec<&str> = self
            .config
            .supported
            .iter()
            .filter(|t| reg.supported.iter().any(|s| s.eq_ignore_ascii_case(t)))
            .map(String::as_str)
            .collect();
        if let (true, Some(form)) = (gruu_given, gruu) {
            tags.push(form.option_tag());
        }
        for tag in tags {
            resp.headers
                .push(Header::new(HeaderName::Supported, tag.to_owned()));
        }
        if let (true, Some(secs)) = (reg.keep_alive, self.config.keep_alive_secs) {
            resp.headers.push(Header::other(
                "ms-keep-alive",
                format!("UAS; tcp=no; hop-hop=yes; end-point=no; timeout={secs}"),
            ));
        }
        if !self.config.allow_events.is_empty() {
            // Comma without a space: SIPE splits the value at "," and
            // compares the pieces untrimmed.
            resp.headers.push(Header::new(
                HeaderName::AllowEvents,
                self.config.allow_events.join(","),
            ));
        }
        resp
    }

    /// The live bindings a request for `uri` reaches: every binding of an
    /// AOR, or the one binding a GRUU names (either form, whether or not
    /// it was handed out). Bindings past their end are left out even if
    /// [`Registrar::handle_timeout`] has not run yet.
    pub fn targets(&self, uri: &sip::Uri, now: SystemTime) -> Vec<Target<F>> {
        match Named::of(uri) {
            Named::Aor(aor) => self.live(&aor, now).map(|b| b.target(&aor)).collect(),
            Named::Instance(aor, instance) => self
                .live(&aor, now)
                .filter(|b| b.instance() == Some(instance.as_str()))
                .map(|b| b.target(&aor))
                .collect(),
            Named::Epid(aor, epid) => self
                .live(&aor, now)
                .filter(|b| epid.is_some() && b.epid == epid)
                .map(|b| b.target(&aor))
                .collect(),
        }
    }

    /// A TCP/TLS flow closed: its bindings end `flow_grace` from `now`
    /// unless they expire sooner or are refreshed over another flow first.
    pub fn flow_closed(&mut self, flow: &F, now: SystemTime) {
        let Some(names) = self.flows.remove(flow) else {
            return;
        };
        let grace_ends = later(now, self.config.flow_grace);
        for (aor, key) in names {
            // A binding refreshed over another connection since is no
            // longer on this one (the close may be noticed after the
            // refresh).
            let Some(b) = self
                .aors
                .get_mut(&aor)
                .and_then(|list| list.iter_mut().find(|b| b.key == key && b.flow == *flow))
            else {
                continue;
            };
            let old = (b.ends(), aor, key);
            b.grace_ends = Some(grace_ends);
            let new = (b.ends(), old.1.clone(), old.2.clone());
            self.deadlines.remove(&old);
            self.deadlines.insert(new);
        }
    }

    /// When [`Registrar::handle_timeout`] next has work.
    pub fn poll_timeout(&self) -> Option<SystemTime> {
        self.deadlines.first().map(|(at, _, _)| *at)
    }

    /// Ends every binding whose time has come (expiry or flow grace); the
    /// returned Store deletes them from the store.
    pub fn handle_timeout(&mut self, now: SystemTime) -> Vec<Action<F>> {
        let mut store = Vec::new();
        while let Some((at, aor, key)) = self.deadlines.first().cloned() {
            if at > now {
                break;
            }
            self.deadlines.pop_first();
            self.remove(&aor, &key, &mut store);
        }
        if store.is_empty() {
            Vec::new()
        } else {
            vec![Action::Store(store)]
        }
    }

    /// Reloads stored bindings after a restart. Expired ones are deleted
    /// (the returned Store). Flows do not survive a restart, so a TCP/TLS
    /// binding starts its grace period now: its UA has that long to
    /// reconnect and refresh.
    pub fn restore(&mut self, records: Vec<BindingRecord<F>>, now: SystemTime) -> Vec<Action<F>> {
        let mut deletes = Vec::new();
        for r in records {
            let expires_at = from_ms(r.expires_at_ms);
            if expires_at <= now {
                deletes.push(StoreOp::DeleteBinding {
                    aor: r.aor,
                    key: r.key,
                });
                continue;
            }
            let binding = Binding {
                key: Arc::from(r.key.as_str()),
                has_instance: r.instance.as_deref() == Some(r.key.as_str()),
                epid: r.instance.as_deref().map(epid),
                contact: r.contact.into(),
                call_id: r.call_id.into(),
                cseq: r.cseq,
                reliable: r.reliable,
                expires_at,
                grace_ends: r.reliable.then(|| later(now, self.config.flow_grace)),
                flow: r.flow,
            };
            self.take(&r.aor, &r.key);
            self.insert(&r.aor, binding);
        }
        if deletes.is_empty() {
            Vec::new()
        } else {
            vec![Action::Store(deletes)]
        }
    }

    /// Every live binding of an AOR, as stored: for inspection and for
    /// checking the store against memory.
    pub fn bindings(&self, aor: &str) -> Vec<BindingRecord<F>> {
        self.aors.get(aor).map_or_else(Vec::new, |list| {
            list.iter().map(|b| b.record(aor)).collect()
        })
    }

    /// The number of bindings held (including those in a grace period).
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no binding is held.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn get(&self, aor: &str, key: &str) -> Option<&Binding<F>> {
        self.aors.get(aor)?.iter().find(|b| &*b.key == key)
    }

    fn live<'a>(&'a self, aor: &str, now: SystemTime) -> impl Iterator<Item = &'a Binding<F>> + 'a {
        self.aors
            .get(aor)
            .into_iter()
            .flatten()
            .filter(move |b| b.ends() > now)
    }

    /// Adds a binding (whose key the AOR does not hold) to its AOR and to
    /// the indexes.
    fn insert(&mut self, aor: &str, binding: Binding<F>) {
        let aor = match self.aors.get_key_value(aor) {
            Some((shared, _)) => shared.clone(),
            None => Arc::from(aor),
        };
        let key = binding.key.clone();
        self.deadlines
            .insert((binding.ends(), aor.clone(), key.clone()));
        if let Some(flow) = binding.watches_flow() {
            self.flows
                .entry(flow.clone())
                .or_insert_with(|| Vec::with_capacity(1))
                .push((aor.clone(), key));
        }
        self.aors
            .entry(aor)
            .or_insert_with(|| Vec::with_capacity(1))
            .push(binding);
        self.count += 1;
    }

    /// Removes a binding from its AOR and from the indexes.
    fn take(&mut self, aor: &str, key: &str) -> Option<Binding<F>> {
        let (shared, list) = self.aors.get_key_value(aor)?;
        let shared = shared.clone();
        let at = list.iter().position(|b| &*b.key == key)?;
        let list = self.aors.get_mut(aor)?;
        // `remove`, not `swap_remove`: the 200 lists bindings in the order
        // they were made.
        let binding = list.remove(at);
        if list.is_empty() {
            self.aors.remove(aor);
        }
        self.count -= 1;
        self.deadlines
            .remove(&(binding.ends(), shared, binding.key.clone()));
        if let Some(flow) = binding.watches_flow() {
            if let Some(names) = self.flows.get_mut(flow) {
                names.retain(|(a, k)| !(&**a == aor && &**k == key));
                if names.is_empty() {
                    self.flows.remove(flow);
                }
            }
        }
        Some(binding)
    }
}
