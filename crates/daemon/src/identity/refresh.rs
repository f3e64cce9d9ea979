//! When to refresh credentials and how long to back off after a failure (pure: `now` and the
//! jitter sample are passed in, nothing here reads a clock or a random source).

use std::time::{Duration, SystemTime};

/// Tunables of the credential cache.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshPolicy {
    /// Refresh this long before expiry at most (AWS SDKs use 5 minutes)...
    pub max_lead: Duration,
    /// ...or this fraction of the lifetime, whichever is smaller, so short-lived credentials
    /// (lab tests, 15-minute role sessions) are not refreshed almost immediately.
    pub lead_fraction: f64,
    /// Credentials closer than this to expiry are not handed out: a probe needs them for the
    /// whole websocket upgrade.
    pub min_validity: Duration,
    /// First retry delay after a failure; doubles per consecutive failure...
    pub backoff_base: Duration,
    /// ...up to this cap.
    pub backoff_max: Duration,
    /// Upper bound of one fetch (all HTTP round trips of a login included).
    pub fetch_timeout: Duration,
}

impl Default for RefreshPolicy {
    fn default() -> Self {
        RefreshPolicy {
            max_lead: Duration::from_secs(300),
            lead_fraction: 0.1,
            min_validity: Duration::from_secs(15),
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            fetch_timeout: Duration::from_secs(30),
        }
    }
}

/// The instant from which credentials obtained at `obtained_at` should be refreshed; `None`
/// for credentials that never expire.
pub fn refresh_due(
    obtained_at: SystemTime,
    expiration: Option<SystemTime>,
    policy: &RefreshPolicy,
) -> Option<SystemTime> {
    let exp = expiration?;
    let lifetime = exp.duration_since(obtained_at).unwrap_or(Duration::ZERO);
    let lead = lifetime
        .mul_f64(policy.lead_fraction.clamp(0.0, 1.0))
        .min(policy.max_lead);
    Some(exp.checked_sub(lead).unwrap_or(exp))
}

/// Whether credentials may still be handed to a probe at `now`.
pub fn usable(now: SystemTime, expiration: Option<SystemTime>, policy: &RefreshPolicy) -> bool {
    match expiration {
        None => true,
        Some(exp) => now
            .checked_add(policy.min_validity)
            .is_some_and(|limit| limit < exp),
    }
}

/// Delay before retry number `failures` (1 = after the first failure): exponential from
/// `backoff_base`, capped at `backoff_max`, with "equal jitter" (half fixed, half random) so
/// replicas spread out but never retry sooner than half the nominal delay. `jitter` is a
/// sample in [0, 1).
pub fn backoff_delay(failures: u32, jitter: f64, policy: &RefreshPolicy) -> Duration {
    if failures == 0 {
        return Duration::ZERO;
    }
    let exp = failures.saturating_sub(1).min(31);
    let nominal = policy
        .backoff_base
        .checked_mul(1u32 << exp)
        .unwrap_or(policy.backoff_max)
        .min(policy.backoff_max);
    let half = nominal / 2;
    half + half.mul_f64(jitter.clamp(0.0, 1.0))
}

/// What the cache knows, as plain data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheView {
    /// `(obtained_at, expiration)` of the cached credentials, if any.
    pub cached: Option<(SystemTime, Option<SystemTime>)>,
    /// No fetch before this instant (set after a failure).
    pub retry_not_before: Option<SystemTime>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Hand out the cached credentials.
    UseCached,
    /// Hand out the cached credentials, and refresh them if no one else is already doing so.
    RefreshAhead,
    /// No usable credentials: fetch now (callers wait for the single in-flight fetch).
    MustFetch,
    /// No usable credentials and still backing off: fail with the last error.
    FailFast,
}

