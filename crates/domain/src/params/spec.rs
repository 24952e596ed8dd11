//! Parameter definitions: a query's `options.parameters[]`, parsed and checked once.

use serde_json::{Map, Value};

use super::ParamError;

/// The type of a parameter, as Redash names it in `options.parameters[].type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamType {
    /// Free text (`text`). Makes a query unsafe.
    Text,
    /// Free text that must fully match a regular expression (`text-pattern`). Makes a query
    /// unsafe.
    TextPattern,
    /// A number (`number`).
    Number,
    /// One (or, with multi-values, several) of the options the query's author listed (`enum`).
    Enum,
    /// One or several values taken from another query's result (`query`). Which values are
    /// allowed is only known to the caller, which must check them (see
    /// [`check_query_values`](super::check_query_values)).
    Query,
    /// A date, `YYYY-MM-DD` (`date`).
    Date,
    /// A date and time to the minute, `YYYY-MM-DD HH:MM` (`datetime-local`).
    DatetimeLocal,
    /// A date and time to the second, `YYYY-MM-DD HH:MM:SS` (`datetime-with-seconds`).
    DatetimeWithSeconds,
    /// A range of dates: `{{ name.start }}`, `{{ name.end }}` (`date-range`).
    DateRange,
    /// A range of minutes (`datetime-range`).
    DatetimeRange,
    /// A range of seconds (`datetime-range-with-seconds`).
    DatetimeRangeWithSeconds,
}

impl ParamType {
    /// Parses Redash's type name.
    pub fn from_name(name: &str) -> Option<ParamType> {
        Some(match name {
            "text" => ParamType::Text,
            "text-pattern" => ParamType::TextPattern,
            "number" => ParamType::Number,
            "enum" => ParamType::Enum,
            "query" => ParamType::Query,
            "date" => ParamType::Date,
            "datetime-local" => ParamType::DatetimeLocal,
            "datetime-with-seconds" => ParamType::DatetimeWithSeconds,
            "date-range" => ParamType::DateRange,
            "datetime-range" => ParamType::DatetimeRange,
            "datetime-range-with-seconds" => ParamType::DatetimeRangeWithSeconds,
            _ => return None,
        })
    }

    /// Redash's type name.
    pub fn name(self) -> &'static str {
        match self {
            ParamType::Text => "text",
            ParamType::TextPattern => "text-pattern",
            ParamType::Number => "number",
            ParamType::Enum => "enum",
            ParamType::Query => "query",
            ParamType::Date => "date",
            ParamType::DatetimeLocal => "datetime-local",
            ParamType::DatetimeWithSeconds => "datetime-with-seconds",
            ParamType::DateRange => "date-range",
            ParamType::DatetimeRange => "datetime-range",
            ParamType::DatetimeRangeWithSeconds => "datetime-range-with-seconds",
        }
    }

    /// Whether values are free text, which is what makes a query unsafe in Redash.
    pub fn is_free_text(self) -> bool {
        matches!(self, ParamType::Text | ParamType::TextPattern)
    }

    /// Whether the value is a `{start, end}` range.
    pub fn is_range(self) -> bool {
        matches!(
            self,
            ParamType::DateRange | ParamType::DatetimeRange | ParamType::DatetimeRangeWithSeconds
        )
    }

    /// The `chrono` format of a date or date-time value of this type, if it is one.
    pub(crate) fn date_format(self) -> Option<&'static str> {
        match self {
            ParamType::Date | ParamType::DateRange => Some("%Y-%m-%d"),
            ParamType::DatetimeLocal | ParamType::DatetimeRange => Some("%Y-%m-%d %H:%M"),
            ParamType::DatetimeWithSeconds | ParamType::DatetimeRangeWithSeconds => {
                Some("%Y-%m-%d %H:%M:%S")
            }
            _ => None,
        }
    }
}

/// How several selected values are joined (`multiValuesOptions`): each value is wrapped in
/// `prefix`/`suffix` and the results are joined with `separator`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultiValues {
    /// Put before each value; usually `'`, `"` or empty.
    pub prefix: String,
    /// Put after each value; usually the same as `prefix`.
    pub suffix: String,
    /// Between values; `,` by default.
    pub separator: String,
}

impl Default for MultiValues {
    fn default() -> Self {
        MultiValues {
            prefix: String::new(),
            suffix: String::new(),
            separator: ",".to_owned(),
        }
    }
}

/// One parameter definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ParameterSpec {
    /// The name used in `{{ name }}`.
    pub name: String,
    /// The label shown to users.
    pub title: Option<String>,
    /// The type.
    pub kind: ParamType,
    /// The default value (`value`), used by scheduled runs; see
    /// [`default_values`](super::default_values).
    pub default: Option<Value>,
    /// Allowed values of an `enum` (`enumOptions`, newline-separated in Redash).
    pub enum_options: Vec<String>,
    /// Set when several values may be selected.
    pub multi_values: Option<MultiValues>,
    /// The query whose result lists the allowed values of a `query` parameter.
    pub query_id: Option<i64>,
    /// The pattern a `text-pattern` value must fully match (`regex`).
    pub regex: Option<String>,
    /// With no value given, a date parameter takes the current date (`useCurrentDateTime`).
    pub use_current_date_time: bool,
}

