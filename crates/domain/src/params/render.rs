//! Putting checked values into the query text, each according to where it lands.
//!
//! Rendering runs in four steps:
//! 1. Split the text into text and placeholders ([`super::template`]) and check every value
//!    ([`super::value`]).
//! 2. Lex the text with each placeholder replaced by one neutral byte, which tells for every
//!    placeholder whether it sits in code, a literal, an identifier or a comment.
//! 3. Write each value for its position ([`super::escape`]): inside a literal, identifier or
//!    comment it is escaped (or refused); in code it becomes a whole literal, a number, or, for
//!    an enum, the author's option as written.
//! 4. Render a second time with every free-text value replaced by the empty string, lex both
//!    results and require the same structure. The second rendering contains nothing a caller
//!    chose, so if a value managed to end its literal or comment, the structures differ and
//!    rendering fails instead of returning injectable SQL. This is a check on steps 2-3, not
//!    the primary defence.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::ParamError;
use super::escape::{self, Context};
use super::lexer::{self, Dialect, TokenKind};
use super::spec::{MultiValues, ParamType, ParameterSpec};
use super::template::{self, Piece};
use super::value::{self, Resolved, Scalar};

/// The byte that stands for a placeholder while lexing: not a quote, comment, identifier,
/// whitespace or control character in any dialect, so it never joins or ends a token.
const PLACEHOLDER_BYTE: char = '@';

/// What one placeholder stands for.
#[derive(Debug, Clone)]
struct Binding {
    /// The parameter name, for error messages.
    name: String,
    value: Bound,
}

#[derive(Debug, Clone)]
enum Bound {
    One(Scalar),
    Many(Vec<Scalar>, MultiValues),
}

/// The part of a range a placeholder names (`{{ r.start }}`, `{{ r.end }}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RangeField {
    Start,
    End,
}

