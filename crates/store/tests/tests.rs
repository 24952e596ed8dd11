//! The store's test suite. Every test is an `async fn(TestDb)` run twice by `store_test!`: once
//! on a SQLite file in a temporary directory and once on a fresh database of a real PostgreSQL
//! server started by `cairn-testkit`.

mod harness;

mod backup;
mod concurrency;
mod dashboards;
mod data_sources;
mod fence;
mod indexes;
mod maintain;
mod migrations;
mod queries;
mod replica;
mod results;
mod users;
