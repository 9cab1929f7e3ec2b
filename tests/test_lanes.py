"""The audit's lanes: checks run on several connections at once and give exactly what one connection
gives, from one snapshot of the data, leaving nothing behind."""

import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import textwrap

import pytest

from builders import loose_plugins
from mengui_core.demo.data import write_demo_inputs
from mengui_core.errors import MenguiError
from mengui_core.audit.lanes import LANES_ENV, lane_count
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect

FLAG_COLUMNS = ("rx_id, check_id, month, rx_date, doctor_code, department, patient_id, detail, amount_fen, "
                "limit_fen, related_rx_id, needs_review, measure, level, level_rank, monitoring, evidence")


class ScratchDir:
    """The audit's scratch databases: beside the database (``.<db>.scratch-*``), never in the
    temporary directory (pointed at an empty folder here); ``iterdir()`` lists what is left of both."""

    def __init__(self, tmp_path, temporary):
        self.tmp_path, self.temporary = tmp_path, temporary

    def iterdir(self):
        return [*self.temporary.iterdir(), *self.tmp_path.rglob(".*.scratch-*")]


@pytest.fixture
def scratch_dir(tmp_path, monkeypatch):
    """Where the audit's scratch databases could be left (checked to be empty afterwards)."""
    folder = tmp_path / "scratch"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return ScratchDir(tmp_path, folder)



def flags(conn, month):
    return [tuple(r) for r in conn.execute(f"SELECT {FLAG_COLUMNS} FROM flags WHERE month = ? ORDER BY 1, 2", (month,))]


def test_lanes_give_exactly_the_flags_levels_and_notes_of_one_connection(tmp_path, scratch_dir):
    # the demo plants every kind of finding, the drug pairs (one lane) and the rest (the other) included
    months = ["2026-09", "2026-10"]
    write_demo_inputs(tmp_path / "inputs", months, seed=11)
    conn = connect(tmp_path / "demo.db")
    for month in months:
        load_files(conn, [tmp_path / "inputs" / month])
    results = {}
    for lanes in (1, 2, 3, 1):
        result = audit_month(conn, "2026-10", lanes=lanes)
        results[lanes] = (flags(conn, "2026-10"), result.notes, result.by_level, result.by_check)
    one = results[1]
    assert len(one[0]) > 20 and len(one[3]) == 8 and all(one[3].values())
    assert results[2] == one and results[3] == one
    assert list(scratch_dir.iterdir()) == []  # the scratch databases are gone
    assert lane_count(conn) == (2 if (os.cpu_count() or 1) > 1 else 1)
    # each check's time is recorded with the run (the next audit starts the longest first)
    recorded = json.loads(conn.execute("SELECT checks FROM audit_runs ORDER BY run_id DESC").fetchone()[0])
    assert [c["id"] for c in recorded] == list(one[3]) and all(c["seconds"] >= 0 for c in recorded)


SNAPSHOT_PLUGIN = '''
import sqlite3
import time
from mengui_core import hookimpl
from mengui_core import Check

DB = {db!r}
# each flag says how many prescriptions of the month the check saw
SEEN = ("SELECT rx_id, '{{label}} ' || (SELECT count(*) FROM prescriptions WHERE rx_date BETWEEN :s AND :e) AS detail, "
        "NULL AS amount_fen, NULL AS limit_fen, NULL AS related_rx_id FROM prescriptions WHERE rx_date BETWEEN :s AND :e")


def commit_late_prescription(ctx):
    """Another program (a load) commits a prescription of the month while the audit runs."""
    writer = sqlite3.connect(DB, timeout=30)
    writer.execute("INSERT INTO prescriptions (rx_id, rx_date, patient_id, doctor_code, total_amount_fen) "
                   "VALUES ('LATE', '2026-10-20', 'P9', 'D01', 99999)")
    writer.commit()
    writer.close()
    ctx.add_flags(SEEN.format(label="写后"), {{"s": ctx.start, "e": ctx.end}})


def read_after(ctx):
    for _ in range(400):  # on another lane the writer may still be running: wait for its commit
        probe = sqlite3.connect(DB)
        committed = probe.execute("SELECT count(*) FROM prescriptions WHERE rx_id = 'LATE'").fetchone()[0]
        probe.close()
        if committed:
            break
        time.sleep(0.025)
    ctx.ensure_items(0)  # reads the database again, for the item window
    ctx.add_flags(SEEN.format(label="读") + " UNION ALL SELECT DISTINCT rx_id, '明细 ' || "
                  "(SELECT count(DISTINCT rx_id) FROM temp.audit_items WHERE in_month = 1), NULL, NULL, NULL "
                  "FROM temp.audit_items WHERE in_month = 1", {{"s": ctx.start, "e": ctx.end}})


@hookimpl
def register_checks(register):
    register(Check(id="late_writer", title="写入", description="x", run=commit_late_prescription))
    register(Check(id="late_reader", title="读取", description="x", run=read_after, uses_items=True))
'''


