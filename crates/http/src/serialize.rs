//! The JSON shapes Redash clients read, built from Cairn's records.
//!
//! Records carry what is stored; Redash responses add derived fields (`is_safe`, `user`,
//! `can_edit`, `is_favorite`, ...). They are added here, in one place, so every endpoint that
//! returns a query or a dashboard returns the same shape.

use cairn_domain::model::{Dashboard, DataSource, Query, User, Visualization, Widget};
use cairn_domain::params::{ParameterSpec, is_safe_query};
use serde_json::{Value, json};

/// A user as Redash shows one inside other objects and in `/api/users`.
pub fn user_json(user: &User) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "profile_image_url": "",
        "is_disabled": user.is_disabled(),
        "is_admin": user.is_admin,
        "groups": if user.is_admin { vec![1, 2] } else { vec![2] },
        "created_at": user.created_at,
        "disabled_at": user.disabled_at,
    })
}

/// A user that no longer exists, for objects whose owner was deleted.
fn missing_user(id: i64) -> Value {
    json!({"id": id, "name": "(deleted user)", "email": "", "profile_image_url": "", "is_disabled": true})
}

/// Whether a query is safe in Redash's sense: no text parameters (an unparseable parameter
/// list counts as unsafe).
pub fn query_is_safe(query: &Query) -> bool {
    ParameterSpec::parse_options(&query.options)
        .map(|specs| is_safe_query(&query.query, &specs))
        .unwrap_or(false)
}

/// Per-caller extras of a query: who owns it, whether the caller starred it or may edit it.
#[derive(Debug, Default)]
pub struct QueryExtras<'a> {
    /// The owner, when loaded.
    pub user: Option<&'a User>,
    /// Who changed it last, when loaded.
    pub last_modified_by: Option<&'a User>,
    /// The query's visualizations, for single-query responses.
    pub visualizations: Option<&'a [Visualization]>,
    /// Whether the caller starred it.
    pub is_favorite: bool,
    /// Whether the caller may edit it.
    pub can_edit: bool,
}

/// A query in Redash's shape.
pub fn query_json(query: &Query, extras: &QueryExtras<'_>) -> Value {
    let mut v = json!({
        "id": query.id,
        "name": query.name,
        "description": query.description,
        "query": query.query,
        "query_hash": query.query_hash,
        "schedule": query.schedule,
        "api_key": query.api_key,
        "is_archived": query.is_archived,
        "is_draft": query.is_draft,
        "created_at": query.created_at,
        "updated_at": query.updated_at,
        "data_source_id": query.data_source_id,
        "latest_query_data_id": query.latest_query_data_id,
        "options": options_with_parameters(&query.options),
        "version": query.version,
        "tags": query.tags,
        "is_safe": query_is_safe(query),
        "user": extras.user.map_or_else(|| missing_user(query.user_id), user_json),
        "last_modified_by": extras.last_modified_by.map(user_json),
        "is_favorite": extras.is_favorite,
        "can_edit": extras.can_edit,
    });
    if let Some(vis) = extras.visualizations {
        v["visualizations"] =
            Value::Array(vis.iter().map(|vz| visualization_json(vz, None)).collect());
    }
    v
}

/// Redash always sends `options.parameters`, an empty list when there are none.
fn options_with_parameters(options: &Value) -> Value {
    let mut o = if options.is_object() {
        options.clone()
    } else {
        json!({})
    };
    if o.get("parameters").is_none() {
        o["parameters"] = json!([]);
    }
    o
}

/// A visualization; `query` embeds the query it shows (as in widgets) when given.
pub fn visualization_json(vis: &Visualization, query: Option<Value>) -> Value {
    let mut v = json!({
        "id": vis.id,
        "type": vis.kind,
        "name": vis.name,
        "description": vis.description.clone().unwrap_or_default(),
        "options": vis.options,
        "created_at": vis.created_at,
        "updated_at": vis.updated_at,
        "query_id": vis.query_id,
    });
    if let Some(q) = query {
        v["query"] = q;
    }
    v
}

/// A widget; `visualization` embeds its visualization (with its query) when it has one.
pub fn widget_json(widget: &Widget, visualization: Option<Value>) -> Value {
    let mut v = json!({
        "id": widget.id,
        "dashboard_id": widget.dashboard_id,
        "text": widget.text,
        "width": widget.width,
        "options": widget.options,
        "created_at": widget.created_at,
        "updated_at": widget.updated_at,
    });
    if let Some(vis) = visualization {
        v["visualization"] = vis;
    }
    v
}

