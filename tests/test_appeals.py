"""Appeals (申诉) against 不合理 verdicts and the committee's final second review (复审)."""

import csv
import sqlite3
from datetime import date

import pytest
from click.testing import CliRunner

from builders import publish
from mengui_cli.app import cli
from mengui_core.review.appeals import file_appeal, list_appeals, review_appeal
from mengui_core.errors import MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.audit.ruleset import RulesetError
from mengui_core.plugins import load_ruleset
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict

MONTHS = ["2026-08", "2026-09", "2026-10"]


@pytest.fixture
def hospital(exports, db_path, tmp_path):
    """D01 writes one over-cap prescription a month for three months (level 3 in October); D02 one in October.
    The committee rules them all 不合理 on the 28th; the lists are published month by month."""
    exports.doctor("D01", "王建国").doctor("D02", "李秀英", "内分泌科")
    exports.cert("P0001", "M03900").cert("P0002", "M03900").cert("P0003", "M03900")
    exports.rx("R0801", "2026-08-10", "P0001", doctor="D01", items=[("苯磺酸氨氯地平片", "180.00", 30)])
    exports.rx("R0901", "2026-09-10", "P0001", doctor="D01", items=[("苯磺酸氨氯地平片", "180.00", 30)])
    exports.rx("R0902", "2026-09-11", "P0003", doctor="D01", items=[("缬沙坦胶囊", "120.00", 30)])
    exports.rx("R1001", "2026-10-10", "P0001", doctor="D01", items=[("苯磺酸氨氯地平片", "180.00", 30)])
    exports.rx("R1002", "2026-10-12", "P0002", doctor="D02", items=[("缬沙坦胶囊", "200.00", 30)])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    verdicts = tmp_path / "verdicts.csv"
    with open(verdicts, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["处方号", "规则", "结论", "审核人", "审核时间", "备注"])
        for month in MONTHS:
            audit_month(conn, month)
        for rx, month in (("R0801", "08"), ("R0901", "09"), ("R1001", "10"), ("R1002", "10")):
            writer.writerow([rx, "amount_cap", "不合理", "刘敏", f"2026-{month}-28 15:00:00", "超出单病种限额"])
    load_files(conn, [verdicts], kind="verdicts")
    for month in MONTHS:
        publish(conn, month, start=MONTHS[0])
    return conn


def listed(conn, month):
    return {r[0]: (r[1], r[2]) for r in conn.execute(
        "SELECT doctor_code, level, action FROM disclosures WHERE month = ?", (month,))}


def test_overturned_appeal_drops_the_doctor_and_makes_new_revisions(hospital):
    assert listed(hospital, "2026-10")["D01"] == (3, "revoke")
    appeal = file_appeal(hospital, "R0901", "amount_cap", "患者血压控制差，已按规定补充用药说明", filed_on=date(2026, 10, 5))
    assert (appeal.status, appeal.deadline, appeal.appellant) == ("pending", "2026-10-13", "D01")
    # pending: the first verdict still counts, the published list does not change
    assert publish(hospital, "2026-09").new_revision is False
    assert tuple(hospital.execute("SELECT counts, appeal_status FROM flag_status WHERE rx_id = 'R0901'").fetchone()) == (1, "pending")

    reviewed = review_appeal(hospital, "R0901", "amount_cap", "合理", "王立新", "补充说明属实")
    assert reviewed.appeal.status == "overturned" and reviewed.redisclose == MONTHS[1:]
    row = hospital.execute("SELECT verdict, first_verdict, status, counts, reviewer FROM flag_status "
                           "WHERE rx_id = 'R0901'").fetchone()
    assert tuple(row) == ("reasonable", "unreasonable", "reasonable", 0, "王立新")

    september = publish(hospital, "2026-09")
    assert september.new_revision and september.disclosure.revision == 2
    assert "D01" not in listed(hospital, "2026-09")
    assert any("移除 D01" in change for change in september.disclosure.changes)
    october = publish(hospital, "2026-10")
    assert october.new_revision and listed(hospital, "2026-10")["D01"] == (1, "publish_code")
    # revision 1 stays in the history; the revocation is withdrawn, not deleted
    assert hospital.execute("SELECT level FROM disclosure_history WHERE month = '2026-10' AND revision = 1 "
                            "AND doctor_code = 'D01'").fetchone()[0] == 3
    assert hospital.execute("SELECT withdrawn_at IS NOT NULL FROM revocations WHERE doctor_code = 'D01'").fetchone()[0]


def test_upheld_appeal_changes_nothing_published(hospital):
    file_appeal(hospital, "R1002", "amount_cap", "认为未超限", appellant="D02", filed_on=date(2026, 11, 12))
    reviewed = review_appeal(hospital, "R1002", "amount_cap", "不合理", "刘敏", "维持原结论")
    assert reviewed.appeal.status == "upheld"
    assert publish(hospital, "2026-10").new_revision is False
    assert listed(hospital, "2026-10")["D02"] == (1, "publish_code")


