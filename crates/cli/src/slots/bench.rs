//! `cairn slots bench <seed>`: load keys and generate a realistic, skewed load.

use super::fmt;
use super::status::parse_duration;
use cairn_slots::bench::keys::KeySpace;
use cairn_slots::bench::{BenchConfig, BenchReport, populate, run as run_bench};
use cairn_slots::client::Timeouts;
use cairn_slots::cluster::Cluster;
use clap::Args;
use comfy_table::{Table, presets::UTF8_FULL_CONDENSED};
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `cairn slots bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Any node of the cluster, as host:port.
    pub seed: String,
    /// Number of distinct keys requests draw from.
    #[arg(long, default_value_t = 100_000)]
    pub keys: u64,
    /// First write all `--keys` keys (slot by slot, through each slot's owner), then run.
    /// `--populate N` also sets the key count to N.
    #[arg(long)]
    pub populate: Option<u64>,
    /// Only populate; do not run the load.
    #[arg(long)]
    pub populate_only: bool,
    /// Key name prefix.
    #[arg(long, default_value = "cairn:bench:")]
    pub prefix: String,
    /// Put every key into this one slot (with a hash tag): a hot-slot test.
    #[arg(long)]
    pub slot: Option<u16>,
    /// Zipf exponent over key popularity (0 = uniform).
    #[arg(long, default_value_t = 0.99)]
    pub zipf: f64,
    /// Fraction of reads (GET); the rest are writes (SET).
    #[arg(long, default_value_t = 0.8)]
    pub read_ratio: f64,
    /// Concurrent clients, each with its own connection per node.
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Requests per client per round trip.
    #[arg(long, default_value_t = 8)]
    pub pipeline: usize,
    /// Open loop: offer this many requests per second in total, whatever the answers (latency
    /// then counts from when each request was due). Without it, each client sends its next
    /// pipeline as soon as the last one is answered (closed loop).
    #[arg(long)]
    pub rate: Option<f64>,
    /// With --rate: most pipelines one client has unanswered (as behind a connection pool); a
    /// request due beyond it waits, and its latency shows it. Default: no limit.
    #[arg(long, requires = "rate")]
    pub max_in_flight: Option<usize>,
    /// How long to run, e.g. 30s, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Value size of writes, bytes.
    #[arg(long, default_value_t = 64)]
    pub value_size: usize,
    /// Response timeout per request, e.g. 2s.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Write every request as a `key op` line (op read|write) to this file.
    #[arg(long)]
    pub access_log: Option<PathBuf>,
    /// Seed of the random key choice, for reproducible runs.
    #[arg(long, default_value_t = 1)]
    pub rng_seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.read_ratio) {
        anyhow::bail!("--read-ratio {} must be between 0 and 1", args.read_ratio);
    }
    if let Some(rate) = args.rate
        && !(rate.is_finite() && rate > 0.0)
    {
        anyhow::bail!("--rate {rate} must be a positive number of requests per second");
    }
    let cluster = Cluster::discover(&args.seed).await?;
    let key_count = args.populate.unwrap_or(args.keys);
    let keys = match args.slot {
        Some(s) if s >= 16384 => anyhow::bail!("--slot {s} is out of range (0..=16383)"),
        Some(s) => KeySpace::in_slot(&args.prefix, key_count, s),
        None => KeySpace::spread(&args.prefix, key_count),
    };
    if args.populate.is_some() {
        let r = populate(&cluster, &keys, args.value_size, 100, 32)
            .await
            .map_err(|e| {
                anyhow::anyhow!("{e}; the cluster may be partly populated, re-run to finish")
            })?;
        eprintln!(
            "populated {} keys in {} slots in {:.2} s",
            r.keys, r.slots, r.elapsed_secs
        );
        if args.populate_only {
            return Ok(());
        }
    }
    let mut cfg = BenchConfig::new(keys);
    cfg.zipf = args.zipf;
    cfg.read_ratio = args.read_ratio;
    cfg.clients = args.clients;
    cfg.pipeline = args.pipeline;
    cfg.duration = args.duration;
    cfg.value_size = args.value_size;
    cfg.timeouts = Timeouts {
        connect: Duration::from_secs(3),
        response: args.timeout,
    };
    cfg.access_log = args.access_log;
    cfg.seed = args.rng_seed;
    cfg.rate = args.rate;
    cfg.max_in_flight = args.max_in_flight;
    let report = run_bench(&cluster, &cfg)
        .await
        .map_err(|e| anyhow::anyhow!(e))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render(&report, &mut out)?;
    }
    if report.errors > 0 {
        anyhow::bail!(
            "{} of {} requests failed (first: {})",
            report.errors,
            report.errors + report.ops,
            report.first_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok(())
}

fn render(r: &BenchReport, out: &mut impl Write) -> std::io::Result<()> {
    let offered = r
        .offered_per_sec
        .map_or(String::new(), |o| format!(" of {} offered", fmt::count(o)));
    writeln!(
        out,
        "{} ops in {:.2} s: {} ops/s{offered} ({} reads, {} writes, {} errors)",
        r.ops,
        r.elapsed_secs,
        fmt::count(r.ops_per_sec),
        r.reads,
        r.writes,
        r.errors
    )?;
    let l = &r.latency;
    writeln!(
        out,
        "latency µs: p50 {}  p99 {}  p99.9 {}  max {}  mean {:.0}",
        l.p50_us, l.p99_us, l.p999_us, l.max_us, l.mean_us
    )?;
    writeln!(
        out,
        "redirections: MOVED {}  ASK {}  retried {}",
        r.moved, r.ask, r.retried
    )?;
    let mut t = Table::new();
    t.load_style(UTF8_FULL_CONDENSED);
    t.set_header(vec!["node", "requests", "share"]);
    let total = r.per_node.values().sum::<u64>().max(1) as f64;
    for (addr, n) in &r.per_node {
        t.add_row(vec![
            addr.clone(),
            n.to_string(),
            format!("{:.1}%", *n as f64 / total * 100.0),
        ]);
    }
    writeln!(out, "{t}")
}
