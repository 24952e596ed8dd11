//! Data sources: running user SQL on SQLite, PostgreSQL and MySQL/MariaDB.
