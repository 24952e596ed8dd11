//! Reading a stored result back, one chunk of rows at a time.
//!
//! The decoder reads from any [`std::io::Read`]: the concatenation of the stored chunks, in
//! order. It holds one chunk of rows at a time, so a download of any size runs in bounded
//! memory. Every length and checksum is verified, so damaged or foreign bytes give a
//! [`DecodeError`], never a panic or a huge allocation.

use std::io::Read;

use cairn_domain::result::{Column, Row};

use crate::error::DecodeError;
use crate::format::{self, FRAME_HEADER_LEN, FrameKind, MAGIC, MAX_RAW_FRAME, VERSION};

/// Reads a stored result: its columns first, then its rows chunk by chunk.
#[derive(Debug)]
pub struct ResultDecoder<R> {
    reader: R,
    columns: Vec<Column>,
    rows_read: u64,
    /// The total from the end frame, once it was read.
    total: Option<u64>,
}

struct Frame {
    kind: FrameKind,
    rows: u32,
    raw: Vec<u8>,
}

impl<R: Read> ResultDecoder<R> {
    /// Starts reading: checks the magic bytes and version and reads the columns.
    ///
    /// # Errors
    /// [`DecodeError::BadMagic`] for bytes that are not a Cairn result,
    /// [`DecodeError::UnsupportedVersion`], [`DecodeError::Truncated`], [`DecodeError::Corrupt`]
    /// or [`DecodeError::Io`].
    pub fn new(mut reader: R) -> Result<Self, DecodeError> {
        let mut preamble = [0u8; 10];
        read_exact_or_truncated(&mut reader, &mut preamble)?;
        if &preamble[..8] != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = u16::from_le_bytes([preamble[8], preamble[9]]);
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let frame = read_frame(&mut reader)?.ok_or(DecodeError::Truncated)?;
        if frame.kind != FrameKind::Columns {
            return Err(DecodeError::Corrupt(
                "the first frame is not the columns".into(),
            ));
        }
        let columns: Vec<Column> = serde_json::from_slice(&frame.raw)
            .map_err(|e| DecodeError::Corrupt(format!("bad columns: {e}")))?;
        Ok(ResultDecoder {
            reader,
            columns,
            rows_read: 0,
            total: None,
        })
    }

    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.rows_read
    }

    /// The next chunk of rows, or `None` once the end marker was read (after which every call
    /// returns `None` without reading).
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the bytes end before the end marker,
    /// [`DecodeError::Corrupt`] for damaged frames or a row count that does not add up,
    /// [`DecodeError::Io`] when reading fails.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<Row>>, DecodeError> {
        if self.total.is_some() {
            return Ok(None);
        }
        let frame = read_frame(&mut self.reader)?.ok_or(DecodeError::Truncated)?;
        match frame.kind {
            FrameKind::Columns => Err(DecodeError::Corrupt("a second columns frame".into())),
            FrameKind::End => {
                let total = <[u8; 8]>::try_from(frame.raw.as_slice())
                    .map(u64::from_le_bytes)
                    .map_err(|_| DecodeError::Corrupt("bad end frame".into()))?;
                if total != self.rows_read {
                    return Err(DecodeError::Corrupt(format!(
                        "end frame says {total} rows but {} were read",
                        self.rows_read
                    )));
                }
                self.total = Some(total);
                Ok(None)
            }
            FrameKind::Rows => {
                let width = self.columns.len();
                let mut values = format::ValueReader::new(&frame.raw);
                let mut rows = Vec::with_capacity(frame.rows as usize);
                for _ in 0..frame.rows {
                    let mut row = Vec::with_capacity(width);
                    for _ in 0..width {
                        row.push(values.value()?);
                    }
                    rows.push(row);
                }
                if !values.is_done() {
                    return Err(DecodeError::Corrupt(
                        "extra bytes after the last row of a chunk".into(),
                    ));
                }
                self.rows_read += u64::from(frame.rows);
                Ok(Some(rows))
            }
        }
    }

    /// Turns the decoder into an iterator over single rows (still read chunk by chunk).
    pub fn into_rows(self) -> Rows<R> {
        Rows {
            decoder: self,
            chunk: Vec::new().into_iter(),
        }
    }
}

/// An iterator over the rows of a stored result; see [`ResultDecoder::into_rows`].
#[derive(Debug)]
pub struct Rows<R> {
    decoder: ResultDecoder<R>,
    chunk: std::vec::IntoIter<Row>,
}

impl<R> Rows<R> {
    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.decoder.columns
    }
}

impl<R: Read> Iterator for Rows<R> {
    type Item = Result<Row, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(row) = self.chunk.next() {
                return Some(Ok(row));
            }
            match self.decoder.next_chunk() {
                Ok(Some(rows)) => self.chunk = rows.into_iter(),
                Ok(None) => return None,
                Err(e) => {
                    // Stop after an error rather than reading past damage.
                    self.decoder.total = Some(self.decoder.rows_read);
                    return Some(Err(e));
                }
            }
        }
    }
}

fn read_exact_or_truncated(reader: &mut impl Read, buf: &mut [u8]) -> Result<(), DecodeError> {
    reader.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => DecodeError::Truncated,
        _ => DecodeError::Io(e),
    })
}

/// Reads one frame; `None` at a clean end of input (no byte of a new frame).
fn read_frame(reader: &mut impl Read) -> Result<Option<Frame>, DecodeError> {
    let mut header = [0u8; FRAME_HEADER_LEN];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]) {
            Ok(0) if got == 0 => return Ok(None),
            Ok(0) => return Err(DecodeError::Truncated),
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(DecodeError::Io(e)),
        }
    }
    let kind = FrameKind::from_byte(header[0])?;
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let rows = u32_at(1);
    let raw_len = u32_at(5) as usize;
    let stored_len = u32_at(9) as usize;
    let sum = u32_at(13);
    // LZ4 expands at most ~255x; anything beyond is a damaged length.
    if raw_len > MAX_RAW_FRAME || raw_len > stored_len.saturating_mul(255).saturating_add(16) {
        return Err(DecodeError::Corrupt(format!(
            "implausible frame length {raw_len}"
        )));
    }
    let mut stored = Vec::new();
    let read = reader
        .by_ref()
        .take(stored_len as u64)
        .read_to_end(&mut stored)?;
    if read < stored_len {
        return Err(DecodeError::Truncated);
    }
    if format::checksum(&stored) != sum {
        return Err(DecodeError::Corrupt("checksum mismatch".into()));
    }
    let mut raw = vec![0u8; raw_len];
    let n = lz4_flex::block::decompress_into(&stored, &mut raw)
        .map_err(|e| DecodeError::Corrupt(format!("bad compressed block: {e}")))?;
    if n != raw_len {
        return Err(DecodeError::Corrupt(
            "frame decompresses to the wrong length".into(),
        ));
    }
    Ok(Some(Frame { kind, rows, raw }))
}
