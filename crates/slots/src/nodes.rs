//! Parsing `CLUSTER NODES`: the one topology reply every Redis and Valkey version has.
//!
//! `CLUSTER NODES` is preferred over `CLUSTER SHARDS` (7.0+) and `CLUSTER SLOTS` because it is the
//! only reply that shows half-finished migrations: a node lists `[slot->-target]` for a slot it is
//! migrating and `[slot-<-source]` for one it is importing, which `cairn slots fix` needs.
//!
//! # Format
//! One line per node:
//! `<id> <ip:port@cport[,hostname]> <flags> <master-id|-> <ping-sent> <pong-recv> <config-epoch>
//! <link-state> <slot|first-last|[slot->-id]|[slot-<-id]>...`

use std::collections::BTreeMap;

/// A pure parse failure, naming the offending line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot parse CLUSTER NODES line {line:?}: {reason}")]
pub struct NodesParseError {
    /// The line that failed.
    pub line: String,
    /// What was wrong with it.
    pub reason: String,
}

/// One node as some node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLine {
    /// The 40-character node id.
    pub id: String,
    /// `host:port` clients use; the host is empty when the node does not know its own address yet.
    pub addr: String,
    /// Cluster bus port.
    pub cport: u16,
    /// Flags: `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`, `noaddr`, `nofailover`.
    pub flags: Vec<String>,
    /// The master's id, for a replica.
    pub master_id: Option<String>,
    /// The node's config epoch.
    pub config_epoch: u64,
    /// Whether the cluster bus link is connected.
    pub connected: bool,
    /// Owned slots as inclusive ranges, in the order listed.
    pub slots: Vec<(u16, u16)>,
    /// Slots this node is migrating away: `(slot, target id)`.
    pub migrating: Vec<(u16, String)>,
    /// Slots this node is importing: `(slot, source id)`.
    pub importing: Vec<(u16, String)>,
}

impl NodeLine {
    /// Whether `flag` is set.
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.iter().any(|f| f == flag)
    }

    /// Whether this line describes the node that answered.
    pub fn is_myself(&self) -> bool {
        self.has_flag("myself")
    }

    /// Whether the node is a master.
    pub fn is_master(&self) -> bool {
        self.has_flag("master")
    }

    /// Whether the node is flagged failing (`fail`, or `fail?` from this observer), has no
    /// address, or is still in handshake: such a node cannot take part in a migration.
    pub fn is_failing(&self) -> bool {
        self.flags
            .iter()
            .any(|f| matches!(f.as_str(), "fail" | "fail?" | "handshake" | "noaddr"))
    }

    /// Number of owned slots.
    pub fn slot_count(&self) -> usize {
        self.slots
            .iter()
            .map(|&(a, b)| usize::from(b - a) + 1)
            .sum()
    }

    /// The port part of [`NodeLine::addr`].
    pub fn port(&self) -> u16 {
        self.addr
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(0)
    }
}

/// A whole `CLUSTER NODES` reply: what one node believes about the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NodesView {
    /// Every line, in reply order.
    pub nodes: Vec<NodeLine>,
}

impl NodesView {
    /// Parses a reply.
    ///
    /// # Errors
    /// [`NodesParseError`] for a line with too few fields or a bad number.
    pub fn parse(text: &str) -> Result<NodesView, NodesParseError> {
        let nodes = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(parse_line)
            .collect::<Result<_, _>>()?;
        Ok(NodesView { nodes })
    }

    /// The line of the node that answered.
    pub fn myself(&self) -> Option<&NodeLine> {
        self.nodes.iter().find(|n| n.is_myself())
    }

    /// A node by id.
    pub fn node(&self, id: &str) -> Option<&NodeLine> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The masters, in reply order.
    pub fn masters(&self) -> impl Iterator<Item = &NodeLine> {
        self.nodes.iter().filter(|n| n.is_master())
    }

    /// The replicas of master `id`.
    pub fn replicas_of<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a NodeLine> + 'a {
        self.nodes
            .iter()
            .filter(move |n| n.master_id.as_deref() == Some(id))
    }

    /// The owner id of every slot (`None` when no node claims it), as this view says.
    pub fn slot_owners(&self) -> Vec<Option<String>> {
        let mut owners = vec![None; usize::from(crate::slot::SLOTS)];
        for n in &self.nodes {
            for &(a, b) in &n.slots {
                for s in a..=b {
                    owners[usize::from(s)] = Some(n.id.clone());
                }
            }
        }
        owners
    }

    /// Slot -> owner id as sorted ranges, to compare two views cheaply.
    pub fn slot_map(&self) -> BTreeMap<u16, (u16, String)> {
        self.nodes
            .iter()
            .flat_map(|n| n.slots.iter().map(move |&(a, b)| (a, (b, n.id.clone()))))
            .collect()
    }

    /// Fills in the host of nodes that do not know their own address yet (`:port@cport`), using
    /// the host the caller connected to.
    pub fn fill_missing_host(&mut self, host: &str) {
        for n in &mut self.nodes {
            if n.addr.starts_with(':') {
                n.addr = format!("{host}{}", n.addr);
            }
        }
    }
}

