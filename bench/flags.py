"""What writing flags costs: 100,000 flags through the audit's whole flag path, timed.

    .venv/bin/python bench/flags.py            # 100,000 flags, best of three audits
    .venv/bin/python bench/flags.py 300000

A database of N prescriptions (made with one INSERT … SELECT, no files) and a check that flags
every one of them with a detail like amount_cap's (about 60 characters) and a short evidence array.
It runs `audit_month` on one lane and on two and prints, for each, the seconds the check took
(`add_flags`: the flags written to the lane's table, merged as they come), the hand-over (two
lanes: each lane's flags copied to the runner), the `flags` step (grading and writing them to
`flags`, the run and its checks: one transaction) and the commit: everything after the preparation.
The target (issue 18): the flag path costs under 1 s for 100,000 flags.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

from mengui_core import Check, hookimpl, plugins
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.db.sqlite_library import disable_memory_statistics

DETAIL = "'单病种患者同日同医师药品金额 ' || (n % 300 + 150) || '.00 元，超过每次限额 150.00 元，超出 ' || (n % 300) || '.00 元'"


def run(ctx):
    ctx.add_flags(f"""
        SELECT rx_id, {DETAIL.replace('n %', 'CAST(substr(rx_id, 2) AS INTEGER) %')} AS detail,
               amount_fen, 15000 AS limit_fen, 100.0 * (amount_fen - 15000) / 15000 AS measure,
               json_array(json_object('rx_id', rx_id, 'amount_fen', amount_fen)) AS evidence
        FROM temp.audit_rx""")


class FlagEverything:
    @hookimpl
    def register_checks(self, register):
        register(Check(id="flag_everything", title="全部标记", description="基准：每张处方一条标记", run=run))


def main(n: int = 100_000) -> None:
    disable_memory_statistics()
    work = Path(tempfile.mkdtemp(prefix="mengui-flags-"))
    ruleset = work / "flags.toml"
    ruleset.write_text('name = "flags"\nversion = "1"\n[checks.flag_everything]\nneeds_review = true\n'
                       'levels = [0, 20, 50]\n', encoding="utf-8")
    conn = connect(work / "flags.db")
    conn.execute("BEGIN")
    conn.execute("""
        WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
        INSERT INTO prescriptions (rx_id, rx_date, patient_id, doctor_code, total_amount_fen)
        SELECT printf('R%07d', i), printf('2026-10-%02d', i % 31 + 1), printf('P%06d', i / 3), printf('D%03d', i % 200),
               15001 + i % 30000
        FROM n""", (n,))
    conn.execute("COMMIT")
    plugins.load_plugins()
    plugins.pm.register(FlagEverything(), name="bench_flag_everything")
    print(f"{n:,} flags, seconds (best of three audits each):")
    for lanes in (1, 2):
        best = None
        for _ in range(3):
            started = time.perf_counter()
            result = audit_month(conn, "2026-10", str(ruleset), lanes=lanes)
            total = time.perf_counter() - started
            assert result.flags == n, result.flags
            steps = result.steps
            check = conn.execute("SELECT checks FROM audit_runs WHERE run_id = ?", (result.run_id,)).fetchone()[0]

            seconds = json.loads(check)[0]["seconds"]
            handover = steps["checks"] - seconds  # two lanes: the lanes' flags copied to the runner
            commit = total - steps["prepare"] - steps["checks"] - steps["flags"]
            figures = (seconds, handover, steps["flags"], commit, total - steps["prepare"])
            if best is None or figures[-1] < best[-1]:
                best = figures
        print(f"  {lanes} lane{'s' if lanes > 1 else ''}: add_flags {best[0]:.2f}, hand-over {best[1]:.2f}, "
              f"flags step {best[2]:.2f}, commit and the rest {best[3]:.2f}: {best[4]:.2f} in all")
    conn.close()
    for path in work.iterdir():
        path.unlink()
    work.rmdir()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
