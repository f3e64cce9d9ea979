//! Presigned `wss://.../mqtt` URLs for AWS IoT (service `iotdevicegateway`): the session token
//! is appended after signing, unsigned, as AWS IoT requires (`SessionTokenMode::Exclude`).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    SessionTokenMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings, sign,
};

pub const SERVICE: &str = "iotdevicegateway";

#[derive(Debug, thiserror::Error)]
pub enum PresignError {
    // The messages carry only the URL shape problem or the signer's error kind, never keys.
    #[error("invalid endpoint URL: {0}")]
    Url(String),
    #[error("signing failed: {0}")]
    Sign(String),
}

/// Presigns `base` (e.g. `wss://host:port/mqtt`) for `region` at `now`, valid for `expires_in`.
pub fn presign_url(
    base: &str,
    region: &str,
    creds: &Credentials,
    now: SystemTime,
    expires_in: Duration,
) -> Result<String, PresignError> {
    let identity: aws_smithy_runtime_api::client::identity::Identity = creds.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(expires_in);
    settings.session_token_mode = SessionTokenMode::Exclude;
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(SERVICE)
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into();
    let req = SignableRequest::new("GET", base, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| PresignError::Url(e.to_string()))?;
    let (instructions, _signature) = sign(req, &params)
        .map_err(|e| PresignError::Sign(e.to_string()))?
        .into_parts();
    let mut http_req = http::Request::builder()
        .uri(base)
        .body(())
        .map_err(|e| PresignError::Url(e.to_string()))?;
    instructions.apply_to_request_http1x(&mut http_req);
    Ok(http_req.uri().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> SystemTime {
        // 2026-01-01T00:00:00Z
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600)
    }

    /// `url` presigned in us-east-1 at `at` for `expires_secs`.
    fn sign(url: &str, creds: &Credentials, at: SystemTime, expires_secs: u64) -> String {
        presign_url(
            url,
            "us-east-1",
            creds,
            at,
            Duration::from_secs(expires_secs),
        )
        .unwrap()
    }

    #[test]
    fn matches_the_reference_vector_with_token_appended_last() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("IQoJb3JpZ2luX2VjE+/tok==".into()),
            None,
            "test",
        );
        let url = sign(
            "wss://example-ats.iot.us-east-1.amazonaws.com/mqtt",
            &creds,
            t0(),
            300,
        );
        assert!(url.starts_with("wss://example-ats.iot.us-east-1.amazonaws.com/mqtt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20260101%2Fus-east-1%2Fiotdevicegateway%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=300&X-Amz-SignedHeaders=host&X-Amz-Signature="), "{url}");
        assert!(
            url.ends_with("&X-Amz-Security-Token=IQoJb3JpZ2luX2VjE%2B%2Ftok%3D%3D"),
            "{url}"
        );
        assert!(!url.contains("wJalrXUtnFEMI"), "secret leaked into URL");
    }

    #[test]
    fn token_is_not_signed_and_static_keys_have_no_token() {
        let with = |tok: Option<&str>| {
            let c = Credentials::new("AKID", "secret", tok.map(String::from), None, "t");
            sign("wss://h:8443/mqtt", &c, t0(), 60)
        };
        let sig = |u: &str| u.split("X-Amz-Signature=").nth(1).unwrap()[..64].to_string();
        let a = with(Some("token-a"));
        let b = with(Some("token-b"));
        let none = with(None);
        assert_eq!(
            sig(&a),
            sig(&b),
            "session token must not change the signature"
        );
        assert_eq!(sig(&a), sig(&none));
        assert!(!none.contains("X-Amz-Security-Token"));
    }

    #[test]
    fn fresh_time_gives_a_fresh_signature() {
        let c = Credentials::new("AKID", "secret", None, None, "t");
        let u1 = sign("wss://h/mqtt", &c, t0(), 60);
        let u2 = sign("wss://h/mqtt", &c, t0() + Duration::from_secs(1), 60);
        assert_ne!(u1, u2);
    }
}
