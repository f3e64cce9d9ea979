//! Server-side verification of SigV4 `Authorization` headers (the form the AWS SDKs use for
//! STS). Pure: the caller looks the secret up by access key id and passes the time in.
//!
//! Canonical request per the SigV4 specification: method, canonical URI (normalised path,
//! each segment URI-encoded again, as non-S3 services expect), canonical query (decoded,
//! re-encoded RFC 3986, sorted), the signed headers (lower-case name, trimmed values with
//! inner whitespace collapsed), the signed-header list and the payload's SHA-256.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::verify as v;

/// AWS accepts header-signed requests whose `X-Amz-Date` is within 15 minutes of its clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderSigError {
    /// No `Authorization` header at all (STS: `MissingAuthenticationToken`).
    #[error("request is missing Authentication Token")]
    Missing,
    /// Header present but not a parseable SigV4 header (STS: `IncompleteSignature`).
    #[error("{0}")]
    Incomplete(String),
    /// Valid shape, wrong signature (STS: `SignatureDoesNotMatch`).
    #[error(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method."
    )]
    Mismatch,
    /// `X-Amz-Date` too far from the server clock (STS: `SignatureDoesNotMatch`).
    #[error("Signature expired: {0} is outside the 15 minute window of the server time")]
    Skewed(String),
}

/// The parsed `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub access_key_id: String,
    pub date: String,
    pub region: String,
    pub service: String,
    pub signed_headers: Vec<String>,
    pub signature: String,
}

pub fn parse_authorization(value: &str) -> Result<AuthHeader, HeaderSigError> {
    let rest = value.strip_prefix("AWS4-HMAC-SHA256 ").ok_or_else(|| {
        HeaderSigError::Incomplete(
            "Authorization header requires the AWS4-HMAC-SHA256 algorithm".into(),
        )
    })?;
    let (mut credential, mut signed, mut signature) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let missing = |k: &str| {
        HeaderSigError::Incomplete(format!("Authorization header requires '{k}' parameter"))
    };
    let credential = credential.ok_or_else(|| missing("Credential"))?;
    let signed = signed.ok_or_else(|| missing("SignedHeaders"))?;
    let signature = signature.ok_or_else(|| missing("Signature"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(HeaderSigError::Incomplete(
            "Credential should be scoped to a valid region and service: ACCESS_KEY/DATE/REGION/SERVICE/aws4_request".into(),
        ));
    };
    if akid.is_empty() || date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(HeaderSigError::Incomplete(
            "Credential should be scoped to a valid date".into(),
        ));
    }
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(HeaderSigError::Incomplete(
            "Signature must be 64 hexadecimal characters".into(),
        ));
    }
    let signed_headers: Vec<String> = signed.split(';').map(str::to_ascii_lowercase).collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(HeaderSigError::Incomplete(
            "'Host' must be a signed header".into(),
        ));
    }
    Ok(AuthHeader {
        access_key_id: (*akid).to_string(),
        date: (*date).to_string(),
        region: (*region).to_string(),
        service: (*service).to_string(),
        signed_headers,
        signature: signature.to_ascii_lowercase(),
    })
}

/// The parts of an HTTP request that SigV4 covers.
#[derive(Debug, Clone, Copy)]
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as sent (still percent-encoded).
    pub path: &'a str,
    /// The raw query string without `?` (empty if none).
    pub query: &'a str,
    pub headers: &'a HeaderMap,
    pub body: &'a [u8],
}

/// Verifies `auth` over `req` with `secret`; `now` bounds the `X-Amz-Date` skew.
pub fn verify(
    auth: &AuthHeader,
    req: &SignedRequest<'_>,
    secret: &str,
    now: SystemTime,
) -> Result<(), HeaderSigError> {
    let amz_date = req
        .headers
        .get("x-amz-date")
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| HeaderSigError::Incomplete("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header".into()))?;
    let signed_at = v::parse_amz_date(amz_date)
        .ok_or_else(|| HeaderSigError::Incomplete(format!("Invalid X-Amz-Date: {amz_date}")))?;
    if !amz_date.starts_with(&auth.date) {
        return Err(HeaderSigError::Mismatch);
    }
    let skew = match now.duration_since(signed_at) {
        Ok(d) => d,
        Err(e) => e.duration(),
    };
    if skew > MAX_SKEW {
        return Err(HeaderSigError::Skewed(amz_date.to_string()));
    }
    let canonical = canonical_request(auth, req)?;
    let scope = format!(
        "{}/{}/{}/aws4_request",
        auth.date, auth.region, auth.service
    );
    let key = v::signing_key(secret, &auth.date, &auth.region, &auth.service);
    let computed = hex::encode(v::hmac_sha256(
        &key,
        v::string_to_sign(amz_date, &scope, &canonical).as_bytes(),
    ));
    if v::constant_time_eq(&computed, &auth.signature) {
        Ok(())
    } else {
        Err(HeaderSigError::Mismatch)
    }
}

