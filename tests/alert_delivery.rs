//! Notifier delivery end to end against an in-test HTTP receiver on loopback: the state
//! machine is driven with explicit `now` values (no sleeps); the receiver records requests.

mod alert_support;

use std::time::Duration;

use alert_support::{Answer, Receiver, WAIT, at, settings};
use iot_canary::alert::delivery::Dispatcher;
use iot_canary::alert_core::{AlertState, CanaryResult, Notification};
use iot_canary::config::alerting::AlertingConfig;
use iot_canary::verdict::{Expect, ProbeAction, Reason, Standing, Verdict};

fn observe(st: &mut AlertState, standing: Standing, t: u64) -> Vec<Notification> {
    let (expect, verdict) = match standing {
        Standing::Ok => (Expect::Deny, Verdict::Denied),
        Standing::Breach => (Expect::Deny, Verdict::Allowed),
        Standing::Blind => (Expect::Deny, Verdict::Inconclusive(Reason::Timeout)),
        Standing::ControlFailed => (Expect::Allow, Verdict::Denied),
    };
    let ev = vec![format!("{standing:?} evidence at +{t}s")];
    st.observe(
        &CanaryResult {
            canary: "alice-cannot-subscribe-to-bobs-lamp",
            identity: "alice",
            action: ProbeAction::Subscribe,
            expect,
            verdict,
            standing,
            evidence: &ev,
        },
        at(t),
    )
}

fn alerting() -> AlertingConfig {
    AlertingConfig {
        dashboard_url: Some("http://grafana.example/d/iot-canary".into()),
        ..AlertingConfig::default()
    }
}

fn webhook(url: &str, extra: &str) -> String {
    format!(
        "[[notifier]]\nname = \"hook\"\nkind = \"webhook\"\nurl = \"{url}\"\nretry_initial = \"1ms\"\nretry_max = \"5ms\"\n{extra}\n"
    )
}

#[tokio::test]
async fn webhook_fire_dedup_repeat_resolve() {
    let mut rx = Receiver::start(vec![]).await;
    let d = Dispatcher::start(&settings(
        &webhook(&rx.url("/hook"), "token_env = \"HOOK_TOKEN\""),
        &[("HOOK_TOKEN", "s3cret-token")],
    ))
    .unwrap();
    let mut st = AlertState::new(&alerting());

    d.submit(&observe(&mut st, Standing::Breach, 0));
    let fire = rx.next().await;
    assert_eq!(fire.path, "/hook");
    assert_eq!(fire.authorization.as_deref(), Some("Bearer s3cret-token"));
    let b = &fire.body;
    assert_eq!(b["schema"], "iot-canary.alert.v1");
    assert_eq!(b["status"], "firing");
    assert_eq!(b["notification"], "fire");
    assert_eq!(b["canary"], "alice-cannot-subscribe-to-bobs-lamp");
    assert_eq!(b["identity"], "alice");
    assert_eq!(b["action"], "subscribe");
    assert_eq!(b["standing"], "breach");
    assert_eq!(b["verdict"], "allowed");
    assert_eq!(b["severity"], "critical");
    assert_eq!(b["evidence"][0], "Breach evidence at +0s");
    assert_eq!(b["dashboard_url"], "http://grafana.example/d/iot-canary");
    let fp = b["fingerprint"].as_str().unwrap().to_string();

    // Unchanged standing: nothing to send (dedup), until the 4 h repeat interval passes.
    for t in [60, 120, 4 * 3600 - 1] {
        assert!(
            observe(&mut st, Standing::Breach, t).is_empty(),
            "dedup at +{t}s"
        );
    }
    d.submit(&observe(&mut st, Standing::Breach, 4 * 3600));
    let rep = rx.next().await;
    assert_eq!(rep.body["notification"], "repeat");
    assert_eq!(rep.body["fingerprint"], fp.as_str());
    // A repeat carries the latest evidence, not the first.
    assert_eq!(
        rep.body["evidence"][0],
        format!("Breach evidence at +{}s", 4 * 3600)
    );

    d.submit(&observe(&mut st, Standing::Ok, 4 * 3600 + 60));
    let res = rx.next().await;
    assert_eq!(res.body["status"], "resolved");
    assert_eq!(res.body["fingerprint"], fp.as_str());
    assert_eq!(res.body["standing"], "ok");
    assert!(res.body["ends_at"].is_string());

    assert!(d.drain(WAIT).await);
    assert!(rx.drain_now().is_empty(), "exactly three requests");
    let s = d.stats();
    let h = s.get("hook").unwrap();
    assert_eq!((h.success, h.failure, h.dropped), (3, 0, 0));
    let triples: Vec<_> = s.sent_total().collect();
    assert_eq!(
        triples,
        [
            ("hook", "success", 3),
            ("hook", "failure", 0),
            ("hook", "dropped", 0)
        ]
    );
}

