//! How much a load-aware layout can gain over `redis-cli --cluster rebalance` with true weights,
//! as the planner predicts it, on the setup of `cgroup_layouts`: 6 masters of several capacity
//! profiles, keys `<prefix><i>` with Zipf 0.99 popularity (exact shares, no sampling), 80%
//! reads, starting from the even layout.
//!
//! For each profile, key count and naming it prints the worst/mean normalised load of the even
//! layout, of `count` mode (redis-cli's weighted rebalance) and of `load` mode, and their ratio:
//! the throughput a load-aware layout can gain over count-by-weight on a capacity-bound load.
//!
//! `cargo run --release -p cairn-slots --example layout_headroom`

use cairn_slots::slot::slot_of;
use cairn_slots_planner::{Mode, Node, Ownership, Policy, SlotLoad, Snapshot, plan};

/// Capacity profiles of the 6 masters: identical nodes, then unequal ones.
const PROFILES: [[f64; 6]; 7] = [
    [1.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [2.0, 2.0, 2.0, 1.0, 1.0, 1.0],
    [3.0, 3.0, 1.0, 1.0, 1.0, 1.0],
    [4.0, 1.0, 1.0, 1.0, 1.0, 1.0],
    [4.0, 4.0, 2.0, 2.0, 1.0, 1.0],
    [8.0, 4.0, 2.0, 1.0, 1.0, 1.0],
    [8.0, 8.0, 1.0, 1.0, 1.0, 1.0],
];
const PREFIXES: [&str; 7] = ["z:", "a:", "k:", "key:", "x:", "user:", "s:"];

/// Per-slot reads and writes of `keys` keys named `prefix<i>`, key `i` drawing a Zipf 0.99 share.
fn zipf_loads(prefix: &str, keys: u64) -> Vec<SlotLoad> {
    let harmonic: f64 = (1..=keys).map(|k| (k as f64).powf(-0.99)).sum();
    let mut loads = vec![SlotLoad::default(); 16384];
    for i in 0..keys {
        let ops = ((i + 1) as f64).powf(-0.99) / harmonic;
        let l = &mut loads[usize::from(slot_of(format!("{prefix}{i}").as_bytes()))];
        l.reads_per_sec += 0.8 * ops;
        l.writes_per_sec += 0.2 * ops;
        l.keys += 1;
    }
    loads
}

fn main() {
    let ids: Vec<String> = (0..6).map(|i| format!("{i:040}")).collect();
    let mut summary = Vec::new();
    for keys in [20_000u64, 200_000] {
        let loads: Vec<Vec<SlotLoad>> = PREFIXES.iter().map(|p| zipf_loads(p, keys)).collect();
        for weights in PROFILES {
            println!("\nweights {weights:?}, {keys} keys");
            println!("prefix  even   count  load   count/load  load moves");
            let mut ratios = Vec::new();
            for (prefix, slot_loads) in PREFIXES.iter().zip(&loads) {
                let nodes: Vec<Node> = ids
                    .iter()
                    .zip(weights)
                    .enumerate()
                    .map(|(i, (id, w))| {
                        let mut n = Node::master(id.clone(), format!("10.0.0.{i}:6379"));
                        n.capacity.weight = w;
                        n
                    })
                    .collect();
                let mut snap = Snapshot::new(nodes, Ownership::even(&ids));
                for (slot, load) in slot_loads.iter().enumerate() {
                    if let Some(l) = snap.slot_load.get_mut(slot as u16) {
                        *l = load.clone();
                    }
                }
                let count = plan(&snap, &Policy::with_mode(Mode::Count)).expect("count plan");
                let load = plan(&snap, &Policy::with_mode(Mode::Load)).expect("load plan");
                let ratio = count.max_mean_after / load.max_mean_after;
                ratios.push(ratio);
                println!(
                    "{prefix:<6} {:>6.3} {:>6.3} {:>6.3} {ratio:>8.2}x  {:>6}",
                    count.max_mean_before,
                    count.max_mean_after,
                    load.max_mean_after,
                    load.cost.moves
                );
            }
            ratios.sort_by(f64::total_cmp);
            let line = format!(
                "weights {weights:?}, {keys} keys: count/load median {:.2}x, range {:.2} - {:.2}x",
                ratios[ratios.len() / 2],
                ratios[0],
                ratios[ratios.len() - 1]
            );
            println!("{line}");
            summary.push(line);
        }
    }
    println!("\n{}", summary.join("\n"));
}
