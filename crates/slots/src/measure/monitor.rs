//! A bounded `MONITOR` sampling window: per-slot reads and writes on servers without
//! `CLUSTER SLOT-STATS` (Redis before 8.2).
//!
//! `MONITOR` streams every command a node executes; it costs the server noticeably (every
//! command is formatted and sent), so it is opt-in and time-boxed. Each master is monitored over
//! its own raw connection for the window, then the connection is closed.
//!
//! # Format
//! `+1700000000.123456 [0 127.0.0.1:5555] "SET" "key" "value"`, arguments quoted with C-style
//! escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).

use super::access_log::SlotCounts;
use crate::error::SlotsError;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Commands that only read their first key.
const READS: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "EXISTS",
    "GETRANGE",
    "HGET",
    "HMGET",
    "HGETALL",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HEXISTS",
    "HSTRLEN",
    "HSCAN",
    "LRANGE",
    "LINDEX",
    "LLEN",
    "LPOS",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SRANDMEMBER",
    "SSCAN",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZRANK",
    "ZREVRANK",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZSCAN",
    "TTL",
    "PTTL",
    "TYPE",
    "XRANGE",
    "XREVRANGE",
    "XLEN",
    "XREAD",
    "BITCOUNT",
    "GETBIT",
    "PFCOUNT",
    "DUMP",
    "OBJECT",
    "SUNION",
    "SINTER",
    "SDIFF",
    "ZUNION",
    "ZINTER",
    "GEOPOS",
    "GEODIST",
    "GEOSEARCH",
];

/// Commands that never touch a key (or are cluster/admin traffic).
const KEYLESS: &[&str] = &[
    "PING",
    "INFO",
    "CLUSTER",
    "CONFIG",
    "CLIENT",
    "COMMAND",
    "ASKING",
    "READONLY",
    "READWRITE",
    "SELECT",
    "AUTH",
    "HELLO",
    "MULTI",
    "EXEC",
    "DISCARD",
    "DBSIZE",
    "SCAN",
    "KEYS",
    "SLOWLOG",
    "LATENCY",
    "MEMORY",
    "MONITOR",
    "ECHO",
    "TIME",
    "QUIT",
    "RESET",
    "FLUSHALL",
    "FLUSHDB",
    "SAVE",
    "BGSAVE",
    "REPLCONF",
    "PSYNC",
    "SYNC",
    "MIGRATE",
    "RESTORE-ASKING",
    "EVAL",
    "EVALSHA",
    "FCALL",
    "SCRIPT",
    "FUNCTION",
    "WAIT",
    "PUBLISH",
    "SUBSCRIBE",
];

/// One parsed `MONITOR` line: the command (uppercase) and its first argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitorEntry {
    /// Command name, uppercase.
    pub command: String,
    /// First argument (the key for keyed commands).
    pub first_arg: Option<Vec<u8>>,
}

impl MonitorEntry {
    /// `Some(true)` for a write, `Some(false)` for a read, `None` for a command without a key.
    pub fn is_write(&self) -> Option<bool> {
        let c = self.command.as_str();
        if KEYLESS.contains(&c) || self.first_arg.is_none() {
            return None;
        }
        Some(!READS.contains(&c))
    }
}

/// Parses one `MONITOR` line; `None` for anything that is not a command line (`+OK`, noise).
pub fn parse_monitor_line(line: &str) -> Option<MonitorEntry> {
    let rest = line.strip_prefix('+')?;
    let after_client = &rest[rest.find("] ")? + 2..];
    let mut args = QuotedArgs {
        rest: after_client.as_bytes(),
    };
    let command = String::from_utf8_lossy(&args.next()?).to_ascii_uppercase();
    Some(MonitorEntry {
        command,
        first_arg: args.next(),
    })
}

struct QuotedArgs<'a> {
    rest: &'a [u8],
}

impl Iterator for QuotedArgs<'_> {
    type Item = Vec<u8>;

    fn next(&mut self) -> Option<Vec<u8>> {
        let start = self.rest.iter().position(|&b| b == b'"')?;
        let mut i = start + 1;
        let mut out = Vec::new();
        let s = self.rest;
        while i < s.len() {
            match s[i] {
                b'"' => {
                    self.rest = &s[i + 1..];
                    return Some(out);
                }
                b'\\' if i + 1 < s.len() => {
                    i += 1;
                    match s[i] {
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'a' => out.push(7),
                        b'b' => out.push(8),
                        b'x' if i + 2 < s.len() => {
                            let hex = std::str::from_utf8(&s[i + 1..i + 3]).ok()?;
                            out.push(u8::from_str_radix(hex, 16).ok()?);
                            i += 2;
                        }
                        other => out.push(other),
                    }
                }
                b => out.push(b),
            }
            i += 1;
        }
        None
    }
}

/// Monitors the node at `addr` for `window` and counts keyed reads and writes per slot.
///
/// # Errors
/// [`SlotsError::BadReply`] when the connection fails or the node refuses `MONITOR`.
pub async fn sample(
    addr: &str,
    window: Duration,
    counts: &mut SlotCounts,
) -> Result<u64, SlotsError> {
    let fail = |reason: String| SlotsError::bad_reply(addr, "MONITOR", reason);
    let stream = tokio::time::timeout(Duration::from_secs(3), TcpStream::connect(addr))
        .await
        .map_err(|_| fail("connection timed out".into()))?
        .map_err(|e| fail(e.to_string()))?;
    let (read, mut write) = stream.into_split();
    write
        .write_all(b"MONITOR\r\n")
        .await
        .map_err(|e| fail(e.to_string()))?;
    let mut lines = BufReader::new(read).lines();
    let deadline = tokio::time::Instant::now() + window;
    let mut seen = 0;
    loop {
        let line = match tokio::time::timeout_at(deadline, lines.next_line()).await {
            Err(_) => break,
            Ok(Ok(Some(line))) => line,
            Ok(Ok(None)) => break,
            Ok(Err(e)) => return Err(fail(e.to_string())),
        };
        if let Some(err) = line.strip_prefix('-') {
            return Err(fail(err.to_string()));
        }
        if let Some(entry) = parse_monitor_line(&line)
            && let (Some(write), Some(key)) = (entry.is_write(), &entry.first_arg)
        {
            counts.record(key, write);
            seen += 1;
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_commands_and_escapes() {
        let e = parse_monitor_line(r#"+1700000000.123456 [0 127.0.0.1:5555] "SET" "k\"1\x41" "v""#)
            .unwrap();
        assert_eq!(e.command, "SET");
        assert_eq!(e.first_arg.as_deref(), Some(&b"k\"1A"[..]));
        assert_eq!(e.is_write(), Some(true));
        let g = parse_monitor_line(r#"+1.0 [0 unix:/tmp/s] "get" "foo""#).unwrap();
        assert_eq!(g.is_write(), Some(false));
        let p = parse_monitor_line(r#"+1.0 [0 127.0.0.1:1] "PING""#).unwrap();
        assert_eq!(p.is_write(), None);
        let c = parse_monitor_line(r#"+1.0 [0 127.0.0.1:1] "cluster" "nodes""#).unwrap();
        assert_eq!(c.is_write(), None);
        assert_eq!(parse_monitor_line("+OK"), None);
        assert_eq!(parse_monitor_line("garbage"), None);
    }
}
