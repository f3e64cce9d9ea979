//! `once` (one round, or `--settle` until stable) and `run` (forever, with metrics) on top of
//! `Daemon::round`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CanaryReport, Daemon};
use iot_canary_core::plan::{close_between_rounds, jittered, settled};

/// Longest pause between `--settle` rounds (AWS propagates policy changes within minutes).
pub const SETTLE_PAUSE: Duration = Duration::from_secs(10);

/// The pause between `--settle` rounds: a sixth of the settle budget (room for several rounds
/// after a change lands), between 1 s and [`SETTLE_PAUSE`].
pub fn settle_pause(settle: Duration) -> Duration {
    (settle / 6).clamp(Duration::from_secs(1), SETTLE_PAUSE)
}

/// How long an aborted round may take to record its aborted probes.
pub const ABORT_BOUND: Duration = Duration::from_secs(5);

/// Runs rounds until two consecutive rounds agree or `settle` has passed; returns the last.
pub async fn once(
    d: &Daemon,
    only: Option<&str>,
    settle: Option<Duration>,
    on_verdict: &(dyn Fn(&CanaryReport) + Sync),
) -> Vec<CanaryReport> {
    let started = Instant::now();
    let mut reports = d.round(only, on_verdict).await;
    let Some(limit) = settle else { return reports };
    loop {
        let remaining = limit.saturating_sub(started.elapsed());
        if remaining.is_zero() {
            return reports;
        }
        tokio::time::sleep(settle_pause(limit).min(remaining)).await;
        let next = d.round(only, on_verdict).await;
        let key = |rs: &[CanaryReport]| {
            rs.iter()
                .map(|r| (r.canary.clone(), r.verdict))
                .collect::<Vec<_>>()
        };
        let stable = settled(&key(&reports), &key(&next));
        reports = next;
        if stable {
            return reports;
        }
    }
}

/// Probes forever until `shutdown` resolves; an in-flight round gets `grace` to finish.
pub async fn run(
    d: Arc<Daemon>,
    shutdown: impl std::future::Future<Output = ()>,
    grace: Duration,
    on_verdict: Arc<dyn Fn(&CanaryReport) + Send + Sync>,
) {
    tokio::pin!(shutdown);
    loop {
        let cb = on_verdict.clone();
        let round = {
            let d = d.clone();
            async move { d.round(None, &*cb).await }
        };
        tokio::pin!(round);
        tokio::select! {
            _ = &mut round => {}
            _ = &mut shutdown => {
                tracing::info!("shutdown: letting the in-flight round finish");
                if tokio::time::timeout(grace, &mut round).await.is_err() {
                    // Drain deadline: what is still in flight ends as inconclusive(aborted)
                    // and the round records it; the bound only guards against a stuck probe.
                    tracing::warn!("shutdown: drain deadline passed, aborting in-flight probes");
                    d.abort_in_flight();
                    if tokio::time::timeout(ABORT_BOUND, &mut round).await.is_err() {
                        tracing::warn!("shutdown: abandoned the in-flight round");
                    }
                }
                break;
            }
        }
        let unit: f64 = rand::random();
        let pause = jittered(d.config.schedule.interval, d.config.schedule.jitter, unit);
        if close_between_rounds(pause, super::KEEP_ALIVE) {
            d.pool.close_all().await;
            release_free_memory();
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = &mut shutdown => break,
        }
    }
    d.pool.close_all().await;
}

/// Hands freed heap pages back to the OS after the pooled connections closed: each one held
/// ~150 KB of websocket/TLS buffers, and glibc keeps freed arena memory mapped otherwise, so
/// RSS between rounds would stay at the round's peak.
fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        unsafe extern "C" {
            fn malloc_trim(pad: usize) -> i32;
        }
        // SAFETY: glibc's malloc_trim only releases free memory; it takes no pointers and is
        // safe to call from any thread at any time.
        unsafe {
            malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settle_pause_is_a_sixth_of_the_budget_within_bounds() {
        let s = Duration::from_secs;
        assert_eq!(settle_pause(s(300)), s(10));
        assert_eq!(settle_pause(s(36)), s(6));
        assert_eq!(settle_pause(s(2)), s(1));
    }
}
