//! The data source types Cairn offers and their options, in Redash's shape.
//!
//! Each type publishes a JSON Schema of its options (`/api/data_sources/types`), with Redash's
//! extra keys: `order` (form field order) and `secret` (fields masked in responses and
//! encrypted at rest). Option names are Redash's own (`dbname` for PostgreSQL, `db` and
//! `passwd` for MySQL, `dbpath` for SQLite), so data sources created by existing clients work
//! unchanged.

use serde::Serialize;
use serde_json::{Map, Value as Json, json};

use crate::error::SourceError;

/// A data source type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SourceKind {
    /// A SQLite database file (`sqlite`).
    Sqlite,
    /// PostgreSQL (`pg`).
    Postgres,
    /// MySQL or MariaDB (`mysql`).
    Mysql,
}

/// One entry of `/api/data_sources/types`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceType {
    /// The human name (`PostgreSQL`).
    pub name: &'static str,
    /// The type key (`pg`).
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The JSON Schema of the options.
    pub configuration_schema: Json,
}

/// The option that limits how long one query on this data source may run, in seconds; the
/// global limit applies too, and the smaller one wins.
pub const QUERY_TIME_LIMIT_OPTION: &str = "query_time_limit";

/// Every data source type, for `/api/data_sources/types`.
pub fn source_types() -> Vec<SourceType> {
    [SourceKind::Postgres, SourceKind::Mysql, SourceKind::Sqlite]
        .into_iter()
        .map(|k| SourceType {
            name: k.display_name(),
            kind: k.key(),
            configuration_schema: k.configuration_schema(),
        })
        .collect()
}

impl SourceKind {
    /// The kind for a type key (`sqlite`, `pg`, `mysql`).
    ///
    /// # Errors
    /// [`SourceError::UnknownType`] for any other key.
    pub fn from_key(key: &str) -> Result<SourceKind, SourceError> {
        match key {
            "sqlite" => Ok(SourceKind::Sqlite),
            "pg" => Ok(SourceKind::Postgres),
            "mysql" => Ok(SourceKind::Mysql),
            other => Err(SourceError::UnknownType(other.to_owned())),
        }
    }

    /// The type key stored with a data source (`pg`).
    pub fn key(self) -> &'static str {
        match self {
            SourceKind::Sqlite => "sqlite",
            SourceKind::Postgres => "pg",
            SourceKind::Mysql => "mysql",
        }
    }

    /// The human name Redash shows.
    pub fn display_name(self) -> &'static str {
        match self {
            SourceKind::Sqlite => "Sqlite",
            SourceKind::Postgres => "PostgreSQL",
            SourceKind::Mysql => "MySQL",
        }
    }

    /// The query language, for the `syntax` field of `/api/data_sources`.
    pub fn syntax(self) -> &'static str {
        "sql"
    }

    /// The option names that are secrets (masked in responses, kept when the mask is sent back).
    pub fn secret_fields(self) -> &'static [&'static str] {
        match self {
            SourceKind::Sqlite => &[],
            SourceKind::Postgres => &["password"],
            SourceKind::Mysql => &["passwd"],
        }
    }

    /// The JSON Schema of the options, in Redash's shape. Every type also takes
    /// [`QUERY_TIME_LIMIT_OPTION`].
    pub fn configuration_schema(self) -> Json {
        let mut schema = self.own_schema();
        schema["properties"][QUERY_TIME_LIMIT_OPTION] =
            json!({"type": "number", "title": "Query time limit (seconds)"});
        schema
    }

    fn own_schema(self) -> Json {
        match self {
            SourceKind::Sqlite => json!({
                "type": "object",
                "properties": {
                    "dbpath": {"type": "string", "title": "Database Path"}
                },
                "required": ["dbpath"],
                "order": ["dbpath"],
                "secret": []
            }),
            SourceKind::Postgres => json!({
                "type": "object",
                "properties": {
                    "user": {"type": "string"},
                    "password": {"type": "string"},
                    "host": {"type": "string", "default": "127.0.0.1"},
                    "port": {"type": "number", "default": 5432},
                    "dbname": {"type": "string", "title": "Database Name"},
                    "sslmode": {
                        "type": "string",
                        "title": "SSL Mode",
                        "default": "prefer",
                        "extendedEnum": [
                            {"value": "disable", "name": "Disable"},
                            {"value": "allow", "name": "Allow"},
                            {"value": "prefer", "name": "Prefer"},
                            {"value": "require", "name": "Require"},
                            {"value": "verify-ca", "name": "Verify CA"},
                            {"value": "verify-full", "name": "Verify Full"}
                        ]
                    }
                },
                "order": ["host", "port", "user", "password", "dbname", "sslmode"],
                "required": ["dbname"],
                "secret": ["password"]
            }),
            SourceKind::Mysql => json!({
                "type": "object",
                "properties": {
                    "host": {"type": "string", "default": "127.0.0.1"},
                    "user": {"type": "string"},
                    "passwd": {"type": "string", "title": "Password"},
                    "db": {"type": "string", "title": "Database name"},
                    "port": {"type": "number", "default": 3306}
                },
                "order": ["host", "port", "user", "passwd", "db"],
                "required": ["db"],
                "secret": ["passwd"]
            }),
        }
    }
}

