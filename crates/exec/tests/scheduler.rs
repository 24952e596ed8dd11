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

/// A fixed instant on a 10-minute boundary, so the re-claim periods in a test are known.
fn fixed_now() -> chrono::DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 10).unwrap()
}

fn scheduler_on(s: &Setup) -> (Scheduler, Arc<MemoryQueue>) {
    let queue = Arc::new(MemoryQueue::new(Duration::from_secs(3600)));
    let dyn_queue: Arc<dyn Queue> = queue.clone();
    let scheduler = Scheduler::new(s.store.clone(), dyn_queue, SchedulerSettings::default());
    (scheduler, queue)
}

#[tokio::test]
async fn two_schedulers_enqueue_a_due_run_once() {
    let s = setup().await;
    s.scheduled_query("SELECT 1", every(600)).await;
    // Separate queues, so the queue's de-duplication cannot hide a second enqueue.
    let (other, other_queue) = scheduler_on(&s);
    let now = fixed_now();
    assert_eq!(s.scheduler.refresh_queries(now).await.unwrap(), 1);
    assert_eq!(
        other.refresh_queries(now + Span::seconds(5)).await.unwrap(),
        0,
        "the same due time, seen a little later by another scheduler"
    );
    assert!(
        other_queue
            .dequeue(&[QueueName::Scheduled], Duration::from_millis(10))
            .await
            .unwrap()
            .is_none()
    );
    // The run's job is lost (the first queue is gone): it is claimed again ten minutes on.
    assert_eq!(
        other
            .refresh_queries(now + Span::seconds(600))
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn a_stale_leader_stops_and_a_follower_enqueues_nothing() {
    let s = setup().await;
    s.scheduled_query("SELECT 1", every(600)).await;
    let (tx_old, rx_old) = tokio::sync::watch::channel(Some(1));
    let (_tx_new, rx_new) = tokio::sync::watch::channel(Some(2));
    let (old, _) = scheduler_on(&s);
    let old = old.with_fence(rx_old);
    let (new, _) = scheduler_on(&s);
    let new = new.with_fence(rx_new);
    let now = fixed_now();
    assert_eq!(new.refresh_queries(now).await.unwrap(), 1);
    s.scheduled_query("SELECT 2", every(600)).await;
    let err = old.refresh_queries(now).await.unwrap_err();
    assert!(err.contains("stale"), "{err}");
    tx_old.send(None).unwrap();
    assert_eq!(
        old.refresh_queries(now).await.unwrap(),
        0,
        "not the leader: nothing is enqueued"
    );
    assert_eq!(
        new.refresh_queries(now).await.unwrap(),
        1,
        "the new leader goes on"
    );
}

#[tokio::test]
async fn the_scheduler_maintains_the_database() {
    let s = setup().await;
    let settings = SchedulerSettings {
        maintenance_interval: Some(Duration::from_millis(50)),
        ..SchedulerSettings::default()
    };
    let queue: Arc<dyn Queue> = s.queue.clone();
    let scheduler = Scheduler::new(s.store.clone(), queue, settings);
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(scheduler.run(shutdown.clone()));
    let url = format!("sqlite://{}", s._dir.path().join("m.db").display());
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let mut analyzed = 0_i64;
    for _ in 0..600 {
        analyzed = sqlx::query_scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sqlite_stat1'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        if analyzed > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    shutdown.cancel();
    running.await.unwrap();
    assert_eq!(analyzed, 1, "ANALYZE ran: its statistics table exists");
}
