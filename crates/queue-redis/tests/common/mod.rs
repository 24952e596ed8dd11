//! The behavioural suite every deployment runs, and cluster helpers.
//!
//! Each behaviour uses its own key tag, so behaviours sharing one server never see each other's
//! jobs. Waits for asynchronous effects (expiry, heartbeat timeouts) poll with a generous bound
//! that only guards against hanging; nothing asserts on timing.

#![allow(dead_code)] // each test binary uses a different part

use cairn_exec::job::{CANCELLED_MESSAGE, Job, JobId, JobKind, JobState, JobStatus, QueueName};
use cairn_exec::queue::Queue;
use cairn_queue_redis::{Backend, Options, connect};
use cairn_testkit::redis::{Reply, command};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

/// Options with a fresh key tag and short timeouts for tests.
pub fn opts(tag: &str) -> Options {
    static N: AtomicU32 = AtomicU32::new(0);
    Options {
        key_tag: format!(
            "{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ),
        heartbeat_timeout: Duration::from_secs(2),
        op_timeout: Duration::from_secs(15),
        ..Options::default()
    }
}

pub async fn backend(url: &str, opts: &Options) -> Backend {
    connect(url, opts.clone()).await.expect("connect")
}

pub fn test_job(queue: QueueName) -> Job {
    Job::new(queue, JobKind::TestConnection { data_source_id: 1 })
}

/// Queues `n` test jobs on the default queue and returns their ids in order.
pub async fn enqueue_default(q: &Arc<dyn Queue>, n: usize) -> Vec<JobId> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let enqueued = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
        ids.push(enqueued.state.id);
    }
    ids
}

pub fn query_job() -> Job {
    Job::new(
        QueueName::Adhoc,
        JobKind::ExecuteQuery {
            data_source_id: 1,
            query_text: "select 1".into(),
            query_hash: "abc".into(),
            query_id: Some(7),
            user_id: Some(1),
            scheduled: false,
        },
    )
}

/// Polls `check` every 100 ms until it returns `Some`, for at most `limit` (a hang guard).
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not reached within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

const SHORT: Duration = Duration::from_millis(50);

/// Runs every behaviour against the deployment at `url`.
pub async fn suite(url: &str) {
    enqueue_dequeue_state_finish(url).await;
    dedup_shares_live_jobs(url).await;
    cancel_queued(url).await;
    cancel_running(url).await;
    priority_order(url).await;
    blocking_dequeue_wakes(url).await;
    states_expire(url).await;
    worker_killed(url).await;
    lease_hand_over(url).await;
}

