//! Browser tests of the web UI: a real headless Chromium driven over WebDriver, against a real
//! Cairn (store, queue, worker, HTTP server) started in-process.

mod dashboards_ui;
mod editor;
mod harness;
mod queries_ui;
mod session_api;
mod ui_flow;
mod webdriver;
