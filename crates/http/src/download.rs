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

use crate::error::{AppError, AppResult};
use crate::state::AppState;
use axum::body::Body;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use cairn_domain::model::QueryResultMeta;
use cairn_results::{
    BlockWriter, DownloadFormat, DsvWriter, JsonResultMeta, JsonWriter, ResultDecoder, ResultSink,
    XlsxWriter, content_disposition, copy_result,
};
use futures::StreamExt;
use std::io::{self, Read};
use tokio::sync::mpsc;

/// Bytes handed to the response body at a time.
const BLOCK_SIZE: usize = 64 * 1024;

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

    let body = Body::from_stream(futures::stream::unfold(out_rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }));
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
