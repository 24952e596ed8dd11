//! Dashboards in headless Chromium: every chart type drawn as SVG on a shared dashboard opened
//! logged out whose queries never ran; auto-refresh re-running them; widgets dragged and resized
//! with pointer events, overlaps pushed down.

use crate::harness::{TestApp, shot};
use crate::webdriver::Browser;
use cairn_http::ServerSettings;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The query `sql` on data source `ds`; returns its id.
async fn query(app: &TestApp, ds: i64, name: &str, sql: &str) -> i64 {
    let q = app
        .post(
            "/api/queries",
            json!({"data_source_id": ds, "name": name, "query": sql}),
        )
        .await;
    q["id"].as_i64().unwrap()
}

/// A visualization of query `q`; returns its id.
async fn vis(app: &TestApp, q: i64, kind: &str, name: &str, options: Value) -> i64 {
    let v = app
        .post(
            "/api/visualizations",
            json!({"query_id": q, "type": kind, "name": name, "options": options}),
        )
        .await;
    v["id"].as_i64().unwrap()
}

/// Chart options in Redash's shape: x = month, y = amount, series by region unless `series` is
/// false.
fn chart(kind: &str, stacking: Option<&str>, series: bool) -> Value {
    let mut mapping = json!({"month": "x", "amount": "y"});
    if series {
        mapping["region"] = json!("series");
    }
    json!({"globalSeriesType": kind, "columnMapping": mapping, "series": {"stacking": stacking},
           "xAxis": {"title": {"text": "Month"}}, "yAxis": [{"title": {"text": "Amount"}}],
           "legend": {"enabled": true}})
}

/// A number the page computes for widget `widget` with `script` (given the widget element).
async fn count(b: &Browser, widget: i64, script: &str) -> u64 {
    let js =
        format!("const w = document.querySelector('[data-widget=\"{widget}\"]'); return {script};");
    b.eval(&js).await.as_u64().unwrap_or_else(|| panic!("{js}"))
}

/// The retrieval time the footer of widget `widget` shows, or `None` while its result is still
/// loading. Looked up and read in one script: the grid is redrawn on every refresh, so a footer
/// found by one WebDriver call may be gone by the next.
async fn retrieved(b: &Browser, widget: i64) -> Option<String> {
    b.exec(
        "const e = document.querySelector(`[data-widget=\"${arguments[0]}\"] .widget-meta[data-retrieved]`); \
         return e ? e.dataset.retrieved : null",
        json!([widget]),
    )
    .await
    .as_str()
    .map(str::to_string)
}

