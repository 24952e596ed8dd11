//! Backup and restore: a PostgreSQL store dumped with `pg_dump` and restored with `pg_restore`
//! into a fresh database comes back whole, encrypted data source options included, when opened
//! with the same secret key.

use std::path::Path;
use std::process::Command;

use cairn_domain::model::{Dashboard, Query, Widget};
use cairn_store::{
    ListFilter, NewDashboard, NewResult, NewVisualization, NewWidget, ResultSummary, Store,
};
use cairn_testkit::postgres::PgServer;
use futures::StreamExt;
use serde_json::json;

use crate::harness::{KEY, TestDb};
use crate::queries::new_query;

/// Runs one PostgreSQL client tool against the shared test server.
fn pg_tool(name: &str, args: &[&str]) {
    let pg = PgServer::shared();
    let out = Command::new(pg.tool(name))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &pg.port().to_string(),
            "-U",
            "postgres",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        out.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn database_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

/// Everything the test compares, read through the store.
#[derive(Debug, PartialEq)]
struct Snapshot {
    queries: Vec<Query>,
    options: serde_json::Value,
    chunks: Vec<Vec<u8>>,
    dashboards: Vec<Dashboard>,
    widgets: Vec<Widget>,
    users: usize,
}

async fn snapshot(store: &Store, ds: i64, result: i64, dashboard: i64) -> Snapshot {
    let chunks = store
        .result_chunks(result)
        .await
        .unwrap()
        .map(|c| c.unwrap())
        .collect()
        .await;
    Snapshot {
        queries: store
            .list_queries(&ListFilter::default())
            .await
            .unwrap()
            .items,
        options: store.data_source(ds).await.unwrap().options,
        chunks,
        dashboards: store
            .list_dashboards(&ListFilter::default())
            .await
            .unwrap()
            .items,
        widgets: store.widgets_for_dashboard(dashboard).await.unwrap(),
        users: store.user_count().await.unwrap() as usize,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dump_restores_into_a_working_store() {
    let db = TestDb::postgres().await;
    let s = &db.store;
    let user = db.user("admin").await;
    db.user("analyst").await;
    let ds = s
        .create_data_source(&cairn_store::NewDataSource {
            name: "Warehouse".into(),
            kind: "pg".into(),
            options: json!({"host": "db", "password": "s3cret"}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await
        .unwrap();
    let q = s
        .create_query(&new_query("Revenue", "SELECT 42", ds.id, user.id))
        .await
        .unwrap();
    s.create_query(&new_query("Churn", "SELECT 7", ds.id, user.id))
        .await
        .unwrap();
    let result = s
        .begin_result(&NewResult {
            data_source_id: ds.id,
            query_hash: q.query_hash.clone(),
            query: q.query.clone(),
        })
        .await
        .unwrap();
    for seq in 0..3 {
        s.append_chunk(result, seq, format!("rows {seq}").as_bytes())
            .await
            .unwrap();
    }
    s.finish_result(
        result,
        &ResultSummary {
            runtime: 0.5,
            row_count: 3,
            columns: vec![],
        },
    )
    .await
    .unwrap();
    let viz = s
        .create_visualization(&NewVisualization {
            query_id: q.id,
            kind: "CHART".into(),
            name: "Trend".into(),
            description: None,
            options: json!({"series": "x"}),
        })
        .await
        .unwrap();
    let dashboard = s
        .create_dashboard(&NewDashboard {
            name: "Board".into(),
            user_id: user.id,
        })
        .await
        .unwrap();
    s.create_widget(&NewWidget {
        dashboard_id: dashboard.id,
        visualization_id: Some(viz.id),
        text: String::new(),
        width: 1,
        options: json!({"position": {"col": 0}}),
    })
    .await
    .unwrap();
    let before = snapshot(s, ds.id, result, dashboard.id).await;
    assert_eq!(before.options["password"], "s3cret");
    assert_eq!(before.chunks.len(), 3);

    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("cairn.dump");
    let dump = dump.to_str().unwrap();
    pg_tool(
        "pg_dump",
        &["-Fc", "-f", dump, "-d", database_name(&db.url)],
    );
    assert!(Path::new(dump).metadata().unwrap().len() > 0);
    let restored_url = PgServer::shared().fresh_database("restored");
    pg_tool(
        "pg_restore",
        &[
            "--exit-on-error",
            "--no-owner",
            "-d",
            database_name(&restored_url),
            dump,
        ],
    );

    let restored = Store::connect(&restored_url, KEY).await.unwrap();
    restored.require_current_schema().await.unwrap();
    let after = snapshot(&restored, ds.id, result, dashboard.id).await;
    assert_eq!(after, before);
    assert_eq!(
        restored.query(q.id).await.unwrap().latest_query_data_id,
        Some(result)
    );
    // Identity sequences came along: new rows do not collide with restored ones.
    let next = restored
        .create_query(&new_query("After restore", "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    assert!(next.id > q.id);
    // The same dump with another key restores rows but not the secrets.
    let wrong_key = Store::connect(&restored_url, [0; 32]).await.unwrap();
    assert!(matches!(
        wrong_key.data_source(ds.id).await,
        Err(cairn_store::StoreError::Decrypt(_))
    ));
}
