//! The scheduler and worker against a real SQLite store and SQLite data source: due queries are
//! enqueued once, run, back off after failures, and expire.

use cairn_domain::model::Schedule;
use cairn_domain::query_hash::query_hash;
use cairn_exec::job::{JobStatus, QueueName};
use cairn_exec::queue::{MemoryQueue, Queue};
use cairn_exec::scheduler::Scheduler;
use cairn_exec::settings::{ExecSettings, SchedulerSettings};
use cairn_exec::worker::Worker;
use cairn_store::{NewDataSource, NewQuery, NewUser, Store};
use chrono::{Duration as Span, Utc};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

struct Setup {
    store: Store,
    queue: Arc<MemoryQueue>,
    scheduler: Scheduler,
    worker: Worker,
    ds: i64,
    user: i64,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(
        &format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display()),
        [1; 32],
    )
    .await
    .unwrap();
    let src = dir.path().join("src.db");
    {
        use sqlx::Connection;
        let mut c =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", src.display()))
                .await
                .unwrap();
        sqlx::raw_sql("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);")
            .execute(&mut c)
            .await
            .unwrap();
    }
    let ds = store
        .create_data_source(&NewDataSource {
            name: "src".into(),
            kind: "sqlite".into(),
            options: json!({"dbpath": src.display().to_string()}),
            queue_name: None,
            scheduled_queue_name: None,
        })
        .await
        .unwrap()
        .id;
    let user = store
        .create_user(&NewUser {
            name: "a".into(),
            email: "a@example.com".into(),
            is_admin: true,
            password_hash: None,
        })
        .await
        .unwrap()
        .id;
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
    let dyn_queue: Arc<dyn Queue> = queue.clone();
    let scheduler = Scheduler::new(
        store.clone(),
        dyn_queue.clone(),
        SchedulerSettings::default(),
    );
    let worker = Worker::new(store.clone(), dyn_queue, ExecSettings::default());
    Setup {
        store,
        queue,
        scheduler,
        worker,
        ds,
        user,
        _dir: dir,
    }
}

impl Setup {
    async fn scheduled_query(&self, sql: &str, schedule: Schedule) -> i64 {
        self.store
            .create_query(&NewQuery {
                name: "scheduled".into(),
                description: None,
                query: sql.into(),
                query_hash: query_hash(sql),
                data_source_id: self.ds,
                schedule: Some(schedule),
                options: json!({}),
                tags: vec![],
                user_id: self.user,
            })
            .await
            .unwrap()
            .id
    }

    /// Runs every job waiting in the scheduled queue; returns their final statuses.
    async fn drain(&self) -> Vec<JobStatus> {
        let mut out = Vec::new();
        while let Some(job) = self
            .queue
            .dequeue(&[QueueName::Scheduled], Duration::from_millis(10))
            .await
            .unwrap()
        {
            let id = job.id.clone();
            self.worker.process(job).await;
            out.push(self.queue.state(&id).await.unwrap().unwrap().status);
        }
        out
    }
}

fn every(seconds: i64) -> Schedule {
    Schedule {
        interval: Some(seconds),
        ..Schedule::default()
    }
}

#[tokio::test]
async fn due_queries_run_once_per_due_time() {
    let s = setup().await;
    let q = s
        .scheduled_query("SELECT count(*) AS c FROM t", every(600))
        .await;
    let now = Utc::now();
    assert_eq!(
        s.scheduler.refresh_queries(now).await.unwrap(),
        1,
        "a query that never ran is due at once"
    );
    assert_eq!(
        s.scheduler.refresh_queries(now).await.unwrap(),
        0,
        "not enqueued twice while queued"
    );
    assert_eq!(s.drain().await, vec![JobStatus::Finished]);
    let query = s.store.query(q).await.unwrap();
    let result = s
        .store
        .result_meta(query.latest_query_data_id.expect("the run is linked"))
        .await
        .unwrap();
    assert_eq!(result.row_count, 1);

    assert_eq!(
        s.scheduler.refresh_queries(Utc::now()).await.unwrap(),
        0,
        "just ran: not due"
    );
    assert_eq!(
        s.scheduler
            .refresh_queries(Utc::now() + Span::seconds(601))
            .await
            .unwrap(),
        1,
        "due again after its interval"
    );
    assert_eq!(s.drain().await, vec![JobStatus::Finished]);
}

#[tokio::test]
async fn failures_back_off_and_success_resets_them() {
    let s = setup().await;
    let q = s.scheduled_query("SELECT * FROM missing", every(60)).await;
    let now = Utc::now();
    assert_eq!(s.scheduler.refresh_queries(now).await.unwrap(), 1);
    assert_eq!(s.drain().await, vec![JobStatus::Failed]);
    assert_eq!(s.store.query(q).await.unwrap().schedule_failures, 1);
    // One failure: 2 minutes of back-off on top of the interval.
    assert_eq!(
        s.scheduler
            .refresh_queries(now + Span::seconds(90))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.scheduler
            .refresh_queries(now + Span::seconds(200))
            .await
            .unwrap(),
        1
    );
    assert_eq!(s.drain().await, vec![JobStatus::Failed]);
    assert_eq!(s.store.query(q).await.unwrap().schedule_failures, 2);
}

#[tokio::test]
async fn paused_sources_are_skipped_and_expired_schedules_cleared() {
    let s = setup().await;
    let q = s
        .scheduled_query(
            "SELECT 1",
            Schedule {
                interval: Some(60),
                until: Some("2020-01-01".into()),
                ..Schedule::default()
            },
        )
        .await;
    let live = s.scheduled_query("SELECT 2", every(60)).await;
    s.store
        .set_data_source_paused(s.ds, Some("maintenance"))
        .await
        .unwrap();
    assert_eq!(
        s.scheduler.refresh_queries(Utc::now()).await.unwrap(),
        0,
        "paused data sources are skipped"
    );
    assert_eq!(s.scheduler.expire_schedules(Utc::now()).await.unwrap(), 1);
    assert!(s.store.query(q).await.unwrap().schedule.is_none());
    assert!(s.store.query(live).await.unwrap().schedule.is_some());
}
