//! Cairn's metadata store: sqlx on SQLite or PostgreSQL, with migrations.