/// Per-caller extras of a dashboard.
#[derive(Debug, Default)]
pub struct DashboardExtras<'a> {
    /// The owner, when loaded.
    pub user: Option<&'a User>,
    /// The widgets in Redash's shape, for single-dashboard responses.
    pub widgets: Option<Vec<Value>>,
    /// Whether the caller starred it.
    pub is_favorite: bool,
    /// Whether the caller may edit it.
    pub can_edit: bool,
    /// The public share link and its key, when shared.
    pub share: Option<(String, String)>,
}

/// A dashboard in Redash's shape.
pub fn dashboard_json(d: &Dashboard, extras: DashboardExtras<'_>) -> Value {
    let mut v = json!({
        "id": d.id,
        "slug": d.slug,
        "name": d.name,
        "user_id": d.user_id,
        "user": extras.user.map_or_else(|| missing_user(d.user_id), user_json),
        "layout": d.layout,
        "options": d.options,
        "dashboard_filters_enabled": d.dashboard_filters_enabled,
        "is_archived": d.is_archived,
        "is_draft": d.is_draft,
        "tags": d.tags,
        "version": d.version,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "is_favorite": extras.is_favorite,
        "can_edit": extras.can_edit,
    });
    if let Some(w) = extras.widgets {
        v["widgets"] = Value::Array(w);
    }
    if let Some((url, key)) = extras.share {
        v["public_url"] = json!(url);
        v["api_key"] = json!(key);
    }
    v
}

/// The short form of a data source in `GET /api/data_sources`.
pub fn data_source_summary(ds: &DataSource, syntax: &str) -> Value {
    json!({
        "id": ds.id,
        "name": ds.name,
        "type": ds.kind,
        "syntax": syntax,
        "paused": ds.paused,
        "pause_reason": ds.pause_reason,
        "view_only": false,
        "queue_name": ds.queue_name,
        "scheduled_queue_name": ds.scheduled_queue_name,
    })
}

/// The mask Redash sends in place of secret option values.
pub const SECRET_MASK: &str = "--------";

/// A data source with its options, secrets masked (`secret` lists the option names the type's
/// JSON Schema marks secret).
pub fn data_source_json(ds: &DataSource, syntax: &str, secret: &[String]) -> Value {
    let mut v = data_source_summary(ds, syntax);
    v["options"] = mask_secrets(&ds.options, secret);
    v
}

/// `options` with every secret field that has a value replaced by [`SECRET_MASK`].
pub fn mask_secrets(options: &Value, secret: &[String]) -> Value {
    let mut o = options.clone();
    if let Some(map) = o.as_object_mut() {
        for key in secret {
            if let Some(v) = map.get_mut(key)
                && !v.is_null()
                && v.as_str() != Some("")
            {
                *v = json!(SECRET_MASK);
            }
        }
    }
    o
}

/// New options from a client, with every masked secret put back from `stored`: sending the mask
/// back keeps the stored value, as in Redash.
pub fn unmask_secrets(new: &Value, stored: &Value, secret: &[String]) -> Value {
    let mut o = new.clone();
    if let Some(map) = o.as_object_mut() {
        for key in secret {
            if map.get(key).and_then(Value::as_str) == Some(SECRET_MASK) {
                match stored.get(key) {
                    Some(old) => {
                        map.insert(key.clone(), old.clone());
                    }
                    None => {
                        map.remove(key);
                    }
                }
            }
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_mask_keeps_the_stored_value() {
        let secret = vec!["password".to_string()];
        let stored = json!({"host": "db", "password": "s3cret"});
        let masked = mask_secrets(&stored, &secret);
        assert_eq!(masked, json!({"host": "db", "password": SECRET_MASK}));
        let back = unmask_secrets(
            &json!({"host": "db2", "password": SECRET_MASK}),
            &stored,
            &secret,
        );
        assert_eq!(back, json!({"host": "db2", "password": "s3cret"}));
        let changed = unmask_secrets(&json!({"host": "db", "password": "new"}), &stored, &secret);
        assert_eq!(changed["password"], "new");
        assert_eq!(
            mask_secrets(&json!({"password": ""}), &secret),
            json!({"password": ""})
        );
    }
}
