//! `cairn slots status <seed> [--json]`.

use super::fmt;
use cairn_slots::cluster::Cluster;
use cairn_slots::status::{StatusReport, collect};
use clap::Args;
use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};
use std::io::Write;
use std::time::Duration;

/// Arguments of `cairn slots status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Any node of the cluster, as host:port.
    pub seed: String,
    /// Print JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// How long to watch counters for CPU and per-slot rates, e.g. 1s, 500ms.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub interval: Duration,
    /// How many of the hottest slots to list (where the server reports per-slot load).
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

/// Parses `500ms`, `2s`, `5m`, `1h` or a plain number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .map_or((t, "s"), |i| (&t[..i], &t[i..]));
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid duration {text:?} (try 30s, 5m)"))?;
    let secs = match unit {
        "ms" => v / 1000.0,
        "s" => v,
        "m" => v * 60.0,
        "h" => v * 3600.0,
        _ => {
            return Err(format!(
                "invalid duration unit in {text:?} (use ms, s, m or h)"
            ));
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("invalid duration {text:?}"))
}

pub async fn run(args: StatusArgs) -> anyhow::Result<()> {
    let cluster = Cluster::discover(&args.seed).await?;
    let report = collect(&cluster, args.interval, args.top).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        render(&report, &mut out)?;
    }
    Ok(())
}

/// Writes the human tables.
pub fn render(report: &StatusReport, out: &mut impl Write) -> std::io::Result<()> {
    let state = if report.problems.is_empty() {
        "ok".to_string()
    } else {
        "NOT OK".to_string()
    };
    writeln!(
        out,
        "cluster via {}  fingerprint {}  state {state}",
        report.seed, report.fingerprint
    )?;
    for p in &report.problems {
        writeln!(out, "  problem: {p}")?;
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED);
    table.set_header(vec![
        "node", "address", "role", "server", "slots", "ranges", "keys", "memory", "ops/s", "cpu %",
    ]);
    for n in &report.nodes {
        let role = match &n.master_id {
            Some(m) => format!("replica of {}", fmt::short(m)),
            None => n.role.to_string(),
        };
        let role = if n.flags.is_empty() {
            role
        } else {
            format!("{role} [{}]", n.flags.join(","))
        };
        let (keys, memory, ops) = match &n.stats {
            Some(s) => (
                fmt::count(s.keys as f64),
                fmt::bytes(s.used_memory),
                fmt::count(s.ops_per_sec as f64),
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        let cpu = n.cpu_percent.map_or("-".to_string(), |c| format!("{c:.1}"));
        let server = if n.up {
            n.server.clone().unwrap_or_default()
        } else {
            "DOWN".to_string()
        };
        table.add_row(vec![
            Cell::new(fmt::short(&n.id)),
            Cell::new(&n.addr),
            Cell::new(role),
            Cell::new(server),
            Cell::new(n.slot_count).set_alignment(CellAlignment::Right),
            Cell::new(fmt::ranges(&n.slots, 3)),
            Cell::new(keys).set_alignment(CellAlignment::Right),
            Cell::new(memory).set_alignment(CellAlignment::Right),
            Cell::new(ops).set_alignment(CellAlignment::Right),
            Cell::new(cpu).set_alignment(CellAlignment::Right),
        ]);
    }
    writeln!(out, "{table}")?;
    match (&report.top_slots, &report.slot_stats_note) {
        (Some(rows), _) => {
            writeln!(
                out,
                "hottest slots over {} ms (CLUSTER SLOT-STATS):",
                report.interval_ms
            )?;
            let mut t = Table::new();
            t.load_style(UTF8_FULL_CONDENSED);
            t.set_header(vec![
                "slot",
                "node",
                "keys",
                "cpu µs/s",
                "net in/s",
                "net out/s",
            ]);
            for r in rows {
                t.add_row(vec![
                    Cell::new(r.slot),
                    Cell::new(fmt::short(&r.node)),
                    Cell::new(fmt::count(r.keys as f64)).set_alignment(CellAlignment::Right),
                    Cell::new(fmt::count(r.cpu_usec_per_sec)).set_alignment(CellAlignment::Right),
                    Cell::new(fmt::bytes(r.net_in_per_sec as u64))
                        .set_alignment(CellAlignment::Right),
                    Cell::new(fmt::bytes(r.net_out_per_sec as u64))
                        .set_alignment(CellAlignment::Right),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        (None, Some(note)) => writeln!(out, "{note}")?,
        (None, None) => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("").is_err());
    }
}
