//! Running queries and reading their results: `POST /api/query_results`,
//! `POST /api/queries/<id>/results`, `POST /api/queries/<id>/refresh`, and the result reads and
//! downloads (`.json`, `.csv`, `.tsv`, `.xlsx`), and (Cairn-only) one page of rows at a time:
//! `GET /api/query_results/<id>/rows?offset=&limit=`.
//!
//! A run never executes SQL in the request: it answers from the cache when `max_age` allows, or
//! enqueues a job (sharing the job of an identical run already queued or running) and answers
//! `{"job": ...}` for the client to poll.

use crate::auth::Caller;
use crate::download::result_response;
use crate::error::{AppError, AppJson, AppPath, AppResult};
use crate::limiter::refusal;
use crate::routes::jobs::job_json_for;
use crate::state::AppState;
use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use cairn_domain::model::{DataSource, Query, QueryResultMeta};
use cairn_domain::params::{Dialect, ParameterSpec, default_values, render};
use cairn_domain::query_hash::query_hash;
use cairn_exec::job::{Job, JobKind, QueueName, run_dedup_key};
use cairn_results::{DownloadFormat, RowWindow, download_filename};
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Map, Value, json};

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
    /// Cairn-only: answer a cache hit with the result's summary ([`summary_json`]) instead of
    /// all its rows; the rows are then read a page at a time from `/rows`.
    #[serde(default)]
    summary_only: bool,
}

/// The body of `POST /api/queries/<id>/results`.
#[derive(Debug, Deserialize)]
pub struct RunBody {
    #[serde(default = "any_age")]
    max_age: i64,
    #[serde(default)]
    parameters: Map<String, Value>,
    /// Cairn-only: as in [`AdhocBody`].
    #[serde(default)]
    summary_only: bool,
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

/// How a run is asked for: the cache age allowed and the shape of a cache hit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunOptions {
    /// Redash's `max_age`: `-1` any cached result, `0` always run, `N` seconds.
    pub max_age: i64,
    /// Answer a cache hit with [`summary_json`] rather than all rows.
    pub summary_only: bool,
}

/// The 429 to answer when a key caller (a shared dashboard's token, a query's API key) has
/// started [`crate::ServerSettings::public_runs_per_minute`] runs in the last minute; users
/// are not limited. Counted per key scope, so every token of one dashboard shares a budget.
async fn refused_key_run(app: &AppState, caller: &Caller) -> Option<Response> {
    let limiter = app.public_run_limiter.as_ref()?;
    let scope = caller.key_scope()?;
    let message = "Too many query runs through this shared link; cached results are still served, try a new run later.";
    refusal(
        limiter.as_ref(),
        &[format!("runs:{scope}")],
        "public runs",
        message,
    )
    .await
}

