//! What the HTTPS data-plane and control-plane probes share: the SDK clients (aws-sdk-iotdataplane,
//! aws-sdk-iot, aws-sdk-sts for the caller's own ARN) built with the identity's credentials,
//! the `[endpoints]` overrides and one HTTPS client (the lab's CA from `[target] ca_file` when
//! set), and the reading of an SDK result as an [`Observation::ApiAnswer`] (status, AWS error
//! type, a bounded message, the exact ARN tested). What an answer proves is
//! `evidence_rules::classify_api`'s business (docs/evidence-rules.md, W1–W11).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::ProbeCtx;
use iot_canary_core::config::Config;
use iot_canary_core::config::probe_names;
use iot_canary_core::verdict::{ApiAnswer, Observation, Waiting};

/// Per-attempt bound of one API call (the probe's own deadline bounds the whole probe).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(8);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Built once per daemon: where the doors are, and the HTTPS client every probe's SDK clients
/// share (so TLS roots load once and connections are pooled).
pub struct ApiSetup {
    pub region: String,
    /// The iot-data endpoint: `[endpoints] iot_data`, else `https://` + `[target] endpoint`'s
    /// host (AWS serves the data plane's HTTPS API on the same ATS endpoint as MQTT).
    pub iot_data: String,
    /// `[endpoints] iot`; `None`: the SDK's regional default.
    pub iot: Option<String>,
    /// `[endpoints] sts`; `None`: the SDK's regional default.
    pub sts: Option<String>,
    http: SharedHttpClient,
    /// Who a set of credentials is (`sts:GetCallerIdentity`), by access key id: one call per
    /// credential set, not per probe.
    callers: Mutex<BTreeMap<String, Caller>>,
}

/// The caller as STS names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub arn: String,
}

impl ApiSetup {
    /// From a config and the CA the broker endpoint trusts (`[target] ca_file`, read once by
    /// the daemon): with a CA it replaces the system roots, as for MQTT.
    pub fn new(config: &Config, ca_pem: Option<&[u8]>) -> ApiSetup {
        let trust = match ca_pem {
            Some(pem) => tls::TrustStore::empty()
                .with_native_roots(false)
                .with_pem_certificate(pem.to_vec()),
            None => tls::TrustStore::default(),
        };
        let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ));
        let http = match tls::TlsContext::builder().with_trust_store(trust).build() {
            Ok(ctx) => builder.tls_context(ctx).build_https(),
            Err(e) => {
                // Building a context from a trust store does not fail in this version; if it
                // ever does, the system roots still serve real AWS.
                tracing::warn!(error = %e, "HTTPS doors: custom CA not usable, using system roots");
                aws_smithy_http_client::Builder::new()
                    .tls_provider(tls::Provider::Rustls(
                        tls::rustls_provider::CryptoMode::AwsLc,
                    ))
                    .build_https()
            }
        };
        ApiSetup {
            region: config.target.region.clone(),
            iot_data: config
                .endpoints
                .iot_data
                .clone()
                .unwrap_or_else(|| default_iot_data(&config.target.endpoint)),
            iot: config.endpoints.iot.clone(),
            sts: config.endpoints.sts.clone(),
            http,
            callers: Mutex::new(BTreeMap::new()),
        }
    }

    fn cached_caller(&self, key: &str) -> Option<Caller> {
        self.callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(key)
            .cloned()
    }

    fn remember_caller(&self, key: &str, c: &Caller) {
        self.callers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.to_string(), c.clone());
    }
}

/// `https://host` of the MQTT endpoint (`host[:port]` or a `wss://host[:port]/mqtt` URL): the
/// ATS endpoint serves the iot-data API on 443.
pub fn default_iot_data(endpoint: &str) -> String {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, r)| r)
        .split('/')
        .next()
        .unwrap_or_default();
    let host = match rest.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => rest,
    };
    format!("https://{host}")
}

