"""Issue 14, item 7 (with issue 16's drafts): lists across months. A --ladder-start applies only from its
month on (an earlier month is computed as before, never emptied), and a published month whose list
changes (a new revision) makes every later published list whose levels depended on it stale — said by
`disclose`, `publish`, `report` and the review site until they are published again."""

import asyncio

import pytest
from click.testing import CliRunner

from builders import database_before, publish, session_for
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
    publish(conn, "2026-07", start="2026-07")
    publish(conn, "2026-08")
    september = publish(conn, "2026-09")
    assert levels(september) == {("D01", 3, "revoke"), ("D02", 1, "publish_code")}
    assert active_revocations(conn) == [("D01", "2026-09")]
    assert levels(publish(conn, "2026-10", start="2026-10")) == {("D01", 1, "publish_code")}
    again = publish(conn, "2026-09")  # plain, after the later start
    assert levels(again) == levels(september) and not again.new_revision
    assert again.disclosure.revision == september.disclosure.revision
    assert active_revocations(conn) == [("D01", "2026-09")]  # not withdrawn
    # a start declared after the month asked for changes nothing either
    assert levels(disclose_month(conn, "2026-08", start="2026-10")) == {("D01", 2, "publish_name")}


def cli_publish(runner, db_path, month, *options):
    drafted = runner.invoke(cli, ["disclose", str(db_path), "--month", month, *options])
    assert drafted.exit_code == 0, drafted.stderr
    published = runner.invoke(cli, ["publish", str(db_path), "--month", month, "--by", "赵主任"])
    assert published.exit_code == 0, published.stderr
    return drafted, published


def test_a_changed_month_makes_the_later_lists_stale_until_they_are_published_again(hospital, db_path, tmp_path):
    conn, rxs = hospital
    runner = CliRunner()
    for n, month in enumerate(MONTHS):
        cli_publish(runner, db_path, month, *(["--ladder-start", month] if n == 0 else []))
    assert stale_months(conn) == {}
    # the committee overturns D01's September prescription (a 复审 would do the same)
    record_verdict(conn, rxs[("2026-09", "D01")], "amount_cap", "合理", "张委员")
    # the report of October compares the list computed now with the published one: out of date
    report = runner.invoke(cli, ["report", str(db_path), "--month", "2026-10", "-o", str(tmp_path / "r.html")])
    assert report.exit_code == 0 and "按当前审核结论计算的名单与已公示的名单不同" in report.stderr
    # a draft of September changes nothing public and nothing is stale yet; it names what depends on it
    drafted = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-09"])
    assert drafted.exit_code == 0 and "与已公示的第 1 版不同" in drafted.stderr
    assert "公示后，依赖本月的 2026-10 的名单须按月份顺序重新生成并公示" in drafted.stderr
    assert stale_months(conn) == {}
    published = runner.invoke(cli, ["publish", str(db_path), "--month", "2026-09", "--by", "赵主任"])
    assert published.exit_code == 0 and "已公示 2026-09 三级公示名单第 2 版" in published.stderr
    assert "注意：2026-10 的公示名单已过时（2026-10 公示后 2026-09 的名单有变化）" in published.stderr
    assert "mengui disclose DB --month 2026-10" in published.stderr
    assert stale_months(conn) == {"2026-10": ["2026-09"]}
    # the review site says so to the committee
    ds = make_datasette(db_path)
    home = asyncio.run(ds.client.get("/", cookies=session_for(ds))).text
    assert "公示名单已过时" in home and "2026-10（公示后 2026-09 的名单有变化）" in home
    assert "公示名单已过时" not in asyncio.run(ds.client.get("/")).text  # not for anonymous visitors
    dashboard = asyncio.run(ds.client.get("/-/dashboard", cookies=session_for(ds))).text
    assert "2026-10（公示后 2026-09 的名单有变化）" in dashboard
    # so do the report and any later disclose, until 2026-10 is published again
    report = runner.invoke(cli, ["report", str(db_path), "--month", "2026-10", "-o", str(tmp_path / "r.html")])
    assert "本月名单公示后 2026-09 的名单有变化，本月名单已过时" in report.stderr
    assert "本月名单公示后，2026-09 的名单有变化" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "2026-10 的公示名单已过时" in runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-08"]).stderr
    redone = runner.invoke(cli, ["disclose", str(db_path), "--month", "2026-10", "--format", "csv"])
    assert redone.exit_code == 0
    assert "2026-10,D01,,1,publish_code,1" in redone.stdout  # the streak was broken in September
    assert stale_months(conn) == {"2026-10": ["2026-09"]}  # a draft is not a publication
    republished = runner.invoke(cli, ["publish", str(db_path), "--month", "2026-10"])
    assert republished.exit_code == 0 and "已过时" not in republished.stderr
    assert stale_months(conn) == {}
    assert "公示名单已过时" not in asyncio.run(ds.client.get("/", cookies=session_for(ds))).text
    report = runner.invoke(cli, ["report", str(db_path), "--month", "2026-10", "-o", str(tmp_path / "r.html")])
    assert "注意" not in report.stderr and "已公示第 2 版" in report.stderr


def test_only_the_months_a_list_depended_on_make_it_stale(hospital):
    conn, rxs = hospital
    for n, month in enumerate(MONTHS):
        publish(conn, month, start=month if n == 0 else None)
    # July's list changes: August and September counted July's strikes, October did not (three months back)
    record_verdict(conn, rxs[("2026-07", "D01")], "amount_cap", "合理", "张委员")
    assert publish(conn, "2026-07").new_revision
    assert stale_months(conn) == {"2026-08": ["2026-07"], "2026-09": ["2026-07"]}


def test_an_unchanged_earlier_month_makes_nothing_stale(hospital):
    conn, _ = hospital
    for n, month in enumerate(MONTHS):
        publish(conn, month, start=month if n == 0 else None)
    assert not publish(conn, "2026-08").new_revision
    assert stale_months(conn) == {}


def test_migration_11_takes_over_a_declared_start_and_the_lists_of_an_older_database(tmp_path):
    db = tmp_path / "old.db"
    conn = database_before(db, 9)
    conn.execute("INSERT INTO settings VALUES ('ladder_start', '2026-07')")
    conn.execute("INSERT INTO disclosure_revisions VALUES ('2026-07', 1, 't', 'three_strikes', NULL, 0, 0, NULL)")
    conn.close()
    migrated = connect(db)
    assert [tuple(r) for r in migrated.execute("SELECT month FROM ladder_starts")] == [("2026-07",)]
    assert [tuple(r) for r in migrated.execute("SELECT month, published_seq, changed_seq FROM disclosure_runs")] == [
        ("2026-07", 1, 1)]  # issue 16 (migration 13) renamed computed_seq: every older list was published
    assert 11 in {r[0] for r in migrated.execute("SELECT id FROM _migrations")}
