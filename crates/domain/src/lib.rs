//! Cairn's domain model and the pure logic of queries: no I/O happens here.
//!
//! # Layout
//! - [`result`]: the shape of a query result (columns, cell values) shared by the data sources
//!   that produce rows, the result store that keeps them and the writers that download them.

pub mod result;
