//! One shared credential cache per identity: refresh ahead of expiry, one fetch in flight at
//! a time (concurrent callers share it), failures classified and counted, retries paced by
//! exponential backoff with jitter. Decisions come from the pure functions in `refresh`;
//! this file only holds state, reads the clock and calls the source.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use super::refresh::{CacheView, Decision, RefreshPolicy, backoff_delay, decide, usable};
use super::{CredentialSource, SessionCredentials};
use iot_canary_core::credentials::{CacheStatus, FailureReason, IdentityError};

/// Time source (injectable so tests drive expiry without sleeping).
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> SystemTime;
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

#[derive(Debug)]
struct Cached {
    creds: Arc<SessionCredentials>,
    obtained_at: SystemTime,
}

#[derive(Debug, Default)]
struct State {
    cached: Option<Cached>,
    retry_not_before: Option<SystemTime>,
    consecutive_failures: u32,
    last_error: Option<IdentityError>,
    failures: BTreeMap<FailureReason, u64>,
    fetches: u64,
}

impl State {
    fn view(&self) -> CacheView {
        CacheView {
            cached: self
                .cached
                .as_ref()
                .map(|c| (c.obtained_at, c.creds.expiration)),
            retry_not_before: self.retry_not_before,
        }
    }

    fn last_error(&self) -> IdentityError {
        self.last_error.clone().unwrap_or_else(|| {
            // Unreachable in practice (FailFast needs a recorded failure); stay honest anyway.
            IdentityError::new(FailureReason::Config, "no credentials available")
        })
    }
}

