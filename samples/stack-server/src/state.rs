//! The state shared by every connection.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::StackConfig;
use crate::auth::TokenStore;
use crate::data::Database;
use crate::faults::Faults;
use crate::files::Vfs;
use crate::ids::IdGenerator;
use crate::record::RequestRecord;

#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) config: StackConfig,
    /// The instance URL with a trailing slash, as `COZY_URL`.
    pub(crate) base_url: String,
    pub(crate) tokens: TokenStore,
    pub(crate) ids: IdGenerator,
    database: Mutex<Database>,
    vfs: Mutex<Vfs>,
    faults: Mutex<Faults>,
    requests: Mutex<Vec<RequestRecord>>,
}

impl ServerState {
    pub(crate) fn new(config: StackConfig, base_url: String) -> ServerState {
        let vfs = Vfs::new(config.quota_bytes);
        ServerState {
            config,
            base_url,
            tokens: TokenStore::default(),
            ids: IdGenerator::new(),
            database: Mutex::new(Database::default()),
            vfs: Mutex::new(vfs),
            faults: Mutex::default(),
            requests: Mutex::default(),
        }
    }

    pub(crate) fn database(&self) -> MutexGuard<'_, Database> {
        lock(&self.database)
    }

    pub(crate) fn vfs(&self) -> MutexGuard<'_, Vfs> {
        lock(&self.vfs)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, Faults> {
        lock(&self.faults)
    }

    pub(crate) fn record(&self, record: RequestRecord) {
        lock(&self.requests).push(record);
    }

    pub(crate) fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.requests).clone()
    }
}

/// Locks `mutex` even when a thread panicked while holding it, because every
/// critical section here leaves the data consistent.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
