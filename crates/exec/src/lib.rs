//! Query execution: the job queue interface, its backends, workers and the scheduler.
