//! Rendering tests: Redash compatibility, attack cases per dialect, and properties over
//! arbitrary values.

use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::lexer::{self, TokenKind};
use super::*;

use Dialect::{MySql, Postgres, Sqlite};

const ALL: [Dialect; 3] = [Postgres, MySql, Sqlite];

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 3, 13, 15, 4, 5).unwrap()
}

fn specs(list: Value) -> Vec<ParameterSpec> {
    ParameterSpec::parse_list(&list).expect("valid definitions")
}

fn try_render(
    dialect: Dialect,
    text: &str,
    list: Value,
    values: Value,
) -> Result<String, ParamError> {
    let values = values.as_object().cloned().unwrap_or_default();
    render(text, &specs(list), &values, dialect, now())
}

/// Renders one `text` parameter named `t`.
fn text_param(dialect: Dialect, text: &str, value: &str) -> Result<String, ParamError> {
    try_render(
        dialect,
        text,
        json!([{"name": "t", "type": "text"}]),
        json!({ "t": value }),
    )
}

/// The decoded contents of every literal and quoted identifier in `sql`, in order.
fn literals(sql: &str, dialect: Dialect) -> Vec<String> {
    lexer::lex(sql, dialect)
        .into_iter()
        .filter_map(|token| {
            let text = &sql[token.start..token.end];
            match token.kind {
                TokenKind::Str {
                    quote,
                    backslash,
                    prefixed,
                } => {
                    let body = if prefixed { &text[1..] } else { text };
                    Some(unquote(body, quote, backslash))
                }
                TokenKind::Ident { close: b']' } => Some(text[1..text.len() - 1].to_owned()),
                TokenKind::Ident { close } => Some(unquote(text, close, false)),
                TokenKind::Dollar { tag_len } => {
                    Some(text[tag_len..text.len() - tag_len].to_owned())
                }
                _ => None,
            }
        })
        .collect()
}

/// Reverses Cairn's escaping of a closed quoted token (doubled quotes, doubled backslashes).
fn unquote(token: &str, quote: u8, backslash: bool) -> String {
    let quote = char::from(quote);
    let inner = &token[1..token.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if (c == quote || (backslash && c == '\\')) && chars.peek() == Some(&c) {
            chars.next();
        }
        out.push(c);
    }
    out
}

/// The code outside literals and comments, which a value must never change.
fn code(sql: &str, dialect: Dialect) -> String {
    lexer::shape(sql, dialect)
        .into_iter()
        .map(|s| match s {
            lexer::Shape::Code(c) => c.to_owned(),
            other => format!("<{other:?}>"),
        })
        .collect()
}

const ATTACKS: &[&str] = &[
    "'; DROP TABLE x; --",
    "\\'; DROP TABLE x; --",
    "\\\\'; DROP TABLE x; --",
    "\"; DROP TABLE x; --",
    "`; DROP TABLE x; --",
    "' OR '1'='1",
    "\\",
    "'",
    "''",
    "$$; DROP TABLE x; --",
    "*/ DROP TABLE x; /*",
    "x\nDROP TABLE x; --",
    "{{ t }}",
    "É\u{2028}'\u{feff}",
];

#[test]
fn text_inside_single_quotes_stays_one_literal_in_every_dialect() {
    for dialect in ALL {
        for attack in ATTACKS {
            let sql = text_param(
                dialect,
                "SELECT * FROM t WHERE a = '{{ t }}' AND b = 1",
                attack,
            )
            .unwrap_or_else(|e| panic!("{dialect:?} {attack:?}: {e}"));
            assert_eq!(literals(&sql, dialect), [*attack], "{dialect:?}: {sql}");
            assert_eq!(
                code(&sql, dialect),
                "SELECT * FROM t WHERE a = <Literal> AND b = 1",
                "{dialect:?}: {sql}"
            );
        }
    }
}

