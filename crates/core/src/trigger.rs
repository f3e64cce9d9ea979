//! Rounds on demand. A trigger (`POST /-/probe`, SIGUSR1) starts a *watch*: rounds every
//! `[trigger] every` for at least `[trigger] watch`, because AWS takes minutes to apply a
//! policy change and two agreeing rounds right after it prove nothing. A trigger during a
//! watch extends it. At most one round runs and one waits: triggers that arrive while a round
//! is already waiting join it.
//!
//! [`Watch`] is the decision logic only, pure over the instants it is given; the service loop
//! (daemon `service.rs`) owns the clock, the sleeping and the rounds.

use std::time::{Duration, Instant};

/// What started a round (`iot_canary_rounds_total{trigger}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Trigger {
    /// The `[schedule] interval` (and the first round after start).
    Interval,
    /// `POST /-/probe`.
    Http,
    /// SIGUSR1.
    Signal,
}

impl Trigger {
    /// Every value, in the order the metric lists them.
    pub const ALL: [Trigger; 3] = [Trigger::Interval, Trigger::Http, Trigger::Signal];

    pub const fn label(self) -> &'static str {
        match self {
            Trigger::Interval => "interval",
            Trigger::Http => "http",
            Trigger::Signal => "signal",
        }
    }

    /// Index into per-trigger counters ([`Trigger::ALL`] order).
    pub const fn index(self) -> usize {
        match self {
            Trigger::Interval => 0,
            Trigger::Http => 1,
            Trigger::Signal => 2,
        }
    }
}

impl std::fmt::Display for Trigger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.label())
    }
}

/// What became of one trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// No round was running or waiting: one starts now.
    Starting,
    /// A round is running: this one waits and starts when it ends.
    Queued,
    /// A round already waits: the trigger joins it (the watch is still extended).
    Joined,
    /// The daemon is stopping: no round starts.
    Stopping,
}

impl Accepted {
    pub const fn label(self) -> &'static str {
        match self {
            Accepted::Starting => "starting",
            Accepted::Queued => "queued",
            Accepted::Joined => "joined",
            Accepted::Stopping => "stopping",
        }
    }
}

/// The watch window and the one waiting round.
#[derive(Debug, Clone)]
pub struct Watch {
    every: Duration,
    length: Duration,
    /// Rounds come every `every` until this instant.
    until: Option<Instant>,
    /// The latest trigger: watch rounds are marked with it.
    by: Trigger,
    running: bool,
    waiting: Option<Trigger>,
    stopping: bool,
}

impl Watch {
    pub fn new(every: Duration, length: Duration) -> Self {
        Watch {
            every,
            length,
            until: None,
            by: Trigger::Interval,
            running: false,
            waiting: None,
            stopping: false,
        }
    }

    /// A reload's new `[trigger]` settings; a watch in progress keeps its end.
    pub fn set(&mut self, every: Duration, length: Duration) {
        self.every = every;
        self.length = length;
    }

    /// A trigger at `now`: starts or extends the watch, and starts a round or joins the
    /// waiting one.
    pub fn trigger(&mut self, t: Trigger, now: Instant) -> Accepted {
        if self.stopping {
            return Accepted::Stopping;
        }
        let end = now + self.length;
        self.until = Some(self.until.map_or(end, |u| u.max(end)));
        self.by = t;
        if self.waiting.is_some() {
            return Accepted::Joined;
        }
        self.waiting = Some(t);
        if self.running {
            Accepted::Queued
        } else {
            Accepted::Starting
        }
    }

    /// After a round, or woken during a pause: how long until the next round and what it will
    /// be marked with, given `interval_left` until the scheduled one.
    pub fn next(&self, now: Instant, interval_left: Duration) -> (Duration, Trigger) {
        if let Some(t) = self.waiting {
            return (Duration::ZERO, t);
        }
        match self.until {
            Some(u) if now < u && self.every < interval_left => (self.every, self.by),
            _ => (interval_left, Trigger::Interval),
        }
    }

    /// A round starts that was planned as `planned`; a waiting trigger takes its place.
    pub fn begin(&mut self, planned: Trigger) -> Trigger {
        self.running = true;
        self.waiting.take().unwrap_or(planned)
    }

    /// The round ended.
    pub fn end(&mut self) {
        self.running = false;
    }

    /// A stop arrived: later triggers start nothing, and a waiting round is dropped.
    pub fn stop(&mut self) {
        self.stopping = true;
        self.waiting = None;
    }

    /// When the watch ends, if one is on at `now`.
    pub fn until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|u| now < *u)
    }

    /// Whether a round waits to start.
    pub fn waiting(&self) -> bool {
        self.waiting.is_some()
    }
}

/// Whether `once --settle` may stop after a round that ended `elapsed` after the first began:
/// rounds go on for at least `min` (AWS applies a policy change within 6–8 minutes, so rounds
/// that agree before then prove nothing), then until two consecutive rounds agree (`agree`),
/// for at most `budget` more.
pub fn settle_done(agree: bool, elapsed: Duration, min: Duration, budget: Duration) -> bool {
    elapsed >= min + budget || (agree && elapsed >= min)
}

/// How long `once --settle` may still run after `elapsed` (see [`settle_done`]).
pub fn settle_left(elapsed: Duration, min: Duration, budget: Duration) -> Duration {
    (min + budget).saturating_sub(elapsed)
}

#[cfg(test)]
mod tests;
