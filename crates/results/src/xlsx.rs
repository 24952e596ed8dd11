//! The XLSX download, through `rust_xlsxwriter` in constant-memory mode.
//!
//! Constant-memory mode writes each finished row to a temporary file instead of keeping the
//! sheet in memory, and uses inline strings instead of a shared-string table, so memory stays
//! flat however many rows there are. The ZIP container is only produced at
//! [`finish`](ResultSink::finish), written to the output in one go; stream it to a client
//! through a [`BlockWriter`](crate::BlockWriter) from a blocking task.
//!
//! Redash writes a header row of names and then each value as its own type; so does this
//! writer: numbers as numbers (integers beyond 2^53 as text, since a cell holds a double),
//! booleans as booleans, text, dates and times as text.

use std::io::Write;

use cairn_domain::result::{Column, Value};
use rust_xlsxwriter::{Format, Workbook};

use crate::dsv::format_float;
use crate::error::WriteError;
use crate::sink::{ResultSink, SinkState};

/// The rows one sheet holds, header included.
const SHEET_ROWS: u32 = 1_048_576;
/// The columns one sheet holds.
const SHEET_COLUMNS: usize = 16_384;
/// The longest text a cell holds, in characters.
const CELL_CHARS: usize = 32_767;
/// Integers up to this magnitude are exact as doubles.
const EXACT_INT: i64 = 1 << 53;

/// Writes a result as an XLSX workbook with one sheet.
pub struct XlsxWriter<W: Write + Send> {
    out: Option<W>,
    workbook: Workbook,
    header: Format,
    width: usize,
    /// The next sheet row to write (0 is the header).
    next_row: u32,
    scratch: String,
    state: SinkState,
}

impl<W: Write + Send> std::fmt::Debug for XlsxWriter<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XlsxWriter")
            .field("next_row", &self.next_row)
            .finish()
    }
}

impl<W: Write + Send> XlsxWriter<W> {
    /// A writer whose workbook is written to `out` at `finish`.
    ///
    /// # Errors
    /// When the temporary file for the sheet cannot be created.
    pub fn new(out: W) -> Result<Self, WriteError> {
        let mut workbook = Workbook::new();
        workbook
            .add_worksheet_with_constant_memory()?
            .set_name("Sheet1")?;
        Ok(XlsxWriter {
            out: Some(out),
            workbook,
            header: Format::new().set_bold(),
            width: 0,
            next_row: 0,
            scratch: String::new(),
            state: SinkState::New,
        })
    }

    /// Returns the underlying writer after `finish`, or `None` before.
    pub fn into_inner(self) -> Option<W> {
        if self.state == SinkState::Done {
            self.out
        } else {
            None
        }
    }
}

fn truncate_chars(s: &str) -> &str {
    match s.char_indices().nth(CELL_CHARS) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

impl<W: Write + Send> ResultSink for XlsxWriter<W> {
    fn begin(&mut self, columns: &[Column]) -> Result<(), WriteError> {
        self.state.begin()?;
        if columns.len() > SHEET_COLUMNS {
            return Err(WriteError::XlsxTooManyColumns {
                limit: SHEET_COLUMNS,
            });
        }
        self.width = columns.len();
        let sheet = self.workbook.worksheet_from_index(0)?;
        for (c, column) in columns.iter().enumerate() {
            let col = c as u16; // below SHEET_COLUMNS, checked above
            sheet.write_string_with_format(0, col, truncate_chars(&column.name), &self.header)?;
        }
        self.next_row = 1;
        Ok(())
    }

    fn write_row(&mut self, row: &[Value]) -> Result<(), WriteError> {
        self.state.check_row(self.width, row)?;
        if self.next_row >= SHEET_ROWS {
            return Err(WriteError::XlsxTooManyRows {
                limit: SHEET_ROWS - 1,
            });
        }
        let r = self.next_row;
        let sheet = self.workbook.worksheet_from_index(0)?;
        for (c, value) in row.iter().enumerate() {
            let col = c as u16; // below SHEET_COLUMNS, checked in begin
            match value {
                Value::Null => {}
                Value::Bool(b) => {
                    sheet.write_boolean(r, col, *b)?;
                }
                Value::Int(i) if (-EXACT_INT..=EXACT_INT).contains(i) => {
                    sheet.write_number(r, col, *i as f64)?;
                }
                Value::Int(i) => {
                    sheet.write_string(r, col, i.to_string())?;
                }
                Value::Float(f) if f.is_finite() => {
                    sheet.write_number(r, col, *f)?;
                }
                Value::Float(f) => {
                    format_float(&mut self.scratch, *f);
                    sheet.write_string(r, col, self.scratch.as_str())?;
                }
                Value::Text(s) => {
                    sheet.write_string(r, col, truncate_chars(s))?;
                }
            }
        }
        self.next_row += 1;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        self.state.finish()?;
        let out = self
            .out
            .as_mut()
            .ok_or(WriteError::OutOfOrder("finish twice"))?;
        self.workbook.save_to_writer(&mut *out)?;
        out.flush()?;
        Ok(())
    }
}
