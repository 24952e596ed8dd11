//! A small SQL lexer: just enough to know what surrounds each byte of a query.
//!
//! Safe rendering depends on one question: at a placeholder's position, is the database going
//! to read code, the inside of a string literal, a quoted identifier, or a comment? The answer
//! differs by dialect, so the lexer follows each database's own rules for the constructs that
//! can hide or end a region:
//!
//! | construct | PostgreSQL | MySQL / MariaDB | SQLite |
//! |---|---|---|---|
//! | `'...'` | string, `''` | string, `''` and `\` escapes | string, `''` |
//! | `E'...'` | string with `\` escapes | (as `'...'`) | (as `'...'`) |
//! | `"..."` | identifier, `""` | string, `""` and `\` escapes | identifier, `""` |
//! | `` `...` `` | (code) | identifier, ``` `` ``` | identifier, ``` `` ``` |
//! | `[...]` | (code) | (code) | identifier, no escape |
//! | `$tag$...$tag$` | string, no escape | (code) | (code) |
//! | `-- ` | to end of line | only before a space or control character | to end of line |
//! | `#` | (code) | to end of line | (code) |
//! | `/* */` | nests | does not nest; `/*!` and `/*M!` are executable | does not nest |
//!
//! Assumed server settings (the defaults): PostgreSQL `standard_conforming_strings = on`;
//! MySQL without `ANSI_QUOTES`, with a UTF-8 connection character set (multi-byte sets such
//! as GBK can swallow a backslash). With `NO_BACKSLASH_ESCAPES` or `ANSI_QUOTES`, MySQL still
//! cannot be broken out of, because Cairn's escaping is valid in both readings; only
//! backslashes in values then arrive doubled. A PostgreSQL literal written *by the query's
//! author* as `'...'` relies on `standard_conforming_strings = on`; the literals Cairn writes
//! itself (`E'...'` when needed) do not.
//!
//! Everything that is none of these (keywords, numbers, operators, whitespace) is "code".

/// The SQL dialect whose lexical rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (data source type `pg`).
    Postgres,
    /// MySQL and MariaDB (data source type `mysql`).
    MySql,
    /// SQLite (data source type `sqlite`).
    Sqlite,
}

impl Dialect {
    /// The dialect of a Redash data source type, if Cairn knows it.
    pub fn for_source_type(source_type: &str) -> Option<Dialect> {
        match source_type {
            "pg" | "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::MySql),
            "sqlite" => Some(Dialect::Sqlite),
            _ => None,
        }
    }
}

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// Keywords, numbers, operators, whitespace.
    Code,
    /// A quoted string literal. `prefixed` is set when the token starts with PostgreSQL's `E`.
    Str {
        quote: u8,
        backslash: bool,
        prefixed: bool,
    },
    /// A PostgreSQL dollar-quoted string; the token starts with its `$tag$`.
    Dollar { tag_len: usize },
    /// A quoted identifier closed by `close`.
    Ident { close: u8 },
    /// `--` (or MySQL `#`) up to, not including, the end of the line.
    LineComment,
    /// `/* ... */`.
    BlockComment,
    /// MySQL's `/*! ... */` and MariaDB's `/*M! ... */`, whose content is executed.
    ExecComment,
}

/// A token: its kind and byte range in the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokenKind,
    pub start: usize,
    pub end: usize,
}

/// The structure of a text with literal and comment contents abstracted away: two texts with
/// equal shapes differ only inside literals, identifiers and comments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shape<'a> {
    Code(&'a str),
    Literal,
    Identifier,
    LineComment,
    BlockComment,
    ExecComment,
}

