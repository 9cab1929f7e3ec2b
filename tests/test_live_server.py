"""`mengui serve` running while `mengui load` and `mengui audit` write: neither side sees "database is locked"."""

import http.cookiejar
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import pytest

from builders import demo_site, open_flags

PASSWORD = "concurrent-2026"
ROUNDS = 4


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("live"), "chenzhi", PASSWORD, "陈志刚") as site:
        yield site


def browser(base):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

    def token():
        return next(c.value for c in jar if c.name == "ds_csrftoken")

    opener.open(base + "/-/login", timeout=10).read()
    data = urllib.parse.urlencode({"username": "chenzhi", "password": PASSWORD, "csrftoken": token()}).encode()
    opener.open(base + "/-/login", data=data, timeout=10).read()
    return opener, token


def test_the_site_keeps_working_while_the_monthly_job_writes(live):
    run, base = live
    month = run.months[-1]
    db = str(run.db_path)
    flags = open_flags(db, month)
    writer_results, web_results = [], []
    done = threading.Event()

    def monthly_job():
        for _ in range(ROUNDS):
            for args in (["load", db, str(run.directory / "inputs" / month)], ["audit", db, "--month", month]):
                result = subprocess.run([sys.executable, "-m", "mengui_cli", *args], capture_output=True, text=True)
                writer_results.append((args[0], result.returncode, result.stderr))
        done.set()

    def committee():
        opener, token = browser(base)
        deadline = time.monotonic() + 120
        index = 0
        while (not done.is_set() or index < 5) and time.monotonic() < deadline:
            rx_id, check_id = flags[index % len(flags)]
            verdict = "不合理" if index % 2 else "合理"
            data = urllib.parse.urlencode({"rx_id": rx_id, "check_id": check_id, "verdict": verdict,
                                           "note": f"并发测试 {index}", "csrftoken": token()}).encode()
            try:
                page = opener.open(f"{base}/mengui/record_verdict", data=data, timeout=30).read().decode()
                listing = opener.open(f"{base}/mengui/pending_reviews.json?month={month}", timeout=30).read().decode()
                web_results.append((200, page + listing))
            except urllib.error.HTTPError as error:
                web_results.append((error.code, error.read().decode(errors="replace")))
            index += 1

    threads = [threading.Thread(target=monthly_job), threading.Thread(target=committee)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert len(writer_results) == 2 * ROUNDS
    for step, code, stderr in writer_results:
        assert code == 0 and "locked" not in stderr, (step, stderr)
    assert len(web_results) >= 5
    for code, body in web_results:
        assert code == 200 and "locked" not in body, body[:300]
        assert "记录失败" not in body and "Error" not in re.sub(r"<script.*?</script>", "", body, flags=re.S)[:2000]
    conn = sqlite3.connect(db)
    recorded = conn.execute("SELECT count(*) FROM verdict_history WHERE note LIKE '并发测试%'").fetchone()[0]
    assert recorded == len(web_results)
