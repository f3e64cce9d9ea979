//! Shared AWS SDK client setup (region, endpoint override, no SDK-level retries: the cache
//! owns retry and backoff) and the mapping of SDK errors onto [`FailureReason`].

use std::time::{Duration, SystemTime};

use aws_credential_types::provider::SharedCredentialsProvider;
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use super::IdentityContext;
use super::error::{FailureReason, IdentityError, classify_service_error};

/// Per-attempt bound so a stalled service surfaces as `timeout` well inside the cache's own
/// fetch timeout (a Cognito login is three round trips).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .build()
}

pub(crate) fn sts_client(
    ctx: &IdentityContext,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_sts::Client {
    let mut b = aws_sdk_sts::Config::builder()
        .behavior_version(aws_sdk_sts::config::BehaviorVersion::latest())
        .region(aws_sdk_sts::config::Region::new(ctx.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts())
        // The base provider is itself cached (our CredentialCache or the default chain);
        // a second cache here would hold rotated static keys for up to 15 minutes.
        .identity_cache(aws_sdk_sts::config::IdentityCache::no_cache())
        .credentials_provider(credentials);
    if let Some(url) = &ctx.endpoints.sts {
        b = b.endpoint_url(url);
    }
    aws_sdk_sts::Client::from_conf(b.build())
}

/// Cognito Identity: GetId / GetCredentialsForIdentity are unsigned, so no credentials.
pub(crate) fn cognito_identity_client(ctx: &IdentityContext) -> aws_sdk_cognitoidentity::Client {
    use aws_sdk_cognitoidentity::config;
    let mut b = config::Builder::new()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new(ctx.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts());
    if let Some(url) = &ctx.endpoints.cognito_identity {
        b = b.endpoint_url(url);
    }
    aws_sdk_cognitoidentity::Client::from_conf(b.build())
}

/// Cognito user pools: InitiateAuth is unsigned, so no credentials.
pub(crate) fn cognito_idp_client(ctx: &IdentityContext) -> aws_sdk_cognitoidentityprovider::Client {
    use aws_sdk_cognitoidentityprovider::config;
    let mut b = config::Builder::new()
        .behavior_version(config::BehaviorVersion::latest())
        .region(config::Region::new(ctx.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts());
    if let Some(url) = &ctx.endpoints.cognito_idp {
        b = b.endpoint_url(url);
    }
    aws_sdk_cognitoidentityprovider::Client::from_conf(b.build())
}

/// Maps an SDK error onto a reason and a message naming the operation. Service messages are
/// included (AWS never echoes passwords or tokens in them); request bodies never are.
pub(crate) fn sdk_error<E>(operation: &str, err: &SdkError<E, HttpResponse>) -> IdentityError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ConstructionFailure(_) => IdentityError::config(format!(
            "{operation}: request could not be built: {}",
            DisplayErrorContext(err)
        )),
        SdkError::TimeoutError(_) => {
            IdentityError::new(FailureReason::Timeout, format!("{operation}: timed out"))
        }
        SdkError::DispatchFailure(d) => {
            let reason = if d.is_timeout() {
                FailureReason::Timeout
            } else if d.is_user() {
                FailureReason::Config
            } else {
                FailureReason::Network
            };
            IdentityError::new(
                reason,
                format!("{operation}: request failed: {}", DisplayErrorContext(err)),
            )
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let reason = if status >= 500 {
                FailureReason::Service
            } else {
                FailureReason::Malformed
            };
            IdentityError::new(
                reason,
                format!("{operation}: unreadable answer (HTTP {status})"),
            )
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            let code = err.code();
            IdentityError::new(
                classify_service_error(status, code),
                format!(
                    "{operation}: HTTP {status} {}: {}",
                    code.unwrap_or("(no error code)"),
                    err.message().unwrap_or("(no message)")
                ),
            )
        }
        _ => IdentityError::new(
            FailureReason::Network,
            format!("{operation}: {}", DisplayErrorContext(err)),
        ),
    }
}

pub(crate) fn to_system_time(
    what: &str,
    dt: &aws_smithy_types::DateTime,
) -> Result<SystemTime, IdentityError> {
    SystemTime::try_from(*dt)
        .map_err(|_| IdentityError::malformed(format!("{what}: expiration out of range")))
}
