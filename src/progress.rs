//! Progress of a round on stderr, for people at a terminal: a round against a stalled endpoint
//! takes probe timeout × waves, and silence for a minute reads as a hang. Nothing is printed
//! for rounds that finish within [`QUIET`], nor when stderr is not a terminal (CI logs get the
//! per-verdict log events instead).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Rounds shorter than this print no progress.
pub const QUIET: Duration = Duration::from_secs(3);
/// Time between progress lines.
pub const EVERY: Duration = Duration::from_secs(5);

/// The progress line (pure).
pub fn line(done: usize, total: usize, elapsed: Duration, timeout: Duration) -> String {
    format!(
        "round in progress: {done}/{total} verdicts after {}s, {} probes still running (probe timeout {}s)",
        elapsed.as_secs(),
        total.saturating_sub(done),
        timeout.as_secs()
    )
}

/// Counts verdicts as they land; [`Progress::start`] prints while the round runs.
#[derive(Clone, Default)]
pub struct Progress {
    done: Arc<AtomicUsize>,
}

impl Progress {
    /// One more verdict landed.
    pub fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    /// Prints a line every [`EVERY`] after [`QUIET`] until the returned task is aborted; does
    /// nothing unless `on_terminal`.
    pub fn start(
        &self,
        on_terminal: bool,
        total: usize,
        timeout: Duration,
    ) -> Option<tokio::task::JoinHandle<()>> {
        if !on_terminal {
            return None;
        }
        let done = self.done.clone();
        Some(tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            tokio::time::sleep(QUIET).await;
            loop {
                let n = done.load(Ordering::Relaxed);
                if n >= total {
                    return;
                }
                crate::out::info(line(n, total, started.elapsed(), timeout));
                tokio::time::sleep(EVERY).await;
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_far_and_what_is_waited_for() {
        assert_eq!(
            line(12, 30, Duration::from_millis(6400), Duration::from_secs(10)),
            "round in progress: 12/30 verdicts after 6s, 18 probes still running (probe timeout 10s)"
        );
    }
}
