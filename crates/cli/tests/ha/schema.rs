//! Roles refuse a metadata schema other than the one they were built for.

use cairn_testkit::cairn::command;
use cairn_testkit::postgres::PgServer;
use std::path::Path;

/// Runs `cairn <role>` on `database_url` and returns its exit status and standard error.
fn start_role(role: &str, database_url: &str) -> (bool, String) {
    let bind = if role == "server" {
        "--bind"
    } else {
        "--metrics-bind"
    };
    let out = command(Path::new(env!("CARGO_BIN_EXE_cairn")))
        .args([
            role,
            "--redis-url",
            "redis://127.0.0.1:1/",
            bind,
            "127.0.0.1:0",
        ])
        .env("REDASH_DATABASE_URL", database_url)
        .env("REDASH_SECRET_KEY", "schema-test-secret")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn roles_refuse_a_schema_older_or_newer_than_theirs() {
    let pg = PgServer::shared();
    let url = pg.fresh_database("schema");
    for role in ["server", "worker", "scheduler"] {
        let (ok, err) = start_role(role, &url);
        assert!(!ok, "{role} started on an empty database");
        assert!(err.contains("cairn migrate"), "{role}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    }

    let migrate = command(Path::new(env!("CARGO_BIN_EXE_cairn")))
        .arg("migrate")
        .env("REDASH_DATABASE_URL", &url)
        .env("REDASH_SECRET_KEY", "schema-test-secret")
        .output()
        .unwrap();
    assert!(
        migrate.status.success(),
        "{}",
        String::from_utf8_lossy(&migrate.stderr)
    );

    // A newer Cairn migrated the database further.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99999, 'from the future', true, $1, 0)",
    )
    .bind(vec![0u8])
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;
    let (ok, err) = start_role("server", &url);
    assert!(!ok, "a server started on a newer schema");
    assert!(err.contains("upgrade"), "{err}");
}
