//! Integration tests against real Redis 7.0, Redis 8.6, Valkey 8.0 and Valkey 9 clusters started by
//! `cairn-testkit`: one test binary (see `Cargo.toml`), one module per topic or server.

mod apply;
mod bench;
mod discovery;
mod fix;
mod measure;
mod redis8;
mod support;
mod valkey8;
mod watch;
