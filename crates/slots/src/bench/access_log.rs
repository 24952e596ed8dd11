//! Writing the origin design's access-log format: one `key op` line per request, op `read` or
//! `write`.
//!
//! Each client task buffers its lines and hands them to the shared file in 64 KiB blocks, so
//! logging costs one lock per few thousand requests.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::keys::Op;

const FLUSH_AT: usize = 64 * 1024;

/// The shared log file.
#[derive(Debug, Clone)]
pub struct AccessLog {
    file: Arc<Mutex<BufWriter<File>>>,
}

impl AccessLog {
    /// Creates (truncates) `path`.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: &Path) -> std::io::Result<AccessLog> {
        Ok(AccessLog {
            file: Arc::new(Mutex::new(BufWriter::new(File::create(path)?))),
        })
    }

    /// A per-task buffer writing into this log.
    pub fn writer(&self) -> AccessLogWriter {
        AccessLogWriter {
            log: self.clone(),
            buf: Vec::with_capacity(FLUSH_AT + 256),
        }
    }

    /// Flushes the file.
    ///
    /// # Errors
    /// Writing failed.
    pub fn flush(&self) -> std::io::Result<()> {
        self.file.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// One task's buffer; flushes into the shared log when full and when dropped.
#[derive(Debug)]
pub struct AccessLogWriter {
    log: AccessLog,
    buf: Vec<u8>,
}

impl AccessLogWriter {
    /// Records one request.
    pub fn record(&mut self, key: &str, op: Op) {
        self.buf.extend_from_slice(key.as_bytes());
        self.buf.push(b' ');
        self.buf.extend_from_slice(op.as_str().as_bytes());
        self.buf.push(b'\n');
        if self.buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let mut file = self.log.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(&self.buf) {
            tracing::warn!(error = %e, "cannot write the access log");
        }
        self.buf.clear();
    }
}

impl Drop for AccessLogWriter {
    fn drop(&mut self) {
        self.flush();
    }
}
