"""The committee's review sheet: the month's pending flags on paper, filled in and read back as verdicts."""

import shutil
import sqlite3

import openpyxl
import pytest
from click.testing import CliRunner

from mengui_cli.app import cli
from mengui_core.demo.story import run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return run_demo(tmp_path_factory.mktemp("sheet"), months=2)


@pytest.fixture
def db(demo, tmp_path):
    """A copy of the demo database (each test fills in verdicts of its own)."""
    copy = tmp_path / "mengui.db"
    shutil.copy(demo.db_path, copy)
    return copy


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def pending(db, month):
    conn = sqlite3.connect(db)
    return conn.execute("SELECT rx_id, check_id, level_rank, amount_fen FROM flag_status "
                        "WHERE month = ? AND verdict IS NULL AND NOT monitoring", (month,)).fetchall()


def test_the_sheet_lists_every_pending_flag_with_its_context_most_severe_first(db, demo, tmp_path):
    month = demo.months[-1]
    waiting = pending(db, month)
    assert len(waiting) >= 2
    code, output = invoke("review-sheet", db, "--month", month, "-o", tmp_path / "sheet.xlsx")
    assert code == 0 and f"待审核标记 {len(waiting)} 条" in output and "mengui verdicts" in output
    ws = openpyxl.load_workbook(tmp_path / "sheet.xlsx").active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0] == ("序号", "处方号", "开方日期", "医师", "患者门规病种", "级别", "规则", "原因", "药品（用药天数）",
                       "结论", "审核人", "备注")
    assert len(rows) == len(waiting) + 1
    assert {r[1] for r in rows[1:]} == {rx for rx, *_ in waiting}
    levels = {"提示": 1, "预警": 2, "违规": 3}
    assert [levels[r[5]] for r in rows[1:]] == sorted((levels[r[5]] for r in rows[1:]), reverse=True)
    conn = sqlite3.connect(db)
    for row in rows[1:]:
        detail, doctor = conn.execute("SELECT detail, doctor_code FROM flags WHERE rx_id = ?", (row[1],)).fetchone()
        assert row[7].startswith(detail) and row[3].startswith(doctor)   # the reason with its numbers, the doctor
        assert row[4] and row[8]                                          # the patient's diseases, the drugs
        assert row[9:] == (None, None, None)                              # 结论, 审核人, 备注 left blank
        assert row[6] in {"超限额处方", "重复用药", "相同疗效药品", "无有效门规认定", "无定岗资格医师处方", "超长用药天数"}
    # printed on A4 landscape, one page wide, the header row on every page, room to write in each row
    assert ws.page_setup.orientation == "landscape" and int(ws.page_setup.paperSize) == 9  # A4
    assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.page_setup.fitToWidth == 1
    assert ws.print_title_rows.replace("$", "") == "1:1"
    assert all(ws.row_dimensions[n].height >= 2 * 16.5 for n in range(2, len(rows) + 1))
    assert "待审核清单" in ws.oddHeader.center.text


def test_a_filled_sheet_goes_back_in_and_blank_rows_are_skipped_and_counted(db, demo, tmp_path):
    month = demo.months[-1]
    sheet = tmp_path / "sheet.xlsx"
    invoke("review-sheet", db, "--month", month, "-o", sheet)
    wb = openpyxl.load_workbook(sheet)
    ws = wb.active
    filled = {}
    for n, verdict in zip(range(2, ws.max_row), ["不合理", "合理"]):  # the last row left blank
        ws.cell(n, 10).value, ws.cell(n, 11).value, ws.cell(n, 12).value = verdict, "王立新", f"第 {n} 行意见"
        filled[ws.cell(n, 2).value] = verdict
    blank = ws.max_row - 1 - len(filled)
    wb.save(tmp_path / "filled.xlsx")
    code, output = invoke("verdicts", db, tmp_path / "filled.xlsx")
    assert code == 0, output
    assert blank >= 1 and f"已导入 {len(filled)} 条审核结论" in output and f"另有 {blank} 行未填结论，已跳过" in output
    conn = sqlite3.connect(db)
    recorded = dict(conn.execute("SELECT rx_id, verdict FROM verdicts WHERE reviewer = '王立新' AND source LIKE '%filled.xlsx'"))
    assert recorded == {rx: {"不合理": "unreasonable", "合理": "reasonable"}[v] for rx, v in filled.items()}
    # what was not filled in still waits; loading the same file again changes nothing
    assert len(pending(db, month)) == blank
    code, output = invoke("verdicts", db, tmp_path / "filled.xlsx")
    assert code == 0 and "新增 0" in output and f"未变 {len(filled)}" in output


def test_the_html_sheet_prints_with_its_header_on_every_page(db, demo, tmp_path):
    month = demo.months[-1]
    code, _ = invoke("review-sheet", db, "--month", month, "-o", tmp_path / "sheet.html")
    assert code == 0
    html = (tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert "<thead>" in html and "table-header-group" in html and "size: A4 landscape" in html
    assert html.count("<tr class=\"warn-") == len(pending(db, month))


def test_a_month_never_audited_or_a_wrong_file_type_is_refused(db, tmp_path):
    code, output = invoke("review-sheet", db, "--month", "2020-01", "-o", tmp_path / "x.xlsx")
    assert code == 1 and "2020-01 还没有审核" in output and "Traceback" not in output
    code, output = invoke("review-sheet", db, "--month", "2026-10", "-o", tmp_path / "x.csv")
    assert code == 1 and "不适用" in output and ".xlsx（xlsx）" in output
    code, output = invoke("review-sheet", db, "--month", "2026-10", "--format", "html", "-o", tmp_path / "x.xlsx")
    assert code == 1 and "不一致" in output
