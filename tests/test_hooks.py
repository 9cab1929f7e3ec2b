"""Every hook is documented with its exact signature, and every hook is exercised here or elsewhere."""

import inspect
import re
from pathlib import Path

import pytest

from mengui_core import hookspecs, plugins
from mengui_core.errors import MenguiError
from mengui_core.ingest.loader import load_files
from mengui_core.db.schema import connect

from builders import loose_plugins

DOCS = Path(__file__).parent.parent / "docs" / "plugins.md"
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]


def test_there_are_hooks():
    assert {"register_checks", "register_rulesets", "register_input_aliases"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    signature = f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"
    headings = re.findall(r"^### (.+)$", DOCS.read_text(encoding="utf-8"), flags=re.M)
    assert signature in headings


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test(hook):
    tests = "".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("test_*.py"))
    assert f"def test_{hook}" in tests


# -- hook tests --


def test_register_input_aliases_maps_a_vendor_header(tmp_path, db_path):
    source = (
        "from mengui_core import hookimpl\n\n"
        "@hookimpl\n"
        "def register_input_aliases(register):\n"
        "    register('prescriptions', 'rx_id', ['门诊处方流水号'])\n"
        "    register('prescriptions', 'total_amount', '处方总额')\n"
    )
    with loose_plugins(tmp_path / "plugins", vendor=source):
        aliases = plugins.get_input_aliases()
        assert ("prescriptions", "rx_id", ["门诊处方流水号"]) in aliases
        path = tmp_path / "prescriptions.csv"
        path.write_text("门诊处方流水号,开方日期,参保人编号,医师代码,处方总额\nR1,20261003,P1,D1,88.80\n", encoding="gbk")
        conn = connect(db_path)
        load_files(conn, [path], aliases=aliases)
        assert tuple(conn.execute("SELECT rx_id, total_amount_fen FROM prescriptions").fetchone()) == ("R1", 8880)


def test_register_rulesets_ships_the_jinan_file_from_the_package():
    path = Path(plugins.get_ruleset_paths()["jinan"])
    assert path.name == "jinan.toml" and 'name = "jinan"' in path.read_text(encoding="utf-8")


def test_register_ladders_replaces_the_three_strikes_through_the_ruleset(tmp_path, exports, db_path):
    """Another hospital publishes every doctor by name at once and revokes on the second month."""
    source = (
        "from mengui_core import hookimpl\n"
        "from mengui_core.publish.ladder import Ladder, LadderEntry\n\n"
        "def compute(ctx):\n"
        "    months = ctx.require_audited(ctx.months_back(2))\n"
        "    strikes = ctx.strikes(months)\n"
        "    return [LadderEntry(d, 3 if len(m) == 2 else 2, 'revoke' if len(m) == 2 else 'publish_name', m[ctx.month])\n"
        "            for d, m in strikes.items() if ctx.month in m]\n\n"
        "@hookimpl\n"
        "def register_ladders(register):\n"
        "    register(Ladder(name='strict', title='两级公示', description='', policy='直接公示姓名', compute=compute))\n"
    )
    ruleset = tmp_path / "strict_city.toml"
    ruleset.write_text('name = "strict_city"\nversion = "1"\n[checks.duplicate_drug]\nneeds_review = false\n'
                       'min_diseases = 2\n[ladder]\nname = "strict"\n', encoding="utf-8")
    exports.doctor("D01", "王建国")
    for month in ("2026-09", "2026-10"):
        exports.cert(f"P{month}", "M03900").cert(f"P{month}", "M04600")
        exports.rx(f"{month}A", f"{month}-03", f"P{month}", items=[("苯磺酸氨氯地平片", "20.00", 28)])
        exports.rx(f"{month}B", f"{month}-09", f"P{month}", items=[("苯磺酸氨氯地平片", "20.00", 28)])
    with loose_plugins(tmp_path / "plugins", strict=source):
        assert "strict" in plugins.get_ladders()
        from mengui_core.publish.disclosure import disclose_month
        from mengui_core.audit.runner import audit_month

        conn = connect(db_path)
        load_files(conn, [exports.write()])
        for month in ("2026-09", "2026-10"):
            audit_month(conn, month, str(ruleset))
        first = disclose_month(conn, "2026-09", start="2026-09")
        assert [(r.doctor_code, r.doctor_name, r.action) for r in first.disclosure.rows] == [("D01", "王建国", "publish_name")]
        assert first.ladder.name == "strict" and first.ladder.plugin == "plugins_dir.strict"
        second = disclose_month(conn, "2026-10")
        assert [(r.level, r.action) for r in second.disclosure.rows] == [(3, "revoke")]


def test_register_datasette_metadata_adds_a_private_canned_query(tmp_path, exports, db_path):
    from mengui_datasette.server import build_metadata

    source = (
        "from mengui_core import hookimpl\n\n"
        "@hookimpl\n"
        "def register_datasette_metadata(register):\n"
        "    register({'queries': {'weekend_flags': {'title': '周末处方标记', 'allow': True,\n"
        "              'sql': \"select rx_id from flags where strftime('%w', rx_date) in ('0', '6')\"}}})\n"
    )
    with loose_plugins(tmp_path / "plugins", weekend_meta=source):
        connect(db_path).close()
        metadata, _ = build_metadata(db_path, users=[])
        query = metadata["databases"]["mengui"]["queries"]["weekend_flags"]
        assert query["title"] == "周末处方标记" and "allow" not in query  # never public
        assert metadata["databases"]["mengui"]["allow"] == {"role": ["committee", "admin"]}


def test_register_input_formats_reads_a_vendor_export(tmp_path, db_path):
    """The HIS adapter example: vendor headers, YYYYMMDD dates, and the paid amount in 实收金额, not 金额."""
    example = Path(__file__).parent.parent / "examples" / "his-adapter"
    sample = example / "sample"
    # without the adapter the vendor's file names are not even recognised
    with pytest.raises(MenguiError, match="无法从文件名判断"):
        load_files(connect(db_path), [sample / "门诊处方明细_202610.csv"])
    with loose_plugins(example):
        formats = plugins.get_input_formats()
        assert {"vendor_his_rx", "vendor_his_items"} <= set(formats)
        conn = connect(db_path)
        result = load_files(conn, [sample], **plugins.input_options())
        assert {(f.kind, f.input_format) for f in result.files} == {
            ("prescriptions", "vendor_his_rx"), ("rx_items", "vendor_his_items")}
        assert [tuple(r) for r in conn.execute(
            "SELECT rx_id, rx_date, patient_id, doctor_code, total_amount_fen FROM prescriptions ORDER BY rx_id")] == [
            ("MZ202610030001", "2026-10-03", "370102000111", "1021", 16850),
            ("MZ202610030002", "2026-10-03", "370102000222", "1021", 9600)]
        # 实收金额 (96.00) was read, not the list-price 金额 (117.00)
        assert [tuple(r) for r in conn.execute("SELECT rx_id, line_no, amount_fen, days_supply FROM rx_items ORDER BY 1, 2")] == [
            ("MZ202610030001", 1, 8850, 28), ("MZ202610030001", 2, 8000, 28), ("MZ202610030002", 1, 9600, 28)]
        # naming a format for the wrong kind is a clear error
        with pytest.raises(MenguiError, match="导入格式 vendor_his_items 用于处方明细，不是处方"):
            load_files(conn, [sample / "门诊处方主表_202610.csv"], input_format="vendor_his_items",
                       **plugins.input_options())
