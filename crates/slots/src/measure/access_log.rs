//! Reading the origin design's access-log format into per-slot read and write counts.
//!
//! # Format
//! One request per line: `<key> <op>`, op `read` or `write` (also accepted: `r`/`w`, `get`/`set`,
//! any case). The key is everything before the last space, so keys may contain spaces. Blank
//! lines and lines starting with `#` are skipped.

use crate::slot::{SLOTS, slot_of};
use std::io::BufRead;

/// Reads and writes per slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlotCounts {
    /// Reads per slot, indexed by slot.
    pub reads: Vec<u64>,
    /// Writes per slot, indexed by slot.
    pub writes: Vec<u64>,
}

impl Default for SlotCounts {
    fn default() -> Self {
        SlotCounts {
            reads: vec![0; usize::from(SLOTS)],
            writes: vec![0; usize::from(SLOTS)],
        }
    }
}

impl SlotCounts {
    /// Counts one access to `key`.
    pub fn record(&mut self, key: &[u8], write: bool) {
        let slot = usize::from(slot_of(key));
        if write {
            self.writes[slot] += 1;
        } else {
            self.reads[slot] += 1;
        }
    }

    /// Total accesses recorded.
    pub fn total(&self) -> u64 {
        self.reads.iter().sum::<u64>() + self.writes.iter().sum::<u64>()
    }
}

/// A line that is not `key op`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("access log line {line}: {reason}; expected `<key> read|write`")]
pub struct AccessLogError {
    /// 1-based line number.
    pub line: usize,
    /// What was wrong.
    pub reason: String,
}

/// Parses an access log.
///
/// # Errors
/// [`AccessLogError`] for the first malformed line, or an I/O error while reading (reported with
/// its line number).
pub fn read_access_log(input: impl BufRead) -> Result<SlotCounts, AccessLogError> {
    let mut counts = SlotCounts::default();
    for (i, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| AccessLogError {
            line: i + 1,
            reason: e.to_string(),
        })?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        let err = |reason: String| AccessLogError {
            line: i + 1,
            reason,
        };
        let split = line
            .iter()
            .rposition(|&b| b == b' ')
            .ok_or_else(|| err("no operation".into()))?;
        let (key, op) = (&line[..split], &line[split + 1..]);
        if key.is_empty() {
            return Err(err("empty key".into()));
        }
        let write = match op.to_ascii_lowercase().as_slice() {
            b"read" | b"r" | b"get" => false,
            b"write" | b"w" | b"set" => true,
            other => {
                return Err(err(format!(
                    "unknown operation {:?}",
                    String::from_utf8_lossy(other)
                )));
            }
        };
        counts.record(key, write);
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_reads_and_writes_per_slot() {
        let log = "foo read\nfoo write\n# comment\n\nbar READ\r\nkey with space w\n";
        let c = read_access_log(log.as_bytes()).unwrap();
        assert_eq!(c.reads[12182], 1);
        assert_eq!(c.writes[12182], 1);
        assert_eq!(c.reads[5061], 1);
        assert_eq!(c.writes[usize::from(slot_of(b"key with space"))], 1);
        assert_eq!(c.total(), 4);
    }

    #[test]
    fn rejects_bad_lines_with_their_number() {
        let e = read_access_log("foo read\nfoo delete\n".as_bytes()).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.to_string().contains("unknown operation"), "{e}");
        assert_eq!(read_access_log("nospace\n".as_bytes()).unwrap_err().line, 1);
        assert_eq!(read_access_log(" read\n".as_bytes()).unwrap_err().line, 1);
    }
}
