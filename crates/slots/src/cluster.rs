//! Discovering a cluster from one seed, and checking that it is fit for slot moves.
//!
//! [`Cluster::discover`] asks the seed for `CLUSTER NODES` and opens one [`NodeClient`] per node
//! it lists. A node that cannot be reached is kept, with its error, so that `status` can show it
//! and commands that change the cluster can refuse with a clear reason ([`Cluster::client`]).
//!
//! [`Cluster::health`] asks *every* node for its own view, because only a node's own line shows
//! the slots it is importing or migrating, and because a plan is only safe when all nodes agree
//! on who owns what.

use crate::client::{NodeClient, Timeouts};
use crate::error::SlotsError;
use crate::info::ServerVersion;
use crate::nodes::{NodeLine, NodesView};
use crate::slot::SLOTS;
use cairn_slots_planner::Ownership;
use futures::future::join_all;
use std::collections::BTreeMap;

/// One node of the cluster as discovered.
#[derive(Debug, Clone)]
pub struct ClusterNode {
    /// The node as the seed describes it.
    pub line: NodeLine,
    /// The connection, when the node answered.
    pub client: Option<NodeClient>,
    /// Why the node could not be reached.
    pub error: Option<String>,
    /// The server implementation and version, when reachable.
    pub server: Option<ServerVersion>,
}

impl ClusterNode {
    /// The node id.
    pub fn id(&self) -> &str {
        &self.line.id
    }

    /// The node's `host:port`.
    pub fn addr(&self) -> &str {
        &self.line.addr
    }
}

/// A discovered cluster: the seed's view plus one connection per reachable node.
#[derive(Debug, Clone)]
pub struct Cluster {
    seed: String,
    view: NodesView,
    nodes: Vec<ClusterNode>,
    timeouts: Timeouts,
}

impl Cluster {
    /// Discovers the cluster through `seed` (`host:port`) with default timeouts.
    ///
    /// # Errors
    /// [`SlotsError::Unreachable`] when the seed does not answer, [`SlotsError::NotCluster`] when
    /// it is not a cluster node, [`SlotsError::Nodes`] for a reply that does not parse.
    pub async fn discover(seed: &str) -> Result<Cluster, SlotsError> {
        Self::discover_with(seed, Timeouts::default()).await
    }

    /// Discovers the cluster with explicit timeouts for every node connection.
    ///
    /// # Errors
    /// As [`Cluster::discover`].
    pub async fn discover_with(seed: &str, timeouts: Timeouts) -> Result<Cluster, SlotsError> {
        let seed_client = NodeClient::connect_with(seed, timeouts).await?;
        let view = seed_client.cluster_nodes().await?;
        let connects = view.nodes.iter().map(|line| async move {
            let mut node = ClusterNode {
                line: line.clone(),
                client: None,
                error: None,
                server: None,
            };
            if line.has_flag("noaddr") || line.has_flag("handshake") {
                node.error = Some(format!("flagged {}", line.flags.join(",")));
                return node;
            }
            match NodeClient::connect_with(&line.addr, timeouts).await {
                Ok(client) => match client.info("server").await {
                    Ok(info) => {
                        node.server = Some(info.server());
                        node.client = Some(client);
                    }
                    Err(e) => node.error = Some(e.to_string()),
                },
                Err(e) => node.error = Some(e.to_string()),
            }
            node
        });
        let mut nodes = join_all(connects).await;
        nodes.sort_by_key(|n| {
            let first = n.line.slots.iter().map(|r| r.0).min().unwrap_or(SLOTS);
            (!n.line.is_master(), first, n.line.addr.clone())
        });
        Ok(Cluster {
            seed: seed_client.addr().to_string(),
            view,
            nodes,
            timeouts,
        })
    }

    /// Discovers again through the same seed, picking up topology changes.
    ///
    /// # Errors
    /// As [`Cluster::discover`].
    pub async fn refresh(&self) -> Result<Cluster, SlotsError> {
        Self::discover_with(&self.seed, self.timeouts).await
    }

    /// The seed address.
    pub fn seed(&self) -> &str {
        &self.seed
    }

