//! Checking parameter values against their definitions and reducing them to a few safe forms.
//!
//! After this step every value is one of the [`Scalar`] kinds, and the kind records how much
//! the value can be trusted: numbers and dates are re-spelled from a strict grammar, enum
//! values are one of the author's own options, and everything else is free text that the
//! renderer must quote or escape.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::Value;

use super::spec::{MultiValues, ParamType, ParameterSpec};
use super::{ParamError, dynamic};

/// One value, by how it may be written into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scalar {
    /// A decimal number matching `-?(digits[.digits]|.digits)([eE][+-]?digits)?`.
    Number(String),
    /// A date or date-time in the canonical format of its type.
    Date(String),
    /// One of the enum options the query's author wrote: inserted as written, like Redash.
    Trusted(String),
    /// Anything else: free text from whoever runs the query.
    Text(String),
}

impl Scalar {
    /// The value's text.
    pub(crate) fn text(&self) -> &str {
        match self {
            Scalar::Number(s) | Scalar::Date(s) | Scalar::Trusted(s) | Scalar::Text(s) => s,
        }
    }
}

/// A checked value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Resolved {
    /// A single value.
    One(Scalar),
    /// Several selected values, joined as `multi` says.
    Many(Vec<Scalar>, MultiValues),
    /// A `{start, end}` range, used as `{{ name.start }}` and `{{ name.end }}`.
    Range { start: Scalar, end: Scalar },
}

/// Checks `value` for the parameter `name` defined by `spec` (`None` when the query text uses a
/// name that has no definition: its value is free text, or a number, or a range of those).
/// `Value::Null` must have been turned into "missing" by the caller.
pub(crate) fn resolve(
    name: &str,
    spec: Option<&ParameterSpec>,
    value: &Value,
    now: DateTime<Utc>,
) -> Result<Resolved, ParamError> {
    let invalid = |reason: String| ParamError::Invalid {
        name: name.to_owned(),
        reason,
    };
    let Some(spec) = spec else {
        return undeclared(value)
            .ok_or_else(|| invalid("expected text, a number or a list of them".into()));
    };
    match spec.kind {
        ParamType::Text => match value {
            Value::String(s) => Ok(Resolved::One(Scalar::Text(s.clone()))),
            _ => Err(invalid("expected text".into())),
        },
        ParamType::TextPattern => {
            let Value::String(s) = value else {
                return Err(invalid("expected text".into()));
            };
            let pattern = spec.regex.as_deref().unwrap_or("");
            let anchored = format!("^(?:{pattern})$");
            match regex::Regex::new(&anchored) {
                Ok(re) if re.is_match(s) => Ok(Resolved::One(Scalar::Text(s.clone()))),
                _ => Err(invalid(format!(
                    "'{s}' does not match the pattern '{pattern}'"
                ))),
            }
        }
        ParamType::Number => number(value)
            .map(|n| Resolved::One(Scalar::Number(n)))
            .ok_or_else(|| invalid(format!("{} is not a number", short(value)))),
        ParamType::Enum => choices(spec, value, |text| {
            if spec.enum_options.iter().any(|o| o == text) {
                Ok(Scalar::Trusted(text.to_owned()))
            } else {
                Err(format!("'{text}' is not one of its options"))
            }
        })
        .map_err(invalid),
        ParamType::Query => choices(spec, value, |text| Ok(untrusted(text))).map_err(invalid),
        ParamType::Date | ParamType::DatetimeLocal | ParamType::DatetimeWithSeconds => {
            let format = spec.kind.date_format().unwrap_or("%Y-%m-%d");
            date(value, now)
                .map(|d| Resolved::One(Scalar::Date(d.format(format).to_string())))
                .ok_or_else(|| invalid(format!("{} is not a date", short(value))))
        }
        ParamType::DateRange | ParamType::DatetimeRange | ParamType::DatetimeRangeWithSeconds => {
            let format = spec.kind.date_format().unwrap_or("%Y-%m-%d");
            let (start, end) = date_range(value, now).ok_or_else(|| {
                invalid(format!(
                    "{} is not a date range ({{\"start\", \"end\"}} or a d_ value)",
                    short(value)
                ))
            })?;
            Ok(Resolved::Range {
                start: Scalar::Date(start.format(format).to_string()),
                end: Scalar::Date(end.format(format).to_string()),
            })
        }
    }
}

