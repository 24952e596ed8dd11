//! Whole results through encoder, decoder and every download writer, plus damaged input.

use std::io::Read;

use cairn_domain::result::{Column, ColumnType, Row, Value};
use cairn_results::{
    ChunkSize, DecodeError, DsvWriter, JsonResultMeta, JsonWriter, ResultDecoder, ResultEncoder,
    ResultLimits, ResultSink, XlsxWriter, copy_result,
};

const ROWS: usize = 100_000;

fn columns() -> Vec<Column> {
    vec![
        Column::new("id", Some(ColumnType::Integer)),
        Column::new("amount", Some(ColumnType::Float)),
        Column::new("paid", Some(ColumnType::Boolean)),
        Column::new("note", Some(ColumnType::String)),
        Column::new("day", None),
    ]
}

/// A deterministic row with every kind of value, including awkward text.
fn row(i: usize) -> Row {
    let note = match i % 5 {
        0 => Value::Null,
        1 => Value::Text(format!("plain {i}")),
        2 => Value::Text(format!("comma, \"quote\" {i}")),
        3 => Value::Text(format!("tab\tand\nnewline é {i}")),
        _ => Value::Text(String::new()),
    };
    vec![
        Value::Int(i as i64 - 50_000),
        if i.is_multiple_of(7) {
            Value::Null
        } else {
            Value::Float(i as f64 / 4.0)
        },
        Value::Bool(i.is_multiple_of(2)),
        note,
        Value::Text(format!("2024-{:02}-{:02}", i % 12 + 1, i % 28 + 1)),
    ]
}

fn encode(rows: usize, chunk_size: ChunkSize) -> (Vec<Vec<u8>>, cairn_results::ResultSummary) {
    let mut encoder =
        ResultEncoder::with_chunk_size(columns(), ResultLimits::default(), chunk_size);
    let mut chunks = Vec::new();
    for i in 0..rows {
        if let Some(chunk) = encoder.push_row(&row(i)).unwrap() {
            chunks.push(chunk);
        }
    }
    let (last, summary) = encoder.finish();
    chunks.push(last);
    (chunks, summary)
}

fn stored() -> (Vec<u8>, usize) {
    let (chunks, summary) = encode(ROWS, ChunkSize::default());
    assert_eq!(summary.rows, ROWS as u64);
    assert_eq!(summary.chunks as usize, chunks.len());
    assert_eq!(
        summary.stored_bytes,
        chunks.iter().map(|c| c.len() as u64).sum::<u64>()
    );
    assert!(
        summary.stored_bytes < summary.raw_bytes,
        "chunks are compressed"
    );
    let n = chunks.len();
    (chunks.concat(), n)
}

#[test]
fn encoder_to_decoder_round_trips_100k_rows_chunk_by_chunk() {
    let (bytes, chunks) = stored();
    assert!(chunks > 2, "100k rows span several chunks, got {chunks}");
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    assert_eq!(
        decoder.columns()[4].kind,
        Some(ColumnType::Date),
        "inferred from the data"
    );
    assert_eq!(decoder.columns()[0].name, "id");
    let mut i = 0;
    let mut largest_chunk = 0;
    while let Some(rows) = decoder.next_chunk().unwrap() {
        largest_chunk = largest_chunk.max(rows.len());
        for r in rows {
            assert_eq!(r, row(i), "row {i}");
            i += 1;
        }
    }
    assert_eq!(i, ROWS);
    assert!(largest_chunk < ROWS, "rows come back a chunk at a time");
    assert!(decoder.next_chunk().unwrap().is_none());
}

#[test]
fn row_iterator_yields_every_row() {
    let (chunks, _) = encode(
        1234,
        ChunkSize {
            max_bytes: 1 << 20,
            max_rows: 100,
        },
    );
    let bytes = chunks.concat();
    let rows = ResultDecoder::new(bytes.as_slice()).unwrap().into_rows();
    let all: Vec<Row> = rows.map(Result::unwrap).collect();
    assert_eq!(all.len(), 1234);
    assert_eq!(all[1233], row(1233));
}

#[test]
fn empty_results_keep_their_columns() {
    let (chunks, summary) = encode(0, ChunkSize::default());
    assert_eq!(chunks.len(), 1);
    assert_eq!(summary.rows, 0);
    let mut decoder = ResultDecoder::new(chunks[0].as_slice()).unwrap();
    assert_eq!(decoder.columns().len(), 5);
    assert_eq!(decoder.columns()[4].kind, None);
    assert!(decoder.next_chunk().unwrap().is_none());
}