fn canonical_request(auth: &AuthHeader, req: &SignedRequest<'_>) -> Result<String, HeaderSigError> {
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    // A header listed as signed but absent cannot have been signed as sent.
    let canonical_headers = v::canonical_headers(&headers, &auth.signed_headers)
        .map_err(|_| HeaderSigError::Mismatch)?;
    let query = v::decode_query(req.query)
        .map_err(|_| HeaderSigError::Incomplete("malformed query string".into()))?;
    Ok(v::canonical_request(
        req.method,
        &canonical_uri_double(req.path),
        &v::canonical_query(query.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
        &canonical_headers,
        &auth.signed_headers.join(";"),
        &v::sha256_hex(req.body),
    ))
}

/// The canonical URI of a header-signed request to a non-S3 service: the path as sent,
/// normalised (`.`/`..`/empty segments), then percent-encoded *again* byte by byte with only
/// the RFC 3986 unreserved characters and `/` left as they are, so a label the client sent
/// as `a%2Fb` is signed as `a%252Fb` (SigV4 "double encoding"; aws-sigv4's
/// `PercentEncodingMode::Double`, botocore's `quote(path, safe='/~')`).
pub fn canonical_uri_double(path: &str) -> String {
    let normalized = v::canonical_uri_normalized_path(path);
    let mut out = String::with_capacity(normalized.len() + 8);
    for b in normalized.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_credential_types::Credentials;
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    use aws_smithy_runtime_api::client::identity::Identity;
    use std::time::UNIX_EPOCH;

    const BODY: &[u8] = b"Action=GetCallerIdentity&Version=2011-06-15";

    fn t0() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_767_225_600) // 2026-01-01T00:00:00Z
    }

    /// Signs a request the way the SDK does (aws-sigv4, header location) and returns it.
    fn signed(token: Option<&str>, at: SystemTime) -> http::Request<Vec<u8>> {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret1",
            token.map(str::to_string),
            None,
            "t",
        );
        let identity: Identity = creds.into();
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region("us-east-1")
            .name("sts")
            .time(at)
            .settings(SigningSettings::default())
            .build()
            .unwrap()
            .into();
        let mut req = http::Request::builder()
            .method("POST")
            .uri("http://127.0.0.1:4100/")
            .header("host", "127.0.0.1:4100")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(BODY.to_vec())
            .unwrap();
        let headers: Vec<(&str, &str)> = req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        let signable = SignableRequest::new(
            "POST",
            "http://127.0.0.1:4100/",
            headers.into_iter(),
            SignableBody::Bytes(BODY),
        )
        .unwrap();
        let (instr, _) = sign(signable, &params).unwrap().into_parts();
        instr.apply_to_request_http1x(&mut req);
        req
    }

    fn check(
        req: &http::Request<Vec<u8>>,
        secret: &str,
        now: SystemTime,
    ) -> Result<AuthHeader, HeaderSigError> {
        let auth = req
            .headers()
            .get("authorization")
            .ok_or(HeaderSigError::Missing)?
            .to_str()
            .unwrap();
        let auth = parse_authorization(auth)?;
        let sreq = SignedRequest {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or(""),
            headers: req.headers(),
            body: req.body(),
        };
        verify(&auth, &sreq, secret, now).map(|()| auth)
    }

    #[test]
    fn accepts_what_aws_sigv4_signs() {
        let req = signed(None, t0());
        let auth = check(&req, "secret1", t0()).unwrap();
        assert_eq!(auth.access_key_id, "AKIDEXAMPLE");
        assert_eq!(auth.region, "us-east-1");
        assert_eq!(auth.service, "sts");
        // The session token is a signed header in header mode.
        let req = signed(Some("tok/en+=="), t0());
        let auth = check(&req, "secret1", t0()).unwrap();
        assert!(
            auth.signed_headers
                .iter()
                .any(|h| h == "x-amz-security-token")
        );
    }

    #[test]
    fn wrong_secret_tampered_body_or_header_mismatch() {
        let req = signed(Some("tok"), t0());
        assert_eq!(check(&req, "secret2", t0()), Err(HeaderSigError::Mismatch));
        let mut tampered = req.clone();
        *tampered.body_mut() = b"Action=AssumeRole&Version=2011-06-15".to_vec();
        assert_eq!(
            check(&tampered, "secret1", t0()),
            Err(HeaderSigError::Mismatch)
        );
        let mut swapped = req.clone();
        swapped
            .headers_mut()
            .insert("x-amz-security-token", "other".parse().unwrap());
        assert_eq!(
            check(&swapped, "secret1", t0()),
            Err(HeaderSigError::Mismatch)
        );
        let mut host = req;
        host.headers_mut()
            .insert("host", "127.0.0.1:4101".parse().unwrap());
        assert_eq!(check(&host, "secret1", t0()), Err(HeaderSigError::Mismatch));
    }

    #[test]
    fn path_labels_are_double_encoded() {
        assert_eq!(canonical_uri_double("/"), "/");
        assert_eq!(canonical_uri_double(""), "/");
        assert_eq!(
            canonical_uri_double("/topics/a%2Fb%3Ac"),
            "/topics/a%252Fb%253Ac"
        );
        assert_eq!(canonical_uri_double("/a/./b/../c/"), "/a/c/");
    }

    #[test]
    fn clock_skew_window_is_fifteen_minutes_both_ways() {
        let req = signed(None, t0());
        assert!(check(&req, "secret1", t0() + Duration::from_secs(14 * 60)).is_ok());
        assert!(matches!(
            check(&req, "secret1", t0() + Duration::from_secs(16 * 60)),
            Err(HeaderSigError::Skewed(_))
        ));
        assert!(matches!(
            check(&req, "secret1", t0() - Duration::from_secs(16 * 60)),
            Err(HeaderSigError::Skewed(_))
        ));
    }

    #[test]
    fn malformed_headers_are_incomplete_not_panics() {
        for bad in [
            "",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts/aws4_request",
            "AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AK/20260101/us-east-1/sts/aws4_request, SignedHeaders=x-amz-date, Signature=0000000000000000000000000000000000000000000000000000000000000000",
            "Basic dXNlcjpwYXNz",
            "AWS4-HMAC-SHA256 Credential=/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=ZZ00000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert!(
                matches!(parse_authorization(bad), Err(HeaderSigError::Incomplete(_))),
                "{bad}"
            );
        }
    }
}
