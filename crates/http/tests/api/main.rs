//! The REST API over real HTTP, against the real store (SQLite and PostgreSQL), the in-process
//! queue and worker, and real data sources (SQLite, PostgreSQL, MariaDB) started for the tests.

mod harness;

mod auth_and_errors;
mod dashboards;
mod data_sources;
mod downloads;
mod execution;
mod ops;
mod public_run_limit;
mod public_runs;
mod queries;
