//! The daemon in `run` mode against the in-process lab with a hole, scraped by a REAL
//! Prometheus (Debian `prometheus`) loading the shipped deploy/prometheus/iot-canary-rules.yml,
//! alerting into a REAL Alertmanager (Debian `prometheus-alertmanager`), both started here on
//! loopback ports with temp dirs. The breach alert reaches Alertmanager, then resolves after the
//! lab's policy is fixed through the admin API. Meanwhile every PromQL expression of the Grafana
//! dashboard, the Grafana alert provisioning and the rules file runs against that Prometheus:
//! dashboard queries and the provisioning queries that feed a threshold must return a series;
//! rule expressions (and the provisioning's blind condition) are alert conditions, empty while
//! not firing, so each must execute and every metric selector in it must match a series. The
//! breach rule itself must be firing (ALERTS) during the hole. Prometheus scrapes OpenMetrics
//! (negotiated from its default Accept header; its metadata proves it), and both formats as
//! served pass `promtool check metrics` (text) and the Python client's OpenMetrics parser.
//!
//! The identity `dev` is an `assume-role` identity: the daemon fetches real temporary credentials
//! from the lab's STS, so the credential-expiry series carry a real expiry; the daemon's own Alertmanager notifier makes
//! the alerts-sent series exist.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::*;
use iot_canary_core::config;
use iot_canary_core::render::metrics::Format;
use iot_canary_daemon::daemon::alerting::Alerting;
use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::service::{Control, Rounds, Service};
use iot_canary_daemon::daemon::{self, Daemon, Shard};
use iot_canary_daemon::identity::Env;
use iot_canary_testkit::net::{self, free_port};
use iot_canary_testkit::process::output_with_stdin;
use iot_canary_testkit::{tools, write_file};
use tokio::process::{Child, Command};

const ROLE: &str = "arn:aws:iam::123456789012:role/DevRole";

fn tool(name: &str) -> String {
    let ok = std::process::Command::new(name)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "`{name}` is not runnable: run scripts/test-deps.sh (Debian packages prometheus, prometheus-alertmanager)"
    );
    name.to_string()
}

fn spawn(bin: &str, args: &[String], log: &Path) -> Child {
    let f = std::fs::File::create(log).unwrap();
    Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(f)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"))
}