    /// The seed's `CLUSTER NODES` view.
    pub fn view(&self) -> &NodesView {
        &self.view
    }

    /// Every node: masters ordered by their first slot, then replicas.
    pub fn nodes(&self) -> &[ClusterNode] {
        &self.nodes
    }

    /// The masters (including masters without slots).
    pub fn masters(&self) -> impl Iterator<Item = &ClusterNode> {
        self.nodes.iter().filter(|n| n.line.is_master())
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&ClusterNode> {
        self.nodes.iter().find(|n| n.id() == id)
    }

    /// A node by id or by unique id prefix or by `host:port`, as an operator types it.
    pub fn find(&self, name: &str) -> Option<&ClusterNode> {
        if let Some(n) = self
            .nodes
            .iter()
            .find(|n| n.id() == name || n.addr() == name)
        {
            return Some(n);
        }
        let mut matches = self.nodes.iter().filter(|n| n.id().starts_with(name));
        match (matches.next(), matches.next()) {
            (Some(n), None) if !name.is_empty() => Some(n),
            _ => None,
        }
    }

    /// The connection to node `id`.
    ///
    /// # Errors
    /// [`SlotsError::Unhealthy`] when the node is unknown or could not be reached.
    pub fn client(&self, id: &str) -> Result<&NodeClient, SlotsError> {
        let node = self.node(id).ok_or_else(|| SlotsError::Unhealthy {
            reason: format!("node {id} is not part of the cluster"),
            remedy: "re-run measure and plan against the current cluster",
        })?;
        node.client.as_ref().ok_or_else(|| SlotsError::Unhealthy {
            reason: format!(
                "node {} ({}) is down: {}",
                short_id(id),
                node.addr(),
                node.error.as_deref().unwrap_or("unreachable")
            ),
            remedy: "bring the node back or remove it from the cluster, then retry",
        })
    }

    /// The slot owners as the seed sees them.
    pub fn ownership(&self) -> Ownership {
        let mut own = Ownership::unassigned();
        for (slot, owner) in self.view.slot_owners().into_iter().enumerate() {
            if let Some(owner) = owner {
                // `slot < 16384` by construction of `slot_owners`.
                let _ = own.assign(slot as u16, owner);
            }
        }
        own
    }

    /// The topology fingerprint (node ids and slot owners), comparable with
    /// `Snapshot::fingerprint` and a plan's fingerprint.
    pub fn fingerprint(&self) -> String {
        cairn_slots_planner::topology_fingerprint(
            self.nodes.iter().map(ClusterNode::id),
            &self.ownership(),
        )
    }

    /// The owner id of `slot` as the seed sees it.
    pub fn owner(&self, slot: u16) -> Option<&str> {
        self.view
            .nodes
            .iter()
            .find(|n| n.slots.iter().any(|&(a, b)| a <= slot && slot <= b))
            .map(|n| n.id.as_str())
    }

    /// Asks every node for its own view and reports everything that makes slot moves unsafe.
    pub async fn health(&self) -> Health {
        let views = join_all(self.nodes.iter().map(|n| async move {
            let Some(client) = &n.client else {
                return (n.id().to_string(), Err(n.error.clone().unwrap_or_default()));
            };
            let state = match client.cluster_info().await {
                Ok(info) => info.get("cluster_state").unwrap_or("unknown").to_string(),
                Err(e) => return (n.id().to_string(), Err(e.to_string())),
            };
            match client.cluster_nodes().await {
                Ok(view) => (n.id().to_string(), Ok((state, view))),
                Err(e) => (n.id().to_string(), Err(e.to_string())),
            }
        }))
        .await;
        Health::assess(&self.view, views)
    }

    /// Fails unless [`Cluster::health`] finds no problem.
    ///
    /// # Errors
    /// [`SlotsError::Unhealthy`] naming the first problem and the remedy.
    pub async fn require_healthy(&self) -> Result<(), SlotsError> {
        self.health().await.into_result()
    }
}

/// The first 8 characters of a node id, as operators read them.
pub fn short_id(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// One thing that makes the cluster unsafe to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// A node did not answer.
    NodeDown {
        /// Node id.
        id: String,
        /// The error.
        error: String,
    },
    /// A node carries a failure flag in the seed's view.
    NodeFlagged {
        /// Node id.
        id: String,
        /// The flags.
        flags: String,
    },
    /// A node reports `cluster_state` other than `ok`.
    StateNotOk {
        /// Node id.
        id: String,
        /// The state reported.
        state: String,
    },
    /// A node's slot map differs from the seed's.
    Disagreement {
        /// Node id.
        id: String,
        /// The first slot on which they differ.
        slot: u16,
    },
    /// A slot is being migrated or imported.
    OpenSlot {
        /// The slot.
        slot: u16,
        /// Node that has it open.
        id: String,
        /// `migrating` or `importing`.
        state: &'static str,
        /// The other node of the migration.
        peer: String,
    },
    /// Slots with no owner.
    Uncovered {
        /// How many.
        count: usize,
        /// The lowest.
        first: u16,
    },
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NodeDown { id, error } => write!(f, "node {} is down: {error}", short_id(id)),
            Problem::NodeFlagged { id, flags } => {
                write!(f, "node {} is flagged {flags}", short_id(id))
            }
            Problem::StateNotOk { id, state } => {
                write!(f, "node {} reports cluster_state:{state}", short_id(id))
            }
            Problem::Disagreement { id, slot } => {
                write!(
                    f,
                    "node {} disagrees with the seed about slot {slot}",
                    short_id(id)
                )
            }
            Problem::OpenSlot {
                slot,
                id,
                state,
                peer,
            } => write!(
                f,
                "slot {slot} is {state} on {} ({} {})",
                short_id(id),
                if *state == "migrating" { "to" } else { "from" },
                short_id(peer)
            ),
            Problem::Uncovered { count, first } => {
                write!(f, "{count} slots have no owner (first {first})")
            }
        }
    }
}

