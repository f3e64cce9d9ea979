//! HTTPS delivery with an extra trust root (`ca_file`), refusal without it, and secrets kept
//! out of logs when delivery fails.

mod alert_support;

use alert_support::{Answer, LogCapture, Receiver, WAIT, at, private_ca_acceptor, settings};
use iot_canary::alert::delivery::Dispatcher;
use iot_canary::alert_core::{AlertState, CanaryResult, Notification};
use iot_canary::config::alerting::AlertingConfig;
use iot_canary::verdict::{Expect, ProbeAction, Standing, Verdict};

fn breach() -> Vec<Notification> {
    let mut st = AlertState::new(&AlertingConfig::default());
    let ev = vec!["CONNACK 0x00 for bob's client id".to_string()];
    st.observe(
        &CanaryResult {
            canary: "alice-cannot-connect-as-bob",
            identity: "alice",
            action: ProbeAction::Connect,
            expect: Expect::Deny,
            verdict: Verdict::Allowed,
            standing: Standing::Breach,
            evidence: &ev,
        },
        at(0),
    )
}

#[tokio::test]
async fn https_with_extra_ca_delivers_and_without_it_refuses() {
    let (ca_pem, acceptor) = private_ca_acceptor();
    let mut rx = Receiver::start_tls(vec![], acceptor).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, ca_pem).unwrap();
    let url = format!("https://127.0.0.1:{}/hook", rx.addr.port());
    let cfg = format!(
        "[[notifier]]\nname = \"trusted\"\nkind = \"webhook\"\nurl = \"{url}\"\nca_file = \"{}\"\n\
         [[notifier]]\nname = \"untrusted\"\nkind = \"webhook\"\nurl = \"{url}\"\nmax_retries = 0\n",
        ca.display()
    );
    let d = Dispatcher::start(&settings(&cfg, &[])).unwrap();
    d.submit(&breach());
    let got = rx.next().await;
    assert_eq!(got.path, "/hook");
    assert_eq!(got.body["canary"], "alice-cannot-connect-as-bob");
    assert!(d.drain(WAIT).await);
    assert!(
        rx.drain_now().is_empty(),
        "the untrusted notifier must not get through"
    );
    let s = d.stats();
    let t = s.get("trusted").unwrap();
    let u = s.get("untrusted").unwrap();
    assert_eq!((t.success, t.failure), (1, 0));
    assert_eq!((u.success, u.failure), (0, 1));
}

#[tokio::test]
async fn failing_slack_delivery_never_logs_the_webhook_url() {
    let logs = LogCapture::default();
    let _guard = logs.install();
    let mut rx = Receiver::start(vec![Answer::Status(500), Answer::Status(500)]).await;
    let secret_path = "/services/T0SECRET/B0SECRET/XXXXSECRETXXXX";
    let hook = rx.url(secret_path);
    let cfg = "[[notifier]]\nname = \"slack\"\nkind = \"slack\"\nurl_env = \"SLACK_WEBHOOK\"\n\
               max_retries = 1\nretry_initial = \"1ms\"\nretry_max = \"2ms\"\n";
    let d = Dispatcher::start(&settings(cfg, &[("SLACK_WEBHOOK", &hook)])).unwrap();
    d.submit(&breach());
    assert!(d.drain(WAIT).await);
    assert_eq!(rx.drain_now().len(), 2);
    assert_eq!(d.stats().get("slack").unwrap().failure, 2);
    let text = logs.text();
    assert!(text.contains("alert delivery failed, will retry"), "{text}");
    assert!(
        text.contains("giving up") && text.contains("HTTP status 500"),
        "{text}"
    );
    // Captured at TRACE, so hyper's own connection logs are included too. They name host and
    // port (public for Slack: hooks.slack.com); the credential is the path, which must not show.
    assert!(
        !text.contains("SECRET"),
        "webhook URL leaked into logs: {text}"
    );
}
