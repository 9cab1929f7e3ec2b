"""Issue 14, items 8, 9 and 13 on a real `mengui serve` (and a real browser): no crossdb, no internals
for anonymous visitors, no page answers 500, security headers everywhere, notes limited."""

import asyncio
import os
import re
import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from playwright.sync_api import sync_playwright

from builders import served, site_login
from mengui_cli.app import cli
from mengui_core.demo.story import run_demo
from mengui_datasette.users import add_user

CHROMIUM = os.environ.get("MENGUI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "review-2026-ok"
REPO = Path(__file__).resolve().parents[2]
INTERNALS = ["/-/versions", "/-/versions.json", "/-/plugins", "/-/plugins.json", "/-/databases", "/-/databases.json",
             "/-/threads", "/-/threads.json", "/-/settings", "/-/settings.json", "/-/config.json", "/-/allow-debug",
             "/-/permissions", "/-/messages"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    run = run_demo(tmp_path_factory.mktemp("site"), months=2)
    add_user(run.db_path, "liming", PASSWORD, "committee")
    add_user(run.db_path, "admin01", PASSWORD, "admin")
    return run


@pytest.fixture(scope="module")
def site(demo):
    with served(demo.db_path) as base:
        yield base


def login(base, name):
    client, response = site_login(base, name, PASSWORD)
    assert response.status_code == 302
    return client


def patient_names(db_path):
    return {r[0] for r in sqlite3.connect(db_path).execute("SELECT DISTINCT patient_name FROM prescriptions")}


# ---------------------------------------------------------------- item 8: crossdb


def test_mengui_serve_has_no_crossdb_memory_database(site, demo):
    for path in ("/_memory.json?sql=select+patient_name+from+mengui.prescriptions", "/_memory?sql=select+1"):
        answer = httpx.get(site + path)
        assert answer.status_code in (403, 404) and not patient_names(demo.db_path) & set(re.findall(r"\w+", answer.text))


def test_a_plain_datasette_with_crossdb_keeps_patients_from_anonymous_visitors(demo):
    from datasette.app import Datasette

    from mengui_datasette.server import ensure_plugins

    ensure_plugins()
    plain = Datasette([str(demo.db_path)], crossdb=True)
    sql = "/_memory.json?sql=select+patient_name+from+mengui.prescriptions+limit+5&_shape=array"
    assert asyncio.run(plain.client.get(sql)).status_code == 403
    assert asyncio.run(plain.client.get("/mengui/disclosures.json")).status_code == 200


def test_the_readme_names_the_crossdb_exception():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "--crossdb" in readme and "docs/security.md" in readme


# ---------------------------------------------------------------- item 13: internals, 500s, headers


def test_anonymous_visitors_and_committee_members_get_no_internals(site):
    committee, admin = login(site, "liming"), login(site, "admin01")
    for path in INTERNALS:
        assert httpx.get(site + path).status_code == 403, path
        assert committee.get(path).status_code == 403, path
    assert admin.get("/-/versions.json").status_code == 200 and admin.get("/-/databases.json").status_code == 200


def test_no_page_answers_500(site):
    committee = login(site, "liming")
    paths = ["/mengui/disclosures/1", "/mengui/disclosures/1.json", "/mengui/disclosures.json?_sort=patient_id",
             "/mengui/disclosures?_sort_desc=nope", "/mengui/disclosures.json?_facet=nope", "/mengui/nope",
             "/mengui/disclosures.json?_where=1", "/mengui/disclosures.csv?_sort=patient_id"]
    for client in (httpx.Client(base_url=site, timeout=60), committee):
        for path in paths:
            answer = client.get(path)
            assert answer.status_code < 500, (path, answer.status_code, answer.text[:200])
    row = httpx.get(site + "/mengui/disclosures/1")
    assert row.status_code == 404 and "没有这条记录" in row.text
    sort = httpx.get(site + "/mengui/disclosures.json?_sort=patient_id")
    assert sort.status_code == 400 and "不能按列「patient_id」排序" in sort.json()["error"]


def test_every_page_carries_the_security_headers(site):
    committee = login(site, "liming")
    for client, path in [(httpx, "/"), (httpx, "/-/login"), (httpx, "/mengui/disclosures.json"),
                         (httpx, "/mengui/disclosures.csv"), (httpx, "/mengui/prescriptions"), (httpx, "/nope"),
                         (httpx, "/-/versions"), (httpx, "/-/static/app.css"), (committee, "/-/dashboard"),
                         (committee, "/mengui/pending_reviews")]:
        answer = client.get(path) if client is not httpx else httpx.get(site + path)
        headers = answer.headers
        assert headers.get("content-security-policy") == "frame-ancestors 'none'", path
        assert headers.get("x-content-type-options") == "nosniff", path
        assert headers.get("referrer-policy"), path


def test_a_browser_cannot_frame_the_site_or_read_the_session_cookie(site, tmp_path):
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(locale="zh-CN")
        page.goto(site + "/-/login")
        page.fill("#id_username", "liming")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_load_state()
        assert any(c["name"] == "ds_actor" and c["httpOnly"] and c["sameSite"] == "Lax"
                   for c in page.context.cookies())
        assert "ds_actor" not in page.evaluate("document.cookie")  # scripts cannot read the session
        framed = tmp_path / "frame.html"
        framed.write_text(f'<iframe id="f" src="{site}/mengui/disclosures"></iframe>', encoding="utf-8")
        page.goto(framed.as_uri())
        page.wait_for_timeout(1500)
        frame = page.frame_locator("#f")
        assert frame.locator("text=公示名单").count() == 0  # refused by frame-ancestors 'none'
        browser.close()


# ---------------------------------------------------------------- item 9: notes limited


def test_a_note_over_2000_characters_is_refused_on_the_web_and_in_the_cli(site, demo):
    conn = sqlite3.connect(demo.db_path)
    rx_id, check_id = conn.execute("SELECT rx_id, check_id FROM flag_status WHERE status = 'pending' "
                                   "AND rx_id NOT IN (SELECT rx_id FROM appeals)").fetchone()
    committee = login(site, "liming")
    token = committee.cookies["ds_csrftoken"]
    form = {"rx_id": rx_id, "check_id": check_id, "verdict": "不合理", "csrftoken": token, "_json": "1"}
    refused = committee.post("/mengui/record_verdict", data=dict(form, note="意" * 2001))
    assert refused.json()["ok"] is False and "审核意见不能超过 2000 个字符" in refused.json()["message"]
    huge = committee.post("/mengui/record_verdict", data=dict(form, note="x" * 20_000_000))
    assert huge.status_code == 413 and "提交的内容过大" in huge.text
    assert conn.execute("SELECT count(*) FROM verdicts WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone()[0] == 0
    accepted = committee.post("/mengui/record_verdict", data=dict(form, note="意" * 2000))
    assert accepted.json()["ok"] is True
    result = CliRunner().invoke(cli, ["review", str(demo.db_path), "--rx", rx_id, "--check", check_id,
                                      "--verdict", "合理", "--note", "意" * 2001])
    assert result.exit_code == 1 and "审核意见不能超过 2,000 个字符（现在 2,001 个）" in result.stderr
    assert conn.execute("SELECT length(note) FROM verdicts WHERE rx_id = ? AND check_id = ?",
                        (rx_id, check_id)).fetchone()[0] == 2000
