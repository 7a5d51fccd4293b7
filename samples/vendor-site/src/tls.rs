//! The test PKI generated at every start: a CA and a server certificate it
//! signs, for the site's hostname, `localhost` and 127.0.0.1.

use std::io;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// The generated CA and the server configuration that uses its certificate.
pub(crate) struct TestPki {
    /// The CA certificate, PEM, for clients to trust.
    pub(crate) ca_pem: String,
    server_config: Arc<ServerConfig>,
}

impl TestPki {
    /// Generates a CA and a server certificate valid for `hostname`,
    /// `localhost` and the IP address 127.0.0.1. Keys are ECDSA P-256.
    ///
    /// Certificates keep rcgen's default validity, 1975 to 4096, so tests do
    /// not depend on the current date.
    pub(crate) fn generate(hostname: &str) -> io::Result<TestPki> {
        let ca_key = KeyPair::generate().map_err(|error| pki_error("CA key", error))?;
        let ca_params = ca_params();
        let ca_cert = ca_params
            .self_signed(&ca_key)
            .map_err(|error| pki_error("CA certificate", error))?;
        let ca_pem = ca_cert.pem();
        let issuer = Issuer::new(ca_params, ca_key);

        let server_key = KeyPair::generate().map_err(|error| pki_error("server key", error))?;
        let server_params = server_params(hostname)?;
        let server_cert = server_params
            .signed_by(&server_key, &issuer)
            .map_err(|error| pki_error("server certificate", error))?;

        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let server_config = server_config(server_cert.der().clone(), key_der)?;
        Ok(TestPki {
            ca_pem,
            server_config,
        })
    }

    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(self.server_config.clone())
    }
}

fn ca_params() -> CertificateParams {
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "Vendor Site Test CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn server_params(hostname: &str) -> io::Result<CertificateParams> {
    let mut names = vec![hostname.to_owned()];
    for extra in ["localhost", "127.0.0.1"] {
        if !names.iter().any(|name| name == extra) {
            names.push(extra.to_owned());
        }
    }

    let mut params = CertificateParams::new(names).map_err(|error| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid hostname {hostname:?} for the server certificate: {error}"),
        )
    })?;
    params.distinguished_name.push(DnType::CommonName, hostname);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Builds the rustls configuration with the ring provider named explicitly,
/// so it does not depend on which provider another crate in the process
/// installed as the default.
fn server_config(
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
) -> io::Result<Arc<ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| {
            builder
                .with_no_client_auth()
                .with_single_cert(vec![cert], key)
        })
        .map_err(|error| {
            io::Error::other(format!("failed to build the TLS configuration: {error}"))
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn pki_error(item: &str, error: rcgen::Error) -> io::Error {
    io::Error::other(format!("failed to generate the test {item}: {error}"))
}
