"""Issue 14, item 7: lists across months. A --ladder-start applies only from its month on (an earlier
month is computed as before, never emptied), and a month whose list changed makes every later list
computed from it stale — said by `disclose` and by the review site until they are disclosed again."""

import asyncio
import sqlite3

import pytest
from click.testing import CliRunner

from builders import session_for
from mengui_cli.app import cli
from mengui_core.ingest.loader import load_files
from mengui_core.publish.disclosure import disclose_month, stale_months
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict
from mengui_datasette.server import make_datasette

MONTHS = ["2026-07", "2026-08", "2026-09", "2026-10"]


@pytest.fixture
def hospital(exports, db_path):
    """D01 writes an over-cap prescription (ruled 不合理) in every month, D02 in 2026-09 only."""
    exports.doctor("D01", "王建国").doctor("D02", "李红")
    rxs = {}
    for n, month in enumerate(MONTHS):
        for doctor in ("D01", "D02") if month == "2026-09" else ("D01",):
            patient = f"P{n}{doctor}"
            exports.cert(patient, "M03900")
            rxs[(month, doctor)] = f"R{month}{doctor}"
            exports.rx(rxs[(month, doctor)], f"{month}-12", patient, doctor=doctor,
                       items=[("苯磺酸氨氯地平片", "180.00", 7)])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    for month in MONTHS:
        audit_month(conn, month)
    for rx in rxs.values():
        record_verdict(conn, rx, "amount_cap", "不合理", "张委员")
    return conn, rxs


def levels(published):
    return {(r.doctor_code, r.level, r.action) for r in published.disclosure.rows}


def active_revocations(conn):
    return [tuple(r) for r in conn.execute("SELECT doctor_code, month FROM revocations WHERE withdrawn_at IS NULL")]


def test_a_later_ladder_start_leaves_an_earlier_month_as_it_was(hospital):
    conn, _ = hospital
    disclose_month(conn, "2026-07", start="2026-07")
    disclose_month(conn, "2026-08")
    september = disclose_month(conn, "2026-09")
    assert levels(september) == {("D01", 3, "revoke"), ("D02", 1, "publish_code")}
    assert active_revocations(conn) == [("D01", "2026-09")]
    assert levels(disclose_month(conn, "2026-10", start="2026-10")) == {("D01", 1, "publish_code")}
    again = disclose_month(conn, "2026-09")  # plain, after the later start
    assert levels(again) == levels(september) and not again.new_revision
    assert again.disclosure.revision == september.disclosure.revision
    assert active_revocations(conn) == [("D01", "2026-09")]  # not withdrawn
    # a start declared after the month asked for changes nothing either
    assert levels(disclose_month(conn, "2026-08", start="2026-10")) == {("D01", 2, "publish_name")}


def test_a_changed_month_makes_the_later_lists_stale_until_they_are_disclosed_again(hospital, db_path):
    conn, rxs = hospital
    runner = CliRunner()
    for n, month in enumerate(MONTHS):
        args = ["disclose", str(db_path), "--month", month] + (["--ladder-start", month] if n == 0 else [])
        assert runner.invoke(cli, args).exit_code == 0
    assert stale_months(conn) == {}
    # the committee overturns D01's September prescription (a 复审 would do the same)
    record_verdict(conn, rxs[("2026-09", "D01")], "amount_cap", "合理", "张委员")
    result = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-09"])
    assert result.exit_code == 0 and "第 2 版（新生成）" in result.stderr
    assert "注意：2026-10 的公示名单已过时（2026-10 生成后 2026-09 的名单有变化）" in result.stderr
    assert "mengui disclose DB --month 2026-10" in result.stderr
    assert stale_months(conn) == {"2026-10": ["2026-09"]}
    # the review site says so to the committee
    ds = make_datasette(db_path)
    home = asyncio.run(ds.client.get("/", cookies=session_for(ds))).text
    assert "公示名单已过时" in home and "2026-10（生成后 2026-09 的名单有变化）" in home
    assert "公示名单已过时" not in asyncio.run(ds.client.get("/")).text  # not for anonymous visitors
    # any later disclose says it too, until 2026-10 is disclosed again
    assert "2026-10 的公示名单已过时" in runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-08"]).stderr
    redone = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-10", "--format", "csv"])
    assert redone.exit_code == 0 and "已过时" not in redone.stderr
    assert "2026-10,D01,,1,publish_code,1" in redone.stdout  # the streak was broken in September
    assert stale_months(conn) == {}
    assert "公示名单已过时" not in asyncio.run(ds.client.get("/", cookies=session_for(ds))).text


def test_an_unchanged_earlier_month_makes_nothing_stale(hospital):
    conn, _ = hospital
    for n, month in enumerate(MONTHS):
        disclose_month(conn, month, start=month if n == 0 else None)
    assert not disclose_month(conn, "2026-08").new_revision
    assert stale_months(conn) == {}


def test_migration_11_takes_over_a_declared_start_and_the_lists_of_an_older_database(tmp_path):
    from mengui_core.db import schema

    db = tmp_path / "old.db"
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (id INTEGER PRIMARY KEY, name TEXT, applied_at TEXT)")
    for number, name, sql in schema.MIGRATIONS:
        if number <= 9:
            conn.executescript(f"BEGIN;{sql};INSERT INTO _migrations VALUES ({number}, 'x', 'y');COMMIT;")
    conn.execute("INSERT INTO settings VALUES ('ladder_start', '2026-07')")
    conn.execute("INSERT INTO disclosure_revisions VALUES ('2026-07', 1, 't', 'three_strikes', NULL, 0, 0, NULL)")
    conn.close()
    migrated = connect(db)
    assert [tuple(r) for r in migrated.execute("SELECT month FROM ladder_starts")] == [("2026-07",)]
    assert [tuple(r) for r in migrated.execute("SELECT month, computed_seq, changed_seq FROM disclosure_runs")] == [
        ("2026-07", 1, 1)]
    assert 11 in {r[0] for r in migrated.execute("SELECT id FROM _migrations")}
