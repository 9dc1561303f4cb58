//! A test certificate authority made with rcgen: TLS tests (mutual TLS,
//! a TLS upstream) issue their certificates from one.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA that issues leaf certificates.
pub struct Ca {
    /// The CA's own certificate (what a peer trusts).
    pub cert: rcgen::Certificate,
    issuer: Issuer<'static, KeyPair>,
}

impl Ca {
    /// A self-signed CA named `name`.
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

    /// A leaf for `names` (DNS names, or IP addresses as IP
    /// subjectAltNames): (certificate, key).
    pub fn leaf(&self, names: &[&str]) -> (rcgen::Certificate, KeyPair) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        (cert, key)
    }
}
