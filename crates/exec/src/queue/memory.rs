//! The in-process queue behind `cairn up`: one process, no Redis.
//!
//! Everything lives in one `std::sync::Mutex` that is never held across an `.await`. Because the
//! state is in memory, a restart forgets every job: a client polling a job from before the
//! restart is told it was lost instead of seeing "queued" forever.

use super::{Enqueued, Queue, QueueError, WorkerInfo};
use crate::job::{CANCELLED_MESSAGE, Job, JobId, JobState, JobStatus, QueueName};
use async_trait::async_trait;
use chrono::Utc;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// An in-memory [`Queue`]. Final job states are kept for `state_ttl`, then forgotten.
#[derive(Debug)]
pub struct MemoryQueue {
    inner: Mutex<Inner>,
    arrived: Notify,
    state_ttl: chrono::Duration,
}

#[derive(Debug, Default)]
struct Inner {
    waiting: HashMap<QueueName, VecDeque<Job>>,
    jobs: HashMap<JobId, Entry>,
    locks: HashMap<String, JobId>,
}

#[derive(Debug)]
struct Entry {
    state: JobState,
    dedup_key: Option<String>,
    cancel: CancellationToken,
}

impl MemoryQueue {
    /// An empty queue keeping final job states for `state_ttl` (Redash: `REDASH_JOB_EXPIRY_TIME`).
    pub fn new(state_ttl: Duration) -> MemoryQueue {
        MemoryQueue {
            inner: Mutex::new(Inner::default()),
            arrived: Notify::new(),
            state_ttl: chrono::Duration::from_std(state_ttl).unwrap_or(chrono::Duration::hours(12)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps inconsistent in a way that matters
        // more than stopping every request, so a poisoned lock is used as is.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn take_next(&self, queues: &[QueueName]) -> Option<Job> {
        let mut inner = self.lock();
        let Inner { waiting, jobs, .. } = &mut *inner;
        for q in queues {
            let Some(list) = waiting.get_mut(q) else {
                continue;
            };
            while let Some(job) = list.pop_front() {
                let Some(entry) = jobs.get_mut(&job.id) else {
                    continue;
                };
                if entry.state.status != JobStatus::Queued {
                    continue; // cancelled while waiting
                }
                entry.state = entry.state.clone().with_status(JobStatus::Started);
                return Some(job);
            }
        }
        None
    }

    fn expire(&self, inner: &mut Inner) {
        let cutoff = Utc::now() - self.state_ttl;
        inner
            .jobs
            .retain(|_, e| !(e.state.status.is_final() && e.state.updated_at < cutoff));
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn enqueue(&self, job: Job, dedup_key: Option<String>) -> Result<Enqueued, QueueError> {
        let mut inner = self.lock();
        self.expire(&mut inner);
        if let Some(key) = &dedup_key {
            if let Some(existing) = inner.locks.get(key).and_then(|id| inner.jobs.get(id))
                && !existing.state.status.is_final()
            {
                return Ok(Enqueued {
                    state: existing.state.clone(),
                    is_new: false,
                });
            }
            inner.locks.insert(key.clone(), job.id.clone());
        }
        let state = JobState::queued(job.id.clone());
        inner.jobs.insert(
            job.id.clone(),
            Entry {
                state: state.clone(),
                dedup_key,
                cancel: CancellationToken::new(),
            },
        );
        inner.waiting.entry(job.queue).or_default().push_back(job);
        drop(inner);
        self.arrived.notify_waiters();
        Ok(Enqueued {
            state,
            is_new: true,
        })
    }

    async fn dequeue(
        &self,
        queues: &[QueueName],
        wait: Duration,
    ) -> Result<Option<Job>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let arrived = self.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(job) = self.take_next(queues) {
                return Ok(Some(job));
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return Ok(None);
            }
        }
    }

    async fn state(&self, id: &JobId) -> Result<Option<JobState>, QueueError> {
        let mut inner = self.lock();
        self.expire(&mut inner);
        Ok(inner.jobs.get(id).map(|e| e.state.clone()))
    }

    async fn update(&self, state: JobState) -> Result<(), QueueError> {
        let mut inner = self.lock();
        let Some(entry) = inner.jobs.get_mut(&state.id) else {
            return Ok(());
        };
        if entry.state.status.is_final() {
            return Ok(()); // a cancelled job stays cancelled whatever its worker reports late
        }
        let release = state
            .status
            .is_final()
            .then(|| entry.dedup_key.clone())
            .flatten();
        entry.state = state.clone();
        if let Some(key) = release
            && inner.locks.get(&key) == Some(&state.id)
        {
            inner.locks.remove(&key);
        }
        Ok(())
    }

    async fn cancel(&self, id: &JobId) -> Result<Option<JobState>, QueueError> {
        let mut inner = self.lock();
        let Some(entry) = inner.jobs.get_mut(id) else {
            return Ok(None);
        };
        entry.cancel.cancel();
        if entry.state.status == JobStatus::Queued {
            let mut s = entry.state.clone().with_status(JobStatus::Cancelled);
            s.error = Some(CANCELLED_MESSAGE.to_string());
            entry.state = s;
            if let Some(key) = entry.dedup_key.clone()
                && inner.locks.get(&key) == Some(id)
            {
                inner.locks.remove(&key);
            }
        }
        Ok(inner.jobs.get(id).map(|e| e.state.clone()))
    }

    async fn cancel_requested(&self, id: &JobId) -> Result<(), QueueError> {
        let token = self.lock().jobs.get(id).map(|e| e.cancel.clone());
        match token {
            Some(t) => t.cancelled_owned().await,
            None => std::future::pending::<()>().await,
        }
        Ok(())
    }

    async fn sizes(&self) -> Result<Vec<(QueueName, usize)>, QueueError> {
        let inner = self.lock();
        Ok(QueueName::ALL
            .into_iter()
            .map(|q| {
                let n = inner.waiting.get(&q).map_or(0, |l| {
                    l.iter()
                        .filter(|j| {
                            inner
                                .jobs
                                .get(&j.id)
                                .is_some_and(|e| e.state.status == JobStatus::Queued)
                        })
                        .count()
                });
                (q, n)
            })
            .collect())
    }

    async fn workers(&self) -> Result<Vec<WorkerInfo>, QueueError> {
        Ok(Vec::new()) // the workers run in this process and stop with it
    }

    async fn recover_stale(&self) -> Result<usize, QueueError> {
        Ok(0) // a job's worker cannot stop without the queue stopping too
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::JobKind;

    fn test_job(queue: QueueName) -> Job {
        Job::new(queue, JobKind::TestConnection { data_source_id: 1 })
    }

    fn queue() -> MemoryQueue {
        MemoryQueue::new(Duration::from_secs(3600))
    }

    #[tokio::test]
    async fn dequeue_follows_queue_order_and_marks_started() {
        let q = queue();
        let low = q.enqueue(test_job(QueueName::Default), None).await.unwrap();
        let high = q.enqueue(test_job(QueueName::Adhoc), None).await.unwrap();
        let got = q
            .dequeue(
                &[QueueName::Adhoc, QueueName::Default],
                Duration::from_millis(10),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.id, high.state.id);
        assert_eq!(
            q.state(&got.id).await.unwrap().unwrap().status,
            JobStatus::Started
        );
        assert_eq!(
            q.state(&low.state.id).await.unwrap().unwrap().status,
            JobStatus::Queued
        );
        let sizes = q.sizes().await.unwrap();
        assert!(sizes.contains(&(QueueName::Default, 1)));
        assert!(sizes.contains(&(QueueName::Adhoc, 0)));
    }

    #[tokio::test]
    async fn dequeue_times_out_empty_and_wakes_on_arrival() {
        let q = std::sync::Arc::new(queue());
        assert!(
            q.dequeue(&[QueueName::Adhoc], Duration::from_millis(20))
                .await
                .unwrap()
                .is_none()
        );
        let q2 = q.clone();
        let waiter = tokio::spawn(async move {
            q2.dequeue(&[QueueName::Adhoc], Duration::from_secs(5))
                .await
                .unwrap()
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        let e = q.enqueue(test_job(QueueName::Adhoc), None).await.unwrap();
        assert_eq!(waiter.await.unwrap().unwrap().id, e.state.id);
    }

    #[tokio::test]
    async fn identical_live_jobs_share_one_id_until_final() {
        let q = queue();
        let key = Some("query_hash_job:1:abc".to_string());
        let a = q
            .enqueue(test_job(QueueName::Adhoc), key.clone())
            .await
            .unwrap();
        let b = q
            .enqueue(test_job(QueueName::Adhoc), key.clone())
            .await
            .unwrap();
        assert!(a.is_new && !b.is_new);
        assert_eq!(a.state.id, b.state.id);
        let done = a.state.clone().with_status(JobStatus::Finished);
        q.update(done).await.unwrap();
        let c = q.enqueue(test_job(QueueName::Adhoc), key).await.unwrap();
        assert!(c.is_new);
        assert_ne!(c.state.id, a.state.id);
    }

    #[tokio::test]
    async fn cancelling_a_queued_job_skips_it_and_frees_its_key() {
        let q = queue();
        let key = Some("k".to_string());
        let a = q
            .enqueue(test_job(QueueName::Adhoc), key.clone())
            .await
            .unwrap();
        let s = q.cancel(&a.state.id).await.unwrap().unwrap();
        assert_eq!(s.status, JobStatus::Cancelled);
        assert_eq!(s.error.as_deref(), Some(CANCELLED_MESSAGE));
        assert!(
            q.dequeue(&[QueueName::Adhoc], Duration::from_millis(10))
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            q.enqueue(test_job(QueueName::Adhoc), key)
                .await
                .unwrap()
                .is_new
        );
        // A late report from a worker does not resurrect it.
        q.update(s.clone().with_status(JobStatus::Finished))
            .await
            .unwrap();
        assert_eq!(
            q.state(&a.state.id).await.unwrap().unwrap().status,
            JobStatus::Cancelled
        );
    }

    #[tokio::test]
    async fn cancelling_a_running_job_signals_its_worker() {
        let q = std::sync::Arc::new(queue());
        let a = q.enqueue(test_job(QueueName::Adhoc), None).await.unwrap();
        let job = q
            .dequeue(&[QueueName::Adhoc], Duration::from_millis(10))
            .await
            .unwrap()
            .unwrap();
        let q2 = q.clone();
        let id = job.id.clone();
        let signalled = tokio::spawn(async move { q2.cancel_requested(&id).await });
        let s = q.cancel(&a.state.id).await.unwrap().unwrap();
        assert_eq!(
            s.status,
            JobStatus::Started,
            "a running job is signalled, not marked"
        );
        tokio::time::timeout(Duration::from_secs(1), signalled)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn unknown_jobs_have_no_state() {
        let q = queue();
        assert!(q.state(&JobId::random()).await.unwrap().is_none());
        assert!(q.cancel(&JobId::random()).await.unwrap().is_none());
    }
}