fn parse_line(line: &str) -> Result<NodeLine, NodesParseError> {
    let err = |reason: String| NodesParseError {
        line: line.to_string(),
        reason,
    };
    let f: Vec<&str> = line.split(' ').filter(|s| !s.is_empty()).collect();
    if f.len() < 8 {
        return Err(err(format!(
            "expected at least 8 fields, found {}",
            f.len()
        )));
    }
    let addr_field = f[1].split(',').next().unwrap_or(f[1]);
    let (addr, cport) = match addr_field.split_once('@') {
        Some((a, c)) => (
            a,
            c.parse::<u16>()
                .map_err(|e| err(format!("bus port {c:?}: {e}")))?,
        ),
        None => (addr_field, 0),
    };
    let master_id = (f[3] != "-").then(|| f[3].to_string());
    let config_epoch = f[6]
        .parse::<u64>()
        .map_err(|e| err(format!("config epoch {:?}: {e}", f[6])))?;
    let mut node = NodeLine {
        id: f[0].to_string(),
        addr: addr.to_string(),
        cport,
        flags: f[2]
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        master_id,
        config_epoch,
        connected: f[7] == "connected",
        slots: Vec::new(),
        migrating: Vec::new(),
        importing: Vec::new(),
    };
    for item in &f[8..] {
        parse_slot_item(item, &mut node).map_err(err)?;
    }
    Ok(node)
}

fn parse_slot(s: &str) -> Result<u16, String> {
    match s.parse::<u16>() {
        Ok(n) if n < crate::slot::SLOTS => Ok(n),
        Ok(n) => Err(format!("slot {n} out of range")),
        Err(e) => Err(format!("slot {s:?}: {e}")),
    }
}

fn parse_slot_item(item: &str, node: &mut NodeLine) -> Result<(), String> {
    if let Some(inner) = item.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        if let Some((slot, target)) = inner.split_once("->-") {
            node.migrating.push((parse_slot(slot)?, target.to_string()));
        } else if let Some((slot, source)) = inner.split_once("-<-") {
            node.importing.push((parse_slot(slot)?, source.to_string()));
        } else {
            return Err(format!("unknown open-slot marker {item:?}"));
        }
        return Ok(());
    }
    let range = match item.split_once('-') {
        Some((a, b)) => (parse_slot(a)?, parse_slot(b)?),
        None => {
            let s = parse_slot(item)?;
            (s, s)
        }
    };
    if range.0 > range.1 {
        return Err(format!("reversed slot range {item:?}"));
    }
    node.slots.push(range);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE_MASTERS_ONE_OPEN: &str = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host-a slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922 [5461-<-e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca]
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master - 0 1426238318243 3 connected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca :30001@31001 myself,master - 0 0 1 connected 0-5460 [5461->-67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1]
824fe116063bc5fcf9f4ffd895bc17aee7731ac3 127.0.0.1:30006@31006 slave,fail? 292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 0 1426238317741 6 disconnected
";

    #[test]
    fn parses_roles_slots_and_open_slots() {
        let mut view = NodesView::parse(THREE_MASTERS_ONE_OPEN).unwrap();
        view.fill_missing_host("127.0.0.1");
        assert_eq!(view.nodes.len(), 5);
        let me = view.myself().unwrap();
        assert_eq!(me.addr, "127.0.0.1:30001");
        assert_eq!(me.port(), 30001);
        assert_eq!(me.cport, 31001);
        assert_eq!(me.slots, vec![(0, 5460)]);
        assert_eq!(me.slot_count(), 5461);
        assert_eq!(
            me.migrating,
            vec![(5461, "67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1".into())]
        );
        let b = view
            .node("67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1")
            .unwrap();
        assert_eq!(
            b.importing,
            vec![(5461, "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca".into())]
        );
        assert_eq!(view.masters().count(), 3);
        let replicas: Vec<_> = view
            .replicas_of("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
            .map(|n| n.port())
            .collect();
        assert_eq!(replicas, vec![30004]);
        let failing = view
            .node("824fe116063bc5fcf9f4ffd895bc17aee7731ac3")
            .unwrap();
        assert!(failing.is_failing());
        assert!(!failing.connected);
        let owners = view.slot_owners();
        assert!(owners.iter().all(Option::is_some));
        assert_eq!(
            owners[16383].as_deref(),
            Some("292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f")
        );
    }

    #[test]
    fn single_slots_and_hostnames() {
        let view = NodesView::parse(
            "aaa 10.0.0.1:7000@17000,node-1.example myself,master - 0 0 7 connected 1 3-4 16383\n",
        )
        .unwrap();
        assert_eq!(view.nodes[0].addr, "10.0.0.1:7000");
        assert_eq!(view.nodes[0].slots, vec![(1, 1), (3, 4), (16383, 16383)]);
    }

    #[test]
    fn rejects_bad_lines() {
        assert!(NodesView::parse("abc 1.2.3.4:1@2 master").is_err());
        let e = NodesView::parse("a 1.2.3.4:1@2 master - 0 0 1 connected 16384").unwrap_err();
        assert!(e.reason.contains("out of range"), "{e}");
        assert!(NodesView::parse("a 1.2.3.4:1@2 master - 0 0 1 connected 9-3").is_err());
        assert!(NodesView::parse("a 1.2.3.4:1@2 master - 0 0 1 connected [9-?-x]").is_err());
        assert!(NodesView::parse("a 1.2.3.4:1@x master - 0 0 1 connected").is_err());
    }
}
