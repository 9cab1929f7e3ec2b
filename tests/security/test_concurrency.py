"""Issue 14, item 11: while a 200,000-prescription month is loaded and audited, committee verdicts
posted on the web wait for the writers instead of failing — none lost, no English error."""

import re
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from builders import demo_site, open_flags, site_login

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "concurrent-2026"
VERDICTS = 150
ENGLISH = re.compile(r"database is locked|locked|OperationalError|Traceback|Internal Server Error", re.I)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    with demo_site(tmp_path_factory.mktemp("load"), "chenzhi", PASSWORD, "陈志刚") as site:
        yield site


def committee(base):
    client, response = site_login(base, "chenzhi", PASSWORD)
    assert response.status_code == 302
    return client


def post_verdict(client, rx_id, check_id, index):
    answer = client.post("/mengui/record_verdict", data={
        "rx_id": rx_id, "check_id": check_id, "verdict": "不合理" if index % 2 else "合理",
        "note": f"并发测试 {index}", "csrftoken": client.cookies["ds_csrftoken"], "_json": "1"})
    return answer.status_code, answer.text


def test_web_verdicts_are_never_lost_during_a_200k_load_and_audit(live, tmp_path):
    run, base = live
    db = str(run.db_path)
    month = run.months[-1]
    big = tmp_path / "city"
    generated = subprocess.run([sys.executable, str(REPO / "bench" / "generate.py"), "200000", str(big)],
                               capture_output=True, text=True, cwd=REPO)
    assert generated.returncode == 0, generated.stderr
    flags = open_flags(db, month)
    writers, web = [], []
    done = threading.Event()

    def monthly_job():
        for args in (["load", db, str(big)], ["audit", db, "--month", "2026-10"]):
            started = time.monotonic()
            result = subprocess.run([sys.executable, "-m", "mengui_cli", *args], capture_output=True, text=True)
            writers.append((args[0], result.returncode, result.stderr, time.monotonic() - started))
        done.set()

    def reviewer():
        client = committee(base)
        index = 0
        while not done.is_set() or index < VERDICTS:
            rx_id, check_id = flags[index % len(flags)]
            web.append(post_verdict(client, rx_id, check_id, index))
            index += 1
            time.sleep(0.02)

    threads = [threading.Thread(target=monthly_job), threading.Thread(target=reviewer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    print(f"\n{len(web)} web verdicts; " + "; ".join(f"{step} {seconds:.1f} s" for step, _, _, seconds in writers))
    assert [(step, code) for step, code, _, _ in writers] == [("load", 0), ("audit", 0)], writers
    assert not [stderr for _, _, stderr, _ in writers if ENGLISH.search(stderr)]
    assert len(web) >= VERDICTS
    failed = [(code, body[:200]) for code, body in web if code != 200 or '"ok": true' not in body or ENGLISH.search(body)]
    assert failed == []
    recorded = sqlite3.connect(db).execute("SELECT count(*) FROM verdict_history WHERE note LIKE '并发测试 %'"
                                           ).fetchone()[0]
    assert recorded == len(web)  # not one verdict lost


def test_a_web_verdict_waits_out_a_long_write_lock(live):
    """A writer that holds the database for longer than SQLite's default 5 s (a big merge): the verdict
    waits and is recorded, where it used to fail with the English 'database is locked'."""
    run, base = live
    db = str(run.db_path)
    rx_id, check_id = open_flags(db, run.months[-1])[0]
    client = committee(base)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(7); c.execute('COMMIT')\n"), db],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        started = time.monotonic()
        code, body = post_verdict(client, rx_id, check_id, 9999)
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=30)
    assert code == 200 and '"ok": true' in body and not ENGLISH.search(body), body
    assert waited > 5
    assert sqlite3.connect(db).execute("SELECT note FROM verdicts WHERE rx_id = ? AND check_id = ?",
                                       (rx_id, check_id)).fetchone()[0] == "并发测试 9999"
