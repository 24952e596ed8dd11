use cairn_store::{Store, StoreError};

use crate::harness::{KEY, TestDb, store_test};

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
