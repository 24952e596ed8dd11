use cairn_store::{SchemaStatus, Store, StoreError};

use crate::harness::{EmptyDb, KEY, TestDb, empty_db_test, store_test};

async fn migrations_are_idempotent(db: TestDb) {
    let version = db.store.schema_version().await.unwrap();
    assert!(version >= 1);
    assert_eq!(version, db.store.known_schema_version());
    db.store.migrate().await.unwrap();
    let reopened = Store::open(&db.url, KEY).await.unwrap();
    assert_eq!(reopened.schema_version().await.unwrap(), version);
}
store_test!(migrations_are_idempotent);

async fn a_newer_schema_is_refused(db: TestDb) {
    db.raw_exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '', 0)",
    )
    .await;
    let err = Store::open(&db.url, KEY).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99990101000000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("newer"), "{err}");
}
store_test!(a_newer_schema_is_refused);

#[tokio::test]
async fn unsupported_urls_are_rejected() {
    let err = Store::open("mysql://localhost/x", KEY).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}

#[tokio::test]
async fn postgresql_scheme_is_accepted() {
    let url = cairn_testkit::postgres::PgServer::shared().fresh_database("scheme");
    let url = url.replacen("postgres://", "postgresql://", 1);
    let store = Store::open(&url, KEY).await.unwrap();
    assert_eq!(store.backend(), cairn_store::Backend::Postgres);
    assert_eq!(
        store.schema_version().await.unwrap(),
        store.known_schema_version()
    );
}

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::open("sqlite::memory:", KEY).await.unwrap();
    assert_eq!(store.backend(), cairn_store::Backend::Sqlite);
    assert_eq!(store.user_count().await.unwrap(), 0);
}

async fn schema_status_follows_migrate(empty: EmptyDb) {
    let store = Store::connect(&empty.url, KEY).await.unwrap();
    let binary = store.known_schema_version();
    let status = store.schema_status().await.unwrap();
    assert_eq!(status, SchemaStatus::Behind { db: 0, binary });
    assert!(
        status.to_string().contains("run `cairn migrate`"),
        "{status}"
    );
    let err = store.require_current_schema().await.unwrap_err();
    assert!(err.to_string().contains("cairn migrate"), "{err}");
    store.migrate().await.unwrap();
    assert_eq!(
        store.schema_status().await.unwrap(),
        SchemaStatus::Current { version: binary }
    );
    store.require_current_schema().await.unwrap();
}
empty_db_test!(schema_status_follows_migrate);

/// Several processes starting at once all run `migrate`: one applies, the others find nothing
/// to do, and none fails.
async fn concurrent_migrations_all_succeed(empty: EmptyDb) {
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let url = empty.url.clone();
        tasks.push(tokio::spawn(async move {
            let store = Store::connect(&url, KEY).await?;
            store.migrate().await?;
            store.schema_status().await
        }));
    }
    for task in tasks {
        let status = task.await.unwrap().unwrap();
        assert!(status.is_current(), "{status}");
    }
}
empty_db_test!(concurrent_migrations_all_succeed);

async fn a_newer_schema_reports_ahead(db: TestDb) {
    db.raw_exec(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, '', 0)",
    )
    .await;
    let store = Store::connect(&db.url, KEY).await.unwrap();
    let status = store.schema_status().await.unwrap();
    assert_eq!(
        status,
        SchemaStatus::Ahead {
            db: 99990101000000,
            binary: store.known_schema_version()
        }
    );
    assert!(status.to_string().contains("upgrade it"), "{status}");
}
store_test!(a_newer_schema_reports_ahead);

async fn failed_and_modified_migrations_are_reported(db: TestDb) {
    db.raw_exec("UPDATE _sqlx_migrations SET checksum = checksum || checksum WHERE version = 1")
        .await;
    let status = db.store.schema_status().await.unwrap();
    assert_eq!(status, SchemaStatus::Modified { version: 1 });
    assert!(status.to_string().contains("checksum"), "{status}");
    db.raw_exec("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 2")
        .await;
    let status = db.store.schema_status().await.unwrap();
    assert_eq!(status, SchemaStatus::Dirty { version: 2 });
    assert!(status.to_string().contains("dirty"), "{status}");
    assert!(db.store.migrate().await.is_err());
}
store_test!(failed_and_modified_migrations_are_reported);
