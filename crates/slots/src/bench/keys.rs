//! The benchmark's key space and access pattern: which key the next request touches.

use crate::slot::{SlotKeys, slot_of};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// `keys` keys named `<prefix><i>`, optionally all carrying one hash tag so they share one slot.
#[derive(Debug, Clone)]
pub struct KeySpace {
    prefix: String,
    keys: u64,
}

impl KeySpace {
    /// Keys `prefix0 .. prefix{keys-1}`, spread over all slots by their hash.
    pub fn spread(prefix: &str, keys: u64) -> KeySpace {
        KeySpace {
            prefix: prefix.to_string(),
            keys: keys.max(1),
        }
    }

    /// Keys `{tag}prefix0 ..` that all hash to `slot`.
    pub fn in_slot(prefix: &str, keys: u64, slot: u16) -> KeySpace {
        let tag = SlotKeys::new().tag(slot % crate::slot::SLOTS).to_string();
        KeySpace {
            prefix: format!("{{{tag}}}{prefix}"),
            keys: keys.max(1),
        }
    }

    /// Number of keys.
    pub fn len(&self) -> u64 {
        self.keys
    }

    /// Whether the key space is empty (never: it has at least one key).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The name of key `i`.
    pub fn key(&self, i: u64) -> String {
        format!("{}{i}", self.prefix)
    }

    /// Key `i` and its slot.
    pub fn key_and_slot(&self, i: u64) -> (String, u16) {
        let k = self.key(i);
        let s = slot_of(k.as_bytes());
        (k, s)
    }
}

/// Chooses key indexes and operations: Zipf(s) over key ranks (rank 1 = key 0; s = 0 is
/// uniform) and reads with probability `read_ratio`.
#[derive(Debug, Clone)]
pub struct AccessPattern {
    zipf: Option<Zipf<f64>>,
    keys: u64,
    read_ratio: f64,
    rng: SmallRng,
}

/// One request to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET`.
    Read,
    /// `SET`.
    Write,
}

impl Op {
    /// `read` or `write`, as in the access-log format.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Read => "read",
            Op::Write => "write",
        }
    }
}

impl AccessPattern {
    /// A pattern over `keys` keys; `seed` makes it reproducible.
    ///
    /// # Errors
    /// When `s` is negative or not finite, or `read_ratio` is outside 0..=1.
    pub fn new(keys: u64, s: f64, read_ratio: f64, seed: u64) -> Result<AccessPattern, String> {
        if !(0.0..=1.0).contains(&read_ratio) {
            return Err(format!("read ratio {read_ratio} must be between 0 and 1"));
        }
        if !s.is_finite() || s < 0.0 {
            return Err(format!("zipf exponent {s} must be a finite number >= 0"));
        }
        let keys = keys.max(1);
        let zipf = if s == 0.0 {
            None
        } else {
            Some(Zipf::new(keys as f64, s).map_err(|e| format!("zipf({keys}, {s}): {e}"))?)
        };
        Ok(AccessPattern {
            zipf,
            keys,
            read_ratio,
            rng: SmallRng::seed_from_u64(seed),
        })
    }

    /// The next key index and operation.
    pub fn draw(&mut self) -> (u64, Op) {
        let i = match &self.zipf {
            Some(z) => (z.sample(&mut self.rng) as u64)
                .saturating_sub(1)
                .min(self.keys - 1),
            None => self.rng.random_range(0..self.keys),
        };
        let op = if self.rng.random_bool(self.read_ratio) {
            Op::Read
        } else {
            Op::Write
        };
        (i, op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_slot_keys_share_the_slot() {
        let ks = KeySpace::in_slot("k:", 10, 4242);
        for i in 0..10 {
            assert_eq!(ks.key_and_slot(i).1, 4242);
        }
    }

    #[test]
    fn zipf_is_skewed_and_uniform_is_not() {
        let mut z = AccessPattern::new(1000, 1.0, 0.5, 1).unwrap();
        let mut u = AccessPattern::new(1000, 0.0, 0.5, 1).unwrap();
        let (mut z0, mut u0, mut reads) = (0, 0, 0);
        for _ in 0..10_000 {
            let (i, op) = z.draw();
            assert!(i < 1000);
            z0 += u64::from(i == 0);
            reads += u64::from(op == Op::Read);
            u0 += u64::from(u.draw().0 == 0);
        }
        // Zipf(1) over 1000 keys gives rank 1 about 13% of requests; uniform 0.1%.
        assert!(z0 > 1000, "{z0}");
        assert!(u0 < 60, "{u0}");
        assert!((4000..6000).contains(&reads), "{reads}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(AccessPattern::new(10, -1.0, 0.5, 0).is_err());
        assert!(AccessPattern::new(10, 1.0, 1.5, 0).is_err());
        assert!(AccessPattern::new(10, f64::NAN, 0.5, 0).is_err());
    }
}
