//! The query job: run SQL on a data source and stream its rows into the result store.
//!
//! Rows go from the database to the [`ResultEncoder`] one at a time; every full chunk is
//! written to the store as soon as it fills, so memory stays at about one chunk whatever the
//! result's size. The result becomes visible only when finished; a failed or cancelled run
//! deletes what it wrote.

use crate::job::{Job, JobKind};
use crate::worker::{Failure, Outcome, Worker};
use cairn_results::ResultEncoder;
use cairn_sources::{QUERY_TIME_LIMIT_OPTION, RunLimits, SourceError};
use cairn_store::{NewResult, ResultSummary};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Runs an [`JobKind::ExecuteQuery`] job.
pub(crate) async fn execute_query(
    worker: &Worker,
    job: &Job,
    cancel: CancellationToken,
) -> Result<Outcome, Failure> {
    let JobKind::ExecuteQuery {
        data_source_id,
        query_text,
        query_hash,
        query_id,
        scheduled,
        ..
    } = &job.kind
    else {
        return Err(Failure::Error("not a query job".into()));
    };
    let outcome = run(
        worker,
        *data_source_id,
        query_text,
        query_hash,
        *query_id,
        *scheduled,
        cancel,
    )
    .await;
    if *scheduled && let Some(qid) = query_id {
        let recorded = match &outcome {
            Ok(_) => worker.store.reset_schedule_failures(*qid).await.map(|_| ()),
            Err(Failure::Error(_)) => worker.store.record_schedule_failure(*qid).await.map(|_| ()),
            Err(Failure::Cancelled) => Ok(()),
        };
        if let Err(e) = recorded {
            tracing::warn!(query_id = qid, error = %e, "cannot record the scheduled run's outcome");
        }
    }
    outcome
}

/// The data source's own time limit ([`QUERY_TIME_LIMIT_OPTION`], seconds), if set and positive.
fn source_time_limit(options: &serde_json::Value) -> Option<Duration> {
    let v = options.get(QUERY_TIME_LIMIT_OPTION)?;
    let secs = v.as_f64().or_else(|| v.as_str()?.trim().parse().ok())?;
    (secs > 0.0 && secs.is_finite()).then(|| Duration::from_secs_f64(secs))
}

/// The smaller of two optional limits.
fn stricter(a: Option<Duration>, b: Option<Duration>) -> Option<Duration> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn store_error(e: cairn_store::StoreError) -> Failure {
    tracing::error!(error = %e, "result store failed during a query run");
    Failure::Error(format!("Cairn could not store the result: {e}"))
}

fn source_error(e: SourceError) -> Failure {
    match e {
        SourceError::Cancelled => Failure::Cancelled,
        other => Failure::Error(other.to_string()),
    }
}

async fn run(
    worker: &Worker,
    data_source_id: i64,
    query_text: &str,
    query_hash: &str,
    query_id: Option<i64>,
    scheduled: bool,
    cancel: CancellationToken,
) -> Result<Outcome, Failure> {
    let ds = worker
        .store
        .data_source(data_source_id)
        .await
        .map_err(|e| Failure::Error(e.to_string()))?;
    let runner = worker.runners.get(&ds).map_err(source_error)?;
    let global = if scheduled {
        worker.settings.scheduled_time_limit
    } else {
        worker.settings.adhoc_time_limit
    };
    let time_limit = stricter(global, source_time_limit(&ds.options));
    let started = Instant::now();
    let mut rows = runner
        .run(query_text, RunLimits { time_limit }, cancel)
        .await
        .map_err(source_error)?;

    let result_id = worker
        .store
        .begin_result(&NewResult {
            data_source_id,
            query_hash: query_hash.to_string(),
            query: query_text.to_string(),
        })
        .await
        .map_err(store_error)?;
    let written = async {
        let mut encoder =
            ResultEncoder::new(rows.columns().to_vec(), worker.settings.result_limits);
        let mut seq = 0_i64;
        while let Some(row) = rows.next_row().await.map_err(source_error)? {
            if let Some(chunk) = encoder
                .push_row(&row)
                .map_err(|e| Failure::Error(e.to_string()))?
            {
                worker
                    .store
                    .append_chunk(result_id, seq, &chunk)
                    .await
                    .map_err(store_error)?;
                seq += 1;
            }
        }
        let (last, summary) = encoder.finish();
        worker
            .store
            .append_chunk(result_id, seq, &last)
            .await
            .map_err(store_error)?;
        Ok::<_, Failure>(summary)
    }
    .await;
    let summary = match written {
        Ok(s) => s,
        Err(failure) => {
            drop(rows);
            if let Err(e) = worker.store.abort_result(result_id).await {
                tracing::warn!(result_id, error = %e, "cannot delete a partial result; cleanup will");
            }
            return Err(failure);
        }
    };
    let finished = worker
        .store
        .finish_result(
            result_id,
            &ResultSummary {
                runtime: started.elapsed().as_secs_f64(),
                row_count: summary.rows as i64,
                columns: summary.columns,
            },
        )
        .await
        .map_err(store_error)?;
    if let Some(qid) = query_id
        && !finished.updated_query_ids.contains(&qid)
    {
        // A run with parameters has another hash than the saved text: point the query at
        // it too, so its page and its schedule see the run.
        if let Err(e) = worker.store.set_query_latest_result(qid, result_id).await {
            tracing::warn!(query_id = qid, error = %e, "cannot link the result to its query");
        }
    }
    Ok(Outcome::QueryResult(result_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stricter_time_limit_wins() {
        let s = |n| Some(Duration::from_secs(n));
        assert_eq!(stricter(s(10), s(3)), s(3));
        assert_eq!(stricter(None, s(3)), s(3));
        assert_eq!(stricter(s(10), None), s(10));
        assert_eq!(stricter(None, None), None);
        assert_eq!(source_time_limit(&json!({"query_time_limit": 2})), s(2));
        assert_eq!(source_time_limit(&json!({"query_time_limit": "5"})), s(5));
        assert_eq!(source_time_limit(&json!({"query_time_limit": 0})), None);
        assert_eq!(source_time_limit(&json!({"query_time_limit": "x"})), None);
        assert_eq!(source_time_limit(&json!({})), None);
    }
}