pub fn decide(now: SystemTime, view: &CacheView, policy: &RefreshPolicy) -> Decision {
    let may_retry = view.retry_not_before.is_none_or(|t| now >= t);
    match view.cached {
        Some((obtained, exp)) if usable(now, exp, policy) => {
            let due = refresh_due(obtained, exp, policy).is_some_and(|d| now >= d);
            if due && may_retry {
                Decision::RefreshAhead
            } else {
                Decision::UseCached
            }
        }
        _ if may_retry => Decision::MustFetch,
        _ => Decision::FailFast,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        T0 + Duration::from_secs(secs)
    }

    #[test]
    fn refresh_lead_is_the_smaller_of_cap_and_fraction() {
        let p = RefreshPolicy::default();
        // 1 hour: 10% = 6 min > 5 min cap.
        assert_eq!(refresh_due(at(0), Some(at(3600)), &p), Some(at(3300)));
        // 60 s lab credentials: 10% = 6 s.
        assert_eq!(refresh_due(at(100), Some(at(160)), &p), Some(at(154)));
        // 15 min role session: 90 s.
        assert_eq!(refresh_due(at(0), Some(at(900)), &p), Some(at(810)));
        // Already expired when obtained (clock skew): due immediately at expiry.
        assert_eq!(refresh_due(at(200), Some(at(100)), &p), Some(at(100)));
        assert_eq!(refresh_due(at(0), None, &p), None);
    }

    #[test]
    fn usable_keeps_a_margin() {
        let p = RefreshPolicy::default();
        assert!(usable(at(0), None, &p));
        assert!(usable(at(0), Some(at(16)), &p));
        assert!(!usable(at(1), Some(at(16)), &p));
        assert!(!usable(at(100), Some(at(50)), &p));
    }

    #[test]
    fn backoff_schedule() {
        let p = RefreshPolicy::default();
        assert_eq!(backoff_delay(0, 0.5, &p), Duration::ZERO);
        // Lower bound (jitter 0) doubles: 0.5, 1, 2, 4, ... s, capped at 150 s.
        let lows: Vec<u64> = (1..=12)
            .map(|n| backoff_delay(n, 0.0, &p).as_millis() as u64)
            .collect();
        assert_eq!(
            lows,
            [
                500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 150000, 150000, 150000
            ]
        );
        // Upper bound approaches the nominal delay, never exceeds the cap.
        assert_eq!(backoff_delay(1, 0.999_999, &p).as_millis(), 999);
        assert!(backoff_delay(40, 0.999_999, &p) <= p.backoff_max);
        assert!(backoff_delay(u32::MAX, 1.0, &p) <= p.backoff_max);
        // Out-of-range jitter samples are clamped.
        assert_eq!(backoff_delay(1, -3.0, &p), Duration::from_millis(500));
        assert_eq!(backoff_delay(1, 7.0, &p), Duration::from_millis(1000));
    }

    #[test]
    fn decision_table() {
        let p = RefreshPolicy::default();
        let fresh = Some((at(0), Some(at(3600))));
        let forever = Some((at(0), None));
        let cases: &[(u64, CacheView, Decision)] = &[
            // Nothing cached: fetch unless backing off.
            (
                10,
                CacheView {
                    cached: None,
                    retry_not_before: None,
                },
                Decision::MustFetch,
            ),
            (
                10,
                CacheView {
                    cached: None,
                    retry_not_before: Some(at(20)),
                },
                Decision::FailFast,
            ),
            (
                20,
                CacheView {
                    cached: None,
                    retry_not_before: Some(at(20)),
                },
                Decision::MustFetch,
            ),
            // Fresh credentials.
            (
                10,
                CacheView {
                    cached: fresh,
                    retry_not_before: None,
                },
                Decision::UseCached,
            ),
            (
                10,
                CacheView {
                    cached: forever,
                    retry_not_before: None,
                },
                Decision::UseCached,
            ),
            (
                999_999,
                CacheView {
                    cached: forever,
                    retry_not_before: None,
                },
                Decision::UseCached,
            ),
            // In the refresh window.
            (
                3300,
                CacheView {
                    cached: fresh,
                    retry_not_before: None,
                },
                Decision::RefreshAhead,
            ),
            // In the window but the last refresh failed recently: keep serving.
            (
                3400,
                CacheView {
                    cached: fresh,
                    retry_not_before: Some(at(3500)),
                },
                Decision::UseCached,
            ),
            (
                3500,
                CacheView {
                    cached: fresh,
                    retry_not_before: Some(at(3500)),
                },
                Decision::RefreshAhead,
            ),
            // Too close to expiry or expired.
            (
                3590,
                CacheView {
                    cached: fresh,
                    retry_not_before: None,
                },
                Decision::MustFetch,
            ),
            (
                4000,
                CacheView {
                    cached: fresh,
                    retry_not_before: Some(at(4100)),
                },
                Decision::FailFast,
            ),
        ];
        for (now, view, want) in cases {
            assert_eq!(decide(at(*now), view, &p), *want, "now={now} {view:?}");
        }
    }
}