def test_history_shows_the_first_verdict_and_the_second_review(hospital):
    file_appeal(hospital, "R0901", "amount_cap", "理由", filed_on=date(2026, 10, 1))
    review_appeal(hospital, "R0901", "amount_cap", "合理", "王立新", "改判")
    rows = hospital.execute("SELECT verdict, previous_verdict, reviewer, source FROM verdict_history "
                            "WHERE rx_id = 'R0901' ORDER BY id").fetchall()
    assert [tuple(r)[:3] for r in rows] == [("unreasonable", None, "刘敏"), ("reasonable", "unreasonable", "王立新")]
    assert rows[1]["source"].startswith("复审")


def test_refusals_say_why_in_chinese(hospital):
    with pytest.raises(MenguiError, match=r"结论作出于 2026-09-28.*15 天.*截止 2026-10-13.*2026-10-14"):
        file_appeal(hospital, "R0901", "amount_cap", "理由", filed_on=date(2026, 10, 14))
    with pytest.raises(MenguiError, match="没有申诉，不能复审"):
        review_appeal(hospital, "R0901", "amount_cap", "合理", "王立新")
    file_appeal(hospital, "R0901", "amount_cap", "理由", filed_on=date(2026, 10, 13))  # the deadline day counts
    with pytest.raises(MenguiError, match="只能申诉一次"):
        file_appeal(hospital, "R0901", "amount_cap", "再次申诉", filed_on=date(2026, 10, 13))
    with pytest.raises(MenguiError, match="已有医师申诉"):
        record_verdict(hospital, "R0901", "amount_cap", "合理", "刘敏")
    review_appeal(hospital, "R0901", "amount_cap", "不合理", "王立新")
    with pytest.raises(MenguiError, match="最终结论，不能再次复审"):
        review_appeal(hospital, "R0901", "amount_cap", "合理", "王立新")
    record_verdict(hospital, "R0801", "amount_cap", "合理", "刘敏")
    with pytest.raises(MenguiError, match="结论是「合理」"):
        file_appeal(hospital, "R0801", "amount_cap", "理由", filed_on=date(2026, 8, 30))
    hospital.execute("INSERT INTO flags (rx_id, check_id, month, rx_date, doctor_code, detail, run_id) "
                     "VALUES ('R0902', 'uncertified', '2026-09', '2026-09-11', 'D01', '测试', 1)")
    with pytest.raises(MenguiError, match="尚无药事委员会结论"):
        file_appeal(hospital, "R0902", "uncertified", "理由")
    with pytest.raises(MenguiError, match="没有规则 duplicate_drug 的标记"):
        file_appeal(hospital, "R0901", "duplicate_drug", "理由")


def test_appeals_survive_a_reaudit_and_cannot_be_deleted_or_rewritten(hospital):
    file_appeal(hospital, "R0901", "amount_cap", "理由", filed_on=date(2026, 10, 1))
    file_appeal(hospital, "R1001", "amount_cap", "理由", filed_on=date(2026, 10, 30))
    review_appeal(hospital, "R0901", "amount_cap", "合理", "王立新")
    for month in MONTHS:
        audit_month(hospital, month)
    assert {r["rx_id"]: r["status"] for r in list_appeals(hospital)} == {"R0901": "overturned", "R1001": "pending"}
    assert hospital.execute("SELECT status FROM flag_status WHERE rx_id = 'R0901'").fetchone()[0] == "reasonable"
    for sql in ("DELETE FROM appeals", "DELETE FROM appeal_reviews",
                "UPDATE appeals SET reason = '改' WHERE rx_id = 'R1001'",
                "UPDATE appeals SET status = 'pending', second_verdict = NULL WHERE rx_id = 'R0901'",
                "UPDATE appeal_reviews SET verdict = 'unreasonable'",
                "UPDATE verdicts SET verdict = 'reasonable' WHERE rx_id = 'R1001'",
                "INSERT INTO appeal_reviews (rx_id, check_id, verdict, reviewed_at) "
                "VALUES ('R0801', 'amount_cap', 'reasonable', '2026-11-01')"):
        with pytest.raises(sqlite3.IntegrityError, match="[\u4e00-\u9fff]"):
            hospital.execute(sql)
    assert hospital.execute("SELECT count(*) FROM appeals").fetchone()[0] == 2


