//! Running queries and reading their results: `POST /api/query_results`,
//! `POST /api/queries/<id>/results`, `POST /api/queries/<id>/refresh`, and the result reads and
//! downloads (`.json`, `.csv`, `.tsv`, `.xlsx`).
//!
//! A run never executes SQL in the request: it answers from the cache when `max_age` allows, or
//! enqueues a job (sharing the job of an identical run already queued or running) and answers
//! `{"job": ...}` for the client to poll.

use crate::auth::Caller;
use crate::download::result_response;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::routes::jobs::job_json;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use cairn_domain::model::{DataSource, Query, QueryResultMeta};
use cairn_domain::params::{Dialect, ParameterSpec, default_values, render};
use cairn_domain::query_hash::query_hash;
use cairn_exec::job::{Job, JobKind, QueueName, run_dedup_key};
use cairn_results::{DownloadFormat, download_filename};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The body of `POST /api/query_results`.
#[derive(Debug, Deserialize)]
pub struct AdhocBody {
    query: Option<String>,
    data_source_id: Option<i64>,
    #[serde(default = "any_age")]
    max_age: i64,
    #[serde(default)]
    parameters: Map<String, Value>,
    query_id: Option<i64>,
}

/// The body of `POST /api/queries/<id>/results`.
#[derive(Debug, Deserialize)]
pub struct RunBody {
    #[serde(default = "any_age")]
    max_age: i64,
    #[serde(default)]
    parameters: Map<String, Value>,
}

fn any_age() -> i64 {
    -1
}

/// `query_text` with `values` applied, for data source `ds`.
fn rendered(
    query_text: &str,
    specs: &[ParameterSpec],
    values: &Map<String, Value>,
    ds: &DataSource,
) -> AppResult<String> {
    let dialect = Dialect::for_source_type(&ds.kind).unwrap_or(Dialect::Postgres);
    let mut all = default_values(specs);
    all.extend(values.iter().map(|(k, v)| (k.clone(), v.clone())));
    render(query_text, specs, &all, dialect, chrono::Utc::now())
        .map_err(|e| AppError::bad_request(e.to_string()))
}

/// Answers from the cache when `max_age` allows, or enqueues a run (or joins an identical one).
pub(crate) async fn run_or_cached(
    app: &AppState,
    ds: &DataSource,
    text: String,
    query_id: Option<i64>,
    user_id: Option<i64>,
    max_age: i64,
) -> AppResult<Response> {
    let hash = query_hash(&text);
    if max_age != 0
        && let Some(meta) = app.store.cached_result(ds.id, &hash, max_age).await?
    {
        return result_response(app, &meta, DownloadFormat::Json, None).await;
    }
    if ds.paused {
        let reason = ds.pause_reason.as_deref().unwrap_or("no reason given");
        return Err(AppError::bad_request(format!(
            "Data source is paused ({reason}); resume it to run queries."
        )));
    }
    let queue = QueueName::parse(&ds.queue_name).unwrap_or(QueueName::Adhoc);
    let job = Job::new(
        queue,
        JobKind::ExecuteQuery {
            data_source_id: ds.id,
            query_text: text,
            query_hash: hash.clone(),
            query_id,
            user_id,
            scheduled: false,
        },
    );
    let enqueued = app
        .queue
        .enqueue(job, Some(run_dedup_key(ds.id, &hash)))
        .await?;
    Ok(Json(job_json(&enqueued.state)).into_response())
}

/// `POST /api/query_results`: runs SQL text (or a saved query with parameters).
pub async fn adhoc(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<AdhocBody>,
) -> AppResult<Response> {
    let user = caller.user()?;
    let ds_id = body
        .data_source_id
        .ok_or_else(|| AppError::bad_request("data_source_id is required."))?;
    let text = body
        .query
        .ok_or_else(|| AppError::bad_request("query is required."))?;
    let ds = app.store.data_source(ds_id).await?;
    let specs = match body.query_id {
        Some(qid) => ParameterSpec::parse_options(&app.store.query(qid).await?.options)
            .map_err(|e| AppError::bad_request(e.to_string()))?,
        None => Vec::new(),
    };
    let text = if body.parameters.is_empty() && specs.is_empty() {
        text
    } else {
        rendered(&text, &specs, &body.parameters, &ds)?
    };
    run_or_cached(&app, &ds, text, body.query_id, Some(user.id), body.max_age).await
}

/// Runs saved query `q` with `values`, checking what a query API key may run.
async fn run_saved(
    app: &AppState,
    caller: &Caller,
    q: &Query,
    values: &Map<String, Value>,
    max_age: i64,
) -> AppResult<Response> {
    caller.check_read_query(q.id)?;
    let specs = ParameterSpec::parse_options(&q.options)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    if caller.key_queries().is_some() && !crate::serialize::query_is_safe(q) {
        return Err(AppError::forbidden(
            "This query has text parameters, so it cannot be run with its API key; use a user API key.",
        ));
    }
    let ds_id = q
        .data_source_id
        .ok_or_else(|| AppError::bad_request("This query has no data source (it was deleted)."))?;
    let ds = app.store.data_source(ds_id).await?;
    let text = rendered(&q.query, &specs, values, &ds)?;
    let user_id = caller.user().ok().map(|u| u.id);
    run_or_cached(app, &ds, text, Some(q.id), user_id, max_age).await
}

