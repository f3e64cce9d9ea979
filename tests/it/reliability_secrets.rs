//! Secrets never leave: every mode (check, check --credentials, once in every report format
//! and both log formats, run with /metrics, /healthz, /readyz and the status page, demo
//! --once, lab) runs with recognisable secret values (secret keys, passwords, session and
//! bearer tokens), at debug log level; alert payloads (webhook, Slack, Alertmanager bodies
//! exactly as rendered for the wire) are built from a real round with a breach. Every
//! captured byte is searched for every secret: zero hits. Inline secrets are rejected and
//! loose secret-file permissions are warned about, without echoing the value.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use iot_canary_testkit::config::{identities, own_lamp_controls};

use crate::support::reliability::*;

const DEV_TOKEN: &str = "MARKERTOKEN-session-9f8e7d6c5b4a";
const PASSWORD: &str = "MARKERPASSWORD-correct-horse-42";
const BEARER: &str = "MARKERBEARER-eyJhbGciOiJub25lIn0";

/// Every secret the tests hand out (the lab users' keys come from support::reliability).
fn secrets() -> Vec<String> {
    vec![
        OPS_SECRET.into(),
        DEV_SECRET.into(),
        DEV_TOKEN.into(),
        PASSWORD.into(),
        BEARER.into(),
    ]
}

fn config(lab: &Lab, ops_secret_file: &Path, extra_canary: &str) -> String {
    let canaries = format!("{}{extra_canary}", canaries("5"));
    let base = config_text(&lab.mqtt(), &lab.ca_file(), "3s", &canaries);
    // ops reads its secret from a file; a tokened identity puts a session token in every
    // presigned URL; cognito and vending identities carry a password and a bearer token.
    base.replace(
        "secret_access_key_env = \"OPS_SECRET\"",
        &format!("secret_access_key_file = \"{}\"", ops_secret_file.display()),
    ) + r#"
[[identity]]
name = "tokened"
kind = "static"
access_key_id_env = "DEV_KEY"
secret_access_key_env = "DEV_SECRET"
session_token_env = "DEV_TOKEN"
"# + &identities(&["alice", "vended"]).replace("VEND_URL", "http://127.0.0.1:9/vend")
        + &own_lamp_controls(&["tokened", "alice", "vended"])
}

fn cmd(args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("RUST_LOG", "debug")
        .env("DEV_KEY", DEV_KEY)
        .env("DEV_SECRET", DEV_SECRET)
        .env("DEV_TOKEN", DEV_TOKEN)
        .env("ALICE_PASSWORD", PASSWORD)
        .env("VEND_TOKEN", BEARER)
        .env("OPS_KEY", OPS_KEY);
    c
}

/// Runs to completion (bounded); returns (exit code, stdout + stderr).
fn run(mut c: Command) -> (i32, String) {
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().expect("spawn iot-canary");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let mut text = String::new();
    let _ = out.read_to_string(&mut text);
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "{c:?} did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    text.push_str(&t.join().unwrap());
    (status.code().unwrap_or(-1), text)
}

