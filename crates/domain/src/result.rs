//! The shape of a query result: typed columns and rows of cell values.
//!
//! Rows travel from a data source to the result store and on to a download one at a time, so a
//! result is never one value in memory; these types describe one column or one row.

use serde::{Deserialize, Serialize};

/// The type Redash reports for a column (`columns[].type` in a result).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    /// Whole numbers.
    Integer,
    /// Floating point and decimal numbers.
    Float,
    /// `true` / `false`.
    Boolean,
    /// Text, and anything without a better type.
    String,
    /// A point in time.
    Datetime,
    /// A calendar date.
    Date,
}

/// One result column, in Redash's shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    /// The column name as the database reported it.
    pub name: String,
    /// The name shown to users; Redash sends the name unchanged.
    pub friendly_name: String,
    /// The column type; `None` when no row had a non-null value to tell it.
    #[serde(rename = "type")]
    pub kind: Option<ColumnType>,
}

impl Column {
    /// A column with its friendly name set to its name.
    pub fn new(name: impl Into<String>, kind: Option<ColumnType>) -> Self {
        let name = name.into();
        Column {
            friendly_name: name.clone(),
            name,
            kind,
        }
    }
}

/// One cell. Dates and times are kept as ISO-8601 text, which is what Redash sends in JSON and
/// what CSV and XLSX writers need to format them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// A whole number.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// Text, dates and times (ISO-8601), decimals that do not fit a float exactly.
    Text(String),
}

/// One row: one value per column, in column order.
pub type Row = Vec<Value>;
