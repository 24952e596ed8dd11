//! The roles of a highly available deployment, each its own process and its own Kubernetes
//! Deployment: `cairn migrate` (once per rollout), `cairn server` (any number of replicas),
//! `cairn worker` (per queue) and `cairn scheduler` (several replicas, one leads).
//!
//! Every role shares the metadata database (PostgreSQL) and one Redis (standalone or a cluster):
//! the job queue, job states, worker heartbeats and the scheduler lease. None keeps state of its
//! own, and none starts on a metadata schema other than the one it was built for.
//!
//! - [`migrate`]: applies schema migrations.
//! - [`server`]: the HTTP API and web UI.
//! - [`worker`]: runs jobs from some queues.
//! - [`scheduler`]: leader election and the periodic tasks of the leader.
//! - [`health`]: `/ping`, `/ready` and `/metrics` of the roles that serve no API.

pub mod health;
pub mod migrate;
pub mod scheduler;
pub mod server;
pub mod worker;