fn get(base: &str, path: &str) -> String {
    use std::io::Write;
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

struct Captures(Vec<(String, String)>);

impl Captures {
    fn add(&mut self, what: impl Into<String>, text: impl Into<String>) {
        self.0.push((what.into(), text.into()));
    }

    fn assert_clean(&self, secrets: &[String]) {
        let mut hits = Vec::new();
        for (what, text) in &self.0 {
            for s in secrets {
                if text.contains(s.as_str()) {
                    hits.push(format!("{what} contains `{s}`"));
                }
            }
        }
        let bytes: usize = self.0.iter().map(|(_, t)| t.len()).sum();
        println!(
            "secrets: {} artifacts, {bytes} bytes, {} secret values searched, {} hits",
            self.0.len(),
            secrets.len(),
            hits.len()
        );
        assert!(hits.is_empty(), "{hits:#?}");
    }
}

#[test]
fn no_mode_leaks_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let mut cap = Captures(Vec::new());
    // The lab at debug level, its stderr captured.
    let scenario_path = scenario().write(dir.path());
    let mut lab_child = Command::new(BIN)
        .args(["lab", "--scenario"])
        .arg(&scenario_path)
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lab_out = BufReader::new(lab_child.stdout.take().unwrap());
    let mut ready = String::new();
    lab_out.read_line(&mut ready).unwrap();
    cap.add("lab ready line", ready.clone());
    let mut lab_err = lab_child.stderr.take().unwrap();
    let lab_log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = lab_err.read_to_string(&mut s);
        s
    });
    let lab = Lab {
        child: lab_child,
        ready: serde_json::from_str(&ready).unwrap(),
        dir: dir.path().to_path_buf(),
    };

    let secret_file = dir.path().join("ops-secret");
    std::fs::write(&secret_file, OPS_SECRET).unwrap();
    set_mode(&secret_file, 0o600);
    // A breach (the dev user may read its own lamp; this canary wrongly expects a denial), so
    // alerts fire with real evidence.
    let breach = "\n[[canary]]\nname = \"breach-own-lamp\"\nidentity = \"dev\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/status\"\n";
    let cfg_path = dir.path().join("canaries.toml");
    std::fs::write(&cfg_path, config(&lab, &secret_file, breach)).unwrap();
    let cfg = cfg_path.to_str().unwrap();

    for args in [
        vec!["check", "-c", cfg],
        vec!["check", "-c", cfg, "--credentials"],
    ] {
        let (code, text) = run(cmd(&args));
        assert!(code == 0 || code == 2, "{args:?}: {code}\n{text}");
        cap.add(format!("{args:?}"), text);
    }
    for log in ["json", "pretty"] {
        for format in ["table", "json", "junit"] {
            // Each run reuses the client ids; the lab (like AWS) allows 1 CONNECT/s per id.
            std::thread::sleep(Duration::from_millis(1100));
            let out = dir.path().join(format!("report-{log}.{format}"));
            let (code, text) = run(cmd(&[
                "--log-format",
                log,
                "once",
                "-c",
                cfg,
                "--format",
                format,
                "--output",
                out.to_str().unwrap(),
            ]));
            let report = std::fs::read_to_string(&out).unwrap();
            assert_eq!(code, 1, "the breach canary makes `once` exit 1\n{report}");
            assert!(report.contains("breach-own-lamp"), "{report}");
            cap.add(format!("once {format} logs ({log})"), text);
            cap.add(format!("once {format} report"), report);
        }
    }

    // run: until the first round is in, then scrape every page and stop it.
    std::thread::sleep(Duration::from_millis(1100));
    let mut c = cmd(&["--log-format", "json", "run", "-c", cfg]);
    c.stdout(Stdio::null()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut logs = String::new();
    let url = loop {
        let mut line = String::new();
        assert!(err.read_line(&mut line).unwrap() > 0, "run exited:\n{logs}");
        logs.push_str(&line);
        // JSON log mode: the CLI's own messages are JSON lines too.
        let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
        let message = event["message"].as_str().unwrap_or_default();
        if let Some(rest) = message.split("metrics on ").nth(1) {
            break rest.trim().trim_end_matches("/metrics").to_string();
        }
    };
    let rest_of_log = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    // Wait for the first completed round. /readyz stays 503 here by design: `alice` and
    // `vended` cannot get credentials in this lab, and readiness requires every identity's.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let ready = get(&url, "/readyz");
        if !ready.contains("no round completed yet") && ready.starts_with("HTTP/1.1 ") {
            assert!(
                ready.starts_with("HTTP/1.1 200") || ready.contains("has no credentials"),
                "{ready}"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "run never completed a round: {ready}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for page in ["/metrics", "/healthz", "/readyz"] {
        let body = get(&url, page);
        assert!(body.starts_with("HTTP/1.1 "), "{page}: {body}");
        if page != "/readyz" {
            assert!(body.starts_with("HTTP/1.1 200"), "{page}: {body}");
        }
        cap.add(format!("run {page}"), body);
    }
    // The status page, where this build serves it (the renderer is also run in-process below).
    let page = get(&url, "/");
    if page.starts_with("HTTP/1.1 200") {
        cap.add("run / (status page)", page);
    }
    let metrics = &cap.0.iter().find(|(w, _)| w == "run /metrics").unwrap().1;
    assert!(metrics.contains("iot_canary_breach"), "{metrics}");
    // SIGTERM (graceful stop), then collect the rest of the log.
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let _ = child.wait();
    logs.push_str(&rest_of_log.join().unwrap());
    cap.add("run logs", logs);

    // Alert payloads from a real round with a breach, rendered for each notifier's wire.
    cap.0.extend(alert_payloads(&lab, &secret_file, breach));

    // demo --once: the embedded lab's own secrets must not show either.
    let root = env!("CARGO_MANIFEST_DIR");
    let (_, demo) = run({
        let mut c = cmd(&["demo", "--once"]);
        c.current_dir(root);
        c
    });
    assert!(demo.contains("ok,"), "demo summary line\n{demo}");
    cap.add("demo --once", demo);

    drop(lab);
    cap.add("lab logs", lab_log.join().unwrap());
    let mut all = secrets();
    all.extend(demo_secrets(Path::new(root)));
    cap.assert_clean(&all);
}

fn demo_secrets(root: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(root.join("crates/lab/src/demo/scenario.toml")).unwrap();
    let v: toml::Value = toml::from_str(&text).unwrap();
    let mut out = Vec::new();
    for u in v["iam_user"].as_array().into_iter().flatten() {
        out.push(u["secret_access_key"].as_str().unwrap().to_string());
    }
    if let Some(users) = v.get("cognito").and_then(|c| c.get("user")) {
        for u in users.as_array().into_iter().flatten() {
            out.push(u["password"].as_str().unwrap().to_string());
        }
    }
    assert!(out.len() >= 3, "demo secrets found: {out:?}");
    out
}

fn alert_payloads(lab: &Lab, secret_file: &Path, breach: &str) -> Vec<(String, String)> {
    use iot_canary_core::alert::notifier::Notifier;
    use iot_canary_core::alert::{AlertState, CanaryResult};
    use iot_canary_core::config::alerting::AlertingConfig;
    let cfg = parse(&config(lab, secret_file, breach));
    let env = iot_canary_daemon::identity::Env::isolated([
        ("DEV_KEY", DEV_KEY),
        ("DEV_SECRET", DEV_SECRET),
        ("DEV_TOKEN", DEV_TOKEN),
        ("ALICE_PASSWORD", PASSWORD),
        ("VEND_TOKEN", BEARER),
        ("OPS_KEY", OPS_KEY),
    ]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let d = daemon(cfg, env);
    let mut state = AlertState::new(&AlertingConfig::default());
    let mut notes = Vec::new();
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(1100));
        let reports = rt.block_on(round(&d));
        for r in &reports {
            let evidence: Vec<String> = r.evidence.steps.iter().map(|s| s.what.clone()).collect();
            notes.extend(state.observe(&CanaryResult::of(r, &evidence), SystemTime::now()));
        }
    }
    rt.block_on(d.pool.close_all());
    // The status page as rendered from the same round's reports.
    let snap = d.store.snapshot();
    let page = iot_canary_core::render::status_page::page_of(
        &d.config,
        &snap,
        SystemTime::now(),
        30,
        "test",
    );
    assert!(page.contains("breach-own-lamp"), "{page}");
    assert!(
        notes.iter().any(|n| n.alert.canary == "breach-own-lamp"),
        "a breach alert fires: {notes:?}"
    );
    let mut out = vec![("status page (rendered)".to_string(), page)];
    for n in &notes {
        for (name, body) in [
            (
                "webhook",
                iot_canary_core::alert::webhook::Webhook.render(n, SystemTime::now()),
            ),
            (
                "slack",
                iot_canary_core::alert::slack::Slack.render(n, SystemTime::now()),
            ),
            (
                "alertmanager",
                iot_canary_core::alert::alertmanager::Alertmanager {
                    resend_interval: Duration::from_secs(60),
                }
                .render(n, SystemTime::now()),
            ),
        ] {
            out.push((format!("alert {name} {}", n.alert.canary), body.to_string()));
        }
    }
    out
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn inline_secrets_are_rejected_without_echoing_them() {
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:1", "", "3s", &canaries("5")).replace(
        "secret_access_key_env = \"DEV_SECRET\"",
        &format!("secret_access_key = \"{DEV_SECRET}\""),
    );
    let p = dir.path().join("inline.toml");
    std::fs::write(&p, text).unwrap();
    for mode in ["check", "once", "run"] {
        let (code, out) = run(cmd(&[mode, "-c", p.to_str().unwrap()]));
        assert_eq!(
            code, 3,
            "{mode}: inline secret must be a config error\n{out}"
        );
        assert!(out.contains("inline secrets are not allowed"), "{out}");
        assert!(
            !out.contains(DEV_SECRET),
            "{mode} echoed the secret:\n{out}"
        );
    }
}

