//! TLS for `https://` Redfish services, as operators need it for BMCs whose certificates are
//! self-signed: trust a CA file, or pin the certificate's SHA-256 fingerprint, or, only when
//! asked for by name, verify nothing (the agent says so at every connection).
//!
//! rustls with ring's primitives: pure-Rust protocol code, no OpenSSL, so the static musl
//! binary stays one file (docs/redfish.md has what it adds to the binary). A pinned or an
//! unverified certificate still has to prove its key: the handshake's signature is checked
//! in every mode.

#[cfg(feature = "tls")]
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
#[cfg(feature = "tls")]
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
#[cfg(feature = "tls")]
use rustls::pki_types::pem::PemObject;
#[cfg(feature = "tls")]
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
#[cfg(feature = "tls")]
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
#[cfg(feature = "tls")]
use sha2::{Digest, Sha256};
#[cfg(feature = "tls")]
use std::sync::Arc;

#[cfg(feature = "tls")]
/// A client configuration, ready for [`super::http::HttpFetch::with_tls`].
pub type Config = Arc<ClientConfig>;

/// How the service's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trust {
    /// Certificates of these CAs (PEM), checked against the host name.
    CaFile(Vec<u8>),
    /// Exactly the certificate with this SHA-256 fingerprint (its DER), any name.
    Pin([u8; 32]),
    /// No verification of the certificate (the handshake signature still is).
    Insecure,
}

/// A fingerprint as `openssl x509 -fingerprint -sha256` prints it (`AB:CD:...`), or plain hex.
pub fn parse_fingerprint(s: &str) -> Result<[u8; 32], String> {
    let hex: String = s.chars().filter(|c| *c != ':').collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("a SHA-256 fingerprint is 64 hex digits (colons allowed)".into());
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
            .map_err(|_| "a SHA-256 fingerprint is 64 hex digits".to_string())?;
    }
    Ok(out)
}

#[cfg(feature = "tls")]
/// The SHA-256 fingerprint of a certificate's DER.
pub fn fingerprint(der: &[u8]) -> [u8; 32] {
    Sha256::digest(der).into()
}

#[cfg(feature = "tls")]
/// ring's provider. rustls 0.23.48 deprecates it for lacking post-quantum key exchange,
/// which no BMC offers; the alternative (aws-lc-rs) is a C library the static build would
/// have to carry.
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[cfg(feature = "tls")]
/// A verifier that checks the handshake's signature and, of the certificate, either its
/// fingerprint (`pin`) or nothing.
#[derive(Debug)]
struct Pinned {
    pin: Option<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

#[cfg(feature = "tls")]
impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.pin {
            Some(pin) if fingerprint(end_entity.as_ref()) != pin => Err(rustls::Error::General(
                "the certificate's SHA-256 fingerprint is not the pinned one".into(),
            )),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(feature = "tls")]
/// The client configuration for `trust`; a CA file without a certificate is an error.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let config = match trust {
        Trust::CaFile(pem) => {
            let mut roots = RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("the CA file: {e}"))?;
                roots.add(cert).map_err(|e| format!("the CA file: {e}"))?;
            }
            if roots.is_empty() {
                return Err("the CA file holds no certificate".into());
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Trust::Pin(pin) => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin: Some(*pin),
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
        Trust::Insecure => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned {
                pin: None,
                algorithms: provider.signature_verification_algorithms,
            }))
            .with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

#[cfg(all(test, feature = "tls"))]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_as_openssl_prints_them() {
        let hex = "AB:".repeat(31) + "CD";
        let f = parse_fingerprint(&hex).unwrap();
        assert_eq!((f[0], f[31]), (0xAB, 0xCD));
        assert_eq!(parse_fingerprint(&hex.replace(':', "")).unwrap(), f);
        assert!(parse_fingerprint("AB:CD").is_err());
        assert!(parse_fingerprint(&"ZZ".repeat(32)).is_err());
        assert!(client_config(&Trust::CaFile(b"not pem".to_vec())).is_err());
        assert!(client_config(&Trust::Insecure).is_ok());
    }
}
