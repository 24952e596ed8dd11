"""Drives the PyPI client `redash-python` (module redash_python, class Redash) through Cairn.

This client sends `Content-Type: application/json` with every request (also bodiless POSTs such
as share and favorite), reads lists through `paginate` (`?page=N&page_size=100` until a short
page) and updates objects by posting back the whole object it read.
"""

import time

import requests
from compat_common import (
    check,
    check_items_result,
    eq,
    fetch_public_dashboard,
    run,
    share_token,
    step,
    wait_for_job,
)
from redash_python import Redash

# Enough objects that paging with page_size 100 crosses a page boundary.
BULK = 105


def ensure_not_page_multiple(rd, endpoint, create_one, page_size=100):
    """Redash answers 400 for a page past the end, so a client that pages until a short page
    fails when the count is an exact multiple; keep the count off a multiple like real data."""
    count = rd.get(endpoint, params={"page": 1, "page_size": 1})["count"]
    if count % page_size == 0:
        create_one()
        count += 1
    return count


def main(setup):
    rd = Redash(setup.url, setup.api_key)
    get_json = lambda path: rd.get(f"/api/{path}")  # noqa: E731
    sql = f"SELECT {', '.join(setup.columns)} FROM items ORDER BY id"

    step("test_credentials (GET /api/session)")
    check(rd.test_credentials(), "test_credentials() is False with a valid key")
    check(not Redash(setup.url, "wrong-key").test_credentials(), "a wrong key passes /api/session")

    step("create a sqlite data source")
    ds = rd.data_sources.create(
        {"name": "compat python items", "type": "sqlite", "options": {"dbpath": setup.sqlite_path}}
    )
    ds_id = ds["id"]
    eq(rd.data_sources.get(ds_id)["options"]["dbpath"], setup.sqlite_path, "stored dbpath")
    eq(rd.data_sources.get_id("compat python items"), ds_id, "data_sources.get_id by name")

    step("create a query, run it (queries.refresh) and poll the job")
    q = rd.queries.create(
        {"data_source_id": ds_id, "name": "python items", "query": sql, "tags": ["compat"]}
    )
    qid = q["id"]
    eq(q["is_draft"], True, "a new query is a draft")
    job = wait_for_job(get_json, rd.queries.refresh(qid)["job"])
    result = rd.get(f"/api/query_results/{job['query_result_id']}")["query_result"]
    check_items_result(result, setup, "queries.refresh result")
    eq(rd.queries.get(qid)["latest_query_data_id"], job["query_result_id"], "latest_query_data_id")

    step("publish, tags, favorites")
    eq(rd.queries.publish(qid)["is_draft"], False, "is_draft after publish")
    eq([x["id"] for x in rd.queries.get_by_tags(["compat"])], [qid], "queries.get_by_tags")
    rd.queries.favorite(qid)
    eq([x["id"] for x in rd.queries.favorited()], [qid], "queries.favorited after favorite")
    rd.queries.unfavorite(qid)
    eq(rd.queries.favorited(), [], "queries.favorited after unfavorite")

    step("update by posting back the whole object (fork with a new name)")
    fork = rd.queries.fork(qid, "python items (fork)")
    eq(fork["name"], "python items (fork)", "forked query name")
    eq(fork["query"], sql, "forked query text")
    check(fork["id"] != qid, "fork has its own id")

    step("create a visualization and update it")
    vis = rd.post(
        "/api/visualizations",
        {"query_id": qid, "type": "TABLE", "name": "Items", "options": {"itemsPerPage": 25}},
    )
    eq(vis["type"], "TABLE", "visualization type")
    renamed = rd.queries.update_visualization(vis["id"], {"name": "All items"})
    eq(renamed["name"], "All items", "update_visualization name")
    eq(renamed["options"], {"itemsPerPage": 25}, "update_visualization keeps options")

    step("create a dashboard with widgets")
    dash = rd.dashboards.create({"name": "Python items board"})
    dash_id = dash["id"]
    pos = {"col": 0, "row": 0, "sizeX": 6, "sizeY": 8}
    w1 = rd.dashboards.create_widget(
        dashboard_id=dash_id, visualization_id=vis["id"], options={"position": pos}
    )
    eq(w1["options"]["position"], pos, "widget position")
    w2 = rd.widgets.create(
        dashboard_id=dash_id, visualization_id=None, options={"position": pos}, text="Notes"
    )
    eq(w2["text"], "Notes", "text widget")
    eq(rd.dashboards.get_slug(dash_id), dash["slug"], "dashboards.get_slug")
    eq(rd.dashboards.get(dash["slug"])["id"], dash_id, "dashboard by slug")
    eq(rd.dashboards.get_id(dash["slug"]), dash_id, "dashboards.get_id by slug")
    rd.widgets.update(w2["id"], {"text": "Updated notes", "options": {"position": pos}})
    widgets = rd.dashboards.get(dash_id)["widgets"]
    eq(sorted(w.get("text", "") for w in widgets), ["", "Updated notes"], "widget texts")

    step("dashboards.refresh runs every widget's query")
    check(
        any("visualization" in w and w["visualization"]["query"]["id"] == qid for w in widgets),
        "the visualization widget does not carry its query",
    )
    before = rd.queries.get(qid)["latest_query_data_id"]
    rd.dashboards.refresh(dash_id)
    deadline = time.monotonic() + 60
    while rd.queries.get(qid)["latest_query_data_id"] == before:
        check(time.monotonic() < deadline, "dashboards.refresh did not produce a new result")
        time.sleep(0.05)
    latest = rd.queries.get(qid)["latest_query_data_id"]
    check_items_result(rd.get(f"/api/query_results/{latest}")["query_result"], setup, "refreshed")

    step("dashboards.duplicate copies tags and widgets")
    rd.dashboards.update(dash_id, {"tags": ["compat"]})
    copy = rd.dashboards.duplicate(dash_id, "Python items board copy")
    eq(copy["tags"], ["compat"], "duplicated dashboard tags")
    eq(len(copy["widgets"]), 2, "duplicated dashboard widgets")

    step("publish and share (bodiless POST), then the public page without a key")
    eq(rd.dashboards.publish(dash_id)["is_draft"], False, "dashboard is_draft after publish")
    token = share_token(rd.dashboards.share(dash_id), setup)
    fetch_public_dashboard(setup, token, "Python items board", 2)
    rd.delete(f"/api/dashboards/{dash_id}/share")
    res = requests.get(f"{setup.url}/api/dashboards/public/{token}", timeout=30)
    check(res.status_code in (403, 404), f"unshared dashboard still public ({res.status_code})")

    step(f"create {BULK} queries and {BULK} dashboards, then paginate")
    made_queries = {qid, fork["id"]}
    made_dashboards = {dash_id, copy["id"]}
    for i in range(BULK):
        made_queries.add(
            rd.queries.create({"data_source_id": ds_id, "name": f"bulk query {i:03}", "query": f"SELECT {i}"})["id"]
        )
        made_dashboards.add(rd.dashboards.create({"name": f"bulk dashboard {i:03}"})["id"])
    make_query = lambda: made_queries.add(  # noqa: E731
        rd.queries.create({"data_source_id": ds_id, "name": "one more", "query": "SELECT 0"})["id"]
    )
    make_dashboard = lambda: made_dashboards.add(  # noqa: E731
        rd.dashboards.create({"name": "one more board"})["id"]
    )
    q_count = ensure_not_page_multiple(rd, "/api/queries", make_query)
    d_count = ensure_not_page_multiple(rd, "/api/dashboards", make_dashboard)
    check(q_count > 100 and d_count > 100, f"counts {q_count}, {d_count} do not cross a page")

    all_queries = rd.queries.paginate()
    ids = [x["id"] for x in all_queries]
    eq(len(ids), q_count, "queries from paginate vs count")
    eq(len(set(ids)), len(ids), "paginate returned a query twice")
    check(made_queries <= set(ids), f"paginate misses queries {made_queries - set(ids)}")
    eq(len(rd.queries.get_all()), q_count, "queries.get_all")
    eq(len(rd.queries.fetch_page(2, 100)), q_count - 100, "second page of queries")
    eq(rd.queries.get_id("bulk query 042") in made_queries, True, "queries.get_id across pages")

    all_dashboards = rd.dashboards.paginate()
    ids = [x["id"] for x in all_dashboards]
    eq(len(ids), d_count, "dashboards from paginate vs count")
    eq(len(set(ids)), len(ids), "paginate returned a dashboard twice")
    check(made_dashboards <= set(ids), f"paginate misses dashboards {made_dashboards - set(ids)}")
    eq(len(rd.dashboards.fetch_page(2, 100)), d_count - 100, "second page of dashboards")

    step("archive (DELETE) removes a query from the list")
    rd.queries.delete(fork["id"])
    eq(len(rd.queries.paginate()), q_count - 1, "queries after archiving one")
    check(rd.queries.get(fork["id"])["is_archived"], "query not archived by DELETE")


if __name__ == "__main__":
    run(main)
