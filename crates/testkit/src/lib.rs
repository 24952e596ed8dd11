//! Test harness: starts real servers (PostgreSQL, MariaDB, Redis, Valkey, Redis Cluster) on
//! ephemeral ports in temporary directories, and stops them when their handle is dropped.
//!
//! Tests never rely on services on standard ports: every server here is the test's own.
//!
//! # Layout
//! - [`cairn`]: a real `cairn up` process, for the binary's own tests and benchmarks.
//! - [`process`]: a child process that is killed when dropped, free ports, readiness polling.
//! - [`postgres`]: a throw-away PostgreSQL cluster (`initdb` + `postgres`).
//! - [`mariadb`]: a throw-away MariaDB server.
//! - [`redis`]: standalone Redis/Valkey servers and Redis Clusters.

pub mod cairn;
pub mod mariadb;
pub mod postgres;
pub mod process;
pub mod redis;
