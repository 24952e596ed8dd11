//! The demo database `cairn up` creates: a small shop in SQLite, with customers, products,
//! orders and web events spread over two years, so a newcomer has something real to query.
//!
//! The data is generated from a fixed seed by a tiny built-in generator (SplitMix64), so every
//! install gets the same rows and docs and tests can rely on them. It is written as batched
//! multi-row INSERTs in one transaction, which takes well under a second.

use std::fmt::Write as _;
use std::path::Path;

use chrono::{Duration, NaiveDate};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection as _, SqliteConnection};

use crate::error::SourceError;

/// Row counts of the demo tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoSummary {
    /// Rows in `customers`.
    pub customers: u32,
    /// Rows in `products`.
    pub products: u32,
    /// Rows in `orders`.
    pub orders: u32,
    /// Rows in `events`.
    pub events: u32,
}

const CUSTOMERS: u32 = 2_000;
const PRODUCTS: u32 = 120;
const ORDERS: u32 = 20_000;
const EVENTS: u32 = 30_000;
const BATCH: u32 = 500;
const SEED: u64 = 0x00ca_1a2b_3c4d_5e6f;
/// Days covered by the data, from [`first_day`].
const DAYS: i64 = 730;

const SCHEMA: &str = "
CREATE TABLE customers (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT NOT NULL,
    country TEXT NOT NULL,
    segment TEXT NOT NULL,
    signed_up_on DATE NOT NULL
);
CREATE TABLE products (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    category TEXT NOT NULL,
    price REAL NOT NULL
);
CREATE TABLE orders (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER NOT NULL REFERENCES customers(id),
    product_id INTEGER NOT NULL REFERENCES products(id),
    quantity INTEGER NOT NULL,
    amount REAL NOT NULL,
    status TEXT NOT NULL,
    is_gift BOOLEAN NOT NULL,
    ordered_at DATETIME NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    customer_id INTEGER REFERENCES customers(id),
    event_type TEXT NOT NULL,
    device TEXT NOT NULL,
    occurred_at DATETIME NOT NULL
);
CREATE INDEX orders_ordered_at ON orders(ordered_at);
CREATE INDEX events_occurred_at ON events(occurred_at);
";

const FIRST_NAMES: &[&str] = &[
    "Ada", "Ben", "Chloe", "Diego", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kara",
    "Liam", "Maya", "Nils", "Olga", "Priya", "Quinn", "Rosa", "Sami", "Tara", "Umar", "Vera",
    "Wen", "Yara", "Zoe",
];
const LAST_NAMES: &[&str] = &[
    "Andersen", "Baker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
    "Jensen", "Kim", "Lopez", "Moreau", "Nakamura", "Okafor", "Petrov", "Rossi", "Silva", "Tanaka",
    "Weber",
];
const COUNTRIES: &[&str] = &[
    "United States",
    "Germany",
    "France",
    "United Kingdom",
    "Brazil",
    "Japan",
    "India",
    "Canada",
    "Spain",
    "Nigeria",
];
const SEGMENTS: &[&str] = &[
    "consumer",
    "consumer",
    "consumer",
    "small business",
    "enterprise",
];
const CATEGORIES: &[(&str, &[&str], f64)] = &[
    (
        "books",
        &[
            "Novel",
            "Cookbook",
            "Atlas",
            "Biography",
            "Poetry Collection",
        ],
        18.0,
    ),
    (
        "electronics",
        &["Headphones", "Charger", "Keyboard", "Webcam", "Speaker"],
        85.0,
    ),
    (
        "garden",
        &["Trowel", "Seed Kit", "Hose", "Planter", "Pruner"],
        25.0,
    ),
    (
        "home",
        &["Lamp", "Blanket", "Mug Set", "Clock", "Cushion"],
        35.0,
    ),
    (
        "toys",
        &["Puzzle", "Kite", "Robot Kit", "Board Game", "Yo-yo"],
        22.0,
    ),
    (
        "sports",
        &[
            "Yoga Mat",
            "Water Bottle",
            "Jump Rope",
            "Dumbbells",
            "Tennis Balls",
        ],
        30.0,
    ),
];
const STATUSES: &[&str] = &[
    "completed",
    "completed",
    "completed",
    "completed",
    "shipped",
    "pending",
    "cancelled",
    "refunded",
];
const EVENT_TYPES: &[&str] = &[
    "page_view",
    "page_view",
    "page_view",
    "search",
    "add_to_cart",
    "checkout",
    "signup",
];
const DEVICES: &[&str] = &["desktop", "mobile", "mobile", "tablet"];

/// SplitMix64: a tiny deterministic generator, stable across dependency versions.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// A float in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1).unwrap_or_default()
}