/// A node's `cluster_state` and own view, or why it could not be asked.
type NodeAnswer = Result<(String, NodesView), String>;

/// The result of [`Cluster::health`].
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Everything found, in a stable order.
    pub problems: Vec<Problem>,
    /// Each reachable node's own view, by node id.
    pub views: BTreeMap<String, NodesView>,
}

impl Health {
    fn assess(seed_view: &NodesView, answers: Vec<(String, NodeAnswer)>) -> Health {
        let mut health = Health::default();
        for line in &seed_view.nodes {
            if line.is_failing() {
                health.problems.push(Problem::NodeFlagged {
                    id: line.id.clone(),
                    flags: line.flags.join(","),
                });
            }
        }
        let seed_owners = seed_view.slot_owners();
        for (id, answer) in answers {
            let (state, view) = match answer {
                Ok(x) => x,
                Err(error) => {
                    health.problems.push(Problem::NodeDown { id, error });
                    continue;
                }
            };
            if state != "ok" {
                health.problems.push(Problem::StateNotOk {
                    id: id.clone(),
                    state,
                });
            }
            let owners = view.slot_owners();
            if let Some(slot) =
                (0..SLOTS).find(|&s| owners[usize::from(s)] != seed_owners[usize::from(s)])
            {
                health.problems.push(Problem::Disagreement {
                    id: id.clone(),
                    slot,
                });
            }
            if let Some(me) = view.myself() {
                for (slot, peer) in &me.migrating {
                    health.problems.push(Problem::OpenSlot {
                        slot: *slot,
                        id: id.clone(),
                        state: "migrating",
                        peer: peer.clone(),
                    });
                }
                for (slot, peer) in &me.importing {
                    health.problems.push(Problem::OpenSlot {
                        slot: *slot,
                        id: id.clone(),
                        state: "importing",
                        peer: peer.clone(),
                    });
                }
            }
            health.views.insert(id, view);
        }
        let uncovered: Vec<u16> = (0..SLOTS)
            .filter(|&s| seed_owners[usize::from(s)].is_none())
            .collect();
        if let Some(&first) = uncovered.first() {
            health.problems.push(Problem::Uncovered {
                count: uncovered.len(),
                first,
            });
        }
        health
    }