#[test]
fn bare_text_becomes_a_whole_literal() {
    for dialect in ALL {
        for attack in ATTACKS {
            let sql = text_param(dialect, "SELECT * FROM t WHERE a = {{ t }};", attack).unwrap();
            assert_eq!(literals(&sql, dialect), [*attack], "{dialect:?}: {sql}");
            assert_eq!(code(&sql, dialect), "SELECT * FROM t WHERE a = <Literal>;");
        }
    }
}

#[test]
fn postgres_backslash_values_use_escape_strings() {
    let sql = text_param(Postgres, "SELECT {{ t }}", "\\'; DROP TABLE x; --").unwrap();
    assert_eq!(sql, "SELECT E'\\\\''; DROP TABLE x; --'");
    let sql = text_param(Postgres, "SELECT '{{ t }}'", "\\'; DROP TABLE x; --").unwrap();
    assert_eq!(sql, "SELECT '\\''; DROP TABLE x; --'");
}

#[test]
fn mysql_backslash_tricks_are_doubled() {
    let sql = text_param(MySql, "SELECT '{{ t }}'", "\\'; DROP TABLE x; --").unwrap();
    assert_eq!(sql, "SELECT '\\\\''; DROP TABLE x; --'");
    let sql = text_param(MySql, "SELECT \"{{ t }}\"", "\\\"; DROP TABLE x; --").unwrap();
    assert_eq!(sql, "SELECT \"\\\\\"\"; DROP TABLE x; --\"");
}

#[test]
fn e_string_of_the_template_is_respected() {
    let sql = text_param(Postgres, "SELECT E'{{ t }}'", "\\'; DROP").unwrap();
    assert_eq!(sql, "SELECT E'\\\\''; DROP'");
    assert_eq!(literals(&sql, Postgres), ["\\'; DROP"]);
}

#[test]
fn prefix_letters_do_not_fuse_with_bare_literals() {
    for dialect in ALL {
        for template in [
            "SELECT E{{ t }}",
            "SELECT N{{ t }}",
            "SELECT x{{ t }}",
            "SELECT 'a'{{ t }}'b'",
        ] {
            for attack in ATTACKS {
                let sql = text_param(dialect, template, attack).unwrap();
                assert!(
                    literals(&sql, dialect).contains(&(*attack).to_owned()),
                    "{dialect:?}: {sql}"
                );
            }
        }
    }
    assert_eq!(
        text_param(Postgres, "SELECT E{{ t }}", "a").unwrap(),
        "SELECT E 'a'"
    );
    assert_eq!(
        text_param(Sqlite, "SELECT 'a'{{ t }}'b'", "c").unwrap(),
        "SELECT 'a' 'c' 'b'"
    );
}

#[test]
fn identifiers_double_their_quote() {
    let sql = text_param(
        Postgres,
        "SELECT \"{{ t }}\" FROM t",
        "a\"; DROP TABLE x; --",
    )
    .unwrap();
    assert_eq!(sql, "SELECT \"a\"\"; DROP TABLE x; --\" FROM t");
    let sql = text_param(MySql, "SELECT `{{ t }}` FROM t", "a`; DROP TABLE x; --").unwrap();
    assert_eq!(sql, "SELECT `a``; DROP TABLE x; --` FROM t");
    let sql = text_param(Sqlite, "SELECT [{{ t }}] FROM t", "a b").unwrap();
    assert_eq!(sql, "SELECT [a b] FROM t");
    let err = text_param(Sqlite, "SELECT [{{ t }}] FROM t", "a]; DROP TABLE x; --").unwrap_err();
    assert!(matches!(err, ParamError::Unsafe { .. }), "{err}");
}

