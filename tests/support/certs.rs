//! Certificates made at test time (with rcgen): a CA, server certificates it signs
//! (good, expired, for another name), a client certificate, and an unrelated CA, written
//! as PEM files into a fresh directory that is removed on drop.

#![allow(dead_code)] // each including crate uses a different part

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
    date_time_ymd,
};

/// PEM files for TLS tests.
pub struct Certs {
    pub dir: PathBuf,
    /// The CA that signed everything below but `other_ca`.
    pub ca: PathBuf,
    /// A server certificate for `localhost` and `127.0.0.1`, and its key.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// The same names, expired in 2021.
    pub expired_cert: PathBuf,
    pub expired_key: PathBuf,
    /// A server certificate for `elsewhere.example` only.
    pub wrong_name_cert: PathBuf,
    pub wrong_name_key: PathBuf,
    /// A client certificate and its key.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca: PathBuf,
    /// A file that is not PEM.
    pub garbage: PathBuf,
}

impl Certs {
    pub fn new() -> Certs {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcaside-certs-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, pem: String| {
            let path = dir.join(name);
            std::fs::write(&path, pem).unwrap();
            path
        };

        let ca = ca("mcaside test CA");
        let leaf = |names: &[&str], expired: bool, client: bool| {
            let mut params =
                CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                    .unwrap();
            params.distinguished_name.push(DnType::CommonName, names[0]);
            if expired {
                params.not_before = date_time_ymd(2020, 1, 1);
                params.not_after = date_time_ymd(2021, 1, 1);
            }
            if client {
                params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
            }
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &ca).unwrap();
            (cert.pem(), key.serialize_pem())
        };
        let (server_cert, server_key) = leaf(&["localhost", "127.0.0.1"], false, false);
        let (expired_cert, expired_key) = leaf(&["localhost", "127.0.0.1"], true, false);
        let (wrong_cert, wrong_key) = leaf(&["elsewhere.example"], false, false);
        let (client_cert, client_key) = leaf(&["mcaside client"], false, true);
        let other = self::ca("someone else's CA");
        Certs {
            ca: write("ca.pem", ca.pem()),
            server_cert: write("server.pem", server_cert),
            server_key: write("server.key", server_key),
            expired_cert: write("expired.pem", expired_cert),
            expired_key: write("expired.key", expired_key),
            wrong_name_cert: write("wrong.pem", wrong_cert),
            wrong_name_key: write("wrong.key", wrong_key),
            client_cert: write("client.pem", client_cert),
            client_key: write("client.key", client_key),
            other_ca: write("other-ca.pem", other.pem()),
            garbage: write("garbage.pem", "this is not a certificate\n".into()),
            dir,
        }
    }

    /// memcached's `-o` settings for serving `cert` with `key`.
    pub fn server_options(cert: &std::path::Path, key: &std::path::Path) -> String {
        format!(
            "ssl_chain_cert={},ssl_key={}",
            cert.display(),
            key.display()
        )
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