#[test]
fn csv_download_of_100k_rows_parses_back() {
    let (bytes, _) = stored();
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    let mut sink = DsvWriter::csv(Vec::new());
    assert_eq!(copy_result(&mut decoder, &mut sink).unwrap(), ROWS as u64);
    let out = sink.into_inner().unwrap();
    let mut reader = csv::ReaderBuilder::new().from_reader(out.as_slice());
    assert_eq!(
        reader.headers().unwrap(),
        vec!["id", "amount", "paid", "note", "day"]
    );
    let mut n = 0;
    for (i, record) in reader.records().enumerate() {
        let record = record.unwrap();
        let expected = row(i);
        assert_eq!(record[0], (i as i64 - 50_000).to_string());
        match &expected[1] {
            Value::Null => assert_eq!(&record[1], ""),
            Value::Float(f) => assert_eq!(record[1].parse::<f64>().unwrap(), *f),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(&record[2], if i % 2 == 0 { "true" } else { "false" });
        match &expected[3] {
            Value::Text(s) => assert_eq!(&record[3], s),
            _ => assert_eq!(&record[3], ""),
        }
        n += 1;
    }
    assert_eq!(n, ROWS);
    assert!(out.starts_with(b"id,amount,paid,note,day\r\n-50000,,true,,2024-01-01\r\n-49999,0.25,false,plain 1,2024-02-02\r\n"));
}

#[test]
fn tsv_download_uses_tabs_and_quotes_fields_with_tabs() {
    let (chunks, _) = encode(4, ChunkSize::default());
    let bytes = chunks.concat();
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    let mut sink = DsvWriter::tsv(Vec::new());
    copy_result(&mut decoder, &mut sink).unwrap();
    let text = String::from_utf8(sink.into_inner().unwrap()).unwrap();
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(lines[0], "id\tamount\tpaid\tnote\tday");
    assert_eq!(lines[2], "-49999\t0.25\tfalse\tplain 1\t2024-02-02");
    assert!(text.contains("\"tab\tand\nnewline é 3\""));
}

fn meta() -> JsonResultMeta {
    JsonResultMeta {
        id: 9,
        query_hash: "abc".into(),
        query: "select \"x\"".into(),
        data_source_id: 2,
        runtime: 0.25,
        retrieved_at: "2026-11-22T03:00:00+00:00".into(),
    }
}

#[test]
fn json_download_of_100k_rows_has_redash_shape() {
    let (bytes, _) = stored();
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    let mut sink = JsonWriter::new(Vec::new(), meta());
    copy_result(&mut decoder, &mut sink).unwrap();
    let out = sink.into_inner().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let qr = &doc["query_result"];
    assert_eq!(qr["id"], 9);
    assert_eq!(qr["query"], "select \"x\"");
    assert_eq!(qr["query_hash"], "abc");
    assert_eq!(qr["data_source_id"], 2);
    assert_eq!(qr["runtime"], 0.25);
    assert_eq!(qr["retrieved_at"], "2026-11-22T03:00:00+00:00");
    assert_eq!(
        qr["data"]["columns"][4],
        serde_json::json!({"name":"day","friendly_name":"day","type":"date"})
    );
    let rows = qr["data"]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), ROWS);
    assert_eq!(
        rows[3],
        serde_json::json!({"id": -49997, "amount": 0.75, "paid": false, "note": "tab\tand\nnewline é 3", "day": "2024-04-04"})
    );
    assert_eq!(rows[0]["note"], serde_json::Value::Null);
}

#[test]
fn json_writes_non_finite_floats_as_null_and_handles_no_rows() {
    let mut sink = JsonWriter::new(Vec::new(), meta());
    sink.begin(&[Column::new("f", Some(ColumnType::Float))])
        .unwrap();
    sink.write_row(&[Value::Float(f64::NAN)]).unwrap();
    sink.finish().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&sink.into_inner().unwrap()).unwrap();
    assert_eq!(
        doc["query_result"]["data"]["rows"],
        serde_json::json!([{"f": null}])
    );

    let mut sink = JsonWriter::new(Vec::new(), meta());
    sink.begin(&[]).unwrap();
    sink.finish().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&sink.into_inner().unwrap()).unwrap();
    assert_eq!(
        doc["query_result"]["data"],
        serde_json::json!({"columns": [], "rows": []})
    );
}

