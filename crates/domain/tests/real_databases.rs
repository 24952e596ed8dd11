//! Rendered parameters against the real lexers: PostgreSQL and MariaDB started by
//! `cairn-testkit`, and SQLite through its `sqlite3` shell on an in-memory database, run every
//! rendered query, and each must return exactly the value that was passed in, as one row of one
//! column.
//!
//! The unit tests check rendering against Cairn's own model of each dialect; this checks the
//! model. Every case is wrapped as `SELECT <id>, hex(v) FROM (<rendered query>) s`, so a value
//! that escaped its literal would either break the statement (the client stops on the first
//! error) or change the returned bytes.

use std::io::Write;
use std::process::{Command, Stdio};

use cairn_domain::params::{Dialect, ParamError, ParameterSpec, render};
use cairn_testkit::mariadb::MariaDbServer;
use cairn_testkit::postgres::PgServer;
use chrono::{TimeZone, Utc};
use serde_json::json;

/// Hand-picked attacks; [`values`] adds generated ones.
const ATTACKS: &[&str] = &[
    "'; DROP TABLE x; --",
    "\\'; DROP TABLE x; --",
    "\\\\'; DROP TABLE x; --",
    "\"; DROP TABLE x; --",
    "`; DROP TABLE x; --",
    "' OR '1'='1",
    "\\",
    "a\\",
    "\\\"",
    "'",
    "''",
    "$$; DROP TABLE x; --",
    "$q$; DROP TABLE x; --",
    "*/ DROP TABLE x; /*",
    "/*!50000 DROP TABLE x */",
    "x\nDROP TABLE x; --",
    "-- x",
    "# x",
    "{{ t }}",
    "É\u{2028}'\u{feff}",
    "%_",
    "",
];

/// The attacks plus strings drawn from the characters that matter to SQL lexers, from a fixed
/// seed so that failures reproduce.
fn values() -> Vec<String> {
    const CHARS: &[char] = &[
        '-', '\'', '"', '`', '\\', '$', ';', '*', '/', '#', '\n', '[', ']', ' ', 'a', 'E', 'q',
        'N', '{', '}', '!', '%', '_', '\t', 'é', '\u{2028}',
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |bound: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % bound as u64) as usize
    };
    let mut all: Vec<String> = ATTACKS.iter().map(|s| (*s).to_owned()).collect();
    for _ in 0..300 {
        let len = next(14);
        all.push((0..len).map(|_| CHARS[next(CHARS.len())]).collect());
    }
    all
}

/// A template and what its one row must hold (`{}` is the value); `refusable` when the value
/// may be refused (comments, dollar quotes) instead of rendered.
struct Case {
    template: &'static str,
    expected: &'static str,
    refusable: bool,
}

const fn case(template: &'static str, expected: &'static str, refusable: bool) -> Case {
    Case {
        template,
        expected,
        refusable,
    }
}

const POSTGRES: &[Case] = &[
    case("SELECT '{{ t }}' AS v", "{}", false),
    case("SELECT {{ t }} AS v", "{}", false),
    case("SELECT E'{{ t }}' AS v", "{}", false),
    case("SELECT 'x' || {{ t }} || 'y' AS v", "x{}y", false),
    case("SELECT $$ {{ t }} $$ AS v", " {} ", true),
    case("SELECT $q$ {{ t }} $q$ AS v", " {} ", true),
    case("SELECT 'a' AS v -- {{ t }}\n", "a", true),
    case("SELECT /* {{ t }} */ 'a' AS v", "a", true),
];

const MARIADB: &[Case] = &[
    case("SELECT '{{ t }}' AS v", "{}", false),
    case("SELECT {{ t }} AS v", "{}", false),
    case("SELECT \"{{ t }}\" AS v", "{}", false),
    case("SELECT CONCAT('x', {{ t }}, 'y') AS v", "x{}y", false),
    case("SELECT 'a' AS v -- {{ t }}\n", "a", true),
    case("SELECT 'a' AS v # {{ t }}\n", "a", true),
    case("SELECT /* {{ t }} */ 'a' AS v", "a", true),
    case("SELECT /*{{ t }} */ 'a' AS v", "a", true),
];

const SQLITE: &[Case] = &[
    case("SELECT '{{ t }}' AS v", "{}", false),
    case("SELECT {{ t }} AS v", "{}", false),
    case("SELECT 'x' || {{ t }} || 'y' AS v", "x{}y", false),
    case("SELECT \"{{ t }}\" AS v", "{}", false),
    case("SELECT 'a' AS v -- {{ t }}\n", "a", true),
    case("SELECT /* {{ t }} */ 'a' AS v", "a", true),
    case(
        "SELECT \"{{ t }}\" AS v FROM (SELECT 'ok' AS \"{{ t }}\")",
        "ok",
        false,
    ),
    case(
        "SELECT [{{ t }}] AS v FROM (SELECT 'ok' AS [{{ t }}])",
        "ok",
        true,
    ),
    case(
        "SELECT `{{ t }}` AS v FROM (SELECT 'ok' AS `{{ t }}`)",
        "ok",
        false,
    ),
];

