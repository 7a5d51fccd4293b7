//! Integration tests of the konnector engine, and what they share.

/// The sample konnectors under `samples/`, whose Rust guests this crate's
/// build script compiles.
pub mod samples {
    use std::path::{Path, PathBuf};

    /// Path of the `rust-bills` sample's WebAssembly module.
    pub const RUST_BILLS_WASM: &str = env!("SAMPLE_RUST_BILLS_WASM");

    /// Path of the sample folder `samples/<name>`, such as `rust-bills`.
    pub fn dir(name: &str) -> PathBuf {
        let tests_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let workspace = tests_dir.parent().unwrap_or(tests_dir);
        workspace.join("samples").join(name)
    }
}

/// Operator settings that reach the fixture vendor site under the name the
/// samples hard-code, `vendor.example`.
pub mod vendor {
    use konnector_engine::net::{ConnectTo, OperatorNetConfig};
    use vendor_site::VendorSite;

    /// Returns the settings that reach `site` as `https://vendor.example`,
    /// and the file of its test CA, which they name and which is removed
    /// when dropped.
    ///
    /// # Panics
    ///
    /// When the site has no HTTPS listener or the CA file cannot be written.
    pub fn https_network(site: &VendorSite) -> (OperatorNetConfig, tempfile::NamedTempFile) {
        let https = site.https_addr().expect("https listener");
        let ca = tempfile::NamedTempFile::new().expect("CA file");
        std::fs::write(ca.path(), site.ca_pem()).expect("write CA");
        let network = OperatorNetConfig {
            connect_to: vec![ConnectTo {
                host: "vendor.example".into(),
                port: 443,
                target: https,
            }],
            allow_private: vec![https],
            ca_files: vec![ca.path().to_owned()],
            ..OperatorNetConfig::default()
        };
        (network, ca)
    }

    /// Returns the settings that reach `site` as `http://vendor.example`.
    pub fn http_network(site: &VendorSite) -> OperatorNetConfig {
        OperatorNetConfig {
            connect_to: vec![ConnectTo {
                host: "vendor.example".into(),
                port: 80,
                target: site.http_addr(),
            }],
            allow_private: vec![site.http_addr()],
            ..OperatorNetConfig::default()
        }
    }
}
