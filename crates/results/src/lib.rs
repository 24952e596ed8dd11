//! Query results as a stream: the stored format (chunked, compressed rows) and the download
//! formats (JSON in Redash's shape, CSV, TSV, XLSX).
//!
//! Redash keeps a result as one JSON value that is built, stored, loaded and exported whole,
//! which is why large results take its workers and web servers down. Here a result is never
//! whole in memory: rows flow one at a time from a data source into a [`ResultEncoder`], which
//! hands back compressed chunks of about 1 MiB for the caller to store as they fill; a
//! [`ResultDecoder`] reads them back one chunk at a time and [`copy_result`] feeds the rows to
//! a [`ResultSink`], one per download format. The crate does no I/O of its own (it reads and
//! writes through `std::io` traits) and knows nothing of async runtimes or databases.
//!
//! # Brief overview
//!
//! - [`ResultEncoder`]: rows in, chunks out; enforces [`ResultLimits`] (rows, bytes) with
//!   errors users can act on. Fills in column types the source could not tell.
//! - [`ResultDecoder`]: the concatenated chunks in, the columns and then chunks of rows out;
//!   damaged, truncated or foreign bytes are a [`DecodeError`].
//! - [`ResultSink`] with [`JsonWriter`], [`DsvWriter`] (CSV and TSV), [`XlsxWriter`].
//! - [`BlockWriter`]: hands a blocking writer's output to an async body in blocks.
//! - [`download_filename`], [`content_disposition`], [`DownloadFormat`]: Redash's file names
//!   and headers.
//!
//! # Example
//!
//! ```
//! use cairn_domain::result::{Column, ColumnType, Value};
//! use cairn_results::{copy_result, DsvWriter, ResultDecoder, ResultEncoder, ResultLimits};
//!
//! let columns = vec![Column::new("city", Some(ColumnType::String)), Column::new("n", None)];
//! let mut encoder = ResultEncoder::new(columns, ResultLimits { max_rows: Some(1000), max_bytes: None });
//! let mut chunks = Vec::new(); // in Cairn: the result store's append_chunk
//! for (city, n) in [("Oslo", 3), ("Lima", 5)] {
//!     if let Some(chunk) = encoder.push_row(&[Value::Text(city.into()), Value::Int(n)])? {
//!         chunks.push(chunk);
//!     }
//! }
//! let (last, summary) = encoder.finish();
//! chunks.push(last);
//! assert_eq!(summary.columns[1].kind, Some(ColumnType::Integer)); // inferred from the data
//!
//! let bytes = chunks.concat();
//! let mut decoder = ResultDecoder::new(bytes.as_slice())?;
//! let mut csv = DsvWriter::csv(Vec::new());
//! copy_result(&mut decoder, &mut csv)?;
//! assert_eq!(csv.into_inner()?, b"city,n\r\nOslo,3\r\nLima,5\r\n");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Layout
//! - `format`: the byte format shared by the encoder and decoder (documented there).
//! - `encoder`, `decoder`: rows to chunks and back.
//! - `sink`: the [`ResultSink`] seam, [`copy_result`], [`BlockWriter`].
//! - `json`, `dsv`, `xlsx`: one file per download format.
//! - `download`: formats, file names and headers.
//! - `error`: one error enum per stage.

mod decoder;
mod download;
mod dsv;
mod encoder;
mod error;
mod format;
mod json;
mod sink;
mod xlsx;

pub use decoder::{ResultDecoder, RowWindow, Rows};
pub use download::{DownloadFormat, content_disposition, download_filename};
pub use dsv::DsvWriter;
pub use encoder::{ChunkSize, ResultEncoder, ResultLimits, ResultSummary, infer_kind};
pub use error::{CopyError, DecodeError, EncodeError, WriteError};
pub use json::{JsonResultMeta, JsonWriter};
pub use sink::{BlockWriter, ResultSink, copy_result};
pub use xlsx::XlsxWriter;
