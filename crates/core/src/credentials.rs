//! Credential state as plain data: a fixed failure-reason vocabulary (the `reason` label of
//! `iot_canary_credential_failures_total`), the pure classification of service answers, and
//! each identity's cache status as metrics and the status page read it.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// Why an identity could not obtain credentials. A fixed list so metric label cardinality
/// stays bounded; the free-form detail goes into [`IdentityError::message`], never a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// Connection refused/reset, DNS, TLS: the credential service could not be reached.
    Network,
    /// The credential service did not answer within the fetch timeout.
    Timeout,
    /// The service refused the caller: bad password, unknown user, access denied, expired token.
    Auth,
    /// Rate limited (`Throttling`, `TooManyRequestsException`, HTTP 429).
    Throttled,
    /// The service answered 5xx: it is up but failing.
    Service,
    /// The answer could not be understood (missing fields, bad JSON/XML, bad timestamps).
    Malformed,
    /// Local configuration: a missing environment variable or file, an unknown source identity,
    /// a service rejecting our parameters as invalid.
    Config,
}

impl FailureReason {
    pub const ALL: [FailureReason; 7] = [
        FailureReason::Network,
        FailureReason::Timeout,
        FailureReason::Auth,
        FailureReason::Throttled,
        FailureReason::Service,
        FailureReason::Malformed,
        FailureReason::Config,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            FailureReason::Network => "network",
            FailureReason::Timeout => "timeout",
            FailureReason::Auth => "auth",
            FailureReason::Throttled => "throttled",
            FailureReason::Service => "service",
            FailureReason::Malformed => "malformed",
            FailureReason::Config => "config",
        }
    }
}

crate::verdict::display_as_str!(FailureReason);

/// A failed credential fetch. `message` is written by this module and never contains secret
/// material (passwords, secret keys, session or id tokens, response bodies).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}: {message}")]
pub struct IdentityError {
    pub reason: FailureReason,
    pub message: String,
}

impl IdentityError {
    pub fn new(reason: FailureReason, message: impl Into<String>) -> Self {
        IdentityError {
            reason,
            message: message.into(),
        }
    }

    pub fn config(message: impl Into<String>) -> Self {
        Self::new(FailureReason::Config, message)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(FailureReason::Malformed, message)
    }
}

/// Error codes the AWS services use for rate limiting.
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "SlowDown",
];

/// Error codes that mean "the request itself is wrong" (our configuration), not "you may not".
const CONFIG_CODES: &[&str] = &[
    "InvalidParameterException",
    "InvalidParameterValue",
    "ValidationError",
    "MalformedPolicyDocument",
    "PackedPolicyTooLarge",
    "ResourceNotFoundException",
    "InvalidIdentityPoolConfigurationException",
    "InvalidAction",
    "MissingParameter",
];

/// Classifies a service's error answer by HTTP status and error code (pure).
///
/// Throttling wins over everything (some services answer 400 + `Throttling`); then 5xx is a
/// service failure; then known "bad request" codes are configuration; every other 4xx is the
/// service refusing this caller.
pub fn classify_service_error(status: u16, code: Option<&str>) -> FailureReason {
    if status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        return FailureReason::Throttled;
    }
    if status >= 500 {
        return FailureReason::Service;
    }
    if code.is_some_and(|c| CONFIG_CODES.contains(&c)) {
        return FailureReason::Config;
    }
    if (400..500).contains(&status) {
        return FailureReason::Auth;
    }
    // A non-error status with an error body: the answer cannot be interpreted.
    FailureReason::Malformed
}

/// What the cache reports for metrics, `check --credentials` and the status page. No secrets.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheStatus {
    pub identity: String,
    /// Expiry of the cached credentials (`None`: none cached, or they never expire).
    pub expiration: Option<SystemTime>,
    /// Whether `current()` would hand out cached credentials right now.
    pub usable: bool,
    /// Successful fetches so far.
    pub fetches: u64,
    pub consecutive_failures: u32,
    /// Cumulative failures per reason (`iot_canary_credential_failures_total`).
    pub failures: BTreeMap<FailureReason, u64>,
    /// The most recent failure, cleared by the next success.
    pub last_error: Option<IdentityError>,
    /// No fetch is attempted before this instant.
    pub retry_not_before: Option<SystemTime>,
}

impl CacheStatus {
    /// Value for `iot_canary_credentials_expiry_timestamp_seconds` (None: leave it unset).
    pub fn expiry_timestamp_seconds(&self) -> Option<f64> {
        self.expiration
            .and_then(|e| e.duration_since(SystemTime::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_table() {
        let cases: &[(u16, Option<&str>, FailureReason)] = &[
            (400, Some("Throttling"), FailureReason::Throttled),
            (
                400,
                Some("TooManyRequestsException"),
                FailureReason::Throttled,
            ),
            (429, None, FailureReason::Throttled),
            (503, Some("SlowDown"), FailureReason::Throttled),
            (500, None, FailureReason::Service),
            (503, Some("ServiceUnavailable"), FailureReason::Service),
            (400, Some("NotAuthorizedException"), FailureReason::Auth),
            (403, Some("AccessDenied"), FailureReason::Auth),
            (400, Some("ExpiredTokenException"), FailureReason::Auth),
            (400, Some("UserNotFoundException"), FailureReason::Auth),
            (401, None, FailureReason::Auth),
            (400, Some("MalformedPolicyDocument"), FailureReason::Config),
            (
                400,
                Some("InvalidParameterException"),
                FailureReason::Config,
            ),
            (
                400,
                Some("ResourceNotFoundException"),
                FailureReason::Config,
            ),
            (200, Some("Weird"), FailureReason::Malformed),
        ];
        for (status, code, want) in cases {
            assert_eq!(
                classify_service_error(*status, *code),
                *want,
                "status {status} code {code:?}"
            );
        }
    }

    #[test]
    fn labels_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for r in FailureReason::ALL {
            assert!(seen.insert(r.as_str()));
            assert!(
                r.as_str()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
    }
}
