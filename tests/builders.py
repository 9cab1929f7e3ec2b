"""Build HIS-shaped export files for tests: real CSV files with the contract's columns."""

from __future__ import annotations

import csv
from contextlib import contextmanager
from pathlib import Path

from mengui_core import plugins
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect

DOCTOR_HEADERS = ["doctor_code", "doctor_name", "department", "qualified"]
CERT_HEADERS = ["patient_id", "disease_code", "disease_name", "kind", "valid_from", "valid_to"]
RX_HEADERS = ["rx_id", "rx_date", "patient_id", "patient_name", "insurance_type", "doctor_code",
              "department", "disease_codes", "total_amount"]
DEDUCTION_HEADERS = ["deduction_id", "rx_id", "amount", "deduction_date", "reason"]
ITEM_HEADERS = ["rx_id", "line_no", "drug_code", "drug_name", "spec", "quantity", "unit",
                "unit_price", "amount", "days_supply"]


class Exports:
    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.doctors: list[list] = []
        self.certs: list[list] = []
        self.rxs: list[list] = []
        self.items: list[list] = []
        self.deductions: list[list] = []

    def doctor(self, code, name="王建国", department="心血管内科", qualified=True):
        self.doctors.append([code, name, department, "1" if qualified else "0"])
        return self

    def cert(self, patient, code, kind="disease", valid_from="2020-01-01", valid_to="", name=""):
        self.certs.append([patient, code, name, kind, valid_from, valid_to])
        return self

    def rx(self, rx_id, date, patient, *, doctor="D01", codes="M03900", total=None, items=(), time="",
           insurance="城镇职工医疗保险", department="心血管内科"):
        """items: (drug_name, amount_yuan, days_supply, drug_code) tuples; ``total`` the header amount."""
        when = f"{date} {time}".strip()
        self.rxs.append([rx_id, when, patient, "患者" + patient[-2:], insurance, doctor, department, codes,
                         "" if total is None else total])
        for line, item in enumerate(items, 1):
            name, amount, days, code = (list(item) + [None, None])[:4]
            self.items.append([rx_id, line, code or "", name, "", "1", "盒", amount, amount,
                               "" if days is None else days])
        return self

    def deduction(self, deduction_id, rx_id, amount, date="", reason="超限额"):
        """One insurance-office deduction; ``amount`` in 元 as written in the export."""
        self.deductions.append([deduction_id, rx_id, amount, date, reason])
        return self

    def write(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        for name, headers, rows in (("doctors", DOCTOR_HEADERS, self.doctors),
                                    ("certifications", CERT_HEADERS, self.certs),
                                    ("prescriptions", RX_HEADERS, self.rxs),
                                    ("rx_items", ITEM_HEADERS, self.items),
                                    ("deductions", DEDUCTION_HEADERS, self.deductions)):
            if rows:
                with open(self.directory / f"{name}.csv", "w", newline="", encoding="utf-8") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(headers)
                    writer.writerows(rows)
        return self.directory

    def audit(self, db_path, month, ruleset=None) -> dict[tuple[str, str], dict]:
        """Load the files, audit ``month``, return the flags by (rx_id, check_id)."""
        conn = connect(db_path)
        load_files(conn, [self.write()])
        audit_month(conn, month, ruleset)
        rows = conn.execute("SELECT * FROM flags WHERE month = ?", (month,)).fetchall()
        conn.close()
        return {(r["rx_id"], r["check_id"]): dict(r) for r in rows}


def flagged(flags: dict, check_id: str) -> set[str]:
    return {rx for rx, check in flags if check == check_id}


@contextmanager
def loose_plugins(directory=None, **sources):
    """Register the ``*.py`` plugin files of ``directory`` for the duration of a ``with`` block;
    ``sources`` (name → Python source) are written there first. Whatever else is registered inside
    the block is unregistered at its end too (without ``directory``: only that)."""
    plugins.load_plugins()
    before = set(plugins.pm.get_plugins())
    try:
        if directory is not None:
            directory = Path(directory)
            for name, source in sources.items():
                directory.mkdir(parents=True, exist_ok=True)
                (directory / f"{name}.py").write_text(source, encoding="utf-8")
            plugins.load_plugins_dir(directory)
        yield
    finally:
        for plugin in set(plugins.pm.get_plugins()) - before:
            plugins.pm.unregister(plugin)


def session_for(ds, name="liumin", role="committee", password="review-2026-ok") -> dict[str, str]:
    """Cookies of a real session of ``name`` on a `mengui serve` Datasette (the user is created in the
    users file when missing): a self-signed cookie is refused there."""
    from mengui_datasette.sessions import session_cookie
    from mengui_datasette.users import add_user

    store = ds._mengui_site.users
    if store.get(name) is None:
        db_path = next(db.path for key, db in ds.databases.items() if not key.startswith("_"))
        add_user(db_path, name, password, role)
    return {"ds_actor": session_cookie(ds, store.get(name), store.secret)}


def open_flags(db_path, month) -> list[tuple[str, str]]:
    """The month's over-cap flags nobody has appealed (an appealed flag keeps its first verdict: the
    复审 decides), for tests that record verdicts."""
    import sqlite3

    conn = sqlite3.connect(db_path)
    flags = conn.execute("SELECT rx_id, check_id FROM flags f WHERE month = ? AND check_id = 'amount_cap' AND NOT "
                         "EXISTS (SELECT 1 FROM appeals a WHERE a.rx_id = f.rx_id AND a.check_id = f.check_id)",
                         (month,)).fetchall()
    conn.close()
    assert flags
    return flags


def site_login(base, name, password, address=None):
    """A browser-like client of a served site (its own cookies) after posting the login form:
    (client, the login's response). ``address``: the loopback address to connect from."""
    import httpx

    transport = httpx.HTTPTransport(local_address=address) if address else None
    client = httpx.Client(base_url=base, timeout=300, transport=transport)
    client.get("/-/login")
    response = client.post("/-/login", data={"username": name, "password": password,
                                             "csrftoken": client.cookies["ds_csrftoken"]})
    return client, response


@contextmanager
def served(db_path, *options, env=None):
    """`mengui serve DB [OPTIONS]` in a subprocess on a free loopback port (``env``: more environment
    variables); yields the base URL."""
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "mengui_cli", "serve", str(db_path), "--port", str(port), *options],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              env=dict(os.environ, **(env or {})))
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(server.stdout.read().decode())
                time.sleep(0.1)
        else:
            raise RuntimeError("mengui serve did not start")
        yield base
    finally:
        server.terminate()
        server.wait(timeout=10)


