"""A committee member in a real browser (Debian's chromium, headless, loopback only):
log in, open a pending prescription, record 不合理, and the next `mengui disclose` counts it."""

import csv
import io
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from playwright.sync_api import sync_playwright

from builders import demo_site
from mengui_cli.app import cli

CHROMIUM = os.environ.get("MENGUI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "review-2026-ok"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("browser"), "liuming", PASSWORD, "刘敏") as site:
        yield site


def disclosed_counts(db_path, month):
    result = CliRunner().invoke(cli, ["disclose", str(db_path), "--month", month, "--format", "csv"])
    assert result.exit_code == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    return {row["doctor_code"]: int(row["unreasonable_count"]) for row in rows}


def test_a_committee_member_reviews_in_the_browser_and_disclose_counts_it(site, tmp_path):
    run, base = site
    month = run.months[-1]
    conn = sqlite3.connect(run.db_path)
    rx_id, check_id, doctor = conn.execute(
        "SELECT rx_id, check_id, doctor_code FROM flag_status WHERE status = 'pending' AND month = ? ORDER BY rx_date, rx_id",
        (month,)).fetchone()
    before = disclosed_counts(run.db_path, month).get(doctor, 0)
    shots = Path(os.environ.get("MENGUI_SCREENSHOTS", tmp_path))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        page.goto(base + "/-/login")
        page.fill("#id_username", "liuming")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(base + "/mengui/pending_reviews")
        assert "本月待审核处方" in page.content()
        page.click(f"a[href$='/-/review/{rx_id}/{check_id}']")
        page.wait_for_url(f"**/-/review/{rx_id}/{check_id}")
        assert "被标记处方" in page.content() and "参保人门规认定" in page.content()
        page.check("input[name=verdict][value=不合理]")
        page.fill("textarea[name=note]", "超出多病种限额，无特殊说明")
        page.screenshot(path=str(shots / "review-page.png"), full_page=True)
        page.click("input[type=submit][value=提交结论]")
        page.wait_for_load_state()
        assert "已记录审核结论" in page.content()
        browser.close()
    verdict = conn.execute("SELECT verdict, reviewer FROM verdicts WHERE rx_id = ? AND check_id = ?",
                           (rx_id, check_id)).fetchone()
    assert verdict == ("unreasonable", "liuming")
    assert disclosed_counts(run.db_path, month).get(doctor, 0) == before + 1
