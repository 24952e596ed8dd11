//! Browser tests of the web UI: a real headless Chromium driven over WebDriver, against a real
//! Cairn (store, queue, worker, HTTP server) started in-process.

mod editor;
mod harness;
mod session_api;
mod ui_flow;
mod webdriver;
