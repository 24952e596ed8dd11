"""Drives the PyPI client `redash-api-client` (module redashAPI) through Cairn unchanged.

That client treats any status but 200 as an error and polls /api/jobs/<id> every 0.2 s until
status 3, then reads /api/query_results/<id>: both are checked here by using it as shipped.
"""

import csv as csv_module
import io

from compat_common import (
    check,
    check_items_result,
    eq,
    fetch_public_dashboard,
    poll_job,
    run,
    share_token,
    step,
    wait_for_job,
)
from redashAPI import RedashAPIClient

ITEMS_SQL = "SELECT {cols} FROM items ORDER BY id"


def main(setup):
    api = RedashAPIClient(setup.api_key, setup.url)
    get_json = lambda path: api.get(path).json()  # noqa: E731
    sql = ITEMS_SQL.format(cols=", ".join(setup.columns))

    step("create a sqlite data source")
    ds = api.create_data_source("sqlite", "compat items", {"dbpath": setup.sqlite_path}).json()
    eq(ds["type"], "sqlite", "data source type")
    eq(ds["name"], "compat items", "data source name")
    ds_id = ds["id"]
    listed = [d for d in get_json("data_sources") if d["id"] == ds_id]
    eq(len(listed), 1, "new data source in GET /api/data_sources")

    step("query_and_wait_result (ad-hoc, polls the job)")
    res = api.query_and_wait_result(ds_id, sql, timeout=60).json()
    check_items_result(res["query_result"], setup, "query_and_wait_result")
    eq(res["query_result"]["data_source_id"], ds_id, "result's data source")

    step("create_query (runs it too) and generate_query_results with query_id")
    query = api.create_query(ds_id, "compat items query", sql, desc="items by id").json()
    qid = query["id"]
    eq(query["query"], sql, "saved query text")
    eq(query["data_source_id"], ds_id, "saved query data source")
    job = api.generate_query_results(ds_id, sql, qry_id=qid, max_age=0).json()["job"]
    job = wait_for_job(get_json, job)
    result = get_json(f"query_results/{job['query_result_id']}")["query_result"]
    check_items_result(result, setup, "generate_query_results + jobs polling")

    step("a cached run (max_age -1) answers with the result at once")
    cached = api.generate_query_results(ds_id, sql, max_age=-1).json()
    check("query_result" in cached, f"max_age -1 after a run gave no cached result: {cached}")
    check_items_result(cached["query_result"], setup, "cached result")

    step("refresh_query and the query's latest result")
    job = wait_for_job(get_json, api.refresh_query(qid).json()["job"])
    latest = get_json(f"queries/{qid}")["latest_query_data_id"]
    eq(latest, job["query_result_id"], "latest_query_data_id after refresh")
    check_items_result(get_json(f"queries/{qid}/results")["query_result"], setup, "latest result")
    csv = api.get(f"query_results/{latest}.csv")
    parsed = list(csv_module.reader(io.StringIO(csv.text)))
    eq(parsed[0], setup.columns, "CSV header")
    as_text = lambda v: "" if v is None else str(v)  # noqa: E731
    expected = [[as_text(r[c]) for c in setup.columns] for r in setup.rows]
    eq(parsed[1:], expected, "CSV rows")
    disposition = csv.headers.get("Content-Disposition", "")
    check(disposition.startswith("attachment; filename="), f"CSV disposition {disposition!r}")

    step("a failing query reports the database's error through the job")
    bad = api.post("query_results", {"data_source_id": ds_id, "query": "SELECT * FROM nope", "max_age": 0})
    bad_job = poll_job(get_json, bad.json()["job"])
    eq(bad_job["status"], 4, "status of a failing job")
    check("nope" in (bad_job["error"] or ""), f"error text {bad_job['error']!r}")

    step("create visualizations (table and column chart)")
    table = api.create_visualization(
        qid, "table", "Items table",
        columns=[{"name": c, "type": "string"} for c in setup.columns],
    ).json()
    eq(table["type"], "TABLE", "table visualization type")
    eq(len(table["options"]["columns"]), len(setup.columns), "table visualization columns")
    chart = api.create_visualization(
        qid, "column", "Price per item", x_axis="name", y_axis=[{"name": "price", "label": "Price"}],
    ).json()
    eq(chart["type"], "CHART", "chart visualization type")
    eq(chart["options"]["columnMapping"], {"name": "x", "price": "y"}, "chart column mapping")

    step("create a dashboard and add widgets (position computed from the dashboard)")
    dash = api.create_dashboard("Compat items board").json()
    dash_id = dash["id"]
    check(dash["slug"], f"dashboard without slug: {dash}")
    w1 = api.add_widget(dash_id, vs_id=table["id"]).json()
    eq(w1["options"]["position"], {"col": 0, "row": 0, "sizeX": 3, "sizeY": 8}, "first widget position")
    w2 = api.add_widget(dash_id, vs_id=chart["id"]).json()
    eq(w2["options"]["position"]["col"], 3, "second widget column (needs GET dashboards/<slug>)")
    w3 = api.add_widget(dash_id, text="Prices are in euro", full_width=True).json()
    eq(w3["text"], "Prices are in euro", "text widget")
    by_slug = get_json(f"dashboards/{dash['slug']}")
    eq(sorted(w["id"] for w in by_slug["widgets"]), sorted([w1["id"], w2["id"], w3["id"]]), "widgets by slug")

    step("publish_dashboard (publish + share) and the public page without a key")
    public_url = api.publish_dashboard(dash_id)
    token = share_token(public_url, setup)
    eq(get_json(f"dashboards/{dash_id}")["is_draft"], False, "is_draft after publish_dashboard")
    fetch_public_dashboard(setup, token, "Compat items board", 3)

    step("delete a widget and archive the dashboard")
    api.delete(f"widgets/{w3['id']}")
    eq(len(get_json(f"dashboards/{dash_id}")["widgets"]), 2, "widgets after delete")
    api.delete(f"dashboards/{dash_id}")
    check(get_json(f"dashboards/{dash_id}")["is_archived"], "dashboard not archived by DELETE")


if __name__ == "__main__":
    run(main)
