//! Certificates for TLS listeners under test: a CA, a server certificate for the loopback
//! names, and a client certificate, written as PEM files; plus a TLS client for loopback HTTP
//! with optional client certificate and ALPN.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::Response;

/// PEM files of one test PKI.
#[derive(Debug, Clone)]
pub struct Pki {
    pub ca: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    client: (Vec<u8>, Vec<u8>),
    ca_der: Vec<u8>,
}

/// A fresh CA with a server certificate for `localhost`, 127.0.0.1 and ::1 and a client
/// certificate, written under `dir`.
pub fn write(dir: &Path) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "iot-canary test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf = |names: Vec<String>, cn: &str| {
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &issuer).unwrap();
        (cert, key)
    };
    let (server, server_key) = leaf(
        vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
        "iot-canary test server",
    );
    let (client, client_key) = leaf(vec!["scraper".into()], "scraper");
    let put = |name: &str, pem: String| crate::write_file(dir, name, &pem);
    Pki {
        ca: put("ca.pem", ca_cert.pem()),
        server_cert: put("server.pem", server.pem()),
        server_key: put("server-key.pem", server_key.serialize_pem()),
        client_cert: put("client.pem", client.pem()),
        client_key: put("client-key.pem", client_key.serialize_pem()),
        client: (client.der().to_vec(), client_key.serialize_der()),
        ca_der: ca_cert.der().to_vec(),
    }
}

/// How a [`Pki::get`] connects.
#[derive(Debug, Clone, Default)]
pub struct ClientOpts<'a> {
    /// `Authorization: Basic` user and password.
    pub basic: Option<(&'a str, &'a str)>,
    /// Present the client certificate.
    pub client_cert: bool,
    /// ALPN protocols to offer.
    pub alpn: Vec<Vec<u8>>,
}

impl Pki {
    fn client_config(&self, o: &ClientOpts<'_>) -> rustls::ClientConfig {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(CertificateDer::from(self.ca_der.clone()))
            .unwrap();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let b = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let mut c = if o.client_cert {
            b.with_client_auth_cert(
                vec![CertificateDer::from(self.client.0.clone())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.client.1.clone())),
            )
            .unwrap()
        } else {
            b.with_no_client_auth()
        };
        c.alpn_protocols = o.alpn.clone();
        c
    }

    /// One HTTP/1.0 GET over TLS (verified against this CA as `localhost`). Err: the TLS
    /// handshake or the connection failed; Ok also carries the negotiated ALPN protocol.
    pub async fn get(
        &self,
        addr: SocketAddr,
        path: &str,
        o: &ClientOpts<'_>,
    ) -> std::io::Result<(Response, Option<Vec<u8>>)> {
        let connector = tokio_rustls::TlsConnector::from(Arc::new(self.client_config(o)));
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tokio::time::timeout(crate::WAIT, connector.connect(name, tcp))
            .await
            .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
        let alpn = tls.get_ref().1.alpn_protocol().map(<[u8]>::to_vec);
        if alpn.as_deref() == Some(b"h2") {
            // Negotiated HTTP/2: the caller only wanted to see the negotiation.
            return Ok((
                Response {
                    status: 0,
                    head: String::new(),
                    body: String::new(),
                },
                alpn,
            ));
        }
        let auth = o
            .basic
            .map(|(u, p)| {
                use base64::Engine;
                let t = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                format!("Authorization: Basic {t}\r\n")
            })
            .unwrap_or_default();
        let req = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n{auth}\r\n");
        tls.write_all(req.as_bytes()).await?;
        let mut raw = Vec::new();
        let read = tokio::time::timeout(crate::WAIT, tls.read_to_end(&mut raw))
            .await
            .map_err(|_| std::io::Error::other("no answer in time"))?;
        // A server may close without close_notify after answering: the answer counts.
        if let Err(e) = read
            && raw.is_empty()
        {
            return Err(e);
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        Ok((
            Response {
                status,
                head: head.to_string(),
                body: body.to_string(),
            },
            alpn,
        ))
    }
}
