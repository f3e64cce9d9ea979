//! SigV4 presigned-URL verification (query-string auth), pure: the caller passes the request
//! parts, the secret it looked up and the current time.
//!
//! AWS IoT specifics (shared/reference/aws-iot-authz.md §1.2): service `iotdevicegateway`, the
//! signed-header list is whatever `X-Amz-SignedHeaders` says (clients sign `host` or
//! `connection;host`), `X-Amz-Expires` is optional, and `X-Amz-Security-Token` is appended
//! after signing and is *not* part of the canonical query ([`TokenMode::Unsigned`]).

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Credential-scope service name of the AWS IoT device gateway (MQTT over websocket).
pub const IOT_SERVICE: &str = "iotdevicegateway";
/// Tolerated clock difference between signer and verifier (SigV4: 5 minutes).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);
/// Longest `X-Amz-Expires` accepted (SigV4's documented maximum, 7 days).
pub const MAX_EXPIRES_SECS: u64 = 604_800;

type HmacSha256 = Hmac<Sha256>;

/// Whether `X-Amz-Security-Token` is covered by the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenMode {
    /// AWS IoT: the token is appended after signing; a signature that covers it is rejected.
    Unsigned,
    /// Standard SigV4 query auth: the token is part of the canonical query.
    Signed,
}

/// Why a presigned request was refused. [`VerifyError::is_malformed`] separates the 400
/// (InvalidRequestException) cases from the 403 (ForbiddenException) ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing query parameter {0}")]
    Missing(&'static str),
    #[error("malformed query string")]
    MalformedQuery,
    #[error("malformed X-Amz-Credential")]
    MalformedCredential,
    #[error("malformed X-Amz-Date")]
    MalformedDate,
    #[error("malformed X-Amz-Expires")]
    MalformedExpires,
    #[error("unsupported algorithm")]
    UnsupportedAlgorithm,
    #[error("X-Amz-SignedHeaders must include host")]
    HostNotSigned,
    #[error("signed header {0} is absent from the request")]
    SignedHeaderAbsent(String),
    #[error("credential scope service is not {0}")]
    WrongService(&'static str),
    #[error("credential scope region does not match")]
    WrongRegion,
    #[error("credential scope date does not match X-Amz-Date")]
    ScopeDateMismatch,
    #[error("signature does not match")]
    SignatureMismatch,
    #[error("request signed in the future beyond the allowed clock skew")]
    NotYetValid,
    #[error("presigned URL expired")]
    Expired,
}

impl VerifyError {
    /// Malformed requests get 400 InvalidRequestException; everything else 403.
    pub fn is_malformed(&self) -> bool {
        matches!(
            self,
            VerifyError::MalformedQuery
                | VerifyError::MalformedCredential
                | VerifyError::MalformedDate
                | VerifyError::MalformedExpires
        )
    }
}

/// The authentication parameters of a presigned query, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresignedQuery {
    pub access_key_id: String,
    /// `yyyymmdd` from the credential scope.
    pub scope_date: String,
    pub region: String,
    pub service: String,
    /// `X-Amz-Date` as sent (`yyyymmddThhmmssZ`).
    pub amz_date: String,
    pub signed_at: SystemTime,
    pub expires: Option<u64>,
    /// Lower-cased, in the order given.
    pub signed_headers: Vec<String>,
    pub signature: String,
    pub session_token: Option<String>,
    /// Every decoded query parameter, in request order (signature included).
    pub params: Vec<(String, String)>,
}

impl PresignedQuery {
    /// `date/region/service/aws4_request`
    pub fn scope(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.scope_date, self.region, self.service
        )
    }
}

/// One HTTP request as the verifier sees it. `headers` are (name, value) pairs with repeated
/// names allowed; names are compared case-insensitively.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path exactly as received (still percent-encoded).
    pub path: &'a str,
    /// The raw query string (without `?`).
    pub query: &'a str,
    pub headers: &'a [(String, String)],
    /// Hex SHA-256 of the payload (`EMPTY_PAYLOAD_SHA256` for websocket upgrades).
    pub payload_sha256: &'a str,
    /// Apply RFC 3986 path normalisation (every service except S3).
    pub normalize_path: bool,
}

