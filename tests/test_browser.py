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


def logged_in(p, base, name="liuming"):
    """Headless chromium (loopback only) with a page logged in as the committee member ``name``."""
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"])
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(base + "/-/login")
    page.fill("#id_username", name)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    return browser, page


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
        browser, page = logged_in(p, base)
        page.goto(base + "/mengui/pending_reviews")
        assert "本月待审核处方" in page.content()
        page.click(f"a[href$='/-/review/{rx_id}/{check_id}']")
        page.wait_for_url(f"**/-/review/{rx_id}/{check_id}")
        assert "被标记处方" in page.content() and "参保人门规认定" in page.content()
        page.check("input[name=verdict][value=不合理]")
        page.fill("textarea[name=note]", "超出多病种限额，无特殊说明")
        page.screenshot(path=str(shots / "review-page.png"), full_page=True)
        with page.expect_navigation():  # on to the next flag awaiting a verdict (issue 17)
            page.click("input[type=submit][value=提交结论]")
        assert "已记录审核结论" in page.content()
        browser.close()
    verdict = conn.execute("SELECT verdict, reviewer FROM verdicts WHERE rx_id = ? AND check_id = ?",
                           (rx_id, check_id)).fetchone()
    assert verdict == ("unreasonable", "liuming")
    assert disclosed_counts(run.db_path, month).get(doctor, 0) == before + 1


def test_the_public_list_page_in_the_browser_and_the_committees_draft_beside_it(site, tmp_path):
    """Issue 16: an anonymous visitor of the raw list table lands on the list made for reading, picks a
    month, downloads the CSV; a committee member sees the month's draft next to the published list, which
    nobody outside sees."""
    import re

    run, base = site
    first, last = run.months[0], run.months[-1]
    shots = Path(os.environ.get("MENGUI_SCREENSHOTS", tmp_path))
    # a draft that differs from the published list: the committee rules a flag 不合理 (one it had not yet
    # ruled on, or had ruled 合理)
    conn = sqlite3.connect(run.db_path)
    rx_id, check_id = conn.execute(
        "SELECT rx_id, check_id FROM flag_status WHERE status IN ('pending', 'reasonable') AND month = ? "
        "AND check_id = 'amount_cap' AND appeal_status IS NULL ORDER BY status = 'pending' DESC, rx_id",
        (last,)).fetchone()
    runner = CliRunner()
    assert runner.invoke(cli, ["review", str(run.db_path), "--rx", rx_id, "--check", check_id, "--verdict", "不合理",
                               "--reviewer", "刘敏"]).exit_code == 0
    drafted = runner.invoke(cli, ["disclose", str(run.db_path), "--month", last])
    assert "与已公示的第" in drafted.stderr and "不同" in drafted.stderr
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
        page.goto(base + "/mengui/disclosures")
        page.wait_for_url("**/-/list")
        text = page.inner_text("main, section.content")
        title = f"{run.months[-1][:4]} 年 {int(last[5:])} 月门规不合理处方医师公示名单"
        assert title in text and "第 1 版" in text and "公示日期" in text
        for words in ("三级", "二级", "一级", "公示医师代码", "公示医师姓名", "取消医保定岗医师资格", "小计", "合计"):
            assert words in text, words
        assert "名单草稿" not in page.content() and "待审定" not in page.content()
        english = [w for w in re.findall(r"[A-Za-z]{3,}", page.inner_text("body")) if w not in ("CSV", "JSON", "Excel")]
        assert english == [], english
        page.screenshot(path=str(shots / "public-list.png"), full_page=True)
        with page.expect_download() as download:
            page.click("text=表格文件（CSV，可用 Excel 打开）")
        saved = tmp_path / "list.csv"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith("\ufeff公示月份,公示级别,处理措施,医师代码".encode("utf-8"))
        page.select_option("select[name=month]", first)
        page.click("button[type=submit]")
        page.wait_for_url(f"**/-/list/{first}")
        assert f"{int(first[5:])} 月门规不合理处方医师公示名单" in page.inner_text("h1")
        options = page.eval_on_selector_all("select[name=month] option", "els => els.map(e => e.textContent)")
        assert len(options) == len(run.months) and not [o for o in options if "草稿" in o]

        page.goto(base + "/-/login")
        page.fill("#id_username", "liuming")
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.goto(base + f"/-/list/{last}")
        draft = page.inner_text(".mg-draft")
        assert "名单草稿（仅药事委员会委员可见）" in draft and "草稿，待审定后 mengui publish" in draft
        assert "已公示的名单（第 1 版）" in page.inner_text(".mg-published")
        page.screenshot(path=str(shots / "committee-list.png"), full_page=True)
        browser.close()


