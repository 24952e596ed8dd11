//! Query execution: jobs, the queue they wait in, the workers that run them and the scheduler
//! that enqueues scheduled work.
//!
//! # Layout
//! - [`job`]: what a job is and the states Redash clients poll (`/api/jobs/<id>`).
//! - [`queue`]: the [`Queue`](queue::Queue) interface every backend implements, and the
//!   in-process backend used by `cairn up`.
//!
//! A request never runs SQL itself: it enqueues a [`job::Job`], a worker picks it up, streams the
//! rows into the result store, and records the outcome in the job's state, which the client polls.

pub mod job;
pub mod queue;
