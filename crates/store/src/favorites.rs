//! Favorites: a user's stars on queries and dashboards.

use cairn_domain::model::FavoriteKind;

use crate::db::{Store, now, with_pool};
use crate::error::{StoreError, StoreResult, refs_as};

/// The ids a user starred (a hot statement, see `hot`).
pub(crate) const FAVORITE_IDS: &str = "SELECT object_id FROM favorites \
    WHERE user_id = $1 AND object_type = $2 ORDER BY object_id";

impl Store {
    /// Stars an object for a user; starring it again changes nothing.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the query or dashboard does not exist,
    /// [`StoreError::Invalid`] for an unknown user.
    pub async fn add_favorite(
        &self,
        user_id: i64,
        kind: FavoriteKind,
        object_id: i64,
    ) -> StoreResult<()> {
        let exists_sql = match kind {
            FavoriteKind::Query => "SELECT COUNT(*) FROM queries WHERE id = $1",
            FavoriteKind::Dashboard => "SELECT COUNT(*) FROM dashboards WHERE id = $1",
        };
        with_pool!(self, |pool| {
            let n: i64 = sqlx::query_scalar(exists_sql)
                .bind(object_id)
                .fetch_one(pool)
                .await?;
            if n == 0 {
                return Err(StoreError::NotFound(match kind {
                    FavoriteKind::Query => "query",
                    FavoriteKind::Dashboard => "dashboard",
                }));
            }
            sqlx::query(
                "INSERT INTO favorites (user_id, object_type, object_id, created_at) \
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            )
            .bind(user_id)
            .bind(kind.as_str())
            .bind(object_id)
            .bind(now())
            .execute(pool)
            .await
            .map_err(refs_as("user", "favorite"))?;
        });
        Ok(())
    }

    /// Removes a star; removing a missing star changes nothing.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn remove_favorite(
        &self,
        user_id: i64,
        kind: FavoriteKind,
        object_id: i64,
    ) -> StoreResult<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "DELETE FROM favorites WHERE user_id = $1 AND object_type = $2 AND object_id = $3",
            )
            .bind(user_id)
            .bind(kind.as_str())
            .bind(object_id)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// Whether the user starred this object.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn is_favorite(
        &self,
        user_id: i64,
        kind: FavoriteKind,
        object_id: i64,
    ) -> StoreResult<bool> {
        let n: i64 = with_pool!(self, |pool| {
            sqlx::query_scalar(
                "SELECT COUNT(*) FROM favorites \
                 WHERE user_id = $1 AND object_type = $2 AND object_id = $3",
            )
            .bind(user_id)
            .bind(kind.as_str())
            .bind(object_id)
            .fetch_one(pool)
            .await?
        });
        Ok(n > 0)
    }

    /// The ids of every object of this kind the user starred (to mark `is_favorite` in lists).
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn favorite_ids(&self, user_id: i64, kind: FavoriteKind) -> StoreResult<Vec<i64>> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar(FAVORITE_IDS)
                .bind(user_id)
                .bind(kind.as_str())
                .fetch_all(pool)
                .await?
        }))
    }
}
