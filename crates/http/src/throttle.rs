//! The byte-rate limit of one download after a free allowance: the built-in form of nginx's
//! `limit_rate_after` and `limit_rate`.
//!
//! A [`Pacer`] is a per-stream token bucket in its virtual-time form (GCRA): it remembers when
//! the bytes already sent are "paid for" at the configured rate, and a block waits until then
//! on the tokio timer, so a throttled download holds no thread while it waits. The burst is one
//! block (64 KiB): a client that stalls does not bank credit for a later burst.
//!
//! Why not `governor`: its `until_n_ready` waits on `futures-timer`'s own thread and refuses a
//! block larger than the burst, so blocks would have to be split; pacing one stream needs
//! neither a shared limiter nor a key, and this is the whole algorithm.

use std::num::NonZeroU64;
use std::time::Duration;
use tokio::time::Instant;

/// Paces one download: the first `allowance` bytes leave at once, the rest at `rate` bytes
/// per second.
#[derive(Debug)]
pub struct Pacer {
    allowance: u64,
    rate: Option<NonZeroU64>,
    sent: u64,
    /// When the paced bytes admitted so far are paid for at `rate`.
    paid_until: Option<Instant>,
}

impl Pacer {
    /// A pacer with a free `allowance` in bytes, then `rate` bytes per second (`None`: no
    /// limit at all).
    pub fn new(allowance: u64, rate: Option<NonZeroU64>) -> Pacer {
        Pacer {
            allowance,
            rate,
            sent: 0,
            paid_until: None,
        }
    }

    /// Waits until a block of `len` bytes may leave; returns how long it waited.
    pub async fn admit(&mut self, len: usize) -> Duration {
        let len = len as u64;
        let free = self.allowance.saturating_sub(self.sent).min(len);
        self.sent += len;
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let paced = len - free;
        if paced == 0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let start = self.paid_until.map_or(now, |t| t.max(now));
        self.paid_until = Some(start + Duration::from_secs_f64(paced as f64 / rate.get() as f64));
        if start > now {
            tokio::time::sleep_until(start).await;
        }
        start - now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIB: u64 = 1024;

    #[tokio::test(start_paused = true)]
    async fn the_allowance_is_free_and_the_rest_leaves_at_the_rate() {
        let mut pacer = Pacer::new(128 * KIB, NonZeroU64::new(64 * KIB));
        // Two free blocks, then the first paced block goes at once (it is paid for after).
        let mut waited = Duration::ZERO;
        for _ in 0..3 {
            waited += pacer.admit(64 * 1024).await;
        }
        assert_eq!(waited, Duration::ZERO);
        // Each next 64 KiB block waits one second at 64 KiB/s.
        let started = Instant::now();
        for _ in 0..4 {
            waited += pacer.admit(64 * 1024).await;
        }
        assert_eq!(waited, Duration::from_secs(4));
        assert_eq!(started.elapsed(), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_client_banks_no_credit() {
        let mut pacer = Pacer::new(0, NonZeroU64::new(64 * KIB));
        assert_eq!(pacer.admit(64 * 1024).await, Duration::ZERO);
        tokio::time::advance(Duration::from_secs(10)).await;
        assert_eq!(pacer.admit(64 * 1024).await, Duration::ZERO);
        assert_eq!(pacer.admit(64 * 1024).await, Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_rate_nothing_waits() {
        let mut pacer = Pacer::new(0, None);
        for _ in 0..100 {
            assert_eq!(pacer.admit(1 << 20).await, Duration::ZERO);
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_block_straddling_the_allowance_pays_only_its_paced_part() {
        let mut pacer = Pacer::new(32 * KIB, NonZeroU64::new(32 * KIB));
        assert_eq!(pacer.admit(64 * 1024).await, Duration::ZERO);
        // 32 KiB of the first block were paced: the next block waits one second.
        assert_eq!(pacer.admit(64 * 1024).await, Duration::from_secs(1));
    }
}