/// Waits up to `limit` for widget `widget` to show a retrieval time other than `other`.
async fn wait_retrieved(b: &Browser, widget: i64, other: Option<&str>, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        if let Some(t) = retrieved(b, widget)
            .await
            .filter(|t| Some(t.as_str()) != other)
        {
            return t;
        }
        assert!(
            start.elapsed() < limit,
            "widget {widget} showed no retrieval time other than {other:?} within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_dashboard_of_never_run_queries_draws_every_chart_type_and_auto_refreshes() {
    let app = TestApp::start(ServerSettings::default()).await;
    let ds = app.sales_source().await;
    let sales = query(
        &app,
        ds,
        "Sales",
        "SELECT month, region, amount FROM sales ORDER BY month, region",
    )
    .await;
    let total = query(&app, ds, "Total", "SELECT sum(amount) AS total FROM sales").await;
    let kinds = [
        ("line", "Line", chart("line", None, true)),
        ("grouped", "Grouped bars", chart("column", None, true)),
        (
            "stacked",
            "Stacked bars",
            chart("column", Some("stack"), true),
        ),
        ("area", "Area", chart("area", Some("stack"), true)),
        ("pie", "Pie", chart("pie", None, false)),
        ("scatter", "Scatter", chart("scatter", None, true)),
    ];
    let d = app
        .post("/api/dashboards", json!({"name": "All charts"}))
        .await;
    let mut widgets = std::collections::HashMap::new();
    for (i, (key, name, options)) in kinds.into_iter().enumerate() {
        let v = vis(&app, sales, "CHART", name, options).await;
        let pos = json!({"col": (i % 2) * 3, "row": (i / 2) * 6, "sizeX": 3, "sizeY": 6});
        let w = app.post("/api/widgets", json!({"dashboard_id": d["id"], "visualization_id": v, "width": 1, "options": {"position": pos}})).await;
        widgets.insert(key, w["id"].as_i64().unwrap());
    }
    let v = vis(
        &app,
        total,
        "COUNTER",
        "Total",
        json!({"counterColName": "total", "counterLabel": "All sales"}),
    )
    .await;
    let w = app.post("/api/widgets", json!({"dashboard_id": d["id"], "visualization_id": v, "width": 1, "options": {"position": {"col": 0, "row": 18, "sizeX": 2, "sizeY": 3}}})).await;
    widgets.insert("counter", w["id"].as_i64().unwrap());
    let big = app
        .post("/api/queries", json!({"data_source_id": ds, "name": "Big months",
            "query": "SELECT sum(amount) AS total FROM sales WHERE amount >= {{ min }}",
            "options": {"parameters": [{"name": "min", "title": "Minimum", "type": "number", "value": 150}]}}))
        .await;
    let v = vis(
        &app,
        big["id"].as_i64().unwrap(),
        "COUNTER",
        "Big",
        json!({"counterColName": "total"}),
    )
    .await;
    let w = app.post("/api/widgets", json!({"dashboard_id": d["id"], "visualization_id": v, "width": 1, "options": {"position": {"col": 2, "row": 18, "sizeX": 2, "sizeY": 3}}})).await;
    widgets.insert("param", w["id"].as_i64().unwrap());
    let share = app
        .post(&format!("/api/dashboards/{}/share", d["id"]), json!({}))
        .await;
    assert!(
        app.store
            .query(sales)
            .await
            .unwrap()
            .latest_query_data_id
            .is_none(),
        "the query has never run"
    );

    // Logged out (a fresh browser): the public page runs the queries and draws every chart.
    let b = Browser::start().await;
    b.goto(share["public_url"].as_str().unwrap()).await;
    let w = |k: &str| widgets[k];
    b.find(&format!(
        "[data-widget=\"{}\"] svg.chart-scatter",
        w("scatter")
    ))
    .await;
    b.find(&format!("[data-widget=\"{}\"] .counter", w("counter")))
        .await;
    b.wait_text(&format!("[data-widget=\"{}\"]", w("counter")), "1556")
        .await;
    for key in ["line", "grouped", "stacked", "area", "pie"] {
        b.find(&format!("[data-widget=\"{}\"] svg", w(key))).await;
    }
    // Line: one path per region, a legend of both, axis titles.
    assert_eq!(
        count(
            &b,
            w("line"),
            "w.querySelectorAll('svg.chart-line g.series path').length"
        )
        .await,
        2
    );
    let line = b
        .text(&format!("[data-widget=\"{}\"] svg", w("line")))
        .await;
    for label in ["north", "south", "Month", "Amount", "2026-01"] {
        assert!(line.contains(label), "{label} in {line}");
    }
    assert_eq!(
        count(&b, w("line"), "w.querySelectorAll('g.legend-item').length").await,
        2
    );
    // Bars: 12 each; grouped bars stand side by side (12 x positions), stacked ones share 6.
    let bars = "w.querySelectorAll('g.series rect').length";
    let xs = "new Set([...w.querySelectorAll('g.series rect')].map(r => r.getAttribute('x'))).size";
    assert_eq!(count(&b, w("grouped"), bars).await, 12);
    assert_eq!(count(&b, w("grouped"), xs).await, 12);
    assert_eq!(count(&b, w("stacked"), bars).await, 12);
    assert_eq!(count(&b, w("stacked"), xs).await, 6);
    // Area: a filled path and a line per region.
    assert_eq!(
        count(
            &b,
            w("area"),
            "w.querySelectorAll('svg.chart-area g.series path').length"
        )
        .await,
        4
    );
    // Pie: one slice per month, each in the legend.
    assert_eq!(
        count(
            &b,
            w("pie"),
            "w.querySelectorAll('svg.chart-pie path').length"
        )
        .await,
        6
    );
    let pie = b.text(&format!("[data-widget=\"{}\"] svg", w("pie"))).await;
    assert!(pie.contains("2026-06"), "{pie}");
    // Scatter: a dot per row.
    assert_eq!(
        count(
            &b,
            w("scatter"),
            "w.querySelectorAll('svg.chart-scatter circle').length"
        )
        .await,
        12
    );
    let counter = b.text(&format!("[data-widget=\"{}\"]", w("counter"))).await;
    assert!(
        counter.contains("1556") && counter.contains("All sales"),
        "{counter}"
    );
    // The dashboard's parameter: its default first, then a value typed in and applied.
    b.wait_text(&format!("[data-widget=\"{}\"] .counter", w("param")), "671")
        .await;
    b.fill("#dp-min", "180").await;
    b.click("#dashboard-params button[type=submit]").await;
    b.wait_text(&format!("[data-widget=\"{}\"] .counter", w("param")), "190")
        .await;
    b.set_window_size(1280, 2000).await;
    b.screenshot(&shot("public-dashboard-charts")).await;
    b.set_window_size(1280, 900).await;
    b.assert_no_errors("public dashboard").await;

    // Logged in, auto-refresh re-runs the queries: the widgets' retrieval time moves on.
    app.log_in(&b).await;
    b.goto(&format!(
        "{}/#/dashboards/{}",
        app.base,
        d["slug"].as_str().unwrap()
    ))
    .await;
    let first = wait_retrieved(&b, w("line"), None, Duration::from_secs(20)).await;
    let results_before = app.store.query(sales).await.unwrap().latest_query_data_id;
    b.select("#auto-refresh", "10").await;
    // The grid is redrawn on refresh (footers empty until the new results arrive); wait for the
    // new one's time. RFC 3339 UTC times from one server sort as strings in time order.
    let now = wait_retrieved(&b, w("line"), Some(&first), Duration::from_secs(60)).await;
    assert!(now > first, "{now} after {first}");
    assert_ne!(
        app.store.query(sales).await.unwrap().latest_query_data_id,
        results_before,
        "the refresh ran the query again"
    );
    b.select("#auto-refresh", "0").await;
    b.assert_no_errors("dashboard auto-refresh").await;
    b.quit().await;
}

/// Widget `id`'s saved position: (col, row, sizeX, sizeY).
async fn saved(app: &TestApp, dashboard: i64, id: i64) -> (i64, i64, i64, i64) {
    let d = app
        .api(
            reqwest::Method::GET,
            &format!("/api/dashboards/{dashboard}"),
            json!(null),
        )
        .await;
    let w = d["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == id)
        .unwrap()
        .clone();
    let p = &w["options"]["position"];
    let n = |k: &str| p[k].as_i64().unwrap_or_else(|| panic!("{k} in {w}"));
    (n("col"), n("row"), n("sizeX"), n("sizeY"))
}

/// Waits until widget `id` is saved at `want`.
async fn wait_saved(app: &TestApp, dashboard: i64, id: i64, want: (i64, i64, i64, i64)) {
    let start = Instant::now();
    loop {
        let got = saved(app, dashboard, id).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "widget {id} at {got:?}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn widgets_drag_and_resize_without_overlapping() {
    let app = TestApp::start(ServerSettings::default()).await;
    let d = app.post("/api/dashboards", json!({"name": "Layout"})).await;
    let did = d["id"].as_i64().unwrap();
    let text = |t: &str, col: i64| {
        json!({"dashboard_id": did, "visualization_id": null, "text": t, "width": 1,
        "options": {"position": {"col": col, "row": 0, "sizeX": 3, "sizeY": 5}}})
    };
    let a = app.post("/api/widgets", text("Widget A", 0)).await["id"]
        .as_i64()
        .unwrap();
    let bw = app.post("/api/widgets", text("Widget B", 3)).await["id"]
        .as_i64()
        .unwrap();

    let b = Browser::start().await;
    app.log_in(&b).await;
    b.goto(&format!("{}/#/dashboards/{did}", app.base)).await;
    b.click("#edit-dashboard").await;
    b.find(&format!("[data-widget=\"{bw}\"] .drag-handle"))
        .await;
    let col_pitch = b
        .eval("const g = document.querySelector('#dashboard-grid').getBoundingClientRect(); return (g.width + 10) / 6")
        .await
        .as_f64()
        .unwrap();

    // Drag B three columns left, onto A: B takes the place, A is pushed below it.
    b.drag(
        &format!("[data-widget=\"{bw}\"] .drag-handle"),
        -(3.0 * col_pitch) as i64,
        0,
    )
    .await;
    wait_saved(&app, did, bw, (0, 0, 3, 5)).await;
    wait_saved(&app, did, a, (0, 5, 3, 5)).await;
    b.screenshot(&shot("dashboard-layout")).await;

    // Resize B two rows taller and one column wider: A moves down again, never overlapping.
    b.find(&format!("[data-widget=\"{bw}\"] .resize-handle"))
        .await;
    b.drag(
        &format!("[data-widget=\"{bw}\"] .resize-handle"),
        col_pitch as i64,
        140,
    )
    .await;
    wait_saved(&app, did, bw, (0, 0, 4, 7)).await;
    wait_saved(&app, did, a, (0, 7, 3, 5)).await;

    // The keyboard way is still there: focus A's "Move right" and press Enter.
    b.find(&format!("[data-widget=\"{a}\"] [aria-label='Move right']"))
        .await;
    b.exec(
        "document.querySelector(arguments[0]).focus()",
        json!([format!("[data-widget=\"{a}\"] [aria-label='Move right']")]),
    )
    .await;
    b.press("\u{E007}").await;
    wait_saved(&app, did, a, (1, 7, 3, 5)).await;
    b.assert_no_errors("dashboard layout").await;
    b.quit().await;
}
