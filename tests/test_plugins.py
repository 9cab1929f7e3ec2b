"""The plugin system: built-ins through entry points, loose plugin files, rulesets choosing checks."""

import textwrap
from pathlib import Path
from importlib import metadata

import pytest

from mengui_core import Check, plugins
from mengui_core.errors import MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect

BUILT_IN_CHECKS = {"amount_cap", "duplicate_drug", "same_effect_drug", "uncertified",
                   "revoked_doctor", "over_supply", "frequent_visits", "doctor_outlier"}

WEEKEND_PLUGIN = '''
from mengui_core import hookimpl
from mengui_core import Check


def run(ctx):
    ctx.add_flags("""
        SELECT rx_id, '周末开具的门规处方' AS detail, amount_fen, NULL AS limit_fen, NULL AS related_rx_id
        FROM temp.audit_rx WHERE strftime('%w', rx_date) IN ('0', '6')
    """)


@hookimpl
def register_checks(register):
    register(Check(id="weekend_rx", title="周末处方", description="周末开具的处方", run=run))
'''



def test_built_in_plugins_are_ordinary_entry_points_of_this_distribution():
    eps = {ep.name: ep for ep in metadata.entry_points(group="mengui")}
    assert {"amount_cap", "duplicate_drug", "same_effect_drug", "uncertified", "jinan"} <= set(eps)
    info = {row["name"]: row for row in plugins.plugin_info()}
    for name in ("amount_cap", "duplicate_drug", "same_effect_drug", "uncertified", "jinan"):
        assert info[name]["distribution"] == "mengui-audit"
        assert eps[name].value.startswith("mengui_plugins.")
    assert set(plugins.get_checks()) == BUILT_IN_CHECKS
    assert "jinan" in plugins.get_ruleset_paths()


def test_no_generic_top_level_packages_are_installed():
    top_level = set(metadata.distribution("mengui-audit").read_text("top_level.txt").split()) if \
        metadata.distribution("mengui-audit").read_text("top_level.txt") else set()
    packages = {name.split(".")[0] for name in metadata.packages_distributions() if name.startswith("mengui")}
    assert "mengui_core" in packages and "mengui_cli" in packages
    assert not ({"cli", "plugins", "rulesets", "audit_core"} & top_level)


def test_register_checks_from_a_loose_plugin_file_runs_only_under_its_ruleset(tmp_path, exports, db_path, clean_pm):
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    (plugin_dir / "weekend.py").write_text(WEEKEND_PLUGIN, encoding="utf-8")
    plugins.load_plugins_dir(plugin_dir)
    assert "weekend_rx" in plugins.get_checks()

    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-10", "P1", items=[("苯磺酸氨氯地平片", "20.00", 7, "")])  # a Saturday
    exports.rx("R2", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "20.00", 7, "")])  # a Monday
    conn = connect(db_path)
    load_files(conn, [exports.write()])

    # the default ruleset has no [checks.weekend_rx]: installing the plugin changes nothing
    result = audit_month(conn, "2026-10")
    assert result.flags == 0 and "weekend_rx" not in result.by_check

    ruleset = tmp_path / "weekend.toml"
    ruleset.write_text(textwrap.dedent("""
        name = "weekend"
        version = "1"
        [checks.weekend_rx]
        needs_review = true
    """), encoding="utf-8")
    result = audit_month(conn, "2026-10", str(ruleset))
    assert result.by_check == {"weekend_rx": 1}
    assert [tuple(r) for r in conn.execute("SELECT rx_id, check_id FROM flags")] == [("R1", "weekend_rx")]


def test_a_misspelled_hook_fails_loudly(tmp_path, clean_pm):
    (tmp_path / "typo.py").write_text(
        "from mengui_core import hookimpl\n\n@hookimpl\ndef register_check(register):\n    pass\n", encoding="utf-8")
    with pytest.raises(MenguiError, match="register_check"):
        plugins.load_plugins_dir(tmp_path)
    assert plugins.pm.get_plugin("plugins_dir.typo") is None


def test_two_plugins_claiming_one_check_id_is_an_error(tmp_path, clean_pm):
    (tmp_path / "clash.py").write_text(textwrap.dedent('''
        from mengui_core import hookimpl
        from mengui_core import Check

        @hookimpl
        def register_checks(register):
            register(Check(id="amount_cap", title="x", description="x", run=lambda ctx: None))
    '''), encoding="utf-8")
    plugins.load_plugins_dir(tmp_path)
    with pytest.raises(MenguiError, match="amount_cap 重复注册"):
        plugins.get_checks()