impl ParameterSpec {
    /// A definition with only a name and a type, as a starting point in code and tests.
    pub fn new(name: impl Into<String>, kind: ParamType) -> Self {
        ParameterSpec {
            name: name.into(),
            title: None,
            kind,
            default: None,
            enum_options: Vec::new(),
            multi_values: None,
            query_id: None,
            regex: None,
            use_current_date_time: false,
        }
    }

    /// Parses `options.parameters` (a JSON array; `null` means none). Unknown fields are
    /// ignored, as Redash's UI stores extra ones (`locals`, `global`, `parentQueryId` ...).
    ///
    /// # Errors
    ///
    /// [`ParamError::InvalidDefinition`] when the list or an entry is malformed, a type is
    /// unknown, or a name repeats.
    pub fn parse_list(parameters: &Value) -> Result<Vec<ParameterSpec>, ParamError> {
        let entries = match parameters {
            Value::Null => return Ok(Vec::new()),
            Value::Array(entries) => entries,
            _ => return Err(invalid("parameters must be a list")),
        };
        let mut specs: Vec<ParameterSpec> = Vec::with_capacity(entries.len());
        for (index, entry) in entries.iter().enumerate() {
            let spec = ParameterSpec::parse_one(entry, index)?;
            if specs.iter().any(|s| s.name == spec.name) {
                return Err(invalid(format!(
                    "parameter '{}' is defined twice",
                    spec.name
                )));
            }
            specs.push(spec);
        }
        Ok(specs)
    }

    /// Parses the `parameters` list inside a query's `options` object.
    ///
    /// # Errors
    ///
    /// As [`ParameterSpec::parse_list`].
    pub fn parse_options(options: &Value) -> Result<Vec<ParameterSpec>, ParamError> {
        match options {
            Value::Null => Ok(Vec::new()),
            Value::Object(map) => {
                ParameterSpec::parse_list(map.get("parameters").unwrap_or(&Value::Null))
            }
            _ => Err(invalid("options must be an object")),
        }
    }

    fn parse_one(entry: &Value, index: usize) -> Result<ParameterSpec, ParamError> {
        let object = entry
            .as_object()
            .ok_or_else(|| invalid(format!("parameter #{} must be an object", index + 1)))?;
        let name = match object.get("name") {
            Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_owned(),
            _ => return Err(invalid(format!("parameter #{} has no name", index + 1))),
        };
        let type_name = object
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(format!("parameter '{name}' has no type")))?;
        let kind = ParamType::from_name(type_name)
            .ok_or_else(|| invalid(format!("parameter '{name}' has unknown type '{type_name}'")))?;
        let regex = optional_str(object, "regex", &name)?;
        if let Some(pattern) = &regex {
            regex::Regex::new(pattern).map_err(|_| {
                invalid(format!(
                    "parameter '{name}' has an invalid regex '{pattern}'"
                ))
            })?;
        }
        Ok(ParameterSpec {
            title: optional_str(object, "title", &name)?,
            default: object.get("value").filter(|v| !v.is_null()).cloned(),
            enum_options: enum_options(object.get("enumOptions"), &name)?,
            multi_values: multi_values(object.get("multiValuesOptions"), &name)?,
            query_id: query_id(object.get("queryId"), &name)?,
            regex,
            use_current_date_time: object
                .get("useCurrentDateTime")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            kind,
            name,
        })
    }
}

fn invalid(message: impl Into<String>) -> ParamError {
    ParamError::InvalidDefinition(message.into())
}

fn optional_str(
    object: &Map<String, Value>,
    field: &str,
    name: &str,
) -> Result<Option<String>, ParamError> {
    match object.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(invalid(format!(
            "parameter '{name}': {field} must be a string"
        ))),
    }
}

fn enum_options(value: Option<&Value>, name: &str) -> Result<Vec<String>, ParamError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(text)) => Ok(text.split('\n').map(str::to_owned).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(invalid(format!(
                    "parameter '{name}': enumOptions must be strings"
                ))),
            })
            .collect(),
        Some(_) => Err(invalid(format!(
            "parameter '{name}': enumOptions must be a newline-separated string or a list"
        ))),
    }
}