/// Shared, refreshing credentials of one identity. Cheap to share (`Arc`); `current()` is
/// the only call probes need.
pub struct CredentialCache {
    name: String,
    source: Arc<dyn CredentialSource>,
    policy: RefreshPolicy,
    clock: Arc<dyn Clock>,
    state: Mutex<State>,
    /// Held for the duration of a fetch: makes fetches single-flight.
    fetch_lock: tokio::sync::Mutex<()>,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialCache")
            .field("name", &self.name)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl CredentialCache {
    pub fn new(
        name: impl Into<String>,
        source: Arc<dyn CredentialSource>,
        policy: RefreshPolicy,
    ) -> Self {
        Self::with_clock(name, source, policy, Arc::new(SystemClock))
    }

    pub fn with_clock(
        name: impl Into<String>,
        source: Arc<dyn CredentialSource>,
        policy: RefreshPolicy,
        clock: Arc<dyn Clock>,
    ) -> Self {
        CredentialCache {
            name: name.into(),
            source,
            policy,
            clock,
            state: Mutex::new(State::default()),
            fetch_lock: tokio::sync::Mutex::new(()),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock can only come from a bug in the few lines of
        // bookkeeping below; the data stays consistent field by field, so keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn usable_cached(&self, st: &State, now: SystemTime) -> Option<Arc<SessionCredentials>> {
        st.cached
            .as_ref()
            .filter(|c| usable(now, c.creds.expiration, &self.policy))
            .map(|c| c.creds.clone())
    }

    /// Valid credentials, fetching or refreshing them if needed. An error means this
    /// identity's probes are `inconclusive(credentials)` for now.
    pub async fn current(&self) -> Result<Arc<SessionCredentials>, IdentityError> {
        let now = self.clock.now();
        let view = self.state().view();
        let decision = decide(now, &view, &self.policy);
        match decision {
            Decision::UseCached => self.cached_or_last_error(now),
            Decision::FailFast => Err(self.state().last_error()),
            Decision::RefreshAhead => {
                // One caller refreshes; everyone else keeps using the still-valid credentials.
                if let Ok(_guard) = self.fetch_lock.try_lock() {
                    let view = self.state().view();
                    if decide(self.clock.now(), &view, &self.policy) == Decision::RefreshAhead {
                        let _ = self.fetch_and_record().await;
                    }
                }
                self.cached_or_last_error(self.clock.now())
            }
            Decision::MustFetch => {
                let _guard = self.fetch_lock.lock().await;
                // Whoever held the lock before us may have fetched (or failed) already.
                let now = self.clock.now();
                // Bind first: a guard in the match scrutinee would live through the arms.
                let view = self.state().view();
                match decide(now, &view, &self.policy) {
                    Decision::UseCached | Decision::RefreshAhead => self.cached_or_last_error(now),
                    Decision::FailFast => Err(self.state().last_error()),
                    Decision::MustFetch => self.fetch_and_record().await,
                }
            }
        }
    }

    fn cached_or_last_error(
        &self,
        now: SystemTime,
    ) -> Result<Arc<SessionCredentials>, IdentityError> {
        let st = self.state();
        self.usable_cached(&st, now).ok_or_else(|| st.last_error())
    }

    /// Drops the cached credentials (e.g. after the gateway rejected them as expired); the
    /// next `current()` fetches, subject to backoff.
    pub fn invalidate(&self) {
        self.state().cached = None;
    }

    pub fn status(&self) -> CacheStatus {
        let now = self.clock.now();
        let st = self.state();
        CacheStatus {
            identity: self.name.clone(),
            expiration: st.cached.as_ref().and_then(|c| c.creds.expiration),
            usable: self.usable_cached(&st, now).is_some(),
            fetches: st.fetches,
            consecutive_failures: st.consecutive_failures,
            failures: st.failures.clone(),
            last_error: st.last_error.clone(),
            retry_not_before: st.retry_not_before,
        }
    }

    /// Performs one fetch and records its outcome. Caller holds `fetch_lock`.
    async fn fetch_and_record(&self) -> Result<Arc<SessionCredentials>, IdentityError> {
        let started = self.clock.now();
        let result =
            match tokio::time::timeout(self.policy.fetch_timeout, self.source.fetch()).await {
                Ok(r) => r,
                Err(_) => Err(IdentityError::new(
                    FailureReason::Timeout,
                    format!(
                        "no answer from the credential service within {:?}",
                        self.policy.fetch_timeout
                    ),
                )),
            };
        let now = self.clock.now();
        let result = result.and_then(|c| {
            if usable(now, c.expiration, &self.policy) {
                Ok(c)
            } else {
                Err(IdentityError::malformed(
                    "the credential service returned credentials that are already expired or about to expire (clock skew?)",
                ))
            }
        });
        let mut st = self.state();
        match result {
            Ok(creds) => {
                let creds = Arc::new(creds);
                st.cached = Some(Cached {
                    creds: creds.clone(),
                    obtained_at: started,
                });
                st.fetches += 1;
                st.consecutive_failures = 0;
                st.retry_not_before = None;
                st.last_error = None;
                tracing::info!(identity = %self.name, credentials = %creds, "credentials obtained");
                Ok(creds)
            }
            Err(e) => {
                st.consecutive_failures = st.consecutive_failures.saturating_add(1);
                *st.failures.entry(e.reason).or_insert(0) += 1;
                let delay = backoff_delay(st.consecutive_failures, rand::random(), &self.policy);
                st.retry_not_before = now.checked_add(delay);
                st.last_error = Some(e.clone());
                tracing::warn!(
                    identity = %self.name,
                    reason = %e.reason,
                    error = %e.message,
                    retry_in = ?delay,
                    "credential fetch failed"
                );
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::identity::{FetchFuture, Secret};

    #[derive(Debug)]
    struct ManualClock(Mutex<SystemTime>);

    impl ManualClock {
        fn at(secs: u64) -> Arc<Self> {
            Arc::new(ManualClock(Mutex::new(
                SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            )))
        }
        fn advance(&self, secs: u64) {
            *self.0.lock().unwrap() += Duration::from_secs(secs);
        }
    }

    impl Clock for ManualClock {
        fn now(&self) -> SystemTime {
            *self.0.lock().unwrap()
        }
    }

    /// Answers from a script; counts calls; yields a few times so concurrent callers overlap.
    #[derive(Debug)]
    struct Scripted {
        clock: Arc<ManualClock>,
        calls: AtomicUsize,
        /// Per call: Ok(lifetime seconds) or Err(reason).
        script: Mutex<Vec<Result<u64, FailureReason>>>,
    }

    impl Scripted {
        fn new(clock: Arc<ManualClock>, script: Vec<Result<u64, FailureReason>>) -> Arc<Self> {
            Arc::new(Scripted {
                clock,
                calls: AtomicUsize::new(0),
                script: Mutex::new(script.into_iter().rev().collect()),
            })
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    impl CredentialSource for Scripted {
        fn fetch(&self) -> FetchFuture<'_> {
            Box::pin(async move {
                let n = self.calls.fetch_add(1, Ordering::SeqCst);
                for _ in 0..5 {
                    tokio::task::yield_now().await;
                }
                let step = self.script.lock().unwrap().pop().expect("script exhausted");
                match step {
                    Ok(lifetime) => {
                        let mut c = SessionCredentials::new(format!("ASIA{n}"), Secret::new("s"));
                        c.expiration = Some(self.clock.now() + Duration::from_secs(lifetime));
                        Ok(c)
                    }
                    Err(reason) => Err(IdentityError::new(reason, format!("scripted {n}"))),
                }
            })
        }
    }

    fn policy() -> RefreshPolicy {
        RefreshPolicy {
            min_validity: Duration::from_secs(1),
            ..RefreshPolicy::default()
        }
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_fetch() {
        let clock = ManualClock::at(1000);
        let src = Scripted::new(clock.clone(), vec![Ok(3600)]);
        let cache = CredentialCache::with_clock("alice", src.clone(), policy(), clock);
        let results = futures_util::future::join_all((0..10).map(|_| cache.current())).await;
        assert_eq!(src.calls(), 1);
        for r in results {
            assert_eq!(r.unwrap().access_key_id, "ASIA0");
        }
        let st = cache.status();
        assert_eq!(st.fetches, 1);
        assert!(st.usable);
        assert_eq!(st.expiry_timestamp_seconds(), Some(4600.0));
    }

    #[tokio::test]
    async fn failures_back_off_then_recover() {
        let clock = ManualClock::at(1000);
        let src = Scripted::new(
            clock.clone(),
            vec![
                Err(FailureReason::Network),
                Err(FailureReason::Throttled),
                Ok(3600),
            ],
        );
        let cache = CredentialCache::with_clock("bob", src.clone(), policy(), clock.clone());
        let e = cache.current().await.unwrap_err();
        assert_eq!(e.reason, FailureReason::Network);
        // Within the backoff window concurrent callers fail fast with the same error.
        let results = futures_util::future::join_all((0..5).map(|_| cache.current())).await;
        assert_eq!(src.calls(), 1);
        assert!(
            results
                .iter()
                .all(|r| r.as_ref().unwrap_err().reason == FailureReason::Network)
        );
        let st = cache.status();
        assert_eq!(st.consecutive_failures, 1);
        assert!(!st.usable);
        assert!(st.retry_not_before.unwrap() > clock.now());

        clock.advance(1); // first backoff is 0.5-1 s
        assert_eq!(
            cache.current().await.unwrap_err().reason,
            FailureReason::Throttled
        );
        assert_eq!(src.calls(), 2);
        clock.advance(1); // second backoff is 1-2 s: may still be backing off
        let _ = cache.current().await;
        clock.advance(1);
        let c = cache.current().await.unwrap();
        assert_eq!(c.access_key_id, "ASIA2");
        let st = cache.status();
        assert_eq!(st.consecutive_failures, 0);
        assert_eq!(st.last_error, None);
        assert_eq!(
            st.failures,
            BTreeMap::from([(FailureReason::Network, 1), (FailureReason::Throttled, 1)])
        );
    }

    #[tokio::test]
    async fn refreshes_ahead_and_serves_cached_while_refresh_fails() {
        let clock = ManualClock::at(0);
        let src = Scripted::new(
            clock.clone(),
            vec![
                Ok(1000),
                Err(FailureReason::Service),
                Err(FailureReason::Network),
                Ok(1000),
            ],
        );
        let cache = CredentialCache::with_clock("carol", src.clone(), policy(), clock.clone());
        assert_eq!(cache.current().await.unwrap().access_key_id, "ASIA0");
        clock.advance(899);
        assert_eq!(cache.current().await.unwrap().access_key_id, "ASIA0");
        assert_eq!(src.calls(), 1, "no refresh before the lead window");
        // Due at 900 (10% of 1000 s); the refresh fails but the credentials are still valid.
        clock.advance(1);
        assert_eq!(cache.current().await.unwrap().access_key_id, "ASIA0");
        assert_eq!(src.calls(), 2);
        assert_eq!(cache.status().failures[&FailureReason::Service], 1);
        assert!(cache.status().usable);
        // Expired: the next fetch fails and callers get that failure...
        clock.advance(100);
        assert_eq!(
            cache.current().await.unwrap_err().reason,
            FailureReason::Network
        );
        // ...also while backing off (no new fetch).
        assert_eq!(
            cache.current().await.unwrap_err().reason,
            FailureReason::Network
        );
        assert_eq!(src.calls(), 3);
        assert!(!cache.status().usable);
        clock.advance(2);
        assert_eq!(cache.current().await.unwrap().access_key_id, "ASIA3");
        assert_eq!(cache.status().consecutive_failures, 0);
    }

    #[tokio::test]
    async fn static_credentials_are_fetched_once() {
        #[derive(Debug)]
        struct Forever(AtomicUsize);
        impl CredentialSource for Forever {
            fn fetch(&self) -> FetchFuture<'_> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Box::pin(async { Ok(SessionCredentials::new("AKIA", Secret::new("s"))) })
            }
        }
        let clock = ManualClock::at(0);
        let src = Arc::new(Forever(AtomicUsize::new(0)));
        let cache = CredentialCache::with_clock("ops", src.clone(), policy(), clock.clone());
        cache.current().await.unwrap();
        clock.advance(10 * 365 * 86400);
        cache.current().await.unwrap();
        assert_eq!(src.0.load(Ordering::SeqCst), 1);
        assert_eq!(cache.status().expiry_timestamp_seconds(), None);
        cache.invalidate();
        cache.current().await.unwrap();
        assert_eq!(src.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn already_expired_answer_is_a_failure() {
        let clock = ManualClock::at(0);
        let src = Scripted::new(clock.clone(), vec![Ok(0)]);
        let cache = CredentialCache::with_clock("skew", src, policy(), clock);
        let e = cache.current().await.unwrap_err();
        assert_eq!(e.reason, FailureReason::Malformed);
        assert!(e.message.contains("already expired"), "{e}");
    }

    #[tokio::test]
    async fn a_hanging_source_times_out() {
        #[derive(Debug)]
        struct Hang;
        impl CredentialSource for Hang {
            fn fetch(&self) -> FetchFuture<'_> {
                Box::pin(std::future::pending())
            }
        }
        let p = RefreshPolicy {
            fetch_timeout: Duration::from_millis(50),
            ..policy()
        };
        let cache = CredentialCache::new("hang", Arc::new(Hang), p);
        let e = cache.current().await.unwrap_err();
        assert_eq!(e.reason, FailureReason::Timeout);
        assert_eq!(cache.status().failures[&FailureReason::Timeout], 1);
    }
}
