//! Download formats and Redash's download file names.

use chrono::NaiveDate;

/// A download format, chosen by the URL's extension (`results.csv`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DownloadFormat {
    /// Redash's `{"query_result": ...}` JSON.
    Json,
    /// Comma-separated values.
    Csv,
    /// Tab-separated values.
    Tsv,
    /// An Excel workbook.
    Xlsx,
}

impl DownloadFormat {
    /// The format for an extension (`json`, `csv`, `tsv`, `xlsx`, any case), or `None`.
    pub fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "json" => Some(DownloadFormat::Json),
            "csv" => Some(DownloadFormat::Csv),
            "tsv" => Some(DownloadFormat::Tsv),
            "xlsx" => Some(DownloadFormat::Xlsx),
            _ => None,
        }
    }

    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            DownloadFormat::Json => "json",
            DownloadFormat::Csv => "csv",
            DownloadFormat::Tsv => "tsv",
            DownloadFormat::Xlsx => "xlsx",
        }
    }

    /// The `Content-Type` Redash sends for the format.
    pub fn content_type(self) -> &'static str {
        match self {
            DownloadFormat::Json => "application/json",
            DownloadFormat::Csv => "text/csv; charset=UTF-8",
            DownloadFormat::Tsv => "text/tab-separated-values; charset=UTF-8",
            DownloadFormat::Xlsx => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
        }
    }
}

/// Redash's download file name: `<name>_<YYYY_MM_DD>.<ext>`.
///
/// `name` is the query's name, sanitized as Redash does: the characters `<>:"/\|?*` become
/// spaces, runs of whitespace become one `_`, and leading/trailing `_` are dropped. When the
/// name is empty after that, `fallback` is used (Redash uses the query id, or the result id for
/// a result without a query). `retrieved_at` is the day the result was retrieved.
///
/// # Examples
///
/// ```
/// use cairn_results::{download_filename, DownloadFormat};
/// let day = chrono::NaiveDate::from_ymd_opt(2024, 3, 9).unwrap();
/// assert_eq!(
///     download_filename("Sales / by region?", "7", day, DownloadFormat::Csv),
///     "Sales_by_region_2024_03_09.csv"
/// );
/// ```
pub fn download_filename(
    name: &str,
    fallback: &str,
    retrieved_at: NaiveDate,
    format: DownloadFormat,
) -> String {
    let mut base = sanitize(name);
    if base.is_empty() {
        base = sanitize(fallback);
    }
    if base.is_empty() {
        base = "query_result".to_owned();
    }
    format!(
        "{base}_{}.{}",
        retrieved_at.format("%Y_%m_%d"),
        format.extension()
    )
}

fn sanitize(name: &str) -> String {
    let replaced: String = name
        .chars()
        .map(|c| {
            if "<>:\"/\\|?*".contains(c) || c.is_control() {
                ' '
            } else {
                c
            }
        })
        .collect();
    replaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
        .trim_matches('_')
        .to_owned()
}

/// The `Content-Disposition` header value for a download file name: `attachment;
/// filename="<ascii name>"`, plus an RFC 5987 `filename*` with the exact UTF-8 name when it is
/// not plain ASCII (non-ASCII characters are replaced by `_` in the plain form).
pub fn content_disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if ascii == filename {
        return format!("attachment; filename=\"{filename}\"");
    }
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 22).unwrap()
    }

    #[test]
    fn names_are_sanitized_like_redash() {
        assert_eq!(
            download_filename("  My  query: v2 ", "1", day(), DownloadFormat::Xlsx),
            "My_query_v2_2026_11_22.xlsx"
        );
        assert_eq!(
            download_filename("a<b>c|d", "1", day(), DownloadFormat::Tsv),
            "a_b_c_d_2026_11_22.tsv"
        );
        assert_eq!(
            download_filename("???", "42", day(), DownloadFormat::Json),
            "42_2026_11_22.json"
        );
        assert_eq!(
            download_filename("", "", day(), DownloadFormat::Csv),
            "query_result_2026_11_22.csv"
        );
    }

    #[test]
    fn content_disposition_keeps_ascii_plain_and_encodes_the_rest() {
        assert_eq!(
            content_disposition("q_2026_11_22.csv"),
            "attachment; filename=\"q_2026_11_22.csv\""
        );
        assert_eq!(
            content_disposition("Umsätze_2026_11_22.csv"),
            "attachment; filename=\"Ums_tze_2026_11_22.csv\"; filename*=UTF-8''Ums%C3%A4tze_2026_11_22.csv"
        );
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(
            DownloadFormat::from_extension("CSV"),
            Some(DownloadFormat::Csv)
        );
        assert_eq!(DownloadFormat::from_extension("xml"), None);
        for f in [
            DownloadFormat::Json,
            DownloadFormat::Csv,
            DownloadFormat::Tsv,
            DownloadFormat::Xlsx,
        ] {
            assert_eq!(DownloadFormat::from_extension(f.extension()), Some(f));
        }
    }
}
