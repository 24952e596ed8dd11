//! The route table: every endpoint, each handled in the module of its resource.

pub mod dashboards;
pub mod data_sources;
pub mod health;
pub mod jobs;
pub mod listing;
pub mod queries;
pub mod query_results;
pub mod visualizations;

use crate::auth::Caller;
use crate::error::{AppError, AppPath};
use crate::state::AppState;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::routing::{get, post};
use cairn_results::DownloadFormat;

/// A handler for `GET /api/queries/<id>/results.<ext>`, one per format.
fn latest_result(format: DownloadFormat) -> axum::routing::MethodRouter<AppState> {
    get(
        move |State(app): State<AppState>,
              caller: Caller,
              AppPath(id): AppPath<i64>,
              RawQuery(raw): RawQuery| async move {
            query_results::get_latest(app, caller, id, format, raw).await
        },
    )
}

async fn not_found() -> AppError {
    AppError::not_found("No such endpoint.")
}

async fn method_not_allowed() -> AppError {
    AppError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "This endpoint does not take that method.",
    )
}

/// `/ping`, `/ready` and `/metrics`: what every process serves, API or not.
pub fn health_router() -> Router<AppState> {
    Router::new()
        .route("/ping", get(health::ping))
        .route("/ready", get(health::ready))
        .route("/metrics", get(crate::metrics::metrics))
}

/// Every route of the API.
pub fn router() -> Router<AppState> {
    use dashboards as d;
    use data_sources as ds;
    use queries as q;
    use query_results as qr;
    use visualizations as v;
    health_router()
        .route("/status.json", get(health::status))
        .route("/api/session", get(health::session))
        .route("/api/session/login", post(crate::session::login))
        .route("/api/session/logout", post(crate::session::logout))
        .route("/api/jobs/{id}", get(jobs::get).delete(jobs::cancel))
        // data sources
        .route("/api/data_sources", get(ds::list).post(ds::create))
        .route("/api/data_sources/types", get(ds::types))
        .route(
            "/api/data_sources/{id}",
            get(ds::get).post(ds::update).delete(ds::delete),
        )
        .route(
            "/api/data_sources/{id}/pause",
            post(ds::pause).delete(ds::resume),
        )
        .route("/api/data_sources/{id}/test", post(ds::test))
        .route("/api/data_sources/{id}/schema", get(ds::schema))
        // queries
        .route("/api/queries", get(q::list).post(q::create))
        .route("/api/queries/my", get(q::my))
        .route("/api/queries/favorites", get(q::favorites))
        .route("/api/queries/archive", get(q::archive_list))
        .route("/api/queries/recent", get(q::recent))
        .route("/api/queries/tags", get(q::tags))
        .route(
            "/api/queries/{id}",
            get(q::get).post(q::update).delete(q::archive),
        )
        .route("/api/queries/{id}/fork", post(q::fork))
        .route(
            "/api/queries/{id}/favorite",
            post(q::favorite).delete(q::unfavorite),
        )
        .route(
            "/api/queries/{id}/regenerate_api_key",
            post(q::regenerate_api_key),
        )
        .route("/api/queries/{id}/refresh", post(qr::refresh))
        // results
        .route("/api/query_results", post(qr::adhoc))
        .route("/api/query_results/{id}", get(qr::get_result))
        .route("/api/query_results/{id}/rows", get(qr::rows))
        .route(
            "/api/queries/{id}/results",
            latest_result(DownloadFormat::Json).post(qr::run),
        )
        .route(
            "/api/queries/{id}/results.json",
            latest_result(DownloadFormat::Json),
        )
        .route(
            "/api/queries/{id}/results.csv",
            latest_result(DownloadFormat::Csv),
        )
        .route(
            "/api/queries/{id}/results.tsv",
            latest_result(DownloadFormat::Tsv),
        )
        .route(
            "/api/queries/{id}/results.xlsx",
            latest_result(DownloadFormat::Xlsx),
        )
        .route(
            "/api/queries/{id}/results/{result}",
            get(qr::get_query_result),
        )
        // visualizations and widgets
        .route("/api/visualizations", post(v::create))
        .route(
            "/api/visualizations/{id}",
            post(v::update).delete(v::delete),
        )
        .route("/api/widgets", post(v::create_widget))
        .route(
            "/api/widgets/{id}",
            post(v::update_widget).delete(v::delete_widget),
        )
        // dashboards
        .route("/api/dashboards", get(d::list).post(d::create))
        .route("/api/dashboards/my", get(d::my))
        .route("/api/dashboards/favorites", get(d::favorites))
        .route("/api/dashboards/tags", get(d::tags))
        .route("/api/dashboards/public/{token}", get(d::public))
        .route(
            "/api/dashboards/{key}",
            get(d::get).post(d::update).delete(d::archive),
        )
        .route(
            "/api/dashboards/{key}/favorite",
            post(d::favorite).delete(d::unfavorite),
        )
        .route(
            "/api/dashboards/{key}/share",
            post(d::share).delete(d::unshare),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}
