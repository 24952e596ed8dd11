//! `cairn slots watch`: measure every interval, re-plan when the cluster stays unbalanced, apply
//! within a churn budget, and expose Prometheus metrics.
//!
//! The origin design re-planned when a node stayed above 80% CPU for 10 minutes. Here the signal
//! is the planner's worst normalised load (max/mean over nodes and resources, 1.0 = every node
//! carries exactly its capacity share): a round acts only when it has been above `trigger` for
//! at least `sustain`, so a short burst does not move slots. Each round moves at most
//! `max_moves` slots (a churn budget, as Slicer's ~10% per round), and only the replica that holds
//! the [`Lease`] acts; the others measure nothing and report `cairn_slots_leader 0`.

use crate::cluster::Cluster;
use crate::error::SlotsError;
use crate::lease::Lease;
use crate::measure::{MeasureConfig, measure};
use crate::migrate::{ApplyOptions, ApplyReport, Progress, apply};
use crate::router::{Router, SlotMap};
use cairn_slots_planner::{Policy, plan};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Settings of the watch loop.
#[derive(Debug, Clone)]
pub struct WatchConfig {
    /// Time between rounds.
    pub interval: Duration,
    /// Act when the worst normalised load is above this.
    pub trigger: f64,
    /// ... for at least this long.
    pub sustain: Duration,
    /// Slot moves per round at most.
    pub max_moves: usize,
    /// How to measure.
    pub measure: MeasureConfig,
    /// Planner policy (its `max_moves` is replaced by the round budget).
    pub policy: Policy,
    /// How to apply.
    pub apply: ApplyOptions,
    /// Lease name shared by the replicas and this replica's identity.
    pub lease_name: String,
    /// This replica's identity (host, pid).
    pub holder: String,
    /// Lease time to live; renewed every round, so keep it above `interval` plus a round's work.
    pub lease_ttl: Duration,
    /// Stop after this many rounds (tests); `None` runs forever.
    pub rounds: Option<usize>,
}

/// What one round did, for `cairn slots watch --json` (one object per round).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RoundReport {
    /// 1-based round number.
    pub round: u64,
    /// `follower` (another replica holds the lease), `balanced` (at or below the trigger),
    /// `waiting` (above the trigger, not yet for `sustain`, or nothing to move), `lease-lost`,
    /// `applied` or `error`.
    pub action: String,
    /// Whether this replica held the lease.
    pub leader: bool,
    /// Fencing token of the holding (0 when not leader).
    pub fencing_token: u64,
    /// Worst normalised load measured this round (absent when nothing was measured).
    pub worst_load: Option<f64>,
    /// The planner's lower bound for it.
    pub lower_bound: Option<f64>,
    /// Moves in this round's plan.
    pub planned_moves: usize,
    /// The apply's outcome, when the round applied.
    pub apply: Option<ApplyReport>,
    /// The error, when the round failed.
    pub error: Option<String>,
    /// Wall time of the round, milliseconds.
    pub elapsed_ms: u64,
}

/// What the metrics endpoint reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WatchMetrics {
    /// Whether this replica holds the lease.
    pub leader: bool,
    /// Fencing token of the current holding.
    pub fencing_token: u64,
    /// Rounds run.
    pub rounds: u64,
    /// Rounds that applied a plan.
    pub applied_rounds: u64,
    /// Slots moved in total.
    pub moves: u64,
    /// Worst normalised load at the last measurement.
    pub worst_load: f64,
    /// The planner's lower bound at the last measurement.
    pub lower_bound: f64,
    /// Rounds that failed (unreachable cluster, apply error...).
    pub errors: u64,
}

impl WatchMetrics {
    /// Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let mut gauge = |name: &str, kind: &str, help: &str, v: f64| {
            s.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}\n"
            ));
        };
        gauge(
            "cairn_slots_leader",
            "gauge",
            "1 when this replica holds the watch lease.",
            f64::from(u8::from(self.leader)),
        );
        gauge(
            "cairn_slots_fencing_token",
            "gauge",
            "Fencing token of the current lease holding.",
            self.fencing_token as f64,
        );
        gauge(
            "cairn_slots_rounds_total",
            "counter",
            "Watch rounds run.",
            self.rounds as f64,
        );
        gauge(
            "cairn_slots_applied_rounds_total",
            "counter",
            "Rounds that applied a plan.",
            self.applied_rounds as f64,
        );
        gauge(
            "cairn_slots_moves_total",
            "counter",
            "Slots moved.",
            self.moves as f64,
        );
        gauge(
            "cairn_slots_worst_normalised_load",
            "gauge",
            "Worst normalised load (max/mean) at the last measurement.",
            self.worst_load,
        );
        gauge(
            "cairn_slots_lower_bound",
            "gauge",
            "Lowest worst load any layout can reach.",
            self.lower_bound,
        );
        gauge(
            "cairn_slots_errors_total",
            "counter",
            "Rounds that failed.",
            self.errors as f64,
        );
        s
    }
}

