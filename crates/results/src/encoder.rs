//! Turning rows, one at a time, into the stored chunks of a result.
//!
//! The encoder never holds more than one chunk of rows: [`ResultEncoder::push_row`] hands back a
//! finished chunk as soon as one fills, and the caller persists it (for Cairn, the metadata
//! store's `append_chunk`) before pushing more. Limits are checked on every row, so a runaway
//! query fails as soon as it crosses them rather than after it has been buffered.

use cairn_domain::result::{Column, ColumnType, Value};

use crate::error::EncodeError;
use crate::format::{self, FrameKind, MAX_RAW_FRAME};

/// Limits on one result, checked as rows arrive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ResultLimits {
    /// The most rows a result may have; `None` for no limit.
    pub max_rows: Option<u64>,
    /// The most bytes the encoded rows may take before compression (close to the size of the
    /// data itself, whatever its compressibility); `None` for no limit.
    pub max_bytes: Option<u64>,
}

/// How big chunks get before they are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkSize {
    /// A chunk is finished once its encoded rows reach this many bytes (before compression).
    pub max_bytes: usize,
    /// A chunk is finished once it holds this many rows.
    pub max_rows: u32,
}

impl Default for ChunkSize {
    /// About 1 MiB of encoded rows, or 50,000 rows, whichever comes first.
    fn default() -> Self {
        ChunkSize {
            max_bytes: 1024 * 1024,
            max_rows: 50_000,
        }
    }
}

/// What an encoder saw, once it is finished.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSummary {
    /// The columns as stored, with types filled in from the data where the source gave none.
    pub columns: Vec<Column>,
    /// The number of rows.
    pub rows: u64,
    /// The encoded size of the rows before compression.
    pub raw_bytes: u64,
    /// The total size of all chunks handed out, i.e. what storage holds.
    pub stored_bytes: u64,
    /// The number of chunks handed out.
    pub chunks: u32,
}

/// Encodes a result row by row into self-contained, compressed chunks.
///
/// # Examples
///
/// ```
/// use cairn_domain::result::{Column, ColumnType, Value};
/// use cairn_results::{ResultDecoder, ResultEncoder, ResultLimits};
///
/// let columns = vec![Column::new("n", Some(ColumnType::Integer))];
/// let mut encoder = ResultEncoder::new(columns, ResultLimits::default());
/// let mut stored: Vec<Vec<u8>> = Vec::new();
/// for n in 0..10 {
///     if let Some(chunk) = encoder.push_row(&[Value::Int(n)])? {
///         stored.push(chunk);
///     }
/// }
/// let (last, summary) = encoder.finish();
/// stored.push(last);
/// assert_eq!(summary.rows, 10);
///
/// let bytes = stored.concat();
/// let mut decoder = ResultDecoder::new(bytes.as_slice())?;
/// let rows = decoder.next_chunk()?.unwrap();
/// assert_eq!(rows[3], vec![Value::Int(3)]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ResultEncoder {
    columns: Vec<Column>,
    limits: ResultLimits,
    chunk_size: ChunkSize,
    /// Encoded rows of the chunk being filled.
    raw: Vec<u8>,
    rows_in_chunk: u32,
    rows: u64,
    raw_bytes: u64,
    stored_bytes: u64,
    chunks: u32,
    /// Whether the first chunk (preamble plus columns) was handed out yet.
    header_written: bool,
}

impl ResultEncoder {
    /// A new encoder for a result with these columns, using the default [`ChunkSize`].
    ///
    /// Columns whose `kind` is `None` get the type of their first non-null value seen before
    /// the first chunk is handed out (see [`infer_kind`]), as Redash guesses types for
    /// sources that report none (SQLite expressions, for example).
    pub fn new(columns: Vec<Column>, limits: ResultLimits) -> Self {
        Self::with_chunk_size(columns, limits, ChunkSize::default())
    }

    /// A new encoder with an explicit chunk size.
    pub fn with_chunk_size(
        columns: Vec<Column>,
        limits: ResultLimits,
        chunk_size: ChunkSize,
    ) -> Self {
        let chunk_size = ChunkSize {
            max_bytes: chunk_size.max_bytes.clamp(1, MAX_RAW_FRAME / 2),
            max_rows: chunk_size.max_rows.max(1),
        };
        ResultEncoder {
            columns,
            limits,
            chunk_size,
            raw: Vec::new(),
            rows_in_chunk: 0,
            rows: 0,
            raw_bytes: 0,
            stored_bytes: 0,
            chunks: 0,
            header_written: false,
        }
    }