fn multi_values(value: Option<&Value>, name: &str) -> Result<Option<MultiValues>, ParamError> {
    let object = match value {
        Some(Value::Object(object)) => object,
        // Redash enables multiple values only when the options are an object.
        _ => return Ok(None),
    };
    let mut options = MultiValues::default();
    for (field, slot) in [
        ("prefix", &mut options.prefix),
        ("suffix", &mut options.suffix),
        ("separator", &mut options.separator),
    ] {
        match object.get(field) {
            None | Some(Value::Null) => {}
            Some(Value::String(s)) => *slot = s.clone(),
            Some(_) => {
                return Err(invalid(format!(
                    "parameter '{name}': multiValuesOptions.{field} must be a string"
                )));
            }
        }
    }
    Ok(Some(options))
}

fn query_id(value: Option<&Value>, name: &str) -> Result<Option<i64>, ParamError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(_) => Err(invalid(format!(
            "parameter '{name}': queryId must be a query id"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_every_redash_type() {
        for name in [
            "text",
            "text-pattern",
            "number",
            "enum",
            "query",
            "date",
            "datetime-local",
            "datetime-with-seconds",
            "date-range",
            "datetime-range",
            "datetime-range-with-seconds",
        ] {
            let kind = ParamType::from_name(name).expect(name);
            assert_eq!(kind.name(), name);
        }
        assert_eq!(ParamType::from_name("Text"), None);
    }

    #[test]
    fn parses_a_redash_parameter_list() {
        let list = json!([
            {"name": "country", "title": "Country", "type": "enum", "value": "FR",
             "enumOptions": "FR\nDE\nIT", "locals": [], "global": false},
            {"name": "ids", "type": "query", "queryId": 12,
             "multiValuesOptions": {"prefix": "'", "suffix": "'", "separator": ","}},
            {"name": "since", "type": "date", "value": "d_yesterday", "useCurrentDateTime": true},
            {"name": "code", "type": "text-pattern", "regex": "[A-Z]{3}"}
        ]);
        let specs = ParameterSpec::parse_list(&list).unwrap();
        assert_eq!(specs.len(), 4);
        assert_eq!(specs[0].kind, ParamType::Enum);
        assert_eq!(specs[0].title.as_deref(), Some("Country"));
        assert_eq!(specs[0].enum_options, ["FR", "DE", "IT"]);
        assert_eq!(specs[0].default, Some(json!("FR")));
        assert!(specs[0].multi_values.is_none());
        assert_eq!(specs[1].query_id, Some(12));
        assert_eq!(
            specs[1].multi_values,
            Some(MultiValues {
                prefix: "'".into(),
                suffix: "'".into(),
                separator: ",".into()
            })
        );
        assert!(specs[2].use_current_date_time);
        assert_eq!(specs[3].regex.as_deref(), Some("[A-Z]{3}"));
    }

    #[test]
    fn options_object_and_null_parse() {
        let options =
            json!({"parameters": [{"name": "n", "type": "number"}], "apply_auto_limit": true});
        assert_eq!(ParameterSpec::parse_options(&options).unwrap().len(), 1);
        assert!(ParameterSpec::parse_options(&json!({})).unwrap().is_empty());
        assert!(ParameterSpec::parse_list(&Value::Null).unwrap().is_empty());
    }

    #[test]
    fn multi_values_default_to_comma_without_quotes() {
        let list =
            json!([{"name": "e", "type": "enum", "enumOptions": ["a"], "multiValuesOptions": {}}]);
        let specs = ParameterSpec::parse_list(&list).unwrap();
        assert_eq!(specs[0].multi_values, Some(MultiValues::default()));
    }

    #[test]
    fn bad_definitions_are_rejected_with_the_reason() {
        let cases = [
            (
                json!({"name": "x"}),
                "invalid parameter definitions: parameters must be a list",
            ),
            (
                json!([5]),
                "invalid parameter definitions: parameter #1 must be an object",
            ),
            (
                json!([{"type": "text"}]),
                "invalid parameter definitions: parameter #1 has no name",
            ),
            (
                json!([{"name": "x"}]),
                "invalid parameter definitions: parameter 'x' has no type",
            ),
            (
                json!([{"name": "x", "type": "blob"}]),
                "invalid parameter definitions: parameter 'x' has unknown type 'blob'",
            ),
            (
                json!([{"name": "x", "type": "text"}, {"name": "x", "type": "number"}]),
                "invalid parameter definitions: parameter 'x' is defined twice",
            ),
            (
                json!([{"name": "x", "type": "enum", "enumOptions": 3}]),
                "invalid parameter definitions: parameter 'x': enumOptions must be a newline-separated string or a list",
            ),
            (
                json!([{"name": "x", "type": "text-pattern", "regex": "("}]),
                "invalid parameter definitions: parameter 'x' has an invalid regex '('",
            ),
            (
                json!([{"name": "x", "type": "query", "queryId": "abc"}]),
                "invalid parameter definitions: parameter 'x': queryId must be a query id",
            ),
        ];
        for (list, message) in cases {
            let err = ParameterSpec::parse_list(&list).unwrap_err();
            assert_eq!(err.to_string(), message, "{list}");
        }
    }
}