#[test]
fn dollar_quotes_refuse_their_tag() {
    let ok = text_param(Postgres, "SELECT $$ {{ t }} $$", "it's $1 \\ fine").unwrap();
    assert_eq!(ok, "SELECT $$ it's $1 \\ fine $$");
    for attack in ["$$; DROP TABLE x; --", "a$$"] {
        let err = text_param(Postgres, "SELECT $$ {{ t }} $$", attack).unwrap_err();
        assert!(matches!(err, ParamError::Unsafe { .. }), "{attack}: {err}");
    }
    let err = text_param(
        Postgres,
        "SELECT $f$ {{ t }} $f$",
        "x $f$; DROP TABLE x; --",
    )
    .unwrap_err();
    assert!(matches!(err, ParamError::Unsafe { .. }), "{err}");
    // The value completes a tag with the template's next characters.
    let err = text_param(Postgres, "SELECT $f$ {{ t }}f$ $f$", "$").unwrap_err();
    assert_eq!(err, ParamError::StructureChanged);
}

#[test]
fn comments_refuse_their_terminators() {
    for dialect in ALL {
        let ok = text_param(dialect, "SELECT 1 -- by {{ t }}\n", "it's me").unwrap();
        assert_eq!(ok, "SELECT 1 -- by it's me\n");
        for attack in ["x\nDROP TABLE x; --", "x\rDROP TABLE x"] {
            let err = text_param(dialect, "SELECT 1 -- by {{ t }}\n", attack).unwrap_err();
            assert!(
                matches!(err, ParamError::Unsafe { .. }),
                "{dialect:?} {attack:?}: {err}"
            );
        }
        let ok = text_param(dialect, "SELECT /* {{ t }} */ 1", "a * / b").unwrap();
        assert_eq!(ok, "SELECT /* a * / b */ 1");
        for attack in ["*/ DROP TABLE x; /*", "/* nested"] {
            let err = text_param(dialect, "SELECT /* {{ t }} */ 1", attack).unwrap_err();
            assert!(
                matches!(err, ParamError::Unsafe { .. }),
                "{dialect:?} {attack:?}: {err}"
            );
        }
    }
    let err = text_param(MySql, "SELECT 1 # {{ t }}\n", "\nDROP TABLE x").unwrap_err();
    assert!(matches!(err, ParamError::Unsafe { .. }), "{err}");
    // A value that ends in '*' before the template's '/' would close the comment.
    let err = text_param(Postgres, "SELECT /* {{ t }}/ */ 1", "a *").unwrap_err();
    assert_eq!(err, ParamError::StructureChanged);
}

#[test]
fn mysql_executable_comments_are_refused() {
    let err = text_param(MySql, "SELECT /*! {{ t }} */ 1", "1").unwrap_err();
    assert!(matches!(err, ParamError::Unsafe { .. }), "{err}");
    // A value cannot turn a plain comment into an executable one.
    let err = text_param(MySql, "SELECT /*{{ t }} */ 1", "!50000 DROP TABLE x").unwrap_err();
    assert_eq!(err, ParamError::StructureChanged);
    let err = text_param(MySql, "SELECT /*{{ t }} */ 1", "M! DROP TABLE x").unwrap_err();
    assert_eq!(err, ParamError::StructureChanged);
}

#[test]
fn placeholder_after_a_backslash_escape_is_refused() {
    let err = text_param(MySql, "SELECT 'a\\{{ t }}'", "'").unwrap_err();
    assert!(matches!(err, ParamError::Unsafe { .. }), "{err}");
    let ok = text_param(MySql, "SELECT 'a\\\\{{ t }}'", "'").unwrap();
    assert_eq!(ok, "SELECT 'a\\\\'''");
    // In a standard PostgreSQL string the backslash is an ordinary character.
    assert!(text_param(Postgres, "SELECT 'a\\{{ t }}'", "'").is_ok());
}

#[test]
fn nul_is_refused_everywhere() {
    for dialect in ALL {
        for template in [
            "SELECT '{{ t }}'",
            "SELECT {{ t }}",
            "SELECT \"{{ t }}\"",
            "-- {{ t }}",
        ] {
            let err = text_param(dialect, template, "a\0b").unwrap_err();
            assert!(
                matches!(err, ParamError::Unsafe { .. }),
                "{dialect:?} {template}: {err}"
            );
        }
    }
}