    /// The columns, with the types inferred so far.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows
    }

    /// The encoded size of the rows pushed so far, before compression.
    pub fn raw_bytes(&self) -> u64 {
        self.raw_bytes
    }

    /// Adds one row. Returns a finished chunk when this row filled one: the caller must store
    /// it, after all chunks returned before it.
    ///
    /// # Errors
    /// [`EncodeError::RowWidth`] when the row does not have one value per column,
    /// [`EncodeError::TooManyRows`] / [`EncodeError::TooManyBytes`] when the row crosses a
    /// limit, [`EncodeError::RowTooLarge`] for a single row the format cannot hold. After an
    /// error the encoder is unchanged by the rejected row.
    pub fn push_row(&mut self, row: &[Value]) -> Result<Option<Vec<u8>>, EncodeError> {
        if row.len() != self.columns.len() {
            return Err(EncodeError::RowWidth {
                expected: self.columns.len(),
                got: row.len(),
            });
        }
        if let Some(limit) = self.limits.max_rows
            && self.rows >= limit
        {
            return Err(EncodeError::TooManyRows { limit });
        }
        let before = self.raw.len();
        for value in row {
            format::write_value(&mut self.raw, value);
        }
        let row_bytes = self.raw.len() - before;
        if let Some(limit) = self.limits.max_bytes
            && self.raw_bytes + row_bytes as u64 > limit
        {
            self.raw.truncate(before);
            return Err(EncodeError::TooManyBytes { limit });
        }
        // A chunk is flushed once it reaches `max_bytes` (at most half a frame), so a row of at
        // most half a frame always fits in the current one.
        if row_bytes > MAX_RAW_FRAME / 2 {
            self.raw.truncate(before);
            return Err(EncodeError::RowTooLarge { bytes: row_bytes });
        }
        if !self.header_written {
            for (column, value) in self.columns.iter_mut().zip(row) {
                if column.kind.is_none() {
                    column.kind = infer_kind(value);
                }
            }
        }
        self.rows += 1;
        self.raw_bytes += row_bytes as u64;
        self.rows_in_chunk += 1;
        if self.raw.len() >= self.chunk_size.max_bytes
            || self.rows_in_chunk >= self.chunk_size.max_rows
        {
            return Ok(Some(self.take_chunk()));
        }
        Ok(None)
    }

    /// Finishes the result: returns the last chunk (which may be the only one) and a summary.
    pub fn finish(mut self) -> (Vec<u8>, ResultSummary) {
        let mut chunk = self.take_chunk();
        let start = chunk.len();
        format::write_frame(&mut chunk, FrameKind::End, 0, &self.rows.to_le_bytes());
        self.stored_bytes += (chunk.len() - start) as u64;
        let summary = ResultSummary {
            columns: self.columns,
            rows: self.rows,
            raw_bytes: self.raw_bytes,
            stored_bytes: self.stored_bytes,
            chunks: self.chunks,
        };
        (chunk, summary)
    }

    /// Hands out the rows buffered so far as one chunk (with the header first, if not yet out).
    fn take_chunk(&mut self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.raw.len() / 2 + 64);
        if !self.header_written {
            format::write_preamble(&mut out);
            // Serializing plain structs of strings and enums cannot fail.
            let columns = serde_json::to_vec(&self.columns).unwrap_or_default();
            format::write_frame(&mut out, FrameKind::Columns, 0, &columns);
            self.header_written = true;
        }
        if self.rows_in_chunk > 0 {
            format::write_frame(&mut out, FrameKind::Rows, self.rows_in_chunk, &self.raw);
        }
        self.raw.clear();
        self.rows_in_chunk = 0;
        self.stored_bytes += out.len() as u64;
        self.chunks += 1;
        out
    }
}

/// The column type a value suggests, as Redash guesses it: booleans, integers and floats by
/// their own type; text that reads as an ISO date (`2024-01-31`) is a date, as an ISO date and
/// time (`2024-01-31 10:00:00`, `2024-01-31T10:00:00Z`) a datetime, anything else a string.
/// `None` for NULL, which tells nothing.
pub fn infer_kind(value: &Value) -> Option<ColumnType> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some(ColumnType::Boolean),
        Value::Int(_) => Some(ColumnType::Integer),
        Value::Float(_) => Some(ColumnType::Float),
        Value::Text(s) => Some(text_kind(s)),
    }
}