/// Hex SHA-256 of the empty string.
pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
    pub session_token: Option<String>,
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so construction cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// `AWS4<secret>` → date → region → service → `aws4_request`.
pub fn signing_key(secret: &str, scope_date: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(format!("AWS4{secret}").as_bytes(), scope_date.as_bytes());
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters kept, everything else `%XX`
/// upper-case; `/` kept only when `keep_slash`.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/')
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes a query component. `+` stays a literal `+` (SigV4 signers encode spaces as
/// `%20`, and tokens containing `+` must survive).
pub fn percent_decode(s: &str) -> Result<String, VerifyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(VerifyError::MalformedQuery)?;
            let hex = std::str::from_utf8(hex).map_err(|_| VerifyError::MalformedQuery)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| VerifyError::MalformedQuery)?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| VerifyError::MalformedQuery)
}

/// Splits and decodes a raw query string into (name, value) pairs, in order.
pub fn decode_query(raw: &str) -> Result<Vec<(String, String)>, VerifyError> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            Ok((percent_decode(k)?, percent_decode(v)?))
        })
        .collect()
}

/// Canonical query from decoded pairs: each side re-encoded, sorted by name then value.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut encoded: Vec<(String, String)> = params
        .into_iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// `path` with empty, `.` and `..` segments removed (a trailing `/` kept), `/` if empty
/// (RFC 3986 §5.2.4, as SigV4 does for every service but S3).
pub fn canonical_uri_normalized_path(path: &str) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    let trailing = path.ends_with('/') && !out.is_empty();
    let mut p = format!("/{}", out.join("/"));
    if trailing {
        p.push('/');
    }
    p
}

