"""Issue 14, item 4: every CSV and XLSX the project writes — and the public Datasette CSV of
``disclosures`` — neutralises formula-like cells, in case older data holds one."""

import asyncio
import csv
import io
import sqlite3

import openpyxl
import pytest
from click.testing import CliRunner

from builders import publish
from mengui_cli.app import cli
from mengui_core.ingest.loader import load_files
from mengui_core.audit.runner import audit_month
from mengui_core.db.schema import connect
from mengui_core.review.verdicts import record_verdict
from mengui_datasette.server import make_datasette

EVIL = "=cmd|' /C calc'!A0李秀珍"


@pytest.fixture
def older_data(exports, db_path):
    """A doctor whose name a spreadsheet would run, written before the loader refused such names."""
    exports.doctor("D01", "王建国")
    exports.cert("P1", "M03900")
    exports.cert("P2", "M03900")
    for month in ("2026-09", "2026-10"):
        exports.rx(f"R{month}A", f"{month}-08", "P1", items=[("苯磺酸氨氯地平片", "187.62", 28)])
    exports.rx("R2026-10B", "2026-10-09", "P2", items=[("苯磺酸氨氯地平片", "20.00", 28)])
    exports.deduction("K1", "R2026-10A", "37.62", "2026-10-20", "+超限额扣款")
    conn = connect(db_path)
    load_files(conn, [exports.write()])
    conn.execute("UPDATE doctors SET doctor_name = ?, department = '@心内科' WHERE doctor_code = 'D01'", (EVIL,))
    for month in ("2026-09", "2026-10"):
        audit_month(conn, month)
        record_verdict(conn, f"R{month}A", "amount_cap", "不合理", "张委员")
    publish(conn, "2026-09", start="2026-09")
    publish(conn, "2026-10")
    assert conn.execute("SELECT doctor_name FROM disclosures WHERE month = '2026-10'").fetchone()[0] == EVIL
    conn.close()
    return db_path


def cells_of_csv(text):
    return [cell for row in csv.reader(io.StringIO(text)) for cell in row]


def assert_neutral(cells):
    formulas = [c for c in cells if isinstance(c, str) and c[:1] in ("=", "+", "-", "@")
                and not c.replace(".", "").lstrip("-").isdigit()]
    assert formulas == []


def test_the_disclosure_and_deduction_csvs_neutralise_formulas(older_data, tmp_path):
    runner = CliRunner()
    listed = runner.invoke(cli, ["disclose", str(older_data), "--month", "2026-10", "--format", "csv"])
    assert listed.exit_code == 0, listed.stderr
    cells = cells_of_csv(listed.stdout)
    assert "'" + EVIL in cells
    assert_neutral(cells)
    out = tmp_path / "deductions.csv"
    assert runner.invoke(cli, ["deductions", str(older_data), "--month", "2026-10", "-o", str(out)]).exit_code == 0
    cells = cells_of_csv(out.read_text(encoding="utf-8-sig"))
    assert "'" + EVIL in cells
    assert_neutral(cells)


def test_the_xlsx_lists_store_formula_like_text_as_text(older_data, tmp_path):
    runner = CliRunner()
    for command, target in (("disclose", tmp_path / "list.xlsx"), ("deductions", tmp_path / "deductions.xlsx")):
        args = [command, str(older_data), "--month", "2026-10", "--format", "xlsx", "-o", str(target)]
        assert runner.invoke(cli, args).exit_code == 0
        sheet = openpyxl.load_workbook(target).worksheets[0]
        evil = [c for row in sheet.iter_rows() for c in row if c.value == EVIL]
        assert evil, command
        assert all(c.data_type == "s" and c.quotePrefix for c in evil)  # text, never a formula


def test_the_public_datasette_csv_of_disclosures_neutralises_formulas(older_data):
    ds = make_datasette(older_data)
    for path in ("/mengui/disclosures.csv", "/mengui/disclosures.csv?_dl=1", "/mengui/disclosures.csv?_stream=on"):
        answer = asyncio.run(ds.client.get(path))
        assert answer.status_code == 200
        cells = cells_of_csv(answer.text)
        assert "'" + EVIL in cells, path
        assert_neutral(cells)
    # numbers stay numbers
    raw = sqlite3.connect(older_data).execute("SELECT unreasonable_count FROM disclosures").fetchone()[0]
    assert str(raw) in cells_of_csv(asyncio.run(ds.client.get("/mengui/disclosures.csv")).text)
