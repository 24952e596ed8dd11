//! CSV and TSV downloads, with Redash's conventions.
//!
//! Redash writes a header row of column names, booleans as `true`/`false`, NULL as an empty
//! field, CRLF line ends (Python's csv default), and quotes fields as CSV does (TSV is the same with a tab delimiter). Dates and times
//! are written as the ISO-8601 text they are stored as. Floats print as Python prints them
//! (`1.0`, not `1`), so a float column stays recognisable as one.

use std::io::Write;

use cairn_domain::result::{Column, Value};

use crate::error::WriteError;
use crate::sink::{ResultSink, SinkState};

/// Writes a result as delimiter-separated values (CSV or TSV).
#[derive(Debug)]
pub struct DsvWriter<W: Write> {
    out: csv::Writer<W>,
    width: usize,
    /// Scratch for formatting numbers without allocating per field.
    scratch: String,
    state: SinkState,
}

impl<W: Write> DsvWriter<W> {
    /// A CSV writer (comma-separated) to `out`, buffered internally.
    pub fn csv(out: W) -> Self {
        Self::with_delimiter(out, b',')
    }

    /// A TSV writer (tab-separated) to `out`, buffered internally.
    pub fn tsv(out: W) -> Self {
        Self::with_delimiter(out, b'\t')
    }

    fn with_delimiter(out: W, delimiter: u8) -> Self {
        let out = csv::WriterBuilder::new()
            .delimiter(delimiter)
            .terminator(csv::Terminator::CRLF)
            .buffer_capacity(64 * 1024)
            .from_writer(out);
        DsvWriter {
            out,
            width: 0,
            scratch: String::new(),
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
            .map_err(|e| WriteError::Io(std::io::Error::other(e.to_string())))
    }
}

/// Formats a float as Python's `str(float)` would for common values: always with a fractional
/// part or an exponent.
pub(crate) fn format_float(out: &mut String, f: f64) {
    use std::fmt::Write as _;
    out.clear();
    if f.is_nan() {
        out.push_str("nan");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(out, "{f}");
        if !out.contains(['.', 'e']) {
            out.push_str(".0");
        }
    }
}

impl<W: Write> ResultSink for DsvWriter<W> {
    fn begin(&mut self, columns: &[Column]) -> Result<(), WriteError> {
        self.state.begin()?;
        self.width = columns.len();
        self.out
            .write_record(columns.iter().map(|c| c.name.as_bytes()))?;
        Ok(())
    }

    fn write_row(&mut self, row: &[Value]) -> Result<(), WriteError> {
        use std::fmt::Write as _;
        self.state.check_row(self.width, row)?;
        for value in row {
            match value {
                Value::Null => self.out.write_field(b"")?,
                Value::Bool(true) => self.out.write_field(b"true")?,
                Value::Bool(false) => self.out.write_field(b"false")?,
                Value::Int(i) => {
                    self.scratch.clear();
                    let _ = write!(self.scratch, "{i}");
                    self.out.write_field(self.scratch.as_bytes())?;
                }
                Value::Float(f) => {
                    format_float(&mut self.scratch, *f);
                    self.out.write_field(self.scratch.as_bytes())?;
                }
                Value::Text(s) => self.out.write_field(s.as_bytes())?,
            }
        }
        self.out.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.state.finish()?;
        self.out.flush()?;
        Ok(())
    }
}
