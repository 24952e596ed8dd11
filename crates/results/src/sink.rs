//! The row-by-row download seam: every download format is a [`ResultSink`], fed from a
//! [`ResultDecoder`] by [`copy_result`].
//!
//! A push-based sink (like ripgrep's `Sink`) keeps each format ignorant of where rows come from:
//! the same writers serve stored results, tests writing to a `Vec<u8>`, and benchmarks.

use std::io::{self, Read, Write};

use cairn_domain::result::{Column, Value};

use crate::decoder::ResultDecoder;
use crate::error::{CopyError, WriteError};

/// Receives a result row by row and writes it in some format.
///
/// Call order: [`begin`](ResultSink::begin) once, [`write_row`](ResultSink::write_row) per row,
/// then [`finish`](ResultSink::finish) once. Any other order is a
/// [`WriteError::OutOfOrder`]. After an `Err` the output is incomplete and the sink should be
/// dropped.
pub trait ResultSink {
    /// Starts the output with the result's columns (a header row, the JSON preamble...).
    ///
    /// # Errors
    /// When writing fails.
    fn begin(&mut self, columns: &[Column]) -> Result<(), WriteError>;

    /// Writes one row; it must have one value per column given to `begin`.
    ///
    /// # Errors
    /// When writing fails, or the row has the wrong width, or the format cannot hold more rows.
    fn write_row(&mut self, row: &[Value]) -> Result<(), WriteError>;

    /// Completes the output and flushes it.
    ///
    /// # Errors
    /// When writing fails.
    fn finish(&mut self) -> Result<(), WriteError>;
}

/// A boxed sink is a sink, so the format can be chosen at run time
/// (`Box<dyn ResultSink + Send>`).
impl<S: ResultSink + ?Sized> ResultSink for Box<S> {
    fn begin(&mut self, columns: &[Column]) -> Result<(), WriteError> {
        (**self).begin(columns)
    }

    fn write_row(&mut self, row: &[Value]) -> Result<(), WriteError> {
        (**self).write_row(row)
    }

    fn finish(&mut self) -> Result<(), WriteError> {
        (**self).finish()
    }
}

/// Copies a whole stored result into a sink: `begin`, every row, `finish`. Returns the number
/// of rows written. Memory stays bounded by one chunk of rows.
///
/// # Errors
/// [`CopyError::Decode`] when the stored bytes are damaged, [`CopyError::Write`] when the sink
/// fails; the sink's output is then incomplete.
pub fn copy_result<R: Read, S: ResultSink + ?Sized>(
    decoder: &mut ResultDecoder<R>,
    sink: &mut S,
) -> Result<u64, CopyError> {
    sink.begin(decoder.columns())?;
    let mut rows = 0u64;
    let mut row = Vec::new();
    while decoder.read_row(&mut row)? {
        sink.write_row(&row)?;
        rows += 1;
    }
    sink.finish()?;
    Ok(rows)
}

/// A [`Write`] that collects bytes into blocks of about `block_size` and hands each full block
/// to a callback: the bridge from a blocking writer to an async response body.
///
/// The XLSX writer (and any sink) is blocking, so an HTTP handler runs it inside
/// `tokio::task::spawn_blocking` and streams its output through a bounded channel:
///
/// ```text
/// let (tx, rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(4);
/// tokio::task::spawn_blocking(move || {
///     let out = BlockWriter::new(64 * 1024, |block| {
///         tx.blocking_send(Ok(Bytes::from(block)))
///             .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
///     });
///     let mut sink = XlsxWriter::new(out)?;
///     copy_result(&mut decoder, &mut sink)?;
///     // ... send an error down `tx` instead if anything failed
/// });
/// let body = Body::from_stream(ReceiverStream::new(rx));
/// ```
///
/// The bounded channel gives back-pressure: a slow client blocks the writer, so memory stays at
/// a few blocks. When the callback fails (the receiver was dropped), writing fails and the copy
/// stops.
pub struct BlockWriter<F> {
    block: Vec<u8>,
    block_size: usize,
    send: F,
}

