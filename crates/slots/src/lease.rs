//! One acting `watch` replica: a lease held in Redis with a fencing token.
//!
//! Several `cairn slots watch` processes may run for availability; only the lease holder
//! measures-and-applies. The lease is a key set with `SET key value NX PX ttl`, renewed and
//! released by Lua scripts that act only if the key still holds *our* value, so a replica whose
//! lease expired (a long GC-like pause, a partition) cannot extend or delete the new holder's.
//! Each acquisition takes a fencing token from `INCR` on a second key; the token is part of the
//! lease value, increases with every new holder, and is logged with every action, so actions of a
//! stale holder can be told apart afterwards. Redis cannot check the token on `CLUSTER SETSLOT`,
//! so the holder also re-checks the lease right before each apply round.
//!
//! Both keys share a hash tag, so they live in one slot and the scripts are cluster-safe; they
//! are reached through a [`Router`], which follows the slot if it is itself migrated.

use crate::router::Router;
use crate::slot::slot_of;
use redis::{RedisResult, Value};
use std::time::Duration;

const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
/// Takes the next fencing token, never at or below `ARGV[1]`: a counter lost with Redis's data
/// (a restart without persistence) resumes above the highest token the caller has seen used.
const NEXT_TOKEN: &str = "local t = redis.call('INCR', KEYS[1]) if t <= tonumber(ARGV[1]) then t = tonumber(ARGV[1]) + 1 redis.call('SET', KEYS[1], t) end return t";
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// A lease on `name`, identified by `holder`.
#[derive(Debug)]
pub struct Lease {
    key: String,
    fence_key: String,
    holder: String,
    ttl: Duration,
    value: Option<String>,
    token_floor: u64,
}

impl Lease {
    /// A lease named `name` (keys `{cairn:lease:<name>}` and `{cairn:lease:<name>}:fence`) for
    /// `holder` (unique per process, e.g. host and pid) lasting `ttl` unless renewed.
    pub fn new(name: &str, holder: &str, ttl: Duration) -> Lease {
        let key = format!("{{cairn:lease:{name}}}");
        Lease {
            fence_key: format!("{key}:fence"),
            key,
            holder: holder.to_string(),
            ttl,
            value: None,
            token_floor: 0,
        }
    }

    /// Makes the next acquisition take a fencing token above `floor`: the highest token the
    /// fenced resource has accepted, so that tokens keep growing even if Redis lost its counter.
    pub fn set_token_floor(&mut self, floor: u64) {
        self.token_floor = floor;
    }

    /// The fencing token of the current holding, if held.
    pub fn token(&self) -> Option<u64> {
        self.value.as_ref()?.split(':').next()?.parse().ok()
    }

    fn ttl_ms(&self) -> u64 {
        self.ttl.as_millis().max(1) as u64
    }

    /// Takes the lease if free, or renews it if held. Returns whether we hold it now.
    ///
    /// # Errors
    /// Redis errors (the caller should then act as if it did not hold the lease).
    pub async fn acquire_or_renew(&mut self, router: &mut Router) -> RedisResult<bool> {
        let slot = slot_of(self.key.as_bytes());
        if let Some(value) = &self.value {
            let mut renew = redis::cmd("EVAL");
            renew
                .arg(RENEW)
                .arg(1)
                .arg(&self.key)
                .arg(value)
                .arg(self.ttl_ms());
            if router.query(slot, renew).await? == Value::Int(1) {
                return Ok(true);
            }
            self.value = None;
        }
        let mut next = redis::cmd("EVAL");
        next.arg(NEXT_TOKEN)
            .arg(1)
            .arg(&self.fence_key)
            .arg(self.token_floor);
        let token: u64 = redis::from_redis_value(router.query(slot, next).await?)?;
        let value = format!("{token}:{}", self.holder);
        let mut set = redis::cmd("SET");
        set.arg(&self.key)
            .arg(&value)
            .arg("NX")
            .arg("PX")
            .arg(self.ttl_ms());
        let got = router.query(slot, set).await?;
        if got == Value::Okay || got == Value::SimpleString("OK".into()) {
            self.value = Some(value);
            return Ok(true);
        }
        Ok(false)
    }

    /// Whether the lease is still ours right now (a read, no renewal).
    ///
    /// # Errors
    /// Redis errors.
    pub async fn still_held(&self, router: &mut Router) -> RedisResult<bool> {
        let Some(value) = &self.value else {
            return Ok(false);
        };
        let current = router
            .query(
                slot_of(self.key.as_bytes()),
                redis::cmd("GET").arg(&self.key).clone(),
            )
            .await?;
        Ok(current == Value::BulkString(value.clone().into_bytes()))
    }

    /// Gives the lease up if we hold it.
    ///
    /// # Errors
    /// Redis errors.
    pub async fn release(&mut self, router: &mut Router) -> RedisResult<()> {
        if let Some(value) = self.value.take() {
            let mut release = redis::cmd("EVAL");
            release.arg(RELEASE).arg(1).arg(&self.key).arg(value);
            router.query(slot_of(self.key.as_bytes()), release).await?;
        }
        Ok(())
    }
}
