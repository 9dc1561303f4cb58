//! TLS for tests: a test CA made with rcgen issuing leaf certificates,
//! the server's pair written (and replaced) in place, and a client that
//! trusts the CA (rustls on both sides).

use std::path::Path;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use tokio_rustls::rustls::pki_types::PrivateKeyDer;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A CA that issues leaf certificates.
pub struct Ca {
    /// The CA's certificate (a client's trust anchor).
    pub cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            cert,
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf for `names`: (certificate, key).
    pub fn leaf(&self, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert, key)
    }
}

pub fn write_pair(dir: &Path, cert: &rcgen::Certificate, key: &KeyPair) {
    // Key first, then the certificate: the server reloads when either
    // changes and must not see a new certificate with the old key for
    // long (it keeps the old pair if they do not match).
    std::fs::write(dir.join("key.pem.new"), key.serialize_pem()).expect("key");
    std::fs::write(dir.join("cert.pem.new"), cert.pem()).expect("cert");
    std::fs::rename(dir.join("key.pem.new"), dir.join("key.pem")).expect("rename");
    std::fs::rename(dir.join("cert.pem.new"), dir.join("cert.pem")).expect("rename");
}

/// A TLS client trusting `ca`, presenting `identity` if given.
pub fn connector(
    ca: &rcgen::Certificate,
    identity: Option<(rcgen::Certificate, KeyPair)>,
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(ca.der().clone()).expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => builder
            .with_client_auth_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("client certificate"),
    };
    TlsConnector::from(Arc::new(config))
}
