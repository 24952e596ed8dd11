//! Cairn's HTTP server: the Redash-compatible REST API.
