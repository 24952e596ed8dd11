//! Paged, searchable, filterable lists of queries and dashboards, as Redash's list endpoints take
//! them (`page`, `page_size`, `q`, `tags`, `order`), built once for both tables.

use sqlx::{Database, Encode, QueryBuilder, Type};

use crate::error::{StoreError, StoreResult};

/// Which page of a list to return. Pages count from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    page: u32,
    page_size: u32,
}

impl Paging {
    /// The largest page Redash serves.
    pub const MAX_PAGE_SIZE: u32 = 250;
    /// Redash's default page size.
    pub const DEFAULT_PAGE_SIZE: u32 = 25;

    /// Page `page` (from 1) of `page_size` items (1 to 250).
    ///
    /// # Errors
    /// [`StoreError::Invalid`] when either is out of range.
    pub fn new(page: u32, page_size: u32) -> StoreResult<Paging> {
        if page == 0 {
            return Err(StoreError::Invalid("page must be 1 or more".into()));
        }
        if page_size == 0 || page_size > Self::MAX_PAGE_SIZE {
            return Err(StoreError::Invalid(format!(
                "page_size must be between 1 and {}",
                Self::MAX_PAGE_SIZE
            )));
        }
        Ok(Paging { page, page_size })
    }

    /// The page number, from 1.
    pub fn page(&self) -> u32 {
        self.page
    }

    /// Items per page.
    pub fn page_size(&self) -> u32 {
        self.page_size
    }

    fn offset(&self) -> i64 {
        (i64::from(self.page) - 1) * i64::from(self.page_size)
    }
}

impl Default for Paging {
    fn default() -> Self {
        Paging {
            page: 1,
            page_size: Self::DEFAULT_PAGE_SIZE,
        }
    }
}

/// One page of a list plus the total number of matching items (Redash's `count`).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items on this page.
    pub items: Vec<T>,
    /// How many items match in all pages.
    pub count: i64,
    /// The page number, from 1.
    pub page: u32,
    /// The page size asked for.
    pub page_size: u32,
}

/// The field a list is sorted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderField {
    /// Name, case-insensitive.
    Name,
    /// Creation time.
    CreatedAt,
    /// Last change.
    UpdatedAt,
}

/// Sort order of a list: Redash's `order` parameter, `name` or `-name` for descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// The field.
    pub field: OrderField,
    /// Largest first.
    pub descending: bool,
}

impl Order {
    /// Parses Redash's `order` parameter: `name`, `created_at`, `updated_at`, each optionally
    /// prefixed with `-` for descending.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for any other field.
    pub fn parse(text: &str) -> StoreResult<Order> {
        let (descending, name) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let field = match name {
            "name" => OrderField::Name,
            "created_at" => OrderField::CreatedAt,
            "updated_at" => OrderField::UpdatedAt,
            other => {
                return Err(StoreError::Invalid(format!(
                    "cannot order by {other:?}: use name, created_at or updated_at"
                )));
            }
        };
        Ok(Order { field, descending })
    }
}

impl Default for Order {
    /// Newest first, as Redash lists.
    fn default() -> Self {
        Order {
            field: OrderField::CreatedAt,
            descending: true,
        }
    }
}

/// Which items a list draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every item that is not archived.
    #[default]
    All,
    /// Items owned by this user, not archived.
    OwnedBy(i64),
    /// Items this user starred, not archived.
    FavoritesOf(i64),
    /// Archived items only.
    Archived,
}

/// Which drafts a list shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Drafts {
    /// Drafts and published items alike (Redash's query list).
    #[default]
    All,
    /// Published items, plus drafts owned by this user (Redash's dashboard list).
    PublishedOrOwnedBy(i64),
}

/// What to list: Redash's `q`, `tags`, `order`, `page` and `page_size`, plus the scope.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    /// Case-insensitive substring search in the name (and, for queries, the description and
    /// query text). Blank means no search.
    pub q: Option<String>,
    /// Only items carrying ALL of these tags.
    pub tags: Vec<String>,
    /// Which items.
    pub scope: Scope,
    /// Which drafts.
    pub drafts: Drafts,
    /// Sort order; ties are broken by id.
    pub order: Order,
    /// Which page.
    pub paging: Paging,
}

/// The table-specific names [`push_filters`] needs.
pub(crate) struct ListTable {
    /// `SELECT <columns> FROM <table> <alias>`.
    pub select: &'static str,
    /// The table's alias in the list SQL (`q`, `d`).
    pub alias: &'static str,
    /// Searched columns (already qualified, NULL-safe).
    pub searched: &'static [&'static str],
    /// The tag table and its id column.
    pub tag_table: &'static str,
    /// The tag table's id column.
    pub tag_id: &'static str,
    /// The favorites `object_type`.
    pub favorite_kind: &'static str,
}