impl RangeField {
    fn name(self) -> &'static str {
        match self {
            RangeField::Start => "start",
            RangeField::End => "end",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// The values as given.
    Real,
    /// Free text replaced by the empty string: the structure the author wrote.
    StandIn,
}

/// See [`super::render`].
pub(crate) fn render(
    query_text: &str,
    specs: &[ParameterSpec],
    values: &Map<String, Value>,
    dialect: Dialect,
    now: DateTime<Utc>,
) -> Result<String, ParamError> {
    let pieces = template::parse(query_text)?;
    let bindings = bind_all(&pieces, specs, values, now)?;
    let contexts = contexts(&pieces, dialect, &bindings)?;
    let real = emit(&pieces, &bindings, &contexts, dialect, Mode::Real)?;
    let stand_in = emit(&pieces, &bindings, &contexts, dialect, Mode::StandIn)?;
    if lexer::shape(&real, dialect) != lexer::shape(&stand_in, dialect) {
        return Err(ParamError::StructureChanged);
    }
    Ok(real)
}

/// Resolves every placeholder, reporting all missing values at once.
fn bind_all(
    pieces: &[Piece<'_>],
    specs: &[ParameterSpec],
    values: &Map<String, Value>,
    now: DateTime<Utc>,
) -> Result<Vec<Binding>, ParamError> {
    let mut cache: HashMap<String, Resolved> = HashMap::new();
    let mut missing: Vec<String> = Vec::new();
    let mut bindings = Vec::new();
    for piece in pieces {
        let Piece::Tag(key) = piece else { continue };
        let (name, field, spec) = locate(key, specs, values);
        if !cache.contains_key(&name) {
            match value_for(&name, spec, values) {
                Some(value) => {
                    let resolved = value::resolve(&name, spec, &value, now)?;
                    cache.insert(name.clone(), resolved);
                }
                None => {
                    if !missing.contains(&name) {
                        missing.push(name.clone());
                    }
                    continue;
                }
            }
        }
        let Some(resolved) = cache.get(&name) else {
            continue;
        };
        let value = select_field(&name, resolved, field)?;
        bindings.push(Binding { name, value });
    }
    if missing.is_empty() {
        Ok(bindings)
    } else {
        Err(ParamError::Missing(missing))
    }
}

/// Splits a placeholder key into the parameter name, an optional range field and the
/// definition: a definition or value named exactly `key` wins over `name.field`.
fn locate<'s>(
    key: &str,
    specs: &'s [ParameterSpec],
    values: &Map<String, Value>,
) -> (String, Option<RangeField>, Option<&'s ParameterSpec>) {
    let spec_named = |name: &str| specs.iter().find(|s| s.name == name);
    if let Some(spec) = spec_named(key) {
        return (key.to_owned(), None, Some(spec));
    }
    let split = [RangeField::Start, RangeField::End]
        .into_iter()
        .find_map(|field| {
            let base = key.strip_suffix(field.name())?.strip_suffix('.')?;
            Some((base, field))
        });
    match split {
        Some((base, field)) if spec_named(base).is_some() || !values.contains_key(key) => {
            (base.to_owned(), Some(field), spec_named(base))
        }
        _ => (key.to_owned(), None, None),
    }
}

/// The value given for `name`; `null` counts as missing, except that a date parameter with
/// `useCurrentDateTime` then takes the current date.
fn value_for(
    name: &str,
    spec: Option<&ParameterSpec>,
    values: &Map<String, Value>,
) -> Option<Value> {
    match values.get(name) {
        Some(Value::Null) | None => {
            let current = spec.is_some_and(|s| {
                s.use_current_date_time
                    && matches!(
                        s.kind,
                        ParamType::Date | ParamType::DatetimeLocal | ParamType::DatetimeWithSeconds
                    )
            });
            current.then(|| Value::String("d_now".to_owned()))
        }
        Some(value) => Some(value.clone()),
    }
}

fn select_field(
    name: &str,
    resolved: &Resolved,
    field: Option<RangeField>,
) -> Result<Bound, ParamError> {
    let invalid = |reason: String| ParamError::Invalid {
        name: name.to_owned(),
        reason,
    };
    match (resolved, field) {
        (Resolved::Range { start, .. }, Some(RangeField::Start)) => Ok(Bound::One(start.clone())),
        (Resolved::Range { end, .. }, Some(RangeField::End)) => Ok(Bound::One(end.clone())),
        (Resolved::Range { .. }, None) => Err(invalid(format!(
            "a range is used as {{{{ {name}.start }}}} and {{{{ {name}.end }}}}"
        ))),
        (_, Some(field)) => Err(invalid(format!(
            "it is not a range and has no '{}'",
            field.name()
        ))),
        (Resolved::One(scalar), None) => Ok(Bound::One(scalar.clone())),
        (Resolved::Many(items, multi), None) => Ok(Bound::Many(items.clone(), multi.clone())),
    }
}

/// The lexical context of every placeholder, in order.
fn contexts(
    pieces: &[Piece<'_>],
    dialect: Dialect,
    bindings: &[Binding],
) -> Result<Vec<Context>, ParamError> {
    let mut skeleton = String::new();
    let mut offsets = Vec::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => skeleton.push_str(text),
            Piece::Tag(_) => {
                offsets.push(skeleton.len());
                skeleton.push(PLACEHOLDER_BYTE);
            }
        }
    }
    let tokens = lexer::lex(&skeleton, dialect);
    let bytes = skeleton.as_bytes();
    offsets
        .iter()
        .zip(bindings)
        .map(|(&offset, binding)| {
            let unsafe_here = |reason: &str| ParamError::Unsafe {
                name: binding.name.clone(),
                reason: reason.to_owned(),
            };
            let token = tokens
                .iter()
                .find(|t| t.start <= offset && offset < t.end)
                .ok_or_else(|| unsafe_here("its position could not be analysed"))?;
            Ok(match token.kind {
                TokenKind::Code => Context::Bare,
                TokenKind::Str {
                    quote, backslash, ..
                } => {
                    let run = bytes[token.start..offset]
                        .iter()
                        .rev()
                        .take_while(|&&b| b == b'\\')
                        .count();
                    if backslash && run % 2 == 1 {
                        return Err(unsafe_here(
                            "the placeholder directly follows a backslash escape",
                        ));
                    }
                    Context::Str { quote, backslash }
                }
                TokenKind::Dollar { tag_len } => Context::Dollar {
                    tag: skeleton[token.start..token.start + tag_len].to_owned(),
                },
                TokenKind::Ident { close } => Context::Ident { close },
                TokenKind::LineComment => Context::LineComment,
                TokenKind::BlockComment => Context::BlockComment,
                TokenKind::ExecComment => {
                    return Err(unsafe_here(
                        "placeholders inside executable comments (/*! */) are not supported",
                    ));
                }
            })
        })
        .collect()
}

