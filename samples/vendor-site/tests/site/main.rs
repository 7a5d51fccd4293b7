//! Integration tests of the vendor site, one module per topic. Every test
//! talks to a server on 127.0.0.1 and shuts it down before it returns.

mod binary;
mod client;
mod customer_area;
mod faults;
mod login;
mod records;
mod tls;
