//! [`RedisLimiter`]: an attempt limit shared by every process using one Redis deployment (the
//! login limit of `cairn server` replicas behind a balancer).
//!
//! # Algorithm: an exact sliding window in a sorted set per key
//! Each key is a sorted set of attempts scored by the server's time in milliseconds. One Lua
//! script drops the attempts older than the window from every key, refuses (recording nothing,
//! answering how long until the fullest key's oldest attempt leaves the window) when any key
//! holds `max` already, and otherwise adds the attempt to every key and sets each key to expire
//! one window later. Chosen over a fixed window (`INCR` + `PEXPIRE`), which lets a client make
//! twice the limit across a window boundary, and over an approximate two-bucket window: the
//! limits here are small (tens of attempts), so storing each attempt costs at most `max` members
//! per key, and the answers match the HTTP crate's per-process `MemoryLimiter` exactly.
//! Time comes from the server (`TIME`), so servers with skewed clocks share one window.
//!
//! # Cluster safety
//! Every key carries the deployment's hash tag (`{cairn}:limit:<name>:<key>`), so all the keys
//! of one check are in one slot and the script is atomic on a cluster as on a single server. It
//! is the queue's slot: commands go through the queue's [`Link`](crate::link) with its retries,
//! redirections and failover handling. The limited actions (a login, a query run) write to that
//! node anyway, so the limiter adds no new node to depend on.
//!
//! # When Redis fails
//! [`RedisLimiter::try_attempt`] returns the error after the backend's operation timeout; the
//! caller decides. `cairn server` puts it behind the HTTP crate's fallback limiter, which decides
//! per process while Redis does not answer.

use crate::queue::{RedisQueue, eval};
use cairn_exec::queue::QueueError;
use std::sync::Arc;
use std::time::Duration;

/// KEYS: the limit's keys. ARGV: max, window ms, a unique member for this attempt.
/// Returns 0 when the attempt is allowed and recorded, or the milliseconds until it would be.
const TRY_ATTEMPT: &str = concat!(
    "local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) ",
    "local max = tonumber(ARGV[1]) local window = tonumber(ARGV[2]) local wait = 0 ",
    "for _, k in ipairs(KEYS) do ",
    "  redis.call('ZREMRANGEBYSCORE', k, '-inf', now - window) ",
    "  if redis.call('ZCARD', k) >= max then ",
    "    local oldest = redis.call('ZRANGE', k, 0, 0, 'WITHSCORES') ",
    "    local w = window ",
    "    if oldest[2] then w = tonumber(oldest[2]) + window - now end ",
    "    if w < 1 then w = 1 end ",
    "    if w > wait then wait = w end ",
    "  end ",
    "end ",
    "if wait > 0 then return wait end ",
    "for _, k in ipairs(KEYS) do ",
    "  redis.call('ZADD', k, now, ARGV[3]) ",
    "  redis.call('PEXPIRE', k, window) ",
    "end ",
    "return 0"
);

/// What a [`RedisLimiter`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Allowed, and recorded against every key.
    Allowed,
    /// Refused (nothing recorded) until `retry_after` has passed.
    Refused {
        /// How long until the fullest key's oldest attempt leaves the window.
        retry_after: Duration,
    },
}

/// At most `max` attempts per key in any window, counted in Redis; see
/// [`crate::Backend::limiter`].
#[derive(Debug, Clone)]
pub struct RedisLimiter {
    queue: Arc<RedisQueue>,
    name: String,
    max: usize,
    window: Duration,
}

impl RedisLimiter {
    pub(crate) fn new(
        queue: Arc<RedisQueue>,
        name: &str,
        max: usize,
        window: Duration,
    ) -> RedisLimiter {
        RedisLimiter {
            queue,
            name: name.to_string(),
            max,
            window,
        }
    }

    /// Records an attempt against every key of `keys`, or refuses it (recording nothing) when
    /// any key already holds `max` attempts of the last window. Keys are any text; they are
    /// namespaced by the limiter's name.
    ///
    /// # Errors
    /// [`QueueError::Unavailable`] when Redis did not answer within the operation timeout.
    pub async fn try_attempt(&self, keys: &[String]) -> Result<Verdict, QueueError> {
        if keys.is_empty() {
            return Ok(Verdict::Allowed);
        }
        let names: Vec<String> = keys
            .iter()
            .map(|k| self.queue.keys.limit(&self.name, k))
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut cmd = eval(TRY_ATTEMPT, &names);
        let member = uuid::Uuid::new_v4().simple().to_string();
        cmd.arg(self.max)
            .arg(self.window.as_millis().max(1) as u64)
            .arg(member);
        let wait_ms: u64 = self.queue.run("check a rate limit", &cmd).await?;
        Ok(if wait_ms == 0 {
            Verdict::Allowed
        } else {
            Verdict::Refused {
                retry_after: Duration::from_millis(wait_ms),
            }
        })
    }
}