fn emit(
    pieces: &[Piece<'_>],
    bindings: &[Binding],
    contexts: &[Context],
    dialect: Dialect,
    mode: Mode,
) -> Result<String, ParamError> {
    let mut out = String::new();
    let mut slot = 0;
    for (index, piece) in pieces.iter().enumerate() {
        let Piece::Tag(_) = piece else {
            out.push_str(piece_text(piece));
            continue;
        };
        let (Some(binding), Some(context)) = (bindings.get(slot), contexts.get(slot)) else {
            break;
        };
        slot += 1;
        let refused = |reason: &str| ParamError::Unsafe {
            name: binding.name.clone(),
            reason: reason.to_owned(),
        };
        let written = match context {
            Context::Bare => bare(&binding.value, dialect, mode).map_err(refused)?,
            _ => escape::inside(&joined_text(&binding.value, mode), context).map_err(refused)?,
        };
        if *context == Context::Bare {
            let next = match pieces.get(index + 1) {
                Some(Piece::Text(text)) => text.bytes().next(),
                _ => None,
            };
            push_separated(&mut out, &written, next, dialect);
        } else {
            out.push_str(&written);
        }
    }
    Ok(out)
}

fn piece_text<'a>(piece: &Piece<'a>) -> &'a str {
    match piece {
        Piece::Text(text) => text,
        Piece::Tag(_) => "",
    }
}

/// The text of a value placed inside a literal, identifier or comment.
fn joined_text(value: &Bound, mode: Mode) -> String {
    match value {
        Bound::One(scalar) => text_of(scalar, mode).to_owned(),
        Bound::Many(items, multi) => items
            .iter()
            .map(|item| format!("{}{}{}", multi.prefix, text_of(item, mode), multi.suffix))
            .collect::<Vec<_>>()
            .join(&multi.separator),
    }
}

fn text_of(scalar: &Scalar, mode: Mode) -> &str {
    match (scalar, mode) {
        (Scalar::Text(_), Mode::StandIn) => "",
        _ => scalar.text(),
    }
}

/// A value in code: a number, a literal, or an enum option as written.
fn bare(value: &Bound, dialect: Dialect, mode: Mode) -> Result<String, escape::Refusal> {
    match value {
        Bound::One(scalar) => bare_scalar(scalar, dialect, mode),
        Bound::Many(items, multi) => {
            let quote = (multi.prefix == multi.suffix && escape::is_quote(&multi.prefix, dialect))
                .then_some(multi.prefix.as_str());
            let written = items
                .iter()
                .map(|item| match quote {
                    Some(q) => escape::quoted_with(text_of(item, mode), q, dialect),
                    None => bare_scalar(item, dialect, mode)
                        .map(|s| format!("{}{s}{}", multi.prefix, multi.suffix)),
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(written.join(&multi.separator))
        }
    }
}

fn bare_scalar(scalar: &Scalar, dialect: Dialect, mode: Mode) -> Result<String, escape::Refusal> {
    match scalar {
        Scalar::Number(n) if n.starts_with('-') => Ok(format!("({n})")),
        Scalar::Number(n) | Scalar::Trusted(n) => Ok(n.clone()),
        Scalar::Date(_) | Scalar::Text(_) => escape::string_literal(text_of(scalar, mode), dialect),
    }
}

/// Appends a bare rendering, adding a space where the neighbouring text would otherwise fuse
/// with its quotes (`E'..'`, `x'..'`, `'a''b'`).
fn push_separated(out: &mut String, written: &str, next: Option<u8>, dialect: Dialect) {
    let is_quote = |b: u8| matches!(b, b'\'' | b'"' | b'`');
    let first = written.bytes().next();
    let opens_quoted =
        first.is_some_and(is_quote) || (dialect == Dialect::Postgres && written.starts_with("E'"));
    let previous = out.bytes().last();
    if opens_quoted && previous.is_some_and(|b| lexer::is_ident_byte(b) || is_quote(b)) {
        out.push(' ');
    }
    out.push_str(written);
    let closes_quoted = written.bytes().last().is_some_and(is_quote);
    if closes_quoted && next.is_some_and(is_quote) {
        out.push(' ');
    }
}