impl<F: FnMut(Vec<u8>) -> io::Result<()>> BlockWriter<F> {
    /// A writer handing out blocks of `block_size` bytes (the last one may be shorter).
    pub fn new(block_size: usize, send: F) -> Self {
        let block_size = block_size.max(1);
        BlockWriter {
            block: Vec::with_capacity(block_size),
            block_size,
            send,
        }
    }

    fn send_block(&mut self) -> io::Result<()> {
        if self.block.is_empty() {
            return Ok(());
        }
        let full = std::mem::replace(&mut self.block, Vec::with_capacity(self.block_size));
        (self.send)(full)
    }
}

impl<F: FnMut(Vec<u8>) -> io::Result<()>> Write for BlockWriter<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let room = self.block_size - self.block.len();
        let n = room.min(buf.len());
        self.block.extend_from_slice(&buf[..n]);
        if self.block.len() >= self.block_size {
            self.send_block()?;
        }
        Ok(n)
    }

    /// Hands out the partial block, if any.
    fn flush(&mut self) -> io::Result<()> {
        self.send_block()
    }
}

impl<F> std::fmt::Debug for BlockWriter<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockWriter")
            .field("buffered", &self.block.len())
            .field("block_size", &self.block_size)
            .finish()
    }
}

/// Tracks the call order shared by every sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum SinkState {
    #[default]
    New,
    Rows,
    Done,
}

impl SinkState {
    pub(crate) fn begin(&mut self) -> Result<(), WriteError> {
        if *self != SinkState::New {
            return Err(WriteError::OutOfOrder("begin called twice"));
        }
        *self = SinkState::Rows;
        Ok(())
    }

    pub(crate) fn check_row(&self, width: usize, row: &[Value]) -> Result<(), WriteError> {
        if *self != SinkState::Rows {
            return Err(WriteError::OutOfOrder("write_row outside begin/finish"));
        }
        if row.len() != width {
            return Err(WriteError::RowWidth {
                expected: width,
                got: row.len(),
            });
        }
        Ok(())
    }

    pub(crate) fn finish(&mut self) -> Result<(), WriteError> {
        if *self != SinkState::Rows {
            return Err(WriteError::OutOfOrder("finish without begin, or twice"));
        }
        *self = SinkState::Done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_writer_hands_out_full_blocks_then_the_rest_on_flush() {
        let mut blocks = Vec::new();
        {
            let mut w = BlockWriter::new(4, |b| {
                blocks.push(b);
                Ok(())
            });
            w.write_all(b"abcdefghij").unwrap();
            w.flush().unwrap();
            w.flush().unwrap();
        }
        assert_eq!(
            blocks,
            vec![b"abcd".to_vec(), b"efgh".to_vec(), b"ij".to_vec()]
        );
    }

    #[test]
    fn a_sink_chosen_at_run_time_works_through_a_box() {
        use crate::{DsvWriter, ResultDecoder, ResultEncoder, ResultLimits};
        use cairn_domain::result::ColumnType;

        let mut encoder = ResultEncoder::new(
            vec![Column::new("n", Some(ColumnType::Integer))],
            ResultLimits::default(),
        );
        assert!(encoder.push_row(&[Value::Int(7)]).unwrap().is_none());
        let (chunk, _) = encoder.finish();
        let mut out = Vec::new();
        {
            let mut sink: Box<dyn ResultSink + Send + '_> = Box::new(DsvWriter::tsv(&mut out));
            let mut decoder = ResultDecoder::new(chunk.as_slice()).unwrap();
            assert_eq!(copy_result(&mut decoder, &mut sink).unwrap(), 1);
        }
        assert_eq!(out, b"n\r\n7\r\n");
    }

    #[test]
    fn block_writer_fails_when_the_receiver_is_gone() {
        let mut w = BlockWriter::new(2, |_| {
            Err(io::Error::new(io::ErrorKind::BrokenPipe, "gone"))
        });
        assert_eq!(
            w.write_all(b"abc").unwrap_err().kind(),
            io::ErrorKind::BrokenPipe
        );
    }
}
