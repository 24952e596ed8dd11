//! Helpers shared by the per-database tests.

use std::time::Duration;

use cairn_domain::result::{Column, Row};
use cairn_sources::{RowStream, RunLimits, Runner, SourceError};
use tokio_util::sync::CancellationToken;

/// Runs `sql` without limits and collects the whole result.
pub async fn query(runner: &Runner, sql: &str) -> Result<(Vec<Column>, Vec<Row>), SourceError> {
    let stream = runner
        .run(sql, RunLimits::default(), CancellationToken::new())
        .await?;
    collect(stream).await
}

/// Reads every row of a stream.
pub async fn collect(mut stream: RowStream) -> Result<(Vec<Column>, Vec<Row>), SourceError> {
    let columns = stream.columns().to_vec();
    let mut rows = Vec::new();
    while let Some(row) = stream.next_row().await? {
        rows.push(row);
    }
    Ok((columns, rows))
}

/// Runs `sql` with a time limit and returns how the run ended.
pub async fn run_with_limit(
    runner: &Runner,
    sql: &str,
    limit: Duration,
) -> Result<(Vec<Column>, Vec<Row>), SourceError> {
    let limits = RunLimits {
        time_limit: Some(limit),
    };
    let stream = runner.run(sql, limits, CancellationToken::new()).await?;
    collect(stream).await
}

/// Runs `sql` and cancels it after `after`.
pub async fn run_and_cancel(
    runner: &Runner,
    sql: &str,
    after: Duration,
) -> Result<(Vec<Column>, Vec<Row>), SourceError> {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(after).await;
        trigger.cancel();
    });
    let stream = runner.run(sql, RunLimits::default(), cancel).await?;
    collect(stream).await
}

/// Polls `check` every 100 ms for up to 10 s until it returns true; returns the last answer.
pub async fn eventually<F, Fut>(check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    eventually_within(Duration::from_secs(10), check).await
}

/// Polls `check` every 100 ms for up to `within` until it returns true; returns the last answer.
pub async fn eventually_within<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..(within.as_millis() / 100).max(1) {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The names of some columns.
pub fn names(columns: &[Column]) -> Vec<&str> {
    columns.iter().map(|c| c.name.as_str()).collect()
}
