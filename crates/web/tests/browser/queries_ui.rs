//! The query pages in headless Chromium: logging in with the keyboard only; a weekly schedule
//! with a time of day and an end date; a 200,000-row result paged from the server, never
//! loaded whole, with its chart capped and saying so.

use crate::harness::{EMAIL, PASSWORD, TestApp, shot};
use crate::webdriver::Browser;
use cairn_http::ServerSettings;
use serde_json::{Value, json};

const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyboard_login_and_a_weekly_schedule() {
    let app = TestApp::start(ServerSettings::default()).await;
    let ds = app.sales_source().await;
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "name": "Weekly", "query": "SELECT * FROM sales"}),
        )
        .await;
    let b = Browser::start().await;

    // The login form takes the focus; Tab goes email -> password -> Log in; Enter submits.
    b.goto(&format!("{}/", app.base)).await;
    b.find("#email").await;
    assert_eq!(b.focused().await, "email");
    b.press(EMAIL).await;
    b.press(TAB).await;
    assert_eq!(b.focused().await, "password");
    b.press(PASSWORD).await;
    b.press(TAB).await;
    assert_eq!(b.focused().await, "login");
    b.press(ENTER).await;
    b.find("#top #logout").await;
    // The queries page: Tab reaches the query's link (past New query, search and tags); Enter
    // opens it.
    b.find("#query-list").await;
    let mut steps = 0;
    while b.focused().await != "Weekly" {
        b.press(TAB).await;
        steps += 1;
        assert!(
            steps < 10,
            "the query link is not reachable with Tab: at {}",
            b.focused().await
        );
    }
    b.press(ENTER).await;
    b.find("#schedule").await;
    b.assert_no_errors("keyboard login").await;

    // Weekly, on Wednesdays at 06:30 UTC, until 1 March 2027.
    let day_hidden = b
        .eval("return document.querySelector('#schedule-day').closest('span').hidden")
        .await;
    assert_eq!(
        day_hidden,
        json!(true),
        "no day of week for a schedule of Never"
    );
    b.select("#schedule", "604800").await;
    b.select("#schedule-day", "Wednesday").await;
    for (css, value) in [
        ("#schedule-time", "06:30"),
        ("#schedule-until", "2027-03-01"),
    ] {
        b.exec(
            "const e = document.querySelector(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event('input', {bubbles: true}));",
            json!([css, value]),
        )
        .await;
    }
    b.wait_text(".schema", "sales").await;
    b.screenshot(&shot("schedule")).await;
    b.click("#save").await;
    b.wait_text("#toast", "Saved").await;
    let saved = app
        .api(
            reqwest::Method::GET,
            &format!("/api/queries/{}", q["id"]),
            Value::Null,
        )
        .await;
    assert_eq!(
        saved["schedule"],
        json!({"interval": 604800, "time": "06:30", "day_of_week": "Wednesday", "until": "2027-03-01"}),
    );
    // The list says it in words.
    b.goto(&format!("{}/#/queries", app.base)).await;
    b.wait_text(
        "#query-list",
        "weekly on Wednesday at 06:30 UTC until 2027-03-01",
    )
    .await;
    b.assert_no_errors("schedule").await;
    b.quit().await;
}

/// The first cell of every row the results table shows.
async fn first_column(b: &Browser) -> Vec<String> {
    let v = b
        .eval("return [...document.querySelectorAll('table.data tbody tr')].map(r => r.cells[0].textContent)")
        .await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

/// The rows requests the page made: (offset, limit, rows received).
async fn row_requests(b: &Browser) -> Vec<(u64, u64, u64)> {
    let v = b.eval("return window.__cairnRowRequests").await;
    v.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["offset"].as_u64().unwrap(),
                r["limit"].as_u64().unwrap(),
                r["rows"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_result_is_paged_from_the_server() {
    let app = TestApp::start(ServerSettings::default()).await;
    let ds = app.sales_source().await;
    let b = Browser::start().await;
    app.log_in(&b).await;
    b.goto(&format!("{}/#/queries/new", app.base)).await;
    b.find(&format!("#data-source option[value=\"{ds}\"]"))
        .await;
    b.fill(
        "#sql",
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 200000) SELECT x, x % 100 AS y, 'row ' || x AS label FROM s",
    )
    .await;
    b.click("#run").await;
    b.wait_text("#run-info", "200000 rows").await;
    b.wait_text("#page-info", "Rows 1–100 of 200000").await;
    assert_eq!(
        first_column(&b).await,
        (1..=100).map(|n| n.to_string()).collect::<Vec<_>>()
    );

    // The last page, from the server.
    b.click("[data-page=last]").await;
    b.wait_text(
        "#page-info",
        "Rows 199901–200000 of 200000 · page 2000 of 2000",
    )
    .await;
    assert_eq!(
        first_column(&b).await,
        (199_901..=200_000)
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
    );
    b.screenshot(&shot("large-result")).await;
    b.click("[data-page=previous]").await;
    b.wait_text("#page-info", "Rows 199801–199900").await;

    // Only pages were fetched: three requests of 100 rows, nothing like the whole result.
    let requests = row_requests(&b).await;
    let fetched: u64 = requests.iter().map(|r| r.2).sum();
    assert!(requests.iter().all(|r| r.1 <= 100), "{requests:?}");
    assert_eq!(fetched, 300, "{requests:?}");
    assert!(requests.contains(&(199_900, 100, 100)), "{requests:?}");

    // A chart of it draws the first 5,000 rows and says so.
    b.fill("#query-name", "Big").await;
    b.click("#save").await;
    b.wait_text("#toast", "Saved").await;
    b.click("[data-tab=new]").await;
    b.select("#vis-chart", "line").await;
    b.select("#vis-x", "x").await;
    b.find("#vis-preview svg.chart-line").await;
    b.wait_text("#vis-preview", "Chart shows first 5000 rows of 200000")
        .await;
    let requests = row_requests(&b).await;
    assert!(requests.iter().all(|r| r.1 <= 5000), "{requests:?}");
    let fetched: u64 = requests.iter().map(|r| r.2).sum();
    assert!(
        fetched <= 5500,
        "fetched {fetched} rows of 200000: {requests:?}"
    );
    b.assert_no_errors("large result").await;
    b.quit().await;
}