def test_the_doctors_override_reason_is_beside_the_flag_the_audit_raises_later(tmp_path):
    """事前提示: the HIS is warned at signing, the doctor goes on with a reason (CDS Hooks feedback);
    the month's export then brings the prescription, the audit flags it, and the committee member
    sees the reason on the review page, in a real browser."""
    import json

    import httpx

    from builders import served
    from mengui_core.audit.runner import audit_month
    from mengui_core.db.schema import connect
    from mengui_core.ingest.loader import load_files
    from mengui_datasette.tokens import add_token
    from mengui_datasette.users import add_user
    from precheck_scenario import ATORVASTATIN, EXAMPLES, scenario

    db_path = tmp_path / "mengui.db"
    exports = scenario(tmp_path / "exports")
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    conn.close()
    token = add_token(db_path, "his-east")
    add_user(db_path, "liuming", PASSWORD, "committee", "刘敏")
    headers = {"Authorization": f"Bearer {token}"}
    with served(db_path) as base:
        order = json.loads((EXAMPLES / "order-sign.json").read_text(encoding="utf-8"))
        cards = httpx.post(base + "/cds-services/mengui-order-sign", json=order, headers=headers, timeout=30).json()["cards"]
        duplicate = next(c for c in cards if c["source"]["topic"]["code"] == "duplicate_drug")
        feedback = json.loads((EXAMPLES / "feedback.json").read_text(encoding="utf-8"))
        feedback["feedback"][0]["card"] = duplicate["uuid"]
        stored = httpx.post(base + "/cds-services/mengui-order-sign/feedback", json=feedback, headers=headers, timeout=30)
        assert stored.json()["stored"] == 1
        # the doctor signed: the prescription comes with the month's export, and the audit flags it
        exports.rx("R2026102000031", "2026-10-20", "P0001", doctor="D02", codes="M03900;M01600", time="10:15:00",
                   items=[("阿托伐他汀钙片", "96.00", 28, ATORVASTATIN), ("盐酸二甲双胍片", "104.00", 28, "XA10BAE019A001010101445")])
        conn = connect(db_path)
        load_files(conn, [exports.write()])
        audit_month(conn, "2026-10")
        assert conn.execute("SELECT count(*) FROM flags WHERE rx_id = 'R2026102000031' AND check_id = 'duplicate_drug'"
                            ).fetchone()[0] == 1
        conn.close()
        with sync_playwright() as p:
            browser, page = logged_in(p, base)
            page.goto(base + "/-/review/R2026102000031/duplicate_drug")
            reason = page.locator(".mg-override")
            assert reason.count() == 1
            text = reason.inner_text()
            assert "开方时已提示，医师理由：外出或节假日，需提前备药：患者下周出差两周" in text and "his-east" in text
            page.screenshot(path=str(Path(os.environ.get("MENGUI_SCREENSHOTS", tmp_path)) / "review-override.png"),
                            full_page=True)
            # the other flag of the prescription had no override: nothing is shown there
            page.goto(base + "/-/review/R2026102000031/amount_cap")
            assert page.locator(".mg-override").count() == 0 and "被标记处方" in page.content()
            browser.close()
