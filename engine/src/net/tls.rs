//! The TLS client configuration of a job: Mozilla's roots plus the
//! operator's CA files, rustls with the ring provider, HTTP/1.1 only.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tokio_rustls::TlsConnector;

use super::error::NetConfigError;

/// Builds the connector that trusts `webpki-roots` and every certificate in
/// `ca_files` (PEM).
pub(crate) fn tls_connector(ca_files: &[impl AsRef<Path>]) -> Result<TlsConnector, NetConfigError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for path in ca_files {
        add_ca_file(&mut roots, path.as_ref())?;
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|error| NetConfigError::Tls(error.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    // NOTE: the client speaks HTTP/1.1 only, so it offers no h2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

fn add_ca_file(roots: &mut RootCertStore, path: &Path) -> Result<(), NetConfigError> {
    let failed = |reason: String| NetConfigError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let certificates =
        CertificateDer::pem_file_iter(path).map_err(|error| failed(error.to_string()))?;
    let mut added = 0;
    for certificate in certificates {
        let certificate = certificate.map_err(|error| failed(error.to_string()))?;
        roots
            .add(certificate)
            .map_err(|error| failed(format!("invalid CA certificate: {error}")))?;
        added += 1;
    }
    if added == 0 {
        return Err(failed("no PEM certificate in the file".to_owned()));
    }
    Ok(())
}