def test_a_failing_check_names_its_plugin_and_keeps_the_previous_flags(tmp_path, exports, db_path, clean_pm):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "200.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    audit_month(conn, "2026-10")
    before = [tuple(r) for r in conn.execute("SELECT rx_id, check_id, run_id FROM flags")]
    assert before == [("R1", "amount_cap", 1)]

    (tmp_path / "broken.py").write_text(textwrap.dedent('''
        from mengui_core import hookimpl
        from mengui_core import Check

        def run(ctx):
            ctx.add_flags("SELECT no_such_column FROM temp.audit_rx")

        @hookimpl
        def register_checks(register):
            register(Check(id="broken_check", title="坏规则", description="x", run=run))
    '''), encoding="utf-8")
    plugins.load_plugins_dir(tmp_path)
    ruleset = tmp_path / "with_broken.toml"
    ruleset.write_text('name = "x"\nversion = "1"\n[checks.amount_cap]\nneeds_review = true\nsingle_cap = "100"\n'
                       '[checks.broken_check]\nneeds_review = true\n', encoding="utf-8")
    with pytest.raises(MenguiError, match=r"broken_check（插件 plugins_dir.broken）运行出错"):
        audit_month(conn, "2026-10", str(ruleset))
    assert [tuple(r) for r in conn.execute("SELECT rx_id, check_id, run_id FROM flags")] == before


def test_a_ruleset_naming_an_unregistered_check_is_an_error(tmp_path, exports, db_path):
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "20.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    ruleset = tmp_path / "other.toml"
    ruleset.write_text('name = "other"\nversion = "1"\n\n[checks.monthly_cap]\nneeds_review = true\n', encoding="utf-8")
    with pytest.raises(MenguiError, match=r"第 4 行 checks.monthly_cap：没有已安装的插件提供规则 monthly_cap"):
        audit_month(conn, "2026-10", str(ruleset))


ORDER_PLUGIN = '''
from mengui_core import hookimpl
from mengui_core import Check


def run(ctx):
    ctx.add_flags("SELECT rx_id, '{title}' AS detail, amount_fen, NULL AS limit_fen, NULL AS related_rx_id "
                  "FROM temp.audit_rx WHERE amount_fen > {fen}")


@hookimpl
def register_checks(register):
    register(Check(id="{check}", title="{title}", description="x", run=run))
'''


def test_plugin_order_does_not_change_an_audit_and_unregistering_removes_checks(tmp_path, exports, db_path, clean_pm):
    exports.cert("P1", "M03900")
    exports.rx("R1", "2026-10-12", "P1", items=[("苯磺酸氨氯地平片", "120.00", 7, "")])
    exports.rx("R2", "2026-10-13", "P1", items=[("苯磺酸氨氯地平片", "60.00", 7, "")])
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    ruleset = tmp_path / "two.toml"
    ruleset.write_text('name = "two"\nversion = "1"\n[checks.big_rx]\nneeds_review = true\n'
                       '[checks.mid_rx]\nneeds_review = true\n', encoding="utf-8")
    results = []
    for order in (("a_big", "b_mid"), ("b_mid", "a_big")):
        for plugin in list(plugins.pm.get_plugins()):
            if plugins.pm.get_name(plugin).startswith("plugins_dir."):
                plugins.pm.unregister(plugin)
        for index, name in enumerate(order):
            folder = tmp_path / f"{order[0]}-{index}"
            folder.mkdir()
            check, fen = ("big_rx", 10000) if name == "a_big" else ("mid_rx", 5000)
            (folder / f"{name}.py").write_text(
                ORDER_PLUGIN.format(check=check, title=check, fen=fen), encoding="utf-8")
            plugins.load_plugins_dir(folder)
        result = audit_month(conn, "2026-10", str(ruleset))
        assert [c.id for c in result.checks] == ["big_rx", "mid_rx"]  # the ruleset's order, not the plugins'
        results.append(sorted(tuple(r) for r in conn.execute("SELECT rx_id, check_id FROM flags")))
    assert results[0] == results[1] == [("R1", "big_rx"), ("R1", "mid_rx"), ("R2", "mid_rx")]
    plugins.pm.unregister(name="plugins_dir.a_big")
    assert "big_rx" not in plugins.get_checks()
    with pytest.raises(MenguiError, match="没有已安装的插件提供规则 big_rx"):
        audit_month(conn, "2026-10", str(ruleset))


def test_a_plugin_that_raises_while_registering_is_named(tmp_path, clean_pm):
    (tmp_path / "bad_register.py").write_text(
        "from mengui_core import hookimpl\n\n@hookimpl\ndef register_checks(register):\n    raise KeyError('oops')\n",
        encoding="utf-8")
    plugins.load_plugins_dir(tmp_path)
    with pytest.raises(MenguiError, match="插件 plugins_dir.bad_register 注册规则时出错：KeyError"):
        plugins.get_checks()


