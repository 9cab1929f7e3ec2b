"""Issue 17, the committee's month, in a real browser (Debian's chromium, headless, loopback only) against
`mengui serve` in a server whose own clock is UTC: the pending list with one verdict for several flags,
the review page worked by keyboard that goes on to the next flag, the doctor's history, and the review
sheet printed to PDF."""

import os
import re
import sqlite3
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from builders import served
from mengui_core import times
from mengui_core.demo.story import run_demo
from mengui_datasette.users import add_user

CHROMIUM = os.environ.get("MENGUI_CHROMIUM", "/usr/bin/chromium")
PASSWORD = "review-2026-ok"
AWAITING = "verdict IS NULL AND NOT monitoring"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    run = run_demo(tmp_path_factory.mktemp("committee"), months=2)
    add_user(run.db_path, "liuming", PASSWORD, "committee", "刘敏")
    with served(run.db_path, env={"TZ": "UTC"}) as base:
        yield run, base


@pytest.fixture()
def browser():
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield chromium
        chromium.close()


def logged_in(browser, base, width=1280):
    page = browser.new_page(viewport={"width": width, "height": 900}, locale="zh-CN", accept_downloads=True)
    page.goto(base + "/-/login")
    page.fill("#id_username", "liuming")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def shots(tmp_path) -> Path:
    return Path(os.environ.get("MENGUI_SCREENSHOTS", tmp_path))


def awaiting(db_path, month, check_id=None):
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute(f"SELECT rx_id, check_id FROM flag_status WHERE month = ? AND {AWAITING} "
                            "AND (? IS NULL OR check_id = ?) ORDER BY rx_id", (month, check_id, check_id)).fetchall()
    finally:
        conn.close()


def test_one_verdict_for_several_flags_of_a_check_each_with_its_own_history(site, browser, tmp_path):
    run, base = site
    month = run.months[-1]
    conn = sqlite3.connect(run.db_path)
    check_id, count = conn.execute(f"SELECT check_id, count(*) FROM flag_status WHERE month = ? AND {AWAITING} "
                                   "GROUP BY check_id ORDER BY count(*) DESC, check_id LIMIT 1", (month,)).fetchone()
    assert count >= 2, "the demo's last month leaves several flags of one check to the committee"
    before = len(awaiting(run.db_path, month))
    page = logged_in(browser, base)
    page.goto(base + "/-/pending")
    group = page.locator(f"#check-{check_id}")
    assert f"（{count} 条）" in group.locator("h2").inner_text()
    boxes = group.locator("input[name=rx_id]")
    chosen = [boxes.nth(0).get_attribute("value"), boxes.nth(1).get_attribute("value")]
    boxes.nth(0).check()
    boxes.nth(1).check()
    assert group.locator(".mg-count").inner_text() == "2"
    group.locator("input[name=verdict][value=合理]").check()
    group.locator("textarea[name=note]").fill("同一批次药品断货调换，病历有记载")
    page.screenshot(path=str(shots(tmp_path) / "pending-batch.png"), full_page=True)
    with page.expect_navigation():
        group.locator("button[type=submit]").click()
    assert "已为 2 条标记记录结论「合理」" in page.inner_text("body")
    page.screenshot(path=str(shots(tmp_path) / "pending-after-batch.png"), full_page=True)
    # each flag its own verdict and history row, the member's login as reviewer, recorded in Beijing time
    for rx_id in chosen:
        verdict = conn.execute("SELECT verdict, reviewer, note, source, reviewed_at FROM verdicts "
                               "WHERE rx_id = ? AND check_id = ?", (rx_id, check_id)).fetchone()
        assert verdict[:4] == ("reasonable", "liuming", "同一批次药品断货调换，病历有记载", "datasette")
        assert verdict[4].endswith("+08:00")
        history = conn.execute("SELECT recorded_at FROM verdict_history WHERE rx_id = ? AND check_id = ?",
                               (rx_id, check_id)).fetchall()
        assert len(history) == 1 and times.parse(history[0][0]).utcoffset() is not None, history
        assert page.locator(f"input[name=rx_id][value='{rx_id}']").count() == 0
    assert len(awaiting(run.db_path, month)) == before - 2
    # the review page of one of them shows the verdict by the member's display name, in Beijing time
    page.goto(f"{base}/-/review/{chosen[0]}/{check_id}")
    text = page.inner_text("body")
    recorded = conn.execute("SELECT reviewed_at FROM verdicts WHERE rx_id = ? AND check_id = ?",
                            (chosen[0], check_id)).fetchone()[0]
    assert f"（刘敏，{times.minute(recorded)}）" in text and recorded[:16].replace("T", " ") == times.minute(recorded)

    # Datasette's CSRF protection holds for the batch form: without the form's token nothing is written
    rest = [rx for rx, _ in awaiting(run.db_path, month, check_id)]
    forged = page.request.post(base + "/-/pending", form={"month": month, "check_id": check_id, "rx_id": rest[0],
                                                           "verdict": "不合理", "note": "x"}, max_redirects=0)
    assert forged.status == 403
    # and an anonymous visitor is sent to the login page
    stranger = browser.new_page()
    stranger.goto(base + "/-/pending")
    assert stranger.url.endswith("/-/login")
    anonymous = stranger.request.post(base + "/-/pending", form={"month": month, "check_id": check_id,
                                                                 "rx_id": rest[0], "verdict": "不合理"}, max_redirects=0)
    assert anonymous.status in (302, 403)
    assert len(awaiting(run.db_path, month)) == before - 2
    conn.close()