#[test]
fn values_are_not_rendered_twice() {
    let sql = try_render(
        Sqlite,
        "SELECT '{{ a }}', '{{ b }}'",
        json!([{"name": "a", "type": "text"}, {"name": "b", "type": "text"}]),
        json!({"a": "{{ b }}", "b": "x"}),
    )
    .unwrap();
    assert_eq!(sql, "SELECT '{{ b }}', 'x'");
}

#[test]
fn numbers_are_validated_and_written_bare() {
    let list = json!([{"name": "n", "type": "number"}]);
    let sql = try_render(
        Postgres,
        "SELECT * FROM t LIMIT {{ n }}",
        list.clone(),
        json!({"n": 25}),
    )
    .unwrap();
    assert_eq!(sql, "SELECT * FROM t LIMIT 25");
    let sql = try_render(
        Postgres,
        "SELECT x -{{ n }}",
        list.clone(),
        json!({"n": "-5"}),
    )
    .unwrap();
    assert_eq!(sql, "SELECT x -(-5)");
    let sql = try_render(MySql, "SELECT '{{ n }}'", list.clone(), json!({"n": -1.5})).unwrap();
    assert_eq!(sql, "SELECT '-1.5'");
    for bad in [
        json!("1 OR 1=1"),
        json!("1; DROP TABLE x"),
        json!("0x1F"),
        json!(true),
    ] {
        let err = try_render(
            Postgres,
            "SELECT {{ n }}",
            list.clone(),
            json!({ "n": bad }),
        )
        .unwrap_err();
        assert!(matches!(err, ParamError::Invalid { .. }), "{err}");
    }
}

#[test]
fn enums_keep_redash_behaviour_for_the_authors_options() {
    let list = json!([
        {"name": "col", "type": "enum", "enumOptions": "created_at\nname"},
        {"name": "dir", "type": "enum", "enumOptions": ["ASC", "DESC"]},
        {"name": "country", "type": "enum", "enumOptions": "FR\nO'Neil land"},
    ]);
    let sql = try_render(
        Postgres,
        "SELECT * FROM t WHERE c = '{{ country }}' ORDER BY {{ col }} {{ dir }}",
        list.clone(),
        json!({"col": "name", "dir": "DESC", "country": "O'Neil land"}),
    )
    .unwrap();
    assert_eq!(
        sql,
        "SELECT * FROM t WHERE c = 'O''Neil land' ORDER BY name DESC"
    );
    let err = try_render(
        Postgres,
        "ORDER BY {{ col }}",
        list,
        json!({"col": "name; DROP TABLE t"}),
    )
    .unwrap_err();
    assert!(matches!(err, ParamError::Invalid { .. }), "{err}");
}

#[test]
fn multi_value_enums_join_with_quotes() {
    let list = json!([{"name": "c", "type": "enum", "enumOptions": "FR\nDE\nO'Neil",
                       "multiValuesOptions": {"prefix": "'", "suffix": "'", "separator": ","}}]);
    for dialect in ALL {
        let sql = try_render(
            dialect,
            "WHERE c IN ({{ c }})",
            list.clone(),
            json!({"c": ["FR", "O'Neil"]}),
        )
        .unwrap();
        assert_eq!(sql, "WHERE c IN ('FR','O''Neil')", "{dialect:?}");
        let sql = try_render(
            dialect,
            "WHERE c = '{{ c }}'",
            list.clone(),
            json!({"c": ["FR", "DE"]}),
        )
        .unwrap();
        assert_eq!(sql, "WHERE c = '''FR'',''DE'''", "{dialect:?}");
    }
    let unquoted = json!([{"name": "c", "type": "enum", "enumOptions": "1\n2",
                           "multiValuesOptions": {"separator": ", "}}]);
    let sql = try_render(
        Sqlite,
        "WHERE id IN ({{ c }})",
        unquoted,
        json!({"c": ["1", "2"]}),
    )
    .unwrap();
    assert_eq!(sql, "WHERE id IN (1, 2)");
}

