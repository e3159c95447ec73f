//! The global TLS and authentication options, and the client settings they make.
//!
//! The password is never an argument (`ps` shows arguments to every user): it comes
//! from `--password-file` or the `MCASIDE_PASSWORD` environment variable.

use std::path::PathBuf;

use clap::Args;
use mcaside::ClientBuilder;
use mcaside::conn::TlsConfig;

#[derive(Args, Debug, Clone, Default)]
pub struct SecurityArgs {
    /// Talk TLS to the server (memcached -Z), verifying its certificate against the
    /// system's roots, or --tls-ca.
    #[arg(long, global = true)]
    pub tls: bool,
    /// Trust the CA certificates in this PEM file instead of the system's (implies --tls).
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Present this client certificate (PEM) to a server that asks for one
    /// (ssl_verify_mode=2); needs --tls-key (implies --tls).
    #[arg(long, global = true, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, global = true, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Verify the server's certificate under this name instead of the host of --server
    /// (implies --tls).
    #[arg(long, global = true, value_name = "NAME")]
    pub tls_server_name: Option<String>,
    /// Log in with memcached's ASCII authentication (-Y) as this user; the password
    /// comes from --password-file or $MCASIDE_PASSWORD.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,
    /// Read the password for --user from this file (its first line).
    #[arg(long, global = true, value_name = "FILE", requires = "user")]
    pub password_file: Option<PathBuf>,
}

impl SecurityArgs {
    /// `builder` with the TLS and login settings these options ask for. (The library
    /// checks the files and the credentials when the client is built.)
    pub fn apply(
        &self,
        mut builder: ClientBuilder,
    ) -> Result<ClientBuilder, Box<dyn std::error::Error>> {
        let tls = self.tls
            || self.tls_ca.is_some()
            || self.tls_cert.is_some()
            || self.tls_server_name.is_some();
        if tls {
            let mut config = TlsConfig::new();
            if let Some(ca) = &self.tls_ca {
                config = config.ca_file(ca);
            }
            if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
                config = config.client_cert(cert, key);
            }
            if let Some(name) = &self.tls_server_name {
                config = config.server_name(name);
            }
            builder = builder.tls(config);
        }
        if let Some(user) = &self.user {
            builder = builder.credentials(user, self.password()?);
        }
        Ok(builder)
    }

    fn password(&self) -> Result<String, Box<dyn std::error::Error>> {
        if let Some(path) = &self.password_file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("--password-file {}: {e}", path.display()))?;
            return Ok(text.lines().next().unwrap_or_default().to_owned());
        }
        std::env::var("MCASIDE_PASSWORD").map_err(|_| {
            "--user needs a password: give --password-file FILE or set MCASIDE_PASSWORD".into()
        })
    }
}
