//! Parsing of `manifest.konnector` and permission checks.
