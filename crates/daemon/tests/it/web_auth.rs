//! The HTTP surface behind a web config file (exporter-toolkit format): TLS with the
//! certificate re-read per connection, basic auth with bcrypt hashes re-read per request,
//! configured headers, client certificates, HTTP/2 by ALPN, and the `healthcheck` client
//! against all of it. Served by `observe::http::serve` over loopback, asked by a rustls client.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use iot_canary_daemon::daemon::live::Live;
use iot_canary_daemon::daemon::store::Store;
use iot_canary_daemon::observe::healthcheck::{self, HealthError, Options};
use iot_canary_daemon::observe::http;
use iot_canary_daemon::observe::web::WebSource;
use iot_canary_testkit::pki::{self, ClientOpts, Pki};
use iot_canary_testkit::write_file;

use crate::support::parse;

/// Cost 4: the lowest bcrypt allows, so the test measures the logic, not the hash.
fn hash(password: &str) -> String {
    bcrypt::hash(password, 4).unwrap()
}

fn web_yaml(pki: &Pki, users: &[(&str, String)], extra: &str) -> String {
    let mut y = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n{extra}http_server_config:\n  headers:\n    X-Frame-Options: deny\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    if !users.is_empty() {
        y.push_str("basic_auth_users:\n");
        for (u, h) in users {
            y.push_str(&format!("  {u}: '{h}'\n"));
        }
    }
    y
}

/// A TLS listener behind `web_file`.
async fn start(web_file: &Path) -> SocketAddr {
    let addr = start_any(web_file).await;
    assert!(WebSource::open(web_file).unwrap().tls());
    addr
}

/// A fresh PKI in `dir` and a TLS listener whose web config (`dir/web.yml`) lets `user` in with
/// `password`: the PKI, the web config file and the listener's address.
async fn start_for_user(dir: &Path, user: &str, password: &str) -> (Pki, PathBuf, SocketAddr) {
    let pki = pki::write(dir);
    let file = write_file(
        dir,
        "web.yml",
        &web_yaml(&pki, &[(user, hash(password))], ""),
    );
    let addr = start(&file).await;
    (pki, file, addr)
}

