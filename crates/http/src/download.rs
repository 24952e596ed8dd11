//! Streams a stored result to a client in any download format, in bounded memory.
//!
//! Three stages run at once, joined by small bounded channels so a slow client slows the whole
//! pipeline instead of filling memory:
//!
//! 1. an async task reads the result's chunks from the store, one at a time;
//! 2. a thread of the download's own, at the lowest scheduling priority, decodes them
//!    ([`ResultDecoder`]) and writes rows into the format's [`ResultSink`], whose output is cut
//!    into 64 KiB blocks ([`BlockWriter`]); formatting is the CPU-heavy stage, and at low
//!    priority it cannot slow the API, whatever the number of downloads;
//! 3. the response body sends the blocks as they come.
//!
//! A failure after the first byte can no longer change the status code, so it ends the body
//! early; the client sees a truncated transfer, never a silently short file that looks whole.
//!
//! # Download controls
//! Before anything is read, a result larger than [`ServerSettings::max_download_bytes`] is
//! refused with 413, and one more body than [`ServerSettings::max_concurrent_downloads`] with
//! 429 and `Retry-After` (429, not 503: the server is healthy, and 5xx alerts should not fire
//! because users asked for many exports at once). Every body then leaves through a
//! [`Pacer`]: full speed for [`ServerSettings::download_rate_after`] bytes, then at most
//! [`ServerSettings::download_rate_limit`] bytes per second. The metrics of [`crate::metrics`]
//! count the bytes as they leave, the time spent throttled, the bodies in flight and refusals.
//!
//! [`ServerSettings::max_download_bytes`]: crate::ServerSettings::max_download_bytes
//! [`ServerSettings::max_concurrent_downloads`]: crate::ServerSettings::max_concurrent_downloads
//! [`ServerSettings::download_rate_after`]: crate::ServerSettings::download_rate_after
//! [`ServerSettings::download_rate_limit`]: crate::ServerSettings::download_rate_limit

use crate::error::{AppError, AppResult};
use crate::metrics::{DOWNLOAD_BYTES, DOWNLOADS_ACTIVE, DOWNLOADS_REJECTED};
use crate::state::AppState;
use crate::throttle::Pacer;
use axum::body::Body;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_domain::model::QueryResultMeta;
use cairn_results::{
    BlockWriter, DownloadFormat, DsvWriter, JsonResultMeta, JsonWriter, ResultDecoder, ResultSink,
    XlsxWriter, content_disposition, copy_result,
};
use futures::StreamExt;
use std::io::{self, Read};
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};

/// Bytes handed to the response body at a time.
const BLOCK_SIZE: usize = 64 * 1024;

/// Seconds a client refused for too many downloads is told to wait (`Retry-After`).
const RETRY_AFTER_SECS: &str = "5";

/// The slots for result bodies streamed at once (see
/// [`crate::ServerSettings::max_concurrent_downloads`]). Cheap to clone.
#[derive(Debug, Clone)]
pub struct DownloadSlots {
    permits: Option<Arc<Semaphore>>,
}

impl DownloadSlots {
    /// Slots for at most `cap` bodies at once; `None` for no cap.
    pub fn new(cap: Option<usize>) -> DownloadSlots {
        DownloadSlots {
            permits: cap.map(|n| Arc::new(Semaphore::new(n))),
        }
    }

    /// A free slot, or `None` when all are taken.
    fn try_take(&self) -> Option<DownloadSlot> {
        let permit = match &self.permits {
            Some(permits) => Some(permits.clone().try_acquire_owned().ok()?),
            None => None,
        };
        metrics::gauge!(DOWNLOADS_ACTIVE).increment(1.0);
        Some(DownloadSlot { _permit: permit })
    }
}

/// One body being streamed; dropping it (the body ended, failed or the client left) frees the
/// slot.
struct DownloadSlot {
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for DownloadSlot {
    fn drop(&mut self) {
        metrics::gauge!(DOWNLOADS_ACTIVE).decrement(1.0);
    }
}

/// Refuses a download before anything is sent: answers the JSON error and counts the refusal.
fn refuse(reason: &'static str, error: AppError) -> Response {
    metrics::counter!(DOWNLOADS_REJECTED, "reason" => reason).increment(1);
    tracing::info!(reason, message = %error.message, "download refused");
    if error.status == StatusCode::TOO_MANY_REQUESTS {
        ([(header::RETRY_AFTER, RETRY_AFTER_SECS)], error).into_response()
    } else {
        error.into_response()
    }
}

/// The refusal of a result over the size cap, or `None` when it may be sent.
fn over_size_cap(app: &AppState, meta: &QueryResultMeta) -> Option<Response> {
    let max = app.settings.max_download_bytes?;
    let size = u64::try_from(meta.byte_size).unwrap_or(0);
    (size > max).then(|| {
        refuse(
            "size",
            AppError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "This result is {} stored, above this server's download limit of {}: \
                     narrow the query, or raise max_download_bytes \
                     (--max-download-bytes, CAIRN_MAX_DOWNLOAD_BYTES).",
                    human_bytes(size),
                    human_bytes(max)
                ),
            ),
        )
    })
}

