//! Integration tests against real databases: SQLite files, and PostgreSQL and MariaDB servers
//! started by `cairn-testkit` on ephemeral ports.

mod common;
mod connect;
mod demo;
mod mariadb;
mod postgres;
mod sqlite;