/// The statement for one page of `t`'s rows matching `filter`, after `prefix` (empty, or
/// `EXPLAIN` for `hot`).
pub(crate) fn list_page<DB>(prefix: &str, t: &ListTable, filter: &ListFilter) -> QueryBuilder<DB>
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(format!("{prefix}{}", t.select));
    push_filters(&mut qb, t, filter);
    push_order_and_page(&mut qb, t.alias, filter);
    qb
}

/// Appends ` WHERE ...` for `filter` to `qb`.
pub(crate) fn push_filters<DB>(qb: &mut QueryBuilder<DB>, t: &ListTable, filter: &ListFilter)
where
    DB: Database,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
{
    let a = t.alias;
    qb.push(format!(" WHERE {a}.is_archived = "));
    qb.push_bind(matches!(filter.scope, Scope::Archived));
    match filter.scope {
        Scope::All | Scope::Archived => {}
        Scope::OwnedBy(user) => {
            qb.push(format!(" AND {a}.user_id = "));
            qb.push_bind(user);
        }
        Scope::FavoritesOf(user) => {
            qb.push(format!(
                " AND {a}.id IN (SELECT object_id FROM favorites WHERE object_type = '{}' \
                 AND user_id = ",
                t.favorite_kind
            ));
            qb.push_bind(user);
            qb.push(")");
        }
    }
    if let Drafts::PublishedOrOwnedBy(user) = filter.drafts {
        qb.push(format!(" AND ({a}.is_draft = "));
        qb.push_bind(false);
        qb.push(format!(" OR {a}.user_id = "));
        qb.push_bind(user);
        qb.push(")");
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let pattern = like_pattern(q);
        qb.push(" AND (");
        for (i, column) in t.searched.iter().enumerate() {
            if i > 0 {
                qb.push(" OR ");
            }
            qb.push(format!("LOWER({column}) LIKE "));
            qb.push_bind(pattern.clone());
            qb.push(" ESCAPE '\\'");
        }
        qb.push(")");
    }
    let mut tags: Vec<&String> = filter.tags.iter().collect();
    tags.sort();
    tags.dedup();
    if !tags.is_empty() {
        qb.push(format!(
            " AND {a}.id IN (SELECT {id} FROM {table} WHERE tag IN (",
            id = t.tag_id,
            table = t.tag_table
        ));
        for (i, tag) in tags.iter().enumerate() {
            if i > 0 {
                qb.push(", ");
            }
            qb.push_bind((*tag).clone());
        }
        qb.push(format!(") GROUP BY {} HAVING COUNT(*) = ", t.tag_id));
        qb.push_bind(tags.len() as i64);
        qb.push(")");
    }
}

/// Appends ` ORDER BY ... LIMIT ... OFFSET ...` for `filter` to `qb`.
pub(crate) fn push_order_and_page<DB>(qb: &mut QueryBuilder<DB>, alias: &str, filter: &ListFilter)
where
    DB: Database,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let column = match filter.order.field {
        OrderField::Name => format!("LOWER({alias}.name)"),
        OrderField::CreatedAt => format!("{alias}.created_at"),
        OrderField::UpdatedAt => format!("{alias}.updated_at"),
    };
    let dir = if filter.order.descending {
        "DESC"
    } else {
        "ASC"
    };
    qb.push(format!(" ORDER BY {column} {dir}, {alias}.id {dir} LIMIT "));
    qb.push_bind(i64::from(filter.paging.page_size()));
    qb.push(" OFFSET ");
    qb.push_bind(filter.paging.offset());
}

/// A `LIKE` pattern matching `text` anywhere, lowercased, with `%`, `_` and `\` escaped.
pub(crate) fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Tags without blanks and duplicates, in their first order.
pub(crate) fn clean_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim();
        if !tag.is_empty() && !out.iter().any(|t| t == tag) {
            out.push(tag.to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paging_is_checked() {
        assert!(Paging::new(0, 25).is_err());
        assert!(Paging::new(1, 0).is_err());
        assert!(Paging::new(1, 251).is_err());
        assert_eq!(Paging::new(3, 10).unwrap().offset(), 20);
    }

    #[test]
    fn order_parses_redash_syntax() {
        assert_eq!(
            Order::parse("-name").unwrap(),
            Order {
                field: OrderField::Name,
                descending: true
            }
        );
        assert!(!Order::parse("created_at").unwrap().descending);
        assert!(matches!(
            Order::parse("1; DROP TABLE"),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn like_patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_A\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn tags_are_cleaned() {
        let tags = vec![" a ".to_string(), "b".into(), "a".into(), "".into()];
        assert_eq!(clean_tags(&tags), vec!["a".to_string(), "b".to_string()]);
    }
}
