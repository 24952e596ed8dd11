//! The errors of cluster I/O, each a one-line message that names the cause and the remedy.
//!
//! The CLI prints these as they are, so every message says what to do next.

use crate::nodes::NodesParseError;

/// Anything that can go wrong while talking to a cluster.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SlotsError {
    /// The address is not `host:port`.
    #[error("invalid node address {addr:?}: expected host:port")]
    BadAddress {
        /// What was given.
        addr: String,
    },
    /// A node did not accept a connection.
    #[error("cannot reach {addr}: {source}; check the address and that the node is running")]
    Unreachable {
        /// The node address.
        addr: String,
        /// The connection error.
        #[source]
        source: redis::RedisError,
    },
    /// A command failed on a node (error reply, timeout or dropped connection).
    #[error("{command} on {addr} failed: {source}")]
    Command {
        /// The node address.
        addr: String,
        /// The command name, e.g. `CLUSTER NODES`.
        command: String,
        /// The client error.
        #[source]
        source: redis::RedisError,
    },
    /// The node runs without cluster support.
    #[error(
        "{addr} is not a cluster node (cluster_enabled:0); point cairn at a Redis Cluster node"
    )]
    NotCluster {
        /// The node address.
        addr: String,
    },
    /// A reply did not have the expected shape.
    #[error("unexpected reply to {command} from {addr}: {reason}")]
    BadReply {
        /// The node address.
        addr: String,
        /// The command.
        command: String,
        /// What was wrong.
        reason: String,
    },
    /// `CLUSTER NODES` could not be parsed.
    #[error("{addr}: {source}")]
    Nodes {
        /// The node address.
        addr: String,
        /// The parse error.
        #[source]
        source: NodesParseError,
    },
    /// The cluster is not in a state where slots may be moved.
    #[error("cluster is not healthy: {reason}; {remedy}")]
    Unhealthy {
        /// What is wrong.
        reason: String,
        /// What the operator should do.
        remedy: &'static str,
    },
    /// A key is too big to move safely with `MIGRATE`.
    #[error(
        "key {key:?} in slot {slot} is {bytes} bytes, above the {limit}-byte limit (--max-key-bytes): \
         MIGRATE would block the node; move it by hand in a quiet period or raise the limit, then resume"
    )]
    BigKey {
        /// The slot.
        slot: u16,
        /// The key (lossy UTF-8).
        key: String,
        /// Its `MEMORY USAGE`.
        bytes: u64,
        /// The limit.
        limit: u64,
    },
    /// A key exists on both sides of a migration with different values.
    #[error(
        "key {key:?} of slot {slot} already exists with a different value on {target}: compare both \
         copies and delete the wrong one, then `cairn slots resume` (or resume with --replace to keep \
         the source's copy)"
    )]
    BusyKey {
        /// The slot.
        slot: u16,
        /// The key (lossy UTF-8).
        key: String,
        /// The target address.
        target: String,
    },
    /// The request does not fit the cluster (changed topology, unsupported method, ...).
    #[error("{reason}; {remedy}")]
    Refused {
        /// What does not fit.
        reason: String,
        /// What to do.
        remedy: String,
    },
    /// The journal could not be written or read.
    #[error(transparent)]
    Journal(#[from] crate::migrate::journal::JournalError),
}

impl SlotsError {
    /// A refusal with its remedy.
    pub fn refused(reason: impl Into<String>, remedy: impl Into<String>) -> SlotsError {
        SlotsError::Refused {
            reason: reason.into(),
            remedy: remedy.into(),
        }
    }

    /// Wraps a command error.
    pub fn command(addr: &str, command: &str, source: redis::RedisError) -> SlotsError {
        SlotsError::Command {
            addr: addr.to_string(),
            command: command.to_string(),
            source,
        }
    }

    /// A bad-reply error.
    pub fn bad_reply(addr: &str, command: &str, reason: impl Into<String>) -> SlotsError {
        SlotsError::BadReply {
            addr: addr.to_string(),
            command: command.to_string(),
            reason: reason.into(),
        }
    }
}
