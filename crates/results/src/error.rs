//! The errors of this crate: one enum per stage, so a caller can tell a limit (the user's
//! problem) from corrupt storage (an operator's problem) from a failed download (the network's).

use thiserror::Error;

/// Why a row could not be added to a result being encoded.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The result has more rows than the configured limit allows.
    #[error("result exceeds the limit of {limit} rows; add a LIMIT or raise CAIRN_MAX_RESULT_ROWS")]
    TooManyRows {
        /// The configured maximum number of rows.
        limit: u64,
    },
    /// The encoded rows take more bytes than the configured limit allows.
    #[error(
        "result exceeds the limit of {limit} bytes; add a LIMIT, select fewer columns or raise CAIRN_MAX_RESULT_BYTES"
    )]
    TooManyBytes {
        /// The configured maximum number of bytes.
        limit: u64,
    },
    /// A row does not have one value per column.
    #[error("row has {got} values but the result has {expected} columns")]
    RowWidth {
        /// The number of columns.
        expected: usize,
        /// The number of values in the row.
        got: usize,
    },
    /// A single encoded chunk would be larger than the format allows.
    #[error("a single row of {bytes} bytes is larger than the result format allows")]
    RowTooLarge {
        /// The encoded size of the row.
        bytes: usize,
    },
}

/// Why stored result bytes could not be read back.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Reading the underlying bytes failed.
    #[error("cannot read result: {0}")]
    Io(#[from] std::io::Error),
    /// The bytes do not start like a Cairn result.
    #[error("not a cairn result (bad magic bytes)")]
    BadMagic,
    /// The result was written by an unknown version of the format.
    #[error("unsupported result format version {0}")]
    UnsupportedVersion(u16),
    /// The bytes end before the result's end marker.
    #[error("result is truncated")]
    Truncated,
    /// The bytes are damaged; the message says where.
    #[error("result is corrupt: {0}")]
    Corrupt(String),
}

/// Why a download writer failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum WriteError {
    /// Writing to the output failed (for example, the client went away).
    #[error("cannot write download: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV/TSV writer failed.
    #[error("cannot write csv: {0}")]
    Csv(#[from] csv::Error),
    /// The XLSX writer failed.
    #[error("cannot write xlsx: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    /// The result has more rows than one XLSX sheet holds.
    #[error("result has more than {limit} rows, the most one xlsx sheet holds; download it as csv")]
    XlsxTooManyRows {
        /// The most data rows a sheet holds (its row limit less the header).
        limit: u32,
    },
    /// The result has more columns than one XLSX sheet holds.
    #[error(
        "result has more than {limit} columns, the most one xlsx sheet holds; download it as csv"
    )]
    XlsxTooManyColumns {
        /// The most columns a sheet holds.
        limit: usize,
    },
    /// A row does not have one value per column.
    #[error("row has {got} values but the result has {expected} columns")]
    RowWidth {
        /// The number of columns.
        expected: usize,
        /// The number of values in the row.
        got: usize,
    },
    /// `write_row` or `finish` was called before `begin`, or anything after `finish`.
    #[error("download writer used out of order: {0}")]
    OutOfOrder(&'static str),
}

/// Why copying a stored result into a download failed.
#[derive(Debug, Error)]
pub enum CopyError {
    /// The stored result could not be read.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The download could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}
