//! The lab's SigV4 presigned-URL verifier against (a) the official AWS signing test suite that
//! ships inside the aws-sigv4 crate (located with `cargo metadata`, read in place) and (b) URLs
//! presigned by aws-sigv4 itself the way AWS IoT clients do, plus tampering.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use iot_canary_lab::sigv4::verify::{
    self, EMPTY_PAYLOAD_SHA256, IOT_SERVICE, RequestParts, TokenMode, VerifyError,
};

use iot_canary_testkit::sigv4::{TokenSigning, presign, presign_without_expires};
use iot_canary_testkit::tools::package_dir;

/// The official AWS SigV4 test suite, as the aws-sigv4 crate ships it.
fn suite_dir() -> PathBuf {
    let dir = package_dir("aws-sigv4").join("aws-signing-test-suite/v4");
    assert!(dir.is_dir(), "test suite not found at {}", dir.display());
    dir
}

struct Vector {
    name: String,
    method: String,
    path: String,
    query: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    context: serde_json::Value,
    canonical: String,
}

/// Parses `query-signed-request.txt`: request line, headers (continuation lines folded into
/// the previous value with a space), blank line, body.
fn parse_vector(dir: &std::path::Path) -> Option<Vector> {
    let signed = std::fs::read_to_string(dir.join("query-signed-request.txt")).ok()?;
    let context: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("context.json")).ok()?).ok()?;
    let canonical = std::fs::read_to_string(dir.join("query-canonical-request.txt")).ok()?;
    let (head, body) = signed.split_once("\n\n").unwrap_or((&signed, ""));
    let mut lines = head.lines();
    let request_line = lines.next()?;
    let mut rl = request_line.splitn(2, ' ');
    let method = rl.next()?.to_string();
    let target = rl.next()?.rsplit_once(' ')?.0;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in lines {
        if line.starts_with(' ') || line.starts_with('\t') {
            headers.last_mut()?.1.push_str(&format!(" {}", line.trim()));
        } else {
            let (n, v) = line.split_once(':')?;
            headers.push((n.to_string(), v.to_string()));
        }
    }
    Some(Vector {
        name: dir.file_name()?.to_string_lossy().into_owned(),
        method,
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: body.as_bytes().to_vec(),
        context,
        canonical,
    })
}

#[test]
fn official_sigv4_suite_query_vectors_verify() {
    let dir = suite_dir();
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let entry = entry.unwrap();
        let Some(v) = parse_vector(&entry.path()) else {
            continue;
        };
        let ctx = &v.context;
        let service: &'static str = Box::leak(
            ctx["service"]
                .as_str()
                .unwrap()
                .to_string()
                .into_boxed_str(),
        );
        let secret = ctx["credentials"]["secret_access_key"].as_str().unwrap();
        let now =
            verify::parse_amz_date(&ctx["timestamp"].as_str().unwrap().replace(['-', ':'], ""))
                .unwrap();
        let payload = if ctx["sign_body"].as_bool() == Some(true) {
            verify::sha256_hex(&v.body)
        } else {
            EMPTY_PAYLOAD_SHA256.to_string()
        };
        let mode = if ctx["omit_session_token"].as_bool() == Some(true) {
            TokenMode::Unsigned
        } else {
            TokenMode::Signed
        };
        let parts = RequestParts {
            method: &v.method,
            path: &v.path,
            query: &v.query,
            headers: &v.headers,
            payload_sha256: &payload,
            normalize_path: ctx["normalize"].as_bool().unwrap_or(true),
        };
        let q =
            verify::parse_presigned_query(&v.query).unwrap_or_else(|e| panic!("{}: {e}", v.name));
        let creq = verify::presigned_canonical_request(&parts, &q, mode).unwrap();
        assert_eq!(
            creq,
            v.canonical.trim_end(),
            "{}: canonical request",
            v.name
        );
        verify::verify_presigned(&parts, &q, secret, service, None, mode, now)
            .unwrap_or_else(|e| panic!("{}: {e}", v.name));
        // The same vector with one byte of the signature changed must fail.
        let mut bad = q.clone();
        let flipped = if bad.signature.starts_with('0') {
            "1"
        } else {
            "0"
        };
        bad.signature.replace_range(0..1, flipped);
        assert_eq!(
            verify::verify_presigned(&parts, &bad, secret, service, None, mode, now),
            Err(VerifyError::SignatureMismatch),
            "{}",
            v.name
        );
        checked.push(v.name);
    }
    // 38 of the suite's 40 directories carry query-signing vectors (1.6.4).
    assert!(
        checked.len() >= 38,
        "only {} vectors checked: {checked:?}",
        checked.len()
    );
}

#[test]
fn session_token_vector_shows_iot_mode_rejects_a_signed_token() {
    let dir = suite_dir().join("get-vanilla-with-session-token");
    let v = parse_vector(&dir).unwrap();
    let parts = RequestParts {
        method: &v.method,
        path: &v.path,
        query: &v.query,
        headers: &v.headers,
        payload_sha256: EMPTY_PAYLOAD_SHA256,
        normalize_path: true,
    };
    let q = verify::parse_presigned_query(&v.query).unwrap();
    let now = verify::parse_amz_date("20150830T123600Z").unwrap();
    let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    assert!(
        verify::verify_presigned(&parts, &q, secret, "service", None, TokenMode::Signed, now)
            .is_ok()
    );
    assert_eq!(
        verify::verify_presigned(
            &parts,
            &q,
            secret,
            "service",
            None,
            TokenMode::Unsigned,
            now
        ),
        Err(VerifyError::SignatureMismatch)
    );
}