/// Checks options against a type's schema: an object, every required field present and not
/// empty, every known field of its declared type (numbers may also be given as numeric text, as
/// HTML forms send them). Unknown fields are allowed, as Redash allows them.
///
/// # Errors
/// [`SourceError::InvalidOptions`] naming the first offending field.
pub fn validate_options(kind: SourceKind, options: &Json) -> Result<(), SourceError> {
    let schema = kind.configuration_schema();
    let obj = options
        .as_object()
        .ok_or_else(|| SourceError::InvalidOptions("options must be a JSON object".into()))?;
    let empty = Map::new();
    let props = schema["properties"].as_object().unwrap_or(&empty);
    if let Some(required) = schema["required"].as_array() {
        for field in required.iter().filter_map(Json::as_str) {
            match obj.get(field) {
                None | Some(Json::Null) => {
                    return Err(SourceError::InvalidOptions(format!("{field} is required")));
                }
                Some(Json::String(s)) if s.trim().is_empty() => {
                    return Err(SourceError::InvalidOptions(format!(
                        "{field} must not be empty"
                    )));
                }
                Some(_) => {}
            }
        }
    }
    for (field, value) in obj {
        let Some(expected) = props.get(field).and_then(|p| p["type"].as_str()) else {
            continue;
        };
        let ok = match (expected, value) {
            (_, Json::Null) => true,
            ("string", Json::String(_)) => true,
            ("number", Json::Number(_)) => true,
            ("number", Json::String(s)) => s.trim().parse::<f64>().is_ok(),
            _ => false,
        };
        if !ok {
            return Err(SourceError::InvalidOptions(format!(
                "{field} must be a {expected}"
            )));
        }
    }
    Ok(())
}

/// A string option, `None` when absent, null or empty.
pub(crate) fn opt_str<'a>(options: &'a Json, field: &str) -> Option<&'a str> {
    options
        .get(field)
        .and_then(Json::as_str)
        .filter(|s| !s.is_empty())
}

/// A port option (number or numeric text), or `default`.
pub(crate) fn opt_port(options: &Json, field: &str, default: u16) -> Result<u16, SourceError> {
    let bad = || SourceError::InvalidOptions(format!("{field} must be a port number (1-65535)"));
    match options.get(field) {
        None | Some(Json::Null) => Ok(default),
        Some(Json::Number(n)) => n
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .filter(|&p| p > 0)
            .ok_or_else(bad),
        Some(Json::String(s)) if s.trim().is_empty() => Ok(default),
        Some(Json::String(s)) => s
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|&p| p > 0)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_listed_in_redash_shape() {
        let types = serde_json::to_value(source_types()).unwrap();
        let pg = types
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == "pg")
            .unwrap();
        assert_eq!(pg["name"], "PostgreSQL");
        assert_eq!(pg["configuration_schema"]["required"], json!(["dbname"]));
        assert_eq!(pg["configuration_schema"]["secret"], json!(["password"]));
        let keys: Vec<&str> = types
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["type"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["pg", "mysql", "sqlite"]);
        for kind in [SourceKind::Sqlite, SourceKind::Postgres, SourceKind::Mysql] {
            assert_eq!(SourceKind::from_key(kind.key()).unwrap(), kind);
            let schema = kind.configuration_schema();
            for field in schema["order"].as_array().unwrap() {
                assert!(
                    schema["properties"].get(field.as_str().unwrap()).is_some(),
                    "{field}"
                );
            }
            let secrets: Vec<&str> = schema["secret"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(secrets, kind.secret_fields());
        }
    }

    #[test]
    fn options_are_checked_with_clear_errors() {
        let err = |kind, v: Json| validate_options(kind, &v).unwrap_err().to_string();
        assert_eq!(
            err(SourceKind::Postgres, json!({"host": "x"})),
            "invalid data source options: dbname is required"
        );
        assert_eq!(
            err(SourceKind::Mysql, json!({"db": " "})),
            "invalid data source options: db must not be empty"
        );
        assert_eq!(
            err(SourceKind::Postgres, json!({"dbname": "a", "port": "abc"})),
            "invalid data source options: port must be a number"
        );
        assert_eq!(
            err(SourceKind::Sqlite, json!({"dbpath": 5})),
            "invalid data source options: dbpath must be a string"
        );
        assert_eq!(
            err(SourceKind::Sqlite, json!([1])),
            "invalid data source options: options must be a JSON object"
        );
        validate_options(
            SourceKind::Postgres,
            &json!({"dbname": "a", "port": "5433", "extra": true}),
        )
        .unwrap();
        validate_options(
            SourceKind::Mysql,
            &json!({"db": "a", "port": 3307, "passwd": null}),
        )
        .unwrap();
        assert!(matches!(
            SourceKind::from_key("oracle"),
            Err(SourceError::UnknownType(_))
        ));
    }

    #[test]
    fn ports_accept_numbers_and_numeric_text() {
        assert_eq!(opt_port(&json!({}), "port", 5432).unwrap(), 5432);
        assert_eq!(
            opt_port(&json!({"port": 6000}), "port", 5432).unwrap(),
            6000
        );
        assert_eq!(
            opt_port(&json!({"port": " 6001 "}), "port", 5432).unwrap(),
            6001
        );
        assert!(opt_port(&json!({"port": 70000}), "port", 5432).is_err());
        assert!(opt_port(&json!({"port": 0}), "port", 5432).is_err());
    }
}
