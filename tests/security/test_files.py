"""Issue 14, items 1 and 10: files holding patients, hashes or secrets are owner-only whatever the
umask; scratch databases live beside the database and a crash's leftovers go on the next run; the
load's parse worker dies with its parent."""

import csv
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from itsdangerous import URLSafeSerializer

from builders import served
from mengui_cli.app import cli
from mengui_core.demo.data import write_demo_inputs
from mengui_core.db.schema import connect, users_path
from mengui_datasette.users import add_user


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def open_umask():
    old = os.umask(0o022)
    yield
    os.umask(old)


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result


def test_every_file_with_patients_hashes_or_secrets_is_owner_only(tmp_path, open_umask):
    inputs = tmp_path / "inputs"
    write_demo_inputs(inputs, ["2026-10"], seed=5)
    db = tmp_path / "mengui.db"
    out = tmp_path / "out"
    invoke("run", db, "--month", "2026-10", inputs / "2026-10", "-o", out, "--ladder-start", "2026-10")
    add_user(db, "liming", "password-2026", "admin")
    invoke("backup", db, tmp_path / "backup.db")
    invoke("disclose", db, "--month", "2026-10", "--format", "xlsx", "-o", tmp_path / "list.xlsx")
    invoke("deductions", db, "--month", "2026-10", "--format", "xlsx", "-o", tmp_path / "deductions.xlsx")
    private = [db, users_path(db), tmp_path / "backup.db", tmp_path / "backup.users.db", tmp_path / "list.xlsx",
               tmp_path / "deductions.xlsx", *sorted(out.iterdir()), *sorted((inputs / "2026-10").iterdir())]
    assert len(private) > 8
    assert {str(p): oct(mode(p)) for p in private} == {str(p): "0o600" for p in private}
    # SQLite's WAL and shared-memory files take the database's mode
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("INSERT INTO settings VALUES ('probe', '1')")
    assert mode(f"{db}-wal") == 0o600 and mode(f"{db}-shm") == 0o600
    conn.close()
    # an older database created 0644 is made owner-only by the next command
    os.chmod(db, 0o644)
    os.chmod(users_path(db), 0o644)
    invoke("users", "list", db)
    connect(db).close()
    assert mode(db) == 0o600 and mode(users_path(db)) == 0o600


def test_a_self_signed_admin_cookie_reads_nothing(tmp_path):
    """The issue's attack: the cookie-signing secret read from the users file, a cookie for a made-up
    admin. Now the file is owner-only, and a session must belong to a real user anyway."""
    inputs = tmp_path / "inputs"
    write_demo_inputs(inputs, ["2026-10"], seed=5)
    db = tmp_path / "mengui.db"
    invoke("run", db, "--month", "2026-10", inputs / "2026-10", "-o", tmp_path / "out", "--ladder-start", "2026-10")
    add_user(db, "liming", "password-2026", "committee")
    with served(db) as base:
        secret = sqlite3.connect(users_path(db)).execute("SELECT value FROM secrets").fetchone()[0]
        forged = URLSafeSerializer(secret, "actor").dumps({"a": {"id": "intruder", "role": "admin"}})
        answer = httpx.get(base + "/mengui/prescriptions.json", cookies={"ds_actor": forged})
        assert answer.status_code == 403 and "患者" not in answer.text
        assert "ds_actor=;" in answer.headers.get("set-cookie", "")  # the browser is told to drop it


def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(c) for c in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def _wait_for(condition, seconds: float, step: float = 0.002):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(step)
    return None


def _big_items(path: Path, rows: int = 400_000) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["rx_id", "line_no", "drug_name", "amount", "days_supply"])
        writer.writerows((f"R{i // 3:09d}", i % 3 + 1, "苯磺酸氨氯地平片", "12.50", 28) for i in range(rows))
    return path


def scratch_files(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f".{db.name}.scratch-*"))


def test_a_killed_load_leaves_no_worker_and_its_scratch_goes_on_the_next_run(tmp_path):
    if (os.cpu_count() or 1) < 2:
        pytest.skip("the parse worker runs on machines with two or more cores")
    db = tmp_path / "mengui.db"
    connect(db).close()
    items = _big_items(tmp_path / "rx_items.csv")
    load = subprocess.Popen([sys.executable, "-m", "mengui_cli", "load", str(db), str(items)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        workers = _wait_for(lambda: _children(load.pid), 30)
        assert workers, "the load's parse worker never started"
        assert _wait_for(lambda: scratch_files(db), 10), "the load's staging database is not beside the database"
        time.sleep(0.2)  # well inside the parsing of 400,000 rows
        load.send_signal(signal.SIGKILL)
        load.wait(timeout=10)
        assert _wait_for(lambda: not any(_alive(w) for w in workers), 10, 0.05), "the parse worker outlived its parent"
    finally:
        if load.poll() is None:
            load.kill()
    leftovers = scratch_files(db)
    assert leftovers and all(mode(p) == 0o600 for p in leftovers if p.exists())
    CliRunner().invoke(cli, ["rulesets", "list"])  # not a run on this database: leftovers stay
    assert scratch_files(db)
    invoke("load", db, tmp_path / "rx_items.csv")  # the next run on it removes them
    assert scratch_files(db) == []
    assert connect(db).execute("SELECT count(*) FROM rx_items").fetchone()[0] == 400_000


def test_a_killed_audit_leaves_its_scratch_beside_the_database_and_the_next_run_removes_it(tmp_path):
    inputs = tmp_path / "inputs"
    write_demo_inputs(inputs, ["2026-09", "2026-10"], seed=5)
    db = tmp_path / "mengui.db"
    for month in ("2026-09", "2026-10"):
        invoke("load", db, inputs / month)
    env = dict(os.environ, MENGUI_AUDIT_LANES="2")
    for attempt in range(5):  # the audit takes about a second: kill it while its scratch exists
        audit = subprocess.Popen([sys.executable, "-m", "mengui_cli", "audit", str(db), "--month", "2026-10"],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        found = _wait_for(lambda: scratch_files(db), 30, 0.001)
        if found and audit.poll() is None:
            audit.send_signal(signal.SIGKILL)
        audit.wait(timeout=30)
        if audit.returncode == -signal.SIGKILL:
            break
    assert audit.returncode == -signal.SIGKILL, "the audit's scratch database never appeared beside the database"
    leftovers = scratch_files(db)
    assert leftovers and all(p.name.startswith(".mengui.db.scratch-audit-") for p in leftovers)
    assert all(mode(p) == 0o600 for p in leftovers if p.exists())
    invoke("audit", db, "--month", "2026-10")
    assert scratch_files(db) == []