def test_the_review_page_by_keyboard_goes_on_to_the_next_flag(site, browser, tmp_path):
    run, base = site
    month = run.months[-1]
    conn = sqlite3.connect(run.db_path)
    waiting = awaiting(run.db_path, month)
    assert len(waiting) >= 2
    page = logged_in(browser, base)
    page.goto(base + "/-/pending")
    first = page.locator("section.mg-group input[name=rx_id]").first.get_attribute("value")
    check_id = page.locator("section.mg-group input[name=check_id]").first.get_attribute("value")
    page.click(f"section.mg-group a[href$='/-/review/{first}/{check_id}']")
    page.wait_for_url(f"**/-/review/{first}/{check_id}")
    # the measure in words with its unit, and the check's own example note
    flag = conn.execute("SELECT measure, doctor_code FROM flags WHERE rx_id = ? AND check_id = ?",
                        (first, check_id)).fetchone()
    words = page.inner_text(".mg-measure") if flag[0] is not None else ""
    if check_id == "amount_cap":
        assert re.fullmatch(r"超出限额 [\d.]+%", words), words
    elif check_id in ("duplicate_drug", "same_effect_drug"):
        assert re.search(r"尚余 \d+ 天（可提前 \d+ 天）", words), words
    assert not re.search(r"衡量值 [\d.]", page.inner_text("body")), "no bare number without its meaning"
    placeholder = page.get_attribute("#mg-note", "placeholder")
    assert placeholder.startswith("例如：") and ("分解处方" in placeholder) == (check_id == "amount_cap")
    page.screenshot(path=str(shots(tmp_path) / "review-page.png"), full_page=True)
    # keyboard: the verdict has the focus; Space picks it, Tab to the note, Tab to submit, Enter
    assert page.evaluate("document.activeElement.name") == "verdict"
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "mg-note"
    page.keyboard.type("超出限额，无特殊用药说明")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.type") == "submit"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert f"已记录审核结论：处方 {first}「不合理」" in page.inner_text("body")
    assert "/-/review/" in page.url and first not in page.url, "on to the next flag awaiting a verdict"
    assert conn.execute("SELECT verdict, reviewer FROM verdicts WHERE rx_id = ? AND check_id = ?",
                        (first, check_id)).fetchone() == ("unreasonable", "liuming")
    # the verdict labels never wrap, not even on a narrow screen
    narrow = logged_in(browser, base, width=360)
    narrow.goto(page.url)
    for label in narrow.locator(".mg-verdict label.mg-choice").all():
        box = label.bounding_box()
        line = float(label.evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 20"))
        assert box["height"] < 2 * line, (label.inner_text(), box)

    # the doctor's history, from the review page: a few readable columns, newest first, the list per month
    page.goto(f"{base}/-/review/{first}/{check_id}")
    page.click("a[href*='/-/doctor/']")
    page.wait_for_url(f"**/-/doctor/{flag[1]}")
    for table in page.locator("table.mg").all():
        assert table.locator("thead th").count() <= 8
    dates = [d.inner_text() for d in page.locator("table.mg").last.locator("tbody tr td:first-child").all()]
    assert dates and dates == sorted(dates, reverse=True)
    history = page.inner_text("body")
    assert "各月情况" in history and "公示名单" in history and "委员会对该医师各类标记的既往结论" in history
    reason = page.locator("td.mg-why").first.bounding_box()
    assert reason["width"] > 250, "the reason column is wide enough to read"
    page.screenshot(path=str(shots(tmp_path) / "doctor-history.png"), full_page=True)
    conn.close()


def test_the_review_sheet_from_the_site_prints_on_a4(site, browser, tmp_path):
    run, base = site
    month = run.months[-1]
    page = logged_in(browser, base)
    page.goto(base + "/-/pending")
    with page.expect_download() as download:
        page.click("text=Excel 表格（A4 横向）")
    saved = tmp_path / "sheet.xlsx"
    download.value.save_as(saved)
    import openpyxl

    sheet = openpyxl.load_workbook(saved).active
    assert [c.value for c in sheet[1]][:3] == ["序号", "处方号", "开方日期"]
    assert sheet.max_row - 1 == len(awaiting(run.db_path, month))
    assert sheet.page_setup.orientation == "landscape" and sheet.print_title_rows == "$1:$1"
    page.goto(f"{base}/-/review-sheet/{month}.html")
    assert "待审核清单" in page.inner_text("h1")
    pdf = shots(tmp_path) / "review-sheet.pdf"
    page.pdf(path=str(pdf), format="A4", landscape=True, print_background=True)
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.read_bytes().count(b"/Type /Page") >= 1
    # not for anyone else
    stranger = browser.new_page()
    stranger.goto(f"{base}/-/review-sheet/{month}.xlsx")
    assert stranger.url.endswith("/-/login")
