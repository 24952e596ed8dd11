//! The stored result format, shared by the encoder and the decoder.
//!
//! # Format
//!
//! A stored result is a byte stream: the 8 magic bytes `CAIRNRES`, a little-endian `u16`
//! format version, then frames. Each frame is
//!
//! ```text
//! kind: u8 | rows: u32 | raw_len: u32 | stored_len: u32 | checksum: u32 | stored bytes
//! ```
//!
//! (integers little-endian). The stored bytes are the LZ4 block compression of `raw_len` raw
//! bytes; the checksum is FNV-1a (32 bit) of the stored bytes, so damage is detected before
//! decompression. Frame kinds:
//!
//! - `1` columns: raw bytes are the JSON array of [`Column`](cairn_domain::result::Column)s.
//! - `2` rows: `rows` rows, each one value per column, see [`write_value`].
//! - `3` end: raw bytes are the total row count as a `u64`; nothing may follow it.
//!
//! Frames never straddle the byte vectors the encoder hands out, so each vector ("chunk") can be
//! stored separately and the concatenation of all chunks, in order, is the whole result. The
//! first chunk carries the magic, the version and the columns frame; the last one carries the end
//! frame, which lets a reader tell a complete result from a truncated one.

use cairn_domain::result::Value;

use crate::error::DecodeError;

/// The bytes every stored result starts with.
pub(crate) const MAGIC: &[u8; 8] = b"CAIRNRES";
/// The format version this crate writes and reads.
pub(crate) const VERSION: u16 = 1;
/// Size of a frame header in bytes.
pub(crate) const FRAME_HEADER_LEN: usize = 17;
/// The largest raw frame the decoder accepts, so corrupt lengths cannot make it allocate wildly.
pub(crate) const MAX_RAW_FRAME: usize = 512 * 1024 * 1024;

/// The kind of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FrameKind {
    Columns = 1,
    Rows = 2,
    End = 3,
}

impl FrameKind {
    pub(crate) fn from_byte(b: u8) -> Result<FrameKind, DecodeError> {
        match b {
            1 => Ok(FrameKind::Columns),
            2 => Ok(FrameKind::Rows),
            3 => Ok(FrameKind::End),
            other => Err(DecodeError::Corrupt(format!("unknown frame kind {other}"))),
        }
    }
}

const TAG_NULL: u8 = 0;
const TAG_FALSE: u8 = 1;
const TAG_TRUE: u8 = 2;
const TAG_INT: u8 = 3;
const TAG_FLOAT: u8 = 4;
const TAG_TEXT: u8 = 5;

/// FNV-1a, 32 bit: small, dependency-free and good enough to detect damaged storage.
pub(crate) fn checksum(bytes: &[u8]) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in bytes {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash
}

/// Compresses `raw` and appends one whole frame to `out`.
pub(crate) fn write_frame(out: &mut Vec<u8>, kind: FrameKind, rows: u32, raw: &[u8]) {
    let stored = lz4_flex::block::compress(raw);
    out.push(kind as u8);
    out.extend_from_slice(&rows.to_le_bytes());
    out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
    out.extend_from_slice(&(stored.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&stored).to_le_bytes());
    out.extend_from_slice(&stored);
}

/// Appends the stream start (magic and version) to `out`.
pub(crate) fn write_preamble(out: &mut Vec<u8>) {
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
}