/// Serves `GET /metrics` (any path, in fact) from `metrics` on `listener` until the task is
/// dropped. A tiny HTTP/1.0 responder: Prometheus needs nothing more.
pub async fn serve_metrics(listener: TcpListener, metrics: Arc<Mutex<WatchMetrics>>) {
    loop {
        let Ok((mut sock, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = sock.read(&mut buf).await;
            let body = metrics.lock().unwrap_or_else(|e| e.into_inner()).render();
            let reply = format!(
                "HTTP/1.0 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        });
    }
}

/// Runs the watch loop on the cluster reached through `seed`.
///
/// # Errors
/// Only when the seed cannot be reached at start; later failures are logged, counted in
/// `cairn_slots_errors_total`, and the loop goes on.
pub async fn run(
    seed: &str,
    cfg: &WatchConfig,
    metrics: Arc<Mutex<WatchMetrics>>,
    progress: &dyn Progress,
) -> Result<(), SlotsError> {
    run_with(seed, cfg, metrics, progress, &|_| {}).await
}

/// [`run`], calling `on_round` with each round's [`RoundReport`].
///
/// # Errors
/// As [`run`].
pub async fn run_with(
    seed: &str,
    cfg: &WatchConfig,
    metrics: Arc<Mutex<WatchMetrics>>,
    progress: &dyn Progress,
    on_round: &(dyn Fn(&RoundReport) + Send + Sync),
) -> Result<(), SlotsError> {
    let cluster = Cluster::discover(seed).await?;
    let mut router = Router::new(
        Arc::new(SlotMap::from_cluster(&cluster)),
        crate::client::Timeouts::default(),
    );
    let mut lease = Lease::new(&cfg.lease_name, &cfg.holder, cfg.lease_ttl);
    let mut above_since: Option<Instant> = None;
    let mut round = 0usize;
    loop {
        let started = Instant::now();
        let mut report = match one_round(
            seed,
            cfg,
            &mut lease,
            &mut router,
            &mut above_since,
            &metrics,
            progress,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "watch round failed");
                metrics.lock().unwrap_or_else(|e| e.into_inner()).errors += 1;
                RoundReport {
                    action: "error".into(),
                    error: Some(e.to_string()),
                    ..RoundReport::default()
                }
            }
        };
        metrics.lock().unwrap_or_else(|e| e.into_inner()).rounds += 1;
        round += 1;
        report.round = round as u64;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        on_round(&report);
        if cfg.rounds.is_some_and(|n| round >= n) {
            let _ = lease.release(&mut router).await;
            return Ok(());
        }
        if let Some(rest) = cfg.interval.checked_sub(started.elapsed()) {
            tokio::time::sleep(rest).await;
        }
    }
}

async fn one_round(
    seed: &str,
    cfg: &WatchConfig,
    lease: &mut Lease,
    router: &mut Router,
    above_since: &mut Option<Instant>,
    metrics: &Arc<Mutex<WatchMetrics>>,
    progress: &dyn Progress,
) -> Result<RoundReport, SlotsError> {
    let mut report = RoundReport::default();
    let lease_err =
        |e: redis::RedisError| SlotsError::refused(format!("lease: {e}"), "check the cluster");
    let leader = lease.acquire_or_renew(router).await.map_err(lease_err)?;
    {
        let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.leader = leader;
        m.fencing_token = lease.token().unwrap_or(0);
    }
    report.leader = leader;
    report.fencing_token = lease.token().unwrap_or(0);
    if !leader {
        report.action = "follower".into();
        *above_since = None;
        return Ok(report);
    }
    let cluster = Cluster::discover(seed).await?;
    let snapshot = measure(&cluster, &cfg.measure).await?;
    let policy = Policy {
        max_moves: Some(cfg.max_moves),
        ..cfg.policy.clone()
    };
    let made = plan(&snapshot, &policy)
        .map_err(|e| SlotsError::refused(format!("cannot plan: {e}"), "check the snapshot"))?;
    {
        let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
        m.worst_load = made.max_mean_before;
        m.lower_bound = made.lower_bound;
    }
    report.worst_load = Some(made.max_mean_before);
    report.lower_bound = Some(made.lower_bound);
    report.planned_moves = made.moves.len();
    if made.max_mean_before <= cfg.trigger {
        report.action = "balanced".into();
        *above_since = None;
        return Ok(report);
    }
    let since = *above_since.get_or_insert_with(Instant::now);
    if since.elapsed() < cfg.sustain || made.moves.is_empty() {
        report.action = "waiting".into();
        tracing::info!(worst = made.max_mean_before, above_for = ?since.elapsed(), "unbalanced; waiting for the sustain window");
        return Ok(report);
    }
    // The lease may have been lost while measuring: check right before acting.
    if !lease.still_held(router).await.map_err(lease_err)? {
        metrics.lock().unwrap_or_else(|e| e.into_inner()).leader = false;
        report.action = "lease-lost".into();
        return Ok(report);
    }
    tracing::info!(
        moves = made.moves.len(),
        token = lease.token(),
        worst = made.max_mean_before,
        "applying"
    );
    let applied = apply(&cluster, &made, &cfg.apply, progress).await?;
    let mut m = metrics.lock().unwrap_or_else(|e| e.into_inner());
    m.applied_rounds += 1;
    m.moves += applied.moves as u64;
    *above_since = None;
    report.action = "applied".into();
    report.apply = Some(applied);
    Ok(report)
}
