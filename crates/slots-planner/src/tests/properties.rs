//! Property tests: every planner keeps the invariants on arbitrary seeded clusters.

use proptest::prelude::*;

use super::tester::PlannerTester;
use crate::synthetic::{StartLayout, SyntheticSpec, generate};
use crate::{Mode, Policy};

fn spec() -> impl Strategy<Value = SyntheticSpec> {
    (
        2usize..9,
        any::<u64>(),
        0.0f64..1.3,
        0.0f64..1.0,
        1.0f64..4.0,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(
            |(nodes, seed, zipf, read_ratio, spread, random, memory)| SyntheticSpec {
                nodes,
                seed,
                keys: 3_000,
                zipf,
                read_ratio,
                capacity_spread: spread,
                start: if random {
                    StartLayout::Random
                } else {
                    StartLayout::Even
                },
                memory_factor: memory.then_some(2.0),
                ..SyntheticSpec::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    /// One owner per slot, replayable moves, budget kept, deterministic, load never worse,
    /// JSON round trip: everything `PlannerTester::check` asserts, for every mode.
    #[test]
    fn every_plan_keeps_the_invariants(
        spec in spec(),
        budget in proptest::option::of(0usize..300),
        threshold in 0.0f64..0.2,
    ) {
        let snap = generate(&spec);
        PlannerTester::new(snap)
            .policy(Policy { max_moves: budget, threshold, ..Policy::default() })
            .check_all_modes();
    }

    /// Count mode moves exactly sum(max(0, count - target)): the fewest moves that reach the
    /// counts it aims for.
    #[test]
    fn count_mode_moves_the_minimum(spec in spec(), weights in proptest::collection::vec(0.5f64..3.0, 9)) {
        let mut snap = generate(&spec);
        for (n, w) in snap.nodes.iter_mut().zip(&weights) {
            n.capacity.weight = *w;
        }
        let p = PlannerTester::new(snap).policy(Policy { threshold: 0.0, ..Policy::with_mode(Mode::Count) }).check(Mode::Count);
        let minimum: usize = p.nodes.iter().map(|n| n.slots_before.saturating_sub(n.slots_after)).sum();
        prop_assert_eq!(p.moves.len(), minimum);
        let excess: usize = p.nodes.iter().map(|n| n.slots_after.saturating_sub(n.slots_before)).sum();
        prop_assert_eq!(p.moves.len(), excess);
    }
}
