//! REGISTER in the SIP core: the registrar (`presence::Registrar`) is a
//! sans-IO machine like the engine, and this is its driving code, kept
//! apart from the core loop so that the router that will dispatch by
//! method can take it over as one piece.
//!
//! The registrar's actions go into the same queue as the engine's, so its
//! Store (the bindings) is committed before its 200 leaves, under the
//! same commit gate.

use std::time::SystemTime;

use presence::{Identity, RegisterContext, Target};
use sip::transaction::Key;
use sip::Request;

use super::SipCore;
use crate::store::StoreError;
use crate::transport::Flow;

impl SipCore {
    /// Hands a REGISTER to the registrar: as [`Identity::Verified`] with
    /// the AOR admission let it act for when authentication is on (the
    /// registrar then refuses any other AOR), else
    /// [`Identity::Unverified`].
    pub(super) fn register(
        &mut self,
        key: Key,
        req: Request,
        from: Flow,
        to_tag: String,
        acting_for: Option<String>,
        now: super::Now,
    ) {
        self.next_txn += 1;
        let txn = self.next_txn;
        self.txns.insert(txn, key);
        let ctx = RegisterContext {
            txn,
            flow: from,
            reliable: from.is_reliable(),
            to_tag,
            identity: acting_for.map_or(Identity::Unverified, Identity::Verified),
        };
        let actions = self.registrar.register(&req, ctx, now.wall);
        self.actions.extend(actions);
    }

    /// Reloads the stored bindings; expired ones are deleted as the core
    /// starts.
    pub(super) fn restore_bindings(&mut self) -> Result<(), StoreError> {
        let records = self.store.load_bindings::<Flow>()?;
        let loaded = records.len();
        let actions = self.registrar.restore(records, SystemTime::now());
        tracing::info!(
            bindings = loaded,
            live_bindings = self.registrar.len(),
            "bindings restored"
        );
        self.actions.extend(actions);
        Ok(())
    }

    /// Where a request for `uri` (an AOR or a GRUU) is delivered: its
    /// live bindings, each with the flow it registered on.
    pub fn targets(&self, uri: &sip::Uri) -> Vec<Target<Flow>> {
        self.registrar.targets(uri, SystemTime::now())
    }
}

/// One log line per binding change (debug level), beside the core's
/// lines for publications and subscriptions.
pub(super) fn log_change(op: &presence::StoreOp<Flow>, now: SystemTime) {
    use presence::StoreOp;
    match op {
        StoreOp::PutBinding(b) => tracing::debug!(
            aor = %b.aor,
            contact = %b.contact,
            instance = b.instance.as_deref().unwrap_or(""),
            expires_in_secs = super::secs_until(b.expires_at_ms, now),
            flow = %b.flow,
            "binding"
        ),
        StoreOp::DeleteBinding { aor, key } => {
            tracing::debug!(%aor, %key, "binding removed")
        }
        _ => {}
    }
}
