//! How much a load-aware layout can gain over `redis-cli --cluster rebalance` with true weights,
//! as the planner predicts it, on the setup of `cgroup_layouts`: 6 masters of weights
//! 4:4:2:2:1:1, keys `<prefix><i>` with Zipf 0.99 popularity (exact shares, no sampling), 80%
//! reads, starting from the even layout.
//!
//! For each key count and naming it prints the worst/mean normalised load of the even layout,
//! of `count` mode (redis-cli's weighted rebalance) and of `load` mode, and their ratio: the
//! throughput a load-aware layout can gain over count-by-weight on a capacity-bound load.
//!
//! `cargo run --release -p cairn-slots --example layout_headroom`

use cairn_slots::slot::slot_of;
use cairn_slots_planner::{Mode, Node, Ownership, Policy, SlotLoad, Snapshot, plan};

const WEIGHTS: [f64; 6] = [4.0, 4.0, 2.0, 2.0, 1.0, 1.0];
const PREFIXES: [&str; 7] = ["z:", "a:", "k:", "key:", "x:", "user:", "s:"];

fn main() {
    let ids: Vec<String> = (0..WEIGHTS.len()).map(|i| format!("{i:040}")).collect();
    println!("keys     prefix  even   count  load   count/load  load moves");
    for keys in [20_000u64, 200_000, 1_000_000] {
        let harmonic: f64 = (1..=keys).map(|k| (k as f64).powf(-0.99)).sum();
        let mut ratios = Vec::new();
        for prefix in PREFIXES {
            let mut loads = vec![SlotLoad::default(); 16384];
            for i in 0..keys {
                let ops = ((i + 1) as f64).powf(-0.99) / harmonic;
                let l = &mut loads[usize::from(slot_of(format!("{prefix}{i}").as_bytes()))];
                l.reads_per_sec += 0.8 * ops;
                l.writes_per_sec += 0.2 * ops;
                l.keys += 1;
            }
            let nodes: Vec<Node> = ids
                .iter()
                .zip(WEIGHTS)
                .enumerate()
                .map(|(i, (id, w))| {
                    let mut n = Node::master(id.clone(), format!("10.0.0.{i}:6379"));
                    n.capacity.weight = w;
                    n
                })
                .collect();
            let mut snap = Snapshot::new(nodes, Ownership::even(&ids));
            for (slot, load) in loads.into_iter().enumerate() {
                if let Some(l) = snap.slot_load.get_mut(slot as u16) {
                    *l = load;
                }
            }
            let count = plan(&snap, &Policy::with_mode(Mode::Count)).expect("count plan");
            let load = plan(&snap, &Policy::with_mode(Mode::Load)).expect("load plan");
            let ratio = count.max_mean_after / load.max_mean_after;
            ratios.push(ratio);
            println!(
                "{keys:<8} {prefix:<6} {:>6.3} {:>6.3} {:>6.3} {ratio:>8.2}x  {:>6}",
                count.max_mean_before, count.max_mean_after, load.max_mean_after, load.cost.moves
            );
        }
        ratios.sort_by(f64::total_cmp);
        println!(
            "{keys:<8} median count/load {:.2}x\n",
            ratios[ratios.len() / 2]
        );
    }
}
