//! Jobs that look at a data source without running user SQL: the connection test and the
//! schema refresh.

use crate::worker::{Failure, Outcome, Worker};
use cairn_sources::Runner;
use serde_json::json;
use std::sync::Arc;

/// The runner of data source `id`.
async fn runner_for(worker: &Worker, id: i64) -> Result<Arc<Runner>, Failure> {
    let ds = worker
        .store
        .data_source(id)
        .await
        .map_err(|e| Failure::Error(e.to_string()))?;
    worker
        .runners
        .get(&ds)
        .map_err(|e| Failure::Error(e.to_string()))
}

/// Connects to data source `id` and runs `SELECT 1`.
pub(crate) async fn test_connection(worker: &Worker, id: i64) -> Result<Outcome, Failure> {
    let runner = runner_for(worker, id).await?;
    runner
        .test_connection()
        .await
        .map_err(|e| Failure::Error(e.to_string()))?;
    Ok(Outcome::Value(json!({"ok": true, "message": "success"})))
}

/// Introspects data source `id` and stores its tables and columns in the schema cache.
pub(crate) async fn refresh_schema(worker: &Worker, id: i64) -> Result<Outcome, Failure> {
    let runner = runner_for(worker, id).await?;
    let tables = runner
        .schema()
        .await
        .map_err(|e| Failure::Error(e.to_string()))?;
    let schema = serde_json::to_value(&tables).map_err(|e| Failure::Error(e.to_string()))?;
    worker
        .store
        .set_data_source_schema(id, &schema)
        .await
        .map_err(|e| Failure::Error(e.to_string()))?;
    Ok(Outcome::Value(json!({"schema": schema})))
}
