//! Refresh schedules: when a scheduled query is due, back-off after failures, and expiry.
//!
//! A query's `schedule` is Redash's `{interval, time, day_of_week, until}` (see
//! [`crate::model::Schedule`]). This module turns that raw record into a checked
//! [`RefreshSchedule`] once, with clear errors for bad input, and then answers the scheduler's
//! questions about it without any clock of its own: `now` is always passed in, so tests control
//! time completely.
//!
//! The due rule is Redash's `should_schedule_next`, reproduced exactly, quirks included, because
//! users moving from Redash expect their queries to refresh at the same moments:
//! - With no `time`, a query is due once `interval` seconds have passed since the last run.
//! - With a `time` (daily or longer), the last run is first moved back to the most recent
//!   `HH:MM` at or before it (so a run at 00:01 for a 23:59 slot still counts for that slot),
//!   then `interval` is added, the day is shifted to `day_of_week` if one is set, and the clock
//!   is set to `HH:MM`. Seconds of the last run are kept, as Python's `replace` keeps them.
//! - After `failures` consecutive failures, the next run waits another `2^failures` minutes;
//!   when that arithmetic overflows, the query is simply not due.
//! - A query is due when `now` is strictly after that instant.
//! - A schedule whose `until` day has begun (midnight UTC) is expired: it never runs and the
//!   housekeeping job clears it.
//!
//! A query that never ran counts from `now` in Redash (`retrieved_at or now`), which means it is
//! not due until something runs it once. [`RefreshSchedule::next_due`] keeps that rule when given
//! `None`; a scheduler that wants a first run can pass the time the schedule was set instead.

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use serde_json::Value;

use crate::model::Schedule;

/// One day in seconds: the shortest interval that may carry a time of day.
pub const DAY_SECONDS: i64 = 86_400;
/// One week in seconds: the shortest interval that may carry a day of the week.
pub const WEEK_SECONDS: i64 = 604_800;

/// Why a schedule was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The schedule is neither `null` nor a JSON object.
    #[error("schedule must be an object or null")]
    NotAnObject,
    /// A field has the wrong JSON type.
    #[error("schedule field '{field}' must be {expected}")]
    WrongType {
        /// The field name.
        field: &'static str,
        /// What it should have been.
        expected: &'static str,
    },
    /// `time`, `day_of_week` or `until` is set but `interval` is not.
    #[error("schedule interval is required")]
    MissingInterval,
    /// `interval` is not a whole number of seconds.
    #[error("schedule interval '{0}' is not a whole number of seconds")]
    InvalidInterval(String),
    /// `interval` is zero or negative.
    #[error("schedule interval must be positive, got {0}")]
    NonPositiveInterval(i64),
    /// `time` is not `HH:MM` on a 24-hour clock.
    #[error("schedule time '{0}' is not a time of day in HH:MM format")]
    InvalidTime(String),
    /// A time of day with an interval shorter than a day.
    #[error("schedule time needs an interval of at least one day (86400 seconds), got {0}")]
    TimeNeedsDailyInterval(i64),
    /// `day_of_week` is not an English day name.
    #[error("schedule day_of_week '{0}' is not a day name (Monday to Sunday)")]
    UnknownDay(String),
    /// A day of the week without a time of day.
    #[error("schedule day_of_week needs a time")]
    DayNeedsTime,
    /// A day of the week with an interval shorter than a week.
    #[error(
        "schedule day_of_week needs an interval of at least one week (604800 seconds), got {0}"
    )]
    DayNeedsWeeklyInterval(i64),
    /// `until` is not a `YYYY-MM-DD` date.
    #[error("schedule until '{0}' is not a date in YYYY-MM-DD format")]
    InvalidUntil(String),
}

/// A checked refresh schedule.
///
/// Invariants: `interval` is positive; a `time` implies `interval >= DAY_SECONDS`; a
/// `day_of_week` implies a `time` and `interval >= WEEK_SECONDS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshSchedule {
    interval: i64,
    time: Option<NaiveTime>,
    day_of_week: Option<Weekday>,
    until: Option<NaiveDate>,
}

