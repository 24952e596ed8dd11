//! Redis Cluster I/O for the slot balancer: discovery, measurement, migration, watch and load
//! generation.
//!
//! The pure model (snapshot, plan, planners) lives in `cairn-slots-planner`; this crate is the
//! part that talks to servers. It never uses redis-rs's cluster client: every node gets its own
//! connection ([`client::NodeClient`]) and routing follows our own slot map, because the Rust
//! cluster clients hang on concurrent `ASK` redirections, which is exactly what a live migration
//! produces.
//!
//! # Layout
//! - [`slot`]: CRC16 hash slots and hash tags.
//! - [`nodes`]: the `CLUSTER NODES` parser (roles, slot ranges, open slots).
//! - [`info`]: the `INFO` parser (version, capabilities, memory, ops/s, CPU).
//! - [`client`]: one connection per node, with timeouts.
//! - [`cluster`]: discovery from a seed and the health check that guards every change.
//! - [`stats`]: `INFO`, `CLUSTER SLOT-STATS` and key-count readers.
//! - [`status`]: the `cairn slots status` report.
//! - [`router`]: our own request routing with `MOVED`/`ASK` handling (no cluster client).
//! - [`bench`]: the load generator and key loader of `cairn slots bench`.
//! - [`measure`]: live cluster -> planner snapshot (load sources and capacity).
//! - [`migrate`]: apply and resume a plan (legacy and atomic protocols, journal, throttles).
//! - [`fix`]: repair open and uncovered slots.
//! - [`watch`]: the periodic measure/plan/apply loop and its metrics; [`lease`]: one acting replica.
//! - [`error`]: [`SlotsError`], one-line errors that name the remedy.

pub mod bench;
pub mod client;
pub mod cluster;
pub mod error;
pub mod fix;
pub mod info;
pub mod lease;
pub mod measure;
pub mod migrate;
pub mod nodes;
pub mod router;
pub mod slot;
pub mod stats;
pub mod status;
pub mod watch;

pub use error::SlotsError;
