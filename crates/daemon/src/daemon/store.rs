//! The results store shared by the round, the HTTP surface and the alert wiring: core's plain
//! [`Snapshot`] behind a lock. Readers take a copy, so rendering never holds the lock.

use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::SystemTime;

use iot_canary_core::credentials::CacheStatus;
use iot_canary_core::store::{CanaryReport, Snapshot};

#[derive(Debug, Default)]
pub struct Store {
    inner: RwLock<Snapshot>,
}

impl Store {
    // A panic while holding the lock leaves plain data behind; keep serving it.
    fn write(&self) -> RwLockWriteGuard<'_, Snapshot> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    fn read(&self) -> RwLockReadGuard<'_, Snapshot> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record(&self, reports: &[CanaryReport], completed: SystemTime) {
        self.write().record(reports, completed);
    }

    pub fn record_credentials(&self, status: CacheStatus) {
        self.write().record_credentials(status);
    }

    pub fn retain(&self, keep_canary: impl Fn(&str) -> bool, keep_identity: impl Fn(&str) -> bool) {
        self.write().retain(keep_canary, keep_identity);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.read().clone()
    }

    pub fn ready(&self) -> bool {
        self.read().ready()
    }
}
