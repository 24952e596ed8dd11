//! Exactly-once scheduled runs: claims per (query, due time), fenced by the leader's token.

use cairn_store::{ClaimOutcome, StoreError};
use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::harness::{TestDb, store_test};
use crate::queries::new_query;

fn due(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, minute, 0).unwrap()
}

async fn query_id(db: &TestDb) -> i64 {
    let user = db.user("sched").await;
    let ds = db.data_source("Demo").await;
    db.store
        .create_query(&new_query("Q", "SELECT 1", ds.id, user.id))
        .await
        .unwrap()
        .id
}

/// Two leaders (old token 5, new token 7) claim the same run at once: exactly one wins, and the
/// highest token is remembered whichever order they ran in.
async fn concurrent_claimers_with_different_tokens(db: TestDb) {
    let q = query_id(&db).await;
    let (a, b) = (db.store.clone(), db.store.clone());
    let old = tokio::spawn(async move { a.claim_scheduled_run(q, due(0), 5).await });
    let new = tokio::spawn(async move { b.claim_scheduled_run(q, due(0), 7).await });
    let outcomes = [old.await.unwrap().unwrap(), new.await.unwrap().unwrap()];
    let claimed = outcomes
        .iter()
        .filter(|o| **o == ClaimOutcome::Claimed)
        .count();
    assert_eq!(claimed, 1, "{outcomes:?}");
    assert!(
        outcomes.contains(&ClaimOutcome::AlreadyClaimed)
            || outcomes.contains(&ClaimOutcome::StaleToken { highest: 7 }),
        "{outcomes:?}"
    );
    assert_eq!(db.store.highest_fencing_token().await.unwrap(), 7);
}
store_test!(concurrent_claimers_with_different_tokens);

/// Once token 3 has claimed, token 2 is refused even for a run nobody claimed, and claims
/// nothing; token 3 and higher go on.
async fn a_stale_token_is_refused(db: TestDb) {
    let q = query_id(&db).await;
    let s = &db.store;
    assert_eq!(s.highest_fencing_token().await.unwrap(), 0);
    assert_eq!(
        s.claim_scheduled_run(q, due(0), 3).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        s.claim_scheduled_run(q, due(1), 2).await.unwrap(),
        ClaimOutcome::StaleToken { highest: 3 }
    );
    assert_eq!(
        s.claim_scheduled_run(q, due(1), 3).await.unwrap(),
        ClaimOutcome::Claimed,
        "the stale claim took nothing"
    );
    assert_eq!(
        s.claim_scheduled_run(q, due(2), 4).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(s.highest_fencing_token().await.unwrap(), 4);
}
store_test!(a_stale_token_is_refused);

/// Fifty schedulers asking for the same due time at once: one run.
async fn one_due_time_is_claimed_once(db: TestDb) {
    let q = query_id(&db).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let s = db.store.clone();
        tasks.push(tokio::spawn(async move {
            s.claim_scheduled_run(q, due(0), 1).await
        }));
    }
    let mut claimed = 0;
    for task in tasks {
        match task.await.unwrap().unwrap() {
            ClaimOutcome::Claimed => claimed += 1,
            ClaimOutcome::AlreadyClaimed => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}
store_test!(one_due_time_is_claimed_once);

/// A later due time is a new run; an earlier or equal one is not. Sub-second due times compare
/// exactly.
async fn later_due_times_are_claimable(db: TestDb) {
    let q = query_id(&db).await;
    let s = &db.store;
    let first = due(0) + Duration::milliseconds(250);
    assert_eq!(
        s.claim_scheduled_run(q, first, 0).await.unwrap(),
        ClaimOutcome::Claimed
    );
    for earlier in [due(0), first] {
        assert_eq!(
            s.claim_scheduled_run(q, earlier, 0).await.unwrap(),
            ClaimOutcome::AlreadyClaimed
        );
    }
    assert_eq!(
        s.claim_scheduled_run(q, first + Duration::microseconds(1), 0)
            .await
            .unwrap(),
        ClaimOutcome::Claimed
    );
    assert_eq!(
        s.claim_scheduled_run(q, due(10), 0).await.unwrap(),
        ClaimOutcome::Claimed
    );
    assert!(matches!(
        s.claim_scheduled_run(q + 1000, due(11), 0).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        s.claim_scheduled_run(q, due(12), u64::MAX).await,
        Err(StoreError::Invalid(_))
    ));
}
store_test!(later_due_times_are_claimable);
