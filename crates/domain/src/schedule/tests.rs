use super::*;
use serde_json::json;

fn at(text: &str) -> DateTime<Utc> {
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S")
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"));
    Utc.from_utc_datetime(&naive)
}

fn schedule(interval: i64, time: Option<&str>, day: Option<&str>) -> RefreshSchedule {
    RefreshSchedule::from_parts(Some(interval), time, day, None)
        .expect("valid schedule")
        .expect("a schedule")
}

/// `(last run, now, interval, time, day_of_week, failures, due, next iteration)`, computed by
/// Redash's own `should_schedule_next` (Python 3).
type RedashCase = (
    &'static str,
    &'static str,
    i64,
    Option<&'static str>,
    Option<&'static str>,
    u32,
    bool,
    Option<&'static str>,
);

const REDASH_CASES: &[RedashCase] = &[
    (
        "2024-03-10T12:00:00",
        "2024-03-10T12:59:59",
        3600,
        None,
        None,
        0,
        false,
        Some("2024-03-10T13:00:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T13:00:00",
        3600,
        None,
        None,
        0,
        false,
        Some("2024-03-10T13:00:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T13:00:01",
        3600,
        None,
        None,
        0,
        true,
        Some("2024-03-10T13:00:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T13:01:59",
        3600,
        None,
        None,
        1,
        false,
        Some("2024-03-10T13:02:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T13:02:01",
        3600,
        None,
        None,
        1,
        true,
        Some("2024-03-10T13:02:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T13:16:01",
        3600,
        None,
        None,
        4,
        true,
        Some("2024-03-10T13:16:00"),
    ),
    (
        "2024-03-10T23:59:00",
        "2024-03-11T00:01:00",
        86400,
        Some("23:59"),
        None,
        0,
        false,
        Some("2024-03-11T23:59:00"),
    ),
    (
        "2024-03-11T00:01:00",
        "2024-03-11T23:59:30",
        86400,
        Some("23:59"),
        None,
        0,
        true,
        Some("2024-03-11T23:59:00"),
    ),
    (
        "2024-03-11T00:01:00",
        "2024-03-12T00:00:30",
        86400,
        Some("23:59"),
        None,
        0,
        true,
        Some("2024-03-11T23:59:00"),
    ),
    (
        "2024-03-10T08:00:00",
        "2024-03-11T09:00:00",
        86400,
        Some("09:30"),
        None,
        0,
        true,
        Some("2024-03-10T09:30:00"),
    ),
    (
        "2024-03-10T08:00:00",
        "2024-03-10T09:30:01",
        86400,
        Some("09:30"),
        None,
        0,
        true,
        Some("2024-03-10T09:30:00"),
    ),
    (
        "2024-03-10T08:00:00",
        "2024-03-10T09:29:59",
        86400,
        Some("09:30"),
        None,
        0,
        false,
        Some("2024-03-10T09:30:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-11T09:30:01",
        86400,
        Some("09:30"),
        None,
        0,
        true,
        Some("2024-03-11T09:30:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-11T09:29:00",
        86400,
        Some("09:30"),
        None,
        0,
        false,
        Some("2024-03-11T09:30:00"),
    ),
    (
        "2024-03-10T10:00:45",
        "2024-03-11T09:30:30",
        86400,
        Some("09:30"),
        None,
        0,
        false,
        Some("2024-03-11T09:30:45"),
    ),
    (
        "2024-03-10T10:00:45",
        "2024-03-11T09:30:46",
        86400,
        Some("09:30"),
        None,
        0,
        true,
        Some("2024-03-11T09:30:45"),
    ),
    (
        "2024-03-13T10:00:00",
        "2024-03-18T10:00:00",
        604800,
        Some("10:00"),
        Some("Monday"),
        0,
        false,
        Some("2024-03-18T10:00:00"),
    ),
    (
        "2024-03-13T10:00:00",
        "2024-03-18T10:00:01",
        604800,
        Some("10:00"),
        Some("Monday"),
        0,
        true,
        Some("2024-03-18T10:00:00"),
    ),
    (
        "2024-03-11T10:00:00",
        "2024-03-18T10:00:01",
        604800,
        Some("10:00"),
        Some("Monday"),
        0,
        true,
        Some("2024-03-18T10:00:00"),
    ),
    (
        "2024-03-11T09:00:00",
        "2024-03-11T10:00:01",
        604800,
        Some("10:00"),
        Some("Monday"),
        0,
        false,
        Some("2024-03-17T10:00:00"),
    ),
    (
        "2024-03-17T23:00:00",
        "2024-03-18T06:00:01",
        604800,
        Some("06:00"),
        Some("Monday"),
        0,
        true,
        Some("2024-03-18T06:00:00"),
    ),
    (
        "2024-03-16T10:00:00",
        "2024-03-23T10:00:01",
        604800,
        Some("10:00"),
        Some("Sunday"),
        0,
        false,
        Some("2024-03-24T10:00:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-12T10:00:01",
        172800,
        Some("10:00"),
        None,
        0,
        true,
        Some("2024-03-12T10:00:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-11T10:00:01",
        172800,
        Some("10:00"),
        None,
        0,
        false,
        Some("2024-03-12T10:00:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-11T10:00:01",
        86400,
        Some("10:00"),
        None,
        3,
        false,
        Some("2024-03-11T10:08:00"),
    ),
    (
        "2024-03-10T10:00:00",
        "2024-03-11T10:08:01",
        86400,
        Some("10:00"),
        None,
        3,
        true,
        Some("2024-03-11T10:08:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2030-03-10T13:00:00",
        3600,
        None,
        None,
        51,
        false,
        None,
    ),
    (
        "2024-02-28T12:00:00",
        "2024-03-01T05:00:01",
        86400,
        Some("05:00"),
        None,
        0,
        true,
        Some("2024-02-29T05:00:00"),
    ),
    (
        "2024-12-31T22:00:00",
        "2025-01-01T22:00:01",
        86400,
        Some("22:00"),
        None,
        0,
        true,
        Some("2025-01-01T22:00:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-11T12:00:01",
        86400,
        None,
        None,
        0,
        true,
        Some("2024-03-11T12:00:00"),
    ),
    (
        "2024-03-10T12:00:00",
        "2024-03-10T12:05:01",
        300,
        None,
        None,
        0,
        true,
        Some("2024-03-10T12:05:00"),
    ),
];

#[test]
fn agrees_with_redash_should_schedule_next() {
    for (i, (last, now, interval, time, day, failures, due, next)) in
        REDASH_CASES.iter().enumerate()
    {
        let s = schedule(*interval, *time, *day);
        let (last, now) = (at(last), at(now));
        assert_eq!(
            s.next_due(Some(last), *failures, now),
            next.map(at),
            "case {i}: next iteration"
        );
        assert_eq!(s.is_due(Some(last), *failures, now), *due, "case {i}: due");
    }
}

#[test]
fn never_run_counts_from_now_as_in_redash() {
    let now = at("2024-03-10T12:00:00");
    let hourly = schedule(3600, None, None);
    assert_eq!(
        hourly.next_due(None, 0, now),
        Some(at("2024-03-10T13:00:00"))
    );
    assert!(!hourly.is_due(None, 0, now));
    let daily = schedule(DAY_SECONDS, Some("11:00"), None);
    assert!(!daily.is_due(None, 0, now));
}

#[test]
fn backoff_doubles_each_failure() {
    assert_eq!(backoff(0), Some(Duration::zero()));
    assert_eq!(backoff(1), Some(Duration::minutes(2)));
    assert_eq!(backoff(2), Some(Duration::minutes(4)));
    assert_eq!(backoff(10), Some(Duration::minutes(1024)));
    assert_eq!(backoff(63), None);
    assert_eq!(backoff(200), None);
}

#[test]
fn huge_failure_counts_are_never_due() {
    let s = schedule(60, None, None);
    let last = at("2024-03-10T12:00:00");
    let far = at("9999-12-31T00:00:00");
    for failures in [40, 50, 62, 63, 64, u32::MAX] {
        assert!(!s.is_due(Some(last), failures, far), "failures {failures}");
    }
}

#[test]
fn expiry_starts_at_midnight_of_until() {
    let s = RefreshSchedule::from_parts(Some(3600), None, None, Some("2024-03-10"))
        .unwrap()
        .unwrap();
    assert!(!s.is_expired(at("2024-03-09T23:59:59")));
    assert!(s.is_expired(at("2024-03-10T00:00:00")));
    assert!(s.is_expired(at("2025-01-01T00:00:00")));
    assert!(!s.is_due(
        Some(at("2024-03-01T00:00:00")),
        0,
        at("2024-03-10T00:00:01")
    ));
    assert!(s.is_due(
        Some(at("2024-03-01T00:00:00")),
        0,
        at("2024-03-09T00:00:01")
    ));
}

#[test]
fn no_until_never_expires() {
    assert!(!schedule(60, None, None).is_expired(at("9999-01-01T00:00:00")));
}

#[test]
fn json_null_and_all_null_mean_no_schedule() {
    assert_eq!(RefreshSchedule::from_json(&Value::Null), Ok(None));
    let all_null = json!({"interval": null, "time": null, "day_of_week": null, "until": null});
    assert_eq!(RefreshSchedule::from_json(&all_null), Ok(None));
    assert_eq!(RefreshSchedule::from_json(&json!({})), Ok(None));
}

#[test]
fn json_weekly_schedule_round_trips_to_canonical_model() {
    let value = json!({"interval": 604800, "time": "9:05", "day_of_week": "monday",
                       "until": "2030-01-31", "disabled": false});
    let s = RefreshSchedule::from_json(&value).unwrap().unwrap();
    assert_eq!(s.interval(), WEEK_SECONDS);
    assert_eq!(s.time(), NaiveTime::from_hms_opt(9, 5, 0));
    assert_eq!(s.day_of_week(), Some(Weekday::Mon));
    assert_eq!(s.until(), NaiveDate::from_ymd_opt(2030, 1, 31));
    let model = s.to_model();
    assert_eq!(model.time.as_deref(), Some("09:05"));
    assert_eq!(model.day_of_week.as_deref(), Some("Monday"));
    assert_eq!(model.until.as_deref(), Some("2030-01-31"));
    assert_eq!(RefreshSchedule::try_from(&model), Ok(s));
}

#[test]
fn json_accepts_legacy_string_and_integral_float_intervals() {
    let s = RefreshSchedule::from_json(&json!({"interval": "3600"}))
        .unwrap()
        .unwrap();
    assert_eq!(s.interval(), 3600);
    let s = RefreshSchedule::from_json(&json!({"interval": 300.0}))
        .unwrap()
        .unwrap();
    assert_eq!(s.interval(), 300);
}

#[test]
fn json_errors_are_clear() {
    let cases: &[(Value, ScheduleError)] = &[
        (json!(5), ScheduleError::NotAnObject),
        (
            json!({"interval": -60}),
            ScheduleError::NonPositiveInterval(-60),
        ),
        (
            json!({"interval": 0}),
            ScheduleError::NonPositiveInterval(0),
        ),
        (
            json!({"interval": 1.5}),
            ScheduleError::InvalidInterval("1.5".into()),
        ),
        (
            json!({"interval": "hourly"}),
            ScheduleError::InvalidInterval("hourly".into()),
        ),
        (
            json!({"interval": true}),
            ScheduleError::WrongType {
                field: "interval",
                expected: "a number of seconds",
            },
        ),
        (json!({"time": "10:00"}), ScheduleError::MissingInterval),
        (
            json!({"interval": 86400, "time": "25:00"}),
            ScheduleError::InvalidTime("25:00".into()),
        ),
        (
            json!({"interval": 86400, "time": "10:60"}),
            ScheduleError::InvalidTime("10:60".into()),
        ),
        (
            json!({"interval": 86400, "time": "1000"}),
            ScheduleError::InvalidTime("1000".into()),
        ),
        (
            json!({"interval": 86400, "time": "10:00:00"}),
            ScheduleError::InvalidTime("10:00:00".into()),
        ),
        (
            json!({"interval": 86400, "time": "-1:00"}),
            ScheduleError::InvalidTime("-1:00".into()),
        ),
        (
            json!({"interval": 3600, "time": "10:00"}),
            ScheduleError::TimeNeedsDailyInterval(3600),
        ),
        (
            json!({"interval": 604800, "time": "10:00", "day_of_week": "Funday"}),
            ScheduleError::UnknownDay("Funday".into()),
        ),
        (
            json!({"interval": 604800, "day_of_week": "Monday"}),
            ScheduleError::DayNeedsTime,
        ),
        (
            json!({"interval": 86400, "time": "10:00", "day_of_week": "Monday"}),
            ScheduleError::DayNeedsWeeklyInterval(86400),
        ),
        (
            json!({"interval": 60, "until": "2024-13-01"}),
            ScheduleError::InvalidUntil("2024-13-01".into()),
        ),
        (
            json!({"interval": 60, "until": "tomorrow"}),
            ScheduleError::InvalidUntil("tomorrow".into()),
        ),
        (
            json!({"interval": 60, "until": 20240101}),
            ScheduleError::WrongType {
                field: "until",
                expected: "a string or null",
            },
        ),
    ];
    for (value, expected) in cases {
        assert_eq!(
            RefreshSchedule::from_json(value).as_ref(),
            Err(expected),
            "{value}"
        );
    }
}

#[test]
fn error_messages_name_the_field_and_value() {
    let err = RefreshSchedule::from_json(&json!({"interval": 86400, "time": "7pm"})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schedule time '7pm' is not a time of day in HH:MM format"
    );
    let err = RefreshSchedule::from_json(&json!({"interval": -5})).unwrap_err();
    assert_eq!(
        err.to_string(),
        "schedule interval must be positive, got -5"
    );
}

#[test]
fn empty_model_is_not_a_schedule() {
    assert_eq!(RefreshSchedule::from_model(&Schedule::default()), Ok(None));
    assert_eq!(
        RefreshSchedule::try_from(&Schedule::default()),
        Err(ScheduleError::MissingInterval)
    );
}

#[test]
fn daily_schedule_runs_once_per_day_over_a_simulated_month() {
    let s = schedule(DAY_SECONDS, Some("06:30"), None);
    let mut last = at("2024-01-01T06:30:00");
    let mut now = last;
    let mut runs = Vec::new();
    while now < at("2024-02-01T00:00:00") {
        now += Duration::seconds(30);
        if s.is_due(Some(last), 0, now) {
            runs.push(now);
            last = now;
        }
    }
    assert_eq!(runs.len(), 30, "{runs:?}");
    for run in &runs {
        // Redash keeps the last run's seconds, so a run may slip into the next minute.
        let late = *run - run.date_naive().and_hms_opt(6, 30, 0).unwrap().and_utc();
        assert!(
            late > Duration::zero() && late <= Duration::seconds(60),
            "{run}"
        );
    }
}

#[test]
fn weekly_schedule_runs_on_its_day_over_a_simulated_quarter() {
    let s = schedule(WEEK_SECONDS, Some("08:00"), Some("Wednesday"));
    let mut last = at("2024-01-03T08:00:30");
    let mut now = last;
    let mut runs = Vec::new();
    while now < at("2024-04-01T00:00:00") {
        now += Duration::minutes(1);
        if s.is_due(Some(last), 0, now) {
            runs.push(now);
            last = now;
        }
    }
    assert_eq!(runs.len(), 12, "{runs:?}");
    for run in &runs {
        assert_eq!(run.weekday(), Weekday::Wed, "{run}");
        assert_eq!(run.hour(), 8, "{run}");
    }
}

#[test]
fn extreme_last_runs_do_not_panic() {
    let now = at("2024-03-10T12:00:00");
    for s in [
        schedule(3600, None, None),
        schedule(DAY_SECONDS, Some("23:59"), None),
        schedule(WEEK_SECONDS, Some("00:00"), Some("Sunday")),
        schedule(i64::MAX, None, None),
    ] {
        assert_eq!(s.next_due(Some(DateTime::<Utc>::MAX_UTC), 0, now), None);
        assert!(!s.is_due(Some(DateTime::<Utc>::MAX_UTC), 3, now));
        assert!(!s.is_due(Some(DateTime::<Utc>::MIN_UTC), 70, now));
    }
    assert!(schedule(3600, None, None).is_due(Some(DateTime::<Utc>::MIN_UTC), 0, now));
}