pub async fn enqueue_dequeue_state_finish(url: &str) {
    let b = backend(url, &opts("basic")).await;
    b.ping().await.unwrap();
    let q = b.queue();
    let job = test_job(QueueName::Schemas);
    let e = q.enqueue(job.clone(), None).await.unwrap();
    assert!(e.is_new);
    assert_eq!(e.state.status, JobStatus::Queued);
    assert_eq!(
        q.state(&job.id).await.unwrap().unwrap().status,
        JobStatus::Queued
    );
    assert!(q.sizes().await.unwrap().contains(&(QueueName::Schemas, 1)));
    let got = q
        .dequeue(&[QueueName::Schemas], SHORT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, job);
    let started = q.state(&job.id).await.unwrap().unwrap();
    assert_eq!(started.status, JobStatus::Started);
    assert!(started.started_at.is_some());
    assert!(q.sizes().await.unwrap().contains(&(QueueName::Schemas, 0)));
    let mut done = started.with_status(JobStatus::Finished);
    done.result = Some(serde_json::json!({"ok": true, "tables": 3}));
    q.update(done.clone()).await.unwrap();
    assert_eq!(q.state(&job.id).await.unwrap().unwrap(), done);
    assert!(
        q.dequeue(&[QueueName::Schemas], SHORT)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        q.state(&cairn_exec::job::JobId::random())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        q.cancel(&cairn_exec::job::JobId::random())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn dedup_shares_live_jobs(url: &str) {
    let b = backend(url, &opts("dedup")).await;
    let q = b.queue();
    let key = Some("query_hash_job:1:abc".to_string());
    let a = q.enqueue(query_job(), key.clone()).await.unwrap();
    let second = q.enqueue(query_job(), key.clone()).await.unwrap();
    assert!(a.is_new && !second.is_new);
    assert_eq!(second.state.id, a.state.id);
    // Still shared while running.
    let job = q
        .dequeue(&[QueueName::Adhoc], SHORT)
        .await
        .unwrap()
        .unwrap();
    let third = q.enqueue(query_job(), key.clone()).await.unwrap();
    assert_eq!((third.is_new, &third.state.id), (false, &job.id));
    assert_eq!(third.state.status, JobStatus::Started);
    let mut done = third.state.with_status(JobStatus::Finished);
    done.query_result_id = Some(42);
    q.update(done).await.unwrap();
    let fresh = q.enqueue(query_job(), key).await.unwrap();
    assert!(fresh.is_new);
    assert_ne!(fresh.state.id, a.state.id);
}

pub async fn cancel_queued(url: &str) {
    let b = backend(url, &opts("cancelq")).await;
    let q = b.queue();
    let key = Some("k".to_string());
    let a = q.enqueue(query_job(), key.clone()).await.unwrap();
    let s = q.cancel(&a.state.id).await.unwrap().unwrap();
    assert_eq!(s.status, JobStatus::Cancelled);
    assert_eq!(s.error.as_deref(), Some(CANCELLED_MESSAGE));
    assert!(
        q.dequeue(&[QueueName::Adhoc], SHORT)
            .await
            .unwrap()
            .is_none()
    );
    assert!(q.sizes().await.unwrap().contains(&(QueueName::Adhoc, 0)));
    assert!(q.enqueue(query_job(), key).await.unwrap().is_new);
    q.update(s.clone().with_status(JobStatus::Finished))
        .await
        .unwrap();
    assert_eq!(
        q.state(&a.state.id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
}

pub async fn cancel_running(url: &str) {
    let opts = opts("cancelr");
    let server = backend(url, &opts).await;
    let worker = backend(url, &opts).await;
    let a = server.queue().enqueue(query_job(), None).await.unwrap();
    let wq = worker.queue();
    let job = wq
        .dequeue(&[QueueName::Adhoc], SHORT)
        .await
        .unwrap()
        .unwrap();
    let signalled = {
        let (wq, id) = (wq.clone(), job.id.clone());
        tokio::spawn(async move { wq.cancel_requested(&id).await })
    };
    let s = server.queue().cancel(&a.state.id).await.unwrap().unwrap();
    assert_eq!(s.status, JobStatus::Started, "a running job is signalled");
    tokio::time::timeout(Duration::from_secs(10), signalled)
        .await
        .expect("cancel_requested resolves")
        .unwrap()
        .unwrap();
    let mut c = s.with_status(JobStatus::Cancelled);
    c.error = Some(CANCELLED_MESSAGE.into());
    wq.update(c).await.unwrap();
    assert_eq!(
        server.queue().state(&job.id).await.unwrap().unwrap().status,
        JobStatus::Cancelled
    );
}

pub async fn priority_order(url: &str) {
    let b = backend(url, &opts("prio")).await;
    let q = b.queue();
    let low = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
    let mid = q
        .enqueue(test_job(QueueName::Scheduled), None)
        .await
        .unwrap();
    let high = q.enqueue(test_job(QueueName::Adhoc), None).await.unwrap();
    let order = [QueueName::Adhoc, QueueName::Scheduled, QueueName::Default];
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(q.dequeue(&order, SHORT).await.unwrap().unwrap().id);
    }
    assert_eq!(got, vec![high.state.id, mid.state.id, low.state.id]);
}

pub async fn blocking_dequeue_wakes(url: &str) {
    let opts = opts("block");
    let server = backend(url, &opts).await;
    let worker = backend(url, &opts).await;
    let wq = worker.queue();
    let waiter = tokio::spawn(async move {
        wq.dequeue(
            &[QueueName::Adhoc, QueueName::Default],
            Duration::from_secs(20),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e = server
        .queue()
        .enqueue(test_job(QueueName::Default), None)
        .await
        .unwrap();
    let got = waiter
        .await
        .unwrap()
        .unwrap()
        .expect("woken by the new job");
    assert_eq!(got.id, e.state.id);
}

pub async fn states_expire(url: &str) {
    let mut o = opts("ttl");
    o.job_ttl = Duration::from_secs(1);
    let b = backend(url, &o).await;
    let q = b.queue();
    let finished = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
    let job = q
        .dequeue(&[QueueName::Default], SHORT)
        .await
        .unwrap()
        .unwrap();
    q.update(finished.state.clone().with_status(JobStatus::Finished))
        .await
        .unwrap();
    let waiting = q
        .enqueue(test_job(QueueName::Scheduled), Some("lock".into()))
        .await
        .unwrap();
    for id in [&job.id, &waiting.state.id] {
        eventually("job state expired", Duration::from_secs(20), || async {
            q.state(id).await.unwrap().is_none().then_some(())
        })
        .await;
    }
    // The expired queued job is skipped, and its lock expired with it.
    assert!(
        q.dequeue(&[QueueName::Scheduled], SHORT)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        q.enqueue(test_job(QueueName::Scheduled), Some("lock".into()))
            .await
            .unwrap()
            .is_new
    );
}

pub async fn worker_killed(url: &str) {
    let o = opts("killed");
    let server = backend(url, &o).await;
    let sq = server.queue();
    let key = Some("query_hash_job:1:abc".to_string());
    let query = sq.enqueue(query_job(), key.clone()).await.unwrap();
    let test = sq
        .enqueue(test_job(QueueName::Schemas), None)
        .await
        .unwrap();
    {
        let doomed = backend(url, &o).await;
        let dq = doomed.queue();
        let order = [QueueName::Adhoc, QueueName::Schemas];
        let a = dq.dequeue(&order, SHORT).await.unwrap().unwrap();
        let b = dq.dequeue(&order, SHORT).await.unwrap().unwrap();
        assert_eq!(
            (a.id, b.id),
            (query.state.id.clone(), test.state.id.clone())
        );
        let me = eventually(
            "worker heartbeat lists its jobs",
            Duration::from_secs(20),
            || async {
                let workers = sq.workers().await.unwrap();
                workers
                    .into_iter()
                    .find(|w| w.id == doomed.redis_queue().worker_id() && w.busy.len() == 2)
            },
        )
        .await;
        assert!(me.queues.contains(&QueueName::Adhoc));
    } // the worker stops without finishing either job
    let failed = eventually("query job failed", Duration::from_secs(30), || async {
        sq.recover_stale().await.unwrap();
        let s = sq.state(&query.state.id).await.unwrap().unwrap();
        (s.status == JobStatus::Failed).then_some(s)
    })
    .await;
    let error = failed.error.unwrap();
    assert!(error.contains("stopped (no heartbeat for 2 s)"), "{error}");
    assert_eq!(
        sq.state(&test.state.id).await.unwrap().unwrap().status,
        JobStatus::Queued,
        "a connection test is re-queued"
    );
    let again = sq
        .dequeue(&[QueueName::Schemas], SHORT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.id, test.state.id);
    assert!(
        sq.enqueue(query_job(), key).await.unwrap().is_new,
        "lock freed"
    );
}

pub async fn lease_hand_over(url: &str) {
    let o = opts("lease");
    let b = backend(url, &o).await;
    let name = format!("scheduler-{}", o.key_tag);
    let ttl = Duration::from_millis(800);
    let mut first = b.lease(&name, "a", ttl);
    let mut second = b.lease(&name, "b", ttl);
    let t1 = first
        .acquire_or_renew()
        .await
        .unwrap()
        .expect("free lease taken");
    assert_eq!(second.acquire_or_renew().await.unwrap(), None);
    assert_eq!(first.acquire_or_renew().await.unwrap(), Some(t1), "renewed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let t2 = loop {
        if let Some(t) = second.acquire_or_renew().await.unwrap() {
            break t;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(t2 > t1, "fencing token grows: {t1} -> {t2}");
    assert_eq!(
        first.acquire_or_renew().await.unwrap(),
        None,
        "a stale holder cannot renew"
    );
    second.release().await.unwrap();
    let t3 = first
        .acquire_or_renew()
        .await
        .unwrap()
        .expect("released lease taken");
    assert!(t3 > t2);
}

/// Cluster helpers over `CLUSTER NODES`.
pub struct Topology {
    pub lines: Vec<Vec<String>>,
}

impl Topology {
    pub fn read(port: u16) -> Topology {
        let text = command(port, &["CLUSTER", "NODES"])
            .unwrap()
            .text()
            .unwrap();
        Topology {
            lines: text
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(|l| l.split(' ').map(str::to_string).collect())
                .collect(),
        }
    }

    fn port_of(line: &[String]) -> u16 {
        let addr = line[1].split('@').next().unwrap();
        addr.rsplit_once(':').unwrap().1.parse().unwrap()
    }

    /// (id, port) of the master owning `slot`.
    pub fn owner(&self, slot: u16) -> (String, u16) {
        let line = self
            .lines
            .iter()
            .find(|l| {
                l[2].contains("master")
                    && l.iter().skip(8).any(|r| {
                        let (a, b) = r.split_once('-').unwrap_or((r, r));
                        match (a.parse::<u16>(), b.parse::<u16>()) {
                            (Ok(a), Ok(b)) => a <= slot && slot <= b,
                            _ => false,
                        }
                    })
            })
            .expect("slot owner");
        (line[0].clone(), Self::port_of(line))
    }

    /// (id, port) of every master but `except`.
    pub fn other_masters(&self, except: &str) -> Vec<(String, u16)> {
        self.lines
            .iter()
            .filter(|l| l[2].contains("master") && l[0] != except && !l[2].contains("fail"))
            .map(|l| (l[0].clone(), Self::port_of(l)))
            .collect()
    }

    /// The port of a replica of master `id`.
    pub fn replica_of(&self, id: &str) -> u16 {
        let line = self
            .lines
            .iter()
            .find(|l| l[2].contains("slave") && l[3] == id)
            .expect("a replica");
        Self::port_of(line)
    }
}

pub fn ok(reply: Result<Reply, String>, what: &str) {
    match reply {
        Ok(Reply::Status(_)) => {}
        other => panic!("{what}: {other:?}"),
    }
}

/// Moves `slot` from its owner to another master with the legacy protocol, one key per
/// `MIGRATE` with a pause in between, so clients see `ASK` and `TRYAGAIN` for a while.
pub fn migrate_slot_slowly(seed_port: u16, slot: u16, pause: Duration) -> u16 {
    let topo = Topology::read(seed_port);
    let (from_id, from) = topo.owner(slot);
    let (to_id, to) = topo.other_masters(&from_id)[0].clone();
    let s = slot.to_string();
    ok(
        command(to, &["CLUSTER", "SETSLOT", &s, "IMPORTING", &from_id]),
        "IMPORTING",
    );
    ok(
        command(from, &["CLUSTER", "SETSLOT", &s, "MIGRATING", &to_id]),
        "MIGRATING",
    );
    let to_port = to.to_string();
    let mut moved = 0;
    loop {
        let keys = match command(from, &["CLUSTER", "GETKEYSINSLOT", &s, "1"]).unwrap() {
            Reply::Array(Some(keys)) => keys,
            other => panic!("GETKEYSINSLOT: {other:?}"),
        };
        let Some(key) = keys.first().and_then(Reply::text) else {
            break;
        };
        let reply = command(
            from,
            &[
                "MIGRATE",
                "127.0.0.1",
                &to_port,
                &key,
                "0",
                "5000",
                "REPLACE",
            ],
        );
        assert!(
            matches!(reply, Ok(Reply::Status(_))),
            "MIGRATE {key}: {reply:?}"
        );
        moved += 1;
        std::thread::sleep(pause);
    }
    for (_, port) in [(to_id.clone(), to), (from_id.clone(), from)]
        .into_iter()
        .chain(topo.other_masters(&from_id).into_iter().skip(1))
    {
        ok(
            command(port, &["CLUSTER", "SETSLOT", &s, "NODE", &to_id]),
            "SETSLOT NODE",
        );
    }
    assert!(moved > 0, "the slot held keys");
    to
}

/// Runs mixed queue operations from `clients` concurrent tasks until `stop` is set; every one
/// must answer Ok within the hang guard. Returns the number answered.
pub async fn traffic(q: Arc<dyn Queue>, clients: usize, stop: Arc<AtomicBool>) -> usize {
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (q, stop) = (q.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let mut answered = 0;
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                i += 1;
                let op = async {
                    let queue = if i % 2 == 0 {
                        QueueName::Adhoc
                    } else {
                        QueueName::Default
                    };
                    let e = q
                        .enqueue(test_job(queue), Some(format!("k{c}-{i}")))
                        .await?;
                    q.state(&e.state.id).await?;
                    if let Some(job) = q.dequeue(&[queue], Duration::from_millis(20)).await? {
                        let s: JobState = JobState::queued(job.id).with_status(JobStatus::Finished);
                        q.update(s).await?;
                    }
                    q.sizes().await?;
                    Ok::<usize, cairn_exec::queue::QueueError>(4)
                };
                let n = tokio::time::timeout(Duration::from_secs(60), op)
                    .await
                    .expect("an operation hung")
                    .expect("an operation failed");
                answered += n;
            }
            answered
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}
