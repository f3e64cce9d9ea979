//! The one TLS client configuration the daemon's outbound HTTPS uses (alert delivery, the
//! `healthcheck` command): the aws-lc-rs provider, its safe default protocol versions, the
//! given roots and no client certificate.

use std::sync::Arc;

/// A client config trusting `roots`. The error is rustls refusing the provider's protocol
/// versions, which only a broken build of the provider can cause; callers still surface it.
pub(crate) fn client_config(
    roots: rustls::RootCertStore,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
