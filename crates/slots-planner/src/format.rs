//! Versioned JSON files: the `format` tag every snapshot and plan carries, and the reader that
//! turns a foreign or malformed file into a one-line [`FormatError`].
//!
//! The tag is a zero-sized field type, so a plain `serde_json::from_str` also refuses a file of
//! another kind or version; [`read_json`] additionally checks the tag *before* the full parse, so
//! that a plan passed where a snapshot is expected says "foreign format" rather than "missing
//! field `nodes`".

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::FormatError;

macro_rules! format_tag {
    ($(#[$doc:meta])* $name:ident, $tag:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct $name;

        impl $name {
            /// The tag written to and required in the `format` field.
            pub const TAG: &'static str = $tag;
            /// What the file holds, for error messages.
            pub const KIND: &'static str = $kind;
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(Self::TAG)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let found = String::deserialize(d)?;
                if found == Self::TAG {
                    Ok($name)
                } else {
                    Err(serde::de::Error::custom(format!(
                        "foreign {} format \"{found}\": this build reads \"{}\"",
                        Self::KIND,
                        Self::TAG
                    )))
                }
            }
        }
    };
}

format_tag!(
    /// The `format` field of a snapshot: `"cairn.slots.snapshot/1"`.
    SnapshotFormat,
    "cairn.slots.snapshot/1",
    "snapshot"
);
format_tag!(
    /// The `format` field of a plan: `"cairn.slots.plan/1"`.
    PlanFormat,
    "cairn.slots.plan/1",
    "plan"
);

#[derive(Deserialize)]
struct Probe {
    format: Option<serde_json::Value>,
}

/// Parses `text` as a `T` whose `format` field must equal `expected`.
pub(crate) fn read_json<T: DeserializeOwned>(
    text: &str,
    kind: &'static str,
    expected: &'static str,
) -> Result<T, FormatError> {
    if !text.trim_start().starts_with('{') {
        // Valid JSON that is not an object (an array, a number) has no format field either.
        return match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Ok(_) => Err(FormatError::MissingFormat { kind, expected }),
            Err(source) => Err(FormatError::Malformed { kind, source }),
        };
    }
    let probe: Probe = match serde_json::from_str(text) {
        Ok(p) => p,
        Err(e) if e.is_data() => return Err(FormatError::MissingFormat { kind, expected }),
        Err(source) => return Err(FormatError::Malformed { kind, source }),
    };
    match probe.format {
        None => return Err(FormatError::MissingFormat { kind, expected }),
        Some(serde_json::Value::String(s)) if s == expected => {}
        Some(serde_json::Value::String(found)) => {
            return Err(FormatError::Foreign {
                kind,
                found,
                expected,
            });
        }
        Some(other) => {
            return Err(FormatError::Foreign {
                kind,
                found: other.to_string(),
                expected,
            });
        }
    }
    serde_json::from_str(text).map_err(|source| FormatError::Malformed { kind, source })
}
