//! The committer thread: gathers batches, commits them in one durable
//! transaction, and acknowledges each (the group commit of the parent
//! module's docs).

use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Arc, Weak};
use std::time::{Duration, Instant};

use redb::{Database, Durability};
use tokio::sync::mpsc;

use super::{
    answer, CommitError, Committed, Job, Reply, Shared, Table, Write, BINDINGS, CONTACT_LISTS,
    MAX_GROUP, PROVIDED, PUBLICATIONS, ROAMING, SUBSCRIPTIONS, SYNC_AGENTS,
};

/// The committer thread's state.
pub(super) struct Committer {
    pub(super) db: Arc<Database>,
    pub(super) window: Duration,
    pub(super) committed: mpsc::UnboundedSender<Committed>,
}

impl Committer {
    /// Gathers, commits, acknowledges; until closed or every handle is gone.
    pub(super) fn run(self, queue: std_mpsc::Receiver<Job>, shared: Weak<Shared>) {
        let mut group: Vec<(Vec<Write>, Reply)> = Vec::new();
        let mut closing = None;
        while closing.is_none() {
            let (first, deadline) = match queue.recv() {
                Ok(Job::Batch { writes, reply, at }) => ((writes, reply), at + self.window),
                Ok(Job::Close(done)) => {
                    let _ = done.send(Ok(()));
                    return;
                }
                Err(_) => return, // every handle dropped, nothing pending
            };
            group.push(first);
            // Gather: everything already queued, then whatever arrives
            // until the oldest batch has waited `window`.
            while group.len() < MAX_GROUP {
                let next = match queue.try_recv() {
                    Ok(job) => Some(job),
                    Err(std_mpsc::TryRecvError::Disconnected) => None,
                    Err(std_mpsc::TryRecvError::Empty) => {
                        let left = deadline.saturating_duration_since(Instant::now());
                        if left.is_zero() {
                            None
                        } else {
                            queue.recv_timeout(left).ok()
                        }
                    }
                };
                match next {
                    Some(Job::Batch { writes, reply, .. }) => group.push((writes, reply)),
                    Some(Job::Close(done)) => {
                        closing = Some(done);
                        break;
                    }
                    None => break,
                }
            }
            let result = self.write(&group);
            if let Some(shared) = shared.upgrade() {
                shared.transactions.fetch_add(1, Ordering::Relaxed);
                shared
                    .batches
                    .fetch_add(group.len() as u64, Ordering::Relaxed);
            }
            if let Err(e) = &result {
                if let Some(shared) = shared.upgrade() {
                    shared.failed.store(true, Ordering::Relaxed);
                }
                crate::metrics::store_commit_failed();
                tracing::error!(batches = group.len(), error = %e, "store commit failed");
            }
            for (_, reply) in group.drain(..) {
                answer(&self.committed, reply, result.clone());
            }
        }
        if let Some(done) = closing {
            let _ = done.send(Ok(()));
        }
    }

    /// One durable transaction for the whole group.
    fn write(&self, group: &[(Vec<Write>, Reply)]) -> Result<(), CommitError> {
        let started = Instant::now();
        let fail = |e: redb::Error| CommitError::Failed(Arc::new(e));
        let mut txn = self.db.begin_write().map_err(|e| fail(e.into()))?;
        txn.set_durability(Durability::Immediate);
        {
            let mut publications = txn.open_table(PUBLICATIONS).map_err(|e| fail(e.into()))?;
            let mut subscriptions = txn.open_table(SUBSCRIPTIONS).map_err(|e| fail(e.into()))?;
            let mut bindings = txn.open_table(BINDINGS).map_err(|e| fail(e.into()))?;
            let mut roaming = txn.open_table(ROAMING).map_err(|e| fail(e.into()))?;
            let mut contact_lists = txn.open_table(CONTACT_LISTS).map_err(|e| fail(e.into()))?;
            let mut sync_agents = txn.open_table(SYNC_AGENTS).map_err(|e| fail(e.into()))?;
            let mut provided = txn.open_table(PROVIDED).map_err(|e| fail(e.into()))?;
            for write in group.iter().flat_map(|(writes, _)| writes) {
                let (table, key) = match write {
                    Write::Put { table, key, .. } | Write::Delete { table, key } => (table, key),
                };
                let t = match table {
                    Table::Publications => &mut publications,
                    Table::Subscriptions => &mut subscriptions,
                    Table::Bindings => &mut bindings,
                    Table::Roaming => &mut roaming,
                    Table::ContactLists => &mut contact_lists,
                    Table::SyncAgents => &mut sync_agents,
                    Table::Provided => &mut provided,
                };
                match write {
                    Write::Put { value, .. } => {
                        t.insert(key.as_slice(), value.as_slice()).map(|_| ())
                    }
                    Write::Delete { .. } => t.remove(key.as_slice()).map(|_| ()),
                }
                .map_err(|e| fail(e.into()))?;
            }
        }
        txn.commit().map_err(|e| fail(e.into()))?;
        crate::metrics::store_committed(started.elapsed());
        Ok(())
    }
}