/// A timestamp `day` days after the first day, at a time of day from `rng`, as SQLite text.
fn timestamp(rng: &mut Rng, day: i64) -> String {
    let date = first_day() + Duration::days(day);
    let secs = rng.below(86_400);
    format!(
        "{date} {:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days skewed towards the end of the range, so the shop visibly grows.
fn growing_day(rng: &mut Rng) -> i64 {
    (rng.unit().sqrt() * DAYS as f64) as i64
}

/// Writes one multi-row INSERT per `BATCH` rows, each row produced by `row` as SQL literals.
async fn insert(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &str,
    count: u32,
    mut row: impl FnMut(u32, &mut String),
) -> Result<(), SourceError> {
    let mut start = 1;
    while start <= count {
        let end = (start + BATCH - 1).min(count);
        let mut sql = format!("INSERT INTO {table} ({columns}) VALUES ");
        for id in start..=end {
            if id > start {
                sql.push(',');
            }
            sql.push('(');
            row(id, &mut sql);
            sql.push(')');
        }
        // Every literal is generated here from fixed word lists and numbers, never user input.
        sqlx::raw_sql(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(demo_error)?;
        start = end + 1;
    }
    Ok(())
}

fn demo_error(e: sqlx::Error) -> SourceError {
    SourceError::Demo(e.to_string())
}

/// Creates the demo database at `path`, which must not exist yet.
///
/// # Errors
/// [`SourceError::Demo`] when the file exists or cannot be written.
pub async fn create_demo_database(path: &Path) -> Result<DemoSummary, SourceError> {
    if path.exists() {
        return Err(SourceError::Demo(format!(
            "{} already exists",
            path.display()
        )));
    }
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    let mut conn = SqliteConnection::connect_with(&options)
        .await
        .map_err(demo_error)?;
    let mut rng = Rng(SEED);

    sqlx::raw_sql("BEGIN")
        .execute(&mut conn)
        .await
        .map_err(demo_error)?;
    sqlx::raw_sql(SCHEMA)
        .execute(&mut conn)
        .await
        .map_err(demo_error)?;

    insert(
        &mut conn,
        "customers",
        "id, name, email, country, segment, signed_up_on",
        CUSTOMERS,
        |id, sql| {
            let first = rng.pick(FIRST_NAMES);
            let last = rng.pick(LAST_NAMES);
            let country = rng.pick(COUNTRIES);
            let segment = rng.pick(SEGMENTS);
            let day = first_day() + Duration::days(growing_day(&mut rng));
            let _ = write!(
                sql,
                "{id},'{first} {last}','{}.{}{id}@example.com','{country}','{segment}','{day}'",
                first.to_lowercase(),
                last.to_lowercase()
            );
        },
    )
    .await?;

    let mut prices = Vec::with_capacity(PRODUCTS as usize);
    insert(
        &mut conn,
        "products",
        "id, name, category, price",
        PRODUCTS,
        |id, sql| {
            let (category, names, base) = CATEGORIES[(id as usize - 1) % CATEGORIES.len()];
            let name = names[(id as usize - 1) / CATEGORIES.len() % names.len()];
            let price = (base * (0.5 + rng.unit() * 1.5) * 100.0).round() / 100.0;
            prices.push(price);
            let _ = write!(
                sql,
                "{id},'{name} {}','{category}',{price}",
                (id - 1) / 30 + 1
            );
        },
    )
    .await?;

    insert(
        &mut conn,
        "orders",
        "id, customer_id, product_id, quantity, amount, status, is_gift, ordered_at",
        ORDERS,
        |id, sql| {
            let customer = rng.below(u64::from(CUSTOMERS)) + 1;
            let product = rng.below(u64::from(PRODUCTS)) as usize;
            let quantity = 1 + rng.below(3) * rng.below(3);
            let amount = (prices[product] * quantity as f64 * 100.0).round() / 100.0;
            let status = rng.pick(STATUSES);
            let gift = u8::from(rng.below(10) == 0);
            let day = growing_day(&mut rng);
            let at = timestamp(&mut rng, day);
            let _ = write!(
                sql,
                "{id},{customer},{},{quantity},{amount},'{status}',{gift},'{at}'",
                product + 1
            );
        },
    )
    .await?;

    insert(
        &mut conn,
        "events",
        "id, customer_id, event_type, device, occurred_at",
        EVENTS,
        |id, sql| {
            let kind = rng.pick(EVENT_TYPES);
            let device = rng.pick(DEVICES);
            let day = growing_day(&mut rng);
            let at = timestamp(&mut rng, day);
            // Anonymous visitors have no customer id.
            if rng.below(4) == 0 {
                let _ = write!(sql, "{id},NULL,'{kind}','{device}','{at}'");
            } else {
                let _ = write!(
                    sql,
                    "{id},{},'{kind}','{device}','{at}'",
                    rng.below(u64::from(CUSTOMERS)) + 1
                );
            }
        },
    )
    .await?;

    sqlx::raw_sql("COMMIT")
        .execute(&mut conn)
        .await
        .map_err(demo_error)?;
    conn.close().await.map_err(demo_error)?;
    Ok(DemoSummary {
        customers: CUSTOMERS,
        products: PRODUCTS,
        orders: ORDERS,
        events: EVENTS,
    })
}

/// A query over the demo data that makes a good first chart: revenue per month and category.
pub const DEMO_QUERY: &str = "SELECT strftime('%Y-%m', o.ordered_at) AS month,
       p.category,
       COUNT(*) AS orders,
       ROUND(SUM(o.amount), 2) AS revenue
FROM orders AS o
JOIN products AS p ON p.id = o.product_id
WHERE o.status IN ('completed', 'shipped')
GROUP BY month, p.category
ORDER BY month, p.category";
