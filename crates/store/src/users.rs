//! Users: the people and service accounts behind API keys.

use cairn_domain::model::User;
use chrono::{DateTime, Utc};

use crate::db::{Store, now, random_key, with_pool};
use crate::error::{StoreError, StoreResult, unique_as};
use crate::listing::{Page, Paging};

/// A user to create. The API key is generated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Display name.
    pub name: String,
    /// Login e-mail, unique (case-insensitive).
    pub email: String,
    /// Admin rights.
    pub is_admin: bool,
    /// Password hash, already hashed by the caller; `None` for key-only users.
    pub password_hash: Option<String>,
}

/// Changes to a user; `None` keeps a field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserUpdate {
    /// New display name.
    pub name: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New admin flag.
    pub is_admin: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i64,
    name: String,
    email: String,
    is_admin: bool,
    api_key: String,
    password_hash: Option<String>,
    created_at: DateTime<Utc>,
    disabled_at: Option<DateTime<Utc>>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            name: r.name,
            email: r.email,
            is_admin: r.is_admin,
            api_key: r.api_key,
            password_hash: r.password_hash,
            created_at: r.created_at,
            disabled_at: r.disabled_at,
        }
    }
}

macro_rules! user_cols {
    () => {
        "id, name, email, is_admin, api_key, password_hash, created_at, disabled_at"
    };
}

/// The user with an e-mail address, case-insensitive (a hot statement, see `hot`).
pub(crate) const USER_BY_EMAIL: &str = concat!(
    "SELECT ",
    user_cols!(),
    " FROM users WHERE LOWER(email) = LOWER($1)"
);

/// The user owning an API key: every API request (a hot statement, see `hot`).
pub(crate) const USER_BY_API_KEY: &str =
    concat!("SELECT ", user_cols!(), " FROM users WHERE api_key = $1");

impl Store {
    /// Creates a user with a fresh API key.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a blank name or an e-mail without `@`,
    /// [`StoreError::Duplicate`] when the e-mail is taken.
    pub async fn create_user(&self, new: &NewUser) -> StoreResult<User> {
        check_user_fields(Some(&new.name), Some(&new.email))?;
        let row: UserRow = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "INSERT INTO users (name, email, is_admin, api_key, password_hash, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING ",
                user_cols!()
            ))
            .bind(new.name.trim())
            .bind(new.email.trim())
            .bind(new.is_admin)
            .bind(random_key())
            .bind(&new.password_hash)
            .bind(now())
            .fetch_one(pool)
            .await
            .map_err(unique_as("user with this email"))?
        });
        Ok(row.into())
    }

    /// The user with this id.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn user(&self, id: i64) -> StoreResult<User> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }

    /// The user with this e-mail, compared case-insensitively.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is none.
    pub async fn user_by_email(&self, email: &str) -> StoreResult<User> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(USER_BY_EMAIL)
                .bind(email.trim())
                .fetch_optional(pool)
                .await?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }

    /// The user owning this API key, disabled or not (the caller refuses disabled users).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when no user has this key.
    pub async fn user_by_api_key(&self, api_key: &str) -> StoreResult<User> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(USER_BY_API_KEY)
                .bind(api_key)
                .fetch_optional(pool)
                .await?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }

    /// A page of users, oldest first.
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn list_users(&self, paging: Paging) -> StoreResult<Page<User>> {
        let limit = i64::from(paging.page_size());
        let offset = (i64::from(paging.page()) - 1) * limit;
        let (rows, count): (Vec<UserRow>, i64) = with_pool!(self, |pool| {
            let rows = sqlx::query_as(concat!(
                "SELECT ",
                user_cols!(),
                " FROM users ORDER BY id LIMIT $1 OFFSET $2"
            ))
            .bind(limit)
            .bind(offset)
            .fetch_all(pool)
            .await?;
            let count = sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?;
            (rows, count)
        });
        Ok(Page {
            items: rows.into_iter().map(User::from).collect(),
            count,
            page: paging.page(),
            page_size: paging.page_size(),
        })
    }

    /// How many users exist (0 on a first start).
    ///
    /// # Errors
    /// `Db` on database failure.
    pub async fn user_count(&self) -> StoreResult<i64> {
        Ok(with_pool!(self, |pool| {
            sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Changes a user's fields.
    ///
    /// # Errors
    /// [`StoreError::NotFound`], [`StoreError::Invalid`] or [`StoreError::Duplicate`] as
    /// [`Store::create_user`].
    pub async fn update_user(&self, id: i64, update: &UserUpdate) -> StoreResult<User> {
        check_user_fields(update.name.as_ref(), update.email.as_ref())?;
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE users SET name = COALESCE($2, name), email = COALESCE($3, email), \
                 is_admin = COALESCE($4, is_admin), \
                 password_hash = COALESCE($5, password_hash) WHERE id = $1 RETURNING ",
                user_cols!()
            ))
            .bind(id)
            .bind(update.name.as_deref().map(str::trim))
            .bind(update.email.as_deref().map(str::trim))
            .bind(update.is_admin)
            .bind(&update.password_hash)
            .fetch_optional(pool)
            .await
            .map_err(unique_as("user with this email"))?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }

    /// Disables (`true`) or re-enables (`false`) a user.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such user.
    pub async fn set_user_disabled(&self, id: i64, disabled: bool) -> StoreResult<User> {
        let at = disabled.then(now);
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE users SET disabled_at = $2 WHERE id = $1 RETURNING ",
                user_cols!()
            ))
            .bind(id)
            .bind(at)
            .fetch_optional(pool)
            .await?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }

    /// Gives a user a new API key; the old one stops working.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when there is no such user.
    pub async fn regenerate_user_api_key(&self, id: i64) -> StoreResult<User> {
        let row: Option<UserRow> = with_pool!(self, |pool| {
            sqlx::query_as(concat!(
                "UPDATE users SET api_key = $2 WHERE id = $1 RETURNING ",
                user_cols!()
            ))
            .bind(id)
            .bind(random_key())
            .fetch_optional(pool)
            .await?
        });
        row.map(User::from).ok_or(StoreError::NotFound("user"))
    }
}

fn check_user_fields(name: Option<&String>, email: Option<&String>) -> StoreResult<()> {
    if name.is_some_and(|n| n.trim().is_empty()) {
        return Err(StoreError::Invalid("a user needs a name".into()));
    }
    if email.is_some_and(|e| !e.contains('@') || e.trim().len() < 3) {
        return Err(StoreError::Invalid("a user needs a valid email".into()));
    }
    Ok(())
}