/// A config builder of one SDK crate with what every probe client shares: region, endpoint,
/// the shared HTTPS client, no SDK retries (a probe's answer is its first), timeouts, and
/// the identity's credentials as they are now (no SDK cache: the identity's own cache owns
/// refresh).
macro_rules! client {
    ($sdk:ident, $setup:expr, $endpoint:expr, $creds:expr) => {{
        use $sdk::config;
        let b = config::Builder::new()
            .behavior_version(config::BehaviorVersion::latest())
            .region(config::Region::new($setup.region.clone()))
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(CONNECT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .http_client($setup.http.clone())
            .identity_cache(config::IdentityCache::no_cache())
            .credentials_provider(SharedCredentialsProvider::new($creds.clone()));
        let b = match $endpoint {
            Some(url) => b.endpoint_url(url),
            None => b,
        };
        $sdk::Client::from_conf(b.build())
    }};
}

/// One probe's clients, signed with the canary identity's credentials.
pub(super) struct Clients {
    pub data: aws_sdk_iotdataplane::Client,
    pub iot: aws_sdk_iot::Client,
    sts: aws_sdk_sts::Client,
    key_id: String,
}

impl Clients {
    pub fn new(setup: &ApiSetup, creds: &Credentials) -> Clients {
        Clients {
            data: client!(
                aws_sdk_iotdataplane,
                setup,
                Some(setup.iot_data.as_str()),
                creds
            ),
            iot: client!(aws_sdk_iot, setup, setup.iot.as_deref(), creds),
            sts: client!(aws_sdk_sts, setup, setup.sts.as_deref(), creds),
            key_id: creds.access_key_id().to_string(),
        }
    }
}

impl ProbeCtx<'_> {
    /// The canary identity's clients; `Err` when it has no usable credentials.
    pub(super) async fn api_clients(&mut self) -> Result<Clients, Observation> {
        self.clients_of(false).await
    }

    /// The witness's clients (an HTTPS check the canary may not do itself).
    pub(super) async fn witness_clients(&mut self) -> Result<Clients, Observation> {
        self.clients_of(true).await
    }

    async fn clients_of(&mut self, witness: bool) -> Result<Clients, Observation> {
        let Some(setup) = self.api else {
            return Err(Observation::Unexpected {
                detail: "no AWS API endpoints configured for the HTTPS and control-plane doors"
                    .into(),
            });
        };
        let actor = if witness {
            match &self.witness {
                Some(w) => w.clone(),
                None => {
                    return Err(Observation::WitnessFailed {
                        detail: "no witness identity".into(),
                    });
                }
            }
        } else {
            self.actor.clone()
        };
        match actor.credentials.credentials().await {
            Ok(c) => Ok(Clients::new(setup, &c)),
            Err(e) => {
                self.note(format!("credentials for `{}`: {e}", actor.identity));
                Err(if witness {
                    Observation::WitnessFailed {
                        detail: format!("witness credentials: {e}"),
                    }
                } else {
                    Observation::CredentialsUnavailable
                })
            }
        }
    }

    /// The run's `${nonce}` token (docs/doors.md).
    pub(super) fn token(&self) -> String {
        probe_names::token(&self.nonce)
    }

    /// `arn:aws:iot:<region>:<account>:<kind>/<name>`, with the caller's account when STS
    /// has named it.
    pub(super) fn iot_arn(&self, account: Option<&str>, kind: &str, name: &str) -> String {
        let region = self.api.map(|a| a.region.as_str()).unwrap_or_default();
        format!(
            "arn:aws:iot:{region}:{}:{kind}/{name}",
            account.unwrap_or("<account>")
        )
    }

    /// Who the canary's credentials are (`sts:GetCallerIdentity`, which needs no permission);
    /// cached per access key id.
    pub(super) async fn caller(&mut self, clients: &Clients) -> Result<Caller, Observation> {
        let setup = self.api.ok_or(Observation::Aborted)?;
        if let Some(c) = setup.cached_caller(&clients.key_id) {
            return Ok(c);
        }
        let sent = clients.sts.get_caller_identity().send();
        match self.bounded(sent).await {
            Err(o) => Err(o),
            Ok(Ok(out)) => {
                let c = Caller {
                    account: out.account().unwrap_or_default().to_string(),
                    arn: out.arn().unwrap_or_default().to_string(),
                };
                setup.remember_caller(&clients.key_id, &c);
                Ok(c)
            }
            Ok(Err(e)) => {
                let obs = sdk_observation(&e, "sts:GetCallerIdentity");
                self.note(format!(
                    "sts:GetCallerIdentity failed: {}",
                    iot_canary_core::evidence::describe(&obs)
                ));
                Err(match obs {
                    // A refusal of GetCallerIdentity is a credential problem (it needs no
                    // permission), never a denial of the door under test.
                    Observation::ApiAnswer(_) => Observation::CredentialsUnavailable,
                    other => other,
                })
            }
        }
    }

    /// The identity's own IoT principal: its Cognito identity id when it has one (what an
    /// app attaches IoT policies to), else the caller's ARN as STS names it.
    pub(super) async fn own_principal(&mut self, clients: &Clients) -> Result<String, Observation> {
        if let Some(id) = self.actor.identity_id.clone() {
            return Ok(id);
        }
        self.caller(clients).await.map(|c| c.arn)
    }

    /// The caller's account, best effort (ARNs in evidence); `None` if STS cannot say.
    pub(super) async fn account(&mut self, clients: &Clients) -> Option<String> {
        self.caller(clients).await.ok().map(|c| c.account)
    }

    /// Awaits an SDK call within the probe's deadline.
    pub(super) async fn bounded<T>(
        &mut self,
        call: impl Future<Output = T>,
    ) -> Result<T, Observation> {
        match tokio::time::timeout_at(self.deadline.into(), call).await {
            Ok(v) => Ok(v),
            Err(_) => {
                self.note("timed out waiting for the API's answer");
                Err(Observation::TimedOut {
                    waiting_for: Waiting::Response,
                })
            }
        }
    }

    /// Runs the probe's own call and reads its answer: `Ok` → `ApiAnswer` 200 on `resource`,
    /// an error → what the SDK saw. `what` names the call in the evidence trail.
    pub(super) async fn call<T, E>(
        &mut self,
        what: &str,
        resource: &str,
        call: impl Future<Output = Result<T, SdkError<E, HttpResponse>>>,
    ) -> (Observation, Option<T>)
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        self.note(format!("{what} (resource {resource})"));
        match self.bounded(call).await {
            Err(o) => (o, None),
            Ok(Ok(v)) => {
                self.note("HTTP 200");
                (
                    Observation::ApiAnswer(ApiAnswer::ok(200, resource)),
                    Some(v),
                )
            }
            Ok(Err(e)) => {
                let obs = sdk_observation(&e, resource);
                self.note(iot_canary_core::evidence::describe(&obs));
                (obs, None)
            }
        }
    }
}

