//! Integration tests of the stack server, one module per topic. Every test
//! talks to a server on 127.0.0.1 over real HTTP and shuts it down before
//! it returns.

mod binary;
mod client;
mod documents;
mod faults;
mod files;
mod find;
mod tokens;