#[tokio::test]
async fn blind_fires_after_two_rounds_as_warning() {
    let mut rx = Receiver::start(vec![]).await;
    let d = Dispatcher::start(&settings(&webhook(&rx.url("/"), ""), &[])).unwrap();
    let mut st = AlertState::new(&alerting());
    assert!(observe(&mut st, Standing::Blind, 0).is_empty());
    d.submit(&observe(&mut st, Standing::Blind, 60));
    let r = rx.next().await;
    assert_eq!(r.body["alertname"], "IotCanaryBlind");
    assert_eq!(r.body["severity"], "warning");
    assert_eq!(r.body["reason"], "timeout");
}

#[tokio::test]
async fn retry_after_500_delivers_and_counts_the_failure() {
    let mut rx = Receiver::start(vec![Answer::Status(500)]).await;
    let d = Dispatcher::start(&settings(&webhook(&rx.url("/"), ""), &[])).unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    let first = rx.next().await;
    let second = rx.next().await;
    assert_eq!(first.body, second.body, "the retry re-sends the same alert");
    assert!(d.drain(WAIT).await);
    let h = d.stats().get("hook").cloned().unwrap();
    assert_eq!((h.success, h.failure, h.dropped), (1, 1, 0));
}

#[tokio::test]
async fn client_error_is_not_retried() {
    let mut rx = Receiver::start(vec![Answer::Status(400)]).await;
    let d = Dispatcher::start(&settings(&webhook(&rx.url("/"), ""), &[])).unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    rx.next().await;
    assert!(d.drain(WAIT).await);
    assert!(rx.drain_now().is_empty(), "a 400 is final");
    let h = d.stats().get("hook").cloned().unwrap();
    assert_eq!((h.success, h.failure), (0, 1));
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let mut rx = Receiver::start(vec![Answer::Status(503); 10]).await;
    let d = Dispatcher::start(&settings(&webhook(&rx.url("/"), "max_retries = 2"), &[])).unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    assert!(d.drain(WAIT).await);
    assert_eq!(rx.drain_now().len(), 3, "1 attempt + 2 retries");
    let h = d.stats().get("hook").cloned().unwrap();
    assert_eq!((h.success, h.failure), (0, 3));
}

