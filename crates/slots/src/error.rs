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
}

impl SlotsError {
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
