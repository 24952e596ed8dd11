//! The human-readable text `cairn slots plan` prints: what moves, what it costs, and what it
//! should do to each node. Plain fixed-width text, so it reads the same in a terminal, a log
//! and a test assertion.

use std::fmt::Write;

use crate::layout::Resource;
use crate::plan::{NodeLoad, Plan};

impl Plan {
    /// A text summary: cost, max/mean before and after against the lower bound, a table per
    /// resource and per node, the first moves, and the notes.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let _ = self.write_summary(&mut s);
        s
    }

    fn write_summary(&self, s: &mut String) -> std::fmt::Result {
        writeln!(
            s,
            "plan ({} mode) for snapshot {}",
            self.mode, self.snapshot_fingerprint
        )?;
        writeln!(
            s,
            "moves: {}  keys: {}  bytes: {}",
            self.cost.moves,
            self.cost.keys,
            human_bytes(self.cost.bytes)
        )?;
        writeln!(
            s,
            "worst normalised load (max/mean): {:.3} -> {:.3}  lower bound {:.3}",
            self.max_mean_before, self.max_mean_after, self.lower_bound
        )?;
        writeln!(s)?;
        writeln!(
            s,
            "{:<10} {:>10} {:>10} {:>12}",
            "resource", "max before", "max after", "lower bound"
        )?;
        for r in &self.resources {
            writeln!(
                s,
                "{:<10} {:>10.3} {:>10.3} {:>12.3}",
                r.resource.as_str(),
                r.max_before,
                r.max_after,
                r.lower_bound
            )?;
        }
        writeln!(s)?;
        let resources: Vec<Resource> = self.resources.iter().map(|r| r.resource).collect();
        write!(s, "{:<12} {:<21} {:>13}", "node", "addr", "slots")?;
        for r in &resources {
            write!(s, " {:>14}", r.as_str())?;
        }
        writeln!(s, " {:>14}", "memory")?;
        for n in &self.nodes {
            write!(
                s,
                "{:<12} {:<21} {:>13}",
                short_id(&n.id),
                n.addr,
                format!("{} -> {}", n.slots_before, n.slots_after)
            )?;
            for &r in &resources {
                write!(s, " {:>14}", pair(n.before.get(r), n.after.get(r)))?;
            }
            writeln!(s, " {:>14}", memory(&n.before, &n.after))?;
        }
        if !self.moves.is_empty() {
            writeln!(s)?;
            const SHOWN: usize = 10;
            writeln!(s, "first moves:")?;
            for m in self.moves.iter().take(SHOWN) {
                writeln!(
                    s,
                    "  slot {:>5}  {} -> {}  {} keys  {}",
                    m.slot,
                    short_id(&m.from),
                    short_id(&m.to),
                    m.keys,
                    human_bytes(m.bytes)
                )?;
            }
            if self.moves.len() > SHOWN {
                writeln!(s, "  ... and {} more", self.moves.len() - SHOWN)?;
            }
        }
        if !self.notes.is_empty() {
            writeln!(s)?;
            for note in &self.notes {
                writeln!(s, "note: {note}")?;
            }
        }
        Ok(())
    }
}

fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn pair(before: Option<f64>, after: Option<f64>) -> String {
    match (before, after) {
        (Some(b), Some(a)) => format!("{b:.2} -> {a:.2}"),
        _ => "-".into(),
    }
}

fn memory(before: &NodeLoad, after: &NodeLoad) -> String {
    match (before.memory, after.memory) {
        (Some(b), Some(a)) => format!("{:.0}% -> {:.0}%", b * 100.0, a * 100.0),
        _ => human_bytes(after.bytes),
    }
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}
