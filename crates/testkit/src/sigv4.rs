//! Client-side SigV4 presigning with aws-sigv4 (an implementation independent of the daemon's
//! own presigner), the way AWS IoT clients sign `wss://HOST/mqtt`.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenSigning {
    /// AWS IoT style: token appended after signing.
    Excluded,
    /// Standard SigV4: token inside the canonical query (AWS IoT rejects this).
    Included,
}

/// A presigned `wss://HOST/mqtt` URL for service `iotdevicegateway`, region us-east-1.
pub fn presign(
    base: &str,
    akid: &str,
    secret: &str,
    token: Option<&str>,
    at: SystemTime,
    expires: Option<u64>,
    token_signing: TokenSigning,
) -> String {
    let creds = Credentials::new(akid, secret, token.map(str::to_string), None, "test");
    let identity = creds.into();
    let mut s = SigningSettings::default();
    s.signature_location = SignatureLocation::QueryParams;
    s.expires_in = expires.map(Duration::from_secs);
    s.session_token_mode = match token_signing {
        TokenSigning::Excluded => SessionTokenMode::Exclude,
        TokenSigning::Included => SessionTokenMode::Include,
    };
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name("iotdevicegateway")
        .time(at)
        .settings(s)
        .build()
        .unwrap()
        .into();
    let req =
        SignableRequest::new("GET", base, std::iter::empty(), SignableBody::Bytes(&[])).unwrap();
    let (instructions, _sig) = sign(req, &params).unwrap().into_parts();
    let mut http_req = http::Request::builder().uri(base).body(()).unwrap();
    instructions.apply_to_request_http1x(&mut http_req);
    http_req.uri().to_string()
}

/// Presigns like the AWS CRT (`omit_session_token`, no `X-Amz-Expires`), built from the
/// verifier's public helpers (which the official vectors check).
pub fn presign_without_expires(host: &str, akid: &str, secret: &str, at: SystemTime) -> String {
    use iot_canary_lab::sigv4::verify as v;
    let amz_date = v::format_amz_date(at);
    let scope = format!("{}/us-east-1/iotdevicegateway/aws4_request", &amz_date[..8]);
    let params = [
        ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
        ("X-Amz-Credential", &format!("{akid}/{scope}")),
        ("X-Amz-Date", &amz_date),
        ("X-Amz-SignedHeaders", "host"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let cq = v::canonical_query(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let creq = v::canonical_request(
        "GET",
        "/mqtt",
        &cq,
        &format!("host:{host}\n"),
        "host",
        v::EMPTY_PAYLOAD_SHA256,
    );
    let sts = v::string_to_sign(&amz_date, &scope, &creq);
    let sig = hex::encode(v::hmac_sha256(
        &v::signing_key(secret, &amz_date[..8], "us-east-1", "iotdevicegateway"),
        sts.as_bytes(),
    ));
    format!("wss://{host}/mqtt?{cq}&X-Amz-Signature={sig}")
}

#[derive(Debug, Clone)]
pub struct Creds {
    pub akid: String,
    pub secret: String,
    pub token: Option<String>,
}

impl Creds {
    /// Static keys (no session token).
    pub fn new(akid: &str, secret: &str) -> Creds {
        Creds {
            akid: akid.into(),
            secret: secret.into(),
            token: None,
        }
    }
}

impl From<(&str, &str)> for Creds {
    fn from((akid, secret): (&str, &str)) -> Self {
        Creds::new(akid, secret)
    }
}

impl From<&aws_credential_types::Credentials> for Creds {
    fn from(c: &aws_credential_types::Credentials) -> Self {
        Creds {
            akid: c.access_key_id().to_string(),
            secret: c.secret_access_key().to_string(),
            token: c.session_token().map(str::to_string),
        }
    }
}

pub(crate) fn sdk_creds(c: &Creds) -> Credentials {
    Credentials::new(&c.akid, &c.secret, c.token.clone(), None, "test")
}

/// Presigned URL for static keys, signed now, valid 300 s (AWS IoT style).
pub fn presign_now(base: &str, keys: (&str, &str)) -> String {
    presign(
        base,
        keys.0,
        keys.1,
        None,
        SystemTime::now(),
        Some(300),
        TokenSigning::Excluded,
    )
}

/// Presigned URL for `c`, valid 300 s, token appended after signing (AWS IoT style).
pub fn presign_creds(base: &str, c: &Creds, at: SystemTime) -> String {
    presign(
        base,
        &c.akid,
        &c.secret,
        c.token.as_deref(),
        at,
        Some(300),
        TokenSigning::Excluded,
    )
}
