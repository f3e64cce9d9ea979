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

/// A config builder of one SDK crate with what every client here shares: the context's
/// region and endpoint override, no SDK retries, the attempt timeouts. Each SDK crate has its
/// own builder type, hence a macro.
macro_rules! builder {
    ($sdk:ident, $ctx:expr, $endpoint:ident) => {{
        use $sdk::config;
        let b = config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new($ctx.region.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts());
        match &$ctx.endpoints.$endpoint {
            Some(url) => b.endpoint_url(url),
            None => b,
        }
    }};
}

pub(crate) fn sts_client(
    ctx: &IdentityContext,
    credentials: SharedCredentialsProvider,
) -> aws_sdk_sts::Client {
    let b = builder!(aws_sdk_sts, ctx, sts)
        // The base provider is itself cached (our CredentialCache or the default chain);
        // a second cache here would hold rotated static keys for up to 15 minutes.
        .identity_cache(aws_sdk_sts::config::IdentityCache::no_cache())
        .credentials_provider(credentials);
    aws_sdk_sts::Client::from_conf(b.build())
}

/// STS without credentials, for the unsigned AssumeRoleWithWebIdentity (the OpenID token is
/// the proof; the SDK falls back to no signature when no credentials are configured).
pub(crate) fn sts_client_unsigned(ctx: &IdentityContext) -> aws_sdk_sts::Client {
    aws_sdk_sts::Client::from_conf(builder!(aws_sdk_sts, ctx, sts).build())
}

/// Cognito Identity: GetId / GetCredentialsForIdentity are unsigned, so no credentials.
pub(crate) fn cognito_identity_client(ctx: &IdentityContext) -> aws_sdk_cognitoidentity::Client {
    aws_sdk_cognitoidentity::Client::from_conf(
        builder!(aws_sdk_cognitoidentity, ctx, cognito_identity).build(),
    )
}

/// Cognito user pools: InitiateAuth is unsigned, so no credentials.
pub(crate) fn cognito_idp_client(ctx: &IdentityContext) -> aws_sdk_cognitoidentityprovider::Client {
    aws_sdk_cognitoidentityprovider::Client::from_conf(
        builder!(aws_sdk_cognitoidentityprovider, ctx, cognito_idp).build(),
    )
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

/// Who a set of credentials belongs to, as STS says (`sts:GetCallerIdentity`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    pub account: String,
    pub arn: String,
}

/// Proves credentials work by asking STS who they belong to. `sts:GetCallerIdentity` needs no
/// permission (AWS answers it for every valid key), so a failure means the keys themselves
/// are bad, expired or unreachable STS. Used by `check --credentials`.
pub async fn caller_identity(
    ctx: &IdentityContext,
    creds: &super::SessionCredentials,
) -> Result<CallerIdentity, IdentityError> {
    let provider = SharedCredentialsProvider::new(creds.to_sdk());
    let out = sts_client(ctx, provider)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("sts:GetCallerIdentity", &e))?;
    Ok(CallerIdentity {
        account: out.account().unwrap_or_default().to_string(),
        arn: out.arn().unwrap_or_default().to_string(),
    })
}