async fn wait_ready(name: &str, addr: SocketAddr, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if let Ok(Some(st)) = child.try_wait() {
            panic!(
                "{name} exited ({st}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = net::try_get(addr, "/-/ready").await
            && r.status == 200
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never ready:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn body(resp: &str) -> &str {
    resp.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

fn json_get(resp: &str) -> serde_json::Value {
    serde_json::from_str(body(resp)).unwrap_or_else(|e| panic!("{e}: {resp}"))
}

/// Instant query; (ok, number of series, error text).
async fn query(prom: SocketAddr, expr: &str) -> (bool, usize, String) {
    let q: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", expr)
        .finish();
    let v = json_get(&get(prom, &format!("/api/v1/query?{q}")).await);
    let ok = v["status"] == "success";
    let n = match &v["data"]["result"] {
        serde_json::Value::Array(a) => a.len(),
        // scalar/string results are one value
        serde_json::Value::Null => 0,
        _ => 1,
    };
    (ok, n, v["error"].as_str().unwrap_or("").to_string())
}

/// Every PromQL expression of the dashboard JSON (`targets[].expr`, nested panels included).
fn dashboard_exprs() -> Vec<(String, String)> {
    fn walk(v: &serde_json::Value, title: &str, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) => {
                let title = m.get("title").and_then(|t| t.as_str()).unwrap_or(title);
                if let Some(e) = m.get("expr").and_then(|e| e.as_str()) {
                    out.push((title.to_string(), e.to_string()));
                }
                for x in m.values() {
                    walk(x, title, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, title, out)),
            _ => {}
        }
    }
    let text = std::fs::read_to_string(repo("dashboards/iot-canary.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    walk(&v, "", &mut out);
    out
}

/// `expr:` values of a YAML file (plain one-line values and `>-`/`|` block scalars): enough for
/// the Grafana provisioning file, and checked against a count so a missed form fails loudly.
fn yaml_exprs(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = lines[i];
        if let Some(pos) = l.find("expr:")
            && l[..pos].trim().is_empty()
        {
            let indent = pos;
            let rest = l[pos + 5..].trim();
            if rest.starts_with('>') || rest.starts_with('|') {
                let mut parts = Vec::new();
                i += 1;
                while i < lines.len() {
                    let n = lines[i];
                    let ind = n.len() - n.trim_start().len();
                    if !n.trim().is_empty() && ind <= indent {
                        break;
                    }
                    parts.push(n.trim());
                    i += 1;
                }
                out.push(parts.join(" ").trim().to_string());
                continue;
            }
            out.push(rest.trim_matches('"').trim_matches('\'').to_string());
        }
        i += 1;
    }
    out
}

/// Metric selectors (`name` or `name{...}`) of an expression, for our metric families.
fn selectors(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let b = expr.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let rest = &expr[i..];
        let starts =
            rest.starts_with("iot_canary_") || rest.starts_with("process_start_time_seconds");
        let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
        if starts && boundary {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            let mut sel = rest[..end].to_string();
            if rest[end..].starts_with('{')
                && let Some(close) = rest[end..].find('}')
            {
                sel.push_str(&rest[end..end + close + 1]);
            }
            i += sel.len();
            if !out.contains(&sel) {
                out.push(sel);
            }
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn selector_and_yaml_extraction() {
    assert_eq!(
        selectors(
            "(time() - max(iot_canary_x_seconds) > 3) and max(process_start_time_seconds{job=~\".*a.*\"}) - foo_iot_canary_y"
        ),
        vec![
            "iot_canary_x_seconds",
            "process_start_time_seconds{job=~\".*a.*\"}"
        ]
    );
    let exprs = yaml_exprs(&repo("dashboards/provisioning/alerting/iot-canary.yaml"));
    assert_eq!(exprs.len(), 3, "{exprs:?}");
    assert!(
        exprs[1].starts_with("(iot_canary_blind_since_timestamp_seconds > 0) and"),
        "{exprs:?}"
    );
}

/// The body of `GET /metrics` asking for `accept`, after checking the answer's content type.
async fn scrape(addr: SocketAddr, accept: &str) -> String {
    let r = net::request_raw(addr, "GET", "/metrics", &[("Accept", accept)], b"").await;
    assert!(
        r.head.contains(&format!("content-type: {accept};")),
        "{}",
        r.head
    );
    r.body
}

/// The text format through `promtool check metrics` (parser and linter).
fn promtool_check_metrics(text: &str) {
    let mut cmd = std::process::Command::new(tool("promtool"));
    cmd.args(["check", "metrics"]);
    let out = output_with_stdin(&mut cmd, text);
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// OpenMetrics through the Python `prometheus_client` parser, which enforces the spec
/// (`# EOF`, descriptors, `_total`/`_info` suffixes, histogram buckets up to +Inf).
fn parse_openmetrics(om: &str) {
    let mut cmd = std::process::Command::new(tools::python());
    cmd.args([
        "-c",
        "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\nf = list(p(sys.stdin.read()))\nprint(len(f), sum(len(m.samples) for m in f))",
    ]);
    let out = output_with_stdin(&mut cmd, om);
    let families_samples = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "OpenMetrics parser: {}\n{om}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples = om.lines().filter(|l| !l.starts_with('#')).count();
    let families = om.lines().filter(|l| l.starts_with("# TYPE ")).count();
    assert_eq!(families_samples.trim(), format!("{families} {samples}"));
}

/// Alerts Alertmanager holds for `alertname`+`canary`, as (source label, state).
async fn am_alerts(am: SocketAddr, alertname: &str, canary: &str) -> Vec<(String, String)> {
    let v = json_get(&get(am, "/api/v2/alerts").await);
    v.as_array()
        .unwrap()
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname && a["labels"]["canary"] == canary)
        .map(|a| {
            (
                a["labels"]["source"]
                    .as_str()
                    .unwrap_or("daemon")
                    .to_string(),
                a["status"]["state"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_alertmanager_breach_fires_and_resolves_and_every_query_has_data() {
    let prometheus = tool("prometheus");
    let alertmanager = tool("prometheus-alertmanager");
    let dir = tempfile::tempdir().unwrap();

    // The lab, with a hole: Dev may do anything.
    let world = dev_world(&hole_policy()).role("DevRole", &["Dev"], &["dev"]);
    let lab = iot_canary_testkit::lab::start_tls(&world, dir.path()).await;

    // Alertmanager.
    let am_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let am_dir = dir.path().join("am");
    std::fs::create_dir_all(&am_dir).unwrap();
    let am_config = write_file(
        &am_dir,
        "alertmanager.yml",
        "route:\n  receiver: sink\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: sink\n",
    );
    let am_log = dir.path().join("alertmanager.log");
    let mut am = spawn(
        &alertmanager,
        &[
            format!("--config.file={}", am_config.display()),
            format!("--storage.path={}", am_dir.display()),
            format!("--web.listen-address={am_addr}"),
            "--cluster.listen-address=".into(),
        ],
        &am_log,
    );
    wait_ready("alertmanager", am_addr, &mut am, &am_log).await;

    // The daemon (run mode, in-process) with the Alertmanager notifier.
    let extra = format!(
        "{}{}\n[alerting]\ndashboard_url = \"http://grafana.invalid/d/iot-canary\"\n\n[[notifier]]\nname = \"am\"\nkind = \"alertmanager\"\nurl = \"http://{am_addr}\"\nresend_interval = \"5s\"\n",
        canary("dev-own", "devices/dev-lamp/#", true),
        canary("dev-other", "devices/other/#", false)
    );
    // `dev` is an assume-role identity: the daemon's own STS client (aws-sdk-sts) gets real
    // temporary credentials from the lab, signed with the static keys of `base`.
    let text = config(&lab, "1s", &extra).replace(
        "[[identity]]\nname = \"dev\"\nkind = \"static\"",
        &format!(
            "[endpoints]\nsts = \"{}\"\n\n[[identity]]\nname = \"dev\"\nkind = \"assume-role\"\nrole_arn = \"{ROLE}\"\nsession_name = \"dev-canary\"\nsource = \"base\"\n\n[[identity]]\nname = \"base\"\nkind = \"static\"",
            lab.endpoints.sts
        ),
    );
    let cfg = config::parse(&dir.path().join("canaries.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let notifiers = config::resolve_notifiers(&cfg, &|_| None).unwrap();
    let endpoint = daemon::endpoint(&cfg).unwrap();
    let ids = daemon::identities::build(
        &cfg,
        Env::with_overrides([("TEST_DEV_KEY", DEV_KEY), ("TEST_DEV_SECRET", DEV_SECRET)]),
    )
    .unwrap();
    let d = Arc::new(Daemon::new(Arc::new(cfg), endpoint, ids, Shard::ALL));
    let alerting = Arc::new(Alerting::start(&d.config, &notifiers).unwrap());
    let live = Arc::new(Live::new(d.config.clone(), d.store.clone(), alerting));
    let metrics =
        iot_canary_daemon::observe::http::serve_live("127.0.0.1:0".parse().unwrap(), live.clone())
            .await
            .unwrap();
    // Prometheus scrapes the same live state through TLS and basic auth (the web config file
    // `run --web.config.file` takes); the plain listener above serves this test's own
    // requests and Chromium.
    let pki = iot_canary_testkit::pki::write(dir.path());
    let hash = bcrypt::hash("scrape-s3cret", 4).unwrap();
    let web_file = write_file(
        dir.path(),
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{hash}'\n",
            pki.server_cert.display(),
            pki.server_key.display()
        ),
    );
    let web = Arc::new(iot_canary_daemon::observe::web::WebSource::open(&web_file).unwrap());
    let secure = iot_canary_daemon::observe::http::serve(
        "127.0.0.1:0".parse().unwrap(),
        live.clone(),
        Some(web),
    )
    .await
    .unwrap();
    let password_file = write_file(dir.path(), "scrape-password", "scrape-s3cret\n");
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let mut svc = Service::new(live.clone(), &d, Rounds::Forever);
    svc.grace = Duration::from_secs(10);
    let runner = tokio::spawn(svc.run(d.clone(), rx));

    // Prometheus with the shipped rules file, 1 s scrape and evaluation.
    let prom_addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let prom_dir = dir.path().join("prom");
    std::fs::create_dir_all(&prom_dir).unwrap();
    let rules = repo("deploy/prometheus/iot-canary-rules.yml");
    let prom_config = write_file(
        &prom_dir,
        "prometheus.yml",
        &format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n  external_labels:\n    source: prometheus\nrule_files:\n  - {}\nalerting:\n  alertmanagers:\n    - static_configs:\n        - targets: ['{am_addr}']\nscrape_configs:\n  - job_name: iot-canary\n    scheme: https\n    tls_config:\n      ca_file: {}\n      server_name: localhost\n    basic_auth:\n      username: prometheus\n      password_file: {}\n    static_configs:\n      - targets: ['{secure}']\n  - job_name: wrong-password\n    scheme: https\n    tls_config:\n      ca_file: {}\n    basic_auth:\n      username: prometheus\n      password: guessed\n    static_configs:\n      - targets: ['{secure}']\n",
            rules.display(),
            pki.ca.display(),
            password_file.display(),
            pki.ca.display(),
        ),
    );
    let prom_log = dir.path().join("prometheus.log");
    let mut prom = spawn(
        &prometheus,
        &[
            format!("--config.file={}", prom_config.display()),
            format!("--storage.tsdb.path={}", prom_dir.join("data").display()),
            format!("--web.listen-address={prom_addr}"),
            "--rules.alert.resend-delay=1s".into(),
        ],
        &prom_log,
    );
    wait_ready("prometheus", prom_addr, &mut prom, &prom_log).await;

    // 1. The breach reaches Alertmanager, from Prometheus's rule and from the daemon itself.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = am_alerts(am_addr, "IotCanaryBreach", "dev-other").await;
        let from_prom = a.iter().any(|(s, st)| s == "prometheus" && st == "active");
        let from_daemon = a.iter().any(|(s, st)| s == "daemon" && st == "active");
        if from_prom && from_daemon {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "breach alert never reached Alertmanager: {a:?}\n/metrics:\n{}",
            live.metrics(Format::Text).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        am_alerts(am_addr, "IotCanaryBreach", "dev-own")
            .await
            .is_empty()
    );

    // The status page at `/` puts the breach first, from the same store.
    let page = get(metrics, "/").await;
    let first_row = page.find("<tr class=").map(|i| &page[i..]).unwrap_or("");
    assert!(
        first_row.starts_with("<tr class=\"breach\" data-canary=\"dev-other\""),
        "{page}"
    );
    assert!(page.contains("<a href=\"http://grafana.invalid/d/iot-canary\">Grafana</a>"));
    // The same page as a browser renders it: breach row first in the DOM, and painted (the
    // breach-row background, see status_page.rs CSS) in a screenshot.
    let shots = tempfile::tempdir().unwrap();
    let url = format!("http://{metrics}/");
    let (dom, rows) = iot_canary_testkit::chromium::dom_rows(&shots.path().join("dom"), &url).await;
    assert!(
        rows.first()
            .is_some_and(|r| r.contains("class=\"breach\"") && r.contains("dev-other")),
        "first rendered row is not the breach: {dom}"
    );
    let png = shots.path().join("status.png");
    iot_canary_testkit::chromium::run_chromium(
        &shots.path().join("shot"),
        &[
            format!("--screenshot={}", png.display()),
            "--window-size=1200,800".into(),
        ],
        &url,
    )
    .await;
    let (breach_y, breach_px, _, _) =
        iot_canary_testkit::chromium::find_colour(&png, [0xff, 0xeb, 0xee], 300);
    assert!(
        breach_y.is_some() && breach_px > 5_000,
        "breach row not painted in the daemon's status page ({breach_px} px)"
    );

    // 2. Every expression has data (rate/increase need a few samples: retry, bounded).
    let dash = dashboard_exprs();
    assert!(dash.len() >= 15, "dashboard lost panels? {dash:?}");
    let provisioning = yaml_exprs(&repo("dashboards/provisioning/alerting/iot-canary.yaml"));
    assert_eq!(provisioning.len(), 3);
    let rules_v = json_get(&get(prom_addr, "/api/v1/rules").await);
    let rule_exprs: Vec<(String, String)> = rules_v["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["query"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let shipped = std::fs::read_to_string(&rules).unwrap();
    assert_eq!(
        rule_exprs.len(),
        shipped.matches("- alert:").count(),
        "Prometheus did not load every rule"
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut empty = Vec::new();
        for (title, e) in &dash {
            let e = e.replace("$__rate_interval", "1m");
            let (ok, n, err) = query(prom_addr, &e).await;
            if !ok || n == 0 {
                empty.push(format!("dashboard `{title}`: {e} ({err})"));
            }
        }
        for e in &provisioning {
            let (ok, n, err) = query(prom_addr, e).await;
            // A query with its own comparison is a condition (empty while healthy, like the
            // blind rule, whose noDataState is OK); the others feed a threshold and must have data.
            let condition = [" > ", " < ", "=="].iter().any(|c| e.contains(c));
            if !ok || (n == 0 && !condition) {
                empty.push(format!("provisioning: {e} ({err})"));
            }
            for sel in selectors(e) {
                let (ok, n, err) = query(prom_addr, &sel).await;
                if !ok || n == 0 {
                    empty.push(format!(
                        "provisioning: selector {sel} has no series ({err})"
                    ));
                }
            }
        }
        for (name, e) in &rule_exprs {
            let (ok, _, err) = query(prom_addr, e).await;
            if !ok {
                empty.push(format!("rule {name}: {e} fails: {err}"));
            }
            for sel in selectors(e) {
                let (ok, n, err) = query(prom_addr, &sel).await;
                if !ok || n == 0 {
                    empty.push(format!("rule {name}: selector {sel} has no series ({err})"));
                }
            }
        }
        let (_, firing, _) = query(
            prom_addr,
            "ALERTS{alertname=\"IotCanaryBreach\",canary=\"dev-other\",alertstate=\"firing\"}",
        )
        .await;
        if firing == 0 {
            empty.push("ALERTS: IotCanaryBreach not firing".into());
        }
        if empty.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "queries without data:\n{}",
            empty.join("\n")
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    // Prometheus negotiated OpenMetrics (its Accept header prefers it) and every scrape parsed:
    // the metadata it keeps has OpenMetrics' family names (counters without `_total`, an info
    // family), the target is up without error, and the process series arrived.
    let meta = json_get(&get(prom_addr, "/api/v1/metadata").await);
    for (family, kind) in [
        ("iot_canary_probes", "counter"),
        ("iot_canary_build", "info"),
        ("iot_canary_probe_duration_seconds", "histogram"),
        ("process_cpu_seconds", "counter"),
    ] {
        assert_eq!(meta["data"][family][0]["type"], kind, "{family}: {meta}");
    }
    // The scrape went through TLS and basic auth; the same target with a wrong password is
    // refused (Prometheus records the 401).
    let targets = json_get(&get(prom_addr, "/api/v1/targets").await);
    let target_of = |job: &str| {
        targets["data"]["activeTargets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["labels"]["job"] == job)
            .unwrap_or_else(|| panic!("no {job} target: {targets}"))
            .clone()
    };
    let target = target_of("iot-canary");
    assert_eq!(
        (&target["health"], &target["lastError"]),
        (&"up".into(), &"".into()),
        "{target}"
    );
    assert_eq!(
        target["scrapeUrl"],
        format!("https://{secure}/metrics"),
        "{target}"
    );
    let refused = target_of("wrong-password");
    assert_eq!(refused["health"], "down", "{refused}");
    assert!(
        refused["lastError"].as_str().unwrap_or("").contains("401"),
        "{refused}"
    );
    for series in [
        "iot_canary_build_info",
        "process_resident_memory_bytes",
        "process_cpu_seconds_total",
    ] {
        assert_eq!(query(prom_addr, series).await.1, 1, "{series}");
    }
    // Both formats as served now, with a breach, notifier counts and STS credentials in them:
    // text through promtool's linter, OpenMetrics through the Python client's strict parser.
    promtool_check_metrics(&scrape(metrics, "text/plain").await);
    parse_openmetrics(&scrape(metrics, "application/openmetrics-text").await);

    let (_, n, _) = query(
        prom_addr,
        "iot_canary_credentials_expiry_timestamp_seconds{identity=\"dev\"} > time()",
    )
    .await;
    assert_eq!(n, 1, "the STS session's expiry is exported");
    let (_, n, _) = query(
        prom_addr,
        "iot_canary_alerts_sent_total{notifier=\"am\",result=\"success\"} > 0",
    )
    .await;
    assert_eq!(n, 1, "the daemon's own notifier delivered");

    // 3. Fix the hole; both alerts resolve.
    set_dev_policy(&lab, &tight_dev_policy()).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let a = am_alerts(am_addr, "IotCanaryBreach", "dev-other").await;
        if a.iter().all(|(_, st)| st != "active") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "breach alert never resolved: {a:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, firing, _) = query(
        prom_addr,
        "ALERTS{alertname=\"IotCanaryBreach\",alertstate=\"firing\"}",
    )
    .await;
    assert_eq!(firing, 0);
    assert_eq!(
        value(
            &live.metrics(Format::Text).unwrap(),
            "iot_canary_breach{canary=\"dev-other\",identity=\"dev\",action=\"subscribe\"}"
        ),
        Some(0.0)
    );

    tx.send(Control::Stop).await.unwrap();
    tokio::time::timeout(Duration::from_secs(30), runner)
        .await
        .expect("service stops")
        .unwrap();
    let _ = prom.kill().await;
    let _ = am.kill().await;
    lab.shutdown().await;
}
