//! The durable store: publications and subscriptions that survive a crash.
//!
//! "Nothing lost" (../shared/DESIGN.md): a PUBLISH or SUBSCRIBE is answered
//! 2xx only after what it changed is on disk. One fsync per request would
//! cap the server at the disk's fsync rate, so writes are **group
//! committed**: a committer thread takes every batch that arrived within
//! `commit_window` of the oldest waiting one (or whatever is queued, with a
//! zero window), writes them all in one redb write transaction with
//! [`redb::Durability::Immediate`], and then acknowledges each batch.
//!
//! # Why redb
//!
//! redb is pure Rust (no C toolchain, no `-sys` crate to cross-compile),
//! ACID with copy-on-write B-trees and checksummed commits (a torn write
//! after a power cut rolls back to the last commit instead of corrupting),
//! and has a stable, documented file format. SQLite would bring C and a
//! query language we do not need; RocksDB brings C++ and tuning knobs;
//! sled's format is not stable; an append-only log of our own would need
//! compaction and recovery code that redb already has and tests. The data
//! is small (one record per publication and subscription), so a B-tree
//! file with one writer is the right shape. redb 2.6 is the newest line
//! that builds with our rust-version (1.85); the file is created in redb's
//! v3 format, which 2.6 can write, so moving to redb 3 needs no migration.
//!
//! # Driving it from the SIP core
//!
//! The core is one tokio task that must never block. It calls
//! [`Store::submit`] with a ticket of its own choosing and parks whatever
//! waits on that commit (the 2xx, the NOTIFYs after it). The outcome comes
//! back on [`Commits`], which the core polls as one more branch of its
//! `tokio::select!` (the real loop is `crate::sip_core`; in outline):
//!
//! ```text
//! let mut commits = store.commits().expect("the core is the only consumer");
//! loop {
//!     tokio::select! {
//!         Some(done) = commits.recv() => match done.result {
//!             Ok(()) => release(done.ticket),       // send the parked 2xx
//!             Err(e) => fail(done.ticket, e),       // answer 500 instead
//!         },
//!         msg = inbound.recv() => {
//!             // ... the engine returns Action::Store(ops):
//!             store.submit(next_ticket, encode_ops(&ops)?);
//!         }
//!     }
//! }
//! ```
//!
//! Batches commit, and are acknowledged, in submission order: a ticket is
//! never acknowledged before an earlier one. [`Store::commit`] is the same
//! thing as a future, for callers outside the core loop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use presence::{BindingRecord, ContactListRecord, PublicationRecord, StoreOp, SubscriptionRecord};
use redb::{Database, ReadableTable, TableDefinition};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

mod committer;

use committer::Committer;

/// The file inside the data directory.
pub const FILE_NAME: &str = "presenced.redb";

/// At most this many batches share one transaction, so one commit stays
/// bounded in size and latency even when a burst queued up behind a slow
/// fsync.
const MAX_GROUP: usize = 4096;

/// The tables; keys and values are bytes.
const PUBLICATIONS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new(presence::store::PUBLICATIONS);
const SUBSCRIPTIONS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new(presence::store::SUBSCRIPTIONS);
const BINDINGS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(presence::store::BINDINGS);
const ROAMING: TableDefinition<&[u8], &[u8]> = TableDefinition::new(presence::store::ROAMING);
const CONTACT_LISTS: TableDefinition<&[u8], &[u8]> =
    TableDefinition::new(presence::store::CONTACT_LISTS);
const SYNC_AGENTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new(SYNC_AGENTS_NAME);
const PROVIDED: TableDefinition<&[u8], &[u8]> = TableDefinition::new(PROVIDED_NAME);

/// The attendant and PSTN states set through the API (`crate::provided`).
const PROVIDED_NAME: &str = "provided_states";

/// The sync engine's agents' table: the runtime's records, not the
/// engine's (see `crate::sync::record`).
const SYNC_AGENTS_NAME: &str = "sync_agents";

/// Which table a write goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// Publications, keyed by presentity + "\n" + entity-tag.
    Publications,
    /// Subscriptions, keyed by their dialog id.
    Subscriptions,
    /// Registrar bindings, keyed by AOR + "\n" + binding key.
    Bindings,
    /// Dialect users' roaming settings, keyed by user AOR.
    Roaming,
    /// Contact lists, one per user, keyed by the user's address of record.
    ContactLists,
    /// The sync engine's agents (binding and last states), keyed by agent
    /// id.
    SyncAgents,
    /// The presence provider's attendant and PSTN states, keyed by source
    /// + "\n" + presentity.
    Provided,
}