#[test]
fn query_values_are_quoted_unless_plain_numbers() {
    let list = json!([{"name": "q", "type": "query", "queryId": 3,
                       "multiValuesOptions": {"prefix": "", "suffix": "", "separator": ","}}]);
    for dialect in ALL {
        let sql = try_render(
            dialect,
            "WHERE x IN ({{ q }})",
            list.clone(),
            json!({"q": ["7", "x'); DROP TABLE t; --"]}),
        )
        .unwrap();
        assert_eq!(
            literals(&sql, dialect),
            ["x'); DROP TABLE t; --"],
            "{dialect:?}: {sql}"
        );
        assert_eq!(
            code(&sql, dialect),
            "WHERE x IN (7,<Literal>)",
            "{dialect:?}"
        );
    }
    let doubled = json!([{"name": "q", "type": "query",
                          "multiValuesOptions": {"prefix": "\"", "suffix": "\"", "separator": ","}}]);
    let sql = try_render(
        MySql,
        "WHERE x IN ({{ q }})",
        doubled.clone(),
        json!({"q": ["a\\\"b"]}),
    )
    .unwrap();
    assert_eq!(sql, "WHERE x IN (\"a\\\\\"\"b\")");
    let sql = try_render(Postgres, "SELECT {{ q }}", doubled, json!({"q": ["a\"b"]})).unwrap();
    assert_eq!(sql, "SELECT \"a\"\"b\"");
}

#[test]
fn dates_and_ranges() {
    let list = json!([
        {"name": "d", "type": "date"},
        {"name": "r", "type": "datetime-range"},
    ]);
    let sql = try_render(
        Postgres,
        "WHERE day = {{ d }} AND ts BETWEEN '{{ r.start }}' AND '{{ r.end }}'",
        list.clone(),
        json!({"d": "2024-01-05", "r": {"start": "2024-01-01 00:00", "end": "2024-01-31 23:59"}}),
    )
    .unwrap();
    assert_eq!(
        sql,
        "WHERE day = '2024-01-05' AND ts BETWEEN '2024-01-01 00:00' AND '2024-01-31 23:59'"
    );
    let sql = try_render(
        Postgres,
        "WHERE day >= '{{ d }}' AND ts >= {{ r.start }}",
        list.clone(),
        json!({"d": "d_yesterday", "r": "d_last_7_days"}),
    )
    .unwrap();
    assert_eq!(
        sql,
        "WHERE day >= '2024-03-12' AND ts >= '2024-03-06 00:00'"
    );
    let err = try_render(
        Postgres,
        "WHERE {{ r }}",
        list.clone(),
        json!({"r": "d_today"}),
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter 'r' is invalid: a range is used as {{ r.start }} and {{ r.end }}"
    );
    let err = try_render(
        Postgres,
        "WHERE {{ d.start }}",
        list.clone(),
        json!({"d": "2024-01-01"}),
    )
    .unwrap_err();
    assert!(matches!(err, ParamError::Invalid { .. }), "{err}");
    let err = try_render(
        Postgres,
        "WHERE '{{ d }}'",
        list,
        json!({"d": "2024-01-01' OR '1"}),
    )
    .unwrap_err();
    assert!(matches!(err, ParamError::Invalid { .. }), "{err}");
}

#[test]
fn use_current_date_time_fills_a_missing_date() {
    let list = json!([{"name": "d", "type": "datetime-with-seconds", "useCurrentDateTime": true}]);
    let sql = try_render(Sqlite, "SELECT '{{ d }}'", list, json!({})).unwrap();
    assert_eq!(sql, "SELECT '2024-03-13 15:04:05'");
}

#[test]
fn missing_values_are_all_reported() {
    let list = json!([{"name": "a", "type": "text"}, {"name": "b", "type": "number"}]);
    let err = try_render(
        Sqlite,
        "SELECT '{{ a }}', {{ b }}, {{ a }}",
        list.clone(),
        json!({}),
    )
    .unwrap_err();
    assert_eq!(err, ParamError::Missing(vec!["a".into(), "b".into()]));
    assert_eq!(err.to_string(), "parameters 'a', 'b' are missing");
    let err = try_render(Sqlite, "SELECT {{ b }}", list, json!({"b": null})).unwrap_err();
    assert_eq!(err.to_string(), "parameter 'b' is missing");
}

