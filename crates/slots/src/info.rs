//! Parsing `INFO`: server identity and version, memory, throughput, CPU and key counts.
//!
//! Valkey reports `redis_version:7.2.4` for client compatibility and its real version in
//! `valkey_version` (with `server_name:valkey`), so the version must be read from the right field
//! before deciding which commands a node has.

use serde::Serialize;
use std::collections::BTreeMap;

/// `INFO` as `field -> value`, all sections merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    fields: BTreeMap<String, String>,
}

impl Info {
    /// Parses an `INFO` reply; lines that are not `field:value` (section headers, blanks) are
    /// skipped.
    pub fn parse(text: &str) -> Info {
        let fields = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.trim_end().split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Info { fields }
    }

    /// A raw field.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.fields.get(field).map(String::as_str)
    }

    /// A numeric field (integer or decimal).
    pub fn number(&self, field: &str) -> Option<f64> {
        self.get(field)?.parse().ok()
    }

    /// The server implementation and version.
    pub fn server(&self) -> ServerVersion {
        let valkey =
            self.get("server_name") == Some("valkey") || self.get("valkey_version").is_some();
        let (kind, field) = if valkey {
            (ServerKind::Valkey, "valkey_version")
        } else {
            (ServerKind::Redis, "redis_version")
        };
        let version = self
            .get(field)
            .or_else(|| self.get("redis_version"))
            .unwrap_or("0.0.0");
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        ServerVersion {
            kind,
            major: parts.next().unwrap_or(0),
            minor: parts.next().unwrap_or(0),
            patch: parts.next().unwrap_or(0),
        }
    }

    /// Memory, throughput, CPU and keys, from the `memory`, `stats`, `cpu` and `keyspace`
    /// sections.
    pub fn stats(&self) -> NodeStats {
        let num = |f: &str| self.number(f).unwrap_or(0.0);
        NodeStats {
            used_memory: num("used_memory") as u64,
            maxmemory: num("maxmemory") as u64,
            ops_per_sec: num("instantaneous_ops_per_sec") as u64,
            total_commands: num("total_commands_processed") as u64,
            cpu_seconds: num("used_cpu_sys") + num("used_cpu_user"),
            net_input_bytes: num("total_net_input_bytes") as u64,
            net_output_bytes: num("total_net_output_bytes") as u64,
            keys: self.keys(),
            connected_clients: num("connected_clients") as u64,
        }
    }

    /// Keys in all databases (`db0:keys=N,expires=...`).
    pub fn keys(&self) -> u64 {
        self.fields
            .iter()
            .filter(|(k, _)| k.starts_with("db") && k[2..].chars().all(|c| c.is_ascii_digit()))
            .filter_map(|(_, v)| v.split(',').find_map(|kv| kv.strip_prefix("keys=")))
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    }
}

/// Counters and gauges of one node at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeStats {
    /// Bytes allocated for data (`used_memory`).
    pub used_memory: u64,
    /// Configured memory limit, 0 when unlimited.
    pub maxmemory: u64,
    /// The server's own instantaneous ops/s estimate.
    pub ops_per_sec: u64,
    /// Commands processed since start (a counter).
    pub total_commands: u64,
    /// CPU seconds (system + user) used since start (a counter).
    pub cpu_seconds: f64,
    /// Network bytes received since start (a counter).
    pub net_input_bytes: u64,
    /// Network bytes sent since start (a counter).
    pub net_output_bytes: u64,
    /// Keys in all databases.
    pub keys: u64,
    /// Connected clients.
    pub connected_clients: u64,
}

/// Redis or Valkey.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    /// Redis (any version).
    Redis,
    /// Valkey.
    Valkey,
}

/// A server implementation and version, which decides the commands available.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServerVersion {
    /// Implementation.
    pub kind: ServerKind,
    /// Major version.
    pub major: u32,
    /// Minor version.
    pub minor: u32,
    /// Patch version.
    pub patch: u32,
}

