//! Finding `{{ name }}` placeholders in a query text.
//!
//! Redash renders query texts with pystache. Cairn does not need a full mustache engine, only
//! the tags Redash queries use: `{{ name }}`, `{{{ name }}}` and `{{& name }}` (the same thing,
//! since Redash never HTML-escapes), `{{ range.start }}` / `{{ range.end }}`, and
//! `{{! comment }}`. Sections, partials and delimiter changes would let a template compute SQL,
//! which defeats position-based escaping, so they are refused with a clear error.
//!
//! As in pystache, a `{{` without a closing `}}`, or with nothing but spaces inside, is plain
//! text, so queries over JSON-like languages keep working.

use super::ParamError;

/// A part of a query text: literal text or a placeholder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Text copied unchanged.
    Text(&'a str),
    /// A `{{ key }}` placeholder; `key` is trimmed and may contain a `.field` suffix.
    Tag(&'a str),
}

/// Splits a query text into text and placeholders. Comment tags are dropped.
///
/// # Errors
///
/// [`ParamError::UnsupportedTag`] for sections (`#`, `^`, `/`), partials (`>`) and delimiter
/// changes (`=`).
pub(crate) fn parse(text: &str) -> Result<Vec<Piece<'_>>, ParamError> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some((tag, after)) = next_tag(&rest[open..]) else {
            break;
        };
        let (before, tail) = rest.split_at(open);
        push_text(&mut pieces, before);
        match tag {
            TagKind::Variable(key) => pieces.push(Piece::Tag(key)),
            TagKind::Comment => {}
            TagKind::Unsupported(whole) => {
                return Err(ParamError::UnsupportedTag(whole.to_owned()));
            }
            TagKind::NotATag => push_text(&mut pieces, &tail[..after]),
        }
        rest = &tail[after..];
    }
    push_text(&mut pieces, rest);
    Ok(pieces)
}

/// The distinct placeholder keys of a text, in order of first use; unsupported tags are
/// skipped rather than reported.
pub(crate) fn keys(text: &str) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some((tag, after)) = next_tag(&rest[open..]) else {
            break;
        };
        if let TagKind::Variable(key) = tag
            && !keys.contains(&key)
        {
            keys.push(key);
        }
        rest = &rest[open + after..];
    }
    keys
}

enum TagKind<'a> {
    Variable(&'a str),
    Comment,
    Unsupported(&'a str),
    /// `{{` followed by blank content: kept as text (the two braces only).
    NotATag,
}

/// Reads the tag at the start of `text` (which starts with `{{`): the tag and its length.
fn next_tag(text: &str) -> Option<(TagKind<'_>, usize)> {
    if let Some(inner) = text.strip_prefix("{{{") {
        let close = inner.find("}}}")?;
        let key = inner[..close].trim();
        let len = 3 + close + 3;
        return Some(if key.is_empty() {
            (TagKind::NotATag, 2)
        } else {
            (TagKind::Variable(key), len)
        });
    }
    let inner = &text[2..];
    let close = inner.find("}}")?;
    let len = 2 + close + 2;
    let content = inner[..close].trim();
    let kind = match content.chars().next() {
        None => return Some((TagKind::NotATag, 2)),
        Some('!') => TagKind::Comment,
        Some('&') => match content[1..].trim() {
            "" => return Some((TagKind::NotATag, 2)),
            key => TagKind::Variable(key),
        },
        Some('#' | '^' | '/' | '>' | '=') => TagKind::Unsupported(&text[..len]),
        Some(_) => TagKind::Variable(content),
    };
    Some((kind, len))
}

fn push_text<'a>(pieces: &mut Vec<Piece<'a>>, text: &'a str) {
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> Vec<String> {
        parse(text)
            .unwrap()
            .into_iter()
            .filter_map(|p| match p {
                Piece::Tag(k) => Some(k.to_owned()),
                Piece::Text(_) => None,
            })
            .collect()
    }

    fn rebuilt(text: &str) -> String {
        parse(text)
            .unwrap()
            .into_iter()
            .map(|p| match p {
                Piece::Tag(k) => format!("<{k}>"),
                Piece::Text(t) => t.to_owned(),
            })
            .collect()
    }

    #[test]
    fn finds_spaced_and_tight_tags() {
        assert_eq!(
            tags("SELECT {{ a }}, {{b}}, {{  range.start  }}"),
            ["a", "b", "range.start"]
        );
        assert_eq!(rebuilt("x={{ a }};"), "x=<a>;");
    }

    #[test]
    fn triple_and_ampersand_tags_are_variables() {
        assert_eq!(tags("{{{ raw }}} {{& amp }}"), ["raw", "amp"]);
        assert_eq!(rebuilt("a{{{ raw }}}b"), "a<raw>b");
    }

    #[test]
    fn comment_tags_vanish() {
        assert_eq!(rebuilt("a{{! note }}b"), "ab");
    }

    #[test]
    fn unclosed_and_blank_braces_are_text() {
        assert_eq!(rebuilt("SELECT '{{' AS x"), "SELECT '{{' AS x");
        assert_eq!(rebuilt("a {{ }} b"), "a {{ }} b");
        assert_eq!(rebuilt("{\"a\": {\"b\": 1}}"), "{\"a\": {\"b\": 1}}");
    }

    #[test]
    fn sections_partials_and_delimiters_are_refused() {
        for text in ["{{#a}}x{{/a}}", "{{^a}}x{{/a}}", "{{> p }}", "{{=<% %>=}}"] {
            let err = parse(text).unwrap_err();
            assert!(
                matches!(err, ParamError::UnsupportedTag(_)),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn keys_are_distinct_in_order() {
        assert_eq!(keys("{{b}} {{a}} {{ b }} {{#s}}"), ["b", "a"]);
    }
}
