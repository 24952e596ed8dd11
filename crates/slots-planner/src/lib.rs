//! Pure, deterministic Redis Cluster slot planner.