/// Checks the value of a `query` parameter against the values its source query returned.
///
/// # Errors
///
/// [`ParamError::Invalid`] naming the first value that is not allowed, or a wrong shape.
pub fn check_query_values(
    spec: &ParameterSpec,
    value: &Value,
    allowed: &[String],
) -> Result<(), ParamError> {
    choices(spec, value, |text| {
        if allowed.iter().any(|a| a == text) {
            Ok(untrusted(text))
        } else {
            Err(format!("'{text}' is not one of the query's values"))
        }
    })
    .map(|_| ())
    .map_err(|reason| ParamError::Invalid {
        name: spec.name.clone(),
        reason,
    })
}

/// A single value or, when the definition allows it, a non-empty list; each item checked by
/// `item`.
fn choices(
    spec: &ParameterSpec,
    value: &Value,
    item: impl Fn(&str) -> Result<Scalar, String>,
) -> Result<Resolved, String> {
    match value {
        Value::Array(items) => {
            let Some(multi) = &spec.multi_values else {
                return Err("expected a single value, not a list".into());
            };
            if items.is_empty() {
                return Err("expected at least one value".into());
            }
            let scalars = items
                .iter()
                .map(|v| scalar_text(v).ok_or("list items must be text or numbers".to_owned()))
                .map(|text| text.and_then(|t| item(&t)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Resolved::Many(scalars, multi.clone()))
        }
        other => {
            let text = scalar_text(other).ok_or("expected text or a number")?;
            item(&text).map(Resolved::One)
        }
    }
}

/// Free text that is a plain number becomes a number (Redash inserts it bare, and so can
/// Cairn, safely, because of the grammar); anything else stays text.
fn untrusted(text: &str) -> Scalar {
    match canonical_number(text) {
        Some(n) => Scalar::Number(n),
        None => Scalar::Text(text.to_owned()),
    }
}

fn undeclared(value: &Value) -> Option<Resolved> {
    match value {
        Value::String(s) => Some(Resolved::One(untrusted(s))),
        Value::Number(_) => number(value).map(|n| Resolved::One(Scalar::Number(n))),
        Value::Array(items) => {
            let scalars = items
                .iter()
                .map(|v| scalar_text(v).map(|t| untrusted(&t)))
                .collect::<Option<Vec<_>>>()?;
            (!scalars.is_empty()).then(|| Resolved::Many(scalars, MultiValues::default()))
        }
        Value::Object(map) => {
            let field = |key: &str| map.get(key).and_then(scalar_text).map(|t| untrusted(&t));
            Some(Resolved::Range {
                start: field("start")?,
                end: field("end")?,
            })
        }
        _ => None,
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => canonical_number(&n.to_string()),
        Value::String(s) => canonical_number(s),
        _ => None,
    }
}

/// The number in `text` spelled as SQL accepts it, if `text` is a finite decimal number.
pub(crate) fn canonical_number(text: &str) -> Option<String> {
    let trimmed = text.trim();
    let unsigned = trimmed.strip_prefix(['+', '-']).unwrap_or(trimmed);
    let negative = trimmed.starts_with('-');
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => (&unsigned[..at], Some(&unsigned[at + 1..])),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    (mantissa_ok && exponent_ok).then(|| {
        let sign = if negative { "-" } else { "" };
        format!("{sign}{unsigned}")
    })
}

fn date(value: &Value, now: DateTime<Utc>) -> Option<NaiveDateTime> {
    let Value::String(text) = value else {
        return None;
    };
    dynamic::date(text, now.naive_utc()).or_else(|| parse_date_time(text))
}

fn date_range(value: &Value, now: DateTime<Utc>) -> Option<(NaiveDateTime, NaiveDateTime)> {
    match value {
        Value::String(key) => dynamic::range(key, now.naive_utc()),
        Value::Object(map) => {
            let field = |key: &str| {
                map.get(key)
                    .and_then(Value::as_str)
                    .and_then(parse_date_time)
            };
            Some((field("start")?, field("end")?))
        }
        _ => None,
    }
}

/// Parses the spellings clients send: `YYYY-MM-DD`, optionally followed by ` ` or `T` and
/// `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff`, optionally ending in `Z`; or RFC 3339 with an offset,
/// converted to UTC.
fn parse_date_time(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(with_offset) = DateTime::parse_from_rfc3339(text) {
        return Some(with_offset.naive_utc());
    }
    let text = text.strip_suffix('Z').unwrap_or(text);
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return day.and_hms_opt(0, 0, 0);
    }
    [
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
    ]
    .iter()
    .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
}

