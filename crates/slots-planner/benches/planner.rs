//! Planner time and plan quality on synthetic Zipf-skewed clusters.
//!
//! Run: `cargo bench -p cairn-slots-planner --bench planner`
//!
//! For 3, 6, 10, 30 and 100 masters (16384 slots, 1M keys, Zipf 0.99, 80% reads, capacities up
//! to 4x apart, even starting layout) it prints, per mode, the median planning time of several
//! runs, the move count, and the predicted max/mean normalised load after the plan against the
//! lower bound. A second table repeats it with identical nodes, the case the reference anchors
//! (count-balanced layouts, the floor set by the hottest slot) describe.

use std::time::{Duration, Instant};

use cairn_slots_planner::synthetic::{SyntheticSpec, generate};
use cairn_slots_planner::{Mode, Policy, plan};

const NODE_COUNTS: [usize; 5] = [3, 6, 10, 30, 100];
const RUNS: usize = 5;

fn main() {
    for (title, spread) in [
        ("heterogeneous nodes (capacity spread 4x)", 4.0),
        ("identical nodes", 1.0),
    ] {
        println!("\n## {title}\n");
        println!(
            "{:>5} {:>7} | {:>8} {:>7} {:>9} {:>7} | {:>8} {:>7} {:>9} {:>7} | {:>8} {:>7} {:>9} {:>7} {:>8}",
            "nodes",
            "before",
            "count",
            "moves",
            "time",
            "",
            "origin",
            "moves",
            "time",
            "",
            "load",
            "moves",
            "time",
            "bound",
            "load/lb"
        );
        for nodes in NODE_COUNTS {
            let snap = generate(&SyntheticSpec {
                nodes,
                seed: 7,
                capacity_spread: spread,
                ..SyntheticSpec::default()
            });
            let mut row = Vec::new();
            let mut before = 0.0;
            let mut bound = 0.0;
            for mode in Mode::ALL {
                let policy = Policy::with_mode(mode);
                let mut times = Vec::new();
                let mut last = None;
                for _ in 0..RUNS {
                    let t = Instant::now();
                    let p = plan(&snap, &policy).expect("synthetic snapshots always plan");
                    times.push(t.elapsed());
                    last = Some(p);
                }
                times.sort();
                let p = last.expect("RUNS > 0");
                before = p.max_mean_before;
                bound = p.lower_bound;
                row.push((p.max_mean_after, p.cost.moves, times[RUNS / 2]));
            }
            let ms = |d: Duration| format!("{:.1}ms", d.as_secs_f64() * 1000.0);
            println!(
                "{:>5} {:>7.3} | {:>8.3} {:>7} {:>9} {:>7} | {:>8.3} {:>7} {:>9} {:>7} | {:>8.3} {:>7} {:>9} {:>7.3} {:>8.3}",
                nodes,
                before,
                row[0].0,
                row[0].1,
                ms(row[0].2),
                "",
                row[1].0,
                row[1].1,
                ms(row[1].2),
                "",
                row[2].0,
                row[2].1,
                ms(row[2].2),
                bound,
                row[2].0 / bound
            );
        }
    }
}
