//! `cairn slots measure <seed> --window 60s -o snapshot.json`.

use super::status::parse_duration;
use anyhow::Context;
use cairn_slots::cluster::Cluster;
use cairn_slots::measure::access_log::read_access_log;
use cairn_slots::measure::capacity::parse_node_value;
use cairn_slots::measure::{CapacityConfig, MeasureConfig, measure};
use clap::{Args, ValueEnum};
use std::path::PathBuf;
use std::time::Duration;

/// Opt-in per-slot sampling on servers without `CLUSTER SLOT-STATS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Sample {
    /// No sampling.
    None,
    /// `MONITOR` every master for `--sample-duration` (costly: keep it short).
    Monitor,
}

/// How to derive node capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CapacityKind {
    /// Weight 1 per node, or the `--weight` values.
    Weights,
    /// A short saturating probe per master (loads the nodes; opt-in).
    Probe,
    /// The origin formula on capacity: a*cpu/sum(cpu) + (1-a)*membw/sum(membw), from
    /// `--cpu`/`--membw` values, probing nodes without them.
    CpuMembw,
}

/// Arguments of `cairn slots measure`.
#[derive(Debug, Args)]
pub struct MeasureArgs {
    /// Any node of the cluster, as host:port.
    pub seed: String,
    /// The measuring window for CLUSTER SLOT-STATS deltas, e.g. 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub window: Duration,
    /// Where to write the snapshot (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Per-slot sampling for servers without SLOT-STATS.
    #[arg(long, value_enum, default_value_t = Sample::None)]
    pub sample: Sample,
    /// Length of the `--sample monitor` window.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub sample_duration: Duration,
    /// An access log in the origin format (`key read|write` per line).
    #[arg(long)]
    pub access_log: Option<PathBuf>,
    /// The time span the access log covers, to turn counts into rates (default: --window).
    #[arg(long, value_parser = parse_duration)]
    pub access_log_span: Option<Duration>,
    /// Keys per slot whose MEMORY USAGE is sampled to estimate bytes (0 = none).
    #[arg(long, default_value_t = 3)]
    pub sample_keys: usize,
    /// Capacity source.
    #[arg(long, value_enum, default_value_t = CapacityKind::Weights)]
    pub capacity: CapacityKind,
    /// Node weight, `node=w` (node id, unique id prefix or host:port); repeatable.
    #[arg(long = "weight", value_parser = parse_node_value)]
    pub weights: Vec<(String, f64)>,
    /// Shorthand for `--capacity probe`.
    #[arg(long)]
    pub probe: bool,
    /// Probe length per node.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub probe_duration: Duration,
    /// Share of CPU in the cpu-membw formula.
    #[arg(long, default_value_t = 0.6)]
    pub alpha: f64,
    /// CPU capacity of a node, `node=value` (e.g. cores x GHz); repeatable.
    #[arg(long = "cpu", value_parser = parse_node_value)]
    pub cpu: Vec<(String, f64)>,
    /// Memory bandwidth of a node, `node=value` (e.g. MB/s from STREAM); repeatable.
    #[arg(long = "membw", value_parser = parse_node_value)]
    pub membw: Vec<(String, f64)>,
}

pub async fn run(args: MeasureArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.alpha) {
        anyhow::bail!("--alpha {} must be between 0 and 1", args.alpha);
    }
    let access_log = match &args.access_log {
        Some(path) => {
            let file = std::fs::File::open(path)
                .with_context(|| format!("cannot open access log {}", path.display()))?;
            let counts = read_access_log(std::io::BufReader::new(file))
                .with_context(|| format!("{}", path.display()))?;
            Some((counts, args.access_log_span.unwrap_or(args.window)))
        }
        None => None,
    };
    let kind = if args.probe {
        CapacityKind::Probe
    } else {
        args.capacity
    };
    let capacity = match kind {
        CapacityKind::Weights => CapacityConfig::Weights(args.weights.clone()),
        CapacityKind::Probe => CapacityConfig::Probe(args.probe_duration),
        CapacityKind::CpuMembw => CapacityConfig::CpuMembw {
            alpha: args.alpha,
            cpu: args.cpu.clone(),
            membw: args.membw.clone(),
            probe: args.probe_duration,
        },
    };
    let cfg = MeasureConfig {
        window: args.window,
        monitor: (args.sample == Sample::Monitor).then_some(args.sample_duration),
        access_log,
        sample_keys: args.sample_keys,
        capacity,
    };
    let cluster = Cluster::discover(&args.seed).await?;
    eprintln!("measuring {} for {:?}...", cluster.seed(), args.window);
    let snapshot = measure(&cluster, &cfg).await?;
    let json = snapshot.to_json();
    match &args.output {
        Some(path) => {
            std::fs::write(path, json + "\n")
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!(
                "snapshot {} written to {} (sources: {:?}, capacity: {:?})",
                snapshot.fingerprint(),
                path.display(),
                snapshot.load_sources,
                snapshot.capacity_source
            );
        }
        None => println!("{json}"),
    }
    Ok(())
}