impl Table {
    /// The table's name in the file (shared with `presence::store`).
    pub fn name(self) -> &'static str {
        match self {
            Table::Publications => presence::store::PUBLICATIONS,
            Table::Subscriptions => presence::store::SUBSCRIPTIONS,
            Table::Bindings => presence::store::BINDINGS,
            Table::Roaming => presence::store::ROAMING,
            Table::ContactLists => presence::store::CONTACT_LISTS,
            Table::SyncAgents => SYNC_AGENTS_NAME,
            Table::Provided => PROVIDED_NAME,
        }
    }

    fn definition(self) -> TableDefinition<'static, &'static [u8], &'static [u8]> {
        match self {
            Table::Publications => PUBLICATIONS,
            Table::Subscriptions => SUBSCRIPTIONS,
            Table::Bindings => BINDINGS,
            Table::Roaming => ROAMING,
            Table::ContactLists => CONTACT_LISTS,
            Table::SyncAgents => SYNC_AGENTS,
            Table::Provided => PROVIDED,
        }
    }
}

/// One change at the byte level. The store knows nothing of records, so a
/// new kind of record needs no change here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Create or replace `key`.
    Put {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
        /// The encoded record.
        value: Vec<u8>,
    },
    /// Remove `key` (absent keys are fine: deletes are idempotent).
    Delete {
        /// The table.
        table: Table,
        /// The key.
        key: Vec<u8>,
    },
}

/// Turns the engine's store operations into writes, records as JSON.
///
/// JSON because records are small and it keeps the file readable with any
/// redb tool; a field added to a record later decodes from old files when
/// it has a serde default. Fails only if a record cannot be serialised
/// (a flow type whose `Serialize` errors), which the caller must treat as a
/// failed commit.
pub fn encode_ops<F: Serialize>(ops: &[StoreOp<F>]) -> Result<Vec<Write>, StoreError> {
    ops.iter()
        .map(|op| {
            let key = op.key().into_bytes();
            let encode = |value: Result<Vec<u8>, serde_json::Error>| {
                value.map_err(|source| StoreError::Encode {
                    key: String::from_utf8_lossy(&key).into_owned(),
                    source,
                })
            };
            Ok(match op {
                StoreOp::PutPublication(record) => Write::Put {
                    table: Table::Publications,
                    value: encode(serde_json::to_vec(record))?,
                    key,
                },
                StoreOp::PutSubscription(record) => Write::Put {
                    table: Table::Subscriptions,
                    value: encode(serde_json::to_vec(record))?,
                    key,
                },
                StoreOp::DeletePublication { .. } => Write::Delete {
                    table: Table::Publications,
                    key,
                },
                StoreOp::DeleteSubscription { .. } => Write::Delete {
                    table: Table::Subscriptions,
                    key,
                },
                StoreOp::PutBinding(record) => Write::Put {
                    table: Table::Bindings,
                    value: encode(serde_json::to_vec(record))?,
                    key,
                },
                StoreOp::DeleteBinding { .. } => Write::Delete {
                    table: Table::Bindings,
                    key,
                },
                StoreOp::PutRoaming(record) => Write::Put {
                    table: Table::Roaming,
                    value: encode(serde_json::to_vec(record))?,
                    key,
                },
                StoreOp::PutContactList(record) => Write::Put {
                    table: Table::ContactLists,
                    value: encode(serde_json::to_vec(record))?,
                    key,
                },
                StoreOp::DeleteContactList { .. } => Write::Delete {
                    table: Table::ContactLists,
                    key,
                },
            })
        })
        .collect()
}

/// Why the store could not open, load or encode.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create the data directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The database file could not be opened (locked by another process,
    /// not a redb file, unreadable).
    #[error("cannot open the store {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// What redb said (boxed: redb's errors are large).
        source: Box<redb::Error>,
    },
    /// Reading the stored records failed.
    #[error("cannot read the store's {table} table: {source}")]
    Read {
        /// The table.
        table: &'static str,
        /// What redb said.
        source: Box<redb::Error>,
    },
    /// A record could not be serialised.
    #[error("cannot encode the record {key:?}: {source}")]
    Encode {
        /// The record's key.
        key: String,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The committer thread could not be started.
    #[error("cannot start the store's committer thread: {0}")]
    Thread(std::io::Error),
    /// The last commit before closing failed.
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Why one batch was not made durable. Cloneable because every batch of a
/// failed group gets the same error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// The transaction failed (disk full, I/O error); nothing of the group
    /// was written.
    #[error("store commit failed: {0}")]
    Failed(Arc<redb::Error>),
    /// The store was closed before the batch was submitted.
    #[error("the store is closed")]
    Closed,
}

