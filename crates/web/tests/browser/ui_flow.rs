//! The whole journey in headless Chromium: log in, create a data source, write and run a query,
//! see rows, make a chart, add it to a dashboard, share it, open the public link logged out.
//! Screenshots of the main pages go to `docs/screenshots/`.

use crate::harness::{EMAIL, PASSWORD, TestApp, shot};
use crate::webdriver::Browser;
use cairn_http::ServerSettings;

async fn assert_no_errors(b: &Browser, page: &str) {
    b.assert_no_errors(page).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_in_query_chart_dashboard_share() {
    let app = TestApp::start(ServerSettings::default()).await;
    let db = app.sales_db().await;
    let b = Browser::start().await;

    // Log in.
    b.goto(&format!("{}/", app.base)).await;
    b.find("#email").await;
    b.screenshot(&shot("login")).await;
    b.fill("#email", EMAIL).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login").await;
    b.wait_text("main", "No queries yet").await;
    assert_no_errors(&b, "login").await;

    // Create a data source from the generated form, then test it.
    b.click("#top a[href='#/data_sources']").await;
    b.click("#new-source").await;
    b.select("#source-type", "sqlite").await;
    b.fill("#source-name", "Sales").await;
    b.fill("#opt-dbpath", &db).await;
    b.click("#save-source").await;
    b.find("#test-source").await;
    b.click("#test-source").await;
    b.wait_text("#test-result", "Connection works").await;
    b.screenshot(&shot("data-source")).await;
    assert_no_errors(&b, "data source").await;

    // Write a query; the schema browser lists the table; Ctrl+Enter runs it.
    b.goto(&format!("{}/#/queries/new", app.base)).await;
    b.wait_text(".schema", "sales").await;
    b.fill("#query-name", "Sales by month").await;
    b.fill(
        "#sql",
        "SELECT month, region, amount FROM sales ORDER BY month, region",
    )
    .await;
    b.keys("#sql", "\u{E009}\u{E007}\u{E000}").await;
    b.wait_text("#run-info", "12 rows").await;
    let table = b.text("table.data").await;
    assert!(
        table.contains("2026-03") && table.contains("north") && table.contains("160"),
        "{table}"
    );
    b.click("#save").await;
    b.wait_text("#toast", "Saved").await;
    let hash = b.eval("return location.hash").await;
    let query_id: i64 = hash
        .as_str()
        .unwrap()
        .trim_start_matches("#/queries/")
        .parse()
        .expect("saved query id in the URL");
    assert_eq!(
        app.store.query(query_id).await.unwrap().name,
        "Sales by month"
    );
    b.screenshot(&shot("query")).await;

    // A stacked bar chart grouped by region.
    b.click("[data-tab=new]").await;
    b.fill("#vis-name", "Monthly sales").await;
    b.select("#vis-chart", "column").await;
    b.select("#vis-x", "month").await;
    b.select("#vis-series", "region").await;
    b.select("#vis-stacking", "stack").await;
    b.fill("#vis-ytitle", "Amount").await;
    b.find("#vis-preview svg.chart-column").await;
    let bars = b
        .eval("return document.querySelectorAll('#vis-preview svg rect').length")
        .await;
    assert!(
        bars.as_u64().unwrap() >= 12,
        "12 bars plus legend swatches, got {bars}"
    );
    let legend = b.text("#vis-preview svg").await;
    assert!(
        legend.contains("north") && legend.contains("south") && legend.contains("Amount"),
        "{legend}"
    );
    b.click("#save-vis").await;
    b.find("[role=tab][aria-selected=true]:not([data-tab=table]):not([data-tab=new])")
        .await;
    b.screenshot(&shot("chart")).await;
    assert_no_errors(&b, "query editor").await;

    // The database's own error text on failure.
    b.fill("#sql", "SELECT * FROM no_such_table").await;
    b.click("#run").await;
    b.wait_text("#query-error", "no such table").await;

    // A dashboard with the chart and a text box; make the chart wider; share it.
    b.goto(&format!("{}/#/dashboards", app.base)).await;
    b.fill("#dashboard-name", "Sales overview").await;
    b.click("#create-dashboard").await;
    b.click("#edit-dashboard").await;
    b.click("#add-widget-btn").await;
    b.select("#widget-query", &query_id.to_string()).await;
    b.find("#widget-vis option").await;
    let vis_id = b.eval("return [...document.querySelectorAll('#widget-vis option')].find(o => o.textContent.includes('CHART')).value").await;
    b.select("#widget-vis", vis_id.as_str().unwrap()).await;
    b.click("#add-vis-widget").await;
    b.find(".widget svg.chart-column").await;
    b.click("#add-widget-btn").await;
    b.fill("#widget-text", "Sales of both regions, by month.")
        .await;
    b.click("#add-text-widget").await;
    b.wait_text("#dashboard-grid", "Sales of both regions")
        .await;
    b.click(".widget [aria-label=Wider]").await;
    b.wait_text("#dashboard-grid", "Monthly sales").await;
    let span = b
        .eval("return document.querySelector('.widget').style.gridColumn")
        .await;
    assert!(
        span.as_str().unwrap().contains("span 4"),
        "widened to 4 columns: {span}"
    );
    b.click("#edit-dashboard").await;
    b.click("#share").await;
    b.find("#public-url").await;
    let public_url = b
        .eval("return document.querySelector('#public-url').value")
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        public_url.starts_with(&format!("{}/public/dashboards/", app.base)),
        "{public_url}"
    );
    b.find(".widget svg.chart-column").await;
    b.screenshot(&shot("dashboard")).await;
    assert_no_errors(&b, "dashboard").await;

    // Admin status page.
    b.click("#top a[href='#/status']").await;
    b.wait_text("#status-counts", "Dashboards").await;
    b.screenshot(&shot("status")).await;

    // Log out; the public link still works.
    b.click("#logout").await;
    b.find("#email").await;
    let cookie = b.eval("return document.cookie").await;
    assert!(
        !cookie.as_str().unwrap().contains("cairn_csrf"),
        "logged out: {cookie}"
    );
    b.goto(&public_url).await;
    b.find(".widget svg.chart-column").await;
    b.wait_text("main", "Sales overview").await;
    b.screenshot(&shot("public-dashboard")).await;
    assert_no_errors(&b, "public dashboard").await;
    b.quit().await;
}
