"""`mengui run`: three months of exports and committee verdict files, month by month, through the CLI."""

import csv

from click.testing import CliRunner

from builders import Exports
from mengui_cli.app import cli


def month_exports(root, month, cases):
    """One month's export directory; ``cases`` is a list of (kind, doctor, verdict or None)."""
    e = Exports(root / month)
    e.doctor("D01", "王建国").doctor("D02", "李红", "内分泌科").doctor("D03", "赵强", "肾内科")
    verdicts = []
    for n, (kind, doctor, verdict) in enumerate(cases):
        patient = f"P{month}-{n}"
        if kind == "duplicate":
            e.cert(patient, "M03900").cert(patient, "M04600")
            e.rx(f"{month}-{n}a", f"{month}-02", patient, doctor="D09", items=[("苯磺酸氨氯地平片", "20.00", 28)])
            # 23 of the 28 days still in hand: 违规, counts unless ruled reasonable
            e.rx(f"{month}-{n}b", f"{month}-07", patient, doctor=doctor, items=[("苯磺酸氨氯地平片", "20.00", 28)])
        else:  # over the single-disease cap
            e.cert(patient, "M01600")
            e.rx(f"{month}-{n}c", f"{month}-15", patient, doctor=doctor, items=[("门冬胰岛素注射液", "168.00", 30)])
            if verdict:
                verdicts.append([f"{month}-{n}c", "amount_cap", verdict, "药事委员会", "超量"])
    e.cert(f"P{month}-ok", "M03900")
    e.rx(f"{month}-ok", f"{month}-20", f"P{month}-ok", items=[("苯磺酸氨氯地平片", "20.00", 7)])
    folder = e.write()
    if verdicts:
        with open(folder / "verdicts.csv", "w", newline="", encoding="gbk") as fh:
            writer = csv.writer(fh)
            writer.writerow(["处方号", "规则", "结论", "审核人", "备注"])
            writer.writerows(verdicts)
    return folder


def listed(out_dir, month):
    with open(out_dir / f"disclosure-{month}.csv", encoding="utf-8-sig") as fh:  # a BOM for Excel
        rows = list(csv.reader(fh))
    assert rows[0][:6] == ["month", "doctor_code", "doctor_name", "level", "action", "unreasonable_count"]
    return [tuple(r[:6]) for r in rows[1:]]


def test_three_months_with_verdicts_yield_the_lists_the_policy_implies(tmp_path, db_path):
    inputs = tmp_path / "in"
    month_exports(inputs, "2026-08", [("duplicate", "D01", None)])
    month_exports(inputs, "2026-09", [("duplicate", "D01", None), ("cap", "D02", "不合理")])
    month_exports(inputs, "2026-10", [("duplicate", "D01", None), ("cap", "D02", "合理"), ("cap", "D03", None)])
    runner = CliRunner()
    expected = {
        "2026-08": [("2026-08", "D01", "", "1", "publish_code", "1")],
        "2026-09": [("2026-09", "D01", "王建国", "2", "publish_name", "1"),
                    ("2026-09", "D02", "", "1", "publish_code", "1")],
        "2026-10": [("2026-10", "D01", "王建国", "3", "revoke", "1")],
    }
    for month, rows in expected.items():
        args = ["run", str(db_path), "--month", month, str(inputs / month), "-o", str(tmp_path / "out" / month)]
        if month == "2026-08":
            args += ["--ladder-start", "2026-08"]
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output + result.stderr
        assert listed(tmp_path / "out" / month, month) == rows, month
        # the job drafts the list and says so; the committee signs it off and the office publishes it
        assert "草稿，待审定后 mengui publish" in result.stderr
        assert "草稿，待审定后 mengui publish" in (tmp_path / "out" / month / f"report-{month}.html").read_text(
            encoding="utf-8")
        published = runner.invoke(cli, ["publish", str(db_path), "--month", month, "--by", "赵主任"])
        assert published.exit_code == 0 and f"已公示 {month} 三级公示名单第 1 版" in published.stderr
    assert "另有 1 条标记待药事委员会审核" in result.stderr  # D03's cap flag in October
    out = tmp_path / "out" / "2026-10"
    names = sorted(p.name for p in out.iterdir())
    assert names == ["disclosure-2026-10.csv", "disclosure-2026-10.html", "disclosure-2026-10.md",
                     "disclosure-2026-10.xlsx", "report-2026-10.html"]
    report = (out / "report-2026-10.html").read_text(encoding="utf-8")
    assert "2026 年 10 月门规处方审核月报" in report and "2026-10-2c" in report  # the pending prescription

    # the monthly job is rerunnable: same inputs, same list, no new revision
    again = runner.invoke(cli, ["run", str(db_path), "--month", "2026-10", str(inputs / "2026-10"),
                                "-o", str(tmp_path / "again")])
    assert again.exit_code == 0 and "与已公示的第 1 版相同" in again.stderr
    assert "待审定后" not in again.stderr  # nothing awaits sign-off
    assert listed(tmp_path / "again", "2026-10") == expected["2026-10"]
    # the files are the published list, and the report raises no false warning: it compares content
    assert "草稿" not in (tmp_path / "again" / "disclosure-2026-10.md").read_text(encoding="utf-8")
    report = (tmp_path / "again" / "report-2026-10.html").read_text(encoding="utf-8")
    assert "已公示第 1 版" in report and "已过时" not in report and "草稿" not in report
