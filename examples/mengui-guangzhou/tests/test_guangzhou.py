"""The Guangzhou plugin: 40 元 a visit and 300 元 a month for residents; Jinan audits unchanged."""

import csv
import json
import sqlite3

import pytest
from click.testing import CliRunner

from mengui_cli.app import cli

MONTH = "2026-10"
RESIDENT = "城镇居民医疗保险"
EMPLOYEE = "城镇职工医疗保险"


def write_exports(folder, prescriptions, certifications=()):
    """prescriptions: (rx_id, date and time, patient, doctor, insurance, amount 元)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "prescriptions.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["处方号", "开方日期", "参保人编号", "险种", "医师代码", "科室", "门规病种", "处方金额"])
        for rx_id, when, patient, doctor, insurance, amount in prescriptions:
            writer.writerow([rx_id, when, patient, insurance, doctor, "全科", "M03900", amount])
    with open(folder / "certifications.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["参保人编号", "病种编码", "认定开始日期"])
        writer.writerows(certifications)
    return folder


def audit(tmp_path, folder, ruleset):
    db = tmp_path / "gz.db"
    runner = CliRunner()
    assert runner.invoke(cli, ["load", str(db), str(folder)]).exit_code == 0
    result = runner.invoke(cli, ["audit", str(db), "--month", MONTH, "--ruleset", ruleset])
    assert result.exit_code == 0, result.output + result.stderr
    rows = sqlite3.connect(db).execute("SELECT rx_id, check_id FROM flags ORDER BY rx_id, check_id").fetchall()
    return set(rows), result.output


def test_the_plugin_is_installed_through_its_entry_point():
    data = json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)
    plugin = next(p for p in data["plugins"] if p["name"] == "guangzhou")
    assert plugin["distribution"] == "mengui-guangzhou" and plugin["checks"] == ["monthly_cap"]
    assert "guangzhou" in data["rulesets"] and "jinan" in data["rulesets"]
    shown = CliRunner().invoke(cli, ["rulesets", "show", "guangzhou"]).output
    assert "single_cap=40.00 元" in shown and "monthly_cap=300.00 元" in shown
    assert "病种目录" in shown  # inherited from jinan through `extends`


def test_forty_yuan_a_visit_for_residents_only(tmp_path):
    folder = write_exports(tmp_path / "in", [
        ("G1", "2026-10-08 09:00", "P1", "D1", RESIDENT, "40.00"),    # at the cap
        ("G2", "2026-10-08 09:10", "P2", "D1", RESIDENT, "40.01"),    # over
        ("G3", "2026-10-08 09:20", "P3", "D1", EMPLOYEE, "120.00"),   # employees are not capped here
        ("G4", "2026-10-09 10:00", "P4", "D2", RESIDENT, "25.00"),    # split visit: 25 + 20 = 45
        ("G5", "2026-10-09 10:05", "P4", "D2", RESIDENT, "20.00"),
    ], certifications=[("P1", "M03900", "2020-01-01")])  # P2, P4 have no certification: still capped
    flags, output = audit(tmp_path, folder, "guangzhou")
    assert flags == {("G2", "amount_cap"), ("G4", "amount_cap"), ("G5", "amount_cap")}
    assert "月度超限额" in output


def test_the_visit_that_crosses_three_hundred_and_every_later_one(tmp_path):
    visits = [(f"M{n}", f"2026-10-{n + 1:02d} 09:00", "P9", "D1", RESIDENT, "38.00") for n in range(1, 10)]
    visits.append(("E1", "2026-10-03 09:00", "P8", "D1", EMPLOYEE, "38.00"))
    # same day, two doctors: the earlier time counts first
    visits += [("S1", "2026-10-20 15:00", "P7", "D2", RESIDENT, "35.00")] + [
        (f"S{n}", f"2026-10-{n:02d} 09:00", "P7", "D1", RESIDENT, "39.00") for n in range(12, 20)]
    visits.append(("S9", "2026-10-20 08:00", "P7", "D3", RESIDENT, "30.00"))
    folder = write_exports(tmp_path / "in", visits)
    flags, _ = audit(tmp_path, folder, "guangzhou")
    monthly = {rx for rx, check in flags if check == "monthly_cap"}
    # P9: 8 × 38 = 304 > 300 at the 8th visit (M8), then M9
    # P7: 8 × 39 = 312 at 10-19 (S19), then S9 (08:00) and S1 (15:00) on 10-20
    assert monthly == {"M8", "M9", "S19", "S9", "S1"}
    assert {check for _, check in flags} == {"monthly_cap"}


def test_installing_the_plugin_does_not_change_a_jinan_audit(tmp_path):
    from mengui_core import plugins

    folder = write_exports(tmp_path / "in", [
        ("J1", "2026-10-08 09:00", "P1", "D1", RESIDENT, "150.01"),
        ("J2", "2026-10-08 09:00", "P2", "D1", RESIDENT, "60.00"),
        *[(f"J{n}", f"2026-10-{n:02d} 09:00", "P3", "D1", RESIDENT, "140.00") for n in range(10, 14)],
    ], certifications=[("P1", "M03900", "2020-01-01"), ("P2", "M03900", "2020-01-01"), ("P3", "M03900", "2020-01-01")])
    with_plugin, _ = audit(tmp_path / "a", folder, "jinan")
    assert with_plugin == {("J1", "amount_cap")}
    plugin = plugins.pm.get_plugin("guangzhou")
    plugins.pm.unregister(plugin)
    try:
        without_plugin, _ = audit(tmp_path / "b", folder, "jinan")
    finally:
        plugins.pm.register(plugin, name="guangzhou")
    assert without_plugin == with_plugin


def test_the_ruleset_file_validates(tmp_path):
    from importlib.resources import files

    path = files("mengui_guangzhou") / "guangzhou.toml"
    result = CliRunner().invoke(cli, ["rulesets", "validate", str(path)])
    assert result.exit_code == 0 and "规则集 guangzhou" in result.output


@pytest.fixture(autouse=True)
def _dirs(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