#[test]
fn xlsx_download_of_100k_rows_is_a_workbook_with_every_row() {
    let (bytes, _) = stored();
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    let mut sink = XlsxWriter::new(Vec::new()).unwrap();
    copy_result(&mut decoder, &mut sink).unwrap();
    let out = sink.into_inner().unwrap();
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(out)).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml")
        .unwrap()
        .read_to_string(&mut sheet)
        .unwrap();
    assert_eq!(
        sheet.matches("<row ").count(),
        ROWS + 1,
        "header plus every row"
    );
    assert!(sheet.contains("plain 1"));
    assert!(sheet.contains("comma, &quot;quote&quot; 2") || sheet.contains("comma, \"quote\" 2"));
}

#[test]
fn sinks_reject_calls_out_of_order_and_wrong_widths() {
    let mut sink = DsvWriter::csv(Vec::new());
    assert!(sink.write_row(&[]).is_err());
    sink.begin(&columns()).unwrap();
    assert!(sink.begin(&columns()).is_err());
    let err = sink.write_row(&[Value::Null]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "row has 1 values but the result has 5 columns"
    );
    sink.finish().unwrap();
    assert!(sink.finish().is_err());
}

#[test]
fn foreign_and_damaged_input_is_an_error_not_a_panic() {
    let (chunks, _) = encode(
        5000,
        ChunkSize {
            max_bytes: 1 << 20,
            max_rows: 1000,
        },
    );
    let good = chunks.concat();

    assert!(matches!(
        ResultDecoder::new(&b"{\"columns\":[]}"[..]),
        Err(DecodeError::BadMagic)
    ));
    assert!(matches!(
        ResultDecoder::new(&b"CAIR"[..]),
        Err(DecodeError::Truncated)
    ));
    let mut future = good.clone();
    future[8] = 99;
    assert!(matches!(
        ResultDecoder::new(future.as_slice()),
        Err(DecodeError::UnsupportedVersion(99))
    ));

    let read_all = |bytes: &[u8]| -> Result<u64, DecodeError> {
        let mut d = ResultDecoder::new(bytes)?;
        while d.next_chunk()?.is_some() {}
        Ok(d.rows_read())
    };
    assert_eq!(read_all(&good).unwrap(), 5000);
    // Dropping the last chunk (with the end frame) or cutting anywhere is detected.
    let without_last: Vec<u8> = chunks[..chunks.len() - 1].concat();
    assert!(matches!(
        read_all(&without_last),
        Err(DecodeError::Truncated)
    ));
    for cut in [11, 40, good.len() / 2, good.len() - 1] {
        assert!(read_all(&good[..cut]).is_err(), "cut at {cut}");
    }
    // Flipping any single byte is detected (by checksum, lengths or structure).
    let step = (good.len() / 300).max(1);
    for at in (0..good.len()).step_by(step) {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        assert!(read_all(&bad).is_err(), "flip at {at} went unnoticed");
    }
    // Anything after the end marker is never read.
    let mut decoder = ResultDecoder::new(good.as_slice()).unwrap();
    while decoder.next_chunk().unwrap().is_some() {}
    assert!(decoder.next_chunk().unwrap().is_none());
}

#[test]
fn chunks_stay_near_the_configured_size() {
    let size = ChunkSize {
        max_bytes: 64 * 1024,
        max_rows: u32::MAX,
    };
    let (chunks, summary) = encode(20_000, size);
    // Each chunk but the last closes as soon as it reaches 64 KiB of encoded rows.
    let full = summary.raw_bytes / (64 * 1024);
    assert!(full >= 5, "{full}");
    assert!(
        (full..=full + 1).contains(&(chunks.len() as u64)),
        "{} chunks for {} bytes",
        chunks.len(),
        summary.raw_bytes
    );
}

#[test]
fn read_row_and_next_chunk_can_be_mixed() {
    let (chunks, _) = encode(
        2500,
        ChunkSize {
            max_bytes: 1 << 20,
            max_rows: 1000,
        },
    );
    let bytes = chunks.concat();
    let mut decoder = ResultDecoder::new(bytes.as_slice()).unwrap();
    let mut row = Vec::new();
    for i in 0..10 {
        assert!(decoder.read_row(&mut row).unwrap());
        assert_eq!(row, self::row(i));
    }
    let rest_of_first = decoder.next_chunk().unwrap().unwrap();
    assert_eq!(rest_of_first.len(), 990);
    assert_eq!(rest_of_first[0], self::row(10));
    let mut n = 1000;
    while decoder.read_row(&mut row).unwrap() {
        assert_eq!(row, self::row(n));
        n += 1;
    }
    assert_eq!(n, 2500);
    assert!(decoder.next_chunk().unwrap().is_none());
}