#[test]
fn undeclared_placeholders_take_quoted_text() {
    let sql = try_render(
        Postgres,
        "SELECT {{ x }}, {{ n }}, {{ r.start }}",
        json!([]),
        json!({"x": "a' OR 1=1 --", "n": 3, "r": {"start": "2024-01-01", "end": "x"}}),
    )
    .unwrap();
    assert_eq!(sql, "SELECT 'a'' OR 1=1 --', 3, '2024-01-01'");
}

#[test]
fn queries_without_placeholders_are_unchanged() {
    for dialect in ALL {
        let text = "SELECT '{{' AS a, $$x$$ -- }\n/* {{ */";
        let sql = try_render(dialect, text, json!([]), json!({"unused": 1})).unwrap();
        assert_eq!(sql, text);
    }
}

#[test]
fn unsupported_tags_are_errors() {
    let err = text_param(Sqlite, "SELECT {{#t}}1{{/t}}", "x").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unsupported template tag '{{#t}}': only {{ name }} placeholders are allowed"
    );
}

#[test]
fn used_names_and_safety() {
    let text = "SELECT {{ a }}, {{b}}, {{ r.start }}, {{ r.end }}, {{ a }}";
    assert_eq!(used_names(text), ["a", "b", "r"]);
    let safe = specs(
        json!([{"name": "a", "type": "number"}, {"name": "b", "type": "enum", "enumOptions": "x"},
                            {"name": "r", "type": "date-range"}]),
    );
    assert!(is_safe(&safe));
    assert!(is_safe_query(text, &safe));
    assert!(!is_safe_query("SELECT {{ other }}", &safe));
    let with_text = specs(json!([{"name": "a", "type": "text"}]));
    assert!(!is_safe(&with_text));
    let with_pattern = specs(json!([{"name": "a", "type": "text-pattern", "regex": "x"}]));
    assert!(!is_safe(&with_pattern));
    assert!(is_safe(&[]));
}

#[test]
fn default_values_come_from_definitions() {
    let list =
        specs(json!([{"name": "a", "type": "number", "value": 5}, {"name": "b", "type": "text"}]));
    let defaults = default_values(&list);
    assert_eq!(defaults.get("a"), Some(&json!(5)));
    assert!(!defaults.contains_key("b"));
}

/// Templates where any NUL-free value must render, with the placeholder in one literal or
/// identifier; `{}` marks the placeholder.
const ALWAYS_RENDERS: &[(Dialect, &str)] = &[
    (
        Postgres,
        "SELECT * FROM t WHERE a = '{}' AND b = 1; SELECT 2",
    ),
    (Postgres, "SELECT * FROM t WHERE a = {} AND b = 1"),
    (Postgres, "SELECT E'x{}y', 'a{}' FROM t -- done"),
    (Postgres, "SELECT \"{}\" FROM t"),
    (Postgres, "SELECT E{} FROM t"),
    (MySql, "SELECT * FROM t WHERE a = '{}' AND b = 1; SELECT 2"),
    (MySql, "SELECT * FROM t WHERE a = \"{}\" # c"),
    (MySql, "SELECT * FROM t WHERE a = {} AND b = 1"),
    (MySql, "SELECT `{}` FROM t"),
    (MySql, "SELECT N{}, _utf8mb4{}"),
    (Sqlite, "SELECT * FROM t WHERE a = '{}' AND b = 1; SELECT 2"),
    (Sqlite, "SELECT * FROM t WHERE a = {}--x"),
    (Sqlite, "SELECT \"{}\", `{}` FROM t"),
];

