//! Streamed, chunked and compressed query results, and their download formats.
