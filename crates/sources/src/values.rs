//! Turning the text forms databases send into [`Value`]s, shared by the drivers.
//!
//! PostgreSQL and MySQL results are read through their text protocols (sqlx `raw_sql`), so every
//! value arrives as the database's own text rendering: exact for NUMERIC/DECIMAL, readable for
//! dates, JSON, UUIDs and types Cairn has no special case for. Each driver decides by the
//! column's type which of these helpers applies.

use cairn_domain::result::Value;

/// A NUMERIC/DECIMAL value: a float when a double holds it exactly as written (up to 15
/// significant digits, which Redash turns into a float too), otherwise the exact text.
pub(crate) fn decimal(text: &str) -> Value {
    let digits = text.trim_start_matches(['-', '+']);
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let plain = !int_part.is_empty() || !frac_part.is_empty();
    let all_digits = int_part
        .bytes()
        .chain(frac_part.bytes())
        .all(|b| b.is_ascii_digit());
    if plain && all_digits {
        let significant = format!("{int_part}{}", frac_part.trim_end_matches('0'));
        let significant = significant.trim_start_matches('0');
        if significant.len() <= 15
            && let Ok(f) = text.parse::<f64>()
        {
            return Value::Float(f);
        }
    }
    Value::Text(text.to_owned())
}

/// An integer, or the text when it does not fit an `i64` (e.g. `BIGINT UNSIGNED`).
pub(crate) fn integer(text: &str) -> Value {
    text.trim()
        .parse::<i64>()
        .map(Value::Int)
        .unwrap_or_else(|_| Value::Text(text.to_owned()))
}

/// A float (`NaN`, `Infinity` included), or the text when it does not parse.
pub(crate) fn float(text: &str) -> Value {
    text.trim()
        .parse::<f64>()
        .map(Value::Float)
        .unwrap_or_else(|_| Value::Text(text.to_owned()))
}

/// A timestamp in ISO-8601 form: `2024-01-02 03:04:05+01` becomes `2024-01-02T03:04:05+01:00`.
/// Text of any other shape (`infinity`, BC dates, zero dates) is kept as it is.
pub(crate) fn datetime(text: &str) -> Value {
    let b = text.as_bytes();
    if b.len() < 19 || b[10] != b' ' || b[4] != b'-' || b[13] != b':' {
        return Value::Text(text.to_owned());
    }
    let mut out = String::with_capacity(text.len() + 3);
    out.push_str(&text[..10]);
    out.push('T');
    out.push_str(&text[11..]);
    // A bare hour offset (`+01`, `-05`) gets its minutes, as ISO-8601 and JavaScript expect.
    let n = out.len();
    if n >= 3
        && matches!(out.as_bytes()[n - 3], b'+' | b'-')
        && out.as_bytes()[n - 2..].iter().all(u8::is_ascii_digit)
    {
        out.push_str(":00");
    }
    Value::Text(out)
}

/// Binary data as lowercase hex, as Redash renders bytes.
pub(crate) fn hex(bytes: &[u8]) -> Value {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    Value::Text(s)
}

/// Column names made unique as Redash does: a repeated name gets a counter appended
/// (`id`, `id1`, `id2`...), the counter shared by all repeats in the result.
pub(crate) fn unique_names(names: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut counter = 1;
    let mut out = Vec::new();
    for name in names {
        let mut name = name;
        if seen.contains(&name) {
            loop {
                let candidate = format!("{name}{counter}");
                counter += 1;
                if !seen.contains(&candidate) {
                    name = candidate;
                    break;
                }
            }
        }
        seen.insert(name.clone());
        out.push(name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_become_floats_only_when_exact() {
        assert_eq!(decimal("123.45"), Value::Float(123.45));
        assert_eq!(decimal("-0.50"), Value::Float(-0.5));
        assert_eq!(decimal("5.00"), Value::Float(5.0));
        assert_eq!(decimal("123456789012345"), Value::Float(123456789012345.0));
        assert_eq!(
            decimal("1234567890123456789.01"),
            Value::Text("1234567890123456789.01".into())
        );
        assert_eq!(decimal("NaN"), Value::Text("NaN".into()));
    }

    #[test]
    fn timestamps_become_iso() {
        assert_eq!(
            datetime("2024-01-02 03:04:05"),
            Value::Text("2024-01-02T03:04:05".into())
        );
        assert_eq!(
            datetime("2024-01-02 03:04:05.25+00"),
            Value::Text("2024-01-02T03:04:05.25+00:00".into())
        );
        assert_eq!(
            datetime("2024-01-02 03:04:05-05:30"),
            Value::Text("2024-01-02T03:04:05-05:30".into())
        );
        assert_eq!(datetime("infinity"), Value::Text("infinity".into()));
    }

    #[test]
    fn numbers_fall_back_to_text() {
        assert_eq!(
            integer("18446744073709551615"),
            Value::Text("18446744073709551615".into())
        );
        assert_eq!(integer("-7"), Value::Int(-7));
        assert!(matches!(float("NaN"), Value::Float(f) if f.is_nan()));
        assert_eq!(float("-Infinity"), Value::Float(f64::NEG_INFINITY));
        assert_eq!(hex(&[0, 255, 16]), Value::Text("00ff10".into()));
    }

    #[test]
    fn repeated_names_get_counters() {
        let names = unique_names(["id", "id", "name", "id", "id1"].map(String::from));
        assert_eq!(names, ["id", "id1", "name", "id2", "id13"]);
    }
}
