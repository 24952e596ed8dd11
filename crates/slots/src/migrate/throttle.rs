//! A shared token bucket for keys and bytes per second, so that `--max-keys-per-sec` and
//! `--max-bytes-per-sec` hold for all slots in flight together.
//!
//! The bucket holds at most one second of budget; a request larger than that (one huge batch)
//! is let through once the bucket is full, and the debt is paid by the following requests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64) -> Bucket {
        Bucket {
            rate,
            tokens: rate,
            at: Instant::now(),
        }
    }

    /// Takes `n` tokens and returns how long the caller must wait first.
    fn take(&mut self, n: f64) -> Duration {
        let now = Instant::now();
        self.tokens =
            (self.tokens + now.duration_since(self.at).as_secs_f64() * self.rate).min(self.rate);
        self.at = now;
        self.tokens -= n;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// Limits on migration speed; `None` means unlimited.
#[derive(Debug, Default)]
pub struct Throttle {
    keys: Option<Mutex<Bucket>>,
    bytes: Option<Mutex<Bucket>>,
}

impl Throttle {
    /// A throttle with optional keys/s and bytes/s limits (zero or negative means unlimited).
    pub fn new(keys_per_sec: Option<f64>, bytes_per_sec: Option<f64>) -> Throttle {
        let bucket = |r: Option<f64>| r.filter(|r| *r > 0.0).map(|r| Mutex::new(Bucket::new(r)));
        Throttle {
            keys: bucket(keys_per_sec),
            bytes: bucket(bytes_per_sec),
        }
    }

    /// Whether a byte limit is set (callers then measure batch sizes).
    pub fn limits_bytes(&self) -> bool {
        self.bytes.is_some()
    }

    /// How long to wait before moving `keys` keys of `bytes` bytes.
    pub fn delay(&self, keys: u64, bytes: u64) -> Duration {
        let take = |b: &Option<Mutex<Bucket>>, n: u64| {
            b.as_ref().map_or(Duration::ZERO, |m| {
                m.lock().unwrap_or_else(|e| e.into_inner()).take(n as f64)
            })
        };
        take(&self.keys, keys).max(take(&self.bytes, bytes))
    }

    /// Waits as long as [`Throttle::delay`] says.
    pub async fn wait(&self, keys: u64, bytes: u64) {
        let d = self.delay(keys, bytes);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_waits() {
        let t = Throttle::new(None, Some(0.0));
        assert_eq!(t.delay(1_000_000, 1 << 40), Duration::ZERO);
        assert!(!t.limits_bytes());
    }

    #[test]
    fn debt_turns_into_delay() {
        let t = Throttle::new(Some(100.0), None);
        assert_eq!(
            t.delay(100, 0),
            Duration::ZERO,
            "one second of budget is available"
        );
        let d = t.delay(50, 0);
        assert!(
            d > Duration::from_millis(400) && d <= Duration::from_millis(500),
            "{d:?}"
        );
        let b = Throttle::new(None, Some(1000.0));
        b.delay(0, 1000);
        assert!(b.delay(0, 2000) > Duration::from_millis(1900));
    }
}
