//! What realism keeps per connection: its random stream, its outbound shaping state and the
//! times drawn at CONNECT (lifetime cap, server disconnect, takeover).

use std::time::Instant;

use super::Realism;
use super::decide::{self, Shaping};
use super::rng::ConnRng;

#[derive(Debug)]
pub struct ConnRealism {
    pub rng: ConnRng,
    pub shaping: Shaping,
    /// The connection closes at its next send (either direction) from this time on.
    pub expires_at: Option<Instant>,
    /// The server ends the connection at this time with this DISCONNECT code.
    pub disconnect_at: Option<(Instant, u8)>,
    /// Another process takes the client id over at this time (cleared once it did).
    pub takeover_at: Option<Instant>,
}

impl ConnRealism {
    /// Draws a connection's plan from its stream, seeded by (`r.seed`, client id, how many
    /// times the client id connected before).
    pub fn new(r: &Realism, client_id: &str, nth_connect: u64, now: Instant) -> ConnRealism {
        let mut rng = ConnRng::new(r.seed, client_id, nth_connect);
        let plan = decide::plan_connection(r, &mut rng);
        ConnRealism {
            rng,
            shaping: Shaping::new(plan.base_latency),
            expires_at: plan.lifetime.map(|d| now + d),
            disconnect_at: plan.disconnect.map(|(d, code)| (now + d, code)),
            takeover_at: plan.takeover.map(|d| now + d),
        }
    }

    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|t| now >= t)
    }
}
