"""The mengui command line, through click's CliRunner, as a 医保办 clerk would use it."""

import json
import sqlite3

import pytest
from click.testing import CliRunner

from mengui_cli.app import cli


@pytest.fixture
def runner():
    return CliRunner()


def month_files(exports):
    exports.doctor("D01", "王建国").doctor("D02", "李红", "内分泌科")
    exports.cert("P1", "M03900").cert("P2", "M03900").cert("P2", "M01600")
    exports.rx("R1", "2026-10-08", "P1", items=[("苯磺酸氨氯地平片", "150.01", 7, "")])
    exports.rx("R2", "2026-10-08", "P2", doctor="D02", department="内分泌科", codes="M01600",
               items=[("盐酸二甲双胍片", "20.00", 28, "")])
    exports.rx("R3", "2026-10-15", "P2", doctor="D01", items=[("二甲双胍缓释片", "30.00", 28, "")])
    return exports.write()


def test_load_then_audit_prints_a_chinese_summary(runner, exports, db_path):
    folder = month_files(exports)
    result = runner.invoke(cli, ["load", str(db_path), str(folder)])
    assert result.exit_code == 0, result.output
    assert "处方（prescriptions）" in result.output and "导入完成" in result.output
    result = runner.invoke(cli, ["audit", str(db_path), "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "审核处方 3 张，标记 2 条" in result.output
    assert "超限额处方" in result.output and "重复用药" in result.output
    assert "按科室" in result.output and "心血管内科" in result.output
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT rx_id, check_id FROM flags ORDER BY rx_id").fetchall() == [
        ("R1", "amount_cap"), ("R3", "duplicate_drug")]
    run = conn.execute("SELECT month, ruleset, ruleset_version, flag_count, checks FROM audit_runs").fetchone()
    assert run[:2] == ("2026-10", "jinan") and run[3] == 2
    assert {c["id"] for c in json.loads(run[4])} == {"amount_cap", "duplicate_drug", "same_effect_drug", "uncertified",
                                                     "revoked_doctor", "over_supply", "frequent_visits",
                                                     "doctor_outlier"}
    assert "提示" in result.output and "预警" in result.output and "违规" in result.output
    assert "监测（不计入）" in result.output


def test_re_auditing_replaces_the_months_flags_and_keeps_verdicts(runner, exports, db_path):
    folder = month_files(exports)
    runner.invoke(cli, ["load", str(db_path), str(folder)])
    runner.invoke(cli, ["audit", str(db_path), "--month", "2026-10"])
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO verdicts (rx_id, check_id, verdict, reviewer, reviewed_at, note) "
                 "VALUES ('R1', 'amount_cap', 'unreasonable', '张委员', '2026-11-02', '无理由超量')")
    conn.commit()
    result = runner.invoke(cli, ["audit", str(db_path), "--month", "2026-10"])
    assert result.exit_code == 0
    assert conn.execute("SELECT count(*), max(run_id) FROM flags").fetchone() == (2, 2)
    assert conn.execute("SELECT verdict, reviewer FROM verdicts").fetchall() == [("unreasonable", "张委员")]


def test_a_broken_file_exits_non_zero_with_file_line_column_and_changes_nothing(runner, tmp_path, db_path):
    good = tmp_path / "ok" / "doctors.csv"
    good.parent.mkdir()
    good.write_text("doctor_code,doctor_name\nD01,王建国\n", encoding="utf-8")
    assert runner.invoke(cli, ["load", str(db_path), str(good)]).exit_code == 0
    before = list(sqlite3.connect(db_path).iterdump())
    bad = tmp_path / "bad" / "rx_items.csv"
    bad.parent.mkdir()
    bad.write_text("处方号,药品通用名,金额,用药天数\nR1,苯磺酸氨氯地平片,12.00,28\nR1,阿托伐他汀钙片,三十,7\n", encoding="gbk")
    result = runner.invoke(cli, ["load", str(db_path), str(bad)])
    assert result.exit_code == 1
    assert "错误：输入文件有 1 处错误，本次未写入任何数据" in result.stderr
    assert f"{bad}，第 3 行，列「金额」：值「三十」 —— 应为金额（元），最多两位小数" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert list(sqlite3.connect(db_path).iterdump()) == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["audit", "{db}", "--month", "2026-13"], "月份格式应为 YYYY-MM"),
        (["audit", "{db}", "--month", "2026-09"], "没有 2026-09 的处方"),
        (["audit", "{db}", "--month", "2026-10", "--ruleset", "shanghai"], "找不到规则集「shanghai」"),
        (["audit", "{missing}", "--month", "2026-10"], "数据库文件不存在"),
        (["load", "{db}", "{missing}"], "文件不存在"),
    ],
)
def test_user_errors_are_chinese_messages_not_tracebacks(runner, exports, db_path, tmp_path, args, message):
    runner.invoke(cli, ["load", str(db_path), str(month_files(exports))])
    args = [a.format(db=db_path, missing=tmp_path / "nope.db") for a in args]
    result = runner.invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_plugins_lists_checks_and_rulesets(runner):
    result = runner.invoke(cli, ["plugins", "--json"])
    data = json.loads(result.output)
    names = {p["name"]: p for p in data["plugins"]}
    assert names["amount_cap"]["checks"] == ["amount_cap"] and names["amount_cap"]["version"]
    assert "jinan" in data["rulesets"]
    table = runner.invoke(cli, ["plugins"]).output
    assert "超限额处方" in table and "相同疗效药品" in table


def test_rulesets_list_show_and_validate(runner, tmp_path):
    listing = runner.invoke(cli, ["rulesets"]).output
    assert "jinan" in listing
    shown = runner.invoke(cli, ["rulesets", "show", "jinan"]).output
    assert "single_cap=150.00 元" in shown and "multi_cap=300.00 元" in shown
    assert "M08300" in shown and "M00503" in shown
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "bad"\nversion = "1"\n\n[checks.amount_cap]\nsingle_cap = "150.005"\n\n'
        '[checks.monthly_cap]\nneeds_review = false\n', encoding="utf-8")
    result = runner.invoke(cli, ["rulesets", "validate", str(bad)])
    assert result.exit_code == 1
    assert "第 4 行 checks.amount_cap.needs_review：必填" in result.stderr
    assert "checks.amount_cap.single_cap：金额应为元，最多两位小数" in result.stderr
    assert "第 7 行 checks.monthly_cap：没有已安装的插件提供规则 monthly_cap" in result.stderr
    syntax = tmp_path / "syntax.toml"
    syntax.write_text('name = "x"\nversion = \n', encoding="utf-8")
    result = runner.invoke(cli, ["rulesets", "validate", str(syntax)])
    assert result.exit_code == 1 and "TOML 语法错误" in result.stderr and "line 2" in result.stderr
