//! Redash's query hash: the key under which results are cached and de-duplicated.
//!
//! Two runs share a result when their hashes match on the same data source, so Cairn must
//! compute exactly what Redash computes, or results stored by one would never be found by the
//! other. Redash (`redash.utils.gen_query_hash`) takes the query text *after* parameters are
//! applied, removes `/* ... */` comments with the Python regex `/\*.*?\*/`, removes every
//! whitespace character, and returns the MD5 of the UTF-8 bytes as 32 lowercase hex digits.
//! Case is kept (older Redash versions lower-cased; current ones do not).
//!
//! Two details of that rule are easy to get wrong and are reproduced on purpose:
//! - Python's `.` does not match `\n`, so a block comment that spans lines is **not** removed
//!   (only its whitespace is).
//! - "Whitespace" is Python's `str.split()` set, which is Unicode `White_Space` plus the four
//!   ASCII separators `\x1c`..`\x1f`.
//!
//! `--` line comments are kept; string contents are not special (a `/* */` inside a literal is
//! removed too), exactly as in Redash.

use md5::{Digest, Md5};

/// Redash's hash of a query text: 32 lowercase hex digits.
///
/// Pass the text that will actually run: parameters applied (see [`crate::params::render`]),
/// and any automatic `LIMIT` added (Redash hashes after its `apply_auto_limit`). Redash stores a
/// saved query's `query_hash` the same way, with the parameters' default values applied.
///
/// # Examples
///
/// ```
/// use cairn_domain::query_hash::query_hash;
///
/// assert_eq!(query_hash("SELECT 1"), query_hash("SELECT /* why */\n  1"));
/// assert_eq!(query_hash("SELECT 1"), "2d5127b8139f1f5f1086c4053324733a");
/// assert_ne!(query_hash("SELECT 1"), query_hash("select 1"));
/// ```
pub fn query_hash(query_text: &str) -> String {
    let normalized = normalize(query_text);
    let digest = Md5::digest(normalized.as_bytes());
    let mut hex = String::with_capacity(32);
    for byte in digest.iter() {
        hex.push(HEX[usize::from(byte >> 4)]);
        hex.push(HEX[usize::from(byte & 0x0f)]);
    }
    hex
}

const HEX: [char; 16] = [
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
];

/// The text Redash hashes: single-line block comments and all whitespace removed.
pub fn normalize(query_text: &str) -> String {
    strip_single_line_block_comments(query_text)
        .chars()
        .filter(|c| !is_python_whitespace(*c))
        .collect()
}

/// Applies `re.sub(r"/\*.*?\*/", "", text)`: each `/*` up to the nearest `*/` on the same line.
fn strip_single_line_block_comments(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied_up_to = 0;
    let mut i = 0;
    while i + 1 < bytes.len() {
        if bytes[i] == b'/'
            && bytes[i + 1] == b'*'
            && let Some(end) = comment_end_on_line(bytes, i + 2)
        {
            out.push_str(&text[copied_up_to..i]);
            copied_up_to = end;
            i = end;
            continue;
        }
        i += 1;
    }
    out.push_str(&text[copied_up_to..]);
    out
}

/// The index just past the first `*/` at or after `from`, if it comes before any `\n`.
fn comment_end_on_line(bytes: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j + 1 < bytes.len() {
        match (bytes[j], bytes[j + 1]) {
            (b'\n', _) => return None,
            (b'*', b'/') => return Some(j + 2),
            _ => j += 1,
        }
    }
    None
}

/// Python's `str.isspace()`: Unicode `White_Space` plus the ASCII information separators.
fn is_python_whitespace(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Vectors produced by Redash's own function (Python 3, `hashlib.md5`).
    const REDASH_VECTORS: &[(&str, &str)] = &[
        ("", "d41d8cd98f00b204e9800998ecf8427e"),
        ("SELECT 1", "2d5127b8139f1f5f1086c4053324733a"),
        ("select 1", "f6bf37efedbc0a2dfffc1caf5088d86e"),
        ("SELECT  1\n", "2d5127b8139f1f5f1086c4053324733a"),
        ("SELECT /* c */ 1", "2d5127b8139f1f5f1086c4053324733a"),
        ("SELECT /* a\nb */ 1", "e70749298c67160d381228d571d6276e"),
        ("SELECT /**/1/*x*/", "2d5127b8139f1f5f1086c4053324733a"),
        (
            "a\u{a0}b\u{3000}c\u{1c}d\u{200b}e",
            "cd51e1c14acba89bc8a6c80073d1a8c0",
        ),
        ("SELECT '/* not */ a'", "66e9f9cd1b6908ce9ecbc68e6d64656f"),
        ("/*/ x */y", "415290769594460e2e485922904f345d"),
        ("SELECT 1 -- trailing", "83e8ec69d26f45745949fb76e2c3e54a"),
        ("caf\u{e9} /* \u{e9} */", "07117fe4a1ebd544965dc19573183da2"),
    ];

    #[test]
    fn matches_redash_vectors() {
        for (text, expected) in REDASH_VECTORS {
            assert_eq!(query_hash(text), *expected, "text {text:?}");
        }
    }

    #[test]
    fn multi_line_block_comment_is_kept_but_whitespace_goes() {
        assert_eq!(normalize("SELECT /* a\nb */ 1"), "SELECT/*ab*/1");
    }

    #[test]
    fn unclosed_comment_is_kept() {
        assert_eq!(normalize("SELECT 1 /* open"), "SELECT1/*open");
    }

    #[test]
    fn comment_opening_star_is_not_reused_to_close() {
        assert_eq!(normalize("a/*/b"), "a/*/b");
        assert_eq!(normalize("a/**/b"), "ab");
    }

    #[test]
    fn zero_width_space_is_not_whitespace() {
        assert_eq!(normalize("a\u{200b}b"), "a\u{200b}b");
    }

    #[test]
    fn hash_is_lowercase_hex_of_32_digits() {
        let h = query_hash("SELECT * FROM events");
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')), "{h}");
    }

    proptest! {
        #[test]
        fn whitespace_never_changes_the_hash(words in proptest::collection::vec("[a-zA-Z0-9_'=*]{1,8}", 1..8),
                                             seps in proptest::collection::vec("[ \t\r\n\u{a0}\u{3000}]{0,3}", 8)) {
            let joined_tight: String = words.concat();
            let mut spaced = String::new();
            for (w, s) in words.iter().zip(seps.iter()) {
                spaced.push_str(w);
                spaced.push_str(s);
            }
            prop_assert_eq!(query_hash(&joined_tight), query_hash(&spaced));
        }

        #[test]
        fn single_line_comments_never_change_the_hash(body in "[a-z0-9 ]{0,20}", comment in "[a-z0-9 ]{0,20}") {
            let with = format!("{body}/*{comment}*/{body}");
            let without = format!("{body}{body}");
            prop_assert_eq!(query_hash(&with), query_hash(&without));
        }

        #[test]
        fn normalize_has_no_whitespace(text in "\\PC{0,40}") {
            prop_assert!(!normalize(&text).chars().any(is_python_whitespace));
        }
    }
}
