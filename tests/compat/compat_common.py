"""Helpers shared by the client compatibility scripts.

The scripts are run by crates/cli/tests/compat.rs against a real `cairn up`. They read where the
server is and what the test database holds from the environment, and stop with a non-zero exit
status and a message at the first thing that differs from what a Redash server would answer.
"""

import json
import os
import sys
import time
from urllib.parse import urlparse

import requests


class Mismatch(Exception):
    """What the server answered differs from what Redash answers."""


def env(name):
    """The value of a required environment variable."""
    value = os.environ.get(name)
    if not value:
        raise Mismatch(f"environment variable {name} is not set (run me through compat.rs)")
    return value


class Setup:
    """Where the server is and what the test's SQLite database holds."""

    def __init__(self):
        self.url = env("CAIRN_URL").rstrip("/")
        self.api_key = env("CAIRN_API_KEY")
        self.sqlite_path = env("CAIRN_SQLITE_PATH")
        # Table `items` as the test wrote it: its columns in order and its rows in id order.
        items = json.loads(env("CAIRN_ITEMS"))
        self.columns = items["columns"]
        self.rows = [dict(zip(self.columns, row)) for row in items["rows"]]


def step(name):
    """Prints the step about to run, so a failure's output shows how far the script got."""
    print(f"-- {name}", flush=True)


def check(condition, message):
    """Raises Mismatch with `message` unless `condition`."""
    if not condition:
        raise Mismatch(message)


def eq(actual, expected, what):
    """Raises Mismatch unless `actual == expected`."""
    if actual != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {actual!r}")


def check_items_result(query_result, setup, what):
    """Checks a `query_result` object holds exactly the rows of table `items`."""
    data = query_result["data"]
    names = [c["name"] for c in data["columns"]]
    eq(names, setup.columns, f"{what}: column names")
    types = {c["name"]: c["type"] for c in data["columns"]}
    eq(types.get("id"), "integer", f"{what}: type of column id")
    eq(types.get("name"), "string", f"{what}: type of column name")
    eq(types.get("price"), "float", f"{what}: type of column price")
    eq(data["rows"], setup.rows, f"{what}: rows")
    check(isinstance(query_result["id"], int), f"{what}: result id {query_result['id']!r}")
    check(query_result["runtime"] >= 0, f"{what}: runtime {query_result['runtime']!r}")


def poll_job(get_json, job, timeout=60.0):
    """Polls `jobs/<id>` through `get_json(path)` until the job has ended; returns the job."""
    deadline = time.monotonic() + timeout
    while job["status"] in (1, 2):
        if time.monotonic() > deadline:
            raise Mismatch(f"job {job['id']} not done after {timeout} s: {job}")
        time.sleep(0.05)
        job = get_json(f"jobs/{job['id']}")["job"]
    check(job["status"] in (3, 4, 5), f"job status {job['status']!r} is not a Redash status")
    return job


def wait_for_job(get_json, job, timeout=60.0):
    """Polls a job until it ends and checks it finished (status 3) with a result id."""
    job = poll_job(get_json, job, timeout)
    if job["status"] != 3:
        raise Mismatch(f"job {job['id']} ended with status {job['status']}: {job.get('error')}")
    check(job.get("query_result_id"), f"finished job without query_result_id: {job}")
    return job


def share_token(public_url, setup):
    """The token of a share link `<base>/public/dashboards/<token>`."""
    check(public_url, f"no public_url: {public_url!r}")
    parsed = urlparse(public_url)
    eq(f"{parsed.scheme}://{parsed.netloc}", setup.url, "public_url's server")
    parts = parsed.path.strip("/").split("/")
    eq(parts[:2], ["public", "dashboards"], f"public_url path of {public_url}")
    check(len(parts) == 3 and parts[2], f"public_url has no token: {public_url}")
    return parts[2]


def fetch_public_dashboard(setup, token, name, widget_count):
    """Reads a shared dashboard without any key and checks what it shows and hides."""
    res = requests.get(f"{setup.url}/api/dashboards/public/{token}", timeout=30)
    eq(res.status_code, 200, f"GET /api/dashboards/public/<token> status ({res.text[:200]})")
    public = res.json()
    eq(public["name"], name, "public dashboard name")
    eq(len(public["widgets"]), widget_count, "public dashboard widget count")
    for w in public["widgets"]:
        vis = w.get("visualization")
        if vis:
            query = vis["query"]
            check("query" not in query, f"public dashboard leaks the SQL text: {query}")
            check("api_key" not in query, f"public dashboard leaks the query key: {query}")
    # A wrong token must not show anything.
    res = requests.get(f"{setup.url}/api/dashboards/public/{token}x", timeout=30)
    check(res.status_code in (403, 404), f"unknown token answered {res.status_code}")
    return public


def run(main):
    """Runs `main(setup)`; exits 1 with the message on a mismatch or any error."""
    try:
        main(Setup())
    except Mismatch as e:
        print(f"MISMATCH: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except Exception as e:  # noqa: BLE001 - a client raising is a failure too; show it whole
        import traceback

        traceback.print_exc()
        response = getattr(e, "response", None)
        if response is not None:
            print(f"response body: {response.text[:2000]}", file=sys.stderr, flush=True)
        print(f"ERROR: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    print("OK", flush=True)
