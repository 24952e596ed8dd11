//! Throughput of the result pipeline for 1M rows: encode (rows to compressed chunks), decode
//! (chunks back to rows) and decode + CSV (what a download does).
//!
//! Run with `cargo bench -p cairn-results --bench throughput` (optionally `-- <rows>`).
//! MB/s is measured against the CSV size of the result, the size a user downloads.

use std::hint::black_box;
use std::time::Instant;

use cairn_domain::result::{Column, ColumnType, Row, Value};
use cairn_results::{DsvWriter, ResultDecoder, ResultEncoder, ResultLimits, copy_result};

/// A row shaped like a typical analytics result: ids, a category, an amount, a timestamp.
fn row(i: u64) -> Row {
    const CATEGORIES: [&str; 5] = ["books", "garden", "electronics", "toys", "grocery"];
    vec![
        Value::Int(i as i64),
        Value::Int((i * 7919 % 10_007) as i64),
        Value::Text(CATEGORIES[(i % 5) as usize].to_owned()),
        Value::Float((i % 100_000) as f64 / 100.0),
        Value::Bool(i.is_multiple_of(3)),
        Value::Text(format!(
            "2024-{:02}-{:02}T{:02}:{:02}:00",
            i % 12 + 1,
            i % 28 + 1,
            i % 24,
            i % 60
        )),
    ]
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("order_id", Some(ColumnType::Integer)),
        Column::new("customer_id", Some(ColumnType::Integer)),
        Column::new("category", Some(ColumnType::String)),
        Column::new("amount", Some(ColumnType::Float)),
        Column::new("paid", Some(ColumnType::Boolean)),
        Column::new("created_at", Some(ColumnType::Datetime)),
    ]
}

fn main() {
    let rows: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let input: Vec<Row> = (0..rows).map(row).collect();

    let start = Instant::now();
    let mut encoder = ResultEncoder::new(columns(), ResultLimits::default());
    let mut chunks = Vec::new();
    for r in &input {
        if let Some(chunk) = encoder.push_row(r).expect("encode") {
            chunks.push(chunk);
        }
    }
    let (last, summary) = encoder.finish();
    chunks.push(last);
    let encode = start.elapsed();
    drop(input);
    let stored = chunks.concat();

    let start = Instant::now();
    let mut decoder = ResultDecoder::new(stored.as_slice()).expect("decode");
    let mut n = 0;
    while let Some(chunk) = decoder.next_chunk().expect("decode") {
        n += black_box(chunk).len();
    }
    let decode = start.elapsed();
    assert_eq!(n as u64, rows);

    let start = Instant::now();
    let mut decoder = ResultDecoder::new(stored.as_slice()).expect("decode");
    let mut row = Vec::new();
    let mut n = 0u64;
    while decoder.read_row(&mut row).expect("decode") {
        black_box(&row);
        n += 1;
    }
    let read_row = start.elapsed();
    assert_eq!(n, rows);

    let start = Instant::now();
    let mut decoder = ResultDecoder::new(stored.as_slice()).expect("decode");
    let mut csv = DsvWriter::csv(Vec::with_capacity(stored.len() * 4));
    copy_result(&mut decoder, &mut csv).expect("csv");
    let csv_bytes = csv.into_inner().expect("csv").len();
    let decode_csv = start.elapsed();

    let mb = csv_bytes as f64 / 1e6;
    let rate = |d: std::time::Duration| mb / d.as_secs_f64();
    println!("rows: {rows}, chunks: {}", summary.chunks);
    println!(
        "sizes: csv {:.1} MB, encoded {:.1} MB, stored (lz4) {:.1} MB",
        mb,
        summary.raw_bytes as f64 / 1e6,
        summary.stored_bytes as f64 / 1e6
    );
    println!(
        "encode:       {:>8.1} ms  {:>7.1} MB/s (of csv size)",
        encode.as_secs_f64() * 1e3,
        rate(encode)
    );
    println!(
        "decode:       {:>8.1} ms  {:>7.1} MB/s (next_chunk: owned rows)",
        decode.as_secs_f64() * 1e3,
        rate(decode)
    );
    println!(
        "decode:       {:>8.1} ms  {:>7.1} MB/s (read_row: reused row)",
        read_row.as_secs_f64() * 1e3,
        rate(read_row)
    );
    println!(
        "decode + csv: {:>8.1} ms  {:>7.1} MB/s",
        decode_csv.as_secs_f64() * 1e3,
        rate(decode_csv)
    );
}