#[test]
fn loose_secret_file_permissions_are_warned_about() {
    let dir = tempfile::tempdir().unwrap();
    let lab = start_lab(dir.path(), "127.0.0.1:0", false);
    let secret_file = dir.path().join("ops-secret");
    std::fs::write(&secret_file, OPS_SECRET).unwrap();
    set_mode(&secret_file, 0o644);
    let p = dir.path().join("loose.toml");
    std::fs::write(&p, config(&lab, &secret_file, "")).unwrap();
    let (_, out) = run(cmd(&[
        "--log-format",
        "json",
        "once",
        "-c",
        p.to_str().unwrap(),
        "--only",
        "pub-other-*",
    ]));
    assert!(
        out.contains("accessible by group/others") && out.contains("ops-secret"),
        "no warning about the 0644 secret file:\n{out}"
    );
    assert!(!out.contains(OPS_SECRET), "{out}");
}

/// A secret pasted where a variable name belongs (`password_env = "hunter2 …"`): every mode
/// refuses the config (exit 3) naming the identity and key, and no mode repeats the value —
/// not `check`, not `check --credentials`, not the logs of `once` in either format, not `run`
/// (which refuses before it serves a status page that could show it), not `demo -c`. Before,
/// the value passed `check` and came back as "environment variable `…` is not set".
#[test]
fn secrets_pasted_into_env_fields_are_refused_without_echoing_them() {
    const PASTED_PASSWORD: &str = "hunter2 S3cr3t!pass";
    const PASTED_SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    let dir = tempfile::tempdir().unwrap();
    let text = config_text("127.0.0.1:1", "", "3s", &canaries("5")).replace(
        "secret_access_key_env = \"DEV_SECRET\"",
        &format!("secret_access_key_env = \"{PASTED_SECRET}\""),
    ) + &identities(&["alice"])
        .replace("\"ALICE_PASSWORD\"", &format!("\"{PASTED_PASSWORD}\""))
        + "\n[[canary]]\nname = \"alice-own\"\nidentity = \"alice\"\naction = \"subscribe\"\ntopic_filter = \"devices/dev-lamp/#\"\nexpect = \"allow\"\n";
    let p = dir.path().join("pasted.toml");
    std::fs::write(&p, text).unwrap();
    let cfg = p.to_str().unwrap();
    let modes: [&[&str]; 7] = [
        &["check", "-c", cfg],
        &["check", "-c", cfg, "--credentials"],
        &["once", "-c", cfg, "--format", "json"],
        &["--log-format", "json", "once", "-c", cfg],
        &["run", "-c", cfg],
        &["--log-format", "json", "run", "-c", cfg],
        &["demo", "--once", "-c", cfg],
    ];
    for args in modes {
        let (code, out) = run(cmd(args));
        assert_eq!(code, 3, "{args:?}: a config error\n{out}");
        assert!(
            out.contains("password_env") && out.contains("secret_access_key_env"),
            "{args:?}: names the keys:\n{out}"
        );
        assert!(
            out.contains("must name an environment variable")
                && out.contains("the value is not shown"),
            "{args:?}:\n{out}"
        );
        for pasted in [
            PASTED_PASSWORD,
            PASTED_SECRET,
            "hunter2",
            "S3cr3t",
            "wJalrXUtnFEMI",
        ] {
            assert!(!out.contains(pasted), "{args:?} echoed `{pasted}`:\n{out}");
        }
    }
}