/// Canonical URI of a raw (already percent-encoded) request path. Existing `%XX` sequences are
/// kept; other reserved bytes are encoded. With `normalize`, dot segments are removed and
/// empty segments collapsed ([`canonical_uri_normalized_path`]).
pub fn canonical_uri(path: &str, normalize: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    let path = if normalize {
        canonical_uri_normalized_path(path)
    } else {
        path.to_string()
    };
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/' | b'%') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `name:value\n` for each signed header (values of repeated headers joined with `,`,
/// whitespace trimmed and runs collapsed). `None` names the first signed header that is
/// absent from the request.
pub fn canonical_headers(
    headers: &[(String, String)],
    signed: &[String],
) -> Result<String, VerifyError> {
    let mut out = String::new();
    for name in signed {
        let values: Vec<String> = headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        if values.is_empty() {
            return Err(VerifyError::SignedHeaderAbsent(name.clone()));
        }
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

pub fn canonical_request(
    method: &str,
    canonical_uri: &str,
    canonical_query: &str,
    canonical_headers: &str,
    signed_headers: &str,
    payload_sha256: &str,
) -> String {
    format!(
        "{method}\n{canonical_uri}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_sha256}"
    )
}

pub fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    )
}

/// `yyyymmddThhmmssZ` → time.
pub fn parse_amz_date(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u64> {
        let t = s.get(r)?;
        if t.bytes().all(|c| c.is_ascii_digit()) {
            t.parse().ok()
        } else {
            None
        }
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(y as i64, mo as i64, d as i64);
    if days < 0 {
        return None;
    }
    let secs = days as u64 * 86_400 + h * 3600 + mi * 60 + se;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
}

/// Formats a time as `yyyymmddThhmmssZ`.
pub fn format_amz_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes the SigV4 parameters of a raw query string (no signature check yet), so the caller
/// can look up the secret for `access_key_id`.
pub fn parse_presigned_query(raw_query: &str) -> Result<PresignedQuery, VerifyError> {
    let params = decode_query(raw_query)?;
    let algorithm =
        param(&params, "X-Amz-Algorithm").ok_or(VerifyError::Missing("X-Amz-Algorithm"))?;
    if algorithm != ALGORITHM {
        return Err(VerifyError::UnsupportedAlgorithm);
    }
    let credential =
        param(&params, "X-Amz-Credential").ok_or(VerifyError::Missing("X-Amz-Credential"))?;
    let parts: Vec<&str> = credential.split('/').collect();
    let [akid, date, region, service, terminator] = parts[..] else {
        return Err(VerifyError::MalformedCredential);
    };
    if akid.is_empty()
        || date.len() != 8
        || !date.bytes().all(|b| b.is_ascii_digit())
        || region.is_empty()
        || service.is_empty()
        || terminator != "aws4_request"
    {
        return Err(VerifyError::MalformedCredential);
    }
    let amz_date = param(&params, "X-Amz-Date").ok_or(VerifyError::Missing("X-Amz-Date"))?;
    let signed_at = parse_amz_date(amz_date).ok_or(VerifyError::MalformedDate)?;
    let expires = match param(&params, "X-Amz-Expires") {
        None => None,
        Some(v) => {
            let secs: u64 = v.parse().map_err(|_| VerifyError::MalformedExpires)?;
            if secs == 0 || secs > MAX_EXPIRES_SECS {
                return Err(VerifyError::MalformedExpires);
            }
            Some(secs)
        }
    };
    let signed_headers: Vec<String> = param(&params, "X-Amz-SignedHeaders")
        .ok_or(VerifyError::Missing("X-Amz-SignedHeaders"))?
        .split(';')
        .map(str::to_ascii_lowercase)
        .collect();
    if !signed_headers.iter().any(|h| h == "host") {
        return Err(VerifyError::HostNotSigned);
    }
    let signature = param(&params, "X-Amz-Signature")
        .ok_or(VerifyError::Missing("X-Amz-Signature"))?
        .to_string();
    let session_token = param(&params, "X-Amz-Security-Token").map(str::to_string);
    Ok(PresignedQuery {
        access_key_id: akid.to_string(),
        scope_date: date.to_string(),
        region: region.to_string(),
        service: service.to_string(),
        amz_date: amz_date.to_string(),
        signed_at,
        expires,
        signed_headers,
        signature,
        session_token,
        params,
    })
}

/// The canonical request the signer must have built for `parts` and `q`.
pub fn presigned_canonical_request(
    parts: &RequestParts<'_>,
    q: &PresignedQuery,
    token_mode: TokenMode,
) -> Result<String, VerifyError> {
    let cq = canonical_query(
        q.params
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .filter(|(k, _)| token_mode == TokenMode::Signed || k != "X-Amz-Security-Token")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    let ch = canonical_headers(parts.headers, &q.signed_headers)?;
    Ok(canonical_request(
        parts.method,
        &canonical_uri(parts.path, parts.normalize_path),
        &cq,
        &ch,
        &q.signed_headers.join(";"),
        parts.payload_sha256,
    ))
}

/// Verifies the signature of a parsed presigned query with `secret`, then its time window.
/// Expected service and region are checked first, so a URL signed for another service never
/// reaches the HMAC. The signature comparison is constant-time.
pub fn verify_presigned(
    parts: &RequestParts<'_>,
    q: &PresignedQuery,
    secret: &str,
    expect_service: &'static str,
    expect_region: Option<&str>,
    token_mode: TokenMode,
    now: SystemTime,
) -> Result<Verified, VerifyError> {
    if q.service != expect_service {
        return Err(VerifyError::WrongService(expect_service));
    }
    if let Some(region) = expect_region
        && q.region != region
    {
        return Err(VerifyError::WrongRegion);
    }
    if !q.amz_date.starts_with(&q.scope_date) {
        return Err(VerifyError::ScopeDateMismatch);
    }
    let creq = presigned_canonical_request(parts, q, token_mode)?;
    let sts = string_to_sign(&q.amz_date, &q.scope(), &creq);
    let key = signing_key(secret, &q.scope_date, &q.region, &q.service);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!());
    mac.update(sts.as_bytes());
    let given = hex::decode(&q.signature).map_err(|_| VerifyError::SignatureMismatch)?;
    mac.verify_slice(&given)
        .map_err(|_| VerifyError::SignatureMismatch)?;
    check_time_window(q.signed_at, q.expires, now)?;
    Ok(Verified {
        access_key_id: q.access_key_id.clone(),
        region: q.region.clone(),
        service: q.service.clone(),
        session_token: q.session_token.clone(),
    })
}

/// A URL signed more than the allowed skew in the future is not yet valid. With
/// `X-Amz-Expires` it expires at date + expires; without it (AWS SDKs omit it), the window is
/// date ± the allowed skew (UNCONFIRMED: AWS IoT's window for URLs without X-Amz-Expires).
pub fn check_time_window(
    signed_at: SystemTime,
    expires: Option<u64>,
    now: SystemTime,
) -> Result<(), VerifyError> {
    if signed_at > now + MAX_CLOCK_SKEW {
        return Err(VerifyError::NotYetValid);
    }
    let lifetime = expires.map_or(MAX_CLOCK_SKEW, Duration::from_secs);
    if now > signed_at + lifetime {
        return Err(VerifyError::Expired);
    }
    Ok(())
}

/// Constant-time string equality (session tokens).
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    // Length leaks, content does not: every byte is compared regardless of earlier mismatches.
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
