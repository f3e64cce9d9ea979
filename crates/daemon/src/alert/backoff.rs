//! Retry schedule (pure): exponential from `initial`, capped at `max`, with "equal jitter"
//! (half fixed, half random) so retries from many daemons do not hit a recovering receiver
//! in lockstep, yet never collapse to zero.

use std::time::Duration;

/// Delay before retry number `attempt` (0 = first retry). `unit` is a random number in
/// `[0, 1)` supplied by the caller, which keeps this function deterministic under test.
pub fn delay(attempt: u32, initial: Duration, max: Duration, unit: f64) -> Duration {
    let factor = 2u32.saturating_pow(attempt.min(31));
    let base = initial.saturating_mul(factor).min(max);
    let unit = if unit.is_finite() {
        unit.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let half = base / 2;
    half + half.mul_f64(unit)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn schedule_table() {
        let max = Duration::from_secs(60);
        // (attempt, unit, expected)
        let rows = [
            (0, 0.0, Duration::from_millis(500)),
            (0, 1.0, S),
            (1, 0.0, S),
            (1, 0.5, Duration::from_millis(1500)),
            (2, 1.0, Duration::from_secs(4)),
            (5, 1.0, Duration::from_secs(32)),
            (6, 1.0, max),
            (6, 0.0, Duration::from_secs(30)),
            (31, 1.0, max),
            (u32::MAX, 1.0, max),
            (0, f64::NAN, Duration::from_millis(500)),
            (0, -3.0, Duration::from_millis(500)),
            (0, 7.0, S),
        ];
        for (attempt, unit, want) in rows {
            assert_eq!(
                delay(attempt, S, max, unit),
                want,
                "attempt {attempt} unit {unit}"
            );
        }
    }

    #[test]
    fn monotonic_bounds() {
        let max = Duration::from_secs(60);
        for a in 0..40 {
            let lo = delay(a, S, max, 0.0);
            let hi = delay(a, S, max, 0.999);
            assert!(lo <= hi && hi <= max && lo >= Duration::from_millis(500));
            assert!(delay(a + 1, S, max, 0.0) >= lo);
        }
    }
}
