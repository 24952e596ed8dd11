//! Connected data source runners, kept between jobs.
//!
//! A runner carries a data source's parsed options and its connection pool (PostgreSQL sessions
//! are reset and reused between runs), so building one per job would repeat that work and lose
//! the pool. A runner is kept per data source and replaced when the data source's type or
//! options change.

use cairn_domain::model::DataSource;
use cairn_sources::{Runner, SourceError, connect};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Runners by data source id, each with the configuration it was connected with.
#[derive(Default)]
pub struct Runners {
    by_source: Mutex<HashMap<i64, (String, Arc<Runner>)>>,
}

impl std::fmt::Debug for Runners {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runners").finish_non_exhaustive()
    }
}

impl Runners {
    /// The runner for `ds`, connecting (or reconnecting after a change) as needed.
    ///
    /// # Errors
    /// When the type is unknown or the options are invalid.
    pub fn get(&self, ds: &DataSource) -> Result<Arc<Runner>, SourceError> {
        let config = format!("{}\u{0}{}", ds.kind, ds.options);
        let mut map = self.by_source.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, runner)) = map.get(&ds.id)
            && *seen == config
        {
            return Ok(runner.clone());
        }
        let runner = Arc::new(connect(&ds.kind, &ds.options)?);
        if let Some((_, old)) = map.insert(ds.id, (config, runner.clone())) {
            tokio::spawn(async move { old.close().await });
        }
        Ok(runner)
    }
}
