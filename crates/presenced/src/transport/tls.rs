//! The TLS server configuration (rustls, ring provider) from PEM files:
//! the server's certificate, reloaded when its files change, and, with a
//! client CA, mutual TLS for trusted peers.
//!
//! TLS connections are served by the same stream loop as TCP
//! ([`super::tcp`]); this module turns files on disk into a
//! `TlsAcceptor`, with errors that name the file at fault.
//!
//! - **Reload.** Certificates are renewed while the server runs (certbot,
//!   an internal CA's agent). The acceptor resolves the certificate per
//!   handshake from a [`CertStore`]; [`CertStore::reload_if_changed`],
//!   called every few seconds, reads both files again when either's
//!   modification time or size changed. New connections get the new
//!   certificate; a pair that does not load (half written, a key that
//!   does not match) is logged and the old one stays.
//! - **Mutual TLS.** With `sip.tls_client_ca`, clients may present a
//!   certificate. It must chain to that CA *and* be valid for one of the
//!   trusted peers' `certificate_names`; anything else fails the
//!   handshake, so an unknown certificate never gets a connection.
//!   Clients without a certificate still connect (and sign in with
//!   digest). The names a connection's certificate is valid for are what
//!   [`crate::auth`] recognises a trusted peer by.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::client::danger::HandshakeSignatureValid;
use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_rustls::rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{
    self, CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};
use tokio_rustls::TlsAcceptor;

use tokio_util::sync::CancellationToken;

use crate::config::TlsFiles;

/// Why the TLS configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read or decoded.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{0}: no CERTIFICATE in this PEM file")]
    NoCertificate(PathBuf),
    /// The key file holds no private key.
    #[error("{0}: no PRIVATE KEY in this PEM file")]
    NoKey(PathBuf),
    /// The client CA file holds no usable CA certificate.
    #[error("{path}: not a usable CA certificate: {reason}")]
    ClientCa {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// rustls rejected the pair (a key that does not match, say).
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The acceptor for every TLS listener, and the certificate store behind
/// it (to reload). `peer_names` are the trusted peers'
/// `certificate_names`: the only client certificates accepted.
pub fn acceptor(
    files: &TlsFiles,
    peer_names: &[String],
) -> Result<(TlsAcceptor, Arc<CertStore>), TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let store = Arc::new(CertStore::load(files, &provider)?);
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => builder
            .with_client_cert_verifier(Arc::new(PeerVerifier::new(ca, peer_names, provider)?)),
    };
    let config = builder.with_cert_resolver(store.clone());
    Ok((TlsAcceptor::from(Arc::new(config)), store))
}

/// The names in `names` that `cert` is valid for (its subjectAltName DNS
/// names, wildcards included): what a trusted peer is recognised by.
pub fn names_valid_for(cert: &CertificateDer<'_>, names: &[String]) -> Vec<String> {
    let Ok(cert) = webpki::EndEntityCert::try_from(cert) else {
        return Vec::new();
    };
    names
        .iter()
        .filter(|name| {
            ServerName::try_from(name.as_str())
                .is_ok_and(|n| cert.verify_is_valid_for_subject_name(&n).is_ok())
        })
        .cloned()
        .collect()
}

/// The server's certificate and key, swapped when the files change.
#[derive(Debug)]
pub struct CertStore {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertifiedKey>,
    /// Modification time and size of (cert, key) when last loaded.
    seen: Mutex<[Option<(SystemTime, u64)>; 2]>,
}

impl CertStore {
    fn load(files: &TlsFiles, provider: &Arc<CryptoProvider>) -> Result<CertStore, TlsError> {
        let seen = [stamp(&files.cert), stamp(&files.key)];
        let key = certified_key(files, provider)?;
        Ok(CertStore {
            files: files.clone(),
            provider: provider.clone(),
            current: ArcSwap::from_pointee(key),
            seen: Mutex::new(seen),
        })
    }

    /// Loads the pair again if either file changed since the last load:
    /// `Ok(true)` when the new one is in use, `Ok(false)` when nothing
    /// changed; on an error the old pair stays in use.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = [stamp(&self.files.cert), stamp(&self.files.key)];
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if *seen == now {
            return Ok(false);
        }
        // Remembered even on failure: a broken file is reported once,
        // and tried again when it changes again.
        *seen = now;
        let key = certified_key(&self.files, &self.provider)?;
        self.current.store(Arc::new(key));
        Ok(true)
    }
}