fn text_kind(s: &str) -> ColumnType {
    let b = s.as_bytes();
    let is_date = |b: &[u8]| {
        b.len() == 10
            && b[4] == b'-'
            && b[7] == b'-'
            && b.iter()
                .enumerate()
                .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit())
    };
    if b.len() == 10 && is_date(b) {
        return ColumnType::Date;
    }
    if b.len() >= 16
        && is_date(&b[..10])
        && (b[10] == b' ' || b[10] == b'T')
        && b[11..13].iter().all(u8::is_ascii_digit)
        && b[13] == b':'
        && b[14..16].iter().all(u8::is_ascii_digit)
    {
        return ColumnType::Datetime;
    }
    ColumnType::String
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_kinds_follow_iso_shapes() {
        let kind = |s: &str| infer_kind(&Value::Text(s.into()));
        assert_eq!(kind("2024-01-31"), Some(ColumnType::Date));
        assert_eq!(kind("2024-01-31 10:00"), Some(ColumnType::Datetime));
        assert_eq!(
            kind("2024-01-31T10:00:00.5+02:00"),
            Some(ColumnType::Datetime)
        );
        assert_eq!(kind("2024-01-3x"), Some(ColumnType::String));
        assert_eq!(kind("hello"), Some(ColumnType::String));
        assert_eq!(infer_kind(&Value::Null), None);
    }

    #[test]
    fn missing_types_are_filled_from_the_first_chunk_only() {
        let columns = vec![
            Column::new("a", None),
            Column::new("b", None),
            Column::new("c", Some(ColumnType::String)),
        ];
        let size = ChunkSize {
            max_bytes: 1 << 20,
            max_rows: 2,
        };
        let mut enc = ResultEncoder::with_chunk_size(columns, ResultLimits::default(), size);
        assert!(
            enc.push_row(&[Value::Null, Value::Null, Value::Int(1)])
                .unwrap()
                .is_none()
        );
        assert!(
            enc.push_row(&[Value::Int(5), Value::Null, Value::Int(1)])
                .unwrap()
                .is_some()
        );
        enc.push_row(&[Value::Int(5), Value::Text("x".into()), Value::Int(1)])
            .unwrap();
        let (_, summary) = enc.finish();
        assert_eq!(summary.columns[0].kind, Some(ColumnType::Integer));
        assert_eq!(summary.columns[1].kind, None, "the header was already out");
        assert_eq!(summary.columns[2].kind, Some(ColumnType::String));
    }

    #[test]
    fn limits_reject_the_row_that_crosses_them() {
        let columns = vec![Column::new("t", Some(ColumnType::String))];
        let limits = ResultLimits {
            max_rows: Some(3),
            max_bytes: None,
        };
        let mut enc = ResultEncoder::new(columns.clone(), limits);
        for _ in 0..3 {
            enc.push_row(&[Value::Text("x".into())]).unwrap();
        }
        let err = enc.push_row(&[Value::Text("x".into())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "result exceeds the limit of 3 rows; add a LIMIT or raise CAIRN_MAX_RESULT_ROWS"
        );
        assert_eq!(enc.rows(), 3);

        let limits = ResultLimits {
            max_rows: None,
            max_bytes: Some(100),
        };
        let mut enc = ResultEncoder::new(columns, limits);
        let row = [Value::Text("y".repeat(40))];
        enc.push_row(&row).unwrap();
        enc.push_row(&row).unwrap();
        let err = enc.push_row(&row).unwrap_err();
        assert!(
            matches!(err, EncodeError::TooManyBytes { limit: 100 }),
            "{err}"
        );
        assert!(err.to_string().contains("CAIRN_MAX_RESULT_BYTES"));
        assert_eq!(enc.raw_bytes(), 84);
    }

    #[test]
    fn rows_of_the_wrong_width_are_rejected() {
        let mut enc = ResultEncoder::new(vec![Column::new("a", None)], ResultLimits::default());
        let err = enc.push_row(&[Value::Null, Value::Null]).unwrap_err();
        assert!(matches!(
            err,
            EncodeError::RowWidth {
                expected: 1,
                got: 2
            }
        ));
    }
}