impl RefreshSchedule {
    /// Checks a schedule as the API receives it.
    ///
    /// `null`, and an object whose fields are all `null` or absent, mean "no schedule" and give
    /// `Ok(None)`. Unknown fields (such as Redash's `disabled`) are ignored. `interval` may be a
    /// JSON integer or, as in old Redash data, a string of digits. Day names are matched without
    /// regard to case.
    ///
    /// # Errors
    ///
    /// A [`ScheduleError`] naming the first field that is wrong.
    pub fn from_json(value: &Value) -> Result<Option<Self>, ScheduleError> {
        let object = match value {
            Value::Null => return Ok(None),
            Value::Object(object) => object,
            _ => return Err(ScheduleError::NotAnObject),
        };
        let interval = match object.get("interval") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => Some(interval_from_number(n)?),
            Some(Value::String(s)) => Some(
                s.trim()
                    .parse::<i64>()
                    .map_err(|_| ScheduleError::InvalidInterval(s.clone()))?,
            ),
            Some(_) => {
                return Err(ScheduleError::WrongType {
                    field: "interval",
                    expected: "a number of seconds",
                });
            }
        };
        Self::from_parts(
            interval,
            optional_string(object.get("time"), "time")?,
            optional_string(object.get("day_of_week"), "day_of_week")?,
            optional_string(object.get("until"), "until")?,
        )
    }

    /// Checks a stored [`Schedule`] record; see [`RefreshSchedule::from_json`] for the rules.
    ///
    /// # Errors
    ///
    /// A [`ScheduleError`] naming the first field that is wrong.
    pub fn from_model(schedule: &Schedule) -> Result<Option<Self>, ScheduleError> {
        Self::from_parts(
            schedule.interval,
            schedule.time.as_deref(),
            schedule.day_of_week.as_deref(),
            schedule.until.as_deref(),
        )
    }

    /// Checks the four fields of a schedule; all `None` means "no schedule".
    ///
    /// # Errors
    ///
    /// A [`ScheduleError`] naming the first field that is wrong.
    pub fn from_parts(
        interval: Option<i64>,
        time: Option<&str>,
        day_of_week: Option<&str>,
        until: Option<&str>,
    ) -> Result<Option<Self>, ScheduleError> {
        let Some(interval) = interval else {
            return if time.is_none() && day_of_week.is_none() && until.is_none() {
                Ok(None)
            } else {
                Err(ScheduleError::MissingInterval)
            };
        };
        if interval <= 0 {
            return Err(ScheduleError::NonPositiveInterval(interval));
        }
        let time = time.map(parse_time).transpose()?;
        if time.is_some() && interval < DAY_SECONDS {
            return Err(ScheduleError::TimeNeedsDailyInterval(interval));
        }
        let day_of_week = day_of_week.map(parse_day).transpose()?;
        if day_of_week.is_some() {
            if time.is_none() {
                return Err(ScheduleError::DayNeedsTime);
            }
            if interval < WEEK_SECONDS {
                return Err(ScheduleError::DayNeedsWeeklyInterval(interval));
            }
        }
        let until = until
            .map(|s| {
                NaiveDate::parse_from_str(s, "%Y-%m-%d")
                    .map_err(|_| ScheduleError::InvalidUntil(s.to_owned()))
            })
            .transpose()?;
        Ok(Some(RefreshSchedule {
            interval,
            time,
            day_of_week,
            until,
        }))
    }

    /// The record in Redash's shape, with canonical spellings (`HH:MM`, `Monday`, `YYYY-MM-DD`).
    pub fn to_model(&self) -> Schedule {
        Schedule {
            interval: Some(self.interval),
            time: self.time.map(|t| t.format("%H:%M").to_string()),
            day_of_week: self.day_of_week.map(|d| day_name(d).to_owned()),
            until: self.until.map(|d| d.format("%Y-%m-%d").to_string()),
        }
    }

    /// Seconds between runs.
    pub fn interval(&self) -> i64 {
        self.interval
    }

    /// The time of day (UTC) for daily and longer schedules.
    pub fn time(&self) -> Option<NaiveTime> {
        self.time
    }

    /// The day of the week for weekly schedules.
    pub fn day_of_week(&self) -> Option<Weekday> {
        self.day_of_week
    }

    /// The day on whose midnight (UTC) the schedule stops.
    pub fn until(&self) -> Option<NaiveDate> {
        self.until
    }

    /// Whether the schedule has ended: its `until` day has begun (Redash: `until <= now`).
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.until
            .is_some_and(|day| Utc.from_utc_datetime(&day.and_time(NaiveTime::MIN)) <= now)
    }

    /// The instant after which the query is due, or `None` when it never will be (the back-off
    /// overflowed). Expiry is not considered here; see [`RefreshSchedule::is_due`].
    ///
    /// `last_run` is when the query last ran (Redash: its last scheduled execution, else its
    /// latest result's `retrieved_at`); `None` counts from `now`, as Redash does.
    pub fn next_due(
        &self,
        last_run: Option<DateTime<Utc>>,
        failures: u32,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let previous = last_run.unwrap_or(now);
        let next = match self.time {
            None => previous.checked_add_signed(Duration::try_seconds(self.interval)?)?,
            Some(time) => self.next_at_time_of_day(previous, time)?,
        };
        match backoff(failures) {
            Some(delay) if !delay.is_zero() => next.checked_add_signed(delay),
            Some(_) => Some(next),
            None => None,
        }
    }

    /// Whether the scheduler should enqueue the query now: not expired, and `now` is strictly
    /// after [`RefreshSchedule::next_due`].
    pub fn is_due(
        &self,
        last_run: Option<DateTime<Utc>>,
        failures: u32,
        now: DateTime<Utc>,
    ) -> bool {
        !self.is_expired(now)
            && self
                .next_due(last_run, failures, now)
                .is_some_and(|due| now > due)
    }

    fn next_at_time_of_day(
        &self,
        previous: DateTime<Utc>,
        time: NaiveTime,
    ) -> Option<DateTime<Utc>> {
        let at_time = |t: DateTime<Utc>| t.with_hour(time.hour())?.with_minute(time.minute());
        let normalized = at_time(previous)?;
        let base = if normalized > previous {
            normalized.checked_sub_signed(Duration::days(1))?
        } else {
            previous
        };
        let days_to_add = self.day_of_week.map_or(0, |day| {
            i64::from(day.num_days_from_monday())
                - i64::from(normalized.weekday().num_days_from_monday())
        });
        let shifted = base
            .checked_add_signed(Duration::try_seconds(self.interval)?)?
            .checked_add_signed(Duration::try_days(days_to_add)?)?;
        at_time(shifted)
    }
}

