//! The query editor's job controls and query actions in headless Chromium: a long query shows
//! its running state and is cancelled; a query with a parameter runs with the input's value;
//! schedule, fork and archive reach the store.

use crate::harness::{EMAIL, PASSWORD, TestApp};
use crate::webdriver::Browser;
use cairn_http::ServerSettings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_parameters_schedule_fork_archive() {
    let app = TestApp::start(ServerSettings::default()).await;
    let db = app.sales_db().await;
    let b = Browser::start().await;
    b.goto(&format!("{}/", app.base)).await;
    b.fill("#email", EMAIL).await;
    b.fill("#password", PASSWORD).await;
    b.click("#login").await;
    b.find("#new-query").await;
    b.goto(&format!("{}/#/data_sources/new", app.base)).await;
    b.select("#source-type", "sqlite").await;
    b.fill("#source-name", "Sales").await;
    b.fill("#opt-dbpath", &db).await;
    b.click("#save-source").await;
    b.find("#test-source").await;

    // A query that runs for a long time: the state shows it running, Cancel stops it.
    b.goto(&format!("{}/#/queries/new", app.base)).await;
    b.fill(
        "#sql",
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c",
    )
    .await;
    b.click("#run").await;
    b.wait_text("#job-state", "Running").await;
    b.click("#cancel").await;
    b.wait_text("#query-error", "ancel").await;

    // A parameter gets an input; the run uses its value. Saving is needed first.
    b.fill("#query-name", "By region").await;
    b.fill(
        "#sql",
        "SELECT month, amount FROM sales WHERE region = {{ region }} ORDER BY month",
    )
    .await;
    b.fill("[data-param=region]", "south").await;
    b.select("#schedule", "3600").await;
    b.click("#save").await;
    b.wait_text("#toast", "Saved").await;
    b.click("#run").await;
    b.wait_text("#run-info", "6 rows").await;
    let table = b.text("table.data").await;
    assert!(
        table.contains("95") && !table.contains("135"),
        "only south rows: {table}"
    );
    let id: i64 = b
        .eval("return location.hash")
        .await
        .as_str()
        .unwrap()
        .trim_start_matches("#/queries/")
        .parse()
        .unwrap();
    let q = app.store.query(id).await.unwrap();
    assert_eq!(
        q.schedule.as_ref().and_then(|s| s.interval),
        Some(3600),
        "{:?}",
        q.schedule
    );

    // Fork, then archive the fork.
    b.click("#fork").await;
    let start = std::time::Instant::now();
    let fork_id = loop {
        let h = b.eval("return location.hash").await;
        let n: i64 = h
            .as_str()
            .unwrap()
            .trim_start_matches("#/queries/")
            .parse()
            .unwrap_or(id);
        if n != id {
            break n;
        }
        assert!(start.elapsed().as_secs() < 20, "fork did not open");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    b.find("#archive").await;
    b.eval("window.confirm = () => true").await;
    b.click("#archive").await;
    b.find("#query-list").await;
    assert!(app.store.query(fork_id).await.unwrap().is_archived);
    assert!(!app.store.query(id).await.unwrap().is_archived);
    // A dashboard shows the query's table; its parameter input re-runs the widget.
    b.goto(&format!("{}/#/dashboards", app.base)).await;
    b.fill("#dashboard-name", "Regions").await;
    b.click("#create-dashboard").await;
    b.click("#edit-dashboard").await;
    b.click("#add-widget-btn").await;
    b.select("#widget-query", &id.to_string()).await;
    b.find("#widget-vis option").await;
    b.click("#add-vis-widget").await;
    b.wait_text(".widget table.data", "95").await;
    b.fill("#dp-region", "north").await;
    b.click("#dashboard-params button[type=submit]").await;
    b.wait_text(".widget table.data", "135").await;
    let table = b.text(".widget table.data").await;
    assert!(
        !table.contains("95"),
        "north rows only after applying the parameter: {table}"
    );
    let errors = b.errors().await;
    assert!(errors.is_empty(), "console errors: {errors:#?}");
    b.quit().await;
}
