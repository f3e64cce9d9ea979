//! `kind = "credential-endpoint"`: a credential-vending HTTP API. The token (a Cognito id or
//! access token from a user-pool sign-in, or a bearer token from env/file) goes in a header;
//! the JSON answer's fields (names configurable, dotted paths for nesting) become credentials.
//! Tokens and response bodies are never logged or put into error messages.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use super::cognito::user_pool_login;
use super::config::{
    CognitoToken, CredentialEndpointConfig, EndpointAuth, HttpMethod, ResponseFields,
};
use super::error::{FailureReason, IdentityError, classify_service_error};
use super::sdk::cognito_idp_client;
use super::secret::{Env, Secret, resolve};
use super::{CredentialSource, FetchFuture, IdentityContext, SessionCredentials};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Bound on one HTTP exchange with the endpoint.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Answers larger than this are not credentials.
const MAX_BODY: usize = 64 * 1024;

fn https_client() -> HttpsClient {
    let builder = hyper_rustls::HttpsConnectorBuilder::new();
    let builder = match builder.with_native_roots() {
        Ok(b) => b,
        Err(e) => {
            // No system trust store (minimal container): http:// still works and https://
            // fails the handshake with a clear TLS error.
            tracing::warn!(error = %e, "no system CA certificates found; https credential endpoints will fail");
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map(|b| {
                b.with_root_certificates(rustls::RootCertStore::empty())
                    .with_no_client_auth()
            });
            match config {
                Ok(c) => hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(c),
                // The aws-lc-rs provider supports the default protocol versions; unreachable.
                Err(_) => unreachable!("aws-lc-rs supports TLS 1.2 and 1.3"),
            }
        }
    };
    let connector = builder.https_or_http().enable_http1().build();
    Client::builder(TokioExecutor::new()).build(connector)
}

#[derive(Debug)]
pub struct CredentialEndpointSource {
    config: CredentialEndpointConfig,
    env: Env,
    idp: Option<aws_sdk_cognitoidentityprovider::Client>,
    http: HttpsClient,
}

impl CredentialEndpointSource {
    pub fn new(config: CredentialEndpointConfig, ctx: &IdentityContext) -> Self {
        let idp = match &config.auth {
            EndpointAuth::Cognito { .. } => Some(cognito_idp_client(ctx)),
            EndpointAuth::Bearer(_) => None,
        };
        CredentialEndpointSource {
            config,
            env: ctx.env.clone(),
            idp,
            http: https_client(),
        }
    }

    async fn token(&self) -> Result<(Secret, Option<String>), IdentityError> {
        match (&self.config.auth, &self.idp) {
            (EndpointAuth::Bearer(r), _) => Ok((resolve(r, &self.env)?, None)),
            (EndpointAuth::Cognito { login, token }, Some(idp)) => {
                let tokens = user_pool_login(idp, login, &self.env).await?;
                let t = match token {
                    CognitoToken::Id => tokens.id_token,
                    CognitoToken::Access => tokens.access_token,
                };
                Ok((t, Some(login.username.clone())))
            }
            (EndpointAuth::Cognito { .. }, None) => Err(IdentityError::config(
                "cognito login without a user-pool client",
            )),
        }
    }

    fn request(&self, token: &Secret) -> Result<http::Request<Full<Bytes>>, IdentityError> {
        let value = if self.config.auth_scheme.is_empty() {
            token.expose().to_owned()
        } else {
            format!("{} {}", self.config.auth_scheme, token.expose())
        };
        let mut header = http::HeaderValue::from_str(&value).map_err(|_| {
            IdentityError::config("the token contains characters not allowed in an HTTP header")
        })?;
        header.set_sensitive(true);
        let (method, body) = match self.config.method {
            HttpMethod::Get => (http::Method::GET, Bytes::new()),
            HttpMethod::Post => (http::Method::POST, Bytes::from_static(b"{}")),
        };
        let mut b = http::Request::builder()
            .method(method.clone())
            .uri(&self.config.url)
            .header(http::header::ACCEPT, "application/json")
            .header(self.config.auth_header.as_str(), header);
        if method == http::Method::POST {
            b = b.header(http::header::CONTENT_TYPE, "application/json");
        }
        b.body(Full::new(body))
            .map_err(|e| IdentityError::config(format!("credential endpoint request: {e}")))
    }
}

