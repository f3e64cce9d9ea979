//! `run` mode: a policy change through the lab's admin API flips the breach metric within one
//! interval, and /readyz turns ready after the first round.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_credential_types::Credentials;
use iot_canary::config;
use iot_canary::daemon::live::Live;
use iot_canary::daemon::service::{Control, Rounds, Service};
use iot_canary::daemon::{self, Daemon, FixedIdentity, IdentityCreds, IdentitySource, Shard};
use iot_canary::lab::{self, LabConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ARN: &str = "arn:aws:iot:us-east-1:123456789012";

fn scenario() -> String {
    format!(
        r#"region = "us-east-1"
account_id = "123456789012"

[policies]
Witness = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"*"}}]}}'''
Dev = '''{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:Connect","Resource":"{ARN}:client/dev-*"}},{{"Effect":"Allow","Action":"iot:Subscribe","Resource":"{ARN}:topicfilter/devices/dev-lamp/*"}}]}}'''

[[iam_user]]
name = "ops"
access_key_id = "AKIALABOPS0000000001"
secret_access_key = "lab-secret-ops"
policies = ["Witness"]

[[iam_user]]
name = "dev"
access_key_id = "AKIALABDEV0000000001"
secret_access_key = "lab-secret-dev"
policies = ["Dev"]
"#
    )
}

/// Minimal HTTP/1.0 GET (loopback only) returning status line + body.
async fn get(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_policy_change_flips_breach_metric_within_one_interval() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = lab::scenario::parse(&scenario(), "run-test", dir.path()).unwrap();
    let mut lc = LabConfig::new(loaded);
    lc.ca_file = Some(dir.path().join("ca.pem"));
    let lab = lab::start(lc).await.unwrap();

    let text = format!(
        r#"[target]
region = "us-east-1"
endpoint = "{}"
ca_file = "{}"
client_id = "${{identity}}-${{canary}}"

[schedule]
interval = "1s"
jitter = "0%"
timeout = "1s"
connect_interval = "10ms"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "UNUSED"
secret_access_key_env = "UNUSED"

[[canary]]
name = "dev-own"
identity = "dev"
action = "subscribe"
topic_filter = "devices/dev-lamp/#"
expect = "allow"

[[canary]]
name = "dev-other"
identity = "dev"
action = "subscribe"
topic_filter = "devices/other/#"
"#,
        lab.endpoints.mqtt, lab.endpoints.ca_file
    );
    let cfg = config::parse(Path::new("run.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = daemon::endpoint(&cfg).unwrap();
    let mut ids: BTreeMap<String, Arc<dyn IdentitySource>> = BTreeMap::new();
    ids.insert(
        "dev".into(),
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(
                "AKIALABDEV0000000001",
                "lab-secret-dev",
                None,
                None,
                "t",
            ),
            identity_id: None,
            username: None,
        })),
    );
    let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL));
    let live = Live::without_alerts(d.config.clone(), d.store.clone());
    let addr = iot_canary::observe::http::serve_live("127.0.0.1:0".parse().unwrap(), live.clone())
        .await
        .unwrap();
    let breach_line =
        "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}";
    let m = get(addr, "/metrics").await;
    assert!(
        m.contains(&format!("{breach_line} 0")),
        "initialised before any probe:\n{m}"
    );

    let (stop_tx, stop_rx) = tokio::sync::mpsc::channel(1);
    let mut svc = Service::new(live, &d, Rounds::Forever);
    svc.grace = Duration::from_secs(5);
    let runner = tokio::spawn(svc.run(d.clone(), stop_rx));

    // Wait (bounded) for the first round: ready, tight, breach 0.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !get(addr, "/readyz").await.contains("200") {
        assert!(Instant::now() < deadline, "never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        get(addr, "/metrics")
            .await
            .contains(&format!("{breach_line} 0"))
    );

    // Open the hole through the admin API.
    let hole = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"iot:*","Resource":"{ARN}:*"}}]}}"#
    );
    let admin: std::net::SocketAddr = lab
        .endpoints
        .admin
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let mut s = tokio::net::TcpStream::connect(admin).await.unwrap();
    s.write_all(
        format!(
            "PUT /policies/Dev HTTP/1.0\r\nHost: x\r\nContent-Length: {}\r\n\r\n{hole}",
            hole.len()
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).await.unwrap();
    assert!(
        resp.starts_with("HTTP/1.0 204") || resp.starts_with("HTTP/1.1 204"),
        "{resp}"
    );
    let changed = Instant::now();

    // Within one interval (1s) plus one round's duration (timeout 1s) plus slack for a loaded
    // machine, the breach metric must read 1.
    loop {
        if get(addr, "/metrics")
            .await
            .contains(&format!("{breach_line} 1"))
        {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(20),
            "breach metric never flipped"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let flipped_after = changed.elapsed();
    eprintln!(
        "breach metric flipped {} ms after the admin change",
        flipped_after.as_millis()
    );
    let _ = stop_tx.send(Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(20), runner)
        .await
        .expect("run mode shuts down")
        .unwrap();
    lab.shutdown().await;
}

/// Shutdown with probes stuck in flight (the lab stalls every upgrade): at the drain deadline
/// they are abandoned as `inconclusive(aborted)`, and that round is recorded, not lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_abandoned_at_the_drain_deadline_are_recorded_as_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = lab::scenario::parse(&scenario(), "abort-test", dir.path()).unwrap();
    let mut lc = LabConfig::new(loaded);
    lc.ca_file = Some(dir.path().join("ca.pem"));
    let lab = lab::start(lc).await.unwrap();
    lab.state().set_faults(iot_canary::lab::state::Faults {
        stall: true,
        ..Default::default()
    });
    let text = format!(
        r#"[target]
region = "us-east-1"
endpoint = "{}"
ca_file = "{}"
client_id = "${{identity}}-${{canary}}"

[schedule]
interval = "60s"
timeout = "60s"

[[identity]]
name = "dev"
kind = "static"
access_key_id_env = "UNUSED"
secret_access_key_env = "UNUSED"

[[canary]]
name = "dev-own"
identity = "dev"
action = "subscribe"
topic_filter = "devices/dev-lamp/#"
expect = "allow"

[[canary]]
name = "dev-other"
identity = "dev"
action = "subscribe"
topic_filter = "devices/other/#"
"#,
        lab.endpoints.mqtt, lab.endpoints.ca_file
    );
    let cfg = config::parse(Path::new("abort.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
    let endpoint = daemon::endpoint(&cfg).unwrap();
    let mut ids: BTreeMap<String, Arc<dyn IdentitySource>> = BTreeMap::new();
    ids.insert(
        "dev".into(),
        Arc::new(FixedIdentity(IdentityCreds {
            credentials: Credentials::new(
                "AKIALABDEV0000000001",
                "lab-secret-dev",
                None,
                None,
                "t",
            ),
            identity_id: None,
            username: None,
        })),
    );
    let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL));
    let (stop_tx, stop_rx) = tokio::sync::mpsc::channel(1);
    let (seen_tx, mut seen_rx) = tokio::sync::mpsc::unbounded_channel();
    let mut svc = Service::new(
        Live::without_alerts(d.config.clone(), d.store.clone()),
        &d,
        Rounds::Forever,
    );
    svc.grace = Duration::from_millis(500);
    svc.on_verdict = Arc::new(move |r: &daemon::CanaryReport| {
        let _ = seen_tx.send(r.clone());
    });
    let runner = tokio::spawn(svc.run(d.clone(), stop_rx));
    // Wait until the deny probe is stuck on the stalled upgrade (its control is queued behind
    // it: controls run after the denials they confirm).
    let deadline = Instant::now() + Duration::from_secs(30);
    while d.pool.connects() < 1 {
        assert!(Instant::now() < deadline, "probes never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = Instant::now();
    let _ = stop_tx.send(Control::Stop).await;
    tokio::time::timeout(Duration::from_secs(20), runner)
        .await
        .expect("run mode stops after the drain deadline")
        .unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(10),
        "took {:?}",
        stopped.elapsed()
    );
    let mut seen = Vec::new();
    while let Ok(r) = seen_rx.try_recv() {
        seen.push(r);
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    let snap = d.store.snapshot();
    for name in ["dev-own", "dev-other"] {
        let r = &snap.latest[name];
        assert_eq!(
            r.verdict,
            iot_canary::verdict::Verdict::Inconclusive(iot_canary::verdict::Reason::Aborted),
            "{name}: {r:?}"
        );
        assert!(
            r.evidence
                .steps
                .iter()
                .any(|s| s.what.contains("drain deadline")),
            "{r:?}"
        );
    }
    assert_eq!(snap.rounds, 1);
    lab.shutdown().await;
}
