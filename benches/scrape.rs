//! A scrape of a daemon with 1,000 canaries (target: < 50 ms): the results store holds one
//! round of reports with evidence; measured are (1) rendering the exposition from a store
//! snapshot (families built, process metrics read, encoded) and (2) a whole HTTP GET /metrics
//! over loopback against the daemon's server, each in the text format and in OpenMetrics (as
//! negotiated by a Prometheus server's Accept header).
//!
//! Run: `cargo bench --bench scrape`.

use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use iot_canary_core::config;
use iot_canary_core::evidence::Step;
use iot_canary_core::render::metrics::Format;
use iot_canary_core::verdict::{Reason, Verdict};
use iot_canary_daemon::daemon::alerting::Alerting;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::{CanaryReport, Store};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CANARIES: usize = 1000;

fn fleet() -> config::Config {
    let mut t = String::from(
        "[target]\nregion = \"us-east-1\"\nendpoint = \"127.0.0.1:1\"\nclient_id = \"${identity}-${canary}\"\n",
    );
    // 10 identities with 100 canaries each (one control per identity).
    for id in 0..10 {
        t.push_str(&format!(
            "\n[[identity]]\nname = \"user{id}\"\nkind = \"static\"\naccess_key_id_env = \"K\"\nsecret_access_key_env = \"S\"\n"
        ));
    }
    for i in 0..CANARIES {
        let id = i % 10;
        let expect = if i < 10 { "\nexpect = \"allow\"" } else { "" };
        t.push_str(&format!(
            "\n[[canary]]\nname = \"user{id}-cannot-subscribe-device-{i:04}\"\nidentity = \"user{id}\"\naction = \"subscribe\"\ntopic_filter = \"devices/d{i}/#\"{expect}\n"
        ));
    }
    config::parse(Path::new("fleet.toml"), &t).expect("bench config is valid")
}

fn reports(cfg: &config::Config) -> Vec<CanaryReport> {
    cfg.canaries
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let verdict = if i % 97 == 0 {
                Verdict::Inconclusive(Reason::Timeout)
            } else if c.expect == iot_canary_core::verdict::Expect::Allow {
                Verdict::Allowed
            } else {
                Verdict::Denied
            };
            let mut r = iot_canary_testkit::reports::report(c, verdict);
            r.duration_ms = 12;
            r.evidence.steps = vec![
                Step {
                    at_ms: 0,
                    what: "CONNACK 0x00".into(),
                },
                Step {
                    at_ms: 3,
                    what: format!("SUBSCRIBE devices/d{i}/# QoS 1"),
                },
                Step {
                    at_ms: 9,
                    what: "SUBACK 0x87 Not authorized".into(),
                },
            ];
            r
        })
        .collect()
}

/// What Prometheus 2.x sends: OpenMetrics preferred.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

async fn scrape(addr: std::net::SocketAddr, accept: &str) -> usize {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET /metrics HTTP/1.0\r\nHost: x\r\nAccept: {accept}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = Vec::with_capacity(4 << 20);
    s.read_to_end(&mut out).await.expect("read");
    out.len()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let cfg = Arc::new(fleet());
    let store = Arc::new(Store::default());
    store.record(&reports(&cfg), SystemTime::now());
    let live = Arc::new(Live::new(
        cfg.clone(),
        store.clone(),
        Arc::new(Alerting::disabled()),
    ));
    let render = |f: Format| live.metrics(f).expect("the exposition encodes");
    for f in [Format::Text, Format::OpenMetrics] {
        let m = render(f);
        let series = m.lines().filter(|l| !l.starts_with('#')).count();
        eprintln!(
            "1,000 canaries, {f:?}: {series} series, {} bytes per scrape",
            m.len()
        );
    }

    c.bench_function("render_1000_canaries", |b| {
        b.iter(|| render(Format::Text).len())
    });
    c.bench_function("render_1000_canaries_openmetrics", |b| {
        b.iter(|| render(Format::OpenMetrics).len())
    });
    let addr = rt
        .block_on(iot_canary_daemon::observe::http::serve_live(
            "127.0.0.1:0".parse().expect("addr"),
            live.clone(),
        ))
        .expect("serve");
    c.bench_function("http_scrape_1000_canaries", |b| {
        b.iter(|| rt.block_on(scrape(addr, "*/*")))
    });
    c.bench_function("http_scrape_1000_canaries_openmetrics", |b| {
        b.iter(|| rt.block_on(scrape(addr, PROMETHEUS_ACCEPT)))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30);
    targets = bench
}
criterion_main!(benches);