const SECRET: &str = "lab-secret";
const TOKEN: &str = "IQoJb3JpZ2luX2VjE+/tok==";

fn verify_url(
    url: &str,
    host: &str,
    secret: &str,
    now: SystemTime,
) -> Result<verify::Verified, VerifyError> {
    let uri: http::Uri = url.parse().unwrap();
    let headers = vec![
        ("Host".to_string(), host.to_string()),
        ("Connection".to_string(), "Upgrade".to_string()),
    ];
    let parts = RequestParts {
        method: "GET",
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &headers,
        payload_sha256: EMPTY_PAYLOAD_SHA256,
        normalize_path: true,
    };
    let q = verify::parse_presigned_query(parts.query)?;
    verify::verify_presigned(
        &parts,
        &q,
        secret,
        IOT_SERVICE,
        Some("us-east-1"),
        TokenMode::Unsigned,
        now,
    )
}

#[test]
fn aws_sigv4_presigned_iot_urls_verify_and_tampering_fails() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600); // 2026-01-01
    let base = "wss://127.0.0.1:8443/mqtt";
    let host = "127.0.0.1:8443";
    for token in [None, Some(TOKEN)] {
        let url = presign(
            base,
            "AKIALAB",
            SECRET,
            token,
            t,
            Some(300),
            TokenSigning::Excluded,
        );
        let ok = verify_url(&url, host, SECRET, t + Duration::from_secs(10)).unwrap();
        assert_eq!(ok.access_key_id, "AKIALAB");
        assert_eq!(ok.session_token.as_deref(), token);
        // Token appended after the signature, so it is the last parameter.
        if token.is_some() {
            assert!(
                url.rsplit('&')
                    .next()
                    .unwrap()
                    .starts_with("X-Amz-Security-Token=")
            );
        }
        // Tampered: a changed date.
        let tampered = url.replace("X-Amz-Date=20260101T000000Z", "X-Amz-Date=20260101T000001Z");
        assert_eq!(
            verify_url(&tampered, host, SECRET, t),
            Err(VerifyError::SignatureMismatch)
        );
        // An extra query parameter is part of the canonical query, so it breaks the signature.
        assert_eq!(
            verify_url(&format!("{url}&extra=1"), host, SECRET, t),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_url(&url, host, "wrong", t),
            Err(VerifyError::SignatureMismatch)
        );
        assert_eq!(
            verify_url(&url, "127.0.0.1:9999", SECRET, t),
            Err(VerifyError::SignatureMismatch),
            "wrong host"
        );
        assert_eq!(
            verify_url(&url, host, SECRET, t + Duration::from_secs(301)),
            Err(VerifyError::Expired)
        );
        assert_eq!(
            verify_url(&url, host, SECRET, t - Duration::from_secs(301)),
            Err(VerifyError::NotYetValid)
        );
    }
}

#[test]
fn token_covered_by_the_signature_is_rejected_as_aws_iot_does() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    let url = presign(
        "wss://127.0.0.1:8443/mqtt",
        "AKIALAB",
        SECRET,
        Some(TOKEN),
        t,
        Some(300),
        TokenSigning::Included,
    );
    assert_eq!(
        verify_url(&url, "127.0.0.1:8443", SECRET, t),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn url_without_expires_is_valid_within_the_skew_window() {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600);
    // aws-sigv4 cannot presign without an expiry, so sign like the CRT does (no X-Amz-Expires)
    // with the helpers the official vectors above validate.
    let url = presign_without_expires("localhost", "AKIALAB", SECRET, t);
    assert!(!url.contains("X-Amz-Expires"));
    assert!(verify_url(&url, "localhost", SECRET, t + Duration::from_secs(299)).is_ok());
    assert_eq!(
        verify_url(&url, "localhost", SECRET, t + Duration::from_secs(301)),
        Err(VerifyError::Expired)
    );
    // Host sent with an explicit port differs from the signed host.
    assert_eq!(
        verify_url(&url, "localhost:443", SECRET, t),
        Err(VerifyError::SignatureMismatch)
    );
}

#[test]
fn malformed_parameters_are_classified_400() {
    for (q, want) in [
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F2026",
            VerifyError::MalformedCredential,
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=%ZZ",
            VerifyError::MalformedQuery,
        ),
        (
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F20260101%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=yesterday",
            VerifyError::MalformedDate,
        ),
    ] {
        let e = verify::parse_presigned_query(q).unwrap_err();
        assert_eq!(e, want);
        assert!(e.is_malformed());
    }
    let e = verify::parse_presigned_query("X-Amz-Signature=00").unwrap_err();
    assert_eq!(e, VerifyError::Missing("X-Amz-Algorithm"));
    assert!(!e.is_malformed());
}

#[test]
fn amz_date_round_trips() {
    for secs in [0u64, 951_782_400, 1_767_225_600, 4_102_444_799] {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs);
        assert_eq!(verify::parse_amz_date(&verify::format_amz_date(t)), Some(t));
    }
    assert_eq!(verify::parse_amz_date("20261301T000000Z"), None);
}
