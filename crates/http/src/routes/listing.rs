//! The paging, search and filter parameters of Redash's list endpoints, and the page shape
//! `{"count","page","page_size","results"}`.

use crate::error::AppError;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use cairn_domain::model::User;
use cairn_store::{Drafts, ListFilter, Order, Page, Paging, Scope};
use serde_json::{Value, json};

/// `?page&page_size&q&order&tags&drafts` of a list request. `tags` may repeat.
#[derive(Debug, Default)]
pub struct ListParams {
    page: Option<String>,
    page_size: Option<String>,
    q: Option<String>,
    order: Option<String>,
    tags: Vec<String>,
    drafts: bool,
}

impl ListParams {
    /// Parses a URL query string.
    ///
    /// # Errors
    /// 400 when it is not a valid query string.
    pub fn parse(query: &str) -> Result<ListParams, AppError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query)
            .map_err(|e| AppError::bad_request(format!("Invalid query string: {e}")))?;
        let mut p = ListParams::default();
        for (k, v) in pairs {
            match k.as_str() {
                "page" => p.page = Some(v),
                "page_size" => p.page_size = Some(v),
                "q" => p.q = Some(v),
                "order" => p.order = Some(v),
                "tags" | "tags[]" => p.tags.push(v),
                "drafts" => p.drafts = true,
                _ => {}
            }
        }
        Ok(p)
    }

    /// The store filter for `caller`: drafts are listed only to their owner unless `drafts` is
    /// given, as in Redash.
    ///
    /// # Errors
    /// 400 for a page, page size or order that is not valid.
    pub fn filter(self, caller: &User, scope: Scope) -> Result<ListFilter, AppError> {
        let number = |name: &str, v: Option<String>, default: u32| -> Result<u32, AppError> {
            match v {
                None => Ok(default),
                Some(s) => s.trim().parse::<u32>().map_err(|_| {
                    AppError::bad_request(format!("{name} must be a positive integer, not {s:?}."))
                }),
            }
        };
        let page = number("page", self.page, 1)?;
        let page_size = number("page_size", self.page_size, Paging::DEFAULT_PAGE_SIZE)?;
        let paging = Paging::new(page, page_size)?;
        let order = match self.order.as_deref().filter(|o| !o.is_empty()) {
            Some(o) => Order::parse(o)?,
            None => Order::default(),
        };
        let drafts = if self.drafts || matches!(scope, Scope::OwnedBy(_)) {
            Drafts::All
        } else {
            Drafts::PublishedOrOwnedBy(caller.id)
        };
        Ok(ListFilter {
            q: self.q.filter(|q| !q.trim().is_empty()),
            tags: self.tags,
            scope,
            drafts,
            order,
            paging,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<ListParams, AppError> {
        ListParams::parse(parts.uri.query().unwrap_or(""))
    }
}

/// Redash's page shape. A page past the end is empty rather than an error, so clients that
/// page until a short page (redash-python) stop cleanly when the count is a multiple of the
/// page size.
pub fn page_json<T>(page: &Page<T>, results: Vec<Value>) -> Value {
    json!({
        "count": page.count,
        "page": page.page,
        "page_size": page.page_size,
        "results": results,
    })
}

/// Redash's tag list shape: `{"tags":[{"name","count"}]}`.
pub fn tags_json(tags: Vec<(String, i64)>) -> Value {
    let tags: Vec<Value> = tags
        .into_iter()
        .map(|(name, count)| json!({"name": name, "count": count}))
        .collect();
    json!({ "tags": tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_tags_and_flags_parse() {
        let p =
            ListParams::parse("page=2&page_size=100&q=sales&tags=a&tags=b&drafts=true").unwrap();
        assert_eq!(p.page.as_deref(), Some("2"));
        assert_eq!(p.tags, vec!["a", "b"]);
        assert!(p.drafts);
    }

    #[test]
    fn bad_numbers_are_400() {
        let user = User {
            id: 1,
            name: "a".into(),
            email: "a@b".into(),
            is_admin: false,
            api_key: "k".into(),
            password_hash: None,
            created_at: chrono::Utc::now(),
            disabled_at: None,
        };
        let err = ListParams::parse("page=-1")
            .unwrap()
            .filter(&user, Scope::All)
            .unwrap_err();
        assert_eq!(err.status, 400);
        let err = ListParams::parse("page_size=1000")
            .unwrap()
            .filter(&user, Scope::All)
            .unwrap_err();
        assert_eq!(err.status, 400);
        let ok = ListParams::parse("")
            .unwrap()
            .filter(&user, Scope::All)
            .unwrap();
        assert_eq!(ok.paging.page_size(), 25);
        assert_eq!(ok.drafts, Drafts::PublishedOrOwnedBy(1));
    }
}
