//! The seeded random streams realism draws from. One stream per connection, derived from
//! (seed, client id, how many times that client id connected before): the same scripted run
//! under the same seed makes the same choices, whatever other connections do concurrently.
//! ChaCha8 because its output is fixed by its specification (rand's `StdRng` may change
//! between releases).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

/// A connection's random stream.
#[derive(Debug, Clone)]
pub struct ConnRng(ChaCha8Rng);

impl ConnRng {
    pub fn new(seed: u64, client_id: &str, nth_connect: u64) -> ConnRng {
        let mut h = Sha256::new();
        h.update(seed.to_be_bytes());
        h.update(nth_connect.to_be_bytes());
        h.update(client_id.as_bytes());
        ConnRng(ChaCha8Rng::from_seed(h.finalize().into()))
    }

    /// True with probability `p`. Draws nothing for 0 or 1, so a knob set to "never" or
    /// "always" leaves the other knobs' draws where they were.
    pub fn chance(&mut self, p: f64) -> bool {
        if p <= 0.0 {
            false
        } else if p >= 1.0 {
            true
        } else {
            self.0.random::<f64>() < p
        }
    }

    /// Uniform in `[0, n)`; 0 for `n == 0`.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 { 0 } else { self.0.random_range(0..n) }
    }

    /// Uniform in `[lo, hi]` nanoseconds.
    pub fn nanos(&mut self, lo: u128, hi: u128) -> u128 {
        if hi <= lo {
            lo
        } else {
            // Durations in a lab fit u64 nanoseconds (584 years).
            let (lo, hi) = (
                lo.min(u64::MAX as u128) as u64,
                hi.min(u64::MAX as u128) as u64,
            );
            u128::from(self.0.random_range(lo..=hi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_inputs_same_stream_different_inputs_differ() {
        let draw = |seed, id: &str, n| {
            let mut r = ConnRng::new(seed, id, n);
            (0..8).map(|_| r.below(1_000_000)).collect::<Vec<_>>()
        };
        assert_eq!(draw(1, "a", 0), draw(1, "a", 0));
        assert_ne!(draw(1, "a", 0), draw(2, "a", 0));
        assert_ne!(draw(1, "a", 0), draw(1, "b", 0));
        assert_ne!(draw(1, "a", 0), draw(1, "a", 1));
    }

    #[test]
    fn certain_and_impossible_events_draw_nothing() {
        let mut a = ConnRng::new(1, "a", 0);
        let mut b = ConnRng::new(1, "a", 0);
        assert!(a.chance(1.0));
        assert!(!a.chance(0.0));
        assert_eq!(a.below(100), b.below(100));
    }
}