@pytest.mark.parametrize("lanes", [1, 2])
def test_every_check_reads_the_snapshot_the_audit_began_with(tmp_path, exports, db_path, lanes, scratch_dir):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "20.00", 7, "")])
    exports.rx("R2", "2026-10-13", "P1", items=[("阿托伐他汀钙片", "30.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    ruleset = tmp_path / "late.toml"
    ruleset.write_text('name = "late"\nversion = "1"\n[checks.late_writer]\nneeds_review = true\n'
                       '[checks.late_reader]\nneeds_review = true\n', encoding="utf-8")
    with loose_plugins(tmp_path / "plugins", late=SNAPSHOT_PLUGIN.format(db=str(db_path))):
        result = audit_month(conn, "2026-10", str(ruleset), lanes=lanes)
    # the prescription committed during the audit is in the database, but in no check's view of it
    assert conn.execute("SELECT count(*) FROM prescriptions WHERE rx_id = 'LATE'").fetchone()[0] == 1
    assert sorted((r[0], r[1]) for r in conn.execute("SELECT rx_id, check_id FROM flags")) == [
        ("R1", "late_reader"), ("R1", "late_writer"), ("R2", "late_reader"), ("R2", "late_writer")]
    assert result.by_check == {"late_writer": 2, "late_reader": 2}
    details = dict(((r[0], r[1]), r[2]) for r in conn.execute("SELECT rx_id, check_id, detail FROM flags"))
    assert details == {("R1", "late_writer"): "写后 2", ("R2", "late_writer"): "写后 2",
                       ("R1", "late_reader"): "读 2；明细 2", ("R2", "late_reader"): "读 2；明细 2"}
    assert list(scratch_dir.iterdir()) == []


def test_a_check_failing_in_a_lane_stops_the_audit_and_leaves_nothing_behind(tmp_path, exports, db_path, scratch_dir):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "200.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    audit_month(conn, "2026-10", lanes=2)
    before = flags(conn, "2026-10")
    broken = textwrap.dedent('''
        from mengui_core import hookimpl
        from mengui_core import Check

        def run(ctx):
            raise ZeroDivisionError("division by zero")

        @hookimpl
        def register_checks(register):
            register(Check(id="broken_lane", title="坏规则", description="x", run=run))
    ''')
    ruleset = tmp_path / "broken.toml"
    ruleset.write_text('name = "x"\nversion = "1"\n[checks.duplicate_drug]\nneeds_review = true\n'
                       '[checks.amount_cap]\nneeds_review = true\nsingle_cap = "100"\n'
                       '[checks.broken_lane]\nneeds_review = true\n', encoding="utf-8")
    with loose_plugins(tmp_path / "plugins", broken=broken), \
            pytest.raises(MenguiError, match=r"broken_lane（插件 plugins_dir.broken）运行出错：ZeroDivisionError"):
        audit_month(conn, "2026-10", str(ruleset), lanes=2)
    assert flags(conn, "2026-10") == before
    assert list(scratch_dir.iterdir()) == []
    assert "work" not in [r[1] for r in conn.execute("PRAGMA database_list")]  # nothing left attached
    # and the connection audits again as usual
    assert audit_month(conn, "2026-10", lanes=2).by_check["amount_cap"] == 1


def test_the_lane_setting_is_checked_and_one_lane_runs_on_the_callers_connection(tmp_path, exports, db_path,
                                                                                 monkeypatch, scratch_dir):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "200.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    monkeypatch.setenv(LANES_ENV, "两个")
    with pytest.raises(MenguiError, match=f"环境变量 {LANES_ENV} 应为正整数"):
        audit_month(conn, "2026-10")
    monkeypatch.setenv(LANES_ENV, "1")
    assert lane_count(conn) == 1
    assert audit_month(conn, "2026-10").by_check["amount_cap"] == 1
    # one lane: the working tables stay on the caller's connection, for a look after the audit
    assert conn.execute("SELECT count(*) FROM temp.audit_rx").fetchone()[0] == 1
    monkeypatch.setenv(LANES_ENV, "2")
    memory = sqlite3.connect(":memory:")
    assert lane_count(memory) == 1  # no file another connection could open


def test_the_mengui_command_turns_off_sqlites_memory_statistics_before_any_connection():
    script = textwrap.dedent("""
        import sqlite3
        from mengui_core.db.sqlite_library import disable_memory_statistics
        print(disable_memory_statistics())
        print(sqlite3.connect(":memory:").execute("SELECT 6 * 7").fetchone()[0])
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["True", "42"]
