//! `cairn slots watch <seed> --interval 5m`: keep the layout balanced.

use super::apply::MoveArgs;
use super::progress::MoveProgress;
use super::status::parse_duration;
use anyhow::Context;
use cairn_slots::measure::capacity::parse_node_value;
use cairn_slots::measure::{CapacityConfig, MeasureConfig};
use cairn_slots::watch::{RoundReport, WatchConfig, WatchMetrics, run_with, serve_metrics};
use cairn_slots_planner::{Mode, Policy};
use clap::Args;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Arguments of `cairn slots watch`.
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Any node of the cluster, as host:port.
    pub seed: String,
    /// Time between rounds.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub interval: Duration,
    /// Measuring window per round (CLUSTER SLOT-STATS deltas).
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub window: Duration,
    /// Act when the worst normalised load (max/mean) is above this...
    #[arg(long, default_value_t = 1.25)]
    pub trigger: f64,
    /// ...for at least this long (origin: 10 minutes).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub sustain: Duration,
    /// Churn budget: slot moves per round.
    #[arg(long, default_value_t = 200)]
    pub max_moves: usize,
    /// Planner mode.
    #[arg(long, default_value = "load")]
    pub mode: Mode,
    /// Node weight, `node=w`; repeatable.
    #[arg(long = "weight", value_parser = parse_node_value)]
    pub weights: Vec<(String, f64)>,
    /// Serve Prometheus metrics on this address, e.g. 0.0.0.0:9464.
    #[arg(long)]
    pub metrics: Option<String>,
    /// Lease name shared by all replicas watching this cluster.
    #[arg(long, default_value = "watch")]
    pub lease_name: String,
    /// Lease time to live (keep it above interval + window + one round's apply).
    #[arg(long, value_parser = parse_duration)]
    pub lease_ttl: Option<Duration>,
    #[command(flatten)]
    pub moves: MoveArgs,
}

pub async fn run(args: WatchArgs) -> anyhow::Result<()> {
    let metrics = Arc::new(Mutex::new(WatchMetrics::default()));
    if let Some(addr) = &args.metrics {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr} for metrics"))?;
        tokio::spawn(serve_metrics(listener, metrics.clone()));
    }
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "localhost".into());
    let cfg = WatchConfig {
        interval: args.interval,
        trigger: args.trigger,
        sustain: args.sustain,
        max_moves: args.max_moves,
        measure: MeasureConfig {
            window: args.window,
            capacity: CapacityConfig::Weights(args.weights.clone()),
            ..MeasureConfig::default()
        },
        policy: Policy::with_mode(args.mode),
        apply: args.moves.options(),
        lease_name: args.lease_name.clone(),
        holder: format!("{host}:{}", std::process::id()),
        lease_ttl: args
            .lease_ttl
            .unwrap_or(args.interval + args.window + Duration::from_secs(600)),
        rounds: None,
    };
    let progress = MoveProgress::new();
    let json = args.moves.json;
    let on_round = move |r: &RoundReport| {
        if json {
            match serde_json::to_string(r) {
                Ok(line) => println!("{line}"),
                Err(e) => tracing::error!(error = %e, "cannot serialize the round report"),
            }
        }
    };
    run_with(&args.seed, &cfg, metrics, &progress, &on_round).await?;
    Ok(())
}
