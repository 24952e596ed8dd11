//! The row stream a query produces, and the loop that pumps a driver's rows into it.
//!
//! Each run gets its own task that owns the database connection and sends events down a small
//! bounded channel: the columns, then batches of rows, then the end (or an error). The
//! channel bound is the back-pressure: a slow consumer (say, a chunk being written to the
//! result store) pauses the task, which pauses reading from the socket, which pauses the
//! database. Memory stays at a few thousand rows whatever the result size.
//!
//! The task also watches three stop signals while it waits for the database or the consumer:
//! the cancellation token, the time limit, and the consumer dropping the stream. Any of them
//! makes the driver cancel the query ON THE DATABASE (not just stop reading), then drain what
//! the connection still delivers so it is known to be idle before it is closed.

use std::future::Future;
use std::time::Duration;

use cairn_domain::result::{Column, Row};
use std::pin::Pin;

use futures::{FutureExt, Stream, StreamExt};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::error::SourceError;

/// How many batches of rows may wait between the database task and the consumer.
const CHANNEL_BATCHES: usize = 8;
/// The most rows in one batch. Rows the driver has already buffered travel together, so the
/// two tasks do not wake each other for every row; a batch is handed over early whenever the
/// driver has to wait for the database, so the first rows are never held back.
const BATCH_ROWS: usize = 256;
/// How long a cancelled query may take to report that it stopped before its connection is
/// closed regardless.
pub(crate) const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits on one run of a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunLimits {
    /// The longest the query may run, from the call to `run` until the last row is read;
    /// `None` for no limit. When it passes, the query is cancelled on the database and the
    /// stream ends with [`SourceError::TimedOut`].
    pub time_limit: Option<Duration>,
}

pub(crate) enum Event {
    Columns(Vec<Column>),
    Rows(Vec<Row>),
    End,
}

pub(crate) type Sender = mpsc::Sender<Result<Event, SourceError>>;

/// The rows of a running query: its columns, then its rows one at a time.
///
/// Dropping the stream before its end cancels the query on the database.
#[derive(Debug)]
pub struct RowStream {
    columns: Vec<Column>,
    rx: mpsc::Receiver<Result<Event, SourceError>>,
    /// The rest of the batch being read.
    batch: std::vec::IntoIter<Row>,
    finished: bool,
    rows: u64,
}

impl RowStream {
    /// Waits for the task's first event: the columns, or the error that ended the query.
    pub(crate) async fn first(
        mut rx: mpsc::Receiver<Result<Event, SourceError>>,
    ) -> Result<RowStream, SourceError> {
        match rx.recv().await {
            Some(Ok(Event::Columns(columns))) => Ok(RowStream {
                columns,
                rx,
                batch: Vec::new().into_iter(),
                finished: false,
                rows: 0,
            }),
            Some(Err(e)) => Err(e),
            Some(Ok(_)) | None => Err(task_lost()),
        }
    }

    /// The result's columns. Types are `None` where the database did not tell one (SQLite
    /// expressions); the result encoder fills them in from the values.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of rows returned so far.
    pub fn rows_read(&self) -> u64 {
        self.rows
    }

    /// The next row, or `None` at the end of the result.
    ///
    /// # Errors
    /// The database's error, [`SourceError::TimedOut`] or [`SourceError::Cancelled`] (the
    /// query was then stopped on the database). After an error or the end, returns `Ok(None)`.
    pub async fn next_row(&mut self) -> Result<Option<Row>, SourceError> {
        loop {
            if let Some(row) = self.batch.next() {
                self.rows += 1;
                return Ok(Some(row));
            }
            if self.finished {
                return Ok(None);
            }
            match self.rx.recv().await {
                Some(Ok(Event::Rows(rows))) => self.batch = rows.into_iter(),
                Some(Ok(Event::End)) => self.finished = true,
                Some(Err(e)) => {
                    self.finished = true;
                    return Err(e);
                }
                Some(Ok(Event::Columns(_))) | None => {
                    self.finished = true;
                    return Err(task_lost());
                }
            }
        }
    }