/// Splits `text` into tokens that cover it exactly, in order. Unterminated literals and
/// comments run to the end, as the databases read them.
pub(crate) fn lex(text: &str, dialect: Dialect) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut code_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match special_at(bytes, i, dialect) {
            Some((kind, start, end)) => {
                if start > code_start {
                    tokens.push(Token {
                        kind: TokenKind::Code,
                        start: code_start,
                        end: start,
                    });
                }
                tokens.push(Token { kind, start, end });
                i = end;
                code_start = end;
            }
            None => i += 1,
        }
    }
    if bytes.len() > code_start {
        tokens.push(Token {
            kind: TokenKind::Code,
            start: code_start,
            end: bytes.len(),
        });
    }
    tokens
}

/// The shape of `text` (see [`Shape`]).
pub(crate) fn shape(text: &str, dialect: Dialect) -> Vec<Shape<'_>> {
    lex(text, dialect)
        .into_iter()
        .map(|token| match token.kind {
            TokenKind::Code => Shape::Code(&text[token.start..token.end]),
            TokenKind::Str { .. } | TokenKind::Dollar { .. } => Shape::Literal,
            TokenKind::Ident { .. } => Shape::Identifier,
            TokenKind::LineComment => Shape::LineComment,
            TokenKind::BlockComment => Shape::BlockComment,
            TokenKind::ExecComment => Shape::ExecComment,
        })
        .collect()
}

/// Bytes that may continue an identifier (PostgreSQL and MySQL allow `$`; non-ASCII counts).
pub(crate) fn is_ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

/// The token that starts at `i`, if it is not code: `(kind, start, end)`. `start` may be
/// `i - 1` for a PostgreSQL `E'...'` string.
fn special_at(b: &[u8], i: usize, dialect: Dialect) -> Option<(TokenKind, usize, usize)> {
    let next = b.get(i + 1).copied();
    match (b[i], dialect) {
        (b'-', _) if next == Some(b'-') => {
            if dialect == Dialect::MySql && !matches!(b.get(i + 2), None | Some(0..=0x20 | 0x7f)) {
                return None;
            }
            Some((TokenKind::LineComment, i, line_end(b, i + 2, dialect)))
        }
        (b'#', Dialect::MySql) => Some((TokenKind::LineComment, i, line_end(b, i + 1, dialect))),
        (b'/', _) if next == Some(b'*') => {
            let executable = dialect == Dialect::MySql
                && (b.get(i + 2) == Some(&b'!')
                    || (b.get(i + 2) == Some(&b'M') && b.get(i + 3) == Some(&b'!')));
            let kind = if executable {
                TokenKind::ExecComment
            } else {
                TokenKind::BlockComment
            };
            Some((kind, i, block_end(b, i + 2, dialect == Dialect::Postgres)))
        }
        (b'\'', _) => {
            let prefixed = dialect == Dialect::Postgres && has_e_prefix(b, i);
            let backslash = dialect == Dialect::MySql || prefixed;
            let kind = TokenKind::Str {
                quote: b'\'',
                backslash,
                prefixed,
            };
            let start = if prefixed { i - 1 } else { i };
            Some((kind, start, quoted_end(b, i + 1, b'\'', backslash)))
        }
        (b'"', Dialect::MySql) => {
            let kind = TokenKind::Str {
                quote: b'"',
                backslash: true,
                prefixed: false,
            };
            Some((kind, i, quoted_end(b, i + 1, b'"', true)))
        }
        (b'"', _) => Some((
            TokenKind::Ident { close: b'"' },
            i,
            quoted_end(b, i + 1, b'"', false),
        )),
        (b'`', Dialect::MySql | Dialect::Sqlite) => Some((
            TokenKind::Ident { close: b'`' },
            i,
            quoted_end(b, i + 1, b'`', false),
        )),
        (b'[', Dialect::Sqlite) => {
            let end = b[i + 1..]
                .iter()
                .position(|&c| c == b']')
                .map_or(b.len(), |p| i + 1 + p + 1);
            Some((TokenKind::Ident { close: b']' }, i, end))
        }
        (b'$', Dialect::Postgres) if i == 0 || !is_ident_byte(b[i - 1]) => {
            let tag_end = dollar_tag_end(b, i)?;
            let tag = &b[i..tag_end];
            let end = b[tag_end..]
                .windows(tag.len())
                .position(|w| w == tag)
                .map_or(b.len(), |p| tag_end + p + tag.len());
            Some((
                TokenKind::Dollar {
                    tag_len: tag_end - i,
                },
                i,
                end,
            ))
        }
        _ => None,
    }
}

