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
