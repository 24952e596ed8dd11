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

/// The header of one frame, before its stored bytes.
struct FrameHeader {
    kind: FrameKind,
    rows: u32,
    raw_len: usize,
    stored_len: usize,
    sum: u32,
}

/// Parses a frame header, checking that its lengths are plausible.
fn parse_header(header: &[u8; FRAME_HEADER_LEN]) -> Result<FrameHeader, DecodeError> {
    let kind = FrameKind::from_byte(header[0])?;
    let u32_at =
        |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
    let h = FrameHeader {
        kind,
        rows: u32_at(1),
        raw_len: u32_at(5) as usize,
        stored_len: u32_at(9) as usize,
        sum: u32_at(13),
    };
    // LZ4 expands at most ~255x; anything beyond is a damaged length.
    if h.raw_len > MAX_RAW_FRAME || h.raw_len > h.stored_len.saturating_mul(255).saturating_add(16)
    {
        return Err(DecodeError::Corrupt(format!(
            "implausible frame length {}",
            h.raw_len
        )));
    }
    Ok(h)
}

/// Checks the stored bytes of a frame and decompresses them.
fn decompress(h: &FrameHeader, stored: &[u8]) -> Result<Vec<u8>, DecodeError> {
    if format::checksum(stored) != h.sum {
        return Err(DecodeError::Corrupt("checksum mismatch".into()));
    }
    let mut raw = vec![0u8; h.raw_len];
    let n = lz4_flex::block::decompress_into(stored, &mut raw)
        .map_err(|e| DecodeError::Corrupt(format!("bad compressed block: {e}")))?;
    if n != h.raw_len {
        return Err(DecodeError::Corrupt(
            "frame decompresses to the wrong length".into(),
        ));
    }
    Ok(raw)
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
    let h = parse_header(&header)?;
    let mut stored = Vec::new();
    let read = reader
        .by_ref()
        .take(h.stored_len as u64)
        .read_to_end(&mut stored)?;
    if read < h.stored_len {
        return Err(DecodeError::Truncated);
    }
    let raw = decompress(&h, &stored)?;
    Ok(Some(Frame {
        kind: h.kind,
        rows: h.rows,
        raw,
    }))
}

/// Picks rows `offset .. offset + limit` out of a stored result that is fed one stored chunk at
/// a time ([`RowWindow::push_chunk`]), for paging through a result without reading it whole.
///
/// Chunks (frames) that lie wholly before the window are skipped by their header's row count,
/// without checksum or decompression; the caller stops fetching chunks once
/// [`RowWindow::push_chunk`] says the window is full, so chunks after it are never read.
#[derive(Debug)]
pub struct RowWindow {
    offset: u64,
    limit: u64,
    /// Rows seen (skipped or read) so far.
    seen: u64,
    columns: Option<Vec<Column>>,
    rows: Vec<Row>,
    ended: bool,
    /// Rows frames decompressed, for tests and logs.
    decompressed: u32,
}

impl RowWindow {
    /// A window of at most `limit` rows starting at row `offset` (0-based).
    pub fn new(offset: u64, limit: u64) -> RowWindow {
        RowWindow {
            offset,
            limit,
            seen: 0,
            columns: None,
            rows: Vec::new(),
            ended: false,
            decompressed: 0,
        }
    }

    /// Feeds the next stored chunk, in order (the first one starts with the magic bytes and
    /// the columns). Returns whether more chunks are wanted: `false` once the window is full or
    /// the end frame was read.
    ///
    /// # Errors
    /// [`DecodeError::BadMagic`], [`DecodeError::UnsupportedVersion`],
    /// [`DecodeError::Truncated`] for a frame cut short, [`DecodeError::Corrupt`] for damaged
    /// frames that had to be read.
    pub fn push_chunk(&mut self, mut chunk: &[u8]) -> Result<bool, DecodeError> {
        if self.columns.is_none() {
            let mut preamble = [0u8; 10];
            read_exact_or_truncated(&mut chunk, &mut preamble)?;
            if &preamble[..8] != MAGIC {
                return Err(DecodeError::BadMagic);
            }
            let version = u16::from_le_bytes([preamble[8], preamble[9]]);
            if version != VERSION {
                return Err(DecodeError::UnsupportedVersion(version));
            }
            let frame = read_frame(&mut chunk)?.ok_or(DecodeError::Truncated)?;
            if frame.kind != FrameKind::Columns {
                return Err(DecodeError::Corrupt(
                    "the first frame is not the columns".into(),
                ));
            }
            self.columns = Some(
                serde_json::from_slice(&frame.raw)
                    .map_err(|e| DecodeError::Corrupt(format!("bad columns: {e}")))?,
            );
        }
        while !chunk.is_empty() && self.wants_more() {
            let mut header = [0u8; FRAME_HEADER_LEN];
            read_exact_or_truncated(&mut chunk, &mut header)?;
            let h = parse_header(&header)?;
            if chunk.len() < h.stored_len {
                return Err(DecodeError::Truncated);
            }
            let (stored, rest) = chunk.split_at(h.stored_len);
            chunk = rest;
            match h.kind {
                FrameKind::Columns => {
                    return Err(DecodeError::Corrupt("a second columns frame".into()));
                }
                FrameKind::End => self.ended = true,
                FrameKind::Rows if self.seen + u64::from(h.rows) <= self.offset => {
                    self.seen += u64::from(h.rows);
                }
                FrameKind::Rows => self.read_rows(&h, stored)?,
            }
        }
        Ok(self.wants_more())
    }

