//! TLS to memcached (`-Z`), behind the `tls` feature: rustls, with the `ring` crypto
//! provider (it builds with a C compiler and nothing else), through tokio-rustls.
//!
//! [`TlsConfig`] is what a user sets on the builder: which roots to trust (the system's,
//! or a PEM file), an optional client certificate for servers that ask for one
//! (`ssl_verify_mode=2`), and the name to verify, which defaults to the host of each
//! server's address. It is loaded once, when the client is built, so that a missing or
//! unparsable file, or a key that is not the certificate's, is an error before anything
//! connects, and the same [`Tls`] then serves every connection and every reconnect.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};

use crate::error::{ConfigError, Error};

/// How to talk TLS to the servers: which roots to trust (the system's, or a PEM file),
/// an optional client certificate for servers that ask for one (`ssl_verify_mode=2`),
/// and the name to verify, which defaults to the host of each server's address. Its
/// files are loaded once, when the client is built, and then serve every connection
/// and reconnect.
///
/// ```no_run
/// # async fn f() -> mcaside::Result<()> {
/// use mcaside::conn::TlsConfig;
/// let client = mcaside::Client::builder()
///     .tls(TlsConfig::new().ca_file("/etc/memcached/ca.pem"))
///     .connect("cache.internal:11211")
///     .await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct TlsConfig {
    ca_file: Option<PathBuf>,
    client: Option<(PathBuf, PathBuf)>,
    server_name: Option<String>,
    skip_verification: bool,
}

impl TlsConfig {
    /// Trusts the system's roots, verifies each server under the host of its address,
    /// and presents no client certificate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts the certificates in this PEM file instead of the system's roots (for a
    /// private CA, as memcached deployments usually have).
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// Presents this certificate chain and private key (PEM files) to servers that ask
    /// for a client certificate (memcached's `ssl_verify_mode=2` or `3`).
    pub fn client_cert(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.client = Some((cert.into(), key.into()));
        self
    }

    /// Verifies every server's certificate under this name instead of the host of its
    /// address (for servers reached by IP, or through a name the certificate lacks).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Accepts any certificate, from anyone: the connection is encrypted but not
    /// authenticated, so anyone in the path can read and change it. **For tests
    /// only**, against servers with throwaway certificates: with the `test-hooks`
    /// feature, which only this crate's own tests turn on.
    #[cfg(feature = "test-hooks")]
    pub fn dangerously_accept_any_certificate_for_tests(mut self) -> Self {
        self.skip_verification = true;
        self
    }

    /// Loads the files and builds the connector: what every connection then uses.
    pub(crate) fn load(&self) -> Result<Tls, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| ConfigError::Tls {
                file: None,
                reason: e.to_string(),
            })?;
        let builder = if self.skip_verification {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAnything(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match &self.client {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = read_certs(cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| ConfigError::Tls {
                    file: Some(key.clone()),
                    reason: pem_reason(e),
                })?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| ConfigError::Tls {
                        file: Some(key.clone()),
                        reason: format!("not the key of {}: {e}", cert.display()),
                    })?
            }
        };
        let server_name = match &self.server_name {
            Some(name) => Some(parse_name(name)?),
            None => None,
        };
        Ok(Tls {
            connector: TlsConnector::from(Arc::new(config)),
            server_name,
        })
    }

    fn roots(&self) -> Result<RootCertStore, Error> {
        let mut roots = RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in read_certs(path)? {
                    roots.add(cert).map_err(|e| ConfigError::Tls {
                        file: Some(path.clone()),
                        reason: e.to_string(),
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                for cert in found.certs {
                    // A system store can hold certificates rustls cannot use; skipping
                    // them is what every rustls client does.
                    let _ = roots.add(cert);
                }
                if roots.is_empty() {
                    return Err(ConfigError::Tls {
                        file: None,
                        reason: "no usable root certificates in the system's store \
                                 (set a CA file)"
                            .into(),
                    }
                    .into());
                }
            }
        }
        Ok(roots)
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client.as_ref().map(|(c, _)| c))
            .field("server_name", &self.server_name)
            .field("skip_verification", &self.skip_verification)
            .finish()
    }
}

/// A loaded [`TlsConfig`]: one connector for every connection of a client.
#[derive(Clone)]
pub(crate) struct Tls {
    connector: TlsConnector,
    server_name: Option<ServerName<'static>>,
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Runs the handshake on `tcp`, verifying the server as `host` unless a name was
    /// configured. (The caller bounds it with the connect timeout.)
    pub(crate) async fn handshake(
        &self,
        host: &str,
        tcp: TcpStream,
    ) -> Result<TlsStream<TcpStream>, Error> {
        let name = match &self.server_name {
            Some(n) => n.clone(),
            None => parse_name(host)?,
        };
        self.connector
            .connect(name, tcp)
            .await
            .map_err(|e| Error::Tls(Arc::new(e)))
    }
}

fn parse_name(name: &str) -> Result<ServerName<'static>, Error> {
    // An IPv6 host comes bracketed out of `host:port`.
    let bare = name.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(bare.to_owned()).map_err(|_| {
        ConfigError::Tls {
            file: None,
            reason: format!("{name:?} is not a valid server name to verify"),
        }
        .into()
    })
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bad = |reason: String| ConfigError::Tls {
        file: Some(path.to_owned()),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(pem_reason(e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(pem_reason(e)))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()).into());
    }
    Ok(certs)
}

fn pem_reason(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(e) => e.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind in it".into(),
        other => format!("not valid PEM: {other:?}"),
    }
}

/// The verifier behind `TlsConfig::dangerously_accept_any_certificate_for_tests`:
/// signatures are checked (so the handshake is real) but the certificate is not.
#[derive(Debug)]
struct AcceptAnything(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