    /// The rows as a [`Stream`], for use with stream combinators.
    pub fn into_stream(self) -> impl Stream<Item = Result<Row, SourceError>> + Send {
        futures::stream::unfold(self, |mut s| async move {
            match s.next_row().await {
                Ok(Some(row)) => Some((Ok(row), s)),
                Ok(None) => None,
                Err(e) => Some((Err(e), s)),
            }
        })
    }
}

fn task_lost() -> SourceError {
    SourceError::Database("the query task ended unexpectedly".into())
}

/// A new channel for one run.
pub(crate) fn channel() -> (Sender, mpsc::Receiver<Result<Event, SourceError>>) {
    mpsc::channel(CHANNEL_BATCHES)
}

/// Why a run stopped before the database finished it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    Cancelled,
    TimedOut(Duration),
    /// The consumer dropped the stream; nobody is listening for an error.
    Dropped,
}

impl Stop {
    pub(crate) fn into_error(self) -> Option<SourceError> {
        match self {
            Stop::Cancelled => Some(SourceError::Cancelled),
            Stop::TimedOut(limit) => Some(SourceError::TimedOut(limit)),
            Stop::Dropped => None,
        }
    }
}

/// The stop signals of one run.
///
/// The deadline timer is created once per run and reused, and rows that are already buffered
/// take a fast path that only checks the signals with cheap loads: registering a timer and
/// three wakers for every row would cost more than decoding it.
#[derive(Debug)]
pub(crate) struct StopSignals {
    cancel: CancellationToken,
    limit: Option<Duration>,
    deadline: Option<Instant>,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StopSignals {
    pub(crate) fn new(cancel: CancellationToken, limits: RunLimits) -> Self {
        let deadline = limits.time_limit.map(|limit| Instant::now() + limit);
        StopSignals {
            cancel,
            limit: limits.time_limit,
            deadline,
            sleep: deadline.map(|at| Box::pin(tokio::time::sleep_until(at))),
        }
    }

    /// The run's time limit.
    pub(crate) fn limit(&self) -> Option<Duration> {
        self.limit
    }

    /// A stop that is already due, checked without waiting (cancel flag, clock, consumer).
    fn due(&self, tx: &Sender) -> Option<Stop> {
        if self.cancel.is_cancelled() {
            return Some(Stop::Cancelled);
        }
        if let (Some(at), Some(limit)) = (self.deadline, self.limit)
            && Instant::now() >= at
        {
            return Some(Stop::TimedOut(limit));
        }
        if tx.is_closed() {
            return Some(Stop::Dropped);
        }
        None
    }

    /// Runs `fut` unless a stop signal comes first.
    pub(crate) async fn guard<F: Future>(
        &mut self,
        tx: &Sender,
        fut: F,
    ) -> Result<F::Output, Stop> {
        let limit = self.limit.unwrap_or_default();
        let sleep = async {
            match self.sleep.as_mut() {
                Some(sleep) => sleep.await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => Err(Stop::Cancelled),
            _ = sleep => Err(Stop::TimedOut(limit)),
            _ = tx.closed() => Err(Stop::Dropped),
            out = fut => Ok(out),
        }
    }
}

/// Turns one driver row into Cairn's columns and values.
pub(crate) trait RowMapper<R> {
    /// The columns, from the first row (called once, before `values`).
    fn columns(&mut self, row: &R) -> Vec<Column>;
    /// The values of a row.
    fn values(&mut self, row: &R) -> Result<Row, SourceError>;
}

/// How a run ended.
pub(crate) enum Pumped {
    /// The database finished the query; `rows` rows were sent (and the columns, if any rows).
    Done { rows: u64 },
    /// A stop signal came first and the query was cancelled on the database; `idle` tells
    /// whether the connection then reported the query's end in time (if not, close it hard).
    Stopped { stop: Stop, idle: bool },
    /// The database or the mapping failed.
    Failed(SourceError),
}

/// Sends the columns and every row of `rows` to `tx`, watching the stop signals throughout.
/// On a stop, runs `cancel_on_server` (which must make the database end the query), then
/// drains `rows` until the database reports the end.
pub(crate) async fn pump<R, S, M, C, F>(
    rows: &mut S,
    mapper: &mut M,
    tx: &Sender,
    stop: &mut StopSignals,
    cancel_on_server: C,
) -> Pumped
where
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
    M: RowMapper<R>,
    C: FnOnce() -> F,
    F: Future<Output = ()>,
{
    match pump_rows(rows, mapper, tx, stop).await {
        Ok(rows) => Pumped::Done { rows },
        Err(Ended::Failed(e)) => Pumped::Failed(e),
        Err(Ended::Stopped(s)) => {
            cancel_on_server().await;
            let idle = drain(rows).await;
            Pumped::Stopped { stop: s, idle }
        }
    }
}

enum Ended {
    Stopped(Stop),
    Failed(SourceError),
}

async fn reserve<'a>(
    tx: &'a Sender,
    stop: &mut StopSignals,
) -> Result<mpsc::Permit<'a, Result<Event, SourceError>>, Ended> {
    match tx.try_reserve() {
        Ok(permit) => return Ok(permit),
        Err(mpsc::error::TrySendError::Closed(())) => return Err(Ended::Stopped(Stop::Dropped)),
        Err(mpsc::error::TrySendError::Full(())) => {}
    }
    match stop.guard(tx, tx.reserve()).await {
        Ok(Ok(permit)) => Ok(permit),
        Ok(Err(_)) => Err(Ended::Stopped(Stop::Dropped)),
        Err(s) => Err(Ended::Stopped(s)),
    }
}

