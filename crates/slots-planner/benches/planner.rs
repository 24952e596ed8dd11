//! Planner time and plan quality on synthetic Zipf-skewed clusters.
//!
//! Run: `cargo bench -p cairn-slots-planner --bench planner`
//!
//! For 3, 6, 10, 30 and 100 masters (16384 slots, 1M keys, Zipf 0.99, 80% reads, even starting
//! layout) it prints, per mode, the predicted max/mean normalised load after the plan, its ratio
//! to the lower bound, the number of moves and the median planning time of a few runs. Two
//! tables: nodes whose capacities differ up to 4x per resource, and identical nodes (the case
//! the reference anchors describe: count-balanced layouts, the floor set by the hottest slot).

use std::time::{Duration, Instant};

use cairn_slots_planner::synthetic::{SyntheticSpec, generate};
use cairn_slots_planner::{Mode, Policy, plan};

const NODE_COUNTS: [usize; 5] = [3, 6, 10, 30, 100];
const RUNS: usize = 3;

fn main() {
    for (title, spread) in [
        ("nodes up to 4x apart per resource", 4.0),
        ("identical nodes", 1.0),
    ] {
        println!("\n## {title}\n");
        print!("{:>5} {:>7} {:>7}", "nodes", "before", "bound");
        for mode in Mode::ALL {
            print!(
                " | {:>6} {:>6} {:>6} {:>9}",
                mode.as_str(),
                "/bound",
                "moves",
                "time"
            );
        }
        println!();
        for nodes in NODE_COUNTS {
            let spec = SyntheticSpec {
                nodes,
                seed: 7,
                capacity_spread: spread,
                ..SyntheticSpec::default()
            };
            let snapshot = generate(&spec);
            let mut line = String::new();
            let mut head = String::new();
            for mode in Mode::ALL {
                let policy = Policy::with_mode(mode);
                let mut times: Vec<Duration> = Vec::new();
                let mut result = None;
                for _ in 0..RUNS {
                    let start = Instant::now();
                    let p = plan(&snapshot, &policy).expect("synthetic snapshots plan");
                    times.push(start.elapsed());
                    result = Some(p);
                }
                times.sort();
                let p = result.expect("at least one run");
                head = format!(
                    "{nodes:>5} {:>7.3} {:>7.3}",
                    p.max_mean_before, p.lower_bound
                );
                line += &format!(
                    " | {:>6.3} {:>6.3} {:>6} {:>7.1}ms",
                    p.max_mean_after,
                    p.max_mean_after / p.lower_bound,
                    p.cost.moves,
                    times[RUNS / 2].as_secs_f64() * 1000.0
                );
            }
            println!("{head}{line}");
        }
    }
}