/// A value for an error message, cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    match text.char_indices().nth(40) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 13, 15, 4, 5).unwrap()
    }

    fn one(spec: &ParameterSpec, value: Value) -> Result<Resolved, ParamError> {
        resolve(&spec.name, Some(spec), &value, now())
    }

    #[test]
    fn numbers_are_canonical_or_rejected() {
        let ok = [
            ("5", "5"),
            (" 42 ", "42"),
            ("+7", "7"),
            ("-3.25", "-3.25"),
            (".5", ".5"),
            ("5.", "5."),
            ("1e10", "1e10"),
            ("2.5E-3", "2.5E-3"),
            ("12345678901234567890123", "12345678901234567890123"),
        ];
        for (input, expected) in ok {
            assert_eq!(
                canonical_number(input).as_deref(),
                Some(expected),
                "{input}"
            );
        }
        for bad in [
            "", ".", "-", "1e", "e5", "nan", "inf", "1_000", "0x10", "1 2", "1;", "--1", "1e5.5",
        ] {
            assert_eq!(canonical_number(bad), None, "{bad}");
        }
    }

    #[test]
    fn number_parameter_accepts_json_numbers_and_numeric_text() {
        let spec = ParameterSpec::new("n", ParamType::Number);
        assert_eq!(
            one(&spec, json!(3)).unwrap(),
            Resolved::One(Scalar::Number("3".into()))
        );
        assert_eq!(
            one(&spec, json!(2.5)).unwrap(),
            Resolved::One(Scalar::Number("2.5".into()))
        );
        assert_eq!(
            one(&spec, json!("-1")).unwrap(),
            Resolved::One(Scalar::Number("-1".into()))
        );
        let err = one(&spec, json!("1 OR 1=1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter 'n' is invalid: \"1 OR 1=1\" is not a number"
        );
    }

    #[test]
    fn text_must_be_a_string() {
        let spec = ParameterSpec::new("t", ParamType::Text);
        assert_eq!(
            one(&spec, json!("x")).unwrap(),
            Resolved::One(Scalar::Text("x".into()))
        );
        assert!(one(&spec, json!(5)).is_err());
    }

    #[test]
    fn text_pattern_must_match_fully() {
        let mut spec = ParameterSpec::new("code", ParamType::TextPattern);
        spec.regex = Some("[A-Z]{3}".into());
        assert!(one(&spec, json!("ABC")).is_ok());
        assert!(one(&spec, json!("ABCD")).is_err());
        assert!(one(&spec, json!("xABC")).is_err());
    }

    #[test]
    fn enum_values_must_be_options() {
        let mut spec = ParameterSpec::new("c", ParamType::Enum);
        spec.enum_options = vec!["FR".into(), "DE".into(), "10".into()];
        assert_eq!(
            one(&spec, json!("FR")).unwrap(),
            Resolved::One(Scalar::Trusted("FR".into()))
        );
        assert_eq!(
            one(&spec, json!(10)).unwrap(),
            Resolved::One(Scalar::Trusted("10".into()))
        );
        let err = one(&spec, json!("FR' OR '1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter 'c' is invalid: 'FR' OR '1' is not one of its options"
        );
        assert!(
            one(&spec, json!(["FR"])).is_err(),
            "lists need multiValuesOptions"
        );
        spec.multi_values = Some(MultiValues::default());
        assert_eq!(
            one(&spec, json!(["FR", "DE"])).unwrap(),
            Resolved::Many(
                vec![Scalar::Trusted("FR".into()), Scalar::Trusted("DE".into())],
                MultiValues::default()
            )
        );
        assert!(one(&spec, json!([])).is_err());
        assert!(one(&spec, json!(["FR", "XX"])).is_err());
    }

    #[test]
    fn query_values_are_untrusted_but_numbers_stay_numbers() {
        let spec = ParameterSpec::new("q", ParamType::Query);
        assert_eq!(
            one(&spec, json!("7")).unwrap(),
            Resolved::One(Scalar::Number("7".into()))
        );
        assert_eq!(
            one(&spec, json!("x'y")).unwrap(),
            Resolved::One(Scalar::Text("x'y".into()))
        );
    }

    #[test]
    fn check_query_values_uses_the_callers_list() {
        let mut spec = ParameterSpec::new("q", ParamType::Query);
        let allowed = vec!["1".to_owned(), "2".to_owned()];
        assert!(check_query_values(&spec, &json!("1"), &allowed).is_ok());
        assert!(check_query_values(&spec, &json!(2), &allowed).is_ok());
        assert!(check_query_values(&spec, &json!("3"), &allowed).is_err());
        assert!(check_query_values(&spec, &json!(["1"]), &allowed).is_err());
        spec.multi_values = Some(MultiValues::default());
        assert!(check_query_values(&spec, &json!(["1", "2"]), &allowed).is_ok());
        assert!(check_query_values(&spec, &json!(["1", "9"]), &allowed).is_err());
    }

    #[test]
    fn dates_are_respelled_in_the_type_format() {
        let cases = [
            (ParamType::Date, "2024-01-05", "2024-01-05"),
            (ParamType::Date, "2024-01-05 10:30", "2024-01-05"),
            (
                ParamType::DatetimeLocal,
                "2024-01-05 10:30",
                "2024-01-05 10:30",
            ),
            (
                ParamType::DatetimeLocal,
                "2024-01-05T10:30:59Z",
                "2024-01-05 10:30",
            ),
            (
                ParamType::DatetimeWithSeconds,
                "2024-01-05",
                "2024-01-05 00:00:00",
            ),
            (
                ParamType::DatetimeWithSeconds,
                "2024-01-05T12:00:00+02:00",
                "2024-01-05 10:00:00",
            ),
            (
                ParamType::DatetimeWithSeconds,
                "2024-01-05 10:30:15.250",
                "2024-01-05 10:30:15",
            ),
            (ParamType::Date, "d_now", "2024-03-13"),
            (ParamType::DatetimeLocal, "d_yesterday", "2024-03-12 15:04"),
        ];
        for (kind, input, expected) in cases {
            let spec = ParameterSpec::new("d", kind);
            assert_eq!(
                one(&spec, json!(input)).unwrap(),
                Resolved::One(Scalar::Date(expected.into())),
                "{kind:?} {input}"
            );
        }
        for bad in [
            json!("2024-13-01"),
            json!("yesterday"),
            json!("2024-01-05'--"),
            json!(20240105),
        ] {
            assert!(
                one(&ParameterSpec::new("d", ParamType::Date), bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn ranges_take_objects_and_dynamic_values() {
        let spec = ParameterSpec::new("r", ParamType::DatetimeRange);
        assert_eq!(
            one(
                &spec,
                json!({"start": "2024-01-01", "end": "2024-01-31 23:59"})
            )
            .unwrap(),
            Resolved::Range {
                start: Scalar::Date("2024-01-01 00:00".into()),
                end: Scalar::Date("2024-01-31 23:59".into())
            }
        );
        assert_eq!(
            one(
                &ParameterSpec::new("r", ParamType::DateRange),
                json!("d_last_7_days")
            )
            .unwrap(),
            Resolved::Range {
                start: Scalar::Date("2024-03-06".into()),
                end: Scalar::Date("2024-03-13".into())
            }
        );
        assert!(one(&spec, json!({"start": "2024-01-01"})).is_err());
        assert!(one(&spec, json!("d_now")).is_err());
        assert!(one(&spec, json!("2024-01-01")).is_err());
    }

    #[test]
    fn undeclared_values_are_untrusted() {
        let got = resolve("u", None, &json!("a'b"), now()).unwrap();
        assert_eq!(got, Resolved::One(Scalar::Text("a'b".into())));
        let got = resolve("u", None, &json!(5), now()).unwrap();
        assert_eq!(got, Resolved::One(Scalar::Number("5".into())));
        let got = resolve("u", None, &json!({"start": "x", "end": 2}), now()).unwrap();
        assert_eq!(
            got,
            Resolved::Range {
                start: Scalar::Text("x".into()),
                end: Scalar::Number("2".into())
            }
        );
        assert!(resolve("u", None, &json!(true), now()).is_err());
    }
}
