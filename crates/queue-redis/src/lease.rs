//! [`RedisLease`]: the scheduler's single-leader lease, over the queue's connection.
//!
//! A thin wrapper of [`cairn_slots::lease::Lease`] (`SET NX PX`, Lua renew/release that act only
//! on our own value, an `INCR` fencing token that grows with every new holder), routed through
//! the same [`Link`] as the queue, so it follows failovers and migrations too.

use crate::link::Link;
use cairn_slots::lease::Lease;
use cairn_slots::router::Router;
use std::sync::Arc;
use std::time::Duration;

/// A named lease held in Redis; see [`crate::Backend::lease`].
#[derive(Debug)]
pub struct RedisLease {
    link: Arc<Link>,
    lease: Lease,
}

/// Why a lease operation failed; act as if the lease were not held.
#[derive(Debug, thiserror::Error)]
#[error("lease in Redis at {url}: {source}; the lease counts as not held until Redis answers")]
pub struct LeaseError {
    url: String,
    source: redis::RedisError,
}

impl RedisLease {
    pub(crate) fn new(link: Arc<Link>, name: &str, holder: &str, ttl: Duration) -> RedisLease {
        RedisLease {
            link,
            lease: Lease::new(name, holder, ttl),
        }
    }

    /// Takes the lease if it is free or renews it if we hold it. Returns the fencing token while
    /// held (it grows with every change of holder), `None` when another holder has it.
    ///
    /// # Errors
    /// Redis did not answer; treat the lease as lost.
    pub async fn acquire_or_renew(&mut self) -> Result<Option<u64>, LeaseError> {
        let lease = &mut self.lease;
        let held = self
            .link
            .with_router(async |r: &mut Router| lease.acquire_or_renew(r).await)
            .await
            .map_err(|source| LeaseError {
                url: self.link.url.clone(),
                source,
            })?;
        Ok(if held { self.lease.token() } else { None })
    }

    /// Makes the next acquisition take a fencing token above `floor` (the highest token the
    /// store has accepted), so a Redis that lost its counter cannot hand out old tokens again.
    pub fn set_token_floor(&mut self, floor: u64) {
        self.lease.set_token_floor(floor);
    }

    /// The fencing token of the current holding, if held.
    pub fn token(&self) -> Option<u64> {
        self.lease.token()
    }

    /// Gives the lease up if held, so another contender takes over without waiting for the TTL.
    ///
    /// # Errors
    /// Redis did not answer; the lease then expires by itself.
    pub async fn release(&mut self) -> Result<(), LeaseError> {
        let lease = &mut self.lease;
        self.link
            .with_router(async |r: &mut Router| lease.release(r).await)
            .await
            .map_err(|source| LeaseError {
                url: self.link.url.clone(),
                source,
            })
    }
}
