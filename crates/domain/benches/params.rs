//! Cost of the per-run query work: rendering parameters and hashing the text.
//!
//! Run with `cargo bench -p cairn-domain --bench params`. Both happen on every
//! `POST /api/query_results`, so they must stay far below the 5 ms p50 target of a whole run.

use std::hint::black_box;
use std::time::Instant;

use cairn_domain::params::{Dialect, ParameterSpec, render};
use cairn_domain::query_hash::query_hash;
use chrono::Utc;
use serde_json::json;

/// A dashboard-style query: comments, literals, five parameters of four types.
const QUERY: &str = "-- Revenue by category for the selected period and region
SELECT category, date_trunc('day', created_at) AS day, SUM(amount) AS revenue
FROM orders o /* orders joined to customers */
JOIN customers c ON c.id = o.customer_id
WHERE o.created_at BETWEEN '{{ period.start }}' AND '{{ period.end }}'
  AND c.region IN ({{ regions }})
  AND c.name ILIKE '%{{ search }}%'
  AND o.amount >= {{ min_amount }}
GROUP BY 1, 2
ORDER BY {{ order_by }} DESC
LIMIT 1000";

fn main() {
    let specs = ParameterSpec::parse_list(&json!([
        {"name": "period", "type": "date-range"},
        {"name": "regions", "type": "enum", "enumOptions": "EU\nUS\nAPAC",
         "multiValuesOptions": {"prefix": "'", "suffix": "'", "separator": ","}},
        {"name": "search", "type": "text"},
        {"name": "min_amount", "type": "number"},
        {"name": "order_by", "type": "enum", "enumOptions": "revenue\nday"},
    ]))
    .expect("valid definitions");
    let values = json!({
        "period": "d_last_30_days", "regions": ["EU", "US"], "search": "O'Brien",
        "min_amount": 10.5, "order_by": "revenue",
    });
    let values = values.as_object().expect("an object");
    let now = Utc::now();

    let iterations = 20_000;
    let mut rendered = String::new();
    let start = Instant::now();
    for _ in 0..iterations {
        rendered =
            render(black_box(QUERY), &specs, values, Dialect::Postgres, now).expect("renders");
    }
    let per_render = start.elapsed() / iterations;
    println!(
        "render ({} bytes, 5 parameters): {:.1} us per query",
        QUERY.len(),
        per_render.as_secs_f64() * 1e6
    );

    let big = rendered.repeat(100);
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        black_box(query_hash(black_box(&big)));
    }
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "query_hash: {:.0} MB/s ({} bytes, {:.1} us per {}-byte query)",
        (big.len() * rounds) as f64 / elapsed / 1e6,
        big.len(),
        elapsed / rounds as f64 / 100.0 * 1e6,
        rendered.len()
    );
}