impl ResolvesServerCert for CertStore {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

fn certified_key(files: &TlsFiles, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let certs = certificates(&files.cert)?;
    let key = provider
        .key_provider
        .load_private_key(private_key(&files.key)?)?;
    let pair = CertifiedKey::new(certs, key);
    pair.keys_match()?;
    Ok(pair)
}

/// Client certificates: the CA's, and for a trusted peer's name.
#[derive(Debug)]
struct PeerVerifier {
    inner: Arc<dyn ClientCertVerifier>,
    names: Vec<String>,
}

impl PeerVerifier {
    fn new(
        ca: &Path,
        names: &[String],
        provider: Arc<CryptoProvider>,
    ) -> Result<PeerVerifier, TlsError> {
        let mut roots = RootCertStore::empty();
        for cert in certificates(ca)? {
            roots.add(cert).map_err(|e| TlsError::ClientCa {
                path: ca.to_owned(),
                reason: e.to_string(),
            })?;
        }
        let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .allow_unauthenticated()
            .build()
            .map_err(|e| TlsError::ClientCa {
                path: ca.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(PeerVerifier {
            inner,
            names: names.to_vec(),
        })
    }
}

impl ClientCertVerifier for PeerVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .inner
            .verify_client_cert(end_entity, intermediates, now)?;
        if names_valid_for(end_entity, &self.names).is_empty() {
            // Issued by our CA, but for no trusted peer: refused here
            // rather than let in as an anonymous client.
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName,
            ));
        }
        Ok(verified)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// A TLS client configuration that trusts the certificates of the PEM
/// file `ca` (an outbound connection to a server of our own, such as the
/// LDAP server of `[directory]`, whose CA is not the system's).
pub fn client_config(ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    client_config_with(ca, None)
}

/// [`client_config`], presenting the certificate of `identity` to a
/// server that asks for one (the upstream presence server with mutual
/// TLS: `[provider] tls_client_certificate`).
pub fn client_config_with(
    ca: &Path,
    identity: Option<&TlsFiles>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certificates(ca)? {
        roots.add(cert)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match identity {
        None => builder.with_no_client_auth(),
        Some(files) => {
            builder.with_client_auth_cert(certificates(&files.cert)?, private_key(&files.key)?)?
        }
    };
    Ok(Arc::new(config))
}

fn open(path: &Path) -> Result<std::io::BufReader<std::fs::File>, TlsError> {
    let file = std::fs::File::open(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(std::io::BufReader::new(file))
}

fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = rustls_pemfile::certs(&mut open(path)?)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate(path.to_owned()));
    }
    Ok(certs)
}

fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    rustls_pemfile::private_key(&mut open(path)?)
        .map_err(|source| TlsError::Read {
            path: path.to_owned(),
            source,
        })?
        .ok_or_else(|| TlsError::NoKey(path.to_owned()))
}

/// How often the TLS certificate files are looked at.
const CERT_POLL: std::time::Duration = std::time::Duration::from_secs(2);

/// Reloads the TLS certificate when its files change (a renewal), until
/// shutdown (the SIP listeners' and the HTTP listener's alike). Polled rather than watched with inotify: renewals replace
/// files by rename into directories that may be symlinks (certbot's
/// `live/`), which a poll of the paths sees as it is.
pub async fn watch(store: Arc<CertStore>, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(CERT_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tick.tick() => {}
        }
        match store.reload_if_changed() {
            Ok(true) => tracing::info!("TLS certificate reloaded"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, "TLS certificate not reloaded; the old one stays")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not pem").unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        let e = acceptor(&files, &[]).err().expect("an error").to_string();
        assert!(e.contains("cert.pem: no CERTIFICATE"), "{e}");

        let generated = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        std::fs::write(&cert, generated.cert.pem()).unwrap();
        let e = acceptor(&files, &[]).err().expect("an error").to_string();
        assert!(e.contains("key.pem") && e.contains("No such file"), "{e}");

        std::fs::write(&key, generated.signing_key.serialize_pem()).unwrap();
        assert!(acceptor(&files, &[]).is_ok());
    }

    #[test]
    fn a_changed_pair_is_loaded_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            client_ca: None,
        };
        let write = |names: &[&str]| {
            let g = rcgen::generate_simple_self_signed(
                names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
            )
            .unwrap();
            std::fs::write(&files.key, g.signing_key.serialize_pem()).unwrap();
            std::fs::write(&files.cert, g.cert.pem()).unwrap();
            g.cert.der().clone()
        };
        let first = write(&["localhost"]);
        let (_, store) = acceptor(&files, &[]).unwrap();
        assert_eq!(store.current.load().cert[0], first);
        assert!(!store.reload_if_changed().unwrap());
        let second = write(&["localhost", "sip.example.com"]);
        assert!(store.reload_if_changed().unwrap());
        assert_eq!(store.current.load().cert[0], second);
        std::fs::write(&files.cert, "half written").unwrap();
        assert!(store.reload_if_changed().is_err());
        assert_eq!(store.current.load().cert[0], second);
        assert!(!store.reload_if_changed().unwrap(), "reported once");
    }

    #[test]
    fn a_certificate_names_the_peers_it_is_valid_for() {
        let g = rcgen::generate_simple_self_signed(vec![
            "cc.example.com".to_owned(),
            "*.vc.example.com".to_owned(),
        ])
        .unwrap();
        let names = [
            "cc.example.com".to_owned(),
            "room1.vc.example.com".to_owned(),
            "evil.example.com".to_owned(),
        ];
        assert_eq!(names_valid_for(g.cert.der(), &names), names[..2]);
        assert!(names_valid_for(&CertificateDer::from(vec![1, 2, 3]), &names).is_empty());
    }
}