/// An SDK error as an observation: a service answer keeps its status, error type and a
/// bounded, redacted message; transport failures become the transport observations.
pub fn sdk_observation<E>(err: &SdkError<E, HttpResponse>, resource: &str) -> Observation
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(s) => Observation::ApiAnswer(ApiAnswer::new(
            s.raw().status().as_u16(),
            err.code(),
            err.message(),
            resource,
        )),
        // An answer the SDK could not parse: its status, no AWS error type (rule W10 unless
        // it is a 2xx the SDK choked on, which then says nothing either).
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            if (200..=299).contains(&status) {
                Observation::Unexpected {
                    detail: format!("HTTP {status} with an unreadable body"),
                }
            } else {
                Observation::ApiAnswer(ApiAnswer::new(status, None, None, resource))
            }
        }
        SdkError::TimeoutError(_) => Observation::TimedOut {
            waiting_for: Waiting::Response,
        },
        SdkError::DispatchFailure(d) if d.is_timeout() => Observation::TimedOut {
            waiting_for: Waiting::Response,
        },
        SdkError::DispatchFailure(_) => transport(&DisplayErrorContext(err).to_string()),
        SdkError::ConstructionFailure(_) => Observation::Unexpected {
            detail: format!("request could not be built: {}", DisplayErrorContext(err)),
        },
        _ => Observation::NetworkFailed,
    }
}

/// A dispatch failure by what its chain of causes says (hyper and rustls name them).
fn transport(chain: &str) -> Observation {
    let c = chain.to_ascii_lowercase();
    if c.contains("dns error") || c.contains("failed to lookup address") {
        Observation::DnsFailed
    } else if c.contains("connection refused") {
        Observation::TcpRefused
    } else if c.contains("certificate") || c.contains("tls") || c.contains("handshake") {
        Observation::TlsFailed
    } else {
        Observation::NetworkFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_endpoint_defaults_to_the_mqtt_host_on_443() {
        assert_eq!(
            default_iot_data("abc-ats.iot.eu-west-1.amazonaws.com"),
            "https://abc-ats.iot.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            default_iot_data("wss://abc-ats.iot.eu-west-1.amazonaws.com:443/mqtt"),
            "https://abc-ats.iot.eu-west-1.amazonaws.com"
        );
        assert_eq!(default_iot_data("127.0.0.1:8883"), "https://127.0.0.1");
    }

    #[test]
    fn transport_failures_are_named_by_their_cause() {
        assert_eq!(
            transport("dispatch failure: io error: dns error: failed to lookup address"),
            Observation::DnsFailed
        );
        assert_eq!(
            transport("io error: Connection refused (os error 111)"),
            Observation::TcpRefused
        );
        assert_eq!(
            transport("other: invalid peer certificate: UnknownIssuer"),
            Observation::TlsFailed
        );
        assert_eq!(transport("connection reset"), Observation::NetworkFailed);
    }
}