/// Appends one value in its binary row encoding: a tag byte, then for integers a zig-zag
/// varint, for floats 8 little-endian bytes, for text a varint length and UTF-8 bytes.
pub(crate) fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int(i) => {
            out.push(TAG_INT);
            write_varint(out, ((*i << 1) ^ (*i >> 63)) as u64);
        }
        Value::Float(f) => {
            out.push(TAG_FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Text(s) => {
            out.push(TAG_TEXT);
            write_varint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A cursor over the raw bytes of one rows frame.
pub(crate) struct ValueReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ValueReader<'a> {
    #[cfg(test)]
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        ValueReader { bytes, pos: 0 }
    }

    /// A reader starting at byte `pos`.
    pub(crate) fn at(bytes: &'a [u8], pos: usize) -> Self {
        ValueReader { bytes, pos }
    }

    /// The position of the next unread byte.
    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte was consumed.
    #[cfg(test)]
    pub(crate) fn is_done(&self) -> bool {
        self.pos == self.bytes.len()
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| DecodeError::Corrupt("rows frame ends inside a value".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| DecodeError::Corrupt("rows frame ends inside a value".into()))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::Corrupt("varint longer than 10 bytes".into()))
    }

    /// Reads one value into `out`, reusing its text buffer when both are text: decoding a
    /// download row by row then allocates nothing per value.
    pub(crate) fn value_into(&mut self, out: &mut Value) -> Result<(), DecodeError> {
        if let Value::Text(buf) = out
            && self.bytes.get(self.pos) == Some(&TAG_TEXT)
        {
            self.pos += 1;
            let s = self.text()?;
            buf.clear();
            buf.push_str(s);
            return Ok(());
        }
        *out = self.value()?;
        Ok(())
    }

    fn text(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::try_from(self.varint()?)
            .map_err(|_| DecodeError::Corrupt("text length overflows".into()))?;
        let b = self.take(len)?;
        std::str::from_utf8(b).map_err(|_| DecodeError::Corrupt("text value is not utf-8".into()))
    }

    /// Reads one value.
    pub(crate) fn value(&mut self) -> Result<Value, DecodeError> {
        Ok(match self.byte()? {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => {
                let z = self.varint()?;
                Value::Int(((z >> 1) as i64) ^ -((z & 1) as i64))
            }
            TAG_FLOAT => {
                let b = self.take(8)?;
                let mut arr = [0u8; 8];
                arr.copy_from_slice(b);
                Value::Float(f64::from_le_bytes(arr))
            }
            TAG_TEXT => Value::Text(self.text()?.to_owned()),
            tag => return Err(DecodeError::Corrupt(format!("unknown value tag {tag}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_through_the_binary_encoding() {
        let values = vec![
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::Int(0),
            Value::Int(-1),
            Value::Int(i64::MIN),
            Value::Int(i64::MAX),
            Value::Float(-0.5),
            Value::Float(f64::INFINITY),
            Value::Text(String::new()),
            Value::Text("héllo, \"wörld\"\n".repeat(100)),
        ];
        let mut out = Vec::new();
        for v in &values {
            write_value(&mut out, v);
        }
        let mut reader = ValueReader::new(&out);
        for v in &values {
            assert_eq!(&reader.value().unwrap(), v);
        }
        assert!(reader.is_done());
    }

    #[test]
    fn values_read_into_a_reused_slot_whatever_the_previous_type() {
        let values = [
            Value::Text("long text here".into()),
            Value::Int(3),
            Value::Text("b".into()),
            Value::Null,
        ];
        let mut out = Vec::new();
        for v in &values {
            write_value(&mut out, v);
        }
        let mut reader = ValueReader::new(&out);
        let mut slot = Value::Text(String::with_capacity(64));
        for v in &values {
            reader.value_into(&mut slot).unwrap();
            assert_eq!(&slot, v);
        }
    }

    #[test]
    fn truncated_and_unknown_values_are_errors() {
        let mut out = Vec::new();
        write_value(&mut out, &Value::Text("abcdef".into()));
        out.truncate(out.len() - 1);
        assert!(matches!(
            ValueReader::new(&out).value(),
            Err(DecodeError::Corrupt(_))
        ));
        assert!(matches!(
            ValueReader::new(&[9]).value(),
            Err(DecodeError::Corrupt(_))
        ));
        assert!(matches!(
            ValueReader::new(&[
                TAG_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .value(),
            Err(DecodeError::Corrupt(_))
        ));
    }
}