/// `bytes` in the largest binary unit that keeps a number above 1.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} bytes");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A response streaming result `meta` as `format`; `filename` adds a `Content-Disposition`
/// attachment header.
///
/// # Errors
/// When the result's chunks cannot be opened (the result vanished, or the store failed).
pub async fn result_response(
    app: &AppState,
    meta: &QueryResultMeta,
    format: DownloadFormat,
    filename: Option<String>,
) -> AppResult<Response> {
    if let Some(refusal) = over_size_cap(app, meta) {
        return Ok(refusal);
    }
    let Some(slot) = app.downloads.try_take() else {
        return Ok(refuse(
            "concurrency",
            AppError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many downloads are in progress on this server: try again in a few seconds, \
                 or raise max_concurrent_downloads \
                 (--max-concurrent-downloads, CAIRN_MAX_CONCURRENT_DOWNLOADS).",
            ),
        ));
    };
    let mut chunks = app.store.result_chunks(meta.id).await?;
    let (chunk_tx, chunk_rx) = mpsc::channel::<io::Result<Vec<u8>>>(2);
    tokio::spawn(async move {
        while let Some(chunk) = chunks.next().await {
            let item = chunk.map_err(io::Error::other);
            let stop = item.is_err();
            if chunk_tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });

    let (out_tx, out_rx) = mpsc::channel::<io::Result<Bytes>>(4);
    let json_meta = JsonResultMeta {
        id: meta.id,
        query_hash: meta.query_hash.clone(),
        query: meta.query.clone(),
        data_source_id: meta.data_source_id,
        runtime: meta.runtime,
        retrieved_at: meta.retrieved_at.to_rfc3339(),
    };
    let result_id = meta.id;
    std::thread::Builder::new()
        .name("cairn-download".into())
        .spawn(move || {
            lower_priority();
            let failed = out_tx.clone();
            if let Err(e) = write_result(ChunkReader::new(chunk_rx), format, json_meta, out_tx) {
                tracing::warn!(result_id, error = %e, "download ended early");
                let _ = failed.blocking_send(Err(io::Error::other(e)));
            }
        })
        .map_err(|e| {
            AppError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                format!("Cannot start the download now ({e}); try again."),
            )
        })?;

    let outgoing = Outgoing {
        blocks: out_rx,
        pacer: Pacer::new(
            app.settings.download_rate_after,
            app.settings.download_rate_limit,
        ),
        _slot: slot,
    };
    let body = Body::from_stream(futures::stream::unfold(outgoing, Outgoing::next));
    let mut response = ([(header::CONTENT_TYPE, format.content_type())], body).into_response();
    if let Some(name) = filename {
        let value = content_disposition(&name)
            .parse()
            .map_err(|_| AppError::internal("unencodable Content-Disposition"))?;
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The body's side of a download: blocks from the formatting thread, paced, counted, holding
/// the download's slot until the body is dropped.
struct Outgoing {
    blocks: mpsc::Receiver<io::Result<Bytes>>,
    pacer: Pacer,
    _slot: DownloadSlot,
}

impl Outgoing {
    /// The next block once the rate limit lets it leave, and the rest of the body.
    async fn next(mut self) -> Option<(io::Result<Bytes>, Outgoing)> {
        let item = self.blocks.recv().await?;
        if let Ok(block) = &item {
            crate::metrics::add_throttled(self.pacer.admit(block.len()).await);
            metrics::counter!(DOWNLOAD_BYTES).increment(block.len() as u64);
        }
        Some((item, self))
    }
}

/// Puts the current thread (a download's own) in the batch scheduling class at the lowest
/// priority, so that however many downloads format rows, the runtime's threads that answer
/// `/ping` and the API get the CPU first. Failing to do so only costs latency, so it is logged.
fn lower_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let policy = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Batch);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, policy)
    {
        tracing::debug!(error = ?e, "cannot lower the download thread's priority");
    }
}

/// Decodes the chunks from `reader` and writes them as `format` into blocks sent on `out`.
fn write_result(
    reader: ChunkReader,
    format: DownloadFormat,
    meta: JsonResultMeta,
    out: mpsc::Sender<io::Result<Bytes>>,
) -> Result<u64, String> {
    let blocks = BlockWriter::new(BLOCK_SIZE, move |block| {
        out.blocking_send(Ok(Bytes::from(block)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    });
    let mut decoder = ResultDecoder::new(reader).map_err(|e| e.to_string())?;
    let mut sink: Box<dyn ResultSink> = match format {
        DownloadFormat::Json => Box::new(JsonWriter::new(blocks, meta)),
        DownloadFormat::Csv => Box::new(DsvWriter::csv(blocks)),
        DownloadFormat::Tsv => Box::new(DsvWriter::tsv(blocks)),
        DownloadFormat::Xlsx => Box::new(XlsxWriter::new(blocks).map_err(|e| e.to_string())?),
    };
    copy_result(&mut decoder, sink.as_mut()).map_err(|e| e.to_string())
}

/// A blocking [`Read`] over chunks arriving on a channel from an async task.
struct ChunkReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    pos: usize,
}

impl ChunkReader {
    fn new(rx: mpsc::Receiver<io::Result<Vec<u8>>>) -> ChunkReader {
        ChunkReader {
            rx,
            current: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.current.len() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => {
                    self.current = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len() - self.pos);
        buf[..n].copy_from_slice(&self.current[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