/// Templates where a value may be refused, but never change the structure.
const MAY_REFUSE: &[(Dialect, &str)] = &[
    (Postgres, "SELECT $$ {} $$, $f$ {}f$ $f$; SELECT 2"),
    (Postgres, "SELECT 1 -- {}\n; SELECT 2"),
    (Postgres, "SELECT /* a /* {} */ */ 1; SELECT 2"),
    (MySql, "SELECT 1 -- {}\n; SELECT 2"),
    (MySql, "SELECT /* {}/ */ 1; SELECT 2"),
    (MySql, "SELECT 'a\\{}'; SELECT 2"),
    (Sqlite, "SELECT [{}], /* {} */ 1; SELECT 2"),
];

fn dangerous_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[-'\"`\\\\$;*/#\\n\\r\\[\\] aEfN{}!]{0,24}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_stays_inside_its_literal(value in dangerous_text()) {
        let value = value.replace('\0', "");
        for (dialect, template) in ALWAYS_RENDERS {
            let text = template.replace("{}", "{{ t }}");
            let sql = text_param(*dialect, &text, &value)
                .map_err(|e| TestCaseError::fail(format!("{dialect:?} {template}: {e}")))?;
            let marked = text_param(*dialect, &text, "MARK").unwrap();
            prop_assert_eq!(code(&sql, *dialect), code(&marked, *dialect));
            let expected: Vec<String> = literals(&marked, *dialect)
                .iter()
                .map(|l| l.replace("MARK", &value))
                .collect();
            prop_assert_eq!(literals(&sql, *dialect), expected, "{:?}: {}", dialect, sql);
        }
    }

    #[test]
    fn refused_or_structure_kept(value in dangerous_text()) {
        for (dialect, template) in MAY_REFUSE {
            let text = template.replace("{}", "{{ t }}");
            match text_param(*dialect, &text, &value) {
                Ok(sql) => {
                    let expected = text_param(*dialect, &text, "").unwrap();
                    prop_assert_eq!(code(&sql, *dialect), code(&expected, *dialect));
                }
                Err(ParamError::Unsafe { .. } | ParamError::StructureChanged) => {}
                Err(other) => prop_assert!(false, "{:?}: unexpected {}", dialect, other),
            }
        }
    }

    #[test]
    fn statement_count_never_changes(value in dangerous_text(), dialect_index in 0usize..3) {
        let dialect = ALL[dialect_index];
        let text = "SELECT '{{ t }}'; SELECT {{ t }}; SELECT \"{{ t }}\"";
        if let Ok(sql) = text_param(dialect, text, &value) {
            let semicolons = code(&sql, dialect).matches(';').count();
            prop_assert_eq!(semicolons, 2);
        }
    }
}

fn number_or_date_like() -> impl Strategy<Value = String> {
    prop_oneof![
        "[-+0-9.eE ;'x]{0,12}",
        "20[0-9]{2}-[01][0-9]-[0-3][0-9]([ T][0-2][0-9]:[0-5][0-9](:[0-5][0-9])?)?.{0,3}",
        dangerous_text(),
    ]
}

proptest! {
    #[test]
    fn numbers_and_dates_insert_only_their_own_characters(value in number_or_date_like()) {
        let kinds = [
            ("number", "0123456789.eE+-()"),
            ("date", "0123456789-'"),
            ("datetime-with-seconds", "0123456789-: '"),
        ];
        for (kind, allowed) in kinds {
            for dialect in ALL {
                let list = json!([{"name": "p", "type": kind}]);
                match try_render(dialect, "SELECT {{ p }}", list, json!({ "p": value })) {
                    Ok(sql) => {
                        let inserted = sql.strip_prefix("SELECT ").unwrap_or(&sql);
                        prop_assert!(
                            inserted.chars().all(|c| allowed.contains(c)),
                            "{} {:?} inserted {:?}", kind, value, inserted
                        );
                    }
                    Err(ParamError::Invalid { .. }) => {}
                    Err(other) => prop_assert!(false, "{} {:?}: {}", kind, value, other),
                }
            }
        }
    }
}
