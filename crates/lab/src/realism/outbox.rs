//! A connection's scheduled outbound packets: what [`super::decide::shape_outbound`] planned,
//! released when due. Pure data (time passed in); the session sleeps until
//! [`Outbox::next_due`] and sends what [`Outbox::take_due`] returns.

use std::time::Instant;

use crate::broker::codec::Outbound;

/// One packet and when it may go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// Not before this.
    pub due: Instant,
    /// Reordering: held back until another (not held) packet of the connection has gone, or
    /// until this deadline.
    pub hold_until: Option<Instant>,
    /// Send with a fresh packet id (a QoS 1 redelivery).
    pub fresh_pkid: bool,
    pub packet: Outbound,
}

impl Planned {
    pub fn now(now: Instant, packet: Outbound) -> Planned {
        Planned {
            due: now,
            hold_until: None,
            fresh_pkid: false,
            packet,
        }
    }

    /// The latest time this packet goes out.
    fn deadline(&self) -> Instant {
        self.hold_until.unwrap_or(self.due)
    }
}

#[derive(Debug, Default)]
pub struct Outbox {
    items: Vec<(u64, Planned)>,
    seq: u64,
}

impl Outbox {
    pub fn push(&mut self, p: Planned) {
        self.seq += 1;
        self.items.push((self.seq, p));
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// When the next packet becomes sendable on its own.
    pub fn next_due(&self) -> Option<Instant> {
        self.items.iter().map(|(_, p)| p.deadline()).min()
    }

    /// The packets to send at `now`, in order: every packet whose time has come, by due time
    /// then by when it was planned; if one of them was not held, every held packet that is due
    /// follows it (it has now been overtaken).
    pub fn take_due(&mut self, now: Instant) -> Vec<Planned> {
        let (mut ready, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.items)
            .into_iter()
            .partition(|(_, p)| p.deadline() <= now);
        self.items = rest;
        ready.sort_by_key(|(seq, p)| (p.deadline(), *seq));
        if ready.iter().any(|(_, p)| p.hold_until.is_none()) {
            let (released, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.items)
                .into_iter()
                .partition(|(_, p)| p.hold_until.is_some() && p.due <= now);
            self.items = still;
            ready.extend(released);
        }
        ready.into_iter().map(|(_, p)| p).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ack(pkid: u16) -> Outbound {
        Outbound::PubAck { pkid, code: 0 }
    }

    fn pkids(v: &[Planned]) -> Vec<u16> {
        v.iter()
            .map(|p| match p.packet {
                Outbound::PubAck { pkid, .. } => pkid,
                _ => 0,
            })
            .collect()
    }

    #[test]
    fn due_packets_go_in_time_then_plan_order() {
        let t = Instant::now();
        let mut o = Outbox::default();
        o.push(Planned {
            due: t + Duration::from_millis(10),
            ..Planned::now(t, ack(1))
        });
        o.push(Planned::now(t, ack(2)));
        o.push(Planned::now(t, ack(3)));
        assert_eq!(pkids(&o.take_due(t)), vec![2, 3]);
        assert_eq!(o.next_due(), Some(t + Duration::from_millis(10)));
        assert!(o.take_due(t + Duration::from_millis(9)).is_empty());
        assert_eq!(pkids(&o.take_due(t + Duration::from_millis(10))), vec![1]);
        assert!(o.is_empty());
    }

    #[test]
    fn a_held_packet_goes_after_the_next_one_or_at_its_deadline() {
        let t = Instant::now();
        let w = Duration::from_secs(1);
        let mut o = Outbox::default();
        o.push(Planned {
            hold_until: Some(t + w),
            ..Planned::now(t, ack(1))
        });
        assert!(
            o.take_due(t).is_empty(),
            "held until something overtakes it"
        );
        o.push(Planned::now(t, ack(2)));
        assert_eq!(pkids(&o.take_due(t)), vec![2, 1]);
        o.push(Planned {
            hold_until: Some(t + w),
            ..Planned::now(t, ack(3))
        });
        assert_eq!(
            pkids(&o.take_due(t + w)),
            vec![3],
            "the window ends the hold"
        );
    }
}
