"""The demo data is realistic HIS-shaped exports; the audit finds exactly what was planted in it."""

import sqlite3

from click.testing import CliRunner

from mengui_cli.app import cli
from mengui_core.demo.data import write_demo_inputs
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect

MONTHS = ["2026-09", "2026-10"]


def test_audit_flags_exactly_the_planted_violations(tmp_path):
    manifest = write_demo_inputs(tmp_path / "inputs", MONTHS, seed=7)
    conn = connect(tmp_path / "demo.db")
    for month in MONTHS:
        load_files(conn, [tmp_path / "inputs" / month])
        audit_month(conn, month)
        planted = manifest["months"][month]["planted"]
        expected = {(rx, case["check_id"]) for case in planted if case["check_id"] for rx in case["rx_ids"]}
        must_not = {rx for case in planted if not case["check_id"] for rx in case["rx_ids"]}
        found = {tuple(row) for row in conn.execute("SELECT rx_id, check_id FROM flags WHERE month = ?", (month,))}
        monitoring = {(rx, check): level for rx, check, level in conn.execute(
            "SELECT rx_id, check_id, level FROM flags WHERE month = ? AND monitoring = 1", (month,))}
        # every violation is planted, and every planted case is found
        assert found - set(monitoring) == expected - set(monitoring) and expected <= found, month
        # the statistical monitoring checks may also point at a doctor of the ordinary data (one whose
        # planted over-cap visits raised his average, say): that is what they are for, but only mildly
        noise = found - expected
        assert noise <= set(monitoring) and {monitoring[flag] for flag in noise} <= {"提示"}, month
        assert not must_not & {rx for rx, _ in found}
        kinds = {check for _, check in expected}
        assert kinds == {"amount_cap", "duplicate_drug", "same_effect_drug", "uncertified",
                         "revoked_doctor", "over_supply", "frequent_visits", "doctor_outlier"}
        levels = {row[0] for row in conn.execute("SELECT DISTINCT level FROM flags WHERE month = ?", (month,))}
        assert levels == {"提示", "预警", "违规"}, month
        # the drug checks grade the days in hand beyond the refill tolerance, as each case says
        graded = dict(((r, c), level) for r, c, level in conn.execute(
            "SELECT rx_id, check_id, level FROM flags WHERE month = ? AND check_id LIKE '%_drug'", (month,)))
        assert graded == {(rx, case["check_id"]): case["level"] for case in planted
                          if case["check_id"] in ("duplicate_drug", "same_effect_drug") for rx in case["rx_ids"]}
        assert set(graded.values()) == {"提示", "预警", "违规"}


def test_demo_command_generates_loads_and_audits(tmp_path):
    result = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo"), "--months", "1"])
    assert result.exit_code == 0, result.output
    assert "2026-10：导入" in result.output and "审核完成" in result.output
    assert "mengui serve" in result.output and "users add" in result.output
    # the insurance office's deductions and the doctors' appeals are part of the story
    assert "医保扣款（开方医师全额承担）" in result.output and "未能归属到医师" in result.output
    assert (tmp_path / "demo" / "output" / "deductions-2026-10.csv").exists()
    assert "复审改判合理" in result.output and "公示名单第 2 版" in result.output
    conn = sqlite3.connect(tmp_path / "demo" / "mengui.db")
    assert conn.execute("SELECT count(*) FROM prescriptions").fetchone()[0] > 1000
    assert conn.execute("SELECT count(DISTINCT check_id) FROM flags").fetchone()[0] == 8
    # the prescriptions export was GBK with Chinese headers: names survived
    name = conn.execute("SELECT patient_name FROM prescriptions LIMIT 1").fetchone()[0]
    assert 2 <= len(name) <= 3 and all("\u4e00" <= ch <= "\u9fff" for ch in name)
    # running the demo again loads nothing new and keeps one month of flags
    again = CliRunner().invoke(cli, ["demo", str(tmp_path / "demo"), "--months", "1"])
    assert again.exit_code == 0
    assert conn.execute("SELECT count(*) FROM audit_runs").fetchone()[0] == 2
    assert conn.execute("SELECT count(DISTINCT run_id) FROM flags").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM appeals").fetchone()[0] == 2  # the rerun filed nothing again


def test_the_demo_publishes_every_month_and_its_revoked_doctors_stop_prescribing(tmp_path):
    """The story is consistent (issue 16): every month's list is published; a repeat offender is revoked by
    the list of his third month, on the generator's schedule, from the first day of the next month — and
    from that day writes no 门规 prescription (his patients see colleagues), so no revoked doctor keeps
    prescribing unflagged; the last month lists the three roles at 三级, 二级 and 一级."""
    from mengui_core.demo.data import EXTRA_DOCTORS
    from mengui_core.demo.story import run_demo
    from mengui_core.publish.disclosure import pending_drafts

    run = run_demo(tmp_path / "demo", months=6)
    conn = connect(run.db_path)
    assert [r[0] for r in conn.execute("SELECT DISTINCT month FROM disclosure_revisions ORDER BY 1")] == run.months
    assert pending_drafts(conn) == {}  # nothing awaits sign-off
    scheduled = {(o["doctor_code"], o["revoked_in"], o["effective"]) for o in run.manifest["offenders"]
                 if o["revoked_in"]}
    assert len(scheduled) == 4  # July, August, September (effective within the demo) and October
    revoked = {tuple(r) for r in conn.execute(
        "SELECT doctor_code, month, effective_date FROM revocations WHERE withdrawn_at IS NULL")}
    trainee = EXTRA_DOCTORS[0].code  # the 进修医师 without the qualification: one planted prescription a month
    assert scheduled <= revoked and {r[0] for r in revoked - scheduled} <= {trainee}
    for doctor, _, effective in revoked - {r for r in revoked if r[0] == trainee}:
        after = conn.execute("SELECT count(*) FROM prescriptions WHERE doctor_code = ? AND rx_date >= ?",
                             (doctor, effective)).fetchone()[0]
        assert after == 0, doctor
    planted = {rx for month in run.months for case in run.manifest["months"][month]["planted"]
               if case["check_id"] == "revoked_doctor" for rx in case["rx_ids"]}
    assert {r[0] for r in conn.execute("SELECT rx_id FROM flags WHERE check_id = 'revoked_doctor'")} == planted
    last = run.months[-1]
    levels = dict(conn.execute("SELECT doctor_code, level FROM disclosures WHERE month = ?", (last,)).fetchall())
    roles = {o["role"]: o["doctor_code"] for o in run.manifest["offenders"] if last in o["months"]}
    assert [levels[roles[role]] for role in ("duplicate", "same_effect_cross", "same_effect_in_rx")] == [3, 2, 1]
    assert set(levels.values()) == {1, 2, 3}
