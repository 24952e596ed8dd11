//! Query execution: jobs, the queue they wait in, the workers that run them and the scheduler
//! that enqueues scheduled work.
//!
//! # Layout
//! - [`job`]: what a job is and the states Redash clients poll (`/api/jobs/<id>`).
//! - [`queue`]: the [`Queue`](queue::Queue) interface every backend implements, and the
//!   in-process backend used by `cairn up`.
//! - [`worker`]: takes jobs and runs them; `execute` (query runs streamed into the result
//!   store) and `introspect` (connection tests, schema refreshes) are its job kinds.
//! - [`scheduler`]: enqueues due scheduled queries and runs housekeeping periodically.
//! - [`settings`]: time limits, result limits, intervals.
//!
//! A request never runs SQL itself: it enqueues a [`job::Job`], a worker picks it up, streams the
//! rows into the result store, and records the outcome in the job's state, which the client polls.

mod execute;
mod introspect;
pub mod job;
pub mod queue;
mod runners;
pub mod scheduler;
pub mod settings;
pub mod worker;
