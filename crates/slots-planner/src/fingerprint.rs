//! A stable 64-bit fingerprint of a cluster's topology, so that a plan can be bound to the
//! layout it was made for (as Redis Enterprise binds plans to a cluster-state id).
//!
//! FNV-1a over the sorted node ids and the owner of every slot. It is not a cryptographic hash:
//! it detects change, not tampering. It is computed by hand rather than with `std`'s hasher,
//! whose output is not promised to be stable across Rust releases; a fingerprint written today
//! must match one computed by a later build.

use crate::ownership::Ownership;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

struct Fnv1a(u64);

impl Fnv1a {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
}

/// Fingerprint of a topology: 16 lowercase hex digits.
///
/// Depends only on the *set* of node ids (order does not matter) and on the owner of each slot;
/// addresses, flags, capacities and loads are ignored, so a re-measured cluster with the same
/// layout keeps its fingerprint.
pub fn topology_fingerprint<'a>(
    node_ids: impl IntoIterator<Item = &'a str>,
    slots: &Ownership,
) -> String {
    let mut ids: Vec<&str> = node_ids.into_iter().collect();
    ids.sort_unstable();
    ids.dedup();
    let mut h = Fnv1a(FNV_OFFSET);
    h.write(b"nodes\n");
    for id in ids {
        h.write(id.as_bytes());
        h.write(b"\n");
    }
    h.write(b"slots\n");
    for (_, owner) in slots.iter() {
        h.write(owner.unwrap_or("-").as_bytes());
        h.write(b"\n");
    }
    format!("{:016x}", h.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_published_test_vector() {
        let mut h = Fnv1a(FNV_OFFSET);
        h.write(b"a");
        assert_eq!(h.0, 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn fingerprint_ignores_node_order_but_not_ownership() {
        let own = Ownership::even(&["a", "b"]);
        let f1 = topology_fingerprint(["a", "b"], &own);
        let f2 = topology_fingerprint(["b", "a"], &own);
        assert_eq!(f1, f2);
        assert_eq!(f1.len(), 16);
        let mut moved = own.clone();
        moved.assign(0, "b").unwrap();
        assert_ne!(f1, topology_fingerprint(["a", "b"], &moved));
        assert_ne!(f1, topology_fingerprint(["a", "b", "c"], &own));
    }
}