def test_mengui_load_plugins_chooses_the_installed_distributions():
    """Outside pytest: all installed plugins by default, only the named ones with MENGUI_LOAD_PLUGINS."""
    import os
    import subprocess
    import sys

    def names(env_value):
        env = {k: v for k, v in os.environ.items() if k != "MENGUI_LOAD_PLUGINS"}
        if env_value is not None:
            env["MENGUI_LOAD_PLUGINS"] = env_value
        out = subprocess.run([sys.executable, "-m", "mengui_cli", "plugins", "--json"], env=env,
                             capture_output=True, text=True, check=True).stdout
        import json
        return {p["name"] for p in json.loads(out)["plugins"]}

    everything = names(None)
    assert {"amount_cap", "three_strikes", "guangzhou"} <= everything  # scripts/test.sh installs the example
    assert "guangzhou" not in names("")
    assert "guangzhou" in names("mengui-guangzhou")


def test_the_documented_pair_check_runs_as_written(tmp_path, exports, db_path):
    """docs/plugins.md, "Finding drug pairs": the example plugin, taken from the page, flags a second
    anticoagulant written while the first is still in hand, and not one written after it ran out."""
    from builders import loose_plugins

    docs = (Path(__file__).parents[1] / "docs" / "plugins.md").read_text(encoding="utf-8")
    section = docs[docs.index("### Finding drug pairs"):]
    source = section[section.index("```python") + len("```python"):section.index("```", section.index("```python") + 9)]
    exports.cert("P1", "M04500").cert("P2", "M04500")
    exports.rx("A1", "2026-10-02", "P1", codes="M04500", items=[("华法林钠片", "20.00", 28, "")])
    exports.rx("A2", "2026-10-09", "P1", codes="M04500", items=[("利伐沙班片", "60.00", 28, "")])  # 21 days in hand
    exports.rx("B1", "2026-10-01", "P2", codes="M04500", items=[("华法林钠片", "20.00", 7, "")])
    exports.rx("B2", "2026-10-09", "P2", codes="M04500", items=[("利伐沙班片", "60.00", 28, "")])  # the first ran out
    ruleset = tmp_path / "pairs.toml"
    ruleset.write_text('name = "pairs"\nversion = "1"\nextends = "jinan"\n'
                       '[checks.double_anticoagulant]\nneeds_review = true\n', encoding="utf-8")
    with loose_plugins(tmp_path / "plugins", anticoagulants=source):
        flags = exports.audit(db_path, "2026-10", str(ruleset))
    assert set(flags) == {("A2", "double_anticoagulant")}
    flag = flags[("A2", "double_anticoagulant")]
    assert flag["related_rx_id"] == "A1" and flag["measure"] == 14
    assert flag["detail"] == "两种抗凝药同时在用：「华法林钠片」尚余 21 天时开具「利伐沙班片」"


def test_every_built_in_check_tells_the_committee_what_its_measure_means():
    """Issue 17: the review page shows a flag's measure in words with its unit, and an example note of
    the check's own — never a bare "衡量值 0.00" or another check's example."""
    checks = plugins.get_checks()
    graded = {"amount_cap": "超出限额 12.5%", "duplicate_drug": "尚余 22 天（可提前 7 天），超出 15 天",
              "same_effect_drug": "原药尚余 22 天（可提前 7 天），超出 15 天", "frequent_visits": "超过每月次数 3 次",
              "over_supply": "超过最长用药天数 30 天", "doctor_outlier": "稳健 z 分数 3.96（越大越异常）"}
    evidence = [{"days_left": 10, "tolerance_days": 7, "excess_days": 3},
                {"days_left": 22, "tolerance_days": 7, "excess_days": 15}]
    measures = {"amount_cap": 12.5, "duplicate_drug": 15, "same_effect_drug": 15, "frequent_visits": 3,
                "over_supply": 30, "doctor_outlier": 3.9612}
    for check_id, words in graded.items():
        assert checks[check_id].show_measure(measures[check_id], evidence) == words, check_id
    hints = {check.note_hint for check in checks.values()}
    assert all(check.note_hint and check.note_hint.startswith("例如：") for check in checks.values())
    assert len(hints) == len(checks), "each check its own example"
    assert checks["uncertified"].show_measure(None) == ""
    assert Check("x", "标题", "说明", run=None).show_measure(0.0033333) == "衡量值 0.00333"
