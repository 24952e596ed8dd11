//! The JSON download, in Redash's shape, written incrementally.
//!
//! # Format
//!
//! ```text
//! {"query_result":{"id":1,"query_hash":"...","query":"...",
//!   "data":{"columns":[{"name","friendly_name","type"}...],"rows":[{"col":value,...},...]},
//!   "data_source_id":1,"runtime":0.1,"retrieved_at":"2024-01-31T10:00:00Z"}}
//! ```
//!
//! Only the metadata and the JSON-escaped column names are kept in memory; rows go straight to
//! the output. Non-finite floats are written as `null`, which is what JSON can hold.

use std::io::{BufWriter, Write};

use cairn_domain::result::{Column, Value};
use serde::Serialize;

use crate::error::WriteError;
use crate::sink::{ResultSink, SinkState};

/// The `query_result` fields around `data`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JsonResultMeta {
    /// The query result id.
    pub id: i64,
    /// The query hash.
    pub query_hash: String,
    /// The query text that produced the result.
    pub query: String,
    /// The data source id.
    pub data_source_id: i64,
    /// How long the query ran, in seconds.
    pub runtime: f64,
    /// When the result was retrieved, as ISO-8601 text.
    pub retrieved_at: String,
}

/// Writes a result as Redash's `{"query_result": ...}` JSON.
#[derive(Debug)]
pub struct JsonWriter<W: Write> {
    out: BufWriter<W>,
    meta: JsonResultMeta,
    /// Each column name, JSON-escaped with its quotes and followed by `:`.
    keys: Vec<Vec<u8>>,
    rows: u64,
    state: SinkState,
}

impl<W: Write> JsonWriter<W> {
    /// A writer to `out` (buffered internally) for a result with this metadata.
    pub fn new(out: W, meta: JsonResultMeta) -> Self {
        JsonWriter {
            out: BufWriter::with_capacity(64 * 1024, out),
            meta,
            keys: Vec::new(),
            rows: 0,
            state: SinkState::New,
        }
    }

    /// Returns the underlying writer, flushed.
    ///
    /// # Errors
    /// When the final flush fails.
    pub fn into_inner(self) -> Result<W, WriteError> {
        self.out
            .into_inner()
            .map_err(|e| WriteError::Io(e.into_error()))
    }
}

fn write_value(out: &mut impl Write, value: &Value) -> Result<(), WriteError> {
    match value {
        Value::Null => out.write_all(b"null")?,
        Value::Bool(true) => out.write_all(b"true")?,
        Value::Bool(false) => out.write_all(b"false")?,
        Value::Int(i) => write!(out, "{i}")?,
        Value::Float(f) if f.is_finite() => serde_json::to_writer(&mut *out, f).map_err(json_io)?,
        Value::Float(_) => out.write_all(b"null")?,
        Value::Text(s) => serde_json::to_writer(&mut *out, s).map_err(json_io)?,
    }
    Ok(())
}

fn json_io(e: serde_json::Error) -> WriteError {
    WriteError::Io(std::io::Error::other(e))
}

impl<W: Write> ResultSink for JsonWriter<W> {
    fn begin(&mut self, columns: &[Column]) -> Result<(), WriteError> {
        self.state.begin()?;
        let m = &self.meta;
        write!(
            self.out,
            "{{\"query_result\":{{\"id\":{},\"query_hash\":",
            m.id
        )?;
        serde_json::to_writer(&mut self.out, &m.query_hash).map_err(json_io)?;
        self.out.write_all(b",\"query\":")?;
        serde_json::to_writer(&mut self.out, &m.query).map_err(json_io)?;
        self.out.write_all(b",\"data\":{\"columns\":")?;
        serde_json::to_writer(&mut self.out, columns).map_err(json_io)?;
        self.out.write_all(b",\"rows\":[")?;
        self.keys = columns
            .iter()
            .map(|c| {
                let mut key = serde_json::to_vec(&c.name).unwrap_or_else(|_| b"\"\"".to_vec());
                key.push(b':');
                key
            })
            .collect();
        Ok(())
    }

    fn write_row(&mut self, row: &[Value]) -> Result<(), WriteError> {
        self.state.check_row(self.keys.len(), row)?;
        self.out
            .write_all(if self.rows == 0 { b"{" } else { b",{" })?;
        for (i, (key, value)) in self.keys.iter().zip(row).enumerate() {
            if i > 0 {
                self.out.write_all(b",")?;
            }
            self.out.write_all(key)?;
            write_value(&mut self.out, value)?;
        }
        self.out.write_all(b"}")?;
        self.rows += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.state.finish()?;
        write!(
            self.out,
            "]}},\"data_source_id\":{},\"runtime\":",
            self.meta.data_source_id
        )?;
        let runtime = if self.meta.runtime.is_finite() {
            self.meta.runtime
        } else {
            0.0
        };
        serde_json::to_writer(&mut self.out, &runtime).map_err(json_io)?;
        self.out.write_all(b",\"retrieved_at\":")?;
        serde_json::to_writer(&mut self.out, &self.meta.retrieved_at).map_err(json_io)?;
        self.out.write_all(b"}}")?;
        self.out.flush()?;
        Ok(())
    }
}