def test_cli_appeal_review_and_list(hospital):
    db = hospital.execute("PRAGMA database_list").fetchone()[2]
    runner = CliRunner()
    late = runner.invoke(cli, ["appeal", db, "--rx", "R0901", "--check", "amount_cap", "--reason", "理由",
                               "--date", "2026-11-01"])
    assert late.exit_code == 1 and "已超过申诉期限" in late.output and "截止 2026-10-13" in late.output
    assert "Traceback" not in late.output
    bad_date = runner.invoke(cli, ["appeal", db, "--rx", "R0901", "--check", "amount_cap", "--reason", "理由",
                                   "--date", "10/05"])
    assert bad_date.exit_code == 1 and "YYYY-MM-DD" in bad_date.output
    ok = runner.invoke(cli, ["appeal", db, "--rx", "R0901", "--check", "amount_cap", "--reason", "已补充说明",
                             "--date", "2026-10-05"])
    assert ok.exit_code == 0 and "已记录申诉" in ok.output
    listing = runner.invoke(cli, ["appeals", db, "--month", "2026-09"])
    assert "申诉中（待复审）" in listing.output and "R0901" in listing.output
    shown = runner.invoke(cli, ["disclose", db, "--month", "2026-09"])
    assert "1 条不合理结论申诉中" in shown.output
    done = runner.invoke(cli, ["appeal-review", db, "--rx", "R0901", "--check", "amount_cap", "--verdict", "合理",
                               "--reviewer", "王立新", "--note", "属实"])
    assert done.exit_code == 0 and "复审改判合理" in done.output and "mengui disclose" in done.output
    again = runner.invoke(cli, ["appeal-review", db, "--rx", "R0901", "--check", "amount_cap", "--verdict", "不合理"])
    assert again.exit_code == 1 and "不能再次复审" in again.output
    assert "复审改判合理" in runner.invoke(cli, ["appeals", db]).output
    assert "没有申诉" in runner.invoke(cli, ["appeals", db, "--month", "2026-08"]).output


def test_report_shows_appeals(hospital):
    from mengui_core.outputs.report import render_month_report

    file_appeal(hospital, "R1001", "amount_cap", "处方有特殊用药说明", filed_on=date(2026, 10, 30))
    html = render_month_report(hospital, "2026-10", {"amount_cap": "超限额处方"})
    assert 'id="appeals"' in html and "申诉中（待复审）" in html and "处方有特殊用药说明" in html


def test_ruleset_sets_the_appeal_period(tmp_path, hospital):
    path = tmp_path / "short.toml"
    path.write_text('extends = "jinan"\nname = "short"\nversion = "1"\n[checks.amount_cap]\nneeds_review = true\n'
                    'single_cap = "150.00"\nmulti_cap = "300.00"\n[appeals]\ndays = 3\n', encoding="utf-8")
    assert load_ruleset(str(path)).appeal_days == 3
    audit_month(hospital, "2026-09", str(path))
    with pytest.raises(MenguiError, match="申诉期限 3 天，截止 2026-10-01"):
        file_appeal(hospital, "R0901", "amount_cap", "理由", filed_on=date(2026, 10, 2))
    for bad in ("days = 0", "days = \"15\"", "days = 15\nweeks = 2"):
        path.write_text(f'name = "bad"\nversion = "1"\n[checks.amount_cap]\nneeds_review = true\n[appeals]\n{bad}\n',
                        encoding="utf-8")
        with pytest.raises(RulesetError, match="appeals"):
            load_ruleset(str(path))


def test_an_older_database_migrates_keeping_its_verdicts(tmp_path, monkeypatch):
    """A database made before migrations 7 and 8 gets them on opening; its verdicts stay and
    flag_status gains the level and final-verdict columns."""
    from mengui_core.db import schema

    path = tmp_path / "old.db"
    monkeypatch.setattr(schema, "MIGRATIONS", [m for m in schema.MIGRATIONS if m[0] <= 6])
    old = schema.connect(path)
    old.execute("INSERT INTO flags (rx_id, check_id, month, rx_date, doctor_code, detail, run_id) "
                "VALUES ('R1', 'amount_cap', '2026-10', '2026-10-01', 'D01', '超限额', 1)")
    old.execute("INSERT INTO verdicts (rx_id, check_id, verdict, reviewer) VALUES ('R1', 'amount_cap', 'unreasonable', '刘敏')")
    old.close()
    monkeypatch.undo()
    conn = schema.connect(path)
    assert [r[0] for r in conn.execute("SELECT id FROM _migrations ORDER BY id")][-1] == schema.MIGRATIONS[-1][0]
    row = conn.execute("SELECT verdict, first_verdict, appeal_status, counts FROM flag_status").fetchone()
    assert tuple(row) == ("unreasonable", "unreasonable", None, 1)
    assert tuple(conn.execute("SELECT status, level FROM flag_status").fetchone()) == ("unreasonable", None)
    assert schema.migrate(conn) == []
