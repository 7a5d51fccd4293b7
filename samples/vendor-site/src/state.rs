//! The state shared by both listeners and every connection.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::SiteConfig;
use crate::bills::{Bill, generate_bills};
use crate::record::RequestRecord;
use crate::session::Sessions;

#[derive(Debug)]
pub(crate) struct SiteState {
    config: SiteConfig,
    bills: Vec<Bill>,
    sessions: Mutex<Sessions>,
    requests: Mutex<Vec<RequestRecord>>,
}

impl SiteState {
    pub(crate) fn new(config: SiteConfig) -> SiteState {
        SiteState {
            bills: generate_bills(config.bill_count),
            config,
            sessions: Mutex::default(),
            requests: Mutex::default(),
        }
    }

    pub(crate) fn config(&self) -> &SiteConfig {
        &self.config
    }

    pub(crate) fn bills(&self) -> &[Bill] {
        &self.bills
    }

    pub(crate) fn sessions(&self) -> MutexGuard<'_, Sessions> {
        lock(&self.sessions)
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
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
