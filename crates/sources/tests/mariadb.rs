//! MariaDB.