impl TryFrom<&Schedule> for RefreshSchedule {
    type Error = ScheduleError;

    /// Like [`RefreshSchedule::from_model`], but a schedule with no fields set is an error
    /// ([`ScheduleError::MissingInterval`]).
    fn try_from(schedule: &Schedule) -> Result<Self, Self::Error> {
        RefreshSchedule::from_model(schedule)?.ok_or(ScheduleError::MissingInterval)
    }
}

/// The extra wait after `failures` consecutive failed runs: `2^failures` minutes, none after
/// zero failures, `None` when it does not fit in a [`Duration`].
pub fn backoff(failures: u32) -> Option<Duration> {
    if failures == 0 {
        return Some(Duration::zero());
    }
    let minutes = 1_i64.checked_shl(failures).filter(|m| *m > 0)?;
    Duration::try_minutes(minutes)
}

fn interval_from_number(n: &serde_json::Number) -> Result<i64, ScheduleError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(ScheduleError::InvalidInterval(n.to_string())),
    }
}

fn optional_string<'a>(
    value: Option<&'a Value>,
    field: &'static str,
) -> Result<Option<&'a str>, ScheduleError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(ScheduleError::WrongType {
            field,
            expected: "a string or null",
        }),
    }
}

/// `H:MM` or `HH:MM`, hours 0-23 and minutes 0-59 (Redash splits on `:` and calls `int`).
fn parse_time(text: &str) -> Result<NaiveTime, ScheduleError> {
    let invalid = || ScheduleError::InvalidTime(text.to_owned());
    let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
    let number = |part: &str| -> Option<u32> {
        let ok = (1..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| part.parse().ok()).flatten()
    };
    let (hour, minute) = (
        number(hour).ok_or_else(invalid)?,
        number(minute).ok_or_else(invalid)?,
    );
    NaiveTime::from_hms_opt(hour, minute, 0).ok_or_else(invalid)
}

fn parse_day(text: &str) -> Result<Weekday, ScheduleError> {
    const WEEK: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    WEEK.into_iter()
        .find(|day| day_name(*day).eq_ignore_ascii_case(text))
        .ok_or_else(|| ScheduleError::UnknownDay(text.to_owned()))
}

fn day_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
mod tests;