    /// Decodes a rows frame that overlaps the window, keeping the rows inside it.
    fn read_rows(&mut self, h: &FrameHeader, stored: &[u8]) -> Result<(), DecodeError> {
        let raw = decompress(h, stored)?;
        self.decompressed += 1;
        let width = self.columns.as_ref().map_or(0, Vec::len);
        let mut values = format::ValueReader::at(&raw, 0);
        let mut row: Row = vec![Value::Null; width];
        for _ in 0..h.rows {
            if !self.wants_more() {
                break;
            }
            for value in row.iter_mut() {
                values.value_into(value)?;
            }
            if self.seen >= self.offset {
                self.rows.push(row.clone());
            }
            self.seen += 1;
        }
        Ok(())
    }

    fn wants_more(&self) -> bool {
        !self.ended && (self.rows.len() as u64) < self.limit
    }

    /// The result's columns, once the first chunk was fed.
    pub fn columns(&self) -> Option<&[Column]> {
        self.columns.as_deref()
    }

    /// How many rows frames had to be decompressed so far (the others were skipped).
    pub fn frames_decompressed(&self) -> u32 {
        self.decompressed
    }

    /// The rows of the window (fewer than `limit` when the result ends first).
    pub fn into_rows(self) -> Vec<Row> {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ChunkSize, ResultEncoder, ResultLimits};
    use cairn_domain::result::ColumnType;

    /// A result of `n` rows `(i, "row i")` in chunks of 100 rows.
    fn chunks(n: i64) -> Vec<Vec<u8>> {
        let columns = vec![
            Column::new("i", Some(ColumnType::Integer)),
            Column::new("s", Some(ColumnType::String)),
        ];
        let size = ChunkSize {
            max_bytes: 1 << 20,
            max_rows: 100,
        };
        let mut enc = ResultEncoder::with_chunk_size(columns, ResultLimits::default(), size);
        let mut out = Vec::new();
        for i in 0..n {
            if let Some(c) = enc
                .push_row(&[Value::Int(i), Value::Text(format!("row {i}"))])
                .unwrap()
            {
                out.push(c);
            }
        }
        out.push(enc.finish().0);
        out
    }

    fn window(chunks: &[Vec<u8>], offset: u64, limit: u64) -> (RowWindow, usize) {
        let mut w = RowWindow::new(offset, limit);
        let mut fed = 0;
        for c in chunks {
            fed += 1;
            if !w.push_chunk(c).unwrap() {
                break;
            }
        }
        (w, fed)
    }

    #[test]
    fn a_window_skips_earlier_chunks_and_stops_before_later_ones() {
        let all = chunks(1000);
        let (w, fed) = window(&all, 250, 100);
        assert_eq!(w.frames_decompressed(), 2, "rows 250..350 span two chunks");
        assert!(fed < all.len(), "stopped before the last chunk");
        assert_eq!(w.columns().unwrap()[1].name, "s");
        let rows = w.into_rows();
        assert_eq!(rows.len(), 100);
        assert_eq!(rows[0][0], Value::Int(250));
        assert_eq!(rows[99][1], Value::Text("row 349".into()));
    }

    #[test]
    fn the_last_page_is_short_and_past_the_end_is_empty() {
        let all = chunks(1000);
        let (w, _) = window(&all, 950, 100);
        assert_eq!(w.frames_decompressed(), 1);
        let rows = w.into_rows();
        assert_eq!(rows.len(), 50);
        assert_eq!(rows[49][0], Value::Int(999));
        let (w, _) = window(&all, 5000, 10);
        assert_eq!(w.frames_decompressed(), 0);
        assert!(w.into_rows().is_empty());
    }

    #[test]
    fn damaged_chunks_are_errors_not_panics() {
        let all = chunks(300);
        assert!(matches!(
            RowWindow::new(0, 10).push_chunk(b"NOTCAIRN\x01\x00"),
            Err(DecodeError::BadMagic)
        ));
        let mut w = RowWindow::new(0, 10);
        let first = &all[0];
        assert!(w.push_chunk(&first[..first.len() - 3]).is_err());
        let mut bad = all[1].clone();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let mut w2 = RowWindow::new(150, 10);
        w2.push_chunk(&all[0]).unwrap();
        assert!(matches!(w2.push_chunk(&bad), Err(DecodeError::Corrupt(_))));
    }
}