    /// Whether nothing is wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// Slots some node has open, with every node that has it open.
    pub fn open_slots(&self) -> BTreeMap<u16, Vec<&Problem>> {
        let mut open: BTreeMap<u16, Vec<&Problem>> = BTreeMap::new();
        for p in &self.problems {
            if let Problem::OpenSlot { slot, .. } = p {
                open.entry(*slot).or_default().push(p);
            }
        }
        open
    }

    /// `Ok` when healthy, else [`SlotsError::Unhealthy`] naming the first problem.
    ///
    /// # Errors
    /// As described.
    pub fn into_result(self) -> Result<(), SlotsError> {
        let Some(first) = self.problems.first() else {
            return Ok(());
        };
        let remedy = match first {
            Problem::NodeDown { .. } | Problem::NodeFlagged { .. } => {
                "bring the node back (or fail it over and forget it), then retry"
            }
            Problem::OpenSlot { .. } | Problem::Uncovered { .. } => {
                "run `cairn slots resume` if a cairn apply was interrupted, else `cairn slots fix`"
            }
            Problem::StateNotOk { .. } | Problem::Disagreement { .. } => {
                "wait for the cluster to converge (a few seconds after a change), then retry"
            }
        };
        let more = self.problems.len() - 1;
        let reason = if more > 0 {
            format!("{first} (and {more} more problems)")
        } else {
            first.to_string()
        };
        Err(SlotsError::Unhealthy { reason, remedy })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> NodesView {
        NodesView::parse(text).unwrap()
    }

    const A: &str = "a 127.0.0.1:1@11 myself,master - 0 0 1 connected 0-8191\nb 127.0.0.1:2@12 master - 0 0 2 connected 8192-16383\n";
    const B: &str = "a 127.0.0.1:1@11 master - 0 0 1 connected 0-8191\nb 127.0.0.1:2@12 myself,master - 0 0 2 connected 8192-16383\n";

    #[test]
    fn healthy_when_all_agree() {
        let h = Health::assess(
            &view(A),
            vec![
                ("a".into(), Ok(("ok".into(), view(A)))),
                ("b".into(), Ok(("ok".into(), view(B)))),
            ],
        );
        assert!(h.is_ok(), "{:?}", h.problems);
        assert!(h.into_result().is_ok());
    }

    #[test]
    fn finds_open_slots_disagreement_and_down_nodes() {
        let a_open = A.replace("0-8191", "0-8191 [5->-b]");
        let b_other = B.replace("8192-16383", "8191-16383");
        let h = Health::assess(
            &view(A),
            vec![
                ("a".into(), Ok(("ok".into(), view(&a_open)))),
                ("b".into(), Ok(("fail".into(), view(&b_other)))),
                ("c".into(), Err("connection refused".into())),
            ],
        );
        assert!(h.problems.contains(&Problem::OpenSlot {
            slot: 5,
            id: "a".into(),
            state: "migrating",
            peer: "b".into()
        }));
        assert!(h.problems.contains(&Problem::StateNotOk {
            id: "b".into(),
            state: "fail".into()
        }));
        assert!(h.problems.contains(&Problem::Disagreement {
            id: "b".into(),
            slot: 8191
        }));
        assert!(matches!(&h.problems[..], [.., Problem::NodeDown { id, .. }] if id == "c"));
        assert_eq!(h.open_slots().keys().copied().collect::<Vec<_>>(), vec![5]);
        let err = h.into_result().unwrap_err().to_string();
        assert!(
            err.contains("slot 5 is migrating") && err.contains("cairn slots"),
            "{err}"
        );
    }

    #[test]
    fn uncovered_slots() {
        let partial = "a 127.0.0.1:1@11 myself,master - 0 0 1 connected 0-100\n";
        let h = Health::assess(
            &view(partial),
            vec![("a".into(), Ok(("fail".into(), view(partial))))],
        );
        assert!(h.problems.contains(&Problem::Uncovered {
            count: 16283,
            first: 101
        }));
    }
}