/// Answers from the cache when `max_age` allows, or enqueues a run (or joins an identical one).
/// A key caller gets the job under an id bound to its key ([`job_json_for`]); its runs are
/// limited ([`refused_key_run`]), its cache hits are not.
pub(crate) async fn run_or_cached(
    app: &AppState,
    caller: &Caller,
    ds: &DataSource,
    text: String,
    query_id: Option<i64>,
    opts: RunOptions,
) -> AppResult<Response> {
    let hash = query_hash(&text);
    if opts.max_age != 0
        && let Some(meta) = app.store.cached_result(ds.id, &hash, opts.max_age).await?
    {
        if opts.summary_only {
            return Ok(Json(json!({"query_result": summary_json(&meta, caller)})).into_response());
        }
        return result_response(app, &meta, DownloadFormat::Json, None).await;
    }
    let user_id = caller.user().ok().map(|u| u.id);
    if ds.paused {
        let reason = ds.pause_reason.as_deref().unwrap_or("no reason given");
        return Err(AppError::bad_request(format!(
            "Data source is paused ({reason}); resume it to run queries."
        )));
    }
    if let Some(refused) = refused_key_run(app, caller).await {
        return Ok(refused);
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
    Ok(Json(job_json_for(app, caller, &enqueued.state)).into_response())
}

/// `POST /api/query_results`: runs SQL text (or a saved query with parameters).
pub async fn adhoc(
    State(app): State<AppState>,
    caller: Caller,
    AppJson(body): AppJson<AdhocBody>,
) -> AppResult<Response> {
    caller.user()?;
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
    let opts = RunOptions {
        max_age: body.max_age,
        summary_only: body.summary_only,
    };
    run_or_cached(&app, &caller, &ds, text, body.query_id, opts).await
}

/// Runs saved query `q` with `values`, checking what a query API key may run.
async fn run_saved(
    app: &AppState,
    caller: &Caller,
    q: &Query,
    values: &Map<String, Value>,
    opts: RunOptions,
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
    run_or_cached(app, caller, &ds, text, Some(q.id), opts).await
}

/// `POST /api/queries/<id>/results`.
pub async fn run(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    AppJson(body): AppJson<RunBody>,
) -> AppResult<Response> {
    let q = app.store.query(id).await?;
    let opts = RunOptions {
        max_age: body.max_age,
        summary_only: body.summary_only,
    };
    run_saved(&app, &caller, &q, &body.parameters, opts).await
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
    let opts = RunOptions {
        max_age: 0,
        summary_only: false,
    };
    run_saved(&app, &caller, &q, &url_parameters(raw.as_deref())?, opts).await
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

/// Checks that `caller` may read result `meta`. Users may. A key (a query's, a shared
/// dashboard's) may read a result of one of its queries: the query's latest, one of its own
/// text, or, with `query_id=<id>&p_<name>=<value>` in the URL, the result that query gives with
/// those parameter values (checked by rendering them and comparing the query hash).
async fn check_key_result(
    app: &AppState,
    caller: &Caller,
    meta: &QueryResultMeta,
    raw: Option<&str>,
) -> AppResult<()> {
    let Some(queries) = caller.key_queries() else {
        return Ok(());
    };
    if queries.iter().any(|q| result_belongs_to(meta, q)) {
        return Ok(());
    }
    let refused = || AppError::forbidden("This API key does not give access to that result.");
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| AppError::bad_request(format!("Invalid query string: {e}")))?;
    let query_id = pairs
        .iter()
        .find(|(k, _)| k == "query_id")
        .and_then(|(_, v)| v.parse::<i64>().ok());
    let q = queries
        .iter()
        .find(|q| Some(q.id) == query_id)
        .ok_or_else(refused)?;
    if q.data_source_id != Some(meta.data_source_id) {
        return Err(refused());
    }
    let ds = app.store.data_source(meta.data_source_id).await?;
    let specs = ParameterSpec::parse_options(&q.options)
        .map_err(|e| AppError::bad_request(e.to_string()))?;
    let text = rendered(&q.query, &specs, &url_parameters(raw)?, &ds)?;
    if query_hash(&text) == meta.query_hash {
        Ok(())
    } else {
        Err(refused())
    }
}

/// `GET /api/query_results/<id>[.json|.csv|.tsv|.xlsx]`.
pub async fn get_result(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(segment): AppPath<String>,
    RawQuery(raw): RawQuery,
) -> AppResult<Response> {
    let (id, format) = id_and_format(&segment)?;
    let meta = app.store.result_meta(id).await?;
    check_key_result(&app, &caller, &meta, raw.as_deref()).await?;
    respond(&app, &meta, format, None).await
}

/// A result without its rows (Cairn-only): Redash's `query_result` fields but `data`, plus
/// `columns` and `row_count`. A key caller does not get the query text.
pub fn summary_json(meta: &QueryResultMeta, caller: &Caller) -> Value {
    let mut v = json!({
        "id": meta.id,
        "query_hash": meta.query_hash,
        "query": meta.query,
        "data_source_id": meta.data_source_id,
        "runtime": if meta.runtime.is_finite() { meta.runtime } else { 0.0 },
        "retrieved_at": meta.retrieved_at.to_rfc3339(),
        "row_count": meta.row_count,
        "columns": meta.columns,
    });
    if caller.key_queries().is_some()
        && let Some(map) = v.as_object_mut()
    {
        map.remove("query");
    }
    v
}

/// Rows a page of `/rows` holds when the URL names no `limit`.
const DEFAULT_PAGE_ROWS: u64 = 100;
/// The most rows one page of `/rows` returns (the UI's charts ask for up to 5,000).
pub const MAX_PAGE_ROWS: u64 = 10_000;

/// The paging parameters of `/rows`.
#[derive(Debug, Deserialize)]
struct PageParams {
    offset: Option<u64>,
    limit: Option<u64>,
}

/// A row as Redash's JSON object keyed by column name; non-finite floats become `null`.
fn row_json(
    columns: &[cairn_domain::result::Column],
    row: Vec<cairn_domain::result::Value>,
) -> Value {
    use cairn_domain::result::Value as V;
    let map = columns
        .iter()
        .zip(row)
        .map(|(c, v)| {
            let j = match v {
                V::Null => Value::Null,
                V::Bool(b) => Value::Bool(b),
                V::Int(i) => json!(i),
                V::Float(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
                V::Text(t) => Value::String(t),
            };
            (c.name.clone(), j)
        })
        .collect();
    Value::Object(map)
}

/// `GET /api/query_results/<id>/rows?offset=<n>&limit=<n>` (Cairn-only): one page of a
/// result's rows, `{"query_result": <summary>, "offset", "limit", "rows": [...]}`, `rows` as in
/// Redash's result JSON. `limit` defaults to 100 and is capped at [`MAX_PAGE_ROWS`]. Only the
/// stored chunks up to the page's end are read, and only those holding its rows are
/// decompressed, so any page of a result of any size costs about one page. Key callers may add
/// `query_id` and `p_` parameters as for the result JSON.
pub async fn rows(
    State(app): State<AppState>,
    caller: Caller,
    AppPath(id): AppPath<i64>,
    RawQuery(raw): RawQuery,
) -> AppResult<Json<Value>> {
    let page: PageParams = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| AppError::bad_request(format!("offset and limit must be numbers: {e}")))?;
    let offset = page.offset.unwrap_or(0);
    let limit = page.limit.unwrap_or(DEFAULT_PAGE_ROWS).min(MAX_PAGE_ROWS);
    let meta = app.store.result_meta(id).await?;
    check_key_result(&app, &caller, &meta, raw.as_deref()).await?;
    let mut window = RowWindow::new(offset, limit);
    if limit > 0 && offset < u64::try_from(meta.row_count).unwrap_or(0) {
        let mut chunks = app.store.result_chunks(id).await?;
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk?;
            let (w, more) = tokio::task::spawn_blocking(move || {
                let more = window.push_chunk(&chunk);
                (window, more)
            })
            .await
            .map_err(AppError::internal)?;
            window = w;
            let more = more.map_err(|e| {
                tracing::error!(result_id = id, error = %e, "stored result unreadable");
                AppError::internal(format!("The stored result {id} cannot be read: {e}"))
            })?;
            if !more {
                break;
            }
        }
    }
    let rows: Vec<Value> = window
        .into_rows()
        .into_iter()
        .map(|r| row_json(&meta.columns, r))
        .collect();
    Ok(Json(json!({
        "query_result": summary_json(&meta, &caller),
        "offset": offset,
        "limit": limit,
        "rows": rows,
    })))
}

/// `GET /api/queries/<qid>/results/<rid>[.fmt]`.
pub async fn get_query_result(
    State(app): State<AppState>,
    caller: Caller,
    AppPath((qid, segment)): AppPath<(i64, String)>,
    RawQuery(raw): RawQuery,
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
    let raw = format!("query_id={qid}&{}", raw.unwrap_or_default());
    check_key_result(&app, &caller, &meta, Some(&raw)).await?;
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
