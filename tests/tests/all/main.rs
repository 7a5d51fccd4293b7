//! Integration tests, one module per topic.

mod fetch;
mod javascript;
mod js_env;
mod limits;
mod permissions;
mod sample;
mod sandbox;
mod support;
mod wat;
