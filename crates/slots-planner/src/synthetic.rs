//! Seeded synthetic snapshots for tests and benchmarks: Zipf-skewed slot loads on
//! heterogeneous nodes, like a real cluster under skewed traffic.
//!
//! The model follows the workload the project benchmarks against: `keys` keys spread over the
//! slots by a hash, accessed with Zipf(`zipf`) popularity, a read/write mix where a quarter of
//! the keys are write-heavy, values of 16 B to 2 KiB. Nodes get capacities drawn up to
//! `capacity_spread` times apart. A small internal PRNG (SplitMix64) keeps it pure and the
//! output identical across platforms and dependency versions for a given seed.

use crate::ownership::{Ownership, SLOT_COUNT};
use crate::snapshot::{Capacity, CapacitySource, LoadSource, Node, ServerInfo, SlotLoad, Snapshot};

/// Parameters of a synthetic snapshot. `SyntheticSpec::default()` is 6 nodes, 1M keys,
/// Zipf 0.99, 80% reads, capacities up to 4x apart, an even starting layout.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntheticSpec {
    /// Number of masters (at least 1).
    pub nodes: usize,
    /// PRNG seed; the same seed gives the same snapshot.
    pub seed: u64,
    /// Number of keys.
    pub keys: usize,
    /// Zipf exponent of key popularity (0 = uniform).
    pub zipf: f64,
    /// Fraction of operations that are reads, in `[0, 1]`.
    pub read_ratio: f64,
    /// Total operations per second.
    pub ops_per_sec: f64,
    /// Largest ratio between two nodes' capacities (1 = identical nodes).
    pub capacity_spread: f64,
    /// Starting layout.
    pub start: StartLayout,
    /// Give every node a `maxmemory` of this many times its fair share of the data.
    pub memory_factor: Option<f64>,
}

/// How the synthetic cluster's slots are laid out at the start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartLayout {
    /// Contiguous equal ranges, as `redis-cli --cluster create` leaves them.
    Even,
    /// Every slot on a random node.
    Random,
}

impl Default for SyntheticSpec {
    fn default() -> Self {
        SyntheticSpec {
            nodes: 6,
            seed: 1,
            keys: 1_000_000,
            zipf: 0.99,
            read_ratio: 0.8,
            ops_per_sec: 100_000.0,
            capacity_spread: 4.0,
            start: StartLayout::Even,
            memory_factor: Some(3.0),
        }
    }
}

/// SplitMix64: tiny, fast, well mixed, and fixed forever.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Generates the snapshot `spec` describes.
pub fn generate(spec: &SyntheticSpec) -> Snapshot {
    let n = spec.nodes.max(1);
    let mut rng = SplitMix64::new(spec.seed);
    let ids: Vec<String> = (0..n)
        .map(|_| {
            format!(
                "{:016x}{:016x}{:08x}",
                rng.next_u64(),
                rng.next_u64(),
                rng.next_u64() as u32
            )
        })
        .collect();

    let read_ratio = spec.read_ratio.clamp(0.0, 1.0);
    let heavy_reads = (read_ratio * 1.25).min(1.0);
    let write_heavy_reads = read_ratio * 0.25;
    let harmonic: f64 = (1..=spec.keys).map(|k| (k as f64).powf(-spec.zipf)).sum();
    let mut loads = vec![SlotLoad::default(); SLOT_COUNT];
    for k in 0..spec.keys {
        let r = rng.next_u64();
        let slot = (r % SLOT_COUNT as u64) as usize;
        let value = 16.0 * 128f64.powf(rng.next_f64());
        let ops = spec.ops_per_sec * ((k + 1) as f64).powf(-spec.zipf) / harmonic;
        let reads_share = if (r >> 32).is_multiple_of(4) {
            write_heavy_reads
        } else {
            heavy_reads
        };
        let (reads, writes) = (ops * reads_share, ops * (1.0 - reads_share));
        let l = &mut loads[slot];
        l.reads_per_sec += reads;
        l.writes_per_sec += writes;
        l.cpu_usec_per_sec += reads * 1.0 + writes * 1.8;
        l.net_in_bytes_per_sec += reads * 30.0 + writes * (30.0 + value);
        l.net_out_bytes_per_sec += reads * (5.0 + value) + writes * 5.0;
        l.keys += 1;
        l.bytes += value as u64 + 50;
    }
    let total_bytes: u64 = loads.iter().map(|l| l.bytes).sum();

    let slots = match spec.start {
        StartLayout::Even => Ownership::even(&ids),
        StartLayout::Random => {
            let mut own = Ownership::unassigned();
            for slot in 0..SLOT_COUNT {
                let node = &ids[(rng.next_u64() % n as u64) as usize];
                // `slot` < SLOT_COUNT, so assign cannot fail.
                let _ = own.assign(slot as u16, node.clone());
            }
            own
        }
    };

    let spread = spec.capacity_spread.max(1.0);
    let nodes: Vec<Node> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let class = spread.powf(rng.next_f64());
            let jitter = 0.9 + 0.2 * rng.next_f64();
            let membw = spread.powf(rng.next_f64());
            let used: u64 = slots
                .slots_of(id)
                .iter()
                .map(|&s| loads[usize::from(s)].bytes)
                .sum();
            Node {
                server: ServerInfo {
                    name: "valkey".into(),
                    version: "9.0.0".into(),
                },
                capacity: Capacity {
                    weight: 1.0,
                    cpu: Some(class * jitter),
                    membw: Some(membw),
                    network: Some(class),
                    maxmemory: spec
                        .memory_factor
                        .map(|f| (total_bytes as f64 / n as f64 * f) as u64),
                },
                used_memory: used + (1 << 20),
                ..Node::master(id.clone(), format!("10.0.0.{}:6379", i + 1))
            }
        })
        .collect();

    let mut snap = Snapshot::new(nodes, slots);
    snap.taken_at_ms = 1_763_780_000_000;
    snap.window_ms = 60_000;
    snap.load_sources = vec![LoadSource::Synthetic];
    snap.capacity_source = CapacitySource::Synthetic;
    for (slot, load) in loads.into_iter().enumerate() {
        if let Some(l) = snap.slot_load.get_mut(slot as u16) {
            *l = load;
        }
    }
    snap
}