/// The outcome of one [`Store::submit`].
#[derive(Debug, Clone)]
pub struct Committed {
    /// The caller's ticket.
    pub ticket: u64,
    /// Durable, or why not.
    pub result: Result<(), CommitError>,
}

/// The stream of [`Committed`] outcomes, in submission order.
#[derive(Debug)]
pub struct Commits {
    rx: mpsc::UnboundedReceiver<Committed>,
}

impl Commits {
    /// The next outcome; `None` once every [`Store`] handle is gone.
    /// Cancel-safe, so it can be a `tokio::select!` branch.
    pub async fn recv(&mut self) -> Option<Committed> {
        self.rx.recv().await
    }

    /// The next outcome if one is ready, without waiting.
    pub fn try_recv(&mut self) -> Option<Committed> {
        self.rx.try_recv().ok()
    }
}

/// Counters for tests, benchmarks and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Batches acknowledged (successfully or not).
    pub batches: u64,
    /// redb write transactions committed (or attempted).
    pub transactions: u64,
}

/// Where a batch's outcome goes.
enum Reply {
    Ticket(u64),
    Future(oneshot::Sender<Result<(), CommitError>>),
}

enum Job {
    Batch {
        writes: Vec<Write>,
        reply: Reply,
        at: Instant,
    },
    /// Commit what came before, then stop; the sender fires when done.
    Close(oneshot::Sender<Result<(), CommitError>>),
}