#[tokio::test]
async fn queue_stays_bounded_when_the_receiver_stalls() {
    let mut rx = Receiver::start(vec![Answer::Stall]).await;
    let d = Dispatcher::start(&settings(
        &webhook(&rx.url("/"), "queue_size = 4\ntimeout = \"10m\""),
        &[],
    ))
    .unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    // The worker now holds that one in flight, stuck on the stalled receiver.
    rx.next().await;
    let started = std::time::Instant::now();
    for i in 0..50 {
        let ev = vec![format!("e{i}")];
        let name = format!("canary-{i}");
        let n = st.observe(
            &CanaryResult {
                canary: &name,
                identity: "bob",
                action: ProbeAction::Publish,
                expect: Expect::Deny,
                verdict: Verdict::Allowed,
                standing: Standing::Breach,
                evidence: &ev,
            },
            at(1),
        );
        d.submit(&n);
        let s = d.stats();
        assert!(
            s.get("hook").unwrap().queued <= 4,
            "queue exceeded its bound"
        );
    }
    // submit never waited on the stalled receiver.
    assert!(started.elapsed() < Duration::from_secs(5));
    let h = d.stats().get("hook").cloned().unwrap();
    assert_eq!(h.queue_capacity, 4);
    assert_eq!(h.queued, 4);
    assert_eq!(h.queue_high_water, 4);
    assert_eq!(h.dropped, 46);
    assert_eq!(h.success, 0);
    assert!(!d.drain(Duration::from_millis(50)).await, "still stalled");
}

#[tokio::test]
async fn resolves_are_skipped_when_send_resolved_is_false() {
    let mut rx = Receiver::start(vec![]).await;
    let d = Dispatcher::start(&settings(
        &webhook(&rx.url("/"), "send_resolved = false"),
        &[],
    ))
    .unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    d.submit(&observe(&mut st, Standing::Ok, 60));
    assert!(d.drain(WAIT).await);
    let got = rx.drain_now();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["status"], "firing");
}

#[tokio::test]
async fn slack_body_and_fan_out_to_every_notifier() {
    let mut slack_rx = Receiver::start(vec![]).await;
    let mut am_rx = Receiver::start(vec![]).await;
    let cfg = format!(
        "[[notifier]]\nname = \"slack\"\nkind = \"slack\"\nurl_env = \"SLACK_URL\"\n\
         [[notifier]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\n",
        am_rx.url("")
    );
    let slack_url = slack_rx.url("/services/T000/B000/XXXX");
    let d = Dispatcher::start(&settings(&cfg, &[("SLACK_URL", &slack_url)])).unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    let s = slack_rx.next().await;
    assert_eq!(s.path, "/services/T000/B000/XXXX");
    let text = s.body["text"].as_str().unwrap();
    assert!(text.contains("[FIRING]") && text.contains("alice-cannot-subscribe-to-bobs-lamp"));
    assert!(s.body["blocks"].as_array().unwrap().len() >= 3);
    assert!(s.body.to_string().contains("Breach evidence at +0s"));
    let a = am_rx.next().await;
    assert_eq!(a.path, "/api/v2/alerts");
    assert_eq!(a.body[0]["labels"]["alertname"], "IotCanaryBreach");
    assert_eq!(
        a.body[0]["labels"]["canary"],
        "alice-cannot-subscribe-to-bobs-lamp"
    );
    assert_eq!(
        a.body[0]["annotations"]["evidence"],
        "Breach evidence at +0s"
    );
    let stats = d.stats();
    assert_eq!(stats.notifiers.len(), 2);
}

#[tokio::test]
async fn alertmanager_firing_alerts_are_reposted_before_they_expire() {
    let mut rx = Receiver::start(vec![]).await;
    let cfg = format!(
        "[[notifier]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"{}\"\nresend_interval = \"100ms\"\n",
        rx.url("")
    );
    let d = Dispatcher::start(&settings(&cfg, &[])).unwrap();
    let mut st = AlertState::new(&alerting());
    d.submit(&observe(&mut st, Standing::Breach, 0));
    let first = rx.next().await;
    // No new observation: the worker alone must refresh the alert.
    let again = rx.next().await;
    assert_eq!(again.body[0]["labels"], first.body[0]["labels"]);
    assert_eq!(again.body[0]["startsAt"], first.body[0]["startsAt"]);
    // After the resolve, refreshing stops: the resolve is the last word.
    d.submit(&observe(&mut st, Standing::Ok, 60));
    loop {
        let r = rx.next().await;
        if r.body[0]["annotations"]["evidence"] == "Ok evidence at +60s" {
            break;
        }
    }
    assert!(d.drain(WAIT).await);
}
