use super::*;

const EVERY: Duration = Duration::from_secs(30);
const WATCH: Duration = Duration::from_secs(600);
const HOUR: Duration = Duration::from_secs(3600);

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn without_triggers_rounds_follow_the_interval() {
    let w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    assert_eq!(w.next(t0, HOUR), (HOUR, Trigger::Interval));
    assert_eq!(w.until(t0), None);
}

#[test]
fn a_trigger_starts_a_round_now_then_rounds_every_every_for_the_watch() {
    let mut w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    assert_eq!(w.trigger(Trigger::Http, t0), Accepted::Starting);
    assert_eq!(w.next(t0, HOUR), (Duration::ZERO, Trigger::Http));
    assert_eq!(w.begin(Trigger::Interval), Trigger::Http);
    w.end();
    assert!(!w.waiting());
    // Inside the watch: every 30 s, marked with the trigger.
    assert_eq!(w.next(t0 + s(1), HOUR), (EVERY, Trigger::Http));
    assert_eq!(w.next(t0 + s(599), HOUR), (EVERY, Trigger::Http));
    assert_eq!(w.until(t0 + s(599)), Some(t0 + WATCH));
    // After it: the interval again.
    assert_eq!(w.next(t0 + s(600), HOUR), (HOUR, Trigger::Interval));
    assert_eq!(w.until(t0 + s(600)), None);
    // An interval sooner than `every` wins and is marked as the interval's.
    assert_eq!(w.next(t0 + s(1), s(10)), (s(10), Trigger::Interval));
}

#[test]
fn a_trigger_during_a_watch_extends_it() {
    let mut w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    w.trigger(Trigger::Http, t0);
    w.begin(Trigger::Interval);
    w.end();
    assert_eq!(w.trigger(Trigger::Signal, t0 + s(300)), Accepted::Starting);
    assert_eq!(w.until(t0 + s(700)), Some(t0 + s(900)));
    w.begin(Trigger::Interval);
    w.end();
    assert_eq!(w.next(t0 + s(700), HOUR), (EVERY, Trigger::Signal));
    // An earlier end never shortens it.
    w.set(EVERY, s(10));
    w.trigger(Trigger::Http, t0 + s(701));
    assert_eq!(w.until(t0 + s(701)), Some(t0 + s(900)));
}

#[test]
fn a_burst_yields_one_running_and_at_most_one_waiting() {
    let mut w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    // Idle: the first starts, the rest join it before the loop picks it up.
    let first: Vec<_> = (0..20).map(|_| w.trigger(Trigger::Http, t0)).collect();
    assert_eq!(first[0], Accepted::Starting);
    assert!(
        first[1..].iter().all(|a| *a == Accepted::Joined),
        "{first:?}"
    );
    assert_eq!(w.begin(Trigger::Interval), Trigger::Http);
    // Running: one queues, the rest join it.
    let during: Vec<_> = (0..20).map(|_| w.trigger(Trigger::Signal, t0)).collect();
    assert_eq!(during[0], Accepted::Queued);
    assert!(during[1..].iter().all(|a| *a == Accepted::Joined));
    w.end();
    assert_eq!(w.next(t0, HOUR), (Duration::ZERO, Trigger::Signal));
    assert_eq!(w.begin(Trigger::Interval), Trigger::Signal);
    w.end();
    assert!(!w.waiting());
    assert_eq!(w.next(t0, HOUR).0, EVERY);
}

#[test]
fn a_waiting_round_takes_the_place_of_the_planned_one() {
    let mut w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    assert_eq!(w.begin(Trigger::Interval), Trigger::Interval);
    assert_eq!(w.trigger(Trigger::Http, t0), Accepted::Queued);
    w.end();
    assert_eq!(w.begin(Trigger::Interval), Trigger::Http);
}

#[test]
fn triggers_after_a_stop_start_nothing() {
    let mut w = Watch::new(EVERY, WATCH);
    let t0 = Instant::now();
    w.begin(Trigger::Interval);
    assert_eq!(w.trigger(Trigger::Http, t0), Accepted::Queued);
    w.stop();
    assert!(!w.waiting(), "the waiting round is dropped");
    assert_eq!(w.trigger(Trigger::Signal, t0), Accepted::Stopping);
    assert!(!w.waiting());
}

#[test]
fn labels_are_fixed() {
    let labels: Vec<_> = Trigger::ALL.iter().map(|t| t.label()).collect();
    assert_eq!(labels, ["interval", "http", "signal"]);
    for (i, t) in Trigger::ALL.iter().enumerate() {
        assert_eq!(t.index(), i);
    }
}

#[test]
fn settle_stops_on_agreement_only_after_the_minimum() {
    let m = |n: u64| Duration::from_secs(n * 60);
    // `--settle 5m --settle-min 10m`: agreeing rounds before 10 min do not end it.
    assert!(!settle_done(true, m(2), m(10), m(5)));
    assert!(settle_done(true, m(10), m(10), m(5)));
    // Disagreeing rounds go on for up to 5 min more.
    assert!(!settle_done(false, m(14), m(10), m(5)));
    assert!(settle_done(false, m(15), m(10), m(5)));
    assert_eq!(settle_left(m(12), m(10), m(5)), m(3));
    assert_eq!(settle_left(m(16), m(10), m(5)), Duration::ZERO);
    // A zero minimum: the first agreement ends it, within the budget.
    assert!(settle_done(true, m(1), Duration::ZERO, m(5)));
    assert!(settle_done(false, m(5), Duration::ZERO, m(5)));
}
