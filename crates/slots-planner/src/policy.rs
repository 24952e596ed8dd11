//! What the operator asks of a plan: which planner, how many moves at most, and when to leave
//! the cluster alone.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PlanError;

/// Which planner makes the plan.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Balance slot *counts* by weight, as `redis-cli --cluster rebalance` does (for comparison).
    Count,
    /// The origin design, bugs fixed: slot counts by CPU/memory-bandwidth capacity, read-hot
    /// slots on CPU-strong nodes, write-hot slots on memory-bandwidth-strong nodes.
    Origin,
    /// Minimise the worst normalised load over all resources under a move budget (default).
    #[default]
    Load,
}

impl Mode {
    /// Every mode, in a fixed order.
    pub const ALL: [Mode; 3] = [Mode::Count, Mode::Origin, Mode::Load];

    /// The lowercase name used on the command line and in files.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Count => "count",
            Mode::Origin => "origin",
            Mode::Load => "load",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A mode name that is not `count`, `origin` or `load`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown planner mode \"{0}\" (expected count, origin or load)")]
pub struct UnknownMode(pub String);

impl FromStr for Mode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Mode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

/// Planner settings. `Policy::default()` is the recommended starting point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Which planner to run.
    pub mode: Mode,
    /// At most this many slot moves (the churn budget); `None` for no limit.
    pub max_moves: Option<usize>,
    /// When to do nothing, as a fraction (0.02 = 2%). `count`: act only if some node's slot
    /// count is more than this far off its target, as redis-cli's `--cluster-threshold`.
    /// `load`: act only while the worst normalised load is above
    /// `lower_bound * (1 + threshold)`; this is also where it stops. `origin` ignores it.
    pub threshold: f64,
    /// Share of CPU in the origin weight `a * cpu/sum(cpu) + (1 - a) * membw/sum(membw)`.
    pub alpha: f64,
    /// Fraction of `maxmemory` kept free: no move may take a node above
    /// `maxmemory * (1 - memory_headroom)` bytes.
    pub memory_headroom: f64,
    /// Let masters that own no slots receive them (redis-cli's `--cluster-use-empty-masters`,
    /// which defaults to off there; on here, since an added node is meant to be used).
    pub use_empty_masters: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            mode: Mode::Load,
            max_moves: None,
            threshold: 0.02,
            alpha: 0.6,
            memory_headroom: 0.1,
            use_empty_masters: true,
        }
    }
}

impl Policy {
    /// The default policy with another mode.
    pub fn with_mode(mode: Mode) -> Self {
        Policy {
            mode,
            ..Policy::default()
        }
    }

    /// Checks every field's range.
    ///
    /// # Errors
    /// [`PlanError::InvalidPolicy`] naming the field: `threshold` must be in `[0, 10]`, `alpha`
    /// in `[0, 1]`, `memory_headroom` in `[0, 1)`.
    pub fn validate(&self) -> Result<(), PlanError> {
        let bad = |field, value: f64, reason| PlanError::InvalidPolicy {
            field,
            value: value.to_string(),
            reason,
        };
        if !(0.0..=10.0).contains(&self.threshold) {
            return Err(bad("threshold", self.threshold, "must be between 0 and 10"));
        }
        if !(0.0..=1.0).contains(&self.alpha) {
            return Err(bad("alpha", self.alpha, "must be between 0 and 1"));
        }
        if !(0.0..1.0).contains(&self.memory_headroom) {
            return Err(bad(
                "memory_headroom",
                self.memory_headroom,
                "must be in [0, 1)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print_the_same_names() {
        for m in Mode::ALL {
            assert_eq!(m.as_str().parse::<Mode>().unwrap(), m);
        }
        assert_eq!(
            "fast".parse::<Mode>().unwrap_err(),
            UnknownMode("fast".into())
        );
    }

    #[test]
    fn out_of_range_fields_are_named() {
        assert!(Policy::default().validate().is_ok());
        let p = Policy {
            alpha: 1.5,
            ..Policy::default()
        };
        assert!(matches!(
            p.validate(),
            Err(PlanError::InvalidPolicy { field: "alpha", .. })
        ));
        let p = Policy {
            threshold: f64::NAN,
            ..Policy::default()
        };
        assert!(matches!(
            p.validate(),
            Err(PlanError::InvalidPolicy {
                field: "threshold",
                ..
            })
        ));
        let p = Policy {
            memory_headroom: 1.0,
            ..Policy::default()
        };
        let msg = p.validate().unwrap_err().to_string();
        assert_eq!(
            msg,
            "invalid policy: memory_headroom = 1 (must be in [0, 1))"
        );
    }

    #[test]
    fn missing_fields_take_defaults() {
        let p: Policy = serde_json::from_str(r#"{"mode":"count","max_moves":10}"#).unwrap();
        assert_eq!(p.mode, Mode::Count);
        assert_eq!(p.max_moves, Some(10));
        assert_eq!(p.alpha, 0.6);
    }
}