@contextmanager
def demo_site(directory, username, password, display_name):
    """Two demo months, one committee login, and the site serving them: yields (demo run, base URL)."""
    from mengui_core.demo.story import run_demo
    from mengui_datasette.users import add_user

    run = run_demo(directory, months=2)
    add_user(run.db_path, username, password, "committee", display_name)
    with served(run.db_path) as base:
        yield run, base


def publish(conn, month, *, by="医保办 赵主任", effective=None, **disclose_options):
    """Draft the month's list and publish it, as the office does once the committee has signed it off
    (``disclose_month`` then ``publish_month``); returns the publish result."""
    from mengui_core.publish.disclosure import disclose_month, publish_month

    disclose_month(conn, month, **disclose_options)
    return publish_month(conn, month, by=by, effective=effective)


def database_before(db_path, last: int):
    """A database as the version whose newest migration was ``last`` left it (schema only, no data): an
    open autocommit connection, for a test to add what that version wrote before ``connect`` migrates it."""
    import sqlite3

    from mengui_core.db import schema

    conn = sqlite3.connect(db_path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for number, _, sql in schema.MIGRATIONS:
        if number <= last:
            conn.executescript(f"BEGIN;{sql};INSERT INTO _migrations VALUES ({number}, 'x', 'y');COMMIT;")
    return conn