/// `POST /api/queries/<id>/results`.
pub async fn run(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<RunBody>,
) -> AppResult<Response> {
    let q = app.store.query(id).await?;
    run_saved(&app, &caller, &q, &body.parameters, body.max_age).await
}

/// The `p_<name>=value` parameters of a URL query string.
fn url_parameters(raw: Option<&str>) -> AppResult<Map<String, Value>> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| AppError::bad_request(format!("Invalid query string: {e}")))?;
    Ok(pairs
        .into_iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("p_")?.to_string(), Value::String(v))))
        .collect())
}

/// `POST /api/queries/<id>/refresh?p_<name>=value`: runs now, ignoring the cache.
pub async fn refresh(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    caller.user()?;
    let q = app.store.query(id).await?;
    run_saved(&app, &caller, &q, &url_parameters(raw.as_deref())?, 0).await
}

/// Splits `12.csv` into the id and the format (`12` alone is JSON).
fn id_and_format(segment: &str) -> AppResult<(i64, DownloadFormat)> {
    let (id, ext) = segment.split_once('.').unwrap_or((segment, "json"));
    let id = id
        .parse()
        .map_err(|_| AppError::not_found(format!("Result {segment:?} not found.")))?;
    let format = DownloadFormat::from_extension(ext).ok_or_else(|| {
        AppError::not_found(format!(
            "Unknown result format {ext:?}: use json, csv, tsv or xlsx."
        ))
    })?;
    Ok((id, format))
}

/// Whether a query API key for `q` may read result `meta`.
fn result_belongs_to(meta: &QueryResultMeta, q: &Query) -> bool {
    Some(meta.data_source_id) == q.data_source_id
        && (Some(meta.id) == q.latest_query_data_id || meta.query_hash == q.query_hash)
}

/// The response for result `meta` in `format`; files (not JSON) are attachments named after
/// the query (`name`) and the result's day, as Redash names them.
async fn respond(
    app: &AppState,
    meta: &QueryResultMeta,
    format: DownloadFormat,
    name: Option<&str>,
) -> AppResult<Response> {
    let filename = (format != DownloadFormat::Json).then(|| {
        download_filename(
            name.unwrap_or(""),
            &format!("query_result_{}", meta.id),
            meta.retrieved_at.date_naive(),
            format,
        )
    });
    result_response(app, meta, format, filename).await
}

/// `GET /api/query_results/<id>[.json|.csv|.tsv|.xlsx]`.
pub async fn get_result(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(segment): AppPath<String>,
) -> AppResult<Response> {
    let (id, format) = id_and_format(&segment)?;
    let meta = app.store.result_meta(id).await?;
    if let Some(queries) = caller.key_queries()
        && !queries.iter().any(|q| result_belongs_to(&meta, q))
    {
        return Err(AppError::forbidden(
            "This API key does not give access to that result.",
        ));
    }
    respond(&app, &meta, format, None).await
}

/// `GET /api/queries/<qid>/results/<rid>[.fmt]`.
pub async fn get_query_result(
    State(app): State<AppState>,
    caller: Caller,
    AppPath((qid, segment)): AppPath<(i64, String)>,
) -> AppResult<Response> {
    caller.check_read_query(qid)?;
    let (rid, format) = id_and_format(&segment)?;
    let q = app.store.query(qid).await?;
    let meta = app.store.result_meta(rid).await?;
    if meta.data_source_id != q.data_source_id.unwrap_or(-1) {
        return Err(AppError::not_found(
            "That result does not belong to this query.",
        ));
    }
    respond(&app, &meta, format, Some(&q.name)).await
}

/// `GET /api/queries/<id>/results[.fmt]`: the query's latest result; with `p_` parameters, the
/// cached result for those values.
pub async fn get_latest(
    app: AppState,
    caller: Caller,
    id: i64,
    format: DownloadFormat,
    raw: Option<String>,
) -> AppResult<Response> {
    caller.check_read_query(id)?;
    let q = app.store.query(id).await?;
    let values = url_parameters(raw.as_deref())?;
    let result_id = if values.is_empty() {
        q.latest_query_data_id
    } else {
        let ds = app
            .store
            .data_source(
                q.data_source_id
                    .ok_or_else(|| AppError::not_found("This query has no data source."))?,
            )
            .await?;
        let specs = ParameterSpec::parse_options(&q.options)
            .map_err(|e| AppError::bad_request(e.to_string()))?;
        let text = rendered(&q.query, &specs, &values, &ds)?;
        app.store
            .cached_result(ds.id, &query_hash(&text), -1)
            .await?
            .map(|m| m.id)
    };
    let result_id = result_id
        .ok_or_else(|| AppError::not_found("This query has no result yet: run it first."))?;
    let meta = app.store.result_meta(result_id).await?;
    respond(&app, &meta, format, Some(&q.name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_segments_split_into_id_and_format() {
        assert_eq!(id_and_format("12").unwrap(), (12, DownloadFormat::Json));
        assert_eq!(id_and_format("12.csv").unwrap(), (12, DownloadFormat::Csv));
        assert_eq!(id_and_format("7.XLSX").unwrap(), (7, DownloadFormat::Xlsx));
        assert_eq!(id_and_format("x.csv").unwrap_err().status, 404);
        assert_eq!(id_and_format("1.pdf").unwrap_err().status, 404);
    }

    #[test]
    fn url_parameters_take_only_p_prefixed_keys() {
        let p = url_parameters(Some("p_country=NO&api_key=x&p_n=3")).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p["country"], "NO");
    }
}