async fn pump_rows<R, S, M>(
    rows: &mut S,
    mapper: &mut M,
    tx: &Sender,
    stop: &mut StopSignals,
) -> Result<u64, Ended>
where
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
    M: RowMapper<R>,
{
    let mut sent = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    loop {
        if let Some(s) = stop.due(tx) {
            return Err(Ended::Stopped(s));
        }
        // Rows the driver already buffered need no waiting (and no wakers).
        let next = match rows.next().now_or_never() {
            Some(next) => next,
            None => {
                flush(&mut batch, tx, stop).await?;
                stop.guard(tx, rows.next()).await.map_err(Ended::Stopped)?
            }
        };
        let row = match next {
            None => {
                flush(&mut batch, tx, stop).await?;
                return Ok(sent);
            }
            Some(Err(e)) => return Err(Ended::Failed(SourceError::from_sqlx(e))),
            Some(Ok(row)) => row,
        };
        if sent == 0 {
            reserve(tx, stop)
                .await?
                .send(Ok(Event::Columns(mapper.columns(&row))));
        }
        batch.push(mapper.values(&row).map_err(Ended::Failed)?);
        sent += 1;
        if batch.len() >= BATCH_ROWS {
            flush(&mut batch, tx, stop).await?;
        }
    }
}

/// Hands the rows collected so far to the consumer (waiting for room, watching the signals).
async fn flush(batch: &mut Vec<Row>, tx: &Sender, stop: &mut StopSignals) -> Result<(), Ended> {
    if batch.is_empty() {
        return Ok(());
    }
    let permit = reserve(tx, stop).await?;
    permit.send(Ok(Event::Rows(std::mem::replace(
        batch,
        Vec::with_capacity(BATCH_ROWS),
    ))));
    Ok(())
}

/// Reads what is left of a cancelled query's rows until the database reports the end or an
/// error, so the connection is known to be idle. Returns whether that happened in time.
async fn drain<R, S>(rows: &mut S) -> bool
where
    S: Stream<Item = Result<R, sqlx::Error>> + Unpin,
{
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(item) = rows.next().await {
            if item.is_err() {
                break;
            }
        }
    })
    .await;
    drained.is_ok()
}

/// Sends the final event of a run (ignoring a consumer that is gone).
pub(crate) async fn send_last(tx: &Sender, last: Result<Event, SourceError>) {
    let _ = tx.send(last).await;
}

/// Sends the error for a stop, if anyone is listening for one.
pub(crate) async fn send_stop(tx: &Sender, stop: Stop) {
    if let Some(e) = stop.into_error() {
        send_last(tx, Err(e)).await;
    }
}