/// What every handle shares.
struct Shared {
    /// The committer's queue; `None` once closed (or in memory mode), so
    /// nothing can enter after the close job.
    jobs: Mutex<Option<std_mpsc::Sender<Job>>>,
    /// Where ticket outcomes go; the receiver is handed out once.
    committed: mpsc::UnboundedSender<Committed>,
    commits: Mutex<Option<Commits>>,
    db: Option<Arc<Database>>,
    memory: bool,
    batches: AtomicU64,
    transactions: AtomicU64,
    /// A commit failed. redb refuses every later write on a database whose
    /// I/O failed ("close and re-open"), so from then on every write gets
    /// 500 until the process restarts; `/health` says so, for whatever
    /// supervises the process to restart it.
    failed: AtomicBool,
    committer: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Shared {
    /// Dropping the last handle without [`Store::flush_and_close`] still
    /// commits what was submitted, and waits for it, so the file is
    /// consistent and unlocked once the store is gone.
    fn drop(&mut self) {
        lock(&self.jobs).take();
        let committer = lock(&self.committer).take();
        if let Some(thread) = committer {
            let _ = thread.join();
        }
    }
}

/// The store handle; cheap to clone, all clones share one committer.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("memory", &self.shared.memory)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Store {
    /// Opens (or creates) `dir/presenced.redb`, creating `dir` as needed,
    /// and starts the committer. Fails if another process has the file open.
    pub fn open(dir: &Path, commit_window: Duration) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            dir: dir.to_owned(),
            source,
        })?;
        let path = dir.join(FILE_NAME);
        let open_err = |source: redb::Error| StoreError::Open {
            path: path.clone(),
            source: Box::new(source),
        };
        let db = Database::builder()
            .create_with_file_format_v3(true)
            // The working set is small; redb's default (1 GiB) is for
            // databases that are.
            .set_cache_size(64 << 20)
            .create(&path)
            .map_err(|e| open_err(e.into()))?;
        // Every table exists from the start, so loading never meets a
        // missing one (a file from before the bindings table gets it here).
        create_tables(&db).map_err(|e| open_err(*e))?;
        let db = Arc::new(db);
        let (jobs, queue) = std_mpsc::channel();
        let shared = Shared::new(Some(jobs), Some(db.clone()));
        let committer = Committer {
            db,
            window: commit_window,
            committed: shared.committed.clone(),
        };
        let shared = Arc::new(shared);
        let stats = Arc::downgrade(&shared);
        let thread = std::thread::Builder::new()
            .name("store-committer".into())
            .spawn(move || committer.run(queue, stats))
            .map_err(StoreError::Thread)?;
        *lock(&shared.committer) = Some(thread);
        tracing::info!(path = %path.display(), window_ms = commit_window.as_millis() as u64, "store opened");
        Ok(Store { shared })
    }

    /// A store that keeps nothing: every commit succeeds at once and
    /// [`Store::load`] finds nothing. For benchmarks and deployments that
    /// accept losing state on restart.
    pub fn memory() -> Store {
        Store {
            shared: Arc::new(Shared::new(None, None)),
        }
    }

    /// True in memory mode.
    pub fn is_memory(&self) -> bool {
        self.shared.memory
    }

    /// The receiver of [`Store::submit`] outcomes. There is one consumer
    /// (the SIP core), so only the first call gets it.
    pub fn commits(&self) -> Option<Commits> {
        lock(&self.shared.commits).take()
    }

    /// Queues `writes` for the next group commit; the outcome arrives on
    /// [`Commits`] with `ticket`. Never blocks.
    pub fn submit(&self, ticket: u64, writes: Vec<Write>) {
        self.enqueue(writes, Reply::Ticket(ticket));
    }

    /// Commits `writes` (grouped with whatever else is pending) and
    /// resolves once they are durable.
    pub async fn commit(&self, writes: Vec<Write>) -> Result<(), CommitError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(writes, Reply::Future(tx));
        // The committer answers every batch it receives before it exits.
        rx.await.unwrap_or(Err(CommitError::Closed))
    }

    fn enqueue(&self, writes: Vec<Write>, reply: Reply) {
        let shared = &self.shared;
        let jobs = lock(&shared.jobs);
        let reply = match jobs.as_ref() {
            Some(jobs) => {
                let job = Job::Batch {
                    writes,
                    reply,
                    at: Instant::now(),
                };
                match jobs.send(job) {
                    Ok(()) => return,
                    // The committer died (a panic); say so per batch.
                    Err(std_mpsc::SendError(Job::Batch { reply, .. })) => reply,
                    Err(std_mpsc::SendError(Job::Close(_))) => return,
                }
            }
            None => reply,
        };
        drop(jobs);
        let result = if shared.memory {
            Ok(())
        } else {
            Err(CommitError::Closed)
        };
        shared.batches.fetch_add(1, Ordering::Relaxed);
        answer(&shared.committed, reply, result);
    }

    /// Reads every stored record. A record that does not decode (written by
    /// a newer version, or damaged) is logged with its key and skipped:
    /// one bad record must not keep the server from starting.
    #[allow(clippy::type_complexity)]
    pub fn load<F: DeserializeOwned>(
        &self,
    ) -> Result<(Vec<PublicationRecord<F>>, Vec<SubscriptionRecord<F>>), StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok((Vec::new(), Vec::new()));
        };
        let publications = read_table(db, Table::Publications)?;
        let subscriptions = read_table(db, Table::Subscriptions)?;
        tracing::info!(
            publications = publications.len(),
            subscriptions = subscriptions.len(),
            "store loaded"
        );
        Ok((publications, subscriptions))
    }

    /// Reads every stored registrar binding, skipping (and logging) those
    /// that do not decode, as [`Store::load`] does. Expired ones are
    /// returned too: the registrar deletes them as it restores.
    pub fn load_bindings<F: DeserializeOwned>(&self) -> Result<Vec<BindingRecord<F>>, StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok(Vec::new());
        };
        let bindings = read_table(db, Table::Bindings)?;
        tracing::info!(bindings = bindings.len(), "bindings loaded");
        Ok(bindings)
    }

    /// Reads every user's stored roaming settings, skipping (and logging)
    /// those that do not decode, as [`Store::load`] does.
    pub fn load_roaming(&self) -> Result<Vec<presence::RoamingRecord>, StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok(Vec::new());
        };
        let records = read_table(db, Table::Roaming)?;
        tracing::info!(users = records.len(), "roaming settings loaded");
        Ok(records)
    }

    /// Reads every stored contact list, skipping (and logging) records
    /// that do not decode, as [`Store::load`] does. A separate call from
    /// `load`, because the lists go to their own owner.
    pub fn load_contact_lists(&self) -> Result<Vec<ContactListRecord>, StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok(Vec::new());
        };
        let lists: Vec<ContactListRecord> = read_table(db, Table::ContactLists)?;
        tracing::info!(contact_lists = lists.len(), "contact lists loaded");
        Ok(lists)
    }

    /// Reads every stored sync agent (the sync engine's bindings and last
    /// states), skipping and logging records that do not decode.
    pub fn load_sync_agents(&self) -> Result<Vec<crate::sync::AgentRecord>, StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok(Vec::new());
        };
        let agents: Vec<crate::sync::AgentRecord> = read_table(db, Table::SyncAgents)?;
        tracing::info!(sync_agents = agents.len(), "sync agents loaded");
        Ok(agents)
    }

    /// Reads every stored attendant and PSTN state, skipping and logging
    /// records that do not decode.
    pub fn load_provided(&self) -> Result<Vec<crate::provided::ProvidedRecord>, StoreError> {
        let Some(db) = &self.shared.db else {
            return Ok(Vec::new());
        };
        let states: Vec<crate::provided::ProvidedRecord> = read_table(db, Table::Provided)?;
        tracing::info!(states = states.len(), "attendant and PSTN states loaded");
        Ok(states)
    }

    /// Commits everything submitted so far and stops the committer; later
    /// submissions fail with [`CommitError::Closed`]. The file is released
    /// when the last handle is dropped.
    pub async fn flush_and_close(&self) -> Result<(), StoreError> {
        let (tx, rx) = oneshot::channel();
        {
            let mut jobs = lock(&self.shared.jobs);
            let Some(sender) = jobs.take() else {
                return Ok(()); // memory mode, or closed already
            };
            if sender.send(Job::Close(tx)).is_err() {
                return Err(CommitError::Closed.into());
            }
        }
        match rx.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(CommitError::Closed.into()),
        }
    }

    /// Batches acknowledged and transactions committed so far.
    /// Whether a commit has failed (see `Shared::failed`): the store takes
    /// no more writes until the process restarts.
    pub fn has_failed(&self) -> bool {
        self.shared.failed.load(Ordering::Relaxed)
    }

    pub fn stats(&self) -> StoreStats {
        StoreStats {
            batches: self.shared.batches.load(Ordering::Relaxed),
            transactions: self.shared.transactions.load(Ordering::Relaxed),
        }
    }
}

