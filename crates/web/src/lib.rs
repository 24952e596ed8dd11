//! Cairn's web UI, served from assets embedded in the binary.
//!
//! The UI is plain HTML, CSS and ES modules under `assets/`, with no build step, so building
//! or running Cairn needs no Node.js: `rust-embed` compiles the files into the binary (in debug
//! builds it reads them from disk, so edits show on reload). The page is a single-page app that
//! routes on the URL fragment (`/#/queries/5`) and talks only to the REST API, authenticated by
//! the session cookie of [`cairn_http::session`]. Charts are drawn as SVG by the UI's own small
//! charting module (`assets/js/charts.js`).
//!
//! A result is never loaded whole: the table reads one page of 100 rows at a time from
//! `GET /api/query_results/<id>/rows?offset=&limit=`, and charts draw at most the first 5,000
//! rows (`CHART_MAX_ROWS` in `assets/js/results.js`), noting "Chart shows first N rows" when
//! the result has more. A shared dashboard's page runs its own widgets' queries with its share
//! token and polls the jobs under the ids bound to that token (`cairn_http::routes::jobs`).
//!
//! [`router`] serves `/` (the app), `/public/dashboards/<token>` (the same app, which shows the
//! shared dashboard without a login) and `/assets/<file>`. Merge it into the API with
//! [`cairn_http::app_with`].

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cairn_http::AppState;
use rust_embed::RustEmbed;

/// The embedded UI files.
#[derive(RustEmbed)]
#[folder = "assets/"]
struct Assets;

/// The UI's routes, to merge into the API's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/public/dashboards/{token}", get(index))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    file("index.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    file(&path)
}

/// The MIME type for a file name, by its extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Response {
    match Assets::get(path) {
        Some(f) => (
            [
                (header::CONTENT_TYPE, content_type(path)),
                (header::CACHE_CONTROL, "no-cache"),
                (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            ],
            f.data.into_owned(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type() {
        let names: Vec<_> = Assets::iter().collect();
        assert!(names.iter().any(|n| n == "index.html"));
        for n in names {
            assert_ne!(content_type(&n), "application/octet-stream", "{n}");
        }
    }
}