/// `(id, rendered query, expected value)` for every case that renders; refusals are checked
/// to be allowed and left out.
fn rendered(dialect: Dialect, cases: &[Case]) -> Vec<(usize, String, String)> {
    let specs = ParameterSpec::parse_list(&json!([{"name": "t", "type": "text"}])).unwrap();
    let now = Utc.with_ymd_and_hms(2024, 3, 13, 0, 0, 0).unwrap();
    let mut out = Vec::new();
    for case in cases {
        for value in values() {
            let values = json!({ "t": value });
            match render(
                case.template,
                &specs,
                values.as_object().unwrap(),
                dialect,
                now,
            ) {
                Ok(sql) => out.push((out.len(), sql, case.expected.replace("{}", &value))),
                Err(ParamError::Unsafe { .. } | ParamError::StructureChanged) if case.refusable => {
                }
                Err(e) => panic!("{} with {value:?}: {e}", case.template),
            }
        }
    }
    out
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02X}")).collect()
}

/// Checks `output` (`id|HEX` lines) against the expected values.
fn check(output: &str, cases: &[(usize, String, String)], expected: impl Fn(&str) -> String) {
    let lines: Vec<&str> = output.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), cases.len(), "one row per query");
    for ((id, sql, value), line) in cases.iter().zip(lines) {
        let want = format!("{id}|{}", hex(&expected(value)));
        assert_eq!(line.to_uppercase(), want, "query {sql:?}");
    }
}

#[test]
fn postgres_returns_every_value_unchanged() {
    let server = PgServer::shared();
    let cases = rendered(Dialect::Postgres, POSTGRES);
    assert!(cases.len() > 2000, "most cases render: {}", cases.len());
    let script: String = cases
        .iter()
        .map(|(id, sql, _)| {
            format!(
                "SELECT '{id}' || '|' || encode(convert_to(v::text, 'UTF8'), 'hex') FROM (\n{sql}\n) s;\n"
            )
        })
        .collect();
    let mut psql = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
        ])
        .args([
            "-p",
            &server.port().to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run psql");
    psql.stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = psql.wait_with_output().expect("psql output");
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&String::from_utf8_lossy(&out.stdout), &cases, str::to_owned);
}

/// Runs the cases in `sql_mode` `mode`, in batches that fit a command-line argument.
fn run_mariadb(server: &MariaDbServer, cases: &[(usize, String, String)], mode: &str) -> String {
    cases
        .chunks(200)
        .map(|batch| {
            let mut script = format!("SET SESSION sql_mode = '{mode}';\n");
            for (id, sql, _) in batch {
                script.push_str(&format!(
                    "SELECT CONCAT('{id}', '|', HEX(v)) FROM (\n{sql}\n) s;\n"
                ));
            }
            server.sql(&script)
        })
        .collect()
}

#[test]
fn mariadb_returns_every_value_unchanged() {
    let server = MariaDbServer::shared();
    let cases = rendered(Dialect::MySql, MARIADB);
    assert!(cases.len() > 1500, "most cases render: {}", cases.len());
    let output = run_mariadb(server, &cases, "STRICT_TRANS_TABLES");
    check(&output, &cases, str::to_owned);
}

#[test]
fn mariadb_without_backslash_escapes_only_doubles_backslashes() {
    let server = MariaDbServer::shared();
    let cases = rendered(Dialect::MySql, MARIADB);
    let output = run_mariadb(server, &cases, "NO_BACKSLASH_ESCAPES");
    check(&output, &cases, |value| value.replace('\\', "\\\\"));
}

#[test]
fn sqlite_returns_every_value_unchanged() {
    let cases = rendered(Dialect::Sqlite, SQLITE);
    assert!(cases.len() > 1500, "most cases render: {}", cases.len());
    let mut script = String::from(".bail on\n");
    for (id, sql, _) in &cases {
        script.push_str(&format!(
            "SELECT '{id}' || '|' || hex(v) FROM (\n{sql}\n);\n"
        ));
    }
    let mut shell = Command::new("sqlite3")
        .args(["-batch", ":memory:"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run sqlite3 (scripts/test.sh installs it)");
    shell
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("write script");
    let out = shell.wait_with_output().expect("sqlite3 output");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "sqlite3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    check(&String::from_utf8_lossy(&out.stdout), &cases, str::to_owned);
}