impl CredentialSource for CredentialEndpointSource {
    fn fetch(&self) -> FetchFuture<'_> {
        Box::pin(async move {
            let (token, username) = self.token().await?;
            let req = self.request(&token)?;
            let url = &self.config.url;
            let exchange = async {
                let resp = self.http.request(req).await.map_err(|e| {
                    // hyper-util's error text names the connect step, never headers.
                    IdentityError::new(
                        FailureReason::Network,
                        format!("credential endpoint {url}: {}", error_chain(&e)),
                    )
                })?;
                let status = resp.status().as_u16();
                let body = http_body_util::Limited::new(resp.into_body(), MAX_BODY)
                    .collect()
                    .await
                    .map_err(|_| {
                        IdentityError::new(
                            FailureReason::Network,
                            format!("credential endpoint {url}: reading the answer failed or it exceeded {MAX_BODY} bytes"),
                        )
                    })?
                    .to_bytes();
                Ok::<_, IdentityError>((status, body))
            };
            let (status, body) = tokio::time::timeout(REQUEST_TIMEOUT, exchange)
                .await
                .map_err(|_| {
                    IdentityError::new(
                        FailureReason::Timeout,
                        format!("credential endpoint {url}: no answer within {REQUEST_TIMEOUT:?}"),
                    )
                })??;
            if !(200..300).contains(&status) {
                let code = error_code(&body);
                return Err(IdentityError::new(
                    classify_service_error(status, code.as_deref()),
                    format!(
                        "credential endpoint {url}: HTTP {status}{}",
                        code.map(|c| format!(" {c}")).unwrap_or_default()
                    ),
                ));
            }
            let mut creds = parse_credentials(&body, &self.config.fields)?;
            creds.username = username;
            Ok(creds)
        })
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        text.push_str(": ");
        text.push_str(&s.to_string());
        cur = s.source();
    }
    text
}

/// An error code from a JSON error body (`__type`, `code`, `Code`, `error`), only when it looks
/// like an identifier, so nothing else from the body reaches a message.
pub fn error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    ["__type", "code", "Code", "error"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str))
        .map(|c| c.rsplit('#').next().unwrap_or(c))
        .find(|c| {
            !c.is_empty()
                && c.len() <= 64
                && c.chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '.')
        })
        .map(str::to_owned)
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, key| cur.get(key))
}

/// Epoch seconds (or milliseconds, when the number is too large to be seconds) or an
/// RFC 3339 / ISO 8601 date-time string.
pub fn parse_expiration(v: &Value) -> Option<SystemTime> {
    match v {
        Value::Number(n) => {
            let secs = n.as_f64()?;
            if !secs.is_finite() || secs < 0.0 {
                return None;
            }
            // 1e11 s is year 5138; anything larger is milliseconds.
            let secs = if secs > 1e11 { secs / 1000.0 } else { secs };
            SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs_f64(secs))
        }
        Value::String(s) => {
            let dt = aws_smithy_types::DateTime::from_str(
                s,
                aws_smithy_types::date_time::Format::DateTime,
            )
            .ok()?;
            SystemTime::try_from(dt).ok()
        }
        _ => None,
    }
}

