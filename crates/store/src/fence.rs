//! Exactly-once scheduled runs: a scheduler claims each (query, due time) before it enqueues the
//! run, under a fencing token.
//!
//! With several schedulers (one leader, the others standing by), a leader that lost its lease
//! without noticing (a long GC-like pause, a partition) could still enqueue. Every leader gets a
//! token that grows with each election; the `scheduler_fence` row keeps the highest token any
//! claim carried, and a claim with a lower token is refused ([`ClaimOutcome::StaleToken`]), so a
//! deposed leader is fenced off as soon as the new one has claimed anything. Per query,
//! `queries.schedule_claimed_for` keeps the due time last claimed: a due time is claimed once,
//! whoever asks and however often.
//!
//! Both steps happen in one transaction that starts by writing the fence row: PostgreSQL's row
//! lock on it (and re-checking the conditional `UPDATE` after a concurrent commit) and SQLite's
//! `BEGIN IMMEDIATE` serialise claimers, so concurrent claims cannot both succeed.

use chrono::{DateTime, SubsecRound, Utc};

use crate::db::{BeginWrite, Store, with_pool};
use crate::error::{StoreError, StoreResult};

/// What [`Store::claim_scheduled_run`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// The run for this due time is ours: enqueue it.
    Claimed,
    /// This due time (or a later one) was claimed before: do not enqueue.
    AlreadyClaimed,
    /// A claim with a higher token was seen: this scheduler is no longer the leader and must
    /// stop enqueuing.
    StaleToken {
        /// The highest token seen so far.
        highest: u64,
    },
}

impl Store {
    /// Claims the run of query `query_id` that became due at `due_at`, under fencing `token`, in
    /// one transaction: refused with [`ClaimOutcome::StaleToken`] when a higher token was seen;
    /// otherwise the stored highest token is raised to `token`, and the claim succeeds only if
    /// the query's last claimed due time is older than `due_at` (or it has none).
    ///
    /// `due_at` is kept at microsecond precision. In-process deployments without leader
    /// election use token 0 throughout.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown query; [`StoreError::Invalid`] for a token above
    /// `i64::MAX`; `Db` on database failure.
    pub async fn claim_scheduled_run(
        &self,
        query_id: i64,
        due_at: DateTime<Utc>,
        token: u64,
    ) -> StoreResult<ClaimOutcome> {
        let token = i64::try_from(token)
            .map_err(|_| StoreError::Invalid(format!("fencing token {token} is too large")))?;
        let due_at = due_at.trunc_subsecs(6);
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let raised: Option<i64> = sqlx::query_scalar(
                "UPDATE scheduler_fence SET token = $1 WHERE id = 1 AND token <= $1 \
                 RETURNING token",
            )
            .bind(token)
            .fetch_optional(&mut *tx)
            .await?;
            if raised.is_none() {
                let highest: i64 = sqlx::query_scalar("SELECT token FROM scheduler_fence")
                    .fetch_one(&mut *tx)
                    .await?;
                return Ok(ClaimOutcome::StaleToken {
                    highest: u64::try_from(highest).unwrap_or(0),
                });
            }
            let claimed: Option<i64> = sqlx::query_scalar(
                "UPDATE queries SET schedule_claimed_for = $2 WHERE id = $1 \
                 AND (schedule_claimed_for IS NULL OR schedule_claimed_for < $2) RETURNING id",
            )
            .bind(query_id)
            .bind(due_at)
            .fetch_optional(&mut *tx)
            .await?;
            let outcome = if claimed.is_some() {
                ClaimOutcome::Claimed
            } else {
                let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM queries WHERE id = $1")
                    .bind(query_id)
                    .fetch_one(&mut *tx)
                    .await?;
                if exists == 0 {
                    return Err(StoreError::NotFound("query"));
                }
                ClaimOutcome::AlreadyClaimed
            };
            tx.commit().await?;
            Ok(outcome)
        })
    }

    /// The highest fencing token any claim has carried (0 before the first).
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn highest_fencing_token(&self) -> StoreResult<u64> {
        let token: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT token FROM scheduler_fence WHERE id = 1")
                .fetch_one(pool)
                .await?
        });
        Ok(u64::try_from(token).unwrap_or(0))
    }
}
