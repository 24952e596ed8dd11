//! A read replica serves the list views, and nothing else.
//!
//! A real streaming replica is not needed to prove the routing: the "replica" here is a second,
//! independent database on the same test server with different content, so a list answered
//! from it is recognisable. Replication itself is PostgreSQL's business.

use cairn_store::{ListFilter, Store, StoreError};

use crate::harness::{KEY, TestDb};
use crate::queries::new_query;

/// Creates one user, one data source and one query named `name` in `db`.
async fn seed(db: &TestDb, name: &str) -> i64 {
    let user = db.user("owner").await;
    let ds = db.data_source("Demo").await;
    db.store
        .create_query(&new_query(name, "SELECT 1", ds.id, user.id))
        .await
        .unwrap();
    user.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_reads_go_to_the_replica_and_writes_to_the_primary() {
    let primary = TestDb::postgres().await;
    let replica = TestDb::postgres().await;
    let user = seed(&primary, "on primary").await;
    seed(&replica, "on replica").await;
    let store = Store::connect_with_replica(&primary.url, &replica.url, KEY)
        .await
        .unwrap();
    assert!(store.has_replica());

    let names = |page: cairn_store::Page<cairn_domain::model::Query>| {
        page.items.into_iter().map(|q| q.name).collect::<Vec<_>>()
    };
    let listed = store.list_queries(&ListFilter::default()).await.unwrap();
    assert_eq!(names(listed), ["on replica"]);

    // A write goes to the primary, and reading it back by id right away works (primary too).
    let ds = primary.store.list_data_sources().await.unwrap()[0].id;
    let created = store
        .create_query(&new_query("written", "SELECT 2", ds, user))
        .await
        .unwrap();
    assert_eq!(store.query(created.id).await.unwrap().name, "written");
    let on_primary = primary
        .store
        .list_queries(&ListFilter::default())
        .await
        .unwrap();
    assert_eq!(names(on_primary), ["written", "on primary"]);
    let on_replica = store.list_queries(&ListFilter::default()).await.unwrap();
    assert_eq!(
        names(on_replica),
        ["on replica"],
        "the replica never got it"
    );
    store.close().await;
}

#[tokio::test]
async fn a_replica_needs_postgres() {
    let err = Store::connect_with_replica("sqlite::memory:", "sqlite::memory:", KEY)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Invalid(_)), "{err}");
}
