//! Dynamic date values (`d_now`, `d_last_7_days` ...), resolved against a given `now`.
//!
//! Redash's browser turns these into concrete dates just before running a query; scheduled
//! runs and API calls have no browser, so Cairn resolves them on the server, in UTC, with the
//! browser's definitions (moment.js, English locale: weeks start on Sunday, a day ends at
//! 23:59:59.999).

use chrono::{Datelike, Duration, Months, NaiveDate, NaiveDateTime, NaiveTime};

/// The instant a dynamic single-date value names (`d_now`, `d_yesterday`).
pub(crate) fn date(key: &str, now: NaiveDateTime) -> Option<NaiveDateTime> {
    match key {
        "d_now" => Some(now),
        "d_yesterday" => now.checked_sub_signed(Duration::days(1)),
        _ => None,
    }
}

/// The `(start, end)` a dynamic range value names.
pub(crate) fn range(key: &str, now: NaiveDateTime) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let days_ago = |n: i64| now.checked_sub_signed(Duration::days(n));
    let months_ago = |n: u32| now.checked_sub_months(Months::new(n));
    let day = |t: NaiveDateTime| (start_of_day(t.date()), end_of_day(t.date()));
    let week = |t: NaiveDateTime| {
        let back = Duration::days(i64::from(t.weekday().num_days_from_sunday()));
        let first = t.date().checked_sub_signed(back)?;
        let last = first.checked_add_signed(Duration::days(6))?;
        Some((start_of_day(first), end_of_day(last)))
    };
    let month = |t: NaiveDateTime| {
        let first = t.date().with_day(1)?;
        let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
        Some((start_of_day(first), end_of_day(last)))
    };
    let year = |t: NaiveDateTime| {
        let first = NaiveDate::from_ymd_opt(t.year(), 1, 1)?;
        let last = NaiveDate::from_ymd_opt(t.year(), 12, 31)?;
        Some((start_of_day(first), end_of_day(last)))
    };
    let until_today = |start: NaiveDateTime| (start_of_day(start.date()), end_of_day(now.date()));
    let until_now = |hours: i64| Some((now.checked_sub_signed(Duration::hours(hours))?, now));
    match key {
        "d_today" => Some(day(now)),
        "d_yesterday" => days_ago(1).map(day),
        "d_this_week" => week(now),
        "d_last_week" => week(days_ago(7)?),
        "d_this_month" => month(now),
        "d_last_month" => month(months_ago(1)?),
        "d_this_year" => year(now),
        "d_last_year" => year(months_ago(12)?),
        "d_last_hour" => until_now(1),
        "d_last_8_hours" => until_now(8),
        "d_last_24_hours" => until_now(24),
        "d_last_7_days" => days_ago(7).map(until_today),
        "d_last_14_days" => days_ago(14).map(until_today),
        "d_last_30_days" => days_ago(30).map(until_today),
        "d_last_60_days" => days_ago(60).map(until_today),
        "d_last_90_days" => days_ago(90).map(until_today),
        "d_last_12_months" => months_ago(12).map(until_today),
        "d_last_2_years" => months_ago(24).map(until_today),
        "d_last_3_years" => months_ago(36).map(until_today),
        "d_last_10_years" => months_ago(120).map(until_today),
        _ => None,
    }
}

fn start_of_day(day: NaiveDate) -> NaiveDateTime {
    day.and_time(NaiveTime::MIN)
}

fn end_of_day(day: NaiveDate) -> NaiveDateTime {
    day.and_time(NaiveTime::from_hms_milli_opt(23, 59, 59, 999).unwrap_or(NaiveTime::MIN))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn fmt(pair: (NaiveDateTime, NaiveDateTime)) -> (String, String) {
        let f = |t: NaiveDateTime| t.format("%Y-%m-%d %H:%M:%S").to_string();
        (f(pair.0), f(pair.1))
    }

    // Wednesday 2024-03-13.
    const NOW: &str = "2024-03-13 15:04:05";

    #[test]
    fn single_dates() {
        assert_eq!(date("d_now", at(NOW)), Some(at(NOW)));
        assert_eq!(
            date("d_yesterday", at(NOW)),
            Some(at("2024-03-12 15:04:05"))
        );
        assert_eq!(date("d_today", at(NOW)), None);
    }

    #[test]
    fn ranges_follow_the_browser_definitions() {
        let cases = [
            ("d_today", "2024-03-13 00:00:00", "2024-03-13 23:59:59"),
            ("d_yesterday", "2024-03-12 00:00:00", "2024-03-12 23:59:59"),
            ("d_this_week", "2024-03-10 00:00:00", "2024-03-16 23:59:59"),
            ("d_last_week", "2024-03-03 00:00:00", "2024-03-09 23:59:59"),
            ("d_this_month", "2024-03-01 00:00:00", "2024-03-31 23:59:59"),
            ("d_last_month", "2024-02-01 00:00:00", "2024-02-29 23:59:59"),
            ("d_this_year", "2024-01-01 00:00:00", "2024-12-31 23:59:59"),
            ("d_last_year", "2023-01-01 00:00:00", "2023-12-31 23:59:59"),
            ("d_last_hour", "2024-03-13 14:04:05", "2024-03-13 15:04:05"),
            (
                "d_last_8_hours",
                "2024-03-13 07:04:05",
                "2024-03-13 15:04:05",
            ),
            (
                "d_last_24_hours",
                "2024-03-12 15:04:05",
                "2024-03-13 15:04:05",
            ),
            (
                "d_last_7_days",
                "2024-03-06 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_14_days",
                "2024-02-28 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_30_days",
                "2024-02-12 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_60_days",
                "2024-01-13 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_90_days",
                "2023-12-14 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_12_months",
                "2023-03-13 00:00:00",
                "2024-03-13 23:59:59",
            ),
            (
                "d_last_2_years",
                "2022-03-13 00:00:00",
                "2024-03-13 23:59:59",
            ),
        ];
        for (key, start, end) in cases {
            let got = range(key, at(NOW)).unwrap_or_else(|| panic!("{key}"));
            assert_eq!(fmt(got), (start.to_owned(), end.to_owned()), "{key}");
        }
    }

    #[test]
    fn week_starts_on_sunday_even_on_sunday() {
        let sunday = at("2024-03-10 08:00:00");
        assert_eq!(
            fmt(range("d_this_week", sunday).unwrap()).0,
            "2024-03-10 00:00:00"
        );
    }

    #[test]
    fn month_arithmetic_clamps_like_moment() {
        let got = range("d_last_month", at("2024-03-31 10:00:00")).unwrap();
        assert_eq!(fmt(got).0, "2024-02-01 00:00:00");
    }

    #[test]
    fn extreme_clocks_do_not_panic() {
        let keys = [
            "d_today",
            "d_yesterday",
            "d_this_week",
            "d_last_week",
            "d_this_month",
            "d_last_month",
            "d_this_year",
            "d_last_year",
            "d_last_hour",
            "d_last_7_days",
            "d_last_12_months",
            "d_last_10_years",
        ];
        for now in [NaiveDateTime::MIN, NaiveDateTime::MAX] {
            for key in keys {
                let _ = range(key, now);
            }
            let _ = date("d_yesterday", now);
        }
        assert!(range("d_last_week", NaiveDateTime::MIN).is_none());
    }

    #[test]
    fn unknown_keys_are_none() {
        assert_eq!(range("d_now", at(NOW)), None);
        assert_eq!(range("d_last_5_days", at(NOW)), None);
    }
}
