//! Key names. Every key carries the same hash tag, so all of them live in one slot and any
//! script may touch any of them, on a cluster as on a single server.

use cairn_exec::job::{JobId, QueueName};
use cairn_slots::slot::slot_of;

/// The consumer group every worker reads the streams through.
pub(crate) const GROUP: &str = "cairn-workers";

/// The key names of one queue deployment (`{tag}:...`).
#[derive(Debug, Clone)]
pub(crate) struct Keys {
    tag: String,
    slot: u16,
}

impl Keys {
    /// Keys tagged `{tag}`.
    pub(crate) fn new(tag: &str) -> Keys {
        let tag = format!("{{{tag}}}");
        Keys {
            slot: slot_of(tag.as_bytes()),
            tag,
        }
    }

    /// The slot every key is in.
    pub(crate) fn slot(&self) -> u16 {
        self.slot
    }

    /// The stream of waiting jobs of `queue`.
    pub(crate) fn stream(&self, queue: QueueName) -> String {
        format!("{}:queue:{}", self.tag, queue.as_str())
    }

    /// The hash holding a job's state.
    pub(crate) fn job(&self, id: &JobId) -> String {
        format!("{}:job:{id}", self.tag)
    }

    /// The de-duplication lock `dedup` (its value is the holding job's id). A job without a
    /// key still declares `lock("")` to the scripts, a key that is never set.
    pub(crate) fn lock(&self, dedup: &str) -> String {
        format!("{}:lock:{dedup}", self.tag)
    }

    /// The flag raised when a job's cancellation is requested.
    pub(crate) fn cancel(&self, id: &JobId) -> String {
        format!("{}:cancel:{id}", self.tag)
    }

    /// Started jobs scored by their last heartbeat (server milliseconds).
    pub(crate) fn running(&self) -> String {
        format!("{}:running", self.tag)
    }

    /// Worker ids scored by their last heartbeat.
    pub(crate) fn workers(&self) -> String {
        format!("{}:workers", self.tag)
    }

    /// The attempts of rate limit `name` for `key` (a sorted set; [`crate::limiter`]).
    pub(crate) fn limit(&self, name: &str, key: &str) -> String {
        format!("{}:limit:{name}:{key}", self.tag)
    }

    /// A worker's description (JSON), expiring unless refreshed.
    pub(crate) fn worker(&self, id: &str) -> String {
        format!("{}:worker:{id}", self.tag)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_in_the_tag_slot() {
        let k = Keys::new("cairn");
        let id = JobId::random();
        for key in [
            k.stream(QueueName::Adhoc),
            k.job(&id),
            k.lock("query_hash_job:1:abc"),
            k.cancel(&id),
            k.running(),
            k.workers(),
            k.worker("w1"),
            k.limit("login", "email:{x}@example.com"),
        ] {
            assert!(key.starts_with("{cairn}:"), "{key}");
            assert_eq!(slot_of(key.as_bytes()), k.slot(), "{key}");
        }
    }
}
