//! Integration tests against real Redis 7.0 and Valkey 9 clusters started by `cairn-testkit`.
//!
//! One test binary (see `Cargo.toml`), one module per topic.

mod apply;
mod bench;
mod discovery;
mod fix;
mod measure;
mod support;
mod watch;
