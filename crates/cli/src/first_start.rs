//! What the first start of `cairn up` creates: the admin user (credentials printed once) and,
//! unless `--no-demo`, a demo data source with a query, a chart and a dashboard.

use anyhow::Context;
use cairn_domain::model::User;
use cairn_domain::query_hash::query_hash;
use cairn_sources::demo::{DEMO_QUERY, create_demo_database};
use cairn_store::{
    DashboardUpdate, NewDashboard, NewDataSource, NewQuery, NewUser, NewVisualization, NewWidget,
    QueryUpdate, Store,
};
use serde_json::json;
use std::path::Path;

/// A random password of 20 letters and digits.
pub fn generate_password() -> String {
    use rand::RngExt;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Creates a user with a hashed password.
///
/// # Errors
/// When the email is taken or the store fails.
pub async fn create_user(
    store: &Store,
    name: &str,
    email: &str,
    password: &str,
    is_admin: bool,
) -> anyhow::Result<User> {
    let hash = cairn_http::password::hash_async(password.to_string())
        .await
        .map_err(anyhow::Error::msg)?;
    store
        .create_user(&NewUser {
            name: name.to_string(),
            email: email.to_string(),
            is_admin,
            password_hash: Some(hash),
        })
        .await
        .with_context(|| format!("cannot create user {email}"))
}

/// Creates the admin and, when `demo`, the demo content; prints the admin's credentials.
/// Does nothing when users exist already.
///
/// # Errors
/// When the store fails or the demo database cannot be written.
pub async fn bootstrap(
    store: &Store,
    data_dir: &Path,
    admin_email: &str,
    demo: bool,
) -> anyhow::Result<()> {
    if store.user_count().await? > 0 {
        return Ok(());
    }
    let password = generate_password();
    let admin = create_user(store, "Admin", admin_email, &password, true).await?;
    println!("Cairn admin created. These credentials are shown only once:");
    println!("  email:    {}", admin.email);
    println!("  password: {password}");
    println!("  API key:  {}", admin.api_key);
    if demo {
        create_demo(store, data_dir, &admin)
            .await
            .context("cannot create the demo content (start with --no-demo to skip it)")?;
    }
    Ok(())
}

async fn create_demo(store: &Store, data_dir: &Path, admin: &User) -> anyhow::Result<()> {
    let path = data_dir.join("demo.db");
    if path.exists() {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot replace {}", path.display()))?;
    }
    let summary = create_demo_database(&path).await?;
    let ds = store
        .create_data_source(&NewDataSource {
            name: "Demo shop (SQLite)".into(),
            kind: "sqlite".into(),
            options: json!({"dbpath": path.canonicalize()?.display().to_string()}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await?;
    let query = store
        .create_query(&NewQuery {
            name: "Revenue by month and category".into(),
            description: Some("Completed and shipped orders of the demo shop.".into()),
            query: DEMO_QUERY.into(),
            query_hash: query_hash(DEMO_QUERY),
            data_source_id: ds.id,
            schedule: None,
            options: json!({}),
            tags: vec!["demo".into()],
            user_id: admin.id,
        })
        .await?;
    store
        .update_query(
            query.id,
            &QueryUpdate {
                is_draft: Some(false),
                ..QueryUpdate::default()
            },
            admin.id,
        )
        .await?;
    let chart = store
        .create_visualization(&NewVisualization {
            query_id: query.id,
            kind: "CHART".into(),
            name: "Revenue per month".into(),
            description: None,
            options: json!({
                "globalSeriesType": "column",
                "columnMapping": {"month": "x", "revenue": "y", "category": "series"},
                "series": {"stacking": "normal"},
                "xAxis": {"type": "category", "title": {"text": "Month"}},
                "yAxis": [{"type": "linear", "title": {"text": "Revenue"}}],
                "legend": {"enabled": true},
            }),
        })
        .await?;
    let dashboard = store
        .create_dashboard(&NewDashboard {
            name: "Demo shop".into(),
            user_id: admin.id,
        })
        .await?;
    store
        .update_dashboard(
            dashboard.id,
            &DashboardUpdate {
                is_draft: Some(false),
                tags: Some(vec!["demo".into()]),
                ..DashboardUpdate::default()
            },
        )
        .await?;
    store
        .create_widget(&NewWidget {
            dashboard_id: dashboard.id,
            visualization_id: Some(chart.id),
            text: String::new(),
            width: 1,
            options: json!({"position": {"col": 0, "row": 0, "sizeX": 6, "sizeY": 8}}),
        })
        .await?;
    println!(
        "Demo data source created: {} customers, {} products, {} orders, {} events; open the \"Demo shop\" dashboard.",
        summary.customers, summary.products, summary.orders, summary.events
    );
    Ok(())
}