/// Whether the quote at `i` is preceded by a standalone `E`/`e` (PostgreSQL escape string).
fn has_e_prefix(b: &[u8], i: usize) -> bool {
    i >= 1 && matches!(b[i - 1], b'e' | b'E') && (i < 2 || !is_ident_byte(b[i - 2]))
}

fn line_end(b: &[u8], from: usize, dialect: Dialect) -> usize {
    let ends_line = |c: u8| c == b'\n' || (dialect == Dialect::Postgres && c == b'\r');
    b[from.min(b.len())..]
        .iter()
        .position(|&c| ends_line(c))
        .map_or(b.len(), |p| from + p)
}

fn block_end(b: &[u8], from: usize, nested: bool) -> usize {
    let mut depth = 1;
    let mut j = from;
    while j + 1 < b.len() {
        if nested && b[j] == b'/' && b[j + 1] == b'*' {
            depth += 1;
            j += 2;
        } else if b[j] == b'*' && b[j + 1] == b'/' {
            depth -= 1;
            j += 2;
            if depth == 0 {
                return j;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

fn quoted_end(b: &[u8], from: usize, quote: u8, backslash: bool) -> usize {
    let mut j = from;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
        } else if b[j] == quote {
            if b.get(j + 1) == Some(&quote) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// The end of a `$tag$` opener at `i`, if there is one (`tag` may be empty; it cannot start
/// with a digit, so `$1` stays a positional parameter).
fn dollar_tag_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    let first = *b.get(j)?;
    if first == b'$' {
        return Some(j + 1);
    }
    if !(first.is_ascii_alphabetic() || first == b'_' || first >= 0x80) {
        return None;
    }
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    (b.get(j) == Some(&b'$')).then_some(j + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::*;

    fn kinds(text: &str, dialect: Dialect) -> Vec<(TokenKind, &str)> {
        lex(text, dialect)
            .into_iter()
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    const PLAIN: TokenKind = TokenKind::Str {
        quote: b'\'',
        backslash: false,
        prefixed: false,
    };

    #[test]
    fn tokens_cover_the_text_exactly() {
        let text = "SELECT 'a''b', \"c\" -- x\n/* y */ FROM t";
        for dialect in [Postgres, MySql, Sqlite] {
            let tokens = lex(text, dialect);
            let mut at = 0;
            for t in &tokens {
                assert_eq!(t.start, at);
                at = t.end;
            }
            assert_eq!(at, text.len());
        }
    }

    #[test]
    fn postgres_strings_identifiers_and_comments() {
        assert_eq!(
            kinds(
                "SELECT 'it''s' AS \"a\"\"b\" -- c\n/* a /* nested */ still */1",
                Postgres
            ),
            [
                (TokenKind::Code, "SELECT "),
                (PLAIN, "'it''s'"),
                (TokenKind::Code, " AS "),
                (TokenKind::Ident { close: b'"' }, "\"a\"\"b\""),
                (TokenKind::Code, " "),
                (TokenKind::LineComment, "-- c"),
                (TokenKind::Code, "\n"),
                (TokenKind::BlockComment, "/* a /* nested */ still */"),
                (TokenKind::Code, "1"),
            ]
        );
    }

    #[test]
    fn postgres_backslash_only_in_e_strings() {
        let e = TokenKind::Str {
            quote: b'\'',
            backslash: true,
            prefixed: true,
        };
        assert_eq!(kinds("'a\\' x", Postgres)[0], (PLAIN, "'a\\'"));
        assert_eq!(kinds(" E'a\\'b' x", Postgres)[1], (e, "E'a\\'b'"));
        assert_eq!(kinds("some'a\\' x", Postgres)[1], (PLAIN, "'a\\'"));
    }

    #[test]
    fn postgres_dollar_quotes() {
        assert_eq!(
            kinds("SELECT $fn$ it's $$ $fn$, $1, a$b$", Postgres),
            [
                (TokenKind::Code, "SELECT "),
                (TokenKind::Dollar { tag_len: 4 }, "$fn$ it's $$ $fn$"),
                (TokenKind::Code, ", $1, a$b$"),
            ]
        );
        assert_eq!(
            kinds("$$x", Postgres),
            [(TokenKind::Dollar { tag_len: 2 }, "$$x")]
        );
    }

    #[test]
    fn mysql_strings_take_backslashes_and_double_quotes() {
        let single = TokenKind::Str {
            quote: b'\'',
            backslash: true,
            prefixed: false,
        };
        let double = TokenKind::Str {
            quote: b'"',
            backslash: true,
            prefixed: false,
        };
        assert_eq!(kinds("'a\\'b'", MySql), [(single, "'a\\'b'")]);
        assert_eq!(kinds("\"a\\\"\"\"b\"", MySql), [(double, "\"a\\\"\"\"b\"")]);
        assert_eq!(
            kinds("`a``b`", MySql),
            [(TokenKind::Ident { close: b'`' }, "`a``b`")]
        );
    }

    #[test]
    fn mysql_comments() {
        assert_eq!(kinds("1--2", MySql), [(TokenKind::Code, "1--2")]);
        assert_eq!(
            kinds("1-- 2\n3", MySql),
            [
                (TokenKind::Code, "1"),
                (TokenKind::LineComment, "-- 2"),
                (TokenKind::Code, "\n3"),
            ]
        );
        assert_eq!(kinds("# x", MySql), [(TokenKind::LineComment, "# x")]);
        assert_eq!(
            kinds("/*! 1 */", MySql),
            [(TokenKind::ExecComment, "/*! 1 */")]
        );
        assert_eq!(
            kinds("/*M! 1 */", MySql),
            [(TokenKind::ExecComment, "/*M! 1 */")]
        );
        assert_eq!(
            kinds("/* /* */ x", MySql),
            [
                (TokenKind::BlockComment, "/* /* */"),
                (TokenKind::Code, " x")
            ]
        );
        assert_eq!(kinds("# x", Postgres), [(TokenKind::Code, "# x")]);
    }

    #[test]
    fn sqlite_identifiers() {
        assert_eq!(
            kinds("[a'b]", Sqlite),
            [(TokenKind::Ident { close: b']' }, "[a'b]")]
        );
        assert_eq!(kinds("'a\\'", Sqlite), [(PLAIN, "'a\\'")]);
        assert_eq!(kinds("[a]", Postgres), [(TokenKind::Code, "[a]")]);
    }

    #[test]
    fn unterminated_regions_run_to_the_end() {
        assert_eq!(kinds("'abc", Sqlite), [(PLAIN, "'abc")]);
        assert_eq!(
            kinds("/* abc", Postgres),
            [(TokenKind::BlockComment, "/* abc")]
        );
        assert_eq!(
            kinds("-- abc", Postgres),
            [(TokenKind::LineComment, "-- abc")]
        );
    }

    #[test]
    fn postgres_line_comment_ends_at_carriage_return() {
        assert_eq!(
            kinds("-- a\rb", Postgres),
            [(TokenKind::LineComment, "-- a"), (TokenKind::Code, "\rb")]
        );
        assert_eq!(
            kinds("-- a\rb", Sqlite),
            [(TokenKind::LineComment, "-- a\rb")]
        );
    }

    #[test]
    fn dialect_names() {
        assert_eq!(Dialect::for_source_type("pg"), Some(Postgres));
        assert_eq!(Dialect::for_source_type("mysql"), Some(MySql));
        assert_eq!(Dialect::for_source_type("sqlite"), Some(Sqlite));
        assert_eq!(Dialect::for_source_type("mongodb"), None);
    }
}
