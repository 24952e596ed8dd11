//! `cairn scheduler`: several replicas for availability, exactly one acting.
//!
//! Each replica tries to take or renew a lease in Redis every third of its time to live. The
//! holder runs the periodic tasks ([`Scheduler`]) with the lease's fencing token; the metadata
//! store refuses a scheduled run claimed with a token older than one it has seen, so a holder
//! that was paused past its lease cannot enqueue behind the new holder's back. A replica stops
//! acting at once when a renewal fails, when it cannot reach Redis, or when its lease would run
//! out before the next renewal; another replica takes over once the lease expires. Tokens are
//! taken above the highest one the store has accepted, so a Redis that lost its data (a restart
//! without persistence) cannot hand out an old token again and stall every claim.

use crate::config::{RedisArgs, SchedulerArgs, StoreArgs};
use crate::roles::health::{HealthArgs, HealthListener};
use cairn_exec::queue::Queue;
use cairn_exec::scheduler::{LAST_ROUND_METRIC, LEADER_METRIC, Scheduler};
use cairn_exec::settings::SchedulerSettings;
use cairn_store::Store;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Flags of `cairn scheduler`.
#[derive(Debug, Args)]
pub struct SchedulerRoleArgs {
    /// Seconds the leader's lease lasts without renewal: a failed leader is replaced within
    /// about this time.
    #[arg(long, env = "CAIRN_SCHEDULER_LEASE_TTL", default_value_t = 10)]
    pub lease_ttl: u64,
    #[command(flatten)]
    pub health: HealthArgs,
    #[command(flatten)]
    pub store: StoreArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
    #[command(flatten)]
    pub scheduler: SchedulerArgs,
}

/// The periodic tasks of the current leadership term.
struct Term {
    token: u64,
    fence: watch::Sender<Option<u64>>,
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Term {
    fn start(
        store: &Store,
        queue: &Arc<dyn Queue>,
        settings: &SchedulerSettings,
        token: u64,
    ) -> Term {
        tracing::info!(token, "leading the scheduler");
        metrics::gauge!(LEADER_METRIC).set(1.0);
        metrics::gauge!(LAST_ROUND_METRIC).set(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64()),
        );
        let (fence, fenced) = watch::channel(Some(token));
        let stop = CancellationToken::new();
        let scheduler =
            Scheduler::new(store.clone(), queue.clone(), settings.clone()).with_fence(fenced);
        let task = tokio::spawn(scheduler.run(stop.clone()));
        Term {
            token,
            fence,
            stop,
            task,
        }
    }

    /// Stops at once: no further claim is made with the token, and the running task is
    /// aborted rather than awaited (a claim already sent is fenced by the store anyway).
    fn end(self, why: &str) {
        tracing::warn!(token = self.token, why, "no longer leading the scheduler");
        metrics::gauge!(LEADER_METRIC).set(0.0);
        self.fence.send_replace(None);
        self.stop.cancel();
        self.task.abort();
    }
}

/// Ends the current term, if any.
fn end(term: &mut Option<Term>, why: &str) {
    if let Some(t) = term.take() {
        t.end(why);
    }
}

/// Competes for the lease and leads while holding it, until SIGTERM; then gives the lease up
/// so another replica takes over without waiting for it to expire.
///
/// # Errors
/// When the database, Redis or the health address cannot be reached or bound at start.
pub async fn run(args: SchedulerRoleArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.lease_ttl >= 1, "--lease-ttl must be at least 1 second");
    let health = HealthListener::bind(&args.health).await?;
    let store = args.store.connect(true).await?;
    let backend = args.redis.connect().await?;
    let queue = backend.queue();
    let settings = args.scheduler.settings();
    let (draining, health_stop) = (CancellationToken::new(), CancellationToken::new());
    let health_task = health.spawn(
        store.clone(),
        queue.clone(),
        draining.clone(),
        health_stop.clone(),
    );
    metrics::gauge!(LEADER_METRIC).set(0.0);

    let ttl = Duration::from_secs(args.lease_ttl);
    let every = ttl / 3;
    let holder = format!("{}:{}", hostname(), std::process::id());
    let mut lease = backend.lease("scheduler", &holder, ttl);
    let mut term: Option<Term> = None;
    let mut held_until = Instant::now();
    let terminated = crate::signals::terminated();
    tokio::pin!(terminated);
    loop {
        let asked = Instant::now();
        if term.is_none() {
            match store.highest_fencing_token().await {
                Ok(highest) => lease.set_token_floor(highest),
                Err(e) => tracing::warn!(error = %e, "cannot read the highest fencing token"),
            }
        }
        match tokio::time::timeout(every, lease.acquire_or_renew()).await {
            Ok(Ok(Some(token))) => {
                held_until = asked + ttl;
                if term.as_ref().is_some_and(|t| t.token != token) {
                    end(&mut term, "the lease was taken again with a new token");
                }
                if term.is_none() {
                    term = Some(Term::start(&store, &queue, &settings, token));
                }
            }
            Ok(Ok(None)) => end(&mut term, "another replica holds the lease"),
            Ok(Err(e)) => {
                end(&mut term, "the lease could not be renewed");
                tracing::warn!(error = %e, "scheduler lease: Redis failed; retrying");
            }
            Err(_) => end(&mut term, "the lease renewal timed out"),
        }
        // Renew a third of the way through; stop acting before the lease can run out.
        let next = if term.is_some() {
            (asked + every).min(held_until)
        } else {
            asked + every
        };
        tokio::select! {
            _ = tokio::time::sleep_until(next) => {}
            _ = &mut terminated => break,
        }
        if Instant::now() + every / 2 >= held_until {
            end(&mut term, "the lease is about to run out");
        }
    }
    draining.cancel();
    end(&mut term, "shutting down");
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, "cannot release the scheduler lease; it expires by itself");
    }
    health_stop.cancel();
    let _ = health_task.await;
    store.close().await;
    Ok(())
}

/// This machine's name (the pod name on Kubernetes), for telling lease holders apart.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|| "unknown-host".into())
}
