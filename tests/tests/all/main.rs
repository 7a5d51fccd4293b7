//! Integration tests, one module per topic.

mod fetch;
mod javascript;
mod js_attacks;
mod js_env;
mod konnector_libs;
mod limits;
mod permissions;
mod sample;
mod sandbox;
mod snapshot_attacks;
mod snapshots;
mod support;
mod wat;