impl Shared {
    fn new(jobs: Option<std_mpsc::Sender<Job>>, db: Option<Arc<Database>>) -> Shared {
        let (committed, rx) = mpsc::unbounded_channel();
        Shared {
            memory: db.is_none(),
            jobs: Mutex::new(jobs),
            committed,
            commits: Mutex::new(Some(Commits { rx })),
            db,
            batches: AtomicU64::new(0),
            transactions: AtomicU64::new(0),
            failed: AtomicBool::new(false),
            committer: Mutex::new(None),
        }
    }
}

/// A poisoned lock only means another thread panicked while holding it;
/// the data (a sender, a handle) is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn answer(
    committed: &mpsc::UnboundedSender<Committed>,
    reply: Reply,
    result: Result<(), CommitError>,
) {
    // A receiver that is gone no longer wants outcomes; nothing to do.
    match reply {
        Reply::Ticket(ticket) => {
            let _ = committed.send(Committed { ticket, result });
        }
        Reply::Future(tx) => {
            let _ = tx.send(result);
        }
    }
}

fn create_tables(db: &Database) -> Result<(), Box<redb::Error>> {
    let boxed = |e: redb::Error| Box::new(e);
    let txn = db.begin_write().map_err(|e| boxed(e.into()))?;
    txn.open_table(PUBLICATIONS).map_err(|e| boxed(e.into()))?;
    txn.open_table(SUBSCRIPTIONS).map_err(|e| boxed(e.into()))?;
    txn.open_table(BINDINGS).map_err(|e| boxed(e.into()))?;
    txn.open_table(ROAMING).map_err(|e| boxed(e.into()))?;
    txn.open_table(CONTACT_LISTS).map_err(|e| boxed(e.into()))?;
    txn.open_table(SYNC_AGENTS).map_err(|e| boxed(e.into()))?;
    txn.open_table(PROVIDED).map_err(|e| boxed(e.into()))?;
    txn.commit().map_err(|e| boxed(e.into()))?;
    Ok(())
}

fn read_table<T: DeserializeOwned>(db: &Database, table: Table) -> Result<Vec<T>, StoreError> {
    let err = |source: redb::Error| StoreError::Read {
        table: table.name(),
        source: Box::new(source),
    };
    let txn = db.begin_read().map_err(|e| err(e.into()))?;
    let t = txn
        .open_table(table.definition())
        .map_err(|e| err(e.into()))?;
    let mut records = Vec::new();
    for entry in t.iter().map_err(|e| err(e.into()))? {
        let (key, value) = entry.map_err(|e| err(e.into()))?;
        match serde_json::from_slice(value.value()) {
            Ok(record) => records.push(record),
            Err(e) => tracing::warn!(
                table = table.name(),
                key = %String::from_utf8_lossy(key.value()).escape_debug(),
                error = %e,
                "stored record skipped: it does not decode"
            ),
        }
    }
    Ok(records)
}