async fn start_any(web_file: &Path) -> SocketAddr {
    let cfg = parse(
        "c.toml",
        "[target]\nregion = \"us-east-1\"\nendpoint = \"127.0.0.1:1\"\n",
    );
    let live = Live::without_alerts(Arc::new(cfg), Arc::new(Store::default()));
    let web = Arc::new(WebSource::open(web_file).unwrap());
    http::serve("127.0.0.1:0".parse().unwrap(), live, Some(web))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_over_tls_on_every_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, file, addr) = start_for_user(dir.path(), "prometheus", "s3cret-scrape").await;
    let right = ClientOpts {
        basic: Some(("prometheus", "s3cret-scrape")),
        ..Default::default()
    };

    for path in ["/", "/metrics", "/healthz", "/readyz"] {
        // No credentials: 401 with the challenge, and the configured header even then.
        let (r, _) = pki.get(addr, path, &ClientOpts::default()).await.unwrap();
        assert_eq!(r.status, 401, "{path}: {}", r.raw());
        let head = r.head.to_ascii_lowercase();
        assert!(
            head.contains("www-authenticate: basic realm=\"iot-canary\""),
            "{head}"
        );
        assert!(head.contains("x-frame-options: deny"), "{head}");
        assert!(!r.body.contains("iot_canary"), "nothing leaks: {}", r.body);
        for (user, password) in [
            ("prometheus", "wrong"),
            ("nobody", "s3cret-scrape"),
            ("prometheus", ""),
        ] {
            let o = ClientOpts {
                basic: Some((user, password)),
                ..Default::default()
            };
            let (r, _) = pki.get(addr, path, &o).await.unwrap();
            assert_eq!(r.status, 401, "{path} as {user}:{password}");
        }
        let (r, _) = pki.get(addr, path, &right).await.unwrap();
        // /readyz is 503 before the first round: authenticated, just not ready.
        let want = if path == "/readyz" { 503 } else { 200 };
        assert_eq!(r.status, want, "{path}: {}", r.raw());
        assert!(
            r.head
                .to_ascii_lowercase()
                .contains("x-frame-options: deny")
        );
    }
    let (r, _) = pki.get(addr, "/metrics", &right).await.unwrap();
    assert!(r.body.contains("iot_canary_build_info"), "{}", r.body);

    // Plain HTTP to the TLS listener gets no HTTP answer.
    let plain = iot_canary_testkit::net::try_get(addr, "/healthz").await;
    assert!(
        plain
            .as_ref()
            .map_or(true, |r| r.status == 0 && !r.head.contains("HTTP/")),
        "plain HTTP was answered: {plain:?}"
    );

    // The file is re-read per request: a new password applies at once, the old one stops.
    let yaml = web_yaml(&pki, &[("prometheus", hash("rotated"))], "");
    std::fs::write(&file, yaml).unwrap();
    let (r, _) = pki.get(addr, "/healthz", &right).await.unwrap();
    assert_eq!(r.status, 401);
    let rotated = ClientOpts {
        basic: Some(("prometheus", "rotated")),
        ..Default::default()
    };
    assert_eq!(
        pki.get(addr, "/healthz", &rotated).await.unwrap().0.status,
        200
    );

    // A file that turns invalid fails closed: no TLS config can be built for new connections.
    std::fs::write(&file, "basic_auth_users:\n  prometheus: plain-text\n").unwrap();
    let r = pki.get(addr, "/healthz", &rotated).await;
    assert!(r.is_err(), "{r:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthcheck_reaches_a_tls_and_auth_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (pki, _, addr) = start_for_user(dir.path(), "ops", "pw-for-health").await;
    let password_file = write_file(dir.path(), "pw", "pw-for-health\n");
    let url = format!("https://127.0.0.1:{}/healthz", addr.port());
    let ok = Options {
        ca_file: Some(pki.ca.clone()),
        user: Some("ops".into()),
        password_file: Some(password_file.clone()),
        ..Options::with_timeout(Duration::from_secs(10))
    };
    let check =
        |o: Options, url: String| tokio::task::spawn_blocking(move || healthcheck::check(&url, &o));
    assert_eq!(check(ok.clone(), url.clone()).await.unwrap(), Ok(()));
    // The certificate's name can be given separately from the address.
    let by_name = Options {
        tls_server_name: Some("localhost".into()),
        ..ok.clone()
    };
    assert_eq!(check(by_name, url.clone()).await.unwrap(), Ok(()));

    let no_auth = Options {
        user: None,
        password_file: None,
        ..ok.clone()
    };
    match check(no_auth, url.clone()).await.unwrap() {
        Err(HealthError::Unhealthy(_, line)) => assert!(line.contains("401"), "{line}"),
        other => panic!("{other:?}"),
    }
    // Not our CA: the handshake fails, which is unreachable, not healthy.
    let system_roots = Options {
        ca_file: None,
        ..ok.clone()
    };
    assert!(matches!(
        check(system_roots, url.clone()).await.unwrap(),
        Err(HealthError::Unreachable(..))
    ));
    let wrong_name = Options {
        tls_server_name: Some("canary.example".into()),
        ..ok.clone()
    };
    assert!(matches!(
        check(wrong_name, url.clone()).await.unwrap(),
        Err(HealthError::Unreachable(..))
    ));
    // http:// to the TLS listener is not healthy either.
    let plain = format!("http://127.0.0.1:{}/healthz", addr.port());
    assert!(check(ok.clone(), plain).await.unwrap().is_err());
    let missing = Options {
        password_file: Some(dir.path().join("absent")),
        ..ok
    };
    let e = check(missing, url).await.unwrap().unwrap_err();
    assert!(e.is_usage(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificates_and_http2() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::write(dir.path());
    let extra = format!(
        "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {}\n",
        pki.ca.display()
    );
    let file = write_file(dir.path(), "web.yml", &web_yaml(&pki, &[], &extra));
    let addr = start(&file).await;
    assert!(
        pki.get(addr, "/healthz", &ClientOpts::default())
            .await
            .is_err(),
        "a client without a certificate must not get through"
    );
    let with_cert = ClientOpts {
        client_cert: true,
        ..Default::default()
    };
    let (r, alpn) = pki.get(addr, "/healthz", &with_cert).await.unwrap();
    assert_eq!((r.status, alpn), (200, None));
    // HTTP/2 is on by default (exporter-toolkit's default) and negotiated by ALPN.
    let h2 = ClientOpts {
        client_cert: true,
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    };
    assert_eq!(
        pki.get(addr, "/", &h2).await.unwrap().1.as_deref(),
        Some(&b"h2"[..])
    );

    // http2: false offers HTTP/1.1 only.
    let yaml = web_yaml(&pki, &[], "").replace(
        "http_server_config:\n",
        "http_server_config:\n  http2: false\n",
    );
    let file = write_file(dir.path(), "web-h1.yml", &yaml);
    let addr = start(&file).await;
    let h2 = ClientOpts {
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..Default::default()
    };
    let (r, alpn) = pki.get(addr, "/healthz", &h2).await.unwrap();
    assert_eq!((r.status, alpn.as_deref()), (200, Some(&b"http/1.1"[..])));
}

#[test]
fn a_bad_file_is_refused_at_start_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki::write(dir.path());
    let cases = [
        (
            "tls_server_config:\n  cert_file: server.pem\n  key_fle: k.pem\n".to_string(),
            ":3:3: `tls_server_config.key_fle`: unknown field `key_fle`",
        ),
        (
            "tls_server_config:\n  cert_file: absent.pem\n  key_file: absent-key.pem\n".to_string(),
            "`tls_server_config.cert_file`: cannot read",
        ),
        (
            format!(
                "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
                pki.server_cert.display(),
                pki.client_key.display()
            ),
            "`tls_server_config.key_file`: does not fit the certificate",
        ),
    ];
    for (yaml, want) in cases {
        let file = write_file(dir.path(), "web.yml", &yaml);
        let e = WebSource::open(&file).err().expect(&yaml).to_string();
        assert!(e.starts_with(&file.display().to_string()), "{e}");
        assert!(e.contains(want), "want {want} in {e}");
        assert!(!e.contains("PRIVATE KEY"), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_without_tls_and_a_file_turned_invalid() {
    use iot_canary_testkit::net;
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("basic_auth_users:\n  ops: '{}'\n", hash("pw"));
    let file = write_file(dir.path(), "web.yml", &yaml);
    let addr = start_any(&file).await;
    let basic = |u: &str, p: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        )
    };
    let r = net::get(addr, "/healthz").await;
    assert_eq!(r.status, 401, "{}", r.raw());
    let ok = basic("ops", "pw");
    let r = net::request_raw(addr, "GET", "/healthz", &[("Authorization", &ok)], b"").await;
    assert_eq!(r.status, 200, "{}", r.raw());
    let r = net::request_raw(
        addr,
        "GET",
        "/healthz",
        &[("Authorization", "Bearer pw")],
        b"",
    )
    .await;
    assert_eq!(r.status, 401);
    // Invalid now: every request is refused with 500 until the file is fixed.
    std::fs::write(&file, "basic_auth_users:\n  ops: pw\n").unwrap();
    let r = net::request_raw(addr, "GET", "/healthz", &[("Authorization", &ok)], b"").await;
    assert_eq!(r.status, 500, "{}", r.raw());
    assert!(!r.body.contains("pw"), "{}", r.body);
    std::fs::write(&file, &yaml).unwrap();
    let r = net::request_raw(addr, "GET", "/metrics", &[("Authorization", &ok)], b"").await;
    assert_eq!(r.status, 200);
}
