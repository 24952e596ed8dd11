//! Typed `{{ name }}` query parameters, rendered so that no value can inject SQL.
//!
//! Redash substitutes parameter values into the query text verbatim, which is why it calls a
//! query with a `text` parameter "unsafe" and keeps view-only users away from it. Cairn keeps
//! Redash's syntax, types and the `is_safe` rule, so existing queries and clients work
//! unchanged, but renders every value according to where it lands in the SQL:
//!
//! | placeholder position | text, query values, dates | numbers | enum options |
//! |---|---|---|---|
//! | in code: `x = {{ p }}` | a complete quoted literal | the number (negatives in parentheses) | as the author wrote them |
//! | in a literal: `'{{ p }}'` | escaped for that literal | as is | escaped |
//! | in a quoted identifier: `"{{ p }}"` | escaped for that identifier | as is | escaped |
//! | in a comment | refused if it contains the comment's end | as is | refused likewise |
//!
//! Enum options are the one thing inserted unquoted, because the caller can only pick one of
//! the strings the query's author wrote: this keeps queries such as `ORDER BY {{ column }}
//! {{ direction }}` working, and is why the definitions passed to [`render`] must be the
//! stored query's, never the caller's.
//!
//! Where the SQL is depends on the dialect (see [`Dialect`] and the table in
//! `params/lexer.rs`): quote characters, backslash escapes, dollar quotes and comment syntax all
//! differ. After rendering, the result is checked against a rendering without any free text;
//! if the structure outside literals differs, rendering fails (see `params/render.rs`).
//!
//! # Layout
//! - `spec`: the definitions in `options.parameters[]` ([`ParameterSpec`]).
//! - `template`: finding placeholders.
//! - `value`: checking values against definitions; `dynamic`: `d_now`, `d_last_7_days` ...
//! - `lexer`: the SQL lexer; `escape`: writing a value into one lexical context.
//! - `render`: putting it together.
//!
//! # Examples
//!
//! ```
//! use cairn_domain::params::{render, Dialect, ParameterSpec};
//! use chrono::Utc;
//! use serde_json::json;
//!
//! let specs = ParameterSpec::parse_list(&json!([
//!     {"name": "name", "type": "text"},
//!     {"name": "limit", "type": "number"},
//! ]))?;
//! let values = json!({"name": "O'Brien'; DROP TABLE users; --", "limit": 10});
//! let sql = render(
//!     "SELECT * FROM users WHERE name = '{{ name }}' OR alias = {{ name }} LIMIT {{ limit }}",
//!     &specs,
//!     values.as_object().unwrap(),
//!     Dialect::Postgres,
//!     Utc::now(),
//! )?;
//! assert_eq!(
//!     sql,
//!     "SELECT * FROM users WHERE name = 'O''Brien''; DROP TABLE users; --' \
//!      OR alias = 'O''Brien''; DROP TABLE users; --' LIMIT 10"
//! );
//! # Ok::<(), cairn_domain::params::ParamError>(())
//! ```

mod dynamic;
mod escape;
mod lexer;
mod render;
mod spec;
mod template;
mod value;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

pub use lexer::Dialect;
pub use spec::{MultiValues, ParamType, ParameterSpec};
pub use value::check_query_values;

/// Why parameters could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParamError {
    /// The `options.parameters` list is malformed.
    #[error("invalid parameter definitions: {0}")]
    InvalidDefinition(String),
    /// The text uses parameters that have no value.
    #[error("{}", missing_message(.0))]
    Missing(Vec<String>),
    /// A value does not fit its definition.
    #[error("parameter '{name}' is invalid: {reason}")]
    Invalid {
        /// The parameter.
        name: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// A value cannot be written where its placeholder is without escaping that position.
    #[error("parameter '{name}' cannot be used safely here: {reason}")]
    Unsafe {
        /// The parameter.
        name: String,
        /// Why.
        reason: String,
    },
    /// The text uses a mustache feature other than plain placeholders.
    #[error("unsupported template tag '{0}': only {{{{ name }}}} placeholders are allowed")]
    UnsupportedTag(String),
    /// The rendered query's structure differs from the one its author wrote (a value ended its
    /// literal or comment). Rendering refuses rather than return it.
    #[error("parameter values would change the structure of the query")]
    StructureChanged,
}

fn missing_message(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.as_slice() {
        [one] => format!("parameter {one} is missing"),
        _ => format!("parameters {} are missing", quoted.join(", ")),
    }
}

/// Applies `values` to the `{{ name }}` placeholders of `query_text`.
///
/// `specs` must be the definitions stored with the query (see the module docs); placeholders
/// without a definition take free text (or numbers) and are quoted. Dynamic dates (`d_now`,
/// `d_last_7_days` ...) are resolved against `now`, in UTC. Values for names the text does not
/// use are ignored.
///
/// # Errors
///
/// - [`ParamError::Missing`] listing every placeholder without a value (`null` counts as none).
/// - [`ParamError::Invalid`] for a value that does not fit its type or options.
/// - [`ParamError::Unsafe`] and [`ParamError::StructureChanged`] when a value cannot be placed
///   where its placeholder is.
/// - [`ParamError::UnsupportedTag`] for mustache sections, partials or delimiter changes.
pub fn render(
    query_text: &str,
    specs: &[ParameterSpec],
    values: &Map<String, Value>,
    dialect: Dialect,
    now: DateTime<Utc>,
) -> Result<String, ParamError> {
    render::render(query_text, specs, values, dialect, now)
}

/// The distinct parameter names `query_text` uses, in order of first use; `{{ r.start }}` and
/// `{{ r.end }}` count as `r`. Malformed or unsupported tags are skipped.
pub fn used_names(query_text: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for key in template::keys(query_text) {
        let base = key
            .strip_suffix(".start")
            .or_else(|| key.strip_suffix(".end"))
            .unwrap_or(key);
        if !names.iter().any(|n| n == base) {
            names.push(base.to_owned());
        }
    }
    names
}

/// Redash's "safe" rule: no parameter is free text (`text` or `text-pattern`). Only safe queries
/// may be run by view-only users or with the query's own API key.
pub fn is_safe(specs: &[ParameterSpec]) -> bool {
    !specs.iter().any(|spec| spec.kind.is_free_text())
}

/// [`is_safe`], and also every placeholder of `query_text` has a definition (an undefined one
/// takes any text), as current Redash checks.
pub fn is_safe_query(query_text: &str, specs: &[ParameterSpec]) -> bool {
    is_safe(specs)
        && used_names(query_text)
            .iter()
            .all(|name| specs.iter().any(|spec| &spec.name == name))
}

/// The default value of every parameter that has one, as scheduled runs use them.
pub fn default_values(specs: &[ParameterSpec]) -> Map<String, Value> {
    specs
        .iter()
        .filter_map(|spec| Some((spec.name.clone(), spec.default.clone()?)))
        .collect()
}
