//! Writing a value into one lexical context so that it cannot leave it.
//!
//! Each function either returns text that, placed at that position, stays inside the
//! surrounding literal, identifier or comment, or says why no such text exists (a comment
//! cannot contain its own terminator, a dollar-quoted string cannot contain its tag, a
//! SQLite `[identifier]` cannot contain `]`). NUL is refused everywhere: PostgreSQL rejects it
//! in text, and C-string based drivers would cut the query at it.

use super::lexer::Dialect;

/// Where a placeholder sits, from the lexer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Context {
    /// Outside any literal or comment.
    Bare,
    /// Inside a string literal quoted by `quote`; `backslash` when `\` escapes there.
    Str { quote: u8, backslash: bool },
    /// Inside a PostgreSQL dollar-quoted string opened by `tag` (including both `$`).
    Dollar { tag: String },
    /// Inside a quoted identifier closed by `close`.
    Ident { close: u8 },
    /// Inside a line comment.
    LineComment,
    /// Inside a block comment.
    BlockComment,
}

/// Why a value cannot be written at its position.
pub(crate) type Refusal = &'static str;

/// `value` escaped for the inside of its context (not for [`Context::Bare`], which needs a
/// whole literal: see [`string_literal`]).
pub(crate) fn inside(value: &str, context: &Context) -> Result<String, Refusal> {
    refuse_nul(value)?;
    match context {
        Context::Bare => Err("a bare value must be written as a literal"),
        Context::Str { quote, backslash } => Ok(escape_quoted(value, *quote, *backslash)),
        Context::Dollar { tag } => {
            if value.contains(tag.as_str()) {
                Err("the value contains the closing tag of the dollar-quoted string")
            } else {
                Ok(value.to_owned())
            }
        }
        Context::Ident { close: b']' } => {
            if value.contains(']') {
                Err("the value contains ']' inside a [bracketed] identifier")
            } else {
                Ok(value.to_owned())
            }
        }
        Context::Ident { close } => Ok(escape_quoted(value, *close, false)),
        Context::LineComment => {
            if value.contains(['\n', '\r']) {
                Err("the value contains a line break inside a -- comment")
            } else {
                Ok(value.to_owned())
            }
        }
        Context::BlockComment => {
            if value.contains("*/") || value.contains("/*") {
                Err("the value contains '/*' or '*/' inside a block comment")
            } else {
                Ok(value.to_owned())
            }
        }
    }
}

/// A complete string literal holding `value`, in the dialect's most robust spelling.
///
/// PostgreSQL values with a backslash use `E'...'`, which reads the same whether or not
/// `standard_conforming_strings` is on. MySQL doubles backslashes, which reads back exactly
/// without `NO_BACKSLASH_ESCAPES` and still cannot end the literal with it.
pub(crate) fn string_literal(value: &str, dialect: Dialect) -> Result<String, Refusal> {
    refuse_nul(value)?;
    Ok(match dialect {
        Dialect::Postgres if value.contains('\\') => {
            format!("E'{}'", escape_quoted(value, b'\'', true))
        }
        Dialect::MySql => format!("'{}'", escape_quoted(value, b'\'', true)),
        Dialect::Postgres | Dialect::Sqlite => format!("'{}'", escape_quoted(value, b'\'', false)),
    })
}

/// Whether `text` is a quote character in the dialect (`'` and `"` everywhere, `` ` `` in
/// MySQL and SQLite).
pub(crate) fn is_quote(text: &str, dialect: Dialect) -> bool {
    matches!(text, "'" | "\"") || (text == "`" && dialect != Dialect::Postgres)
}

/// `value` wrapped in `quote` as the dialect reads that quote: a string literal or a quoted
/// identifier. For a `quote` that fails [`is_quote`], a string literal.
pub(crate) fn quoted_with(value: &str, quote: &str, dialect: Dialect) -> Result<String, Refusal> {
    let wrap = |q: u8, backslash: bool| {
        refuse_nul(value).map(|()| {
            let q_char = char::from(q);
            format!("{q_char}{}{q_char}", escape_quoted(value, q, backslash))
        })
    };
    match (quote, dialect) {
        ("\"", Dialect::MySql) => wrap(b'"', true),
        ("\"", _) => wrap(b'"', false),
        ("`", Dialect::MySql | Dialect::Sqlite) => wrap(b'`', false),
        _ => string_literal(value, dialect),
    }
}

fn escape_quoted(value: &str, quote: u8, backslash: bool) -> String {
    let quote = char::from(quote);
    let mut out = String::with_capacity(value.len() + 2);
    for c in value.chars() {
        if c == quote || (backslash && c == '\\') {
            out.push(c);
        }
        out.push(c);
    }
    out
}

fn refuse_nul(value: &str) -> Result<(), Refusal> {
    if value.contains('\0') {
        Err("the value contains a NUL character")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_literals_per_dialect() {
        let cases = [
            (Dialect::Postgres, "it's", "'it''s'"),
            (Dialect::Postgres, "a\\'b", "E'a\\\\''b'"),
            (Dialect::MySql, "a\\'b", "'a\\\\''b'"),
            (Dialect::Sqlite, "a\\'b", "'a\\''b'"),
        ];
        for (dialect, value, expected) in cases {
            assert_eq!(
                string_literal(value, dialect).unwrap(),
                expected,
                "{dialect:?}"
            );
        }
        assert!(string_literal("a\0b", Dialect::Sqlite).is_err());
    }

    #[test]
    fn inside_contexts() {
        let str_std = Context::Str {
            quote: b'\'',
            backslash: false,
        };
        let str_bs = Context::Str {
            quote: b'\'',
            backslash: true,
        };
        assert_eq!(inside("a'b", &str_std).unwrap(), "a''b");
        assert_eq!(inside("a\\'b", &str_bs).unwrap(), "a\\\\''b");
        assert_eq!(
            inside("a\"b", &Context::Ident { close: b'"' }).unwrap(),
            "a\"\"b"
        );
        assert_eq!(
            inside("a`b", &Context::Ident { close: b'`' }).unwrap(),
            "a``b"
        );
        assert!(inside("a]b", &Context::Ident { close: b']' }).is_err());
        assert!(inside("x$f$y", &Context::Dollar { tag: "$f$".into() }).is_err());
        assert_eq!(
            inside("x$$y", &Context::Dollar { tag: "$f$".into() }).unwrap(),
            "x$$y"
        );
        assert!(inside("a\nb", &Context::LineComment).is_err());
        assert!(inside("a\rb", &Context::LineComment).is_err());
        assert!(inside("a*/b", &Context::BlockComment).is_err());
        assert!(inside("a/*b", &Context::BlockComment).is_err());
        assert!(inside("x", &Context::Bare).is_err());
    }

    #[test]
    fn quoted_with_follows_the_dialect() {
        let pg = quoted_with("a\"b", "\"", Dialect::Postgres).unwrap();
        assert_eq!(pg, "\"a\"\"b\"");
        let my = quoted_with("a\\\"", "\"", Dialect::MySql).unwrap();
        assert_eq!(my, "\"a\\\\\"\"\"");
        assert_eq!(quoted_with("a", "`", Dialect::Sqlite).unwrap(), "`a`");
        assert_eq!(quoted_with("a'", "'", Dialect::Sqlite).unwrap(), "'a'''");
        assert!(is_quote("`", Dialect::MySql));
        assert!(!is_quote("`", Dialect::Postgres));
        assert!(!is_quote("%", Dialect::MySql));
    }
}
