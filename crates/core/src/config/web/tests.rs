use super::*;

const HASH: &str = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG";

fn p(src: &str) -> Result<WebConfig, String> {
    parse(Path::new("/etc/iot-canary/web.yml"), src).map_err(|e| e.to_string())
}

#[test]
fn the_documented_example_and_every_honoured_key() {
    let src = format!(
        "# exporter-toolkit docs/web-config.yml, minus rate_limit
tls_server_config:
  cert_file: server.crt
  key_file: /abs/server.key
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: clients.pem
  min_version: TLS13
  max_version: TLS13
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP384]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    Strict-Transport-Security: max-age=31536000
basic_auth_users:
  alice: {HASH}
  bob: '$2b$04$hLqFl9jSjoAAy95Z/zw8Ye8wkdMBM8c5Bn1ptYqP/AXyV0.oy0S8m'
"
    );
    let c = p(&src).unwrap();
    let t = c.tls.unwrap();
    assert_eq!(t.cert, Pem::File("/etc/iot-canary/server.crt".into()));
    assert_eq!(t.key, Pem::File("/abs/server.key".into()));
    assert_eq!(
        t.client_ca,
        Some(Pem::File("/etc/iot-canary/clients.pem".into()))
    );
    assert_eq!(t.client_auth, ClientAuth::RequireAndVerify);
    assert_eq!(
        (t.min_version, t.max_version),
        (TlsVersion::Tls13, TlsVersion::Tls13)
    );
    assert!(!t.prefer_server_cipher_suites);
    assert_eq!(t.curves, ["X25519", "CurveP384"]);
    assert!(!c.http2);
    assert_eq!(
        c.headers,
        [
            (
                "Strict-Transport-Security".to_string(),
                "max-age=31536000".to_string()
            ),
            ("X-Frame-Options".to_string(), "deny".to_string())
        ]
    );
    assert_eq!(c.users.len(), 2);
    assert_eq!(c.users["alice"], HASH);
}

#[test]
fn defaults_follow_exporter_toolkit() {
    let c = p("").unwrap();
    assert_eq!(c.tls, None);
    assert!(c.http2 && c.headers.is_empty() && c.users.is_empty());
    let c =
        p("tls_server_config:\n  cert: |\n    -----BEGIN CERTIFICATE-----\n  key_file: k.pem\n")
            .unwrap();
    let t = c.tls.unwrap();
    assert_eq!(t.cert, Pem::Inline("-----BEGIN CERTIFICATE-----\n".into()));
    assert_eq!(
        (t.min_version, t.max_version),
        (TlsVersion::Tls12, TlsVersion::Tls13)
    );
    assert!(t.prefer_server_cipher_suites);
    assert_eq!(t.client_auth, ClientAuth::None);
}

/// (file text, expected error after "/etc/iot-canary/web.yml:")
const INVALID: &[(&str, &str)] = &[
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  certfile: c\n",
        "4:3: `tls_server_config.certfile`: unknown field `certfile`, expected one of",
    ),
    (
        "basic_auth_users:\n  alice: x\nweb_listen: 1\n",
        "3:1: `web_listen`: unknown field `web_listen`, expected one of",
    ),
    (
        "http_server_config:\n  http3: true\n",
        "2:3: `http_server_config.http3`: unknown field `http3`, expected",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAnyClientCert\n",
        "4:3: `tls_server_config.client_auth_type`: `RequireAnyClientCert` is refused: it accepts client certificates nobody verified",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n",
        "4:3: `tls_server_config.client_auth_type`: verifying client certificates needs `client_ca_file`",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_ca_file: ca.pem\n",
        "4:3: `tls_server_config.client_ca_file`: a client CA is configured without a client auth policy",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS10\n",
        "4:3: `tls_server_config.min_version`: `TLS10` is refused: rustls implements TLS 1.2 and 1.3 only",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  min_version: TLS13\n  max_version: TLS12\n",
        "4:3: `tls_server_config.min_version`: is above max_version",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  cipher_suites:\n    - TLS_RSA_WITH_AES_128_CBC_SHA\n",
        "4:3: `tls_server_config.cipher_suites`: `TLS_RSA_WITH_AES_128_CBC_SHA` is not a TLS 1.2 suite rustls implements",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [CurveP521]\n",
        "4:3: `tls_server_config.curve_preferences`: `CurveP521` is not a curve rustls implements",
    ),
    (
        "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_allowed_sans: [x]\n",
        "4:3: `tls_server_config.client_allowed_sans`: is not supported by iot-canary",
    ),
    (
        "tls_server_config:\n  key_file: b\n",
        "1:1: `tls_server_config`: missing one of `cert` or `cert_file`",
    ),
    (
        "tls_server_config:\n  cert: x\n  cert_file: a\n  key_file: b\n",
        "3:3: `tls_server_config.cert_file`: set `cert` or `cert_file`, not both",
    ),
    (
        "rate_limit:\n  interval: 1s\n  burst: 20\n",
        "1:1: `rate_limit`: is not supported by iot-canary",
    ),
    (
        "http_server_config:\n  headers:\n    Server: iot\n",
        "3:5: `http_server_config.headers.Server`: header `Server` cannot be configured",
    ),
    (
        "http_server_config:\n  headers:\n    X-Frame-Options: allow\n",
        "3:5: `http_server_config.headers.X-Frame-Options`: `allow` is not one of deny, sameorigin",
    ),
    (
        "basic_auth_users:\n  alice: hunter2-plain\n",
        "2:3: `basic_auth_users.alice`: is not a bcrypt hash (expected a `$2a$`",
    ),
    (
        "http_server_config:\n  http2: maybe\n",
        "2:10: `http_server_config.http2`: invalid type",
    ),
    ("tls_server_config: [\n", ""),
];

#[test]
fn every_refusal_names_file_line_and_key() {
    for (src, want) in INVALID {
        let got = p(src).expect_err(src);
        let want = format!("/etc/iot-canary/web.yml:{want}");
        assert!(got.contains(&want), "{src}\n want {want}\n  got {got}");
    }
}

#[test]
fn errors_never_show_password_hashes() {
    let secret = "$2y$10$s3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3ts3cr3tXXXX";
    for src in [
        format!("basic_auth_users:\n  alice: '{secret}!!'\n"),
        format!("basic_auth_users:\n  alice: [\"{secret}\"]\n"),
        format!("basic_auth_users: \"{secret}\"\n"),
    ] {
        let e = p(&src).unwrap_err();
        assert!(!e.contains("s3cr3t"), "{src}: {e}");
    }
}

#[test]
fn bcrypt_shape() {
    assert_eq!(check_bcrypt(HASH), Ok(()));
    for bad in [
        "",
        "hunter2",
        "$2y$1$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG",
        "$2y$32$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG",
        "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7z",
        "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7z!",
        "$1$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG",
    ] {
        assert!(check_bcrypt(bad).is_err(), "{bad}");
    }
}
