//! Redis Cluster I/O for the slot balancer: discovery, measurement, migration, watch and load generation.