/// Which atomic slot migration command a server offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AtomicMigration {
    /// Valkey 9+: `CLUSTER MIGRATESLOTS SLOTSRANGE a b NODE id`, sent to the source.
    ValkeyMigrateSlots,
    /// Redis 8.4+: `CLUSTER MIGRATION IMPORT a b`, sent to the target.
    RedisMigrationImport,
}

impl ServerVersion {
    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }

    /// Whether `CLUSTER SLOT-STATS` exists (Valkey 8.0+, Redis 8.2+).
    pub fn has_slot_stats(&self) -> bool {
        match self.kind {
            ServerKind::Valkey => self.at_least(8, 0),
            ServerKind::Redis => self.at_least(8, 2),
        }
    }

    /// The atomic migration command, if any (Valkey 9.0+, Redis 8.4+).
    pub fn atomic_migration(&self) -> Option<AtomicMigration> {
        match self.kind {
            ServerKind::Valkey if self.at_least(9, 0) => Some(AtomicMigration::ValkeyMigrateSlots),
            ServerKind::Redis if self.at_least(8, 4) => Some(AtomicMigration::RedisMigrationImport),
            _ => None,
        }
    }
}

impl std::fmt::Display for ServerVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.kind {
            ServerKind::Redis => "redis",
            ServerKind::Valkey => "valkey",
        };
        write!(f, "{name} {}.{}.{}", self.major, self.minor, self.patch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS_70: &str = "# Server\r\nredis_version:7.0.15\r\nredis_mode:cluster\r\n\r\n# Clients\r\nconnected_clients:3\r\n# Memory\r\nused_memory:1520000\r\nmaxmemory:0\r\n# Stats\r\ntotal_commands_processed:1200\r\ninstantaneous_ops_per_sec:57\r\ntotal_net_input_bytes:1000\r\ntotal_net_output_bytes:2000\r\n# CPU\r\nused_cpu_sys:1.5\r\nused_cpu_user:2.25\r\n# Keyspace\r\ndb0:keys=42,expires=0,avg_ttl=0\r\n";
    const VALKEY_9: &str =
        "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:9.1.2\r\n";

    #[test]
    fn redis_70_stats_and_capabilities() {
        let info = Info::parse(REDIS_70);
        let v = info.server();
        assert_eq!(
            v,
            ServerVersion {
                kind: ServerKind::Redis,
                major: 7,
                minor: 0,
                patch: 15
            }
        );
        assert!(!v.has_slot_stats());
        assert_eq!(v.atomic_migration(), None);
        let s = info.stats();
        assert_eq!(s.used_memory, 1_520_000);
        assert_eq!(s.ops_per_sec, 57);
        assert_eq!(s.keys, 42);
        assert_eq!(s.connected_clients, 3);
        assert!((s.cpu_seconds - 3.75).abs() < 1e-9);
        assert_eq!(s.net_output_bytes, 2000);
    }

    #[test]
    fn valkey_reports_its_own_version() {
        let v = Info::parse(VALKEY_9).server();
        assert_eq!(v.to_string(), "valkey 9.1.2");
        assert!(v.has_slot_stats());
        assert_eq!(
            v.atomic_migration(),
            Some(AtomicMigration::ValkeyMigrateSlots)
        );
    }

    #[test]
    fn redis_8_capabilities_by_minor_version() {
        let v = |minor| ServerVersion {
            kind: ServerKind::Redis,
            major: 8,
            minor,
            patch: 0,
        };
        assert!(!v(0).has_slot_stats());
        assert!(v(2).has_slot_stats());
        assert_eq!(v(2).atomic_migration(), None);
        assert_eq!(
            v(4).atomic_migration(),
            Some(AtomicMigration::RedisMigrationImport)
        );
        let valkey8 = ServerVersion {
            kind: ServerKind::Valkey,
            major: 8,
            minor: 1,
            patch: 8,
        };
        assert!(valkey8.has_slot_stats());
        assert_eq!(valkey8.atomic_migration(), None);
    }
}
