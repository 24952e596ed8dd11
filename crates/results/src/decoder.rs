//! Reading a stored result back, one chunk of rows at a time.
//!
//! The decoder reads from any [`std::io::Read`]: the concatenation of the stored chunks, in
//! order. It holds one chunk of rows at a time, so a download of any size runs in bounded
//! memory. Every length and checksum is verified, so damaged or foreign bytes give a
//! [`DecodeError`], never a panic or a huge allocation.

use std::io::Read;

use cairn_domain::result::{Column, Row, Value};

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
    /// The raw bytes of the current rows frame, read from `pos` on.
    raw: Vec<u8>,
    pos: usize,
    /// Rows of the current frame not yet returned.
    rows_left: u32,
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
            raw: Vec::new(),
            pos: 0,
            rows_left: 0,
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

    /// Reads the next row into `row` (resized to the number of columns, its text buffers
    /// reused), and returns `false` at the end of the result. The allocation-free way to read.
    ///
    /// # Errors
    /// As [`ResultDecoder::next_chunk`].
    pub fn read_row(&mut self, row: &mut Row) -> Result<bool, DecodeError> {
        while self.rows_left == 0 {
            if !self.load_frame()? {
                return Ok(false);
            }
        }
        row.resize(self.columns.len(), Value::Null);
        let mut values = format::ValueReader::at(&self.raw, self.pos);
        for value in row.iter_mut() {
            values.value_into(value)?;
        }
        self.pos = values.position();
        self.rows_left -= 1;
        self.rows_read += 1;
        if self.rows_left == 0 && self.pos != self.raw.len() {
            return Err(DecodeError::Corrupt(
                "extra bytes after the last row of a chunk".into(),
            ));
        }
        Ok(true)
    }

    /// The next chunk of rows (what is left of the current one, if [`read_row`] was used), or
    /// `None` once the end marker was read (after which every call returns `None` without
    /// reading).
    ///
    /// [`read_row`]: ResultDecoder::read_row
    ///
    /// # Errors
    /// [`DecodeError::Truncated`] when the bytes end before the end marker,
    /// [`DecodeError::Corrupt`] for damaged frames or a row count that does not add up,
    /// [`DecodeError::Io`] when reading fails.
    pub fn next_chunk(&mut self) -> Result<Option<Vec<Row>>, DecodeError> {
        while self.rows_left == 0 {
            if !self.load_frame()? {
                return Ok(None);
            }
        }
        let mut rows = Vec::with_capacity(self.rows_left as usize);
        while self.rows_left > 0 {
            let mut row = Vec::new();
            self.read_row(&mut row)?;
            rows.push(row);
        }
        Ok(Some(rows))
    }

    /// Reads the next frame; `false` once the end frame was read.
    fn load_frame(&mut self) -> Result<bool, DecodeError> {
        if self.total.is_some() {
            return Ok(false);
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
                Ok(false)
            }
            FrameKind::Rows => {
                if frame.rows == 0 && !frame.raw.is_empty() {
                    return Err(DecodeError::Corrupt("bytes in a chunk of no rows".into()));
                }
                self.raw = frame.raw;
                self.pos = 0;
                self.rows_left = frame.rows;
                Ok(true)
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
