//! One connection per node: the building block of every cluster operation.
//!
//! Cairn does not use redis-rs's cluster client for anything that runs while slots move. That
//! client's routing table only reaches nodes listed in `CLUSTER SLOTS` (a new empty master is
//! invisible to it), and under concurrent `ASK` redirections it hangs (see
//! `docs/SLOTS.md`). Instead each node gets a plain [`redis::Client`] and a
//! [`MultiplexedConnection`], and routing is done by our own slot map.
//!
//! Every connection has a response timeout, so a node that stops answering turns into an error
//! instead of a hang; `MIGRATE` gets a dedicated connection with a longer one
//! ([`NodeClient::connect_with`]), since a multiplexed connection serialises its requests and a
//! slow `MIGRATE` would hold up everything behind it.

use crate::error::SlotsError;
use crate::info::Info;
use crate::nodes::NodesView;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Cmd, FromRedisValue};
use std::sync::Arc;
use std::time::Duration;

/// Connection and response time limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Time to establish the TCP connection.
    pub connect: Duration,
    /// Time to wait for any one reply.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(3),
            response: Duration::from_secs(5),
        }
    }
}

/// A cheap-to-clone handle to one node: its address and a multiplexed connection.
#[derive(Clone)]
pub struct NodeClient {
    addr: Arc<str>,
    conn: MultiplexedConnection,
}

impl std::fmt::Debug for NodeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeClient")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Normalises a user-given address: accepts `host:port` or `redis://host:port[/]`.
///
/// # Errors
/// [`SlotsError::BadAddress`] when there is no host or the port is not a number.
pub fn parse_addr(addr: &str) -> Result<String, SlotsError> {
    let bare = addr
        .trim()
        .trim_start_matches("redis://")
        .trim_end_matches('/');
    let bad = || SlotsError::BadAddress {
        addr: addr.to_string(),
    };
    let (host, port) = bare.rsplit_once(':').ok_or_else(bad)?;
    if host.is_empty() || port.parse::<u16>().map_or(true, |p| p == 0) {
        return Err(bad());
    }
    Ok(bare.to_string())
}

/// A short name for a command, for error messages: `GET`, `CLUSTER NODES`, ...
pub fn command_name(cmd: &Cmd) -> String {
    let mut parts = cmd.args_iter().filter_map(|a| match a {
        redis::Arg::Simple(bytes) => Some(String::from_utf8_lossy(bytes).to_uppercase()),
        _ => None,
    });
    let first = parts.next().unwrap_or_default();
    match first.as_str() {
        "CLUSTER" | "CONFIG" | "MEMORY" | "OBJECT" | "CLIENT" => {
            format!("{first} {}", parts.next().unwrap_or_default())
        }
        _ => first,
    }
}

impl NodeClient {
    /// Connects to `addr` (`host:port`) with the default [`Timeouts`].
    ///
    /// # Errors
    /// [`SlotsError::BadAddress`] or [`SlotsError::Unreachable`].
    pub async fn connect(addr: &str) -> Result<NodeClient, SlotsError> {
        Self::connect_with(addr, Timeouts::default()).await
    }

    /// Connects to `addr` with explicit timeouts.
    ///
    /// # Errors
    /// [`SlotsError::BadAddress`] or [`SlotsError::Unreachable`].
    pub async fn connect_with(addr: &str, timeouts: Timeouts) -> Result<NodeClient, SlotsError> {
        let addr = parse_addr(addr)?;
        let unreachable = |source| SlotsError::Unreachable {
            addr: addr.clone(),
            source,
        };
        let client = redis::Client::open(format!("redis://{addr}/")).map_err(unreachable)?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeouts.connect))
            .set_response_timeout(Some(timeouts.response));
        let conn = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(unreachable)?;
        Ok(NodeClient {
            addr: addr.as_str().into(),
            conn,
        })
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// A clone of the multiplexed connection, for callers that pipeline themselves.
    pub fn connection(&self) -> MultiplexedConnection {
        self.conn.clone()
    }

    /// Runs one command.
    ///
    /// # Errors
    /// [`SlotsError::Command`] for an error reply, a timeout or a lost connection.
    pub async fn query<T: FromRedisValue>(&self, cmd: &Cmd) -> Result<T, SlotsError> {
        let mut conn = self.conn.clone();
        cmd.query_async(&mut conn)
            .await
            .map_err(|e| SlotsError::command(&self.addr, &command_name(cmd), e))
    }

    /// `INFO [section]`, parsed.
    ///
    /// # Errors
    /// [`SlotsError::Command`].
    pub async fn info(&self, section: &str) -> Result<Info, SlotsError> {
        let mut cmd = redis::cmd("INFO");
        if !section.is_empty() {
            cmd.arg(section);
        }
        let text: String = self.query(&cmd).await?;
        Ok(Info::parse(&text))
    }

    /// `CLUSTER NODES`, parsed; nodes that do not know their own host get this client's host.
    ///
    /// # Errors
    /// [`SlotsError::NotCluster`] when cluster support is disabled, [`SlotsError::Command`],
    /// [`SlotsError::Nodes`] for a reply that does not parse.
    pub async fn cluster_nodes(&self) -> Result<NodesView, SlotsError> {
        let text: String = match self.query(redis::cmd("CLUSTER").arg("NODES")).await {
            Ok(t) => t,
            Err(SlotsError::Command { source, .. })
                if source.to_string().contains("cluster support disabled") =>
            {
                return Err(SlotsError::NotCluster {
                    addr: self.addr.to_string(),
                });
            }
            Err(e) => return Err(e),
        };
        let mut view = NodesView::parse(&text).map_err(|source| SlotsError::Nodes {
            addr: self.addr.to_string(),
            source,
        })?;
        if let Some((host, _)) = self.addr.rsplit_once(':') {
            view.fill_missing_host(host);
        }
        Ok(view)
    }

    /// `CLUSTER INFO`, parsed like `INFO`.
    ///
    /// # Errors
    /// [`SlotsError::Command`].
    pub async fn cluster_info(&self) -> Result<Info, SlotsError> {
        let text: String = self.query(redis::cmd("CLUSTER").arg("INFO")).await?;
        Ok(Info::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr("127.0.0.1:7000").unwrap(), "127.0.0.1:7000");
        assert_eq!(parse_addr("redis://h:1/").unwrap(), "h:1");
        for bad in ["", "host", ":7000", "h:0", "h:x", "h:70000"] {
            assert!(parse_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn command_names() {
        assert_eq!(
            command_name(redis::cmd("cluster").arg("nodes")),
            "CLUSTER NODES"
        );
        assert_eq!(command_name(redis::cmd("GET").arg("k")), "GET");
    }
}
