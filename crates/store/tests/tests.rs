//! The store's test suite. Every test is an `async fn(TestDb)` run twice by `store_test!`: once
//! on a SQLite file in a temporary directory and once on a fresh database of a real PostgreSQL
//! server started by `cairn-testkit`.

mod harness;

mod concurrency;
mod dashboards;
mod data_sources;
mod migrations;
mod queries;
mod results;
mod users;
