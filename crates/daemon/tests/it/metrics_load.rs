//! /metrics under 100 concurrent scrapes while rounds keep landing: every response is a
//! complete, well-formed exposition taken from one consistent snapshot.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use iot_canary_core::config;
use iot_canary_core::verdict::{Reason, Verdict};
use iot_canary_daemon::daemon::alerting::Alerting;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::{CanaryReport, Store};
use iot_canary_testkit::reports::report;

const CANARIES: usize = 200;

fn fleet_config(n: usize) -> config::Config {
    let mut t = String::from(
        "[target]\nregion = \"us-east-1\"\nendpoint = \"127.0.0.1:1\"\nclient_id = \"${identity}-${canary}\"\n\n[[identity]]\nname = \"dev\"\nkind = \"static\"\naccess_key_id_env = \"K\"\nsecret_access_key_env = \"S\"\n\n[[canary]]\nname = \"control\"\nidentity = \"dev\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev/#\"\nexpect = \"allow\"\n",
    );
    for i in 1..n {
        t.push_str(&format!(
            "\n[[canary]]\nname = \"c{i:04}\"\nidentity = \"dev\"\naction = \"subscribe\"\ntopic_filter = \"devices/c{i}/#\"\n"
        ));
    }
    crate::support::parse("fleet.toml", &t)
}

fn round(cfg: &config::Config, k: u64) -> Vec<CanaryReport> {
    cfg.canaries
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Rotate verdicts so the one-hot series keep moving under the scrapers.
            let verdict = match (i as u64 + k) % 3 {
                0 => Verdict::Denied,
                1 => Verdict::Allowed,
                _ => Verdict::Inconclusive(Reason::Timeout),
            };
            let mut r = report(c, verdict);
            r.started_at_unix_ms += k * 1000;
            r.duration_ms = 5 + i as u64 % 50;
            r.evidence.client_id = format!("dev-{}", c.name);
            r
        })
        .collect()
}

async fn scrape(addr: std::net::SocketAddr) -> String {
    iot_canary_testkit::net::get(addr, "/metrics").await.raw()
}

/// Checks one response; returns the number of completed rounds it reports.
fn check(resp: &str, cfg: &config::Config) -> u64 {
    let (head, body) = resp.split_once("\r\n\r\n").expect("head and body");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "{head}"
    );
    let len: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    assert_eq!(len, body.len(), "truncated body");
    let mut values: std::collections::HashMap<&str, &str> = Default::default();
    for l in body.lines() {
        if l.starts_with('#') {
            continue;
        }
        let (k, v) = l
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line {l:?}"));
        assert!(v.parse::<f64>().is_ok(), "bad value in {l:?}");
        assert!(values.insert(k, v).is_none(), "duplicate series {k}");
    }
    assert!(body.ends_with('\n'));
    // Per canary: 1 breach + 3 verdict + 3 probes + 12 inconclusive + last + blind = 21.
    let per_canary = 2 + 3 + 3 + Reason::ALL.len() + 1;
    assert!(
        values.len() >= cfg.canaries.len() * per_canary,
        "{} series",
        values.len()
    );
    // One snapshot per scrape: every canary has been probed the same number of times, and
    // exactly one verdict is hot per canary once a round has landed.
    let mut rounds = None;
    for c in &cfg.canaries {
        let mut total = 0u64;
        let mut hot = 0;
        for v in ["denied", "allowed", "inconclusive"] {
            let labels = format!(
                "{{canary=\"{}\",identity=\"dev\",action=\"subscribe\",verdict=\"{v}\"}}",
                c.name
            );
            total += values[format!("iot_canary_probes_total{labels}").as_str()]
                .parse::<u64>()
                .expect("probes_total is an integer");
            hot += usize::from(values[format!("iot_canary_verdict{labels}").as_str()] == "1");
        }
        match rounds {
            None => rounds = Some(total),
            Some(r) => assert_eq!(r, total, "torn snapshot at {}", c.name),
        }
        assert_eq!(hot, usize::from(total > 0), "one-hot broken for {}", c.name);
    }
    rounds.unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundred_concurrent_scrapes_stay_correct_while_rounds_land() {
    let cfg = Arc::new(fleet_config(CANARIES));
    let store = Arc::new(Store::default());
    let live = Arc::new(Live::new(
        cfg.clone(),
        store.clone(),
        Arc::new(Alerting::disabled()),
    ));
    let addr = iot_canary_daemon::observe::http::serve_live("127.0.0.1:0".parse().unwrap(), live)
        .await
        .unwrap();

    let writer = {
        let (cfg, store) = (cfg.clone(), store.clone());
        tokio::spawn(async move {
            for k in 0..200u64 {
                store.record(&round(&cfg, k), SystemTime::now());
                tokio::task::yield_now().await;
            }
        })
    };
    let scrapers: Vec<_> = (0..100).map(|_| tokio::spawn(scrape(addr))).collect();
    let mut seen = Vec::new();
    for s in scrapers {
        let resp = tokio::time::timeout(Duration::from_secs(120), s)
            .await
            .expect("scrape finishes")
            .unwrap();
        seen.push(check(&resp, &cfg));
    }
    tokio::time::timeout(Duration::from_secs(60), writer)
        .await
        .unwrap()
        .unwrap();
    // After the writer: the final state, identical across another concurrent burst.
    let finals: Vec<_> = (0..100).map(|_| tokio::spawn(scrape(addr))).collect();
    for f in finals {
        let resp = tokio::time::timeout(Duration::from_secs(120), f)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(check(&resp, &cfg), 200);
    }
    eprintln!("rounds seen by the concurrent scrapes: {seen:?}");
}