/// Reads credentials out of the endpoint's JSON answer (pure). Errors name the field, never
/// its value.
pub fn parse_credentials(
    body: &[u8],
    fields: &ResponseFields,
) -> Result<SessionCredentials, IdentityError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|_| IdentityError::malformed("credential endpoint: the answer is not JSON"))?;
    let string = |path: &str| -> Result<String, IdentityError> {
        match lookup(&v, path) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(_) => Err(IdentityError::malformed(format!(
                "credential endpoint: field `{path}` is not a non-empty string"
            ))),
            None => Err(IdentityError::malformed(format!(
                "credential endpoint: field `{path}` is missing (set the matching `*_field` key)"
            ))),
        }
    };
    let mut creds = SessionCredentials::new(
        string(&fields.access_key_id)?,
        Secret::new(string(&fields.secret_access_key)?),
    );
    creds.session_token = match lookup(&v, &fields.session_token) {
        None | Some(Value::Null) => None,
        Some(_) => Some(Secret::new(string(&fields.session_token)?)),
    };
    let exp = lookup(&v, &fields.expiration).ok_or_else(|| {
        IdentityError::malformed(format!(
            "credential endpoint: field `{}` is missing (set `expiration_field`)",
            fields.expiration
        ))
    })?;
    creds.expiration = Some(parse_expiration(exp).ok_or_else(|| {
        IdentityError::malformed(format!(
            "credential endpoint: field `{}` is not a date-time or epoch seconds",
            fields.expiration
        ))
    })?);
    if let Some(path) = &fields.client_id {
        creds.client_id = Some(string(path)?);
    }
    Ok(creds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_default_fields() {
        let body = br#"{"AccessKeyId":"ASIA1","SecretAccessKey":"sk","SessionToken":"tok","Expiration":"2030-01-01T00:00:00Z","ClientId":"bob"}"#;
        let c = parse_credentials(body, &ResponseFields::default()).unwrap();
        assert_eq!(c.access_key_id, "ASIA1");
        assert_eq!(c.secret_access_key.expose(), "sk");
        assert_eq!(c.session_token.as_ref().map(Secret::expose), Some("tok"));
        assert_eq!(
            c.expiration,
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000))
        );
        assert_eq!(c.client_id, None, "client id only when configured");
    }

    #[test]
    fn parses_custom_nested_fields_and_epoch_forms() {
        let fields = ResponseFields {
            access_key_id: "creds.key".into(),
            secret_access_key: "creds.secret".into(),
            session_token: "creds.token".into(),
            expiration: "creds.exp".into(),
            client_id: Some("mqtt.clientId".into()),
        };
        let body = br#"{"creds":{"key":"A","secret":"S","token":"T","exp":1893456000},"mqtt":{"clientId":"bob-1"}}"#;
        let c = parse_credentials(body, &fields).unwrap();
        assert_eq!(c.client_id.as_deref(), Some("bob-1"));
        let want = SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_456_000);
        assert_eq!(c.expiration, Some(want));
        let ms =
            br#"{"creds":{"key":"A","secret":"S","exp":1893456000000},"mqtt":{"clientId":"b"}}"#;
        let c = parse_credentials(ms, &fields).unwrap();
        assert_eq!(c.expiration, Some(want));
        assert_eq!(c.session_token, None);
    }

    #[test]
    fn malformed_answers_name_the_field_not_the_value() {
        let f = ResponseFields::default();
        let cases: &[(&[u8], &str)] = &[
            (b"not json", "not JSON"),
            (
                br#"{"SecretAccessKey":"sk-value","Expiration":1}"#,
                "`AccessKeyId` is missing",
            ),
            (
                br#"{"AccessKeyId":7,"SecretAccessKey":"sk-value","Expiration":1}"#,
                "`AccessKeyId` is not",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":"sk-value"}"#,
                "`Expiration` is missing",
            ),
            (
                br#"{"AccessKeyId":"A","SecretAccessKey":"sk-value","Expiration":"soon"}"#,
                "`Expiration` is not a date-time",
            ),
        ];
        for (body, want) in cases {
            let e = parse_credentials(body, &f).unwrap_err();
            assert_eq!(e.reason, FailureReason::Malformed);
            assert!(e.message.contains(want), "{e}");
            assert!(!e.message.contains("sk-value"), "{e}");
        }
    }

    #[test]
    fn error_codes_are_extracted_only_when_identifier_like() {
        assert_eq!(
            error_code(br#"{"__type":"com.amazon#NotAuthorizedException","message":"x"}"#),
            Some("NotAuthorizedException".into())
        );
        assert_eq!(
            error_code(br#"{"code":"Unauthorized"}"#),
            Some("Unauthorized".into())
        );
        assert_eq!(
            error_code(br#"{"error":"token eyJhbGciOi... is bad"}"#),
            None
        );
        assert_eq!(error_code(b"<html>"), None);
    }
}
