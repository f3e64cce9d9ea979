//! The lab's TLS identity: a CA generated at start (written to a PEM file whose path goes in
//! the ready line) and a server certificate for `localhost` / the loopback addresses.

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the lab CA: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS server config: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// A CA (PEM) plus a rustls server config presenting a leaf signed by it.
pub struct LabTls {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
}

pub fn generate(extra_names: &[String]) -> Result<LabTls, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "iot-canary lab CA");
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut leaf_params = CertificateParams::new(names)?;
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "iot-canary lab");
    let leaf_key = KeyPair::generate()?;
    let leaf = leaf_params.signed_by(&leaf_key, &issuer)?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )?;
    Ok(LabTls {
        ca_pem: ca_cert.pem(),
        server_config: Arc::new(config),
    })
}

/// Writes the CA to `path` atomically: a new file created exclusively in the same directory,
/// then renamed over `path`. A rename replaces a symlink planted at `path` instead of
/// following it, so the lab never writes through a link to somewhere else.
pub fn write_ca(path: &Path, pem: &str) -> Result<(), TlsError> {
    use std::io::Write;
    let err = |source| TlsError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".iot-canary-lab-ca")
        .tempfile_in(dir)
        .map_err(err)?;
    tmp.write_all(pem.as_bytes()).map_err(err)?;
    // The CA certificate is public (clients need to read it); tempfile creates 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// A private directory for the CA when no path is given: random name, mode 0700, created
/// exclusively (never an existing, possibly planted, path); removed when dropped.
pub fn private_ca_dir() -> Result<tempfile::TempDir, TlsError> {
    let mut b = tempfile::Builder::new();
    b.prefix("iot-canary-lab-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        b.permissions(std::fs::Permissions::from_mode(0o700));
    }
    b.tempdir().map_err(|source| TlsError::Write {
        path: std::env::temp_dir().display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn the_ca_replaces_a_planted_symlink_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("ca.pem");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        write_ca(&link, "PEM").unwrap();
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!std::fs::symlink_metadata(&link).unwrap().is_symlink());
        assert_eq!(std::fs::read_to_string(&link).unwrap(), "PEM");
    }

    #[cfg(unix)]
    #[test]
    fn the_default_ca_directory_is_private_random_and_removed() {
        use std::os::unix::fs::PermissionsExt;
        let a = private_ca_dir().unwrap();
        let b = private_ca_dir().unwrap();
        assert_ne!(a.path(), b.path());
        let mode = std::fs::metadata(a.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists());
    }
}
