//! Measures how fast the store writes and streams result chunks.
//!
//! ```text
//! cargo run --release -p cairn-store --example chunk_throughput -- [DATABASE_URL] [MIB] [CHUNK_KIB]
//! ```
//! Without a URL it uses a SQLite file in a temporary directory; the URL `pg` starts a throw-away
//! PostgreSQL server (`cairn-testkit`) and uses it. Prints MB/s for writing
//! (`append_chunk` one chunk per statement, then `finish_result`) and for reading the chunks
//! back through `result_chunks`.

use std::time::Instant;

use cairn_store::{NewDataSource, NewResult, ResultSummary, Store};
use futures::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = tempfile::tempdir()?;
    let mut _server = None;
    let url = match args.first().map(String::as_str) {
        Some("pg") => {
            let server = cairn_testkit::postgres::PgServer::start();
            let url = server.create_database("bench");
            _server = Some(server);
            url
        }
        Some(url) => url.to_string(),
        None => format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        ),
    };
    let mib: usize = args.get(1).map(|s| s.parse()).transpose()?.unwrap_or(256);
    let chunk_kib: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(256);

    let store = Store::open(&url, [1; 32]).await?;
    let ds = store
        .create_data_source(&NewDataSource {
            name: format!("bench-{}", std::process::id()),
            kind: "sqlite".into(),
            options: serde_json::json!({}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await?;
    let chunk: Vec<u8> = (0..chunk_kib * 1024).map(|i| (i % 251) as u8).collect();
    let chunks = (mib * 1024 / chunk_kib).max(1);
    let total_mb = (chunks * chunk.len()) as f64 / 1e6;

    let start = Instant::now();
    let id = store
        .begin_result(&NewResult {
            data_source_id: ds.id,
            query_hash: "bench".into(),
            query: "bench".into(),
        })
        .await?;
    for seq in 0..chunks {
        store.append_chunk(id, seq as i64, &chunk).await?;
    }
    store
        .finish_result(
            id,
            &ResultSummary {
                runtime: 0.0,
                row_count: 0,
                columns: vec![],
            },
        )
        .await?;
    let write = start.elapsed();

    let start = Instant::now();
    let mut stream = store.result_chunks(id).await?;
    let mut read = 0usize;
    while let Some(bytes) = stream.next().await {
        read += bytes?.len();
    }
    let read_time = start.elapsed();
    assert_eq!(read, chunks * chunk.len());

    println!(
        "{:?}: {chunks} chunks of {chunk_kib} KiB ({total_mb:.0} MB): write {:.0} MB/s, read {:.0} MB/s",
        store.backend(),
        total_mb / write.as_secs_f64(),
        total_mb / read_time.as_secs_f64()
    );
    store.delete_data_source(ds.id).await?;
    Ok(())
}
